/* Rank histogram of the truth within the ensemble, accumulated over many calls. */
#include "metricsimpl.h"
#include <daisi/rng.h>

struct _p_DaisiRankHistogram {
  MPI_Comm    comm;
  char       *prefix;
  PetscInt    M;      /* ensemble size: M + 1 bins */
  PetscInt64  seed;   /* key of the tie-breaking draws */
  PetscInt64  ncalls; /* Accumulate calls so far: the cycle of the tie-breaking counter */
  PetscInt64 *counts; /* this rank's counts, M + 1 */
};

PetscErrorCode DaisiRankHistogramCreate(MPI_Comm comm, PetscInt M, DaisiRankHistogram *h)
{
  PetscFunctionBegin;
  PetscCheck(M >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "rank histogram needs an ensemble of M >= 1 members, got %" PetscInt_FMT, M);
  PetscCall(DaisiMetricsRegisterEvents());
  PetscCall(PetscNew(h));
  (*h)->comm = comm;
  (*h)->M    = M;
  PetscCall(PetscCalloc1(M + 1, &(*h)->counts));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramSetOptionsPrefix(DaisiRankHistogram h, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(h->prefix));
  PetscCall(PetscStrallocpy(prefix, &h->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramSetSeed(DaisiRankHistogram h, PetscInt64 seed)
{
  PetscFunctionBegin;
  PetscCheck(seed >= 0, h->comm, PETSC_ERR_ARG_OUTOFRANGE, "rank histogram seed (option -%srank_histogram_seed) must be >= 0, got %" PetscInt64_FMT, h->prefix ? h->prefix : "", seed);
  h->seed = seed;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramSetFromOptions(DaisiRankHistogram h)
{
  PetscInt  seed = (PetscInt)h->seed;
  PetscBool set;

  PetscFunctionBegin;
  PetscOptionsBegin(h->comm, h->prefix, "Rank histogram options", "DaisiRankHistogram");
  PetscCall(PetscOptionsInt("-rank_histogram_seed", "Seed of the deterministic tie-breaking draws", "DaisiRankHistogramSetSeed", seed, &seed, &set));
  PetscOptionsEnd();
  if (set) PetscCall(DaisiRankHistogramSetSeed(h, (PetscInt64)seed));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* rank of y among x_0..x_{M-1}: #less, plus a uniform draw in 0..#equal for ties */
static inline PetscInt RankOfTruth(PetscInt M, PetscInt nloc, const PetscReal ens[], PetscInt i, PetscReal y, const DaisiRng *rng, uint64_t gidx)
{
  PetscInt nless = 0, nequal = 0;
  for (PetscInt m = 0; m < M; m++) {
    const PetscReal x = ens[m * nloc + i];
    nless += x < y;
    nequal += x == y;
  }
  if (nequal) {
    PetscInt r = (PetscInt)(DaisiRngUniform(rng, gidx) * (nequal + 1));
    nless += PetscMin(r, nequal); /* u < 1, the min only guards rounding */
  }
  return nless;
}

PetscErrorCode DaisiRankHistogramAccumulate(DaisiRankHistogram h, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], const PetscInt64 gidx[])
{
  DaisiRng rng;

  PetscFunctionBegin;
  PetscCheck(nloc >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "number of local points must be >= 0, got %" PetscInt_FMT, nloc);
  PetscCheck(!nloc || gidx, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "rank histogram needs the global index of every point for tie-breaking (gidx is NULL)");
  PetscCall(PetscLogEventBegin(DAISI_MetricsRankHistogram, 0, 0, 0, 0));
  rng = DaisiRngMake((uint64_t)h->seed, DAISI_RNG_RANK_HISTOGRAM_TIES, (uint64_t)h->ncalls, 0, 0);
  for (PetscInt i = 0; i < nloc; i++) h->counts[RankOfTruth(h->M, nloc, ens, i, truth[i], &rng, (uint64_t)gidx[i])]++;
  h->ncalls++;
  PetscCall(PetscLogFlops(2.0 * h->M * nloc));
  PetscCall(PetscLogEventEnd(DAISI_MetricsRankHistogram, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramAccumulateGrid(DaisiRankHistogram h, const DaisiGrid *g, const PetscReal ens[], const PetscReal truth[])
{
  const PetscInt nloc = DaisiGridLocalSize(g);
  PetscInt64    *gidx;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(nloc, &gidx));
  for (PetscInt lev = 0; lev < g->nlev; lev++)
    for (PetscInt r = 0; r < g->nyl; r++)
      for (PetscInt xi = 0; xi < g->nx; xi++) gidx[(lev * g->nyl + r) * g->nx + xi] = ((PetscInt64)lev * g->ny + g->y0 + r) * g->nx + xi;
  PetscCall(DaisiRankHistogramAccumulate(h, nloc, ens, truth, gidx));
  PetscCall(PetscFree(gidx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramGetCounts(DaisiRankHistogram h, PetscInt *nbins, PetscInt64 counts[])
{
  PetscFunctionBegin;
  if (nbins) *nbins = h->M + 1;
  if (counts) PetscCallMPI(MPI_Allreduce(h->counts, counts, (PetscMPIInt)(h->M + 1), MPIU_INT64, MPI_SUM, h->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramChiSquare(PetscInt nbins, const PetscInt64 counts[], PetscReal *chi2)
{
  PetscReal total = 0, expect, c = 0;

  PetscFunctionBegin;
  PetscCheck(nbins >= 2, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "chi-square of a rank histogram needs >= 2 bins, got %" PetscInt_FMT, nbins);
  for (PetscInt k = 0; k < nbins; k++) total += (PetscReal)counts[k];
  PetscCheck(total > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "chi-square of an empty rank histogram is undefined");
  expect = total / nbins;
  for (PetscInt k = 0; k < nbins; k++) c += ((PetscReal)counts[k] - expect) * ((PetscReal)counts[k] - expect) / expect;
  *chi2 = c;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramReset(DaisiRankHistogram h)
{
  PetscFunctionBegin;
  PetscCall(PetscArrayzero(h->counts, h->M + 1));
  h->ncalls = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramView(DaisiRankHistogram h, PetscViewer viewer)
{
  PetscInt64 *counts;
  PetscReal   chi2 = 0;
  PetscInt64  total = 0;

  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(h->comm);
  PetscCall(PetscMalloc1(h->M + 1, &counts));
  PetscCall(DaisiRankHistogramGetCounts(h, NULL, counts));
  for (PetscInt k = 0; k <= h->M; k++) total += counts[k];
  if (total) PetscCall(DaisiRankHistogramChiSquare(h->M + 1, counts, &chi2));
  PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiRankHistogram: %" PetscInt_FMT " members, %" PetscInt64_FMT " ranks counted over %" PetscInt64_FMT " call(s), tie seed %" PetscInt64_FMT ", chi-square vs flat %.4g (%" PetscInt_FMT " dof)\n", h->M, total, h->ncalls, h->seed, (double)chi2, h->M));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  PetscCall(PetscViewerASCIIPrintf(viewer, "counts:"));
  PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_FALSE));
  for (PetscInt k = 0; k <= h->M; k++) PetscCall(PetscViewerASCIIPrintf(viewer, " %" PetscInt64_FMT, counts[k]));
  PetscCall(PetscViewerASCIIPrintf(viewer, "\n"));
  PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_TRUE));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscCall(PetscFree(counts));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiRankHistogramDestroy(DaisiRankHistogram *h)
{
  PetscFunctionBegin;
  if (!h || !*h) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree((*h)->counts));
  PetscCall(PetscFree((*h)->prefix));
  PetscCall(PetscFree(*h));
  PetscFunctionReturn(PETSC_SUCCESS);
}
