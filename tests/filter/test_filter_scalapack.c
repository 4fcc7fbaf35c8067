/* The distributed (ScaLAPACK) ensemble-space solver of etkf and enkf:
 *   - equals the serial LAPACK solver to round-off for every process grid with pr*pc <= ranks
 *     (1x1, 1x2, 2x1, 2x2, 1x3, 3x1, 1x4) and every ensemble grouping G dividing the ranks,
 *     with a block size (8) that splits M = 45 and the observations into uneven blocks, with
 *     more and fewer observations than members; the FilterScaLAPACK event proves the path ran;
 *   - auto picks it from -filter_scalapack_threshold members on more than one rank only;
 *   - M = 500, linear-Gaussian: the ETKF analysis mean and covariance equal the Kalman update
 *     of the prior ensemble's moments, and the EnKF mean is within 5 Monte-Carlo standard
 *     deviations of the Kalman mean;
 *   - bad -filter_scalapack_* values are refused naming the option. */
#include "daisitest.h"

static const char help[] = "Tests the ScaLAPACK ensemble-space solver of etkf and enkf against the serial one and the Kalman filter.\n";

/* number of FilterScaLAPACK events so far on this rank */
static PetscErrorCode ScaLAPACKCount(PetscInt *count)
{
  PetscLogEvent      ev;
  PetscEventPerfInfo info;

  PetscFunctionBegin;
  PetscCall(PetscLogEventGetId("FilterScaLAPACK", &ev));
  PetscCall(PetscLogEventGetPerfInfo(0, ev, &info));
  *count = info.count;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a filter of the given type with options set for this filter only (NULL: left unset) */
static PetscErrorCode MakeFilter(DaisiFilterType type, const char *solver, const char *grid, const char *threshold, const char *block, DaisiFilter *f)
{
  PetscFunctionBegin;
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, f));
  PetscCall(DaisiFilterSetType(*f, type));
  if (solver) PetscCall(PetscOptionsSetValue(NULL, "-filter_ensspace_solver", solver));
  if (grid) PetscCall(PetscOptionsSetValue(NULL, "-filter_scalapack_grid", grid));
  if (threshold) PetscCall(PetscOptionsSetValue(NULL, "-filter_scalapack_threshold", threshold));
  PetscCall(PetscOptionsSetValue(NULL, "-filter_scalapack_block", block));
  PetscCall(DaisiFilterSetFromOptions(*f));
  PetscCall(PetscOptionsClearValue(NULL, "-filter_ensspace_solver"));
  PetscCall(PetscOptionsClearValue(NULL, "-filter_scalapack_grid"));
  PetscCall(PetscOptionsClearValue(NULL, "-filter_scalapack_threshold"));
  PetscCall(PetscOptionsClearValue(NULL, "-filter_scalapack_block"));
  PetscCall(DaisiFilterSetSeed(*f, 17));
  PetscCall(DaisiFilterSetUp(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* analysis of the prior `all` with filter f on ensemble e; the result on rank 0 in out */
static PetscErrorCode Analyse(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs, const PetscReal all[], PetscReal out[])
{
  PetscFunctionBegin;
  PetscCall(DaisiEnsembleSetGlobal(e, all));
  PetscCall(DaisiFilterAnalysis(f, e, obs));
  PetscCall(DaisiEnsembleGatherGlobal(e, out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  const PetscInt M = 45, Mbig = 500;
  PetscMPIInt    rank, size;
  const PetscInt grids[][2] = {
    {1, 1},
    {1, 2},
    {2, 1},
    {2, 2},
    {1, 3},
    {3, 1},
    {1, 4}
  };
  const DaisiFilterType types[2] = {DAISI_FILTER_ETKF, DAISI_FILTER_ENKF};
  const PetscReal       fractions[2] = {0.2, 0.9}; /* fewer / more observations than members */
  DaisiEnsemble         e;
  DaisiFilter           f;
  DaisiGrid             g;
  PetscReal            *truth, *prior, *ref, *out;
  PetscInt              n, before, after, nrun = 0;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(PetscLogDefaultBegin());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, 1, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  n = DaisiGridGlobalSize(&g);
  PetscCall(PetscMalloc4(n, &truth, (size_t)Mbig * n, &prior, (size_t)Mbig * n, &ref, (size_t)Mbig * n, &out));
  SyntheticTruth(&g, 3, truth);
  SyntheticEnsemble(&g, M, 4, truth, prior);

  /* distributed == serial, every grid, every grouping */
  for (PetscInt s = 0; s < 2; s++) {
    DaisiObsSet obs;
    PetscCall(SyntheticObs(&g, fractions[s], DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 40 + s, 1, &obs));
    for (PetscInt t = 0; t < 2; t++) {
      PetscReal scale = 0, incr = 0;
      PetscCall(ScaLAPACKCount(&before));
      PetscCall(MakeFilter(types[t], "lapack", NULL, NULL, "8", &f));
      PetscCall(Analyse(f, e, &obs, prior, ref));
      PetscCall(DaisiFilterDestroy(&f));
      PetscCall(ScaLAPACKCount(&after));
      EXPECT(after == before, "%s: -filter_ensspace_solver lapack ran the ScaLAPACK solver", types[t]);
      if (!rank) {
        scale = MaxAbs(M * n, ref);
        incr  = MaxAbsDiff(M * n, ref, prior);
        EXPECT(incr > 0.1, "%s, %" PetscInt_FMT " obs: the analysis hardly changes the prior (%g): the comparison would mean nothing", types[t], obs.nobs, (double)incr);
      }
      for (PetscInt G = 1; G <= size; G++) {
        DaisiEnsemble eg;
        if (size % G) continue;
        PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, G, &eg));
        /* block 8: uneven blocks over every rank; block 64 (G = 1 only, to stay quick): M
         * smaller than one block, where ScaLAPACK's work-space query falls short */
        for (size_t k = 0; k < sizeof(grids) / sizeof(grids[0]); k++)
          for (PetscInt bl = 0; bl < (G == 1 ? 2 : 1); bl++) {
            const char *block = bl ? "64" : "8";
            char        gs[32];
            if (grids[k][0] * grids[k][1] > size) continue;
            PetscCall(PetscSNPrintf(gs, sizeof(gs), "%" PetscInt_FMT ",%" PetscInt_FMT, grids[k][0], grids[k][1]));
            PetscCall(MakeFilter(types[t], "scalapack", gs, NULL, block, &f));
            PetscCall(ScaLAPACKCount(&before));
            PetscCall(Analyse(f, eg, &obs, prior, out));
            PetscCall(ScaLAPACKCount(&after));
            PetscCall(DaisiFilterDestroy(&f));
            EXPECT(after == before + 1, "%s, grid %s: the ScaLAPACK solver did not run", types[t], gs);
            if (!rank) {
              const PetscReal dx = MaxAbsDiff(M * n, ref, out);
              EXPECT(dx <= 1e-11 * scale, "%s, %" PetscInt_FMT " obs, G = %" PetscInt_FMT ", grid %s, block %s: ScaLAPACK differs from LAPACK by %g (scale %g)", types[t], obs.nobs, G, gs, block, (double)dx, (double)scale);
              PetscCall(PetscPrintf(PETSC_COMM_SELF, "  %s, %3" PetscInt_FMT " obs, G = %" PetscInt_FMT ", grid %s, block %2s: max |scalapack - lapack| %.1e (increment %.1e)\n", types[t], obs.nobs, G, gs, block, (double)dx, (double)incr));
            }
            nrun++;
          }
        PetscCall(DaisiEnsembleDestroy(&eg));
      }
    }
    PetscCall(DaisiObsSetDestroy(&obs));
  }
  EXPECT(nrun > 0, "no grid was tried");

  /* auto: ScaLAPACK from the threshold, on more than one rank only */
  {
    DaisiObsSet obs;
    PetscCall(SyntheticObs(&g, 0.5, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 50, 1, &obs));
    for (PetscInt k = 0; k < 2; k++) {
      const PetscBool expect = (PetscBool)(k == 0 && size > 1);
      PetscCall(MakeFilter(DAISI_FILTER_ETKF, "auto", NULL, k == 0 ? "45" : "46", "8", &f));
      PetscCall(ScaLAPACKCount(&before));
      PetscCall(Analyse(f, e, &obs, prior, out));
      PetscCall(ScaLAPACKCount(&after));
      PetscCall(DaisiFilterDestroy(&f));
      EXPECT((after == before + 1) == expect, "auto with threshold %d, M = %" PetscInt_FMT ", %d rank(s): ScaLAPACK %s", k == 0 ? 45 : 46, M, (int)size, expect ? "not used" : "used");
    }
    PetscCall(DaisiObsSetDestroy(&obs));
  }
  PetscCall(DaisiEnsembleDestroy(&e));

  /* M = 500, linear-Gaussian: ETKF (ScaLAPACK) = Kalman, EnKF (ScaLAPACK) within Monte-Carlo error */
  {
    DaisiObsSet obs;
    PetscReal  *mu, *P, *mu2, *P2, *krk;
    PetscCall(PetscMalloc5(n, &mu, n * n, &P, n, &mu2, n * n, &P2, n, &krk));
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, Mbig, 1, &e));
    SyntheticEnsemble(&g, Mbig, 5, truth, prior);
    PetscCall(SyntheticObs(&g, 0.3, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 60, 1, &obs));
    for (PetscInt o = 0; o < obs.nobs; o++) obs.value[o] += 3.0; /* a biased prior: large increments */
    if (!rank) {
      MeanCov(Mbig, n, prior, mu, P);
      PetscCall(PetscArraycpy(mu2, mu, n));
      PetscCall(KalmanUpdate(n, &g, &obs, mu, P, krk));
    }
    for (PetscInt t = 0; t < 2; t++) {
      PetscCall(MakeFilter(types[t], "scalapack", NULL, NULL, "32", &f));
      PetscCall(ScaLAPACKCount(&before));
      PetscCall(Analyse(f, e, &obs, prior, out));
      PetscCall(ScaLAPACKCount(&after));
      PetscCall(DaisiFilterDestroy(&f));
      EXPECT(after == before + 1, "M = %" PetscInt_FMT ", %s: the ScaLAPACK solver did not run", Mbig, types[t]);
      if (!rank) {
        PetscReal *mua = ref, *Pa = ref + n, dmu = 0, dP, incr = 0, worst = 0;
        MeanCov(Mbig, n, out, mua, t == 0 ? Pa : NULL);
        for (PetscInt i = 0; i < n; i++) incr = PetscMax(incr, PetscAbsReal(mu[i] - mu2[i]));
        EXPECT(incr > 1.0, "the Kalman increment is too small (%g) for the test to mean anything", (double)incr);
        if (t == 0) {
          dmu = MaxAbsDiff(n, mu, mua);
          dP  = MaxAbsDiff(n * n, P, Pa);
          PetscCall(PetscPrintf(PETSC_COMM_SELF, "etkf, M = %" PetscInt_FMT ", %" PetscInt_FMT " obs (ScaLAPACK) vs Kalman: max |mean diff| %.1e (increment %.1f), max |cov diff| %.1e (scale %.1e)\n", Mbig, obs.nobs, (double)dmu, (double)incr, (double)dP, (double)MaxAbs(n * n, P)));
          EXPECT(dmu <= 1e-10 * MaxAbs(n, mu), "M = %" PetscInt_FMT " etkf: analysis mean differs from the Kalman filter by %g", Mbig, (double)dmu);
          EXPECT(dP <= 1e-10 * MaxAbs(n * n, P), "M = %" PetscInt_FMT " etkf: analysis covariance differs from the Kalman filter by %g", Mbig, (double)dP);
        } else {
          for (PetscInt i = 0; i < n; i++) worst = PetscMax(worst, PetscAbsReal(mua[i] - mu[i]) / PetscSqrtReal(krk[i] / Mbig + 1e-300));
          PetscCall(PetscPrintf(PETSC_COMM_SELF, "enkf, M = %" PetscInt_FMT " (ScaLAPACK): max |mean - Kalman mean| / MC std = %.2f (Kalman increment up to %.1f)\n", Mbig, (double)worst, (double)incr));
          EXPECT(worst < 5.0, "M = %" PetscInt_FMT " enkf: mean differs from the Kalman mean by %.2f Monte-Carlo standard deviations", Mbig, (double)worst);
        }
      }
    }
    PetscCall(DaisiObsSetDestroy(&obs));
    PetscCall(DaisiEnsembleDestroy(&e));
    PetscCall(PetscFree5(mu, P, mu2, P2, krk));
  }

  /* bad values, named in the error */
  {
    const char *opts[][2] = {
      {"-filter_scalapack_block",     "0"   },
      {"-filter_scalapack_threshold", "-1"  },
      {"-filter_scalapack_grid",      "3,3" },
      {"-filter_scalapack_grid",      "0,1" },
      {"-filter_ensspace_solver",     "magma"},
    };
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
      PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
      PetscCall(DaisiFilterSetType(f, DAISI_FILTER_ETKF));
      PetscCall(PetscOptionsSetValue(NULL, opts[k][0], opts[k][1]));
      EXPECT_ERROR_MSG(DaisiFilterSetFromOptions(f), opts[k][0], NULL);
      PetscCall(PetscOptionsClearValue(NULL, opts[k][0]));
      PetscCall(DaisiFilterDestroy(&f));
    }
  }

  PetscCall(PetscFree4(truth, prior, ref, out));
  PetscCall(FinishTest("test_filter_scalapack"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
