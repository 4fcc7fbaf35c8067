/* Helpers shared by the ensemble and filter tests: failure counting, synthetic truths,
 * observation sets, ensembles built for every (G, P) grouping of the world, and the dense
 * ensemble moments and Kalman update the linear-Gaussian tests compare with. */
#ifndef DAISI_FILTERTEST_H
#define DAISI_FILTERTEST_H

#include <daisi/filter.h>
#include <daisi/rng.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>
#include <daisitest.h>
#include <math.h>
#include <string.h>

/* Writes K states sample(g, s, x), s = 0..K-1, 3600 s apart, to a state file (rank 0 writes the
 * whole grid; every rank returns once it is complete): a synthetic nature run or climatology. */
typedef void (*FilterTestStateFn)(const DaisiGrid *g, PetscInt s, PetscReal x[]);
static inline PetscErrorCode FilterTestWriteStates(const DaisiGrid *g0, PetscInt K, FilterTestStateFn sample, const char path[])
{
  PetscMPIInt rank;
  DaisiGrid   g = *g0;

  PetscFunctionBegin;
  g.y0  = 0;
  g.nyl = g.ny;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    DaisiStateFile f;
    PetscReal     *x;
    PetscCall(PetscMalloc1(DaisiGridGlobalSize(&g), &x));
    PetscCall(DaisiStateFileCreate(PETSC_COMM_SELF, &f));
    PetscCall(DaisiStateFileSetGrid(f, &g));
    PetscCall(DaisiStateFileSetNumTimes(f, K));
    PetscCall(DaisiStateFileOpen(f, path, DAISI_FILE_WRITE));
    for (PetscInt s = 0; s < K; s++) {
      sample(&g, s, x);
      PetscCall(DaisiStateFileWrite(f, s, 3600.0 * s, x));
    }
    PetscCall(DaisiStateFileClose(f));
    PetscCall(DaisiStateFileDestroy(&f));
    PetscCall(PetscFree(x));
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscFunctionReturn(PETSC_SUCCESS);
}

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

/* a slab field of this rank's group to a global array on every rank of the group */
static inline PetscErrorCode SlabToGlobal(DaisiEnsemble e, const PetscReal loc[], PetscReal glob[])
{
  DaisiGrid g;
  MPI_Comm  group;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiEnsembleGetGroupComm(e, &group));
  PetscCall(PetscArrayzero(glob, DaisiGridGlobalSize(&g)));
  for (PetscInt l = 0; l < g.nlev; l++)
    for (PetscInt r = 0; r < g.nyl; r++)
      for (PetscInt x = 0; x < g.nx; x++) glob[(l * g.ny + g.y0 + r) * g.nx + x] = loc[(l * g.nyl + r) * g.nx + x];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, glob, (PetscMPIInt)DaisiGridGlobalSize(&g), MPIU_REAL, MPI_SUM, group));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscReal GroupDot(MPI_Comm group, PetscInt n, const PetscReal a[], const PetscReal b[])
{
  PetscReal s = 0, t = 0;
  for (PetscInt i = 0; i < n; i++) s += a[i] * b[i];
  if (MPI_Allreduce(&s, &t, 1, MPIU_REAL, MPI_SUM, group)) return NAN;
  return t;
}

/* DaisiFilterSetFromOptions of a filter of type `type` with option name = value set (then cleared):
 * its error code, for the bad-option checks of the type tests */
static inline PetscErrorCode FilterTryOption(const char type[], const char name[], const char value[])
{
  DaisiFilter    f = NULL;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscOptionsSetValue(NULL, name, value));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, type));
  ierr = DaisiFilterSetFromOptions(f);
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(PetscOptionsClearValue(NULL, name));
  PetscFunctionReturn(ierr);
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

