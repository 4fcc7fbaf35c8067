/* Scores against values worked out by hand, and clear errors for misuse. */
#include "metricstest.h"

static const char help[] = "Tests RMSE, spread, spread-skill ratio, CRPS and innovation statistics against hand computation.\n";

int main(int argc, char **argv)
{
  /* M = 3 members, 2 points, member-major: ens[m * 2 + i]
   *   point 0: members 1, 2, 6, truth 2: mean 3, error 1, unbiased variance (4+1+9)/2 = 7
   *            mean |x - y| = (1+0+4)/3 = 5/3, sum_ij |x_i - x_j| = 2 (1+5+4) = 20
   *            CRPS = 5/3 - 20/18 = 5/9, fair CRPS = 5/3 - 20/12 = 0
   *   point 1: members 0, 3, 0, truth 4: mean 1, error -3, variance (1+4+1)/2 = 3
   *            mean |x - y| = (4+1+4)/3 = 3, sum_ij |x_i - x_j| = 2 (3+3) = 12
   *            CRPS = 3 - 12/18 = 7/3, fair CRPS = 3 - 12/12 = 2
   * RMSE = sqrt((1+9)/2) = sqrt 5, spread = sqrt((7+3)/2) = sqrt 5,
   * spread-skill = sqrt(4/3), CRPS = (5/9 + 7/3)/2 = 13/9, fair CRPS = 1. */
  const PetscReal     ens[6] = {1, 0, 2, 3, 6, 0}, truth[2] = {2, 4};
  const PetscReal     hxmean[4] = {1, 2, 3, 4}, y[4] = {2, 2, 5, 3}; /* d = 1, 0, 2, -1 */
  const PetscReal     unsorted[3] = {1, 3, 2};
  PetscReal           rmse, spread, ratio, crps, fair, mean[2], imean, istd;
  DaisiEnsembleScores s;
  PetscErrorCode      ierr;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(DaisiMetricsEnsembleMean(3, 2, ens, mean));
  EXPECT(mean[0] == 3 && mean[1] == 1, "ensemble mean %g %g, expected 3 1", (double)mean[0], (double)mean[1]);
  PetscCall(DaisiMetricsRMSE(PETSC_COMM_SELF, 3, 2, ens, truth, &rmse));
  EXPECT_CLOSE(rmse, PetscSqrtReal(5.0), 1e-15, 1.0, "RMSE");
  PetscCall(DaisiMetricsSpread(PETSC_COMM_SELF, 3, 2, ens, &spread));
  EXPECT_CLOSE(spread, PetscSqrtReal(5.0), 1e-15, 1.0, "spread");
  PetscCall(DaisiMetricsSpreadSkillRatio(3, spread, rmse, &ratio));
  EXPECT_CLOSE(ratio, PetscSqrtReal(4.0 / 3.0), 1e-15, 1.0, "spread-skill ratio");
  PetscCall(DaisiMetricsCRPS(PETSC_COMM_SELF, 3, 2, ens, truth, &crps, &fair));
  EXPECT_CLOSE(crps, 13.0 / 9.0, 1e-15, 1.0, "CRPS");
  EXPECT_CLOSE(fair, 1.0, 1e-15, 1.0, "fair CRPS");
  PetscCall(DaisiMetricsScores(PETSC_COMM_SELF, 3, 2, ens, truth, &s));
  EXPECT(s.npoints == 2, "scores over %" PetscInt64_FMT " points, expected 2", s.npoints);
  EXPECT_CLOSE(s.rmse, PetscSqrtReal(5.0), 1e-15, 1.0, "scores: RMSE");
  EXPECT_CLOSE(s.spread, PetscSqrtReal(5.0), 1e-15, 1.0, "scores: spread");
  EXPECT_CLOSE(s.ssr, PetscSqrtReal(4.0 / 3.0), 1e-15, 1.0, "scores: spread-skill ratio");
  EXPECT_CLOSE(s.crps, 13.0 / 9.0, 1e-15, 1.0, "scores: CRPS");
  EXPECT_CLOSE(s.crps_fair, 1.0, 1e-15, 1.0, "scores: fair CRPS");
  PetscCall(DaisiEnsembleScoresView(&s, PETSC_VIEWER_STDOUT_SELF));

  /* a shift of everything by 1000 K changes nothing (no cancellation in the pair sum) */
  {
    PetscReal ens2[6], truth2[2];
    for (PetscInt k = 0; k < 6; k++) ens2[k] = ens[k] + 1000;
    for (PetscInt k = 0; k < 2; k++) truth2[k] = truth[k] + 1000;
    PetscCall(DaisiMetricsScores(PETSC_COMM_SELF, 3, 2, ens2, truth2, &s));
    EXPECT_CLOSE(s.crps, 13.0 / 9.0, 1e-12, 1.0, "shifted CRPS");
    EXPECT_CLOSE(s.crps_fair, 1.0, 1e-12, 1.0, "shifted fair CRPS");
    EXPECT_CLOSE(s.spread, PetscSqrtReal(5.0), 1e-12, 1.0, "shifted spread");
  }

  /* innovations d = 1, 0, 2, -1: mean 1/2, std sqrt((1/4 + 1/4 + 9/4 + 9/4)/3) = sqrt(5/3) */
  PetscCall(DaisiMetricsInnovation(PETSC_COMM_SELF, 4, hxmean, y, &imean, &istd));
  EXPECT_CLOSE(imean, 0.5, 1e-15, 1.0, "innovation mean");
  EXPECT_CLOSE(istd, PetscSqrtReal(5.0 / 3.0), 1e-15, 1.0, "innovation std");

  /* single-point CRPS from sorted members: members 0, 0, 3 and truth 4 as above */
  {
    const PetscReal xs[3] = {0, 0, 3};
    PetscCall(DaisiMetricsCRPSSorted(3, xs, 4.0, &crps, &fair));
    EXPECT_CLOSE(crps, 7.0 / 3.0, 1e-15, 1.0, "sorted CRPS");
    EXPECT_CLOSE(fair, 2.0, 1e-15, 1.0, "sorted fair CRPS");
    /* M = 1: the CRPS is the absolute error */
    PetscCall(DaisiMetricsCRPSSorted(1, xs + 2, 4.5, &crps, NULL));
    EXPECT_CLOSE(crps, 1.5, 1e-15, 1.0, "CRPS of one member");
  }

  /* misuse comes back as error codes */
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiMetricsCRPSSorted(3, unsorted, 0.0, &crps, &fair);
  EXPECT(ierr == PETSC_ERR_ARG_WRONG, "unsorted members returned %d, expected PETSC_ERR_ARG_WRONG", (int)ierr);
  ierr = DaisiMetricsSpread(PETSC_COMM_SELF, 1, 2, ens, &spread);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "spread of one member returned %d, expected PETSC_ERR_ARG_OUTOFRANGE", (int)ierr);
  ierr = DaisiMetricsCRPSSorted(1, unsorted, 0.0, &crps, &fair);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "fair CRPS of one member returned %d, expected PETSC_ERR_ARG_OUTOFRANGE", (int)ierr);
  ierr = DaisiMetricsSpreadSkillRatio(3, 1.0, 0.0, &ratio);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "spread-skill with RMSE 0 returned %d, expected PETSC_ERR_ARG_OUTOFRANGE", (int)ierr);
  ierr = DaisiMetricsRMSE(PETSC_COMM_SELF, 3, 0, NULL, NULL, &rmse);
  EXPECT(ierr == PETSC_ERR_ARG_SIZ, "RMSE of no points returned %d, expected PETSC_ERR_ARG_SIZ", (int)ierr);
  ierr = DaisiMetricsInnovation(PETSC_COMM_SELF, 1, hxmean, y, &imean, &istd);
  EXPECT(ierr == PETSC_ERR_ARG_SIZ, "innovation std of one observation returned %d, expected PETSC_ERR_ARG_SIZ", (int)ierr);
  PetscCall(PetscPopErrorHandler());

  PetscCall(FinishTest("test_scores"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
