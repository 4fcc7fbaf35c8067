/* Scores of an ensemble on a grid split in rows over the ranks (three different splits,
 * some ranks empty) agree with the whole grid on one rank, to rounding of the sums. */
#include "metricstest.h"

static const char help[] = "Tests that ensemble scores do not depend on how rows are spread over ranks.\n";

int main(int argc, char **argv)
{
  const PetscInt      M = 7;
  DaisiGrid           G = {2, 30, 20, 0, 30, 0, 0, 0}, g = G;
  const PetscInt      n = DaisiGridGlobalSize(&G);
  PetscMPIInt         size, rank;
  PetscReal          *gens, *gtruth, *gmean, *ens, *truth, *mean, rmse, spread, crps, fair, imean, istd, rimean, ristd;
  DaisiEnsembleScores ref, s;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  /* truth: a smooth pattern plus noise, in K around 280; members: truth + bias + noise */
  PetscCall(PetscMalloc3(M * n, &gens, n, &gtruth, n, &gmean));
  for (PetscInt i = 0; i < n; i++) {
    DaisiRng r = DaisiRngMake(41, DAISI_RNG_TEST, 0, 0, 0);
    gtruth[i]  = 280 + 5 * PetscSinReal(0.3 * i) + DaisiRngNormal(&r, (uint64_t)i);
    for (PetscInt m = 0; m < M; m++) {
      DaisiRng rm     = DaisiRngMake(41, DAISI_RNG_TEST, 0, (uint64_t)m + 1, 0);
      gens[m * n + i] = gtruth[i] + 0.3 + 1.5 * DaisiRngNormal(&rm, (uint64_t)i);
    }
  }
  PetscCall(DaisiMetricsScores(PETSC_COMM_SELF, M, n, gens, gtruth, &ref));
  PetscCall(DaisiMetricsEnsembleMean(M, n, gens, gmean));
  PetscCall(DaisiMetricsInnovation(PETSC_COMM_SELF, n, gmean, gtruth, &rimean, &ristd));
  /* sanity of the reference itself: errors are about N(0.3, 1.5^2/7), spread about 1.5 */
  EXPECT(PetscAbsReal(ref.spread - 1.5) < 0.1 && PetscAbsReal(ref.rmse - PetscSqrtReal(0.09 + 2.25 / M)) < 0.05, "reference scores off: RMSE %g, spread %g", (double)ref.rmse, (double)ref.spread);
  EXPECT(PetscAbsReal(rimean + 0.3) < 0.05, "innovation mean %g, expected about -0.3", (double)rimean);

  for (PetscInt mode = 0; mode < NSPLITS; mode++) {
    PetscInt nloc;
    RowSplit(mode, G.ny, size, rank, &g.y0, &g.nyl);
    nloc = DaisiGridLocalSize(&g);
    PetscCall(PetscMalloc3(M * nloc, &ens, nloc, &truth, nloc, &mean));
    ExtractSlab(&g, gtruth, truth);
    for (PetscInt m = 0; m < M; m++) ExtractSlab(&g, gens + m * n, ens + m * nloc);
    PetscCall(DaisiMetricsScores(PETSC_COMM_WORLD, M, nloc, ens, truth, &s));
    EXPECT(s.npoints == n, "split %" PetscInt_FMT ": %" PetscInt64_FMT " points, expected %" PetscInt_FMT, mode, s.npoints, n);
    EXPECT_CLOSE(s.rmse, ref.rmse, 1e-13, ref.rmse, "RMSE over ranks vs one rank");
    EXPECT_CLOSE(s.spread, ref.spread, 1e-13, ref.spread, "spread over ranks vs one rank");
    EXPECT_CLOSE(s.ssr, ref.ssr, 1e-13, ref.ssr, "spread-skill over ranks vs one rank");
    EXPECT_CLOSE(s.crps, ref.crps, 1e-13, ref.crps, "CRPS over ranks vs one rank");
    EXPECT_CLOSE(s.crps_fair, ref.crps_fair, 1e-13, ref.crps_fair, "fair CRPS over ranks vs one rank");
    /* the single-metric entry points agree with the combined one */
    PetscCall(DaisiMetricsRMSE(PETSC_COMM_WORLD, M, nloc, ens, truth, &rmse));
    PetscCall(DaisiMetricsSpread(PETSC_COMM_WORLD, M, nloc, ens, &spread));
    PetscCall(DaisiMetricsCRPS(PETSC_COMM_WORLD, M, nloc, ens, truth, &crps, &fair));
    EXPECT(rmse == s.rmse && spread == s.spread && crps == s.crps && fair == s.crps_fair, "split %" PetscInt_FMT ": single metrics differ from DaisiMetricsScores", mode);
    /* innovations with the observations held where their points are */
    PetscCall(DaisiMetricsEnsembleMean(M, nloc, ens, mean));
    PetscCall(DaisiMetricsInnovation(PETSC_COMM_WORLD, nloc, mean, truth, &imean, &istd));
    EXPECT_CLOSE(imean, rimean, 1e-12, PetscAbsReal(rimean), "innovation mean over ranks vs one rank");
    EXPECT_CLOSE(istd, ristd, 1e-12, ristd, "innovation std over ranks vs one rank");
    PetscCall(PetscFree3(ens, truth, mean));
  }
  PetscCall(PetscFree3(gens, gtruth, gmean));
  PetscCall(FinishTest("test_metrics_layout"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
