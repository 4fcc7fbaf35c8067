/* The DAISI filter against exact answers, with the exact Gaussian prior of a synthetic climate
 * on an 8 x 8 two-level grid (s_data = 8.14 K, so the unit conversion is exercised) and a
 * linear h at 8 sites:
 *  - for a linear-Gaussian problem MMPS with the exact Tweedie covariance is the exact score of
 *    p(y | x_t), and with lam = 1 the guided drift b + c(t) g + eps(t) (s + g), c = (1 - t)/t, is
 *    the exact conditional velocity plus eps(t) times the exact conditional score. So:
 *    (1) variant noise with eps = 0 (probability-flow ODE) maps z exactly to mu + P^1/2 z
 *        (the conditional interpolant is N(t mu, (1 - t)^2 I + t^2 P), all terms commute):
 *        pathwise error against that, observed order 2 (Heun, time power 2), and a guidance
 *        1.2 times too strong (lam = 1.2) is rejected;
 *    (2) variant invert to t_min = 0 with the ODE maps x_f to mu + P^1/2 C^-1/2 x_f;
 *    (3) the SDE (eps = 0.5, 5 Langevin correctors of tau 2e-3 per step): the analysis
 *        ensemble's mean and covariance at the observed sites (whitened by the Kalman posterior)
 *        within Monte-Carlo bounds; lam = 1.2 fails the same bounds (and so does a corrector
 *        without the guidance term: measured T1 = 193);
 *  - round trip: ODE inversion to t_min = 0.3 and the unguided ODE back return the forecast,
 *    error shrinking at order 1 (Euler) and 2 (Heun) as the steps double (Heun on the same
 *    nodes back and forth shows order 3: the odd local errors cancel). */
#include "daisitest.h"

static const char help[] = "DAISI filter against the exact posterior of a linear-Gaussian problem.\n";

#define NOBS 8

typedef struct {
  PetscInt   d, nlev, ny, nx;
  PetscReal  s;
  PetscInt   gi[NOBS];
  PetscReal *C, *mu, *P, *Ph, *Cmh, *Ch; /* normalised units */
  PetscReal  Lobs[NOBS * NOBS];          /* Cholesky of H P H^T */
} Exact;

