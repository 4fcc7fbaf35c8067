/* Bad input gives clear errors (error codes, no abort): M < 2, G not dividing the rank count,
 * G > M, sigma <= 0 (initial perturbations and observations), unknown -filter_type, bad
 * LETKF parameters, observations outside the grid. */
#include "filtertest.h"

static const char help[] = "Tests that bad ensemble and filter input is rejected with error codes.\n";

#define EXPECT_ERROR(call, code, what) \
  do { \
    PetscErrorCode ierr_ = (call); \
    EXPECT(ierr_ == (code), "%s: expected error %d, got %d", what, (int)(code), (int)ierr_); \
  } while (0)

int main(int argc, char **argv)
{
  PetscMPIInt   size;
  DaisiEnsemble e;
  DaisiFilter   f;
  DaisiGrid     g;
  DaisiObsSet   obs;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));

  /* ensemble */
  PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &e));
  EXPECT_ERROR(DaisiEnsembleSetSize(e, 1), PETSC_ERR_ARG_OUTOFRANGE, "M = 1");
  EXPECT_ERROR(DaisiEnsembleSetSize(e, 0), PETSC_ERR_ARG_OUTOFRANGE, "M = 0");
  EXPECT_ERROR(DaisiEnsembleSetInitSigma(e, 0.0), PETSC_ERR_ARG_OUTOFRANGE, "initial sigma = 0");
  EXPECT_ERROR(DaisiEnsembleSetInitSigma(e, -3.0), PETSC_ERR_ARG_OUTOFRANGE, "initial sigma < 0");
  EXPECT_ERROR(DaisiEnsembleSetGroups(e, 0), PETSC_ERR_ARG_OUTOFRANGE, "G = 0");
  PetscCall(DaisiEnsembleSetSize(e, 20));
  PetscCall(DaisiEnsembleSetGroups(e, size + 1)); /* never divides the rank count */
  EXPECT_ERROR(DaisiEnsembleSetUp(e), PETSC_ERR_ARG_INCOMP, "G not dividing the ranks");
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &e));
  PetscCall(DaisiEnsembleSetSize(e, 2));
  if (size >= 4) {
    PetscCall(DaisiEnsembleSetGroups(e, 4));
    EXPECT_ERROR(DaisiEnsembleSetUp(e), PETSC_ERR_ARG_INCOMP, "G > M");
  }
  PetscCall(DaisiEnsembleDestroy(&e));
  /* the same through the options database */
  PetscCall(PetscOptionsSetValue(NULL, "-ens_size", "1"));
  PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &e));
  EXPECT_ERROR(DaisiEnsembleSetFromOptions(e), PETSC_ERR_ARG_OUTOFRANGE, "-ens_size 1");
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(PetscOptionsSetValue(NULL, "-ens_size", "5"));
  PetscCall(PetscOptionsSetValue(NULL, "-ens_init_sigma", "-1"));
  PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &e));
  EXPECT_ERROR(DaisiEnsembleSetFromOptions(e), PETSC_ERR_ARG_OUTOFRANGE, "-ens_init_sigma -1");
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(PetscOptionsClearValue(NULL, "-ens_init_sigma"));
  PetscCall(PetscOptionsClearValue(NULL, "-ens_size"));

  /* filter parameters */
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  EXPECT_ERROR(DaisiFilterSetType(f, "kalman3000"), PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown filter type");
  EXPECT_ERROR(DaisiFilterLETKFSetCutoff(f, 0.0), PETSC_ERR_ARG_OUTOFRANGE, "cutoff 0");
  EXPECT_ERROR(DaisiFilterLETKFSetRTPS(f, 1.5), PETSC_ERR_ARG_OUTOFRANGE, "RTPS 1.5");
  EXPECT_ERROR(DaisiFilterLETKFSetRTPP(f, -0.1), PETSC_ERR_ARG_OUTOFRANGE, "RTPP -0.1");
  EXPECT_ERROR(DaisiFilterSetInflation(f, 0.0), PETSC_ERR_ARG_OUTOFRANGE, "inflation 0");
  PetscCall(PetscOptionsSetValue(NULL, "-filter_type", "bogus"));
  EXPECT_ERROR(DaisiFilterSetFromOptions(f), PETSC_ERR_ARG_UNKNOWN_TYPE, "-filter_type bogus");
  PetscCall(PetscOptionsSetValue(NULL, "-filter_type", "letkf"));
  PetscCall(PetscOptionsSetValue(NULL, "-letkf_cutoff", "-5"));
  EXPECT_ERROR(DaisiFilterSetFromOptions(f), PETSC_ERR_ARG_OUTOFRANGE, "-letkf_cutoff -5");
  PetscCall(PetscOptionsClearValue(NULL, "-letkf_cutoff"));
  PetscCall(PetscOptionsClearValue(NULL, "-filter_type"));
  PetscCall(DaisiFilterDestroy(&f));

  /* observations with sigma <= 0, outside the grid, non-finite */
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, 4, 1, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_LETKF));
  PetscCall(DaisiFilterSetUp(f));
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, 2, DAISI_OBS_OPERATOR_LINEAR, &obs));
  for (PetscInt o = 0; o < 2; o++) {
    obs.lev[o]   = 0;
    obs.iy[o]    = o;
    obs.ix[o]    = 1;
    obs.value[o] = 1.0;
    obs.sigma[o] = 1.0;
  }
  PetscCall(DaisiFilterAnalysis(f, e, &obs)); /* valid */
  obs.sigma[1] = 0.0;
  EXPECT_ERROR(DaisiFilterAnalysis(f, e, &obs), PETSC_ERR_ARG_OUTOFRANGE, "observation sigma = 0");
  obs.sigma[1] = -1.0;
  EXPECT_ERROR(DaisiFilterAnalysis(f, e, &obs), PETSC_ERR_ARG_OUTOFRANGE, "observation sigma < 0");
  obs.sigma[1] = 1.0;
  obs.ix[1]    = g.nx;
  EXPECT_ERROR(DaisiFilterAnalysis(f, e, &obs), PETSC_ERR_ARG_OUTOFRANGE, "observation outside the grid");
  obs.ix[1]    = 0;
  obs.lev[1]   = g.nlev;
  EXPECT_ERROR(DaisiFilterAnalysis(f, e, &obs), PETSC_ERR_ARG_OUTOFRANGE, "observation on a missing level");
  obs.lev[1]   = 0;
  obs.value[1] = (PetscReal)INFINITY;
  EXPECT_ERROR(DaisiFilterAnalysis(f, e, &obs), PETSC_ERR_ARG_OUTOFRANGE, "infinite observation");
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiEnsembleDestroy(&e));

  PetscCall(PetscPopErrorHandler());
  PetscCall(FinishTest("test_filter_badinput"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