/* Cholesky solve of the p x p SPD system S X = B for nrhs right-hand sides (row-major B: p x nrhs) */
static inline PetscErrorCode CholSolve(PetscInt p, PetscReal S[], PetscInt nrhs, PetscReal B[])
{
  PetscFunctionBegin;
  for (PetscInt j = 0; j < p; j++) {
    for (PetscInt k = 0; k < j; k++) S[j * p + j] -= S[j * p + k] * S[j * p + k];
    PetscCheck(S[j * p + j] > 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "test: S not positive definite");
    S[j * p + j] = PetscSqrtReal(S[j * p + j]);
    for (PetscInt i = j + 1; i < p; i++) {
      for (PetscInt k = 0; k < j; k++) S[i * p + j] -= S[i * p + k] * S[j * p + k];
      S[i * p + j] /= S[j * p + j];
    }
  }
  for (PetscInt r = 0; r < nrhs; r++) {
    for (PetscInt i = 0; i < p; i++) {
      for (PetscInt k = 0; k < i; k++) B[i * nrhs + r] -= S[i * p + k] * B[k * nrhs + r];
      B[i * nrhs + r] /= S[i * p + i];
    }
    for (PetscInt i = p - 1; i >= 0; i--) {
      for (PetscInt k = i + 1; k < p; k++) B[i * nrhs + r] -= S[k * p + i] * B[k * nrhs + r];
      B[i * nrhs + r] /= S[i * p + i];
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Kalman update of (mu, P) (n, n x n) with observations of grid values (dense, independent of the
 * filters); also returns krk[i] = (K R K^T)_ii */
static inline PetscErrorCode KalmanUpdate(PetscInt n, const DaisiGrid *g, const DaisiObsSet *obs, PetscReal mu[], PetscReal P[], PetscReal krk[])
{
  const PetscInt p = obs->nobs;
  PetscInt      *gi;
  PetscReal     *S, *PHt, *KT, *inn;

  PetscFunctionBegin;
  PetscCall(PetscMalloc5(p, &gi, p * p, &S, n * p, &PHt, p * n, &KT, p, &inn));
  for (PetscInt o = 0; o < p; o++) gi[o] = (obs->lev[o] * g->ny + obs->iy[o]) * g->nx + obs->ix[o];
  for (PetscInt o = 0; o < p; o++) {
    for (PetscInt q = 0; q < p; q++) S[o * p + q] = P[gi[o] * n + gi[q]] + (o == q ? obs->sigma[o] * obs->sigma[o] : 0);
    for (PetscInt i = 0; i < n; i++) KT[o * n + i] = P[gi[o] * n + i]; /* H P */
    inn[o] = obs->value[o] - mu[gi[o]];
  }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt o = 0; o < p; o++) PHt[i * p + o] = P[i * n + gi[o]];
  PetscCall(CholSolve(p, S, n, KT)); /* KT = S^-1 H P = K^T */
  for (PetscInt i = 0; i < n; i++) {
    krk[i] = 0;
    for (PetscInt o = 0; o < p; o++) {
      mu[i] += KT[o * n + i] * inn[o];
      krk[i] += KT[o * n + i] * KT[o * n + i] * obs->sigma[o] * obs->sigma[o];
    }
  }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) {
      PetscReal s = 0;
      for (PetscInt o = 0; o < p; o++) s += PHt[i * p + o] * KT[o * n + j];
      P[i * n + j] -= s;
    }
  PetscCall(PetscFree5(gi, S, PHt, KT, inn));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ensemble mean and (if P) covariance of M members of n values (member-major) */
static inline void MeanCov(PetscInt M, PetscInt n, const PetscReal all[], PetscReal mu[], PetscReal P[])
{
  for (PetscInt i = 0; i < n; i++) {
    mu[i] = 0;
    for (PetscInt m = 0; m < M; m++) mu[i] += all[m * n + i];
    mu[i] /= M;
  }
  if (!P) return;
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) {
      PetscReal s = 0;
      for (PetscInt m = 0; m < M; m++) s += (all[m * n + i] - mu[i]) * (all[m * n + j] - mu[j]);
      P[i * n + j] = s / (M - 1);
    }
}

#endif
