/* Linear-Gaussian exactness over two cycles with a linear model step and linear H:
 *   - ETKF analysis mean and covariance equal the Kalman filter's (computed densely from the
 *     same prior mean and covariance), to round-off;
 *   - LETKF with an infinite cutoff (both its observation-space and ensemble-space local
 *     solvers) equals ETKF to round-off;
 *   - the stochastic EnKF's mean with many members equals the Kalman mean within its
 *     Monte-Carlo error K mean(eps), eps ~ N(0, R). */
#include "filtertest.h"

static const char help[] = "Tests ETKF/LETKF/EnKF against the Kalman filter in a linear-Gaussian setting.\n";

/* the linear model step x <- F x: damped advection by one column, a little mixing between levels */
static void LinearStep(const DaisiGrid *g, const PetscReal x[], PetscReal y[])
{
  for (PetscInt lev = 0; lev < g->nlev; lev++)
    for (PetscInt r = 0; r < g->ny; r++)
      for (PetscInt c = 0; c < g->nx; c++) {
        const PetscInt gi = (lev * g->ny + r) * g->nx + c, up = (lev * g->ny + r) * g->nx + (c + g->nx - 1) % g->nx;
        const PetscInt other = (((lev + 1) % g->nlev) * g->ny + r) * g->nx + c;
        y[gi] = 0.8 * x[up] + 0.15 * x[gi] + (g->nlev > 1 ? 0.05 * x[other] : 0.0);
      }
}

