/* Ensemble verification metrics of the SQG experiments, all in K (see docs/metrics.md).
 *
 * Data layout: an ensemble of M members on one rank is stored member-major,
 * ens[m * nloc + i], where i runs over the nloc grid points (or observations) this rank
 * holds; truth[i] is the verifying value at the same points. Every scalar metric is
 * a mean over all points of all ranks of comm, formed from local sums combined with
 * MPI_Allreduce, so the result does not depend (beyond rounding of the sums) on how
 * the points are spread over the ranks. All functions taking comm are collective over
 * it: every rank calls them, with nloc = 0 if it holds no points. */
#ifndef DAISI_METRICS_H
#define DAISI_METRICS_H

#include <daisi/grid.h>
#include <daisi/rng.h>
#include <petscviewer.h>

/* ---------------------------------------------------------------------------------------
 * Scores of the ensemble against the truth
 * ------------------------------------------------------------------------------------- */
typedef struct {
  PetscInt64 npoints;   /* number of points over all ranks */
  PetscReal  rmse;      /* sqrt(mean (ensemble mean - truth)^2) */
  PetscReal  spread;    /* sqrt(mean unbiased ensemble variance) */
  PetscReal  ssr;       /* sqrt((M+1)/M) spread / rmse; +inf if rmse = 0 */
  PetscReal  crps;      /* ensemble CRPS, 1/(2 M^2) spread term, mean over points */
  PetscReal  crps_fair; /* fair (unbiased) CRPS, 1/(2 M (M-1)) spread term */
} DaisiEnsembleScores;

/* mean[i] = (1/M) sum_m ens[m*nloc + i]; local, no communication */
PETSC_EXTERN PetscErrorCode DaisiMetricsEnsembleMean(PetscInt M, PetscInt nloc, const PetscReal ens[], PetscReal mean[]);
PETSC_EXTERN PetscErrorCode DaisiMetricsRMSE(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], PetscReal *rmse);
/* requires M >= 2 */
PETSC_EXTERN PetscErrorCode DaisiMetricsSpread(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], PetscReal *spread);
/* sqrt((M+1)/M) * spread / rmse; errors if rmse <= 0 */
PETSC_EXTERN PetscErrorCode DaisiMetricsSpreadSkillRatio(PetscInt M, PetscReal spread, PetscReal rmse, PetscReal *ratio);
/* CRPS of one point from its members sorted ascending, in O(M):
 *   crps      = (1/M) sum_i |x_i - y| - (1/(2 M^2))      sum_ij |x_i - x_j|
 *   crps_fair = (1/M) sum_i |x_i - y| - (1/(2 M (M-1))) sum_ij |x_i - x_j|
 * with sum_ij |x_i - x_j| = 2 sum_i (2i - M + 1) x_(i) (0-based). Either output may be
 * NULL; crps_fair needs M >= 2. Errors if xs is not sorted. */
PETSC_EXTERN PetscErrorCode DaisiMetricsCRPSSorted(PetscInt M, const PetscReal xs[], PetscReal y, PetscReal *crps, PetscReal *crps_fair);
/* CRPS and fair CRPS averaged over all points (members sorted per point: O(M log M)) */
PETSC_EXTERN PetscErrorCode DaisiMetricsCRPS(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], PetscReal *crps, PetscReal *crps_fair);
/* all of the above in one pass and one reduction; requires M >= 2 */
PETSC_EXTERN PetscErrorCode DaisiMetricsScores(MPI_Comm comm, PetscInt M, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], DaisiEnsembleScores *scores);
PETSC_EXTERN PetscErrorCode DaisiEnsembleScoresView(const DaisiEnsembleScores *scores, PetscViewer viewer);

/* Observation-space innovations d = y - mean(H x) over the nobs local observations:
 * mean = (1/n) sum d, std = sqrt(sum (d - mean)^2 / (n - 1)) over all n observations of
 * all ranks (n >= 2), in the units of h. */
PETSC_EXTERN PetscErrorCode DaisiMetricsInnovation(MPI_Comm comm, PetscInt nobs, const PetscReal hxmean[], const PetscReal y[], PetscReal *mean, PetscReal *std);

/* ---------------------------------------------------------------------------------------
 * Rank histogram: rank of the truth among the M members (M + 1 bins), accumulated over
 * many calls (cycles, levels, ...).
 * Rank r = #{members < truth} when no member equals the truth. Ties (members exactly
 * equal to the truth, e.g. saturated or quantised values) are broken by a uniform draw
 * among the tied ranks #less .. #less + #equal, taken from the counter-based generator
 * keyed by (seed, DAISI_RNG_RANK_HISTOGRAM_TIES, call number, global point index): the
 * same counts on any number of ranks, a flat histogram for a calibrated ensemble, and
 * the same counts when a run is repeated. Option: -rank_histogram_seed (default 0).
 * ------------------------------------------------------------------------------------- */
/* counter-based RNG stream of the tie-breaking draws (outside the rng.h enum range) */

