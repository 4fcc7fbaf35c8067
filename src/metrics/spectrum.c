/* Isotropic power spectra by total wavenumber of doubly periodic fields split in rows.
 *
 * The caller's row split (y0, nyl) need not be FFTW-MPI's (for example an ensemble layer
 * may deal rows differently), so each 2-D field is first moved to FFTW's slabs with one
 * MPI_Alltoallv: rank r sends rank s the rows in the overlap of its own rows and s's
 * FFTW rows. Both splits are contiguous row ranges, so every message is one contiguous
 * block and no packing is needed on the sending side. */
#include "metricsimpl.h"
#include <fftw3-mpi.h>
#include <math.h>

typedef struct {
  MPI_Comm      comm;
  PetscInt      ny, nx, nxh, nk; /* nxh = nx/2 + 1 complex columns of the r2c output */
  ptrdiff_t     fn, f0;          /* FFTW's rows of this rank */
  double       *in;              /* fn rows of 2*nxh reals (FFTW's padded r2c layout) */
  fftw_complex *out;
  fftw_plan     plan;
  PetscReal    *rows;                           /* received rows, fn x nx, contiguous */
  PetscMPIInt  *scount, *sdispl, *rcount, *rdispl;
  PetscInt     *bin;                            /* bin of each local output coefficient */
  PetscReal    *factor;                         /* its weight: 1 or 2 (conjugate twin), over (nx ny)^2 */
} SpectrumPlan;

