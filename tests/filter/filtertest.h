/* Helpers shared by the ensemble and filter tests: failure counting, synthetic truths,
 * observation sets, ensembles built for every (G, P) grouping of the world. */
#ifndef DAISI_FILTERTEST_H
#define DAISI_FILTERTEST_H

#include <daisi/filter.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <daisitest.h>
#include <math.h>
#include <string.h>

/* an ensemble of M members in G groups on comm, SQG grid from the options (-sqg_n) */
static inline PetscErrorCode MakeEnsemble(MPI_Comm comm, PetscInt M, PetscInt G, DaisiEnsemble *e)
{
  PetscFunctionBegin;
  PetscCall(DaisiEnsembleCreate(comm, e));
  PetscCall(DaisiEnsembleSetSize(*e, M));
  PetscCall(DaisiEnsembleSetGroups(*e, G));
  PetscCall(DaisiEnsembleSetModelType(*e, DAISI_MODEL_SQG));
  PetscCall(DaisiEnsembleSetUp(*e));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a smooth field around 0 K with noise: global array of n = nlev*ny*nx values */
static inline void SyntheticTruth(const DaisiGrid *g, uint64_t seed, PetscReal truth[])
{
  const DaisiRng r = DaisiRngMake(seed, DAISI_RNG_TEST, 0, 0, 0);
  for (PetscInt lev = 0; lev < g->nlev; lev++)
    for (PetscInt y = 0; y < g->ny; y++)
      for (PetscInt x = 0; x < g->nx; x++) {
        const PetscInt gi = (lev * g->ny + y) * g->nx + x;
        truth[gi] = 8.0 * PetscSinReal(2 * PETSC_PI * x / g->nx + lev) * PetscCosReal(2 * PETSC_PI * y / g->ny) + DaisiRngNormal(&r, (uint64_t)gi);
      }
}

/* member m = truth + large-scale random modes + small noise (a prior with spatial correlation) */
static inline void SyntheticEnsemble(const DaisiGrid *g, PetscInt M, uint64_t seed, const PetscReal truth[], PetscReal all[])
{
  const PetscInt n = DaisiGridGlobalSize(g);
  for (PetscInt m = 0; m < M; m++) {
    const DaisiRng r = DaisiRngMake(seed, DAISI_RNG_TEST, 1, (uint64_t)m, 0);
    const PetscReal a1 = 2.0 * DaisiRngNormal(&r, 1000000001), a2 = 2.0 * DaisiRngNormal(&r, 1000000002), a3 = 1.5 * DaisiRngNormal(&r, 1000000003), ph = DaisiRngUniform(&r, 1000000004) * 2 * PETSC_PI;
    for (PetscInt lev = 0; lev < g->nlev; lev++)
      for (PetscInt y = 0; y < g->ny; y++)
        for (PetscInt x = 0; x < g->nx; x++) {
          const PetscInt gi = (lev * g->ny + y) * g->nx + x;
          all[m * n + gi]   = truth[gi] + a1 * PetscSinReal(2 * PETSC_PI * x / g->nx + ph) + a2 * PetscCosReal(2 * PETSC_PI * y / g->ny + 0.5 * lev) + a3 * PetscSinReal(2 * PETSC_PI * (x + y) / g->nx) + 0.7 * DaisiRngNormal(&r, (uint64_t)gi);
        }
  }
}

/* observations at a seeded fraction of the columns, the same columns on every level,
 * values h(truth) + noise, sigma around sigma0 (varying by +-20 % so R is not a multiple of I) */
static inline PetscErrorCode SyntheticObs(const DaisiGrid *g, PetscReal fraction, DaisiObsOperatorType op, PetscReal sigma0, const PetscReal truth[], uint64_t seed, PetscInt cycle, DaisiObsSet *obs)
{
  const PetscInt ncol = g->ny * g->nx;
  PetscInt       nsite = 0, *site;
  const DaisiRng r = DaisiRngMake(seed, DAISI_RNG_TEST, 7, 0, 0);

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(ncol, &site));
  for (PetscInt c = 0; c < ncol; c++)
    if (DaisiRngUniform(&r, (uint64_t)c) < fraction) site[nsite++] = c;
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, nsite * g->nlev, op, obs));
  for (PetscInt lev = 0, o = 0; lev < g->nlev; lev++)
    for (PetscInt k = 0; k < nsite; k++, o++) {
      const DaisiRng rn = DaisiRngMake(seed, DAISI_RNG_TEST, 8, (uint64_t)cycle, 0);
      const PetscInt gi = lev * ncol + site[k];
      PetscReal      h;
      obs->lev[o]   = lev;
      obs->iy[o]    = site[k] / g->nx;
      obs->ix[o]    = site[k] % g->nx;
      obs->sigma[o] = sigma0 * (0.8 + 0.4 * DaisiRngUniform(&rn, (uint64_t)(2 * o)));
      PetscCall(DaisiObsOperatorApply(obs->op, 1, &truth[gi], &h));
      obs->value[o] = h + obs->sigma[o] * DaisiRngNormal(&rn, (uint64_t)(2 * o + 1));
    }
  obs->cycle = cycle;
  PetscCall(PetscFree(site));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the slab of this rank (group layout) of a global field */
static inline void ExtractSlab(const DaisiGrid *g, const PetscReal global[], PetscReal local[])
{
  for (PetscInt lev = 0; lev < g->nlev; lev++)
    for (PetscInt r = 0; r < g->nyl; r++)
      for (PetscInt x = 0; x < g->nx; x++) local[(lev * g->nyl + r) * g->nx + x] = global[(lev * g->ny + g->y0 + r) * g->nx + x];
}

/* number of values that differ bitwise */
static inline PetscInt CountDifferent(PetscInt n, const PetscReal a[], const PetscReal b[])
{
  PetscInt nd = 0;
  for (PetscInt i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(PetscReal))) nd++;
  return nd;
}

static inline PetscReal MaxAbsDiff(PetscInt n, const PetscReal a[], const PetscReal b[])
{
  PetscReal d = 0;
  for (PetscInt i = 0; i < n; i++) d = PetscMax(d, PetscAbsReal(a[i] - b[i]));
  return d;
}

static inline PetscReal MaxAbs(PetscInt n, const PetscReal a[])
{
  PetscReal d = 0;
  for (PetscInt i = 0; i < n; i++) d = PetscMax(d, PetscAbsReal(a[i]));
  return d;
}

#endif