typedef struct _p_DaisiRankHistogram *DaisiRankHistogram;
PETSC_EXTERN PetscErrorCode DaisiRankHistogramCreate(MPI_Comm comm, PetscInt M, DaisiRankHistogram *h);
PETSC_EXTERN PetscErrorCode DaisiRankHistogramSetOptionsPrefix(DaisiRankHistogram h, const char prefix[]);
PETSC_EXTERN PetscErrorCode DaisiRankHistogramSetSeed(DaisiRankHistogram h, PetscInt64 seed);
PETSC_EXTERN PetscErrorCode DaisiRankHistogramSetFromOptions(DaisiRankHistogram h);
/* Collective (every rank calls it the same number of times, so call numbers agree).
 * gidx[i] is the global index of local point i (layout-independent tie-breaking). */
PETSC_EXTERN PetscErrorCode DaisiRankHistogramAccumulate(DaisiRankHistogram h, PetscInt nloc, const PetscReal ens[], const PetscReal truth[], const PetscInt64 gidx[]);
/* the same for fields on a grid (global index (lev*ny + y)*nx + x of each local value) */
PETSC_EXTERN PetscErrorCode DaisiRankHistogramAccumulateGrid(DaisiRankHistogram h, const DaisiGrid *grid, const PetscReal ens[], const PetscReal truth[]);
/* counts[0..M] summed over the ranks (collective) */
PETSC_EXTERN PetscErrorCode DaisiRankHistogramGetCounts(DaisiRankHistogram h, PetscInt *nbins, PetscInt64 counts[]);
/* Pearson chi-square of counts against a flat histogram (nbins - 1 degrees of freedom) */
PETSC_EXTERN PetscErrorCode DaisiRankHistogramChiSquare(PetscInt nbins, const PetscInt64 counts[], PetscReal *chi2);
PETSC_EXTERN PetscErrorCode DaisiRankHistogramReset(DaisiRankHistogram h);
PETSC_EXTERN PetscErrorCode DaisiRankHistogramView(DaisiRankHistogram h, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiRankHistogramDestroy(DaisiRankHistogram *h);

/* ---------------------------------------------------------------------------------------
 * Isotropic power spectra of doubly periodic fields on a DaisiGrid, split in rows over
 * comm as (grid->y0, grid->nyl) (the slabs of all ranks must tile [0, ny)). Rows are
 * redistributed to FFTW-MPI's own slabs with one MPI_Alltoallv per field, whatever the
 * given split. For each level, with F the unnormalised DFT and integer wavenumbers
 * kx, ky (cycles per domain, |kx| <= nx/2, |ky| <= ny/2), the power
 *   P_lev(k) = sum over (kx, ky) with round(sqrt(kx^2 + ky^2)) = k of |F|^2 / (nx ny)^2
 * so that sum_k P_lev(k) = mean over the level's points of f^2 (Parseval).
 * spec[lev * nk + k], k = 0 .. nk - 1, is returned on every rank.
 * ------------------------------------------------------------------------------------- */
/* number of bins: round(sqrt((nx/2)^2 + (ny/2)^2)) + 1 */
PETSC_EXTERN PetscErrorCode DaisiMetricsSpectrumSize(const DaisiGrid *grid, PetscInt *nk);
PETSC_EXTERN PetscErrorCode DaisiMetricsPowerSpectrum(MPI_Comm comm, const DaisiGrid *grid, const PetscReal f[], PetscReal spec[]);
/* spectrum of the error of the ensemble mean, mean - truth: sums to the level's MSE */
PETSC_EXTERN PetscErrorCode DaisiMetricsErrorSpectrum(MPI_Comm comm, const DaisiGrid *grid, PetscInt M, const PetscReal ens[], const PetscReal truth[], PetscReal spec[]);
/* spread spectrum (1/(M-1)) sum_m P(x_m - mean): sums to the level's mean unbiased variance */
PETSC_EXTERN PetscErrorCode DaisiMetricsSpreadSpectrum(MPI_Comm comm, const DaisiGrid *grid, PetscInt M, const PetscReal ens[], PetscReal spec[]);
/* weight * sum over the n fields ens[m] of P(ens[m] - mean), for a mean computed elsewhere: the
 * spread spectrum of an ensemble split over member groups is the sum of the groups' parts
 * with weight 1/(M-1) */
PETSC_EXTERN PetscErrorCode DaisiMetricsDeviationSpectrum(MPI_Comm comm, const DaisiGrid *grid, PetscInt n, const PetscReal ens[], const PetscReal mean[], PetscReal weight, PetscReal spec[]);
/* Log-spectral distance in dB over bins kmin..kmax:
 *   sqrt( (1/(kmax-kmin+1)) sum_k (10 log10(p_k / q_k))^2 );
 * errors naming the bin if a power is not positive. Local (no communication). */
PETSC_EXTERN PetscErrorCode DaisiMetricsLogSpectralDistance(PetscInt kmin, PetscInt kmax, const PetscReal p[], const PetscReal q[], PetscReal *lsd);

/* Log events around the metric kernels (visible in -log_view). */
PETSC_EXTERN PetscLogEvent DAISI_MetricsScores, DAISI_MetricsRankHistogram, DAISI_MetricsSpectrum;

#endif
