/* Helpers shared by the filter benchmarks (letkf_bench, etkf_bench): process CPU time, a
 * synthetic truth and observations of it at a seeded fraction of the columns (both levels). */
#ifndef DAISI_BENCHUTIL_H
#define DAISI_BENCHUTIL_H

#include <daisi/obs.h>
#include <daisi/rng.h>
#include <time.h>

/* CPU seconds of this process (robust against other jobs sharing the cores) */
static inline double BenchCpuSeconds(void)
{
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* a smooth truth (K): a few waves plus grid noise, the same on every rank */
static inline void BenchTruth(const DaisiGrid *g, PetscReal truth[])
{
  const DaisiRng r = DaisiRngMake(1, DAISI_RNG_TEST, 0, 0, 0);
  for (PetscInt lev = 0; lev < g->nlev; lev++)
    for (PetscInt y = 0; y < g->ny; y++)
      for (PetscInt x = 0; x < g->nx; x++) {
        const PetscInt gi = (lev * g->ny + y) * g->nx + x;
        truth[gi] = 10 * PetscSinReal(2 * PETSC_PI * (x + 0.3 * lev * g->nx) / g->nx) * PetscCosReal(4 * PETSC_PI * y / g->ny) + 2 * DaisiRngNormal(&r, (uint64_t)gi);
      }
}

/* y = h(truth) + sigma N(0, 1) on both levels at a seeded fraction of the columns */
static inline PetscErrorCode BenchMakeObs(const DaisiGrid *g, DaisiObsOperatorType op, PetscReal fraction, PetscReal sigma, const PetscReal truth[], DaisiObsSet *obs)
{
  const PetscInt ncol = g->ny * g->nx;
  const DaisiRng r    = DaisiRngMake(2, DAISI_RNG_TEST, 0, 0, 0);
  PetscInt      *site, nsite = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(ncol, &site));
  for (PetscInt c = 0; c < ncol; c++)
    if (DaisiRngUniform(&r, (uint64_t)c) < fraction) site[nsite++] = c;
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, g->nlev * nsite, op, obs));
  for (PetscInt lev = 0, o = 0; lev < g->nlev; lev++)
    for (PetscInt k = 0; k < nsite; k++, o++) {
      PetscReal h;
      obs->lev[o]   = lev;
      obs->iy[o]    = site[k] / g->nx;
      obs->ix[o]    = site[k] % g->nx;
      obs->sigma[o] = sigma;
      PetscCall(DaisiObsOperatorApply(obs->op, 1, &truth[lev * ncol + site[k]], &h));
      obs->value[o] = h + sigma * DaisiRngNormal(&r, (uint64_t)(ncol + o));
    }
  obs->cycle = 1;
  PetscCall(PetscFree(site));
  PetscFunctionReturn(PETSC_SUCCESS);
}

#endif
