/* Scalar ensemble scores (RMSE, spread, spread-skill ratio, CRPS) and innovation
 * statistics. Each rank forms sums over its own points; one MPI_Allreduce combines them. */
#include "metricsimpl.h"
#include <math.h>

PetscLogEvent DAISI_MetricsScores = 0, DAISI_MetricsRankHistogram = 0, DAISI_MetricsSpectrum = 0;

PetscErrorCode DaisiMetricsRegisterEvents(void)
{
  PetscFunctionBegin;
  if (!DAISI_MetricsScores) {
    PetscCall(PetscLogEventRegister("MetricsScores", DAISI_CLASSID, &DAISI_MetricsScores));
    PetscCall(PetscLogEventRegister("MetricsRankHist", DAISI_CLASSID, &DAISI_MetricsRankHistogram));
    PetscCall(PetscLogEventRegister("MetricsSpectrum", DAISI_CLASSID, &DAISI_MetricsSpectrum));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

#define DaisiMetricsCheckSizes(M, nloc, Mmin) \
  do { \
    PetscCheck((M) >= (Mmin), PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "ensemble size M = %" PetscInt_FMT " too small: this metric needs M >= %d", (PetscInt)(M), (int)(Mmin)); \
    PetscCheck((nloc) >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "number of local points must be >= 0, got %" PetscInt_FMT, (PetscInt)(nloc)); \
  } while (0)

/* The two CRPS terms of one point from its sorted members: the mean absolute error
 * (1/M) sum_i |x_i - y| and the pair sum sum_ij |x_i - x_j| = 2 sum_i (2i - M + 1) x_(i).
 * The weights (2i - M + 1) sum to zero, so x_(0) is subtracted first: same value
 * mathematically, no cancellation when the field has a large offset. */
static inline void CRPSTerms(PetscInt M, const PetscReal xs[], PetscReal y, PetscReal *mae, PetscReal *pairs)
{
  PetscReal a = 0, s = 0;
  for (PetscInt i = 0; i < M; i++) {
    a += PetscAbsReal(xs[i] - y);
    s += (PetscReal)(2 * i - M + 1) * (xs[i] - xs[0]);
  }
  *mae   = a / M;
  *pairs = 2 * s;
}

PetscErrorCode DaisiMetricsEnsembleMean(PetscInt M, PetscInt nloc, const PetscReal ens[], PetscReal mean[])
{
  PetscFunctionBegin;
  DaisiMetricsCheckSizes(M, nloc, 1);
  for (PetscInt i = 0; i < nloc; i++) mean[i] = ens[i];
  for (PetscInt m = 1; m < M; m++)
    for (PetscInt i = 0; i < nloc; i++) mean[i] += ens[m * nloc + i];
  for (PetscInt i = 0; i < nloc; i++) mean[i] /= M;
  PetscCall(PetscLogFlops((PetscLogDouble)M * nloc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsSpreadSkillRatio(PetscInt M, PetscReal spread, PetscReal rmse, PetscReal *ratio)
{
  PetscFunctionBegin;
  PetscCheck(M >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "ensemble size M = %" PetscInt_FMT " must be >= 1", M);
  PetscCheck(rmse > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "spread-skill ratio undefined: RMSE = %g is not positive", (double)rmse);
  *ratio = PetscSqrtReal((PetscReal)(M + 1) / M) * spread / rmse;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsCRPSSorted(PetscInt M, const PetscReal xs[], PetscReal y, PetscReal *crps, PetscReal *crps_fair)
{
  PetscReal mae, pairs;

  PetscFunctionBegin;
  DaisiMetricsCheckSizes(M, 0, crps_fair ? 2 : 1);
  for (PetscInt i = 1; i < M; i++) PetscCheck(xs[i - 1] <= xs[i], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "members given to DaisiMetricsCRPSSorted() are not sorted ascending: x[%" PetscInt_FMT "] = %g > x[%" PetscInt_FMT "] = %g", i - 1, (double)xs[i - 1], i, (double)xs[i]);
  CRPSTerms(M, xs, y, &mae, &pairs);
  if (crps) *crps = mae - pairs / (2.0 * M * M);
  if (crps_fair) *crps_fair = mae - pairs / (2.0 * M * (M - 1));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Local sums over this rank's points, in the order of DaisiEnsembleScores; any of the
 * wanted parts may be skipped. sums: [0] squared error of the mean, [1] unbiased
 * variance, [2] CRPS, [3] fair CRPS, [4] number of points. */
typedef struct {
  PetscBool rmse, spread, crps;
} ScoreParts;

static PetscErrorCode ScoresLocalSums(PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], ScoreParts want, PetscReal sums[5])
{
  PetscReal *xs;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(M, &xs));
  for (PetscInt k = 0; k < 5; k++) sums[k] = 0;
  for (PetscInt i = 0; i < nloc; i++) {
    PetscReal mean = 0, var = 0;
    for (PetscInt m = 0; m < M; m++) {
      xs[m] = ens[m * nloc + i];
      mean += xs[m];
    }
    mean /= M;
    if (want.rmse) sums[0] += (mean - truth[i]) * (mean - truth[i]);
    if (want.spread) {
      for (PetscInt m = 0; m < M; m++) var += (xs[m] - mean) * (xs[m] - mean);
      sums[1] += var / (M - 1);
    }
    if (want.crps) {
      PetscReal mae, pairs;
      PetscCall(PetscSortReal(M, xs));
      CRPSTerms(M, xs, truth[i], &mae, &pairs);
      sums[2] += mae - pairs / (2.0 * M * M);
      if (M > 1) sums[3] += mae - pairs / (2.0 * M * (M - 1));
    }
  }
  sums[4] = (PetscReal)nloc;
  PetscCall(PetscFree(xs));
  PetscCall(PetscLogFlops((PetscLogDouble)nloc * M * (2 + (want.spread ? 3 : 0) + (want.crps ? 6 : 0))));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ScoresGlobalSums(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], ScoreParts want, PetscReal sums[5])
{
  PetscReal local[5];

  PetscFunctionBegin;
  PetscCall(DaisiMetricsRegisterEvents());
  PetscCall(PetscLogEventBegin(DAISI_MetricsScores, 0, 0, 0, 0));
  PetscCall(ScoresLocalSums(M, nloc, ens, truth, want, local));
  PetscCallMPI(MPI_Allreduce(local, sums, 5, MPIU_REAL, MPIU_SUM, comm));
  PetscCall(PetscLogEventEnd(DAISI_MetricsScores, 0, 0, 0, 0));
  PetscCheck(sums[4] > 0, comm, PETSC_ERR_ARG_SIZ, "no points on any rank: metrics of an empty set are undefined");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsRMSE(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], PetscReal *rmse)
{
  PetscReal  sums[5];
  ScoreParts want = {PETSC_TRUE, PETSC_FALSE, PETSC_FALSE};

  PetscFunctionBegin;
  DaisiMetricsCheckSizes(M, nloc, 1);
  PetscCall(ScoresGlobalSums(comm, M, nloc, ens, truth, want, sums));
  *rmse = PetscSqrtReal(sums[0] / sums[4]);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsSpread(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], PetscReal *spread)
{
  PetscReal  sums[5];
  ScoreParts want = {PETSC_FALSE, PETSC_TRUE, PETSC_FALSE};

  PetscFunctionBegin;
  DaisiMetricsCheckSizes(M, nloc, 2);
  PetscCall(ScoresGlobalSums(comm, M, nloc, ens, NULL, want, sums));
  *spread = PetscSqrtReal(sums[1] / sums[4]);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsCRPS(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], PetscReal *crps, PetscReal *crps_fair)
{
  PetscReal  sums[5];
  ScoreParts want = {PETSC_FALSE, PETSC_FALSE, PETSC_TRUE};

  PetscFunctionBegin;
  DaisiMetricsCheckSizes(M, nloc, crps_fair ? 2 : 1);
  PetscCall(ScoresGlobalSums(comm, M, nloc, ens, truth, want, sums));
  if (crps) *crps = sums[2] / sums[4];
  if (crps_fair) *crps_fair = sums[3] / sums[4];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsScores(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], DaisiEnsembleScores *s)
{
  PetscReal  sums[5];
  ScoreParts want = {PETSC_TRUE, PETSC_TRUE, PETSC_TRUE};

  PetscFunctionBegin;
  DaisiMetricsCheckSizes(M, nloc, 2);
  PetscCall(ScoresGlobalSums(comm, M, nloc, ens, truth, want, sums));
  s->npoints   = (PetscInt64)sums[4];
  s->rmse      = PetscSqrtReal(sums[0] / sums[4]);
  s->spread    = PetscSqrtReal(sums[1] / sums[4]);
  s->crps      = sums[2] / sums[4];
  s->crps_fair = sums[3] / sums[4];
  if (s->rmse > 0) PetscCall(DaisiMetricsSpreadSkillRatio(M, s->spread, s->rmse, &s->ssr));
  else s->ssr = PETSC_INFINITY;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleScoresView(const DaisiEnsembleScores *s, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_WORLD;
  PetscCall(PetscViewerASCIIPrintf(viewer, "ensemble scores over %" PetscInt64_FMT " points (K): RMSE %.6g, spread %.6g, spread-skill %.4f, CRPS %.6g, fair CRPS %.6g\n", s->npoints, (double)s->rmse, (double)s->spread, (double)s->ssr, (double)s->crps, (double)s->crps_fair));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsInnovation(MPI_Comm comm, PetscInt nobs, const PetscReal hxmean[], const PetscReal y[], PetscReal *mean, PetscReal *std)
{
  PetscReal local[2] = {0, (PetscReal)nobs}, global[2], dev = 0, devsum;

  PetscFunctionBegin;
  PetscCheck(nobs >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "number of local observations must be >= 0, got %" PetscInt_FMT, nobs);
  PetscCall(DaisiMetricsRegisterEvents());
  PetscCall(PetscLogEventBegin(DAISI_MetricsScores, 0, 0, 0, 0));
  for (PetscInt j = 0; j < nobs; j++) local[0] += y[j] - hxmean[j];
  PetscCallMPI(MPI_Allreduce(local, global, 2, MPIU_REAL, MPIU_SUM, comm));
  PetscCheck(global[1] >= 2, comm, PETSC_ERR_ARG_SIZ, "innovation statistics need at least 2 observations over all ranks, got %g", (double)global[1]);
  /* second pass about the global mean: accurate even when the mean is large */
  *mean = global[0] / global[1];
  for (PetscInt j = 0; j < nobs; j++) {
    const PetscReal d = y[j] - hxmean[j] - *mean;
    dev += d * d;
  }
  PetscCallMPI(MPI_Allreduce(&dev, &devsum, 1, MPIU_REAL, MPIU_SUM, comm));
  *std = PetscSqrtReal(devsum / (global[1] - 1));
  PetscCall(PetscLogFlops(5.0 * nobs));
  PetscCall(PetscLogEventEnd(DAISI_MetricsScores, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}