PetscErrorCode DaisiMetricsSpectrumSize(const DaisiGrid *g, PetscInt *nk)
{
  const PetscReal kx = (PetscReal)(g->nx / 2), ky = (PetscReal)(g->ny / 2);

  PetscFunctionBegin;
  PetscCheck(g->nx >= 1 && g->ny >= 1 && g->nlev >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "spectrum of a %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " grid (levels x ny x nx) is undefined", g->nlev, g->ny, g->nx);
  *nk = (PetscInt)PetscFloorReal(PetscSqrtReal(kx * kx + ky * ky) + 0.5) + 1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SpectrumPlanDestroy(SpectrumPlan *sp)
{
  PetscFunctionBegin;
  if (sp->plan) fftw_destroy_plan(sp->plan);
  if (sp->in) fftw_free(sp->in);
  if (sp->out) fftw_free(sp->out);
  PetscCall(PetscFree4(sp->scount, sp->sdispl, sp->rcount, sp->rdispl));
  PetscCall(PetscFree3(sp->rows, sp->bin, sp->factor));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SpectrumPlanCreate(MPI_Comm comm, const DaisiGrid *g, SpectrumPlan *sp)
{
  PetscMPIInt size, rank;
  ptrdiff_t   alloc;
  PetscInt64  mine[4], *all, nrows;
  PetscInt   *cover;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(sp, sizeof(*sp)));
  PetscCall(DaisiMetricsSpectrumSize(g, &sp->nk));
  sp->comm = comm;
  sp->ny   = g->ny;
  sp->nx   = g->nx;
  sp->nxh  = g->nx / 2 + 1;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));

  /* the given slabs must tile the rows exactly once */
  mine[0] = g->y0;
  mine[1] = g->nyl;
  PetscCall(PetscMalloc1(4 * (size_t)size, &all));
  PetscCall(PetscCalloc1(g->ny, &cover));
  PetscCallMPI(MPI_Allgather(mine, 2, MPIU_INT64, all, 2, MPIU_INT64, comm));
  nrows = 0;
  for (PetscMPIInt r = 0; r < size; r++) {
    PetscCheck(all[2 * r] >= 0 && all[2 * r + 1] >= 0 && all[2 * r] + all[2 * r + 1] <= g->ny, comm, PETSC_ERR_ARG_OUTOFRANGE, "rank %d holds rows [%" PetscInt64_FMT ", %" PetscInt64_FMT ") outside the grid's %" PetscInt_FMT " rows", r, all[2 * r], all[2 * r] + all[2 * r + 1], g->ny);
    for (PetscInt64 y = all[2 * r]; y < all[2 * r] + all[2 * r + 1]; y++) cover[y]++;
    nrows += all[2 * r + 1];
  }
  for (PetscInt y = 0; y < g->ny; y++) PetscCheck(cover[y] == 1, comm, PETSC_ERR_ARG_INCOMP, "row %" PetscInt_FMT " is held by %" PetscInt_FMT " ranks: the row slabs (y0, nyl) of the ranks must tile [0, %" PetscInt_FMT ") exactly once", y, cover[y], g->ny);
  PetscCheck(nrows == g->ny, comm, PETSC_ERR_ARG_INCOMP, "row slabs hold %" PetscInt64_FMT " rows, grid has %" PetscInt_FMT, nrows, g->ny);
  PetscCall(PetscFree(cover));

  /* FFTW's own slabs and the r2c plan (collective over comm) */
  fftw_mpi_init();
  alloc  = fftw_mpi_local_size_2d((ptrdiff_t)g->ny, (ptrdiff_t)sp->nxh, comm, &sp->fn, &sp->f0);
  sp->in  = fftw_alloc_real(2 * (size_t)PetscMax(alloc, 1));
  sp->out = fftw_alloc_complex((size_t)PetscMax(alloc, 1));
  PetscCheck(sp->in && sp->out, PETSC_COMM_SELF, PETSC_ERR_MEM, "FFTW could not allocate %td complex values for the spectrum of a %" PetscInt_FMT " x %" PetscInt_FMT " field", alloc, g->ny, g->nx);
  sp->plan = fftw_mpi_plan_dft_r2c_2d((ptrdiff_t)g->ny, (ptrdiff_t)g->nx, sp->in, sp->out, comm, FFTW_ESTIMATE);
  PetscCheck(sp->plan, comm, PETSC_ERR_LIB, "FFTW-MPI could not plan a %" PetscInt_FMT " x %" PetscInt_FMT " real-to-complex transform", g->ny, g->nx);

  /* exchange pattern: overlaps of given rows (senders) with FFTW rows (receivers) */
  mine[2] = sp->f0;
  mine[3] = sp->fn;
  PetscCallMPI(MPI_Allgather(mine, 4, MPIU_INT64, all, 4, MPIU_INT64, comm));
  PetscCall(PetscMalloc4(size, &sp->scount, size, &sp->sdispl, size, &sp->rcount, size, &sp->rdispl));
  for (PetscMPIInt r = 0; r < size; r++) {
    PetscInt64 lo, hi;
    /* what I send to r: my given rows within r's FFTW rows, offset in my slab */
    lo = PetscMax(g->y0, all[4 * r + 2]);
    hi = PetscMin(g->y0 + g->nyl, all[4 * r + 2] + all[4 * r + 3]);
    PetscCall(PetscMPIIntCast(hi > lo ? (hi - lo) * g->nx : 0, &sp->scount[r]));
    PetscCall(PetscMPIIntCast(hi > lo ? (lo - g->y0) * g->nx : 0, &sp->sdispl[r]));
    /* what I receive from r: r's given rows within my FFTW rows, offset in my slab */
    lo = PetscMax(all[4 * r], (PetscInt64)sp->f0);
    hi = PetscMin(all[4 * r] + all[4 * r + 1], (PetscInt64)(sp->f0 + sp->fn));
    PetscCall(PetscMPIIntCast(hi > lo ? (hi - lo) * g->nx : 0, &sp->rcount[r]));
    PetscCall(PetscMPIIntCast(hi > lo ? (lo - sp->f0) * g->nx : 0, &sp->rdispl[r]));
  }
  PetscCall(PetscFree(all));

  /* bin and weight of every local coefficient: row j has ky = j or j - ny (aliased
   * negative frequencies); columns 0 < kx < nx/2 stand for their conjugate twin at
   * -kx as well, so they count twice */
  PetscCall(PetscMalloc3((size_t)sp->fn * g->nx, &sp->rows, (size_t)sp->fn * sp->nxh, &sp->bin, (size_t)sp->fn * sp->nxh, &sp->factor));
  {
    const PetscReal norm = 1.0 / ((PetscReal)g->nx * g->ny * (PetscReal)g->nx * g->ny);
    for (ptrdiff_t j = 0; j < sp->fn; j++) {
      const PetscInt y  = (PetscInt)(sp->f0 + j);
      const PetscInt ky = y <= g->ny / 2 ? y : y - g->ny;
      for (PetscInt kx = 0; kx < sp->nxh; kx++) {
        const PetscBool twin = (kx > 0 && 2 * kx != g->nx) ? PETSC_TRUE : PETSC_FALSE;
        const PetscInt  k    = (PetscInt)PetscFloorReal(PetscSqrtReal((PetscReal)(kx * kx + ky * ky)) + 0.5);
        sp->bin[j * sp->nxh + kx]    = k;
        sp->factor[j * sp->nxh + kx] = (twin ? 2.0 : 1.0) * norm;
      }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* bins[k] += weight * P(k) of one 2-D field in the caller's slab layout (nyl x nx) */
static PetscErrorCode SpectrumPlanAccumulate(SpectrumPlan *sp, const PetscReal field[], PetscReal weight, PetscReal bins[])
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Alltoallv(field, sp->scount, sp->sdispl, MPIU_REAL, sp->rows, sp->rcount, sp->rdispl, MPIU_REAL, sp->comm));
  for (ptrdiff_t j = 0; j < sp->fn; j++) PetscCall(PetscArraycpy(sp->in + j * 2 * sp->nxh, sp->rows + j * sp->nx, sp->nx));
  fftw_execute(sp->plan);
  /* fftw_complex is double[2] or C99 complex depending on the includes: read it as pairs */
  const double *outri = (const double *)sp->out;
  for (ptrdiff_t c = 0; c < sp->fn * sp->nxh; c++) {
    const double re = outri[2 * c], im = outri[2 * c + 1];
    bins[sp->bin[c]] += weight * sp->factor[c] * (re * re + im * im);
  }
  /* this rank's share of the 2.5 N log2 N of a real FFT, and the binning */
  PetscCall(PetscLogFlops(2.5 * sp->nx * PetscLog2Real((PetscReal)sp->nx * sp->ny) * (PetscReal)sp->fn + 5.0 * sp->fn * sp->nxh));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The three public spectra: weight * P of each level of nfield fields f_0 .. f_{n-1},
 * produced one level at a time by fill(ctx, field, lev, out). */
typedef PetscErrorCode (*FieldFill)(void *ctx, PetscInt field, PetscInt lev, PetscReal out[]);

static PetscErrorCode SpectraOfFields(MPI_Comm comm, const DaisiGrid *g, PetscInt nfield, FieldFill fill, void *ctx, PetscReal weight, PetscReal spec[])
{
  SpectrumPlan sp;
  PetscReal   *local, *level;
  PetscInt     nlev2d = g->nyl * g->nx;

  PetscFunctionBegin;
  PetscCall(DaisiMetricsRegisterEvents());
  PetscCall(PetscLogEventBegin(DAISI_MetricsSpectrum, 0, 0, 0, 0));
  PetscCall(SpectrumPlanCreate(comm, g, &sp));
  PetscCall(PetscCalloc1(g->nlev * sp.nk, &local));
  PetscCall(PetscMalloc1(nlev2d, &level));
  for (PetscInt f = 0; f < nfield; f++)
    for (PetscInt lev = 0; lev < g->nlev; lev++) {
      PetscCall(fill(ctx, f, lev, level));
      PetscCall(SpectrumPlanAccumulate(&sp, level, weight, local + lev * sp.nk));
    }
  PetscCallMPI(MPI_Allreduce(local, spec, (PetscMPIInt)(g->nlev * sp.nk), MPIU_REAL, MPIU_SUM, comm));
  PetscCall(PetscFree(level));
  PetscCall(PetscFree(local));
  PetscCall(SpectrumPlanDestroy(&sp));
  PetscCall(PetscLogEventEnd(DAISI_MetricsSpectrum, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  const DaisiGrid *g;
  PetscInt         M;
  const PetscReal *ens, *truth, *mean, *f;
} FillCtx;

static PetscErrorCode FillField(void *vctx, PetscInt field, PetscInt lev, PetscReal out[])
{
  FillCtx       *c = (FillCtx *)vctx;
  const PetscInt n = c->g->nyl * c->g->nx;

  PetscFunctionBegin;
  (void)field;
  PetscCall(PetscArraycpy(out, c->f + lev * n, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FillError(void *vctx, PetscInt field, PetscInt lev, PetscReal out[])
{
  FillCtx       *c = (FillCtx *)vctx;
  const PetscInt n = c->g->nyl * c->g->nx;

  PetscFunctionBegin;
  (void)field;
  for (PetscInt i = 0; i < n; i++) out[i] = c->mean[lev * n + i] - c->truth[lev * n + i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FillDeviation(void *vctx, PetscInt m, PetscInt lev, PetscReal out[])
{
  FillCtx       *c    = (FillCtx *)vctx;
  const PetscInt n    = c->g->nyl * c->g->nx;
  const PetscInt nloc = DaisiGridLocalSize(c->g);

  PetscFunctionBegin;
  for (PetscInt i = 0; i < n; i++) out[i] = c->ens[m * nloc + lev * n + i] - c->mean[lev * n + i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsPowerSpectrum(MPI_Comm comm, const DaisiGrid *g, const PetscReal f[], PetscReal spec[])
{
  FillCtx c = {g, 1, NULL, NULL, NULL, f};

  PetscFunctionBegin;
  PetscCall(SpectraOfFields(comm, g, 1, FillField, &c, 1.0, spec));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsErrorSpectrum(MPI_Comm comm, const DaisiGrid *g, PetscInt M, const PetscReal ens[], const PetscReal truth[], PetscReal spec[])
{
  FillCtx    c = {g, M, ens, truth, NULL, NULL};
  PetscReal *mean;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(DaisiGridLocalSize(g), &mean));
  PetscCall(DaisiMetricsEnsembleMean(M, DaisiGridLocalSize(g), ens, mean));
  c.mean = mean;
  PetscCall(SpectraOfFields(comm, g, 1, FillError, &c, 1.0, spec));
  PetscCall(PetscFree(mean));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsSpreadSpectrum(MPI_Comm comm, const DaisiGrid *g, PetscInt M, const PetscReal ens[], PetscReal spec[])
{
  FillCtx    c = {g, M, ens, NULL, NULL, NULL};
  PetscReal *mean;

  PetscFunctionBegin;
  PetscCheck(M >= 2, comm, PETSC_ERR_ARG_OUTOFRANGE, "spread spectrum needs M >= 2 members, got %" PetscInt_FMT, M);
  PetscCall(PetscMalloc1(DaisiGridLocalSize(g), &mean));
  PetscCall(DaisiMetricsEnsembleMean(M, DaisiGridLocalSize(g), ens, mean));
  c.mean = mean;
  PetscCall(SpectraOfFields(comm, g, M, FillDeviation, &c, 1.0 / (M - 1), spec));
  PetscCall(PetscFree(mean));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsDeviationSpectrum(MPI_Comm comm, const DaisiGrid *g, PetscInt n, const PetscReal ens[], const PetscReal mean[], PetscReal weight, PetscReal spec[])
{
  FillCtx c = {g, n, ens, NULL, mean, NULL};

  PetscFunctionBegin;
  PetscCall(SpectraOfFields(comm, g, n, FillDeviation, &c, weight, spec));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiMetricsLogSpectralDistance(PetscInt kmin, PetscInt kmax, const PetscReal p[], const PetscReal q[], PetscReal *lsd)
{
  PetscReal s = 0;

  PetscFunctionBegin;
  PetscCheck(kmin >= 0 && kmax >= kmin, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "log-spectral distance over bins [%" PetscInt_FMT ", %" PetscInt_FMT "]: need 0 <= kmin <= kmax", kmin, kmax);
  for (PetscInt k = kmin; k <= kmax; k++) {
    PetscReal d;
    PetscCheck(p[k] > 0 && q[k] > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "log-spectral distance: power in bin k = %" PetscInt_FMT " is not positive (%g vs %g)", k, (double)p[k], (double)q[k]);
    d = 10.0 * PetscLog10Real(p[k] / q[k]);
    s += d * d;
  }
  *lsd = PetscSqrtReal(s / (kmax - kmin + 1));
  PetscFunctionReturn(PETSC_SUCCESS);
}
