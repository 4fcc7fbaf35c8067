/* Rank histogram: exact ranks, deterministic uniform tie-breaking, flatness for a
 * calibrated ensemble, a U shape for an under-dispersive one, and identical counts on
 * any number of ranks. */
#include "metricstest.h"

static const char help[] = "Tests DaisiRankHistogram.\n";

/* chi-square bounds with tail probability below 1e-6: flat histograms must stay under
 * them (a fixed seed makes the outcome deterministic; the bound makes it not fragile) */
#define CHI2_DOF9_P1EM6 45.0 /* P(chi2_9 > 45) = 9.2e-7 */
#define CHI2_DOF4_P1EM6 33.0 /* P(chi2_4 > 33) = 1.2e-6 */

static PetscErrorCode TestExactRanks(void)
{
  const PetscReal    ens[4] = {2, 0, 3, 1}; /* one point, M = 4, unsorted on purpose */
  const PetscReal    ys[3] = {1.5, -1, 5};
  const PetscInt     expect[3] = {2, 0, 4};
  const PetscInt64   gidx = 0;
  DaisiRankHistogram h;
  PetscInt64         counts[5];
  PetscInt           nbins;

  PetscFunctionBegin;
  PetscCall(DaisiRankHistogramCreate(PETSC_COMM_SELF, 4, &h));
  for (PetscInt t = 0; t < 3; t++) {
    PetscCall(DaisiRankHistogramReset(h));
    PetscCall(DaisiRankHistogramAccumulate(h, 1, ens, &ys[t], &gidx));
    PetscCall(DaisiRankHistogramGetCounts(h, &nbins, counts));
    EXPECT(nbins == 5, "nbins %" PetscInt_FMT ", expected 5", nbins);
    for (PetscInt k = 0; k < 5; k++) EXPECT(counts[k] == (k == expect[t]), "truth %g: bin %" PetscInt_FMT " has %" PetscInt64_FMT ", expected the rank %" PetscInt_FMT, (double)ys[t], k, counts[k], expect[t]);
  }
  PetscCall(DaisiRankHistogramDestroy(&h));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Ties: all members equal to the truth give a flat histogram over all M + 1 bins;
 * members {0, 1, 1, 2} with truth 1 spread evenly over ranks 1..3 only. */
static PetscErrorCode TestTies(void)
{
  const PetscInt     N = 20000, M = 4;
  DaisiRankHistogram h;
  PetscReal         *ens, *truth, chi2;
  PetscInt64        *gidx, counts[5];

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(M * N, &ens, N, &truth, N, &gidx));
  for (PetscInt i = 0; i < N; i++) {
    truth[i] = 1;
    gidx[i]  = i;
    for (PetscInt m = 0; m < M; m++) ens[m * N + i] = 1;
  }
  PetscCall(DaisiRankHistogramCreate(PETSC_COMM_SELF, M, &h));
  PetscCall(DaisiRankHistogramAccumulate(h, N, ens, truth, gidx));
  PetscCall(DaisiRankHistogramGetCounts(h, NULL, counts));
  PetscCall(DaisiRankHistogramChiSquare(M + 1, counts, &chi2));
  EXPECT(chi2 < CHI2_DOF4_P1EM6, "all tied: chi-square %g vs flat (counts %" PetscInt64_FMT " %" PetscInt64_FMT " %" PetscInt64_FMT " %" PetscInt64_FMT " %" PetscInt64_FMT ")", (double)chi2, counts[0], counts[1], counts[2], counts[3], counts[4]);

  PetscCall(DaisiRankHistogramReset(h));
  for (PetscInt i = 0; i < N; i++) {
    ens[0 * N + i] = 0;
    ens[1 * N + i] = 1;
    ens[2 * N + i] = 2;
    ens[3 * N + i] = 1;
  }
  PetscCall(DaisiRankHistogramAccumulate(h, N, ens, truth, gidx));
  PetscCall(DaisiRankHistogramGetCounts(h, NULL, counts));
  EXPECT(counts[0] == 0 && counts[4] == 0, "two ties: outer bins hold %" PetscInt64_FMT " and %" PetscInt64_FMT ", expected 0", counts[0], counts[4]);
  {
    const PetscInt64 c[3] = {counts[1], counts[2], counts[3]};
    PetscCall(DaisiRankHistogramChiSquare(3, c, &chi2));
    /* chi2 with 2 dof: P(> 28) = 8e-7 */
    EXPECT(chi2 < 28 && c[0] + c[1] + c[2] == N, "two ties: ranks 1..3 not even: %" PetscInt64_FMT " %" PetscInt64_FMT " %" PetscInt64_FMT, c[0], c[1], c[2]);
  }
  /* a repeated run gives the same counts (deterministic draws) */
  {
    DaisiRankHistogram h2;
    PetscInt64         again[5];
    PetscCall(DaisiRankHistogramCreate(PETSC_COMM_SELF, M, &h2));
    PetscCall(DaisiRankHistogramAccumulate(h2, N, ens, truth, gidx));
    PetscCall(DaisiRankHistogramGetCounts(h2, NULL, again));
    for (PetscInt k = 0; k < 5; k++) EXPECT(again[k] == counts[k], "repeated run: bin %" PetscInt_FMT " %" PetscInt64_FMT " vs %" PetscInt64_FMT, k, again[k], counts[k]);
    PetscCall(DaisiRankHistogramDestroy(&h2));
  }
  PetscCall(DaisiRankHistogramDestroy(&h));
  PetscCall(PetscFree3(ens, truth, gidx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Points 0..N-1 dealt to ranks in contiguous blocks; members and truth at point p drawn
 * from N(mu_p, s_p^2) (truth with spread factor `wide`), optionally quantised to 0.25 to
 * make ties. Accumulates ncalls calls into h over comm. */
static PetscErrorCode AccumulateEnsemble(MPI_Comm comm, DaisiRankHistogram h, PetscInt M, PetscInt N, PetscInt ncalls, PetscReal wide, PetscBool quantise)
{
  PetscMPIInt size, rank;
  PetscInt    p0, nloc;
  PetscReal  *ens, *truth;
  PetscInt64 *gidx;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  p0   = (PetscInt)((PetscInt64)N * rank / size);
  nloc = (PetscInt)((PetscInt64)N * (rank + 1) / size) - p0;
  PetscCall(PetscMalloc3(M * nloc, &ens, nloc, &truth, nloc, &gidx));
  for (PetscInt c = 0; c < ncalls; c++) {
    for (PetscInt i = 0; i < nloc; i++) {
      const uint64_t  p   = (uint64_t)(p0 + i);
      DaisiRng        r   = DaisiRngMake(21, DAISI_RNG_TEST, (uint64_t)c, 0, 0);
      const PetscReal mu  = 2 * DaisiRngNormal(&r, p), s = 0.5 + DaisiRngUniform(&r, p + (uint64_t)N);
      DaisiRng        rt  = DaisiRngMake(21, DAISI_RNG_TEST, (uint64_t)c, 0, 1);
      PetscReal       y   = mu + wide * s * DaisiRngNormal(&rt, p);
      truth[i]            = quantise ? 0.25 * round(4 * y) : y;
      gidx[i]             = (PetscInt64)p;
      for (PetscInt m = 0; m < M; m++) {
        DaisiRng  rm = DaisiRngMake(21, DAISI_RNG_TEST, (uint64_t)c, (uint64_t)m + 1, 2);
        PetscReal x  = mu + s * DaisiRngNormal(&rm, p);
        ens[m * nloc + i] = quantise ? 0.25 * round(4 * x) : x;
      }
    }
    PetscCall(DaisiRankHistogramAccumulate(h, nloc, ens, truth, gidx));
  }
  PetscCall(PetscFree3(ens, truth, gidx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestFlatAndLayout(void)
{
  const PetscInt     M = 9, N = 6000, ncalls = 5;
  DaisiRankHistogram h, ref;
  PetscInt64         counts[10], refcounts[10];
  PetscReal          chi2;

  PetscFunctionBegin;
  /* calibrated: flat */
  PetscCall(DaisiRankHistogramCreate(PETSC_COMM_WORLD, M, &h));
  PetscCall(DaisiRankHistogramSetFromOptions(h));
  PetscCall(AccumulateEnsemble(PETSC_COMM_WORLD, h, M, N, ncalls, 1.0, PETSC_FALSE));
  PetscCall(DaisiRankHistogramGetCounts(h, NULL, counts));
  PetscCall(DaisiRankHistogramChiSquare(M + 1, counts, &chi2));
  PetscCall(DaisiRankHistogramView(h, PETSC_VIEWER_STDOUT_WORLD));
  EXPECT(chi2 < CHI2_DOF9_P1EM6, "calibrated ensemble: chi-square %g not flat", (double)chi2);

  /* truth twice as spread as the members: U shape, far outside the bound */
  PetscCall(DaisiRankHistogramReset(h));
  PetscCall(AccumulateEnsemble(PETSC_COMM_WORLD, h, M, N, ncalls, 2.0, PETSC_FALSE));
  PetscCall(DaisiRankHistogramGetCounts(h, NULL, counts));
  PetscCall(DaisiRankHistogramChiSquare(M + 1, counts, &chi2));
  EXPECT(chi2 > 20 * CHI2_DOF9_P1EM6 && counts[0] > 2 * counts[M / 2] && counts[M] > 2 * counts[M / 2], "under-dispersive ensemble not detected: chi-square %g", (double)chi2);

  /* quantised (many ties): flat, and the same counts over all ranks as on one rank */
  PetscCall(DaisiRankHistogramReset(h));
  PetscCall(AccumulateEnsemble(PETSC_COMM_WORLD, h, M, N, ncalls, 1.0, PETSC_TRUE));
  PetscCall(DaisiRankHistogramGetCounts(h, NULL, counts));
  PetscCall(DaisiRankHistogramChiSquare(M + 1, counts, &chi2));
  EXPECT(chi2 < CHI2_DOF9_P1EM6, "quantised calibrated ensemble: chi-square %g not flat", (double)chi2);
  PetscCall(DaisiRankHistogramCreate(PETSC_COMM_SELF, M, &ref));
  PetscCall(AccumulateEnsemble(PETSC_COMM_SELF, ref, M, N, ncalls, 1.0, PETSC_TRUE));
  PetscCall(DaisiRankHistogramGetCounts(ref, NULL, refcounts));
  for (PetscInt k = 0; k <= M; k++) EXPECT(counts[k] == refcounts[k], "bin %" PetscInt_FMT ": %" PetscInt64_FMT " over all ranks, %" PetscInt64_FMT " on one rank", k, counts[k], refcounts[k]);
  PetscCall(DaisiRankHistogramDestroy(&ref));
  PetscCall(DaisiRankHistogramDestroy(&h));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* AccumulateGrid indexes points globally: a grid split in rows over the ranks gives the
 * same counts as the whole grid on one rank, ties included. */
static PetscErrorCode TestGridLayout(void)
{
  const PetscInt     M = 3;
  DaisiGrid          G = {2, 10, 6, 0, 10, 0, 0, 0}, g = G;
  PetscMPIInt        size, rank;
  PetscReal         *gens, *gtruth, *ens, *truth;
  PetscInt64         counts[4], refcounts[4];
  DaisiRankHistogram h, ref;
  const PetscInt     n = DaisiGridGlobalSize(&G);

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscMalloc2(M * n, &gens, n, &gtruth));
  for (PetscInt i = 0; i < n; i++) {
    DaisiRng r = DaisiRngMake(23, DAISI_RNG_TEST, 0, 0, 0);
    gtruth[i]  = round(DaisiRngNormal(&r, (uint64_t)i)); /* integers: frequent ties */
    for (PetscInt m = 0; m < M; m++) {
      DaisiRng rm     = DaisiRngMake(23, DAISI_RNG_TEST, 0, (uint64_t)m + 1, 0);
      gens[m * n + i] = round(DaisiRngNormal(&rm, (uint64_t)i));
    }
  }
  PetscCall(DaisiRankHistogramCreate(PETSC_COMM_SELF, M, &ref));
  PetscCall(DaisiRankHistogramAccumulateGrid(ref, &G, gens, gtruth));
  PetscCall(DaisiRankHistogramGetCounts(ref, NULL, refcounts));
  for (PetscInt mode = 0; mode < NSPLITS; mode++) {
    PetscInt nloc;
    RowSplit(mode, G.ny, size, rank, &g.y0, &g.nyl);
    nloc = DaisiGridLocalSize(&g);
    PetscCall(PetscMalloc2(M * nloc, &ens, nloc, &truth));
    ExtractSlab(&g, gtruth, truth);
    for (PetscInt m = 0; m < M; m++) ExtractSlab(&g, gens + m * n, ens + m * nloc);
    PetscCall(DaisiRankHistogramCreate(PETSC_COMM_WORLD, M, &h));
    PetscCall(DaisiRankHistogramAccumulateGrid(h, &g, ens, truth));
    PetscCall(DaisiRankHistogramGetCounts(h, NULL, counts));
    for (PetscInt k = 0; k <= M; k++) EXPECT(counts[k] == refcounts[k], "split %" PetscInt_FMT ", bin %" PetscInt_FMT ": %" PetscInt64_FMT " vs %" PetscInt64_FMT " on one rank", mode, k, counts[k], refcounts[k]);
    PetscCall(DaisiRankHistogramDestroy(&h));
    PetscCall(PetscFree2(ens, truth));
  }
  PetscCall(DaisiRankHistogramDestroy(&ref));
  PetscCall(PetscFree2(gens, gtruth));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(TestExactRanks());
  PetscCall(TestTies());
  PetscCall(TestFlatAndLayout());
  PetscCall(TestGridLayout());
  PetscCall(FinishTest("test_rankhist"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