static PetscErrorCode MakeFilter(DaisiFilterType type, PetscReal cutoff, PetscBool ensspace, DaisiFilter *f)
{
  PetscFunctionBegin;
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, f));
  PetscCall(DaisiFilterSetType(*f, type));
  PetscCall(DaisiFilterSetFromOptions(*f));
  if (cutoff > 0) PetscCall(DaisiFilterLETKFSetCutoff(*f, cutoff));
  PetscCall(DaisiFilterLETKFSetEnsembleSpace(*f, ensspace));
  PetscCall(DaisiFilterSetUp(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  enum { NF = 3 };
  const PetscInt  M = 12, Menkf = 400;
  PetscMPIInt     rank;
  PetscInt        G = 1, n;
  DaisiEnsemble   ens[NF], big;
  DaisiFilter     filt[NF], enkf;
  DaisiGrid       g;
  PetscReal      *truth, *all[NF], *mu, *P, *mu2, *P2, *krk, *tmp, *tmp2;
  const char     *names[NF] = {"etkf", "letkf (auto space, cutoff 1e30)", "letkf (ensemble space, cutoff 1e30)"};

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ens_groups", &G, NULL));
  for (PetscInt k = 0; k < NF; k++) PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, G, &ens[k]));
  PetscCall(MakeFilter(DAISI_FILTER_ETKF, -1, PETSC_FALSE, &filt[0]));
  PetscCall(MakeFilter(DAISI_FILTER_LETKF, 1e30, PETSC_FALSE, &filt[1]));
  PetscCall(MakeFilter(DAISI_FILTER_LETKF, 1e30, PETSC_TRUE, &filt[2]));
  PetscCall(DaisiEnsembleGetGrid(ens[0], &g));
  n = DaisiGridGlobalSize(&g);
  PetscCall(PetscMalloc5(n, &truth, n, &mu, n * n, &P, n, &krk, n * n, &tmp));
  PetscCall(PetscMalloc3(n, &mu2, n * n, &P2, n * PetscMax(M, Menkf), &tmp2));
  for (PetscInt k = 0; k < NF; k++) PetscCall(PetscMalloc1(M * n, &all[k]));
  SyntheticTruth(&g, 5, truth);
  SyntheticEnsemble(&g, M, 6, truth, all[0]);
  for (PetscInt k = 0; k < NF; k++) PetscCall(DaisiEnsembleSetGlobal(ens[k], all[0]));
  MeanCov(M, n, all[0], mu, P); /* the Kalman filter starts from the prior ensemble's moments */

  for (PetscInt cycle = 1; cycle <= 2; cycle++) {
    DaisiObsSet obs;
    PetscCall(SyntheticObs(&g, cycle == 1 ? 0.05 : 0.3, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 20 + cycle, cycle, &obs));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "cycle %" PetscInt_FMT ": %" PetscInt_FMT " observations, %" PetscInt_FMT " members\n", cycle, obs.nobs, M));
    for (PetscInt k = 0; k < NF; k++) {
      PetscCall(DaisiFilterAnalysis(filt[k], ens[k], &obs));
      PetscCall(DaisiEnsembleGatherGlobal(ens[k], all[k]));
    }
    if (!rank) {
      PetscReal scale_mu, scale_P, dmu, dP;
      PetscCall(PetscArraycpy(tmp2, mu, n));
      PetscCall(KalmanUpdate(n, &g, &obs, mu, P, krk));
      /* the test must be able to fail: the update is far from zero */
      EXPECT(MaxAbsDiff(n, mu, tmp2) > 0.1, "cycle %" PetscInt_FMT ": Kalman mean increment only %g", cycle, (double)MaxAbsDiff(n, mu, tmp2));
      scale_mu = MaxAbs(n, mu);
      scale_P  = MaxAbs(n * n, P);
      for (PetscInt k = 0; k < NF; k++) {
        MeanCov(M, n, all[k], mu2, P2);
        dmu = MaxAbsDiff(n, mu, mu2);
        dP  = MaxAbsDiff(n * n, P, P2);
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "  %-38s vs Kalman: max |mean diff| %.2e (scale %.2e), max |cov diff| %.2e (scale %.2e)\n", names[k], (double)dmu, (double)scale_mu, (double)dP, (double)scale_P));
        EXPECT(dmu <= 1e-11 * scale_mu, "cycle %" PetscInt_FMT ", %s: analysis mean differs from the Kalman filter by %g", cycle, names[k], (double)dmu);
        EXPECT(dP <= 1e-11 * scale_P, "cycle %" PetscInt_FMT ", %s: analysis covariance differs from the Kalman filter by %g", cycle, names[k], (double)dP);
        if (k) {
          const PetscReal dx = MaxAbsDiff(M * n, all[0], all[k]);
          PetscCall(PetscPrintf(PETSC_COMM_SELF, "  %-38s vs etkf: max |member diff| %.2e\n", names[k], (double)dx));
          EXPECT(dx <= 1e-11 * MaxAbs(M * n, all[0]), "cycle %" PetscInt_FMT ": %s differs from etkf by %g", cycle, names[k], (double)dx);
        }
      }
    }
    /* linear model step on every ensemble and on the Kalman moments: mu <- F mu, P <- F P F^T */
    if (cycle == 1) {
      for (PetscInt k = 0; k < NF; k++) {
        PetscCallMPI(MPI_Bcast(all[k], (PetscMPIInt)(M * n), MPIU_REAL, 0, PETSC_COMM_WORLD));
        for (PetscInt m = 0; m < M; m++) {
          LinearStep(&g, all[k] + m * n, tmp2);
          PetscCall(PetscArraycpy(all[k] + m * n, tmp2, n));
        }
        PetscCall(DaisiEnsembleSetGlobal(ens[k], all[k]));
      }
      if (!rank) {
        LinearStep(&g, mu, tmp2);
        PetscCall(PetscArraycpy(mu, tmp2, n));
        for (PetscInt i = 0; i < n; i++) LinearStep(&g, P + i * n, tmp + i * n); /* rows: (F P^T)^T = P F^T */
        for (PetscInt i = 0; i < n; i++)
          for (PetscInt j = 0; j < n; j++) P2[j * n + i] = tmp[i * n + j];
        for (PetscInt i = 0; i < n; i++) LinearStep(&g, P2 + i * n, P + i * n); /* F (P F^T) */
      }
    }
    PetscCall(DaisiObsSetDestroy(&obs));
  }

  /* stochastic EnKF: mean within Monte-Carlo error of the Kalman mean (same prior moments) */
  {
    DaisiObsSet obs;
    PetscReal  *allb;
    PetscCall(PetscMalloc1(Menkf * n, &allb));
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, Menkf, G, &big));
    PetscCall(MakeFilter(DAISI_FILTER_ENKF, -1, PETSC_FALSE, &enkf));
    PetscCall(DaisiFilterSetSeed(enkf, 99));
    SyntheticEnsemble(&g, Menkf, 8, truth, allb);
    PetscCall(DaisiEnsembleSetGlobal(big, allb));
    PetscCall(SyntheticObs(&g, 0.15, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 30, 1, &obs));
    for (PetscInt o = 0; o < obs.nobs; o++) obs.value[o] += 3.0; /* a biased prior: large increments */
    if (!rank) MeanCov(Menkf, n, allb, mu, P);
    PetscCall(DaisiFilterAnalysis(enkf, big, &obs));
    PetscCall(DaisiEnsembleGatherGlobal(big, allb));
    if (!rank) {
      PetscReal worst = 0, incr = 0;
      PetscCall(PetscArraycpy(mu2, mu, n));
      PetscCall(KalmanUpdate(n, &g, &obs, mu, P, krk));
      for (PetscInt i = 0; i < n; i++) incr = PetscMax(incr, PetscAbsReal(mu[i] - mu2[i]));
      MeanCov(Menkf, n, allb, mu2, NULL);
      for (PetscInt i = 0; i < n; i++) worst = PetscMax(worst, PetscAbsReal(mu2[i] - mu[i]) / PetscSqrtReal(krk[i] / Menkf + 1e-300));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "enkf (%" PetscInt_FMT " members, %" PetscInt_FMT " obs): max |mean - Kalman mean| / MC std = %.2f (Kalman increment up to %.2f)\n", Menkf, obs.nobs, (double)worst, (double)incr));
      EXPECT(worst < 5.0, "EnKF mean differs from the Kalman mean by %.2f Monte-Carlo standard deviations", (double)worst);
      EXPECT(incr > 1.0, "the Kalman increment is too small (%g) for the EnKF test to mean anything", (double)incr);
    }
    PetscCall(DaisiObsSetDestroy(&obs));
    PetscCall(PetscFree(allb));
    PetscCall(DaisiFilterDestroy(&enkf));
    PetscCall(DaisiEnsembleDestroy(&big));
  }

  for (PetscInt k = 0; k < NF; k++) {
    PetscCall(DaisiFilterDestroy(&filt[k]));
    PetscCall(DaisiEnsembleDestroy(&ens[k]));
    PetscCall(PetscFree(all[k]));
  }
  PetscCall(PetscFree5(truth, mu, P, krk, tmp));
  PetscCall(PetscFree3(mu2, P2, tmp2));
  PetscCall(FinishTest("test_filter_linear"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