/* the observation set and the Kalman posterior (normalised units) */
static PetscErrorCode ExactSetUp(const DaisiTestClimate *c, const DaisiGrid *g, PetscReal s, DaisiObsSet *obs, Exact *ex)
{
  const PetscInt  cols[4][2] = {{1, 1}, {2, 5}, {5, 3}, {6, 6}};
  const PetscReal yv[NOBS]   = {9.0, -6.0, 4.0, -11.0, 7.0, 3.0, -8.0, 5.0};
  PetscInt        d;
  PetscReal      *Sm, *KT, *CA;

  PetscFunctionBegin;
  ex->nlev = g->nlev;
  ex->ny   = g->ny;
  ex->nx   = g->nx;
  ex->d = d = DaisiGridGlobalSize(g);
  ex->s     = s;
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, NOBS, DAISI_OBS_OPERATOR_LINEAR, obs));
  for (PetscInt o = 0; o < NOBS; o++) {
    obs->lev[o]   = o / 4;
    obs->iy[o]    = cols[o % 4][0];
    obs->ix[o]    = cols[o % 4][1];
    obs->sigma[o] = 3.0 + 0.5 * o; /* K */
    obs->value[o] = yv[o];
    ex->gi[o]     = (obs->lev[o] * g->ny + obs->iy[o]) * g->nx + obs->ix[o];
  }
  obs->cycle = 1;
  PetscCall(PetscMalloc6(d * d, &ex->C, d, &ex->mu, d * d, &ex->P, d * d, &ex->Ph, d * d, &ex->Cmh, d * d, &ex->Ch));
  PetscCall(DaisiTestClimateDense(c, g->nlev, ex->C));
  /* A = s H (K per normalised unit), S = A C A^T + R, K^T = S^-1 A C */
  PetscCall(PetscMalloc3(NOBS * NOBS, &Sm, NOBS * d, &KT, NOBS * d, &CA));
  for (PetscInt o = 0; o < NOBS; o++)
    for (PetscInt j = 0; j < d; j++) CA[o * d + j] = s * ex->C[ex->gi[o] * d + j]; /* (A C)_oj */
  for (PetscInt o = 0; o < NOBS; o++)
    for (PetscInt q = 0; q < NOBS; q++) Sm[o * NOBS + q] = s * CA[o * d + ex->gi[q]] + (o == q ? obs->sigma[o] * obs->sigma[o] : 0);
  PetscCall(PetscArraycpy(KT, CA, NOBS * d));
  PetscCall(DaisiTestSolve(NOBS, Sm, d, KT));
  for (PetscInt i = 0; i < d; i++) {
    ex->mu[i] = 0;
    for (PetscInt o = 0; o < NOBS; o++) ex->mu[i] += KT[o * d + i] * obs->value[o];
  }
  for (PetscInt i = 0; i < d; i++)
    for (PetscInt j = 0; j < d; j++) {
      PetscReal v = ex->C[i * d + j];
      for (PetscInt o = 0; o < NOBS; o++) v -= CA[o * d + i] * KT[o * d + j];
      ex->P[i * d + j] = v;
    }
  for (PetscInt i = 0; i < d; i++) /* symmetrise the round-off */
    for (PetscInt j = 0; j < i; j++) ex->P[i * d + j] = ex->P[j * d + i] = 0.5 * (ex->P[i * d + j] + ex->P[j * d + i]);
  PetscCall(DaisiTestSymPower(d, ex->P, 0.5, ex->Ph));
  PetscCall(DaisiTestSymPower(d, ex->C, -0.5, ex->Cmh));
  PetscCall(DaisiTestSymPower(d, ex->C, 0.5, ex->Ch));
  {
    PetscReal HPH[NOBS * NOBS];
    for (PetscInt o = 0; o < NOBS; o++)
      for (PetscInt q = 0; q < NOBS; q++) HPH[o * NOBS + q] = ex->P[ex->gi[o] * d + ex->gi[q]];
    PetscCall(DaisiTestCholesky(NOBS, HPH, ex->Lobs));
  }
  PetscCall(PetscFree3(Sm, KT, CA));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ExactDestroy(Exact *ex)
{
  PetscFunctionBegin;
  PetscCall(PetscFree6(ex->C, ex->mu, ex->P, ex->Ph, ex->Cmh, ex->Ch));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* y = A x (d x d row-major) */
static void MatVec(PetscInt d, const PetscReal A[], const PetscReal x[], PetscReal y[])
{
  for (PetscInt i = 0; i < d; i++) {
    PetscReal s = 0;
    for (PetscInt j = 0; j < d; j++) s += A[i * d + j] * x[j];
    y[i] = s;
  }
}

/* the filter's analysis of the forecast xf (global, K) on every rank: xa (global, K) */
static PetscErrorCode RunFilter(DaisiEnsemble e, DaisiPrior prior, const DaisiFilterDAISIParams *par, const DaisiObsSet *obs, const PetscReal xf[], PetscReal xa[])
{
  DaisiFilter       f;
  DaisiEnsembleInfo in;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(DaisiEnsembleSetGlobal(e, xf));
  PetscCall(DaisiTestFilter(e, par, prior, &f));
  PetscCall(DaisiFilterAnalysis(f, e, obs));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiEnsembleGatherGlobal(e, xa));
  PetscCallMPI(MPI_Bcast(xa, (PetscMPIInt)(in.M * in.nglobal), MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* relative distance of the analysis (K) from mu + T w_m (normalised), over the members */
static PetscReal PathError(const Exact *ex, PetscInt M, const PetscReal xa[], const PetscReal T[], const PetscReal w[])
{
  const PetscInt d = ex->d;
  PetscReal      num = 0, den = 0, *tw;

  if (PetscMalloc1(d, &tw)) return PETSC_MAX_REAL;
  for (PetscInt m = 0; m < M; m++) {
    MatVec(d, T, w + m * d, tw);
    for (PetscInt i = 0; i < d; i++) {
      const PetscReal e = xa[m * d + i] / ex->s - ex->mu[i] - tw[i];
      num += e * e;
      den += tw[i] * tw[i];
    }
  }
  (void)PetscFree(tw);
  return PetscSqrtReal(num / den);
}

/* the starting noise z of member m that the filter draws (documented key) */
static void FilterNoise(PetscInt M, PetscInt d, PetscInt64 seed, PetscInt cycle, PetscReal z[])
{
  for (PetscInt m = 0; m < M; m++) {
    const DaisiRng r = DaisiRngMake((uint64_t)seed, DAISI_RNG_INTERPOLANT, (uint64_t)cycle, (uint64_t)m, 0);
    for (PetscInt i = 0; i < d; i++) z[m * d + i] = DaisiRngNormal(&r, (uint64_t)i);
  }
}

/* Monte-Carlo statistics at the observed sites, whitened by the Kalman posterior:
 * T1 = M |mean v|^2 ~ chi2(8), T2 = M/2 sum (S_ii - 1)^2 + M sum_{i<j} S_ij^2 ~ chi2(36) */
static void ObsStats(const Exact *ex, PetscInt M, const PetscReal xa[], PetscReal *T1, PetscReal *T2, PetscReal var[])
{
  const PetscInt d = ex->d;
  PetscReal      mean[NOBS] = {0}, S[NOBS * NOBS] = {0}, v[NOBS];

  for (PetscInt m = 0; m < M; m++) {
    for (PetscInt o = 0; o < NOBS; o++) { /* v = L^-1 (H x - H mu) */
      PetscReal r = xa[m * d + ex->gi[o]] / ex->s - ex->mu[ex->gi[o]];
      for (PetscInt q = 0; q < o; q++) r -= ex->Lobs[o * NOBS + q] * v[q];
      v[o] = r / ex->Lobs[o * NOBS + o];
    }
    for (PetscInt o = 0; o < NOBS; o++) {
      mean[o] += v[o] / M;
      for (PetscInt q = 0; q < NOBS; q++) S[o * NOBS + q] += v[o] * v[q] / M;
    }
  }
  *T1 = 0;
  *T2 = 0;
  for (PetscInt o = 0; o < NOBS; o++) {
    *T1 += M * mean[o] * mean[o];
    for (PetscInt q = 0; q <= o; q++) {
      const PetscReal c = (S[o * NOBS + q] - mean[o] * mean[q]) * M / (M - 1);
      if (q == o) {
        *T2 += 0.5 * M * (c - 1) * (c - 1);
        var[o] = c;
      } else *T2 += M * c * c;
    }
  }
}

int main(int argc, char **argv)
{
  DaisiEnsemble          e;
  DaisiGrid              g;
  DaisiPrior             prior;
  DaisiTestClimate       clim;
  DaisiObsSet            obs;
  DaisiFilterDAISIParams par, def;
  Exact                  ex;
  PetscReal              s, *xf, *xa, *z, *w;
  const PetscInt         M = 6;
  PetscInt               d;
  PetscMPIInt            size;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, 1, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiTestGaussianPrior(e, &clim, &prior));
  PetscCall(DaisiPriorGetScale(prior, &s));
  PetscCall(ExactSetUp(&clim, &g, s, &obs, &ex));
  d = ex.d;
  PetscCall(PetscMalloc4(400 * d, &xf, 400 * d, &xa, 400 * d, &z, 400 * d, &w));

  /* the dense covariance is the prior's: b(x, 1/2) = 2 (C - I)(C + I)^-1 x */
  {
    const PetscInt n = DaisiGridLocalSize(&g);
    PetscReal     *xl, *bl, *A, *rhs, tt = 0.5, err = 0, nrm = 0;
    PetscCall(PetscMalloc4(n + 1, &xl, n + 1, &bl, d * d, &A, d, &rhs));
    SyntheticTruth(&g, 5, xf);
    ExtractSlab(&g, xf, xl);
    PetscCall(DaisiPriorVelocity(prior, 1, &tt, xl, bl));
    for (PetscInt i = 0; i < d * d; i++) A[i] = ex.C[i] + (i % (d + 1) == 0 ? 1 : 0);
    PetscCall(PetscArraycpy(rhs, xf, d));
    PetscCall(DaisiTestSolve(d, A, 1, rhs));
    MatVec(d, ex.C, rhs, w);
    for (PetscInt i = 0; i < d; i++) xa[i] = 2 * (w[i] - rhs[i]);
    for (PetscInt l = 0; l < g.nlev; l++)
      for (PetscInt j = 0; j < g.nyl; j++)
        for (PetscInt i = 0; i < g.nx; i++) {
          const PetscInt gi = (l * g.ny + g.y0 + j) * g.nx + i;
          err               = PetscMax(err, PetscAbsReal(bl[(l * g.nyl + j) * g.nx + i] - xa[gi]));
          nrm               = PetscMax(nrm, PetscAbsReal(xa[gi]));
        }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &err, 1, MPIU_REAL, MPI_MAX, PETSC_COMM_WORLD));
    EXPECT(err <= 1e-12 * nrm, "dense covariance does not match the prior: velocity error %g of %g", (double)err, (double)nrm);
    PetscCall(PetscFree4(xl, bl, A, rhs));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "posterior/prior std at the sites:"));
  for (PetscInt o = 0; o < NOBS; o++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.2f", (double)PetscSqrtReal(ex.P[ex.gi[o] * d + ex.gi[o]] / ex.C[ex.gi[o] * d + ex.gi[o]])));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; increments / posterior std:"));
  for (PetscInt o = 0; o < NOBS; o++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.2f", (double)(ex.mu[ex.gi[o]] / PetscSqrtReal(ex.P[ex.gi[o] * d + ex.gi[o]]))));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));

  PetscCall(DaisiFilterDAISIParamsDefault(&def));
  /* (1) noise + ODE: x = mu + P^1/2 z, pathwise */
  {
    PetscReal err[3], e12, egm;
    PetscCall(PetscArrayzero(xf, M * d));
    par                 = def;
    par.variant         = DAISI_FILTER_DAISI_NOISE;
    par.eps             = 0;
    par.method          = DAISI_INTERPOLANT_HEUN;
    par.time_power      = 2;
    par.guidance        = DAISI_FILTER_DAISI_MMPS;
    par.mmps_iterations = 40;
    par.mmps_rtol       = 1e-13;
    par.seed            = 3;
    FilterNoise(M, d, par.seed, obs.cycle, z);
    for (PetscInt k = 0; k < 3; k++) {
      par.steps = 16 << k;
      PetscCall(RunFilter(e, prior, &par, &obs, xf, xa));
      err[k] = PathError(&ex, M, xa, ex.Ph, z);
    }
    par.lambda = 1.2;
    PetscCall(RunFilter(e, prior, &par, &obs, xf, xa));
    e12        = PathError(&ex, M, xa, ex.Ph, z);
    par.lambda = 1;
    par.mmps_solver = DAISI_FILTER_DAISI_GMRES;
    PetscCall(RunFilter(e, prior, &par, &obs, xf, xa));
    egm = PathError(&ex, M, xa, ex.Ph, z);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "noise + ODE (Heun, time power 2), MMPS-CG: error vs mu + P^1/2 z: K = 16 %.2e, 32 %.2e, 64 %.2e (orders %.2f, %.2f); GMRES K = 64 %.2e; lam = 1.2: %.2e\n", (double)err[0], (double)err[1], (double)err[2], (double)PetscLog2Real(err[0] / err[1]), (double)PetscLog2Real(err[1] / err[2]), (double)egm, (double)e12));
    EXPECT(err[2] < 1e-3, "noise + ODE with K = 64: pathwise error %g against the exact posterior map", (double)err[2]);
    EXPECT(PetscLog2Real(err[1] / err[2]) > 1.7 && PetscLog2Real(err[1] / err[2]) < 2.5, "noise + ODE (Heun): observed order %g, expected 2", (double)PetscLog2Real(err[1] / err[2]));
    EXPECT(PetscAbsReal(egm - err[2]) < 1e-3 * err[2], "noise + ODE with MMPS-GMRES: pathwise error %g, CG %g (both solved to convergence)", (double)egm, (double)err[2]);
    EXPECT(e12 > 50 * err[2] && e12 > 1e-2, "a guidance 1.2 times too strong is not detected (error %g vs %g)", (double)e12, (double)err[2]);
  }
  /* (2) invert to t_min = 0 with the ODE: x_a = mu + P^1/2 C^-1/2 x_f (x_f = s C^1/2 w) */
  {
    PetscReal err, *T;
    for (PetscInt m = 0; m < M; m++) {
      const DaisiRng r = DaisiRngMake(77, DAISI_RNG_TEST, 0, (uint64_t)m, 0);
      for (PetscInt i = 0; i < d; i++) w[m * d + i] = DaisiRngNormal(&r, (uint64_t)i);
      MatVec(d, ex.Ch, w + m * d, xf + m * d);
      for (PetscInt i = 0; i < d; i++) xf[m * d + i] *= s;
    }
    par                 = def;
    par.variant         = DAISI_FILTER_DAISI_INVERT;
    par.tmin            = 0;
    par.eps             = 0;
    par.method          = DAISI_INTERPOLANT_HEUN;
    par.time_power      = 2;
    par.steps           = 64;
    par.inversion_steps = 64;
    par.mmps_iterations = 40;
    par.mmps_rtol       = 1e-13;
    PetscCall(RunFilter(e, prior, &par, &obs, xf, xa));
    PetscCall(PetscMalloc1(d * d, &T));
    for (PetscInt i = 0; i < d; i++) /* T = P^1/2 C^-1/2 C^1/2 = P^1/2 on w */
      for (PetscInt j = 0; j < d; j++) T[i * d + j] = ex.Ph[i * d + j];
    err = PathError(&ex, M, xa, T, w);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "invert (ODE) to t_min = 0, then guided ODE, K = 64 + 64: error vs mu + P^1/2 C^-1/2 x_f %.2e\n", (double)err));
    EXPECT(err < 5e-4, "invert to t_min = 0 + guided ODE: pathwise error %g against the exact posterior map", (double)err);
    PetscCall(PetscFree(T));
  }
  /* (3) the SDE: Monte-Carlo moments at the observed sites */
  {
    const PetscInt Mb = 400;
    DaisiEnsemble  eb;
    PetscReal      T1, T2, var[NOBS], T1b, T2b, varb[NOBS];
    PetscInt       ncorr;
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, Mb, 1, &eb));
    PetscCall(PetscArrayzero(xf, Mb * d));
    par                 = def;
    par.variant         = DAISI_FILTER_DAISI_NOISE;
    par.eps             = 0.5;
    par.method          = DAISI_INTERPOLANT_HEUN;
    par.time_power      = 2;
    par.steps           = 40;
    par.mmps_iterations = 40;
    par.mmps_rtol       = 1e-10;
    par.correctors      = 5; /* enough Langevin time (0.4) that a corrector without the guidance term fails */
    par.corrector_tau   = 2e-3;
    PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_correctors", &par.correctors, NULL));
    PetscCall(PetscOptionsGetReal(NULL, NULL, "-test_corrector_tau", &par.corrector_tau, NULL));
    par.seed            = 11;
    PetscCall(RunFilter(eb, prior, &par, &obs, xf, xa));
    ObsStats(&ex, Mb, xa, &T1, &T2, var);
    ncorr          = par.correctors;
    par.lambda     = 1.2; /* the guided SDE alone, 1.2 times too strong */
    par.correctors = 0;
    PetscCall(RunFilter(eb, prior, &par, &obs, xf, xa));
    ObsStats(&ex, Mb, xa, &T1b, &T2b, varb);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "SDE eps 0.5 (Heun, K = 40, %d Langevin correctors of tau %g per step), %d members: whitened mean T1 = %.1f (chi2(8)), covariance T2 = %.1f (chi2(36)); variances / posterior:", (int)ncorr, (double)par.corrector_tau, (int)Mb, (double)T1, (double)T2));
    for (PetscInt o = 0; o < NOBS; o++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.2f", (double)var[o]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n  lam = 1.2 (no correctors): T1 = %.1f, T2 = %.1f; variances:", (double)T1b, (double)T2b));
    for (PetscInt o = 0; o < NOBS; o++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.2f", (double)varb[o]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
    /* 99.99 % quantiles: chi2(8) 31.8, chi2(36) about 70 */
    EXPECT(T1 < 31.8, "SDE posterior mean off: T1 = %g > 31.8 (chi2(8), p = 1e-4)", (double)T1);
    EXPECT(T2 < 70, "SDE posterior covariance off: T2 = %g > 70 (chi2(36), p = 1e-4)", (double)T2);
    EXPECT(T1b > 31.8 || T2b > 70, "a guidance 1.2 times too strong passes the Monte-Carlo bounds (T1 %g, T2 %g)", (double)T1b, (double)T2b);
    PetscCall(DaisiEnsembleDestroy(&eb));
  }
  /* round trip: invert to 0.3 and back without guidance (ODE) */
  {
    PetscReal err[2][2][4];
    for (PetscInt m = 0; m < M; m++) {
      const DaisiRng r = DaisiRngMake(78, DAISI_RNG_TEST, 0, (uint64_t)m, 0);
      for (PetscInt i = 0; i < d; i++) w[m * d + i] = DaisiRngNormal(&r, (uint64_t)i);
      MatVec(d, ex.Ch, w + m * d, xf + m * d);
      for (PetscInt i = 0; i < d; i++) xf[m * d + i] *= s;
    }
    par          = def;
    par.variant  = DAISI_FILTER_DAISI_INVERT;
    par.tmin     = 0.3;
    par.eps      = 0;
    par.guidance = DAISI_FILTER_DAISI_GUIDANCE_NONE;
    for (PetscInt meth = 0; meth < 2; meth++)
      for (PetscInt same = 0; same < 2; same++)
        for (PetscInt k = 0; k < 4; k++) {
          PetscReal num = 0, den = 0;
          par.method          = meth ? DAISI_INTERPOLANT_HEUN : DAISI_INTERPOLANT_EULER;
          par.inversion_steps = 8 << k;
          par.steps           = same ? par.inversion_steps : 2 * par.inversion_steps;
          PetscCall(RunFilter(e, prior, &par, &obs, xf, xa));
          for (PetscInt i = 0; i < M * d; i++) {
            num += (xa[i] - xf[i]) * (xa[i] - xf[i]);
            den += xf[i] * xf[i];
          }
          err[meth][same][k] = PetscSqrtReal(num / den);
        }
    for (PetscInt meth = 0; meth < 2; meth++)
      for (PetscInt same = 0; same < 2; same++) {
        const PetscReal o = PetscLog2Real(err[meth][same][2] / err[meth][same][3]);
        PetscCall(PetscPrintf(PETSC_COMM_WORLD, "round trip %s, %s: errors K = 8..64: %.2e %.2e %.2e %.2e, observed order %.2f\n", meth ? "Heun " : "Euler", same ? "forward on the inversion's nodes (K + K)  " : "forward on twice as many nodes (K + 2K)", (double)err[meth][same][0], (double)err[meth][same][1], (double)err[meth][same][2], (double)err[meth][same][3], (double)o));
        if (!meth) EXPECT(o > 0.85 && o < 1.2, "Euler round trip: observed order %g, expected 1", (double)o);
        else if (same) EXPECT(o > 2.7 && o < 3.3, "Heun round trip on the same nodes: observed order %g, expected 3 (odd local errors cancel)", (double)o);
        else EXPECT(o > 1.8 && o < 2.3, "Heun round trip: observed order %g, expected 2", (double)o);
      }
    EXPECT(err[1][1][3] < 1e-5, "Heun round trip with 64 + 64 steps: error %g", (double)err[1][1][3]);
  }
  PetscCall(ExactDestroy(&ex));
  PetscCall(PetscFree4(xf, xa, z, w));
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(DaisiPriorDestroy(&prior));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(FinishTest("test_daisi_exact"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
