/* The 3DVar baseline (type 3dvar; docs/filters.md, section 3DVar; interface in var3d.h).
 *
 * Cost, in the control variable v of x = x_b + B^1/2 v:
 *   J(v) = 1/2 v^T v + 1/2 sum_o ((y_o - h(x)_o) / sigma_o)^2,
 *   grad J(v) = v - B^T/2 H^T R^-1 (y - h(x))        (H^T: DaisiObsOperatorJacobianTransposeApply),
 * minimised by PETSc TAO (LMVM, or BLMVM without bounds) from v = 0.
 *
 * B: climatological, homogeneous in x. With the DFT in x, X(kx) = sum_x x e^{-2 pi i kx x / nx},
 * B is block-diagonal in kx: one Hermitian block S(kx) = E[X X^H] / nx over (level, y), of size
 * n2 = nlev ny (unit white noise has S = I). S is estimated from states of a nature run (sample
 * covariance over every chosen state, about the sample mean of the kx = 0 mode, i.e. about the
 * x- and time-mean of each (level, y); 1/K normalisation), optionally shrunk towards its own
 * diagonal, (1 - a) S + a diag(S), and scaled, B = s S. Square root per block from the
 * eigen-decomposition, S = V Lam V^H, L = V Lam^1/2 (LAPACK zheev; dsyev for the real kx = 0
 * and Nyquist blocks; negative round-off eigenvalues are set to 0, so rank-deficient blocks are
 * fine in this form). Control variables per kx: n2 real values (kx = 0, Nyquist) or n2 real then
 * n2 imaginary parts w (0 < kx < nx/2), and
 *   X(kx) = sqrt(nx) L v          (kx = 0, Nyquist),
 *   X(kx) = sqrt(nx / 2) L w      (otherwise),          dx = (1/nx) inverse real DFT of X,
 * which makes cov(dx) = B for v ~ N(0, I); the adjoint uses L^T / sqrt(nx) and L^H sqrt(2 / nx).
 *
 * Parallel shape (per member group, on the group communicator, P ranks): a member is split in
 * rows (the model's slabs), so the 1-D FFT in x is local (FFTW, howmany = nlev * rows). The kx
 * are dealt out in contiguous blocks over the P ranks; one MPI_Alltoallv moves the spectrum from
 * (level, rows, all kx) to (my kx, all levels and y) and back. Each rank holds and factorises only
 * its kx blocks; the control vector is a PETSc Vec over the group with each rank's kx values.
 * J is collective over the group: the observation term is summed per grid row and the v^T v
 * term per kx, both reduced exactly (one non-zero contribution per entry) and added in a fixed
 * order, so J does not depend on P (TAO's own vector reductions do, in round-off).
 * Modes: mean (every group minimises for the exact ensemble mean, redundantly, so no group
 * waits for another; members = analysis mean + r (x_m - background mean)); members (each group
 * its members, one minimisation each, with perturbed observations y + sigma eps, eps keyed
 * like the EnKF's). */
#include "varimpl.h"
#include "../io/h5util.h"
#include <daisi/statefile.h>
#include <daisi/sys.h>
#include <fftw3.h>

#define VAR3D_B_FORMAT         "daisi-var3d-b"
#define VAR3D_B_FORMAT_VERSION 1
#define VAR3D_CHUNK            32 /* samples per rank-k update of the covariance blocks */

PetscLogEvent DAISI_FilterVar3dSetUp = 0, DAISI_FilterVar3dSolve = 0, DAISI_FilterVar3dObjective = 0, DAISI_FilterVar3dSqrtB = 0;

const char *const DaisiFilterVar3dModes[]   = {"mean", "members", NULL};
const char *const DaisiFilterVar3dSolvers[] = {"lmvm", "blmvm", NULL};

extern void dsyev_(const char *, const char *, const PetscBLASInt *, PetscReal *, const PetscBLASInt *, PetscReal *, PetscReal *, const PetscBLASInt *, PetscBLASInt *);
extern void zheev_(const char *, const char *, const PetscBLASInt *, double *, const PetscBLASInt *, double *, double *, const PetscBLASInt *, double *, PetscBLASInt *);
extern void zherk_(const char *, const char *, const PetscBLASInt *, const PetscBLASInt *, const double *, const double *, const PetscBLASInt *, const double *, double *, const PetscBLASInt *);
extern void zgemv_(const char *, const PetscBLASInt *, const PetscBLASInt *, const double *, const double *, const PetscBLASInt *, const double *, const PetscBLASInt *, const double *, double *, const PetscBLASInt *);
extern void dgemv_(const char *, const PetscBLASInt *, const PetscBLASInt *, const double *, const double *, const PetscBLASInt *, const double *, const PetscBLASInt *, const double *, double *, const PetscBLASInt *);

typedef struct {
  DaisiVarCore c; /* work space, observations, statistics (varimpl.h) */
  /* spectral layout */
  PetscInt     nx, ny, nlev, nxh, n2, k0, nk, nv, *voff;
  PetscInt    *ry0, *rnyl, *rk0, *rnk; /* per group rank */
  PetscMPIInt *c1, *d1, *c2, *d2;       /* alltoallv counts/displacements (doubles): rows -> kx, and kx -> rows */
  fftw_plan    fwd, bwd;
  double      *rbuf, *cbuf, *sbuf, *tbuf, *Z, *wv; /* cbuf: rows spectrum; Z: my kx, n2 complex each */
  double      *L;                                  /* nk blocks of n2 x n2 complex, column-major (real for edges) */
  PetscInt64   nsamples;
  PetscReal   *lam;              /* eigenvalues of my blocks of B */
  PetscReal    lmin, lmax, trace; /* eigenvalues of B over all blocks; trace(B) / (nx ny nlev) = mean variance */
  PetscInt     nzero;            /* eigenvalues at zero (rank deficiency) */
  /* the work fields (slab) and the control vector */
  PetscReal *xb, *x, *gx, *part;
  Vec        v;
} Filter_Var3d;

/* ---------------------------------------------------------------------------------------
 * Parameters (read by every filter type)
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiFilterVar3dParamsDefault(DaisiFilterVar3dParams *p)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(p, sizeof(*p)));
  p->mode       = DAISI_FILTER_VAR3D_MEAN;
  p->pert_scale = 0;
  p->stride     = 1;
  p->shrinkage  = 0;
  p->bscale     = 1;
  p->solver     = 0;
  p->max_it     = 200;
  p->gatol      = 1e-8;
  p->gttol      = 1e-6;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckParams(MPI_Comm comm, const DaisiFilterVar3dParams *p)
{
  PetscFunctionBegin;
  PetscCheck(p->mode == DAISI_FILTER_VAR3D_MEAN || p->mode == DAISI_FILTER_VAR3D_MEMBERS, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_mode: unknown mode %d (mean, members)", (int)p->mode);
  PetscCheck(p->pert_scale >= 0 && PetscIsNormalReal(p->pert_scale + 1), comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_perturbation_scale must be finite and >= 0, got %g", (double)p->pert_scale);
  PetscCheck(p->first >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology_first must be >= 0, got %" PetscInt_FMT, p->first);
  PetscCheck(p->stride >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology_stride must be >= 1, got %" PetscInt_FMT, p->stride);
  PetscCheck(p->count >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology_count must be >= 0 (0: to the end), got %" PetscInt_FMT, p->count);
  PetscCheck(p->members >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology_members must be >= 0 (0: all), got %" PetscInt_FMT, p->members);
  PetscCheck(p->shrinkage >= 0 && p->shrinkage <= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_shrinkage must be in [0, 1], got %g", (double)p->shrinkage);
  PetscCheck(p->bscale > 0 && PetscIsNormalReal(p->bscale), comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_b_scale must be finite and > 0, got %g", (double)p->bscale);
  PetscCheck(p->solver == 0 || p->solver == 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_tao: unknown solver %d (lmvm, blmvm)", (int)p->solver);
  PetscCheck(p->max_it >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_max_it must be >= 1, got %" PetscInt_FMT, p->max_it);
  PetscCheck(p->gatol >= 0 && PetscIsNormalReal(p->gatol + 1), comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_gatol must be finite and >= 0, got %g", (double)p->gatol);
  PetscCheck(p->gttol >= 0 && p->gttol < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_gttol must be in [0, 1), got %g", (double)p->gttol);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dGetParams(DaisiFilter f, DaisiFilterVar3dParams *p)
{
  PetscFunctionBegin;
  *p = f->var3d;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dSetParams(DaisiFilter f, const DaisiFilterVar3dParams *p)
{
  Filter_Var3d *d = NULL;
  PetscBool     is;

  PetscFunctionBegin;
  PetscCall(CheckParams(f->comm, p));
  PetscCall(PetscStrcmp(f->type, DAISI_FILTER_VAR3D, &is));
  if (is) d = (Filter_Var3d *)f->data;
  if (d && d->c.ens) { /* B is made at set-up: its sources cannot change afterwards */
    PetscBool s1, s2, s3;
    PetscCall(PetscStrcmp(p->climatology, f->var3d.climatology, &s1));
    PetscCall(PetscStrcmp(p->bfile, f->var3d.bfile, &s2));
    PetscCall(PetscStrcmp(p->bsave, f->var3d.bsave, &s3));
    PetscCheck(s1 && s2 && s3 && p->first == f->var3d.first && p->stride == f->var3d.stride && p->count == f->var3d.count && p->members == f->var3d.members && p->shrinkage == f->var3d.shrinkage && p->bscale == f->var3d.bscale, f->comm, PETSC_ERR_ORDER,
               "the 3dvar covariance options (-var3d_climatology*, -var3d_b_*, -var3d_shrinkage) cannot change once B is set up");
  }
  f->var3d = *p;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject)
{
  DaisiFilterVar3dParams p    = f->var3d;
  PetscInt               mode = p.mode, solver = p.solver;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "3DVar options (used by -filter_type 3dvar)");
  PetscCall(DaisiFilterReadChoice(PetscOptionsObject, "DaisiFilterVar3dSetParams", "-var3d_mode", "mean: one minimisation for the ensemble mean; members: one per member with perturbed observations", DaisiFilterVar3dModes, &mode));
  PetscCall(PetscOptionsReal("-var3d_perturbation_scale", "mean mode: members = analysis mean + r (x_m - background mean); 0 = deterministic 3DVar", "DaisiFilterVar3dSetParams", p.pert_scale, &p.pert_scale, NULL));
  PetscCall(PetscOptionsString("-var3d_climatology", "State file (nature run, or an ensemble file) to estimate B from", "DaisiFilterVar3dSetParams", p.climatology, p.climatology, sizeof(p.climatology), NULL));
  PetscCall(PetscOptionsInt("-var3d_climatology_first", "First time index of the climatology file used", "DaisiFilterVar3dSetParams", p.first, &p.first, NULL));
  PetscCall(PetscOptionsInt("-var3d_climatology_stride", "Stride between the time indices used", "DaisiFilterVar3dSetParams", p.stride, &p.stride, NULL));
  PetscCall(PetscOptionsInt("-var3d_climatology_count", "Number of time indices used (0: to the end)", "DaisiFilterVar3dSetParams", p.count, &p.count, NULL));
  PetscCall(PetscOptionsInt("-var3d_climatology_members", "Members of an ensemble climatology file used (0: all)", "DaisiFilterVar3dSetParams", p.members, &p.members, NULL));
  PetscCall(PetscOptionsString("-var3d_b_file", "B file to read instead of estimating (written by -var3d_b_save)", "DaisiFilterVar3dSetParams", p.bfile, p.bfile, sizeof(p.bfile), NULL));
  PetscCall(PetscOptionsString("-var3d_b_save", "Write the estimated covariance blocks to this file at set-up", "DaisiFilterVar3dSetParams", p.bsave, p.bsave, sizeof(p.bsave), NULL));
  PetscCall(PetscOptionsReal("-var3d_shrinkage", "Shrinkage a of each kx block towards its diagonal: (1 - a) S + a diag(S)", "DaisiFilterVar3dSetParams", p.shrinkage, &p.shrinkage, NULL));
  PetscCall(PetscOptionsReal("-var3d_b_scale", "Scalar factor s of B = s S", "DaisiFilterVar3dSetParams", p.bscale, &p.bscale, NULL));
  PetscCall(DaisiFilterReadChoice(PetscOptionsObject, "DaisiFilterVar3dSetParams", "-var3d_tao", "TAO minimiser (lmvm, blmvm)", DaisiFilterVar3dSolvers, &solver));
  PetscCall(PetscOptionsInt("-var3d_max_it", "Maximum TAO iterations per minimisation", "DaisiFilterVar3dSetParams", p.max_it, &p.max_it, NULL));
  PetscCall(PetscOptionsReal("-var3d_gatol", "Stop when |grad J| <= gatol", "DaisiFilterVar3dSetParams", p.gatol, &p.gatol, NULL));
  PetscCall(PetscOptionsReal("-var3d_gttol", "Stop when |grad J| <= gttol |grad J(v = 0)|", "DaisiFilterVar3dSetParams", p.gttol, &p.gttol, NULL));
  PetscCall(PetscOptionsBool("-var3d_monitor", "Print one line per minimisation (iterations, J, gradient reduction)", "DaisiFilterVar3dSetParams", p.monitor, &p.monitor, NULL));
  PetscOptionsHeadEnd();
  p.mode   = (DaisiFilterVar3dMode)mode;
  p.solver = solver;
  PetscCall(DaisiFilterVar3dSetParams(f, &p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Spectral layout: 1-D FFT in x on the rows, transposes to and from the kx blocks
 * ------------------------------------------------------------------------------------- */
static inline PetscBool IsEdge(const Filter_Var3d *d, PetscInt kx)
{
  return (PetscBool)(kx == 0 || 2 * kx == d->nx);
}

/* field (slab, real) -> Z (my kx, complex, unnormalised DFT in x) */
static PetscErrorCode ToSpectral(Filter_Var3d *d, const PetscReal x[])
{
  const PetscInt nyl = d->c.grid.nyl, nl = d->nlev, nxh = d->nxh;

  PetscFunctionBegin;
  if (nyl > 0) {
    PetscCall(PetscArraycpy(d->rbuf, x, d->c.n));
    fftw_execute(d->fwd);
  }
  /* pack for rank r: [kx of r][lev][my rows] */
  for (PetscMPIInt r = 0; r < d->c.P; r++) {
    double *s = d->sbuf + d->d1[r];
    for (PetscInt k = 0; k < d->rnk[r]; k++)
      for (PetscInt l = 0; l < nl; l++)
        for (PetscInt j = 0; j < nyl; j++, s += 2) {
          const double *c = d->cbuf + 2 * ((l * nyl + j) * nxh + d->rk0[r] + k);
          s[0]            = c[0];
          s[1]            = c[1];
        }
  }
  PetscCallMPI(MPI_Alltoallv(d->sbuf, d->c1, d->d1, MPI_DOUBLE, d->tbuf, d->c2, d->d2, MPI_DOUBLE, d->c.group));
  for (PetscMPIInt r = 0; r < d->c.P; r++) {
    const double *s = d->tbuf + d->d2[r];
    for (PetscInt k = 0; k < d->nk; k++)
      for (PetscInt l = 0; l < nl; l++)
        for (PetscInt j = 0; j < d->rnyl[r]; j++, s += 2) {
          double *z = d->Z + 2 * (k * d->n2 + l * d->ny + d->ry0[r] + j);
          z[0]      = s[0];
          z[1]      = s[1];
        }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Z (my kx) -> field (slab): x = scale * inverse real DFT (unnormalised) */
static PetscErrorCode FromSpectral(Filter_Var3d *d, PetscReal scale, PetscReal x[])
{
  const PetscInt nyl = d->c.grid.nyl, nl = d->nlev, nxh = d->nxh;

  PetscFunctionBegin;
  for (PetscMPIInt r = 0; r < d->c.P; r++) {
    double *s = d->tbuf + d->d2[r];
    for (PetscInt k = 0; k < d->nk; k++)
      for (PetscInt l = 0; l < nl; l++)
        for (PetscInt j = 0; j < d->rnyl[r]; j++, s += 2) {
          const double *z = d->Z + 2 * (k * d->n2 + l * d->ny + d->ry0[r] + j);
          s[0]            = z[0];
          s[1]            = z[1];
        }
  }
  PetscCallMPI(MPI_Alltoallv(d->tbuf, d->c2, d->d2, MPI_DOUBLE, d->sbuf, d->c1, d->d1, MPI_DOUBLE, d->c.group));
  for (PetscMPIInt r = 0; r < d->c.P; r++) {
    const double *s = d->sbuf + d->d1[r];
    for (PetscInt k = 0; k < d->rnk[r]; k++)
      for (PetscInt l = 0; l < nl; l++)
        for (PetscInt j = 0; j < nyl; j++, s += 2) {
          double *c = d->cbuf + 2 * ((l * nyl + j) * nxh + d->rk0[r] + k);
          c[0]      = s[0];
          c[1]      = s[1];
        }
  }
  if (nyl > 0) {
    fftw_execute(d->bwd);
    for (PetscInt i = 0; i < d->c.n; i++) x[i] = scale * d->rbuf[i];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* dx = B^1/2 v (v: local control values) */
static PetscErrorCode SqrtB(Filter_Var3d *d, const PetscReal v[], PetscReal dx[])
{
  const PetscBLASInt n2 = (PetscBLASInt)d->n2, one = 1;
  const double       ze[2] = {0, 0}, ae = PetscSqrtReal((PetscReal)d->nx), ai[2] = {PetscSqrtReal(0.5 * d->nx), 0}, zr = 0;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterVar3dSqrtB, 0, 0, 0, 0));
  for (PetscInt k = 0; k < d->nk; k++) {
    const double *Lk = d->L + 2 * (size_t)d->n2 * d->n2 * k;
    const double *vk = v + d->voff[k];
    double       *z  = d->Z + 2 * d->n2 * k;
    if (IsEdge(d, d->k0 + k)) {
      dgemv_("N", &n2, &n2, &ae, Lk, &n2, vk, &one, &zr, d->wv, &one);
      for (PetscInt i = 0; i < d->n2; i++) {
        z[2 * i]     = d->wv[i];
        z[2 * i + 1] = 0;
      }
    } else {
      for (PetscInt i = 0; i < d->n2; i++) {
        d->wv[2 * i]     = vk[i];
        d->wv[2 * i + 1] = vk[d->n2 + i];
      }
      zgemv_("N", &n2, &n2, ai, Lk, &n2, d->wv, &one, ze, z, &one);
    }
  }
  PetscCall(FromSpectral(d, 1.0 / d->nx, dx));
  PetscCall(PetscLogFlops(8.0 * d->n2 * d->n2 * d->nk));
  PetscCall(PetscLogEventEnd(DAISI_FilterVar3dSqrtB, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* v = B^T/2 g (g: field in the slab) */
static PetscErrorCode SqrtBT(Filter_Var3d *d, const PetscReal g[], PetscReal v[])
{
  const PetscBLASInt n2 = (PetscBLASInt)d->n2, one = 1;
  const double       ze[2] = {0, 0}, ae = 1.0 / PetscSqrtReal((PetscReal)d->nx), ai[2] = {PetscSqrtReal(2.0 / d->nx), 0}, zr = 0;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterVar3dSqrtB, 0, 0, 0, 0));
  PetscCall(ToSpectral(d, g));
  for (PetscInt k = 0; k < d->nk; k++) {
    const double *Lk = d->L + 2 * (size_t)d->n2 * d->n2 * k;
    const double *z  = d->Z + 2 * d->n2 * k;
    double       *vk = v + d->voff[k];
    if (IsEdge(d, d->k0 + k)) {
      for (PetscInt i = 0; i < d->n2; i++) d->wv[i] = z[2 * i]; /* real at kx = 0 and Nyquist */
      dgemv_("T", &n2, &n2, &ae, Lk, &n2, d->wv, &one, &zr, vk, &one);
    } else {
      zgemv_("C", &n2, &n2, ai, Lk, &n2, z, &one, ze, d->wv, &one);
      for (PetscInt i = 0; i < d->n2; i++) {
        vk[i]         = d->wv[2 * i];
        vk[d->n2 + i] = d->wv[2 * i + 1];
      }
    }
  }
  PetscCall(PetscLogFlops(8.0 * d->n2 * d->n2 * d->nk));
  PetscCall(PetscLogEventEnd(DAISI_FilterVar3dSqrtB, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * B: estimation from states, the B file, shrinkage, scale and square roots
 * ------------------------------------------------------------------------------------- */
/* the blocks S (my kx, n2 x n2 complex column-major, lower triangle valid) from the climatology
 * file, on this group (collective over the group) */
static PetscErrorCode EstimateBlocks(DaisiFilter f, double S[])
{
  Filter_Var3d                 *d  = (Filter_Var3d *)f->data;
  const DaisiFilterVar3dParams *p  = &f->var3d;
  const PetscInt                n2 = d->n2;
  DaisiStateFile                sf;
  PetscInt                      ntime, nmem, count, nm, ns = 0;
  PetscReal                    *x;
  double                       *Y, *sum0;
  const double                  one = 1.0;

  PetscFunctionBegin;
  PetscCall(DaisiStateFileCreate(d->c.group, &sf));
  PetscCall(DaisiStateFileSetGrid(sf, &d->c.grid));
  PetscCall(DaisiStateFileOpen(sf, p->climatology, DAISI_FILE_READ));
  PetscCall(DaisiStateFileGetSizes(sf, &ntime, &nmem, NULL, NULL, NULL));
  count = p->count ? p->count : (ntime - p->first + p->stride - 1) / p->stride;
  nm    = nmem ? (p->members ? p->members : nmem) : 1;
  PetscCall(PetscMalloc3(d->c.n + 1, &x, 2 * (size_t)n2 * VAR3D_CHUNK * PetscMax(d->nk, 1), &Y, n2 + 1, &sum0));
  PetscCall(PetscArrayzero(S, 2 * (size_t)n2 * n2 * d->nk));
  PetscCall(PetscArrayzero(sum0, n2 + 1));
  for (PetscInt t = 0; t < count; t++) {
    for (PetscInt m = 0; m < nm; m++) {
      if (nmem) PetscCall(DaisiStateFileReadMember(sf, p->first + t * p->stride, m, NULL, x));
      else PetscCall(DaisiStateFileRead(sf, p->first + t * p->stride, NULL, x));
      PetscCall(ToSpectral(d, x));
      for (PetscInt k = 0; k < d->nk; k++) PetscCall(PetscArraycpy(Y + 2 * ((size_t)n2 * (VAR3D_CHUNK * k + ns)), d->Z + 2 * n2 * k, 2 * n2));
      if (d->nk && d->k0 == 0)
        for (PetscInt i = 0; i < n2; i++) sum0[i] += d->Z[2 * i];
      ns++;
      if (ns == VAR3D_CHUNK || (t == count - 1 && m == nm - 1)) {
        const PetscBLASInt bn = (PetscBLASInt)n2, bk = (PetscBLASInt)ns;
        for (PetscInt k = 0; k < d->nk; k++) zherk_("L", "N", &bn, &bk, &one, Y + 2 * (size_t)n2 * VAR3D_CHUNK * k, &bn, &one, S + 2 * (size_t)n2 * n2 * k, &bn);
        PetscCall(PetscLogFlops(4.0 * n2 * n2 * ns * d->nk));
        ns = 0;
      }
    }
  }
  PetscCall(DaisiStateFileClose(sf));
  PetscCall(DaisiStateFileDestroy(&sf));
  d->nsamples = (PetscInt64)count * nm;
  /* 1/K normalisation, unitary convention (/ nx); kx = 0 about the sample mean */
  for (PetscInt k = 0; k < d->nk; k++) {
    double *Sk = S + 2 * (size_t)n2 * n2 * k;
    for (PetscInt j = 0; j < n2; j++)
      for (PetscInt i = j; i < n2; i++) {
        double *s = Sk + 2 * (i + (size_t)n2 * j);
        if (d->k0 + k == 0) s[0] -= sum0[i] * sum0[j] / (double)d->nsamples;
        s[0] /= (double)d->nsamples * d->nx;
        s[1] /= (double)d->nsamples * d->nx;
      }
  }
  PetscCall(PetscFree3(x, Y, sum0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* rank 0 of the world checks a B file's header against the grid; every rank gets the verdict */
static PetscErrorCode CheckBFile(DaisiFilter f, const char path[])
{
  Filter_Var3d *d = (Filter_Var3d *)f->data;
  hid_t         file;
  char          fmt[64];
  PetscBool     found, f1, f2, f3, found2;
  PetscInt64    ver = 0, nl = 0, ny = 0, nx = 0;

  PetscFunctionBegin;
  PetscCall(DaisiH5FileOpen(d->c.world, path, PETSC_FALSE, &file));
  PetscCall(DaisiH5ReadAttrString(d->c.world, file, "daisi_format", fmt, sizeof(fmt), &found, path));
  if (!found || strcmp(fmt, VAR3D_B_FORMAT)) {
    DaisiH5Close(&file);
    SETERRQ(d->c.world, PETSC_ERR_FILE_UNEXPECTED, "-var3d_b_file %s is not a 3DVar B file (root attribute daisi_format = \"%s\" expected; write one with -var3d_b_save)", path, VAR3D_B_FORMAT);
  }
  PetscCall(DaisiH5ReadAttrInt64(d->c.world, file, "format_version", &ver, &found, path));
  PetscCall(DaisiH5ReadAttrInt64(d->c.world, file, "nlev", &nl, &f1, path));
  PetscCall(DaisiH5ReadAttrInt64(d->c.world, file, "ny", &ny, &f2, path));
  PetscCall(DaisiH5ReadAttrInt64(d->c.world, file, "nx", &nx, &f3, path));
  PetscCall(DaisiH5ReadAttrInt64(d->c.world, file, "nsamples", &d->nsamples, &found2, path));
  DaisiH5Close(&file);
  PetscCheck(found && ver == VAR3D_B_FORMAT_VERSION, d->c.world, PETSC_ERR_FILE_UNEXPECTED, "-var3d_b_file %s has format version %" PetscInt64_FMT ", this program reads version %d", path, ver, VAR3D_B_FORMAT_VERSION);
  PetscCheck(f1 && f2 && f3, d->c.world, PETSC_ERR_FILE_UNEXPECTED, "-var3d_b_file %s lacks its grid attributes (nlev, ny, nx)", path);
  PetscCheck(nl == d->nlev && ny == d->ny && nx == d->nx, d->c.world, PETSC_ERR_ARG_INCOMP, "-var3d_b_file %s holds B for %" PetscInt64_FMT " level(s) on %" PetscInt64_FMT " x %" PetscInt64_FMT ", the model grid is %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT, path, nl, ny, nx, d->nlev, d->ny, d->nx);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the dataset covariance (nxh, n2, n2, 2): S(kx)[i][j] = S_ij, rows i; my kx (collective over the group) */
static PetscErrorCode BFileIO(Filter_Var3d *d, const char path[], PetscBool write, double S[], const char source[])
{
  hid_t           file = H5I_INVALID_HID, dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t         dims[4] = {(hsize_t)d->nxh, (hsize_t)d->n2, (hsize_t)d->n2, 2}, start[4] = {(hsize_t)d->k0, 0, 0, 0}, cnt[4] = {(hsize_t)d->nk, (hsize_t)d->n2, (hsize_t)d->n2, 2};
  herr_t          st = 0;
  DaisiOutputName out;
  double         *buf;
  const size_t    nb = 2 * (size_t)d->n2 * d->n2;

  PetscFunctionBegin;
  /* row-major (i, j) in the file; column-major in memory: transpose through a buffer */
  PetscCall(PetscMalloc1(nb * d->nk + 1, &buf));
  if (write) {
    for (PetscInt k = 0; k < d->nk; k++)
      for (PetscInt i = 0; i < d->n2; i++)
        for (PetscInt j = 0; j < d->n2; j++) {
          /* lower triangle valid: S_ij = conj(S_ji) above the diagonal */
          const double *s = S + nb * k + 2 * (i >= j ? i + (size_t)d->n2 * j : j + (size_t)d->n2 * i);
          buf[nb * k + 2 * (i * (size_t)d->n2 + j)]     = s[0];
          buf[nb * k + 2 * (i * (size_t)d->n2 + j) + 1] = i >= j ? s[1] : -s[1];
        }
    PetscCall(DaisiOutputNameInit(d->c.group, path, &out));
    PetscCall(DaisiH5FileCreate(d->c.group, out.tmp, &file));
    PetscCall(DaisiH5WriteAttrString(d->c.group, file, "daisi_format", VAR3D_B_FORMAT, out.tmp));
    PetscCall(DaisiH5WriteAttrInt64(d->c.group, file, "format_version", VAR3D_B_FORMAT_VERSION, out.tmp));
    PetscCall(DaisiH5WriteAttrString(d->c.group, file, "title", "DAISI 3DVar B: covariance blocks S(kx) over (level, y), S = E[X X^H] / nx with X the DFT in x; before shrinkage and scale", out.tmp));
    PetscCall(DaisiH5WriteAttrInt64(d->c.group, file, "nsamples", d->nsamples, out.tmp));
    PetscCall(DaisiH5WriteAttrInt64(d->c.group, file, "nlev", d->nlev, out.tmp));
    PetscCall(DaisiH5WriteAttrInt64(d->c.group, file, "ny", d->ny, out.tmp));
    PetscCall(DaisiH5WriteAttrInt64(d->c.group, file, "nx", d->nx, out.tmp));
    PetscCall(DaisiH5WriteAttrString(d->c.group, file, "source", source, out.tmp));
    fspace = H5Screate_simple(4, dims, NULL);
    dset   = H5Dcreate2(file, "covariance", H5T_IEEE_F64LE, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset < 0) st = -1;
  } else {
    int rank;
    PetscCall(DaisiH5FileOpen(d->c.group, path, PETSC_FALSE, &file));
    PetscCall(DaisiH5OpenDataset(d->c.group, file, "covariance", path, &dset, &rank, dims, 4));
    if (rank != 4 || dims[0] != (hsize_t)d->nxh || dims[1] != (hsize_t)d->n2 || dims[2] != (hsize_t)d->n2 || dims[3] != 2) {
      DaisiH5Close(&dset);
      DaisiH5Close(&file);
      PetscCall(PetscFree(buf));
      SETERRQ(d->c.group, PETSC_ERR_FILE_UNEXPECTED, "-var3d_b_file %s: dataset covariance must be (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT ", 2)", path, d->nxh, d->n2, d->n2);
    }
    fspace = H5Dget_space(dset);
  }
  if (st >= 0) st = d->nk > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) : H5Sselect_none(fspace);
  {
    hsize_t n1 = (hsize_t)PetscMax(1, nb * d->nk);
    mspace     = H5Screate_simple(1, &n1, NULL);
    if (d->nk == 0) (void)H5Sselect_none(mspace);
  }
  PetscCall(DaisiH5CreateCollectiveTransfer(d->c.group, &dxpl));
  if (st >= 0) st = write ? H5Dwrite(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, buf) : H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, buf);
  DaisiH5Close(&dxpl);
  DaisiH5Close(&mspace);
  DaisiH5Close(&fspace);
  DaisiH5Close(&dset);
  if (write) {
    if (H5Fclose(file) < 0) st = -1;
    if (st < 0) PetscCall(DaisiOutputNameDiscard(&out));
    DaisiH5Check(st, d->c.group, "cannot write the 3DVar B file %s", path);
    PetscCall(DaisiOutputNameCommit(&out));
  } else {
    DaisiH5Close(&file);
    DaisiH5Check(st, d->c.group, "-var3d_b_file %s: cannot read the covariance", path);
    for (PetscInt k = 0; k < d->nk; k++)
      for (PetscInt i = 0; i < d->n2; i++)
        for (PetscInt j = 0; j < d->n2; j++) {
          S[nb * k + 2 * (i + (size_t)d->n2 * j)]     = buf[nb * k + 2 * (i * (size_t)d->n2 + j)];
          S[nb * k + 2 * (i + (size_t)d->n2 * j) + 1] = buf[nb * k + 2 * (i * (size_t)d->n2 + j) + 1];
        }
  }
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* shrinkage, scale, eigen-decomposition: S (lower triangles) -> L = V Lam^1/2 per block */
static PetscErrorCode Factorize(DaisiFilter f, double S[])
{
  Filter_Var3d                 *d  = (Filter_Var3d *)f->data;
  const DaisiFilterVar3dParams *p  = &f->var3d;
  const PetscInt                n2 = d->n2;
  const PetscBLASInt            bn = (PetscBLASInt)n2;
  const size_t                  nb = 2 * (size_t)n2 * n2;
  PetscBLASInt                  lwork, info = 0;
  double                       *work, *rwork, *A, *w;
  PetscReal                     loc[2] = {PETSC_MAX_REAL, -PETSC_MAX_REAL}, tr = 0;

  PetscFunctionBegin;
  lwork = (PetscBLASInt)(66 * n2);
  PetscCall(PetscMalloc4(2 * (size_t)lwork, &work, 3 * (size_t)n2, &rwork, nb, &A, n2, &w));
  for (PetscInt k = 0; k < d->nk; k++) {
    double         *Sk = S + nb * k, *Lk = d->L + nb * k;
    const PetscBool edge = IsEdge(d, d->k0 + k);
    PetscCall(DaisiCheckFinite(PETSC_COMM_SELF, (PetscInt)nb, Sk, "3DVar covariance block"));
    for (PetscInt j = 0; j < n2; j++)
      for (PetscInt i = j; i < n2; i++) {
        const double   fac = i == j ? p->bscale : p->bscale * (1 - p->shrinkage);
        const double  *s   = Sk + 2 * (i + (size_t)n2 * j);
        if (edge) A[i + (size_t)n2 * j] = fac * s[0];
        else {
          A[2 * (i + (size_t)n2 * j)]     = fac * s[0];
          A[2 * (i + (size_t)n2 * j) + 1] = i == j ? 0 : fac * s[1];
        }
      }
    if (edge) {
      dsyev_("V", "L", &bn, A, &bn, w, work, &lwork, &info);
      PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK dsyev failed on the 3DVar covariance block kx = %" PetscInt_FMT " (info %d)", d->k0 + k, (int)info);
    } else {
      zheev_("V", "L", &bn, A, &bn, w, work, &lwork, rwork, &info);
      PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK zheev failed on the 3DVar covariance block kx = %" PetscInt_FMT " (info %d)", d->k0 + k, (int)info);
    }
    for (PetscInt c = 0; c < n2; c++) {
      const double lam = w[c], sq = lam > 0 ? PetscSqrtReal(lam) : 0;
      loc[0] = PetscMin(loc[0], lam);
      loc[1] = PetscMax(loc[1], lam);
      tr += (edge ? 1 : 2) * lam;
      d->lam[k * n2 + c] = lam;
      if (edge)
        for (PetscInt i = 0; i < n2; i++) Lk[i + (size_t)n2 * c] = A[i + (size_t)n2 * c] * sq;
      else
        for (PetscInt i = 0; i < 2 * n2; i++) Lk[2 * (size_t)n2 * c + i] = A[2 * (size_t)n2 * c + i] * sq;
    }
  }
  PetscCall(PetscFree4(work, rwork, A, w));
  {
    PetscReal mm[2] = {-loc[0], loc[1]}, mmg[2], ss[2] = {tr, 0}, ssg[2];
    PetscCall(MPIU_Allreduce(mm, mmg, 2, MPIU_REAL, MPIU_MAX, d->c.group));
    /* rank deficiency: eigenvalues below 1e-12 of the largest (a sample covariance of K < n2
     * states has n2 - K of them per block; they contribute nothing to B^1/2) */
    for (PetscInt i = 0; i < d->nk * n2; i++)
      if (d->lam[i] <= 1e-12 * mmg[1]) ss[1]++;
    PetscCall(MPIU_Allreduce(ss, ssg, 2, MPIU_REAL, MPIU_SUM, d->c.group));
    d->lmin  = -mmg[0];
    d->lmax  = mmg[1];
    d->trace = ssg[0] / ((PetscReal)d->nx * n2);
    d->nzero = (PetscInt)ssg[1];
    PetscCheck(d->lmin >= -1e-10 * d->lmax, d->c.group, PETSC_ERR_ARG_WRONG, "the 3DVar covariance is not positive semidefinite: eigenvalue %g (largest %g)%s%s", (double)d->lmin, (double)d->lmax, f->var3d.bfile[0] ? " in -var3d_b_file " : "", f->var3d.bfile);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Set-up for an ensemble: layout, FFT plans, B
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode ClimatologyCheck(DaisiFilter f, PetscInt64 *nsamples)
{
  Filter_Var3d                 *d = (Filter_Var3d *)f->data;
  const DaisiFilterVar3dParams *p = &f->var3d;
  DaisiGrid                     fg;
  PetscInt                      ntime, nmem, count;
  PetscBool                     exists;

  PetscFunctionBegin;
  PetscCall(DaisiFileExists(d->c.world, p->climatology, &exists));
  PetscCheck(exists, d->c.world, PETSC_ERR_FILE_OPEN, "-var3d_climatology %s: no such file (a nature-run state file from daisi-nature is expected)", p->climatology);
  PetscCall(DaisiStateFileQuery(d->c.world, p->climatology, &fg, &ntime, &nmem));
  PetscCheck(fg.nlev == d->nlev && fg.ny == d->ny && fg.nx == d->nx, d->c.world, PETSC_ERR_ARG_SIZ, "-var3d_climatology %s holds states of %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT ", the model grid is %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT, p->climatology, fg.nlev, fg.ny, fg.nx, d->nlev, d->ny, d->nx);
  PetscCheck(p->first < ntime, d->c.world, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology_first %" PetscInt_FMT " is beyond the %" PetscInt_FMT " time(s) of %s", p->first, ntime, p->climatology);
  count = p->count ? p->count : (ntime - p->first + p->stride - 1) / p->stride;
  PetscCheck(p->first + (count - 1) * p->stride < ntime, d->c.world, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology_count %" PetscInt_FMT " (with _first %" PetscInt_FMT ", _stride %" PetscInt_FMT ") reaches time index %" PetscInt_FMT ", but %s has %" PetscInt_FMT " time(s)", count, p->first, p->stride, p->first + (count - 1) * p->stride, p->climatology, ntime);
  PetscCheck(nmem > 0 || p->members == 0, d->c.world, PETSC_ERR_ARG_INCOMP, "-var3d_climatology_members %" PetscInt_FMT ": %s is not an ensemble file", p->members, p->climatology);
  PetscCheck(p->members <= nmem, d->c.world, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology_members %" PetscInt_FMT ": %s has only %" PetscInt_FMT " members", p->members, p->climatology, nmem);
  *nsamples = (PetscInt64)count * (nmem ? (p->members ? p->members : nmem) : 1);
  PetscCheck(*nsamples >= 2, d->c.world, PETSC_ERR_ARG_OUTOFRANGE, "-var3d_climatology %s: %" PetscInt64_FMT " state(s) selected; at least 2 are needed to estimate a covariance", p->climatology, *nsamples);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Solve(DaisiFilter, PetscInt, const PetscReal[], PetscReal[]);

static PetscErrorCode SetUpForEnsemble(DaisiFilter f, DaisiEnsemble e)
{
  Filter_Var3d                 *d = (Filter_Var3d *)f->data;
  const DaisiFilterVar3dParams *p = &f->var3d;
  DaisiEnsembleInfo             info;
  PetscInt                      rows[2];
  PetscInt64                    nsamples = 0;
  double                       *S        = NULL;
  PetscErrorCode                ierr     = PETSC_SUCCESS;
  PetscInt                      bad;
  size_t                        nb;

  PetscFunctionBegin;
  if (d->c.ens == e) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!d->c.ens, f->comm, PETSC_ERR_ARG_WRONG, "this 3dvar filter was set up for another ensemble");
  PetscCall(PetscLogEventBegin(DAISI_FilterVar3dSetUp, 0, 0, 0, 0));
  PetscCall(DaisiEnsembleGetInfo(e, &info));
  PetscCall(DaisiVarCoreSetUp(&d->c, DAISI_FILTER_VAR3D, e, Solve));
  PetscCheck(d->c.grid.nx >= 2, d->c.world, PETSC_ERR_ARG_WRONG, "the 3dvar filter needs a gridded model (nx >= 2), got %" PetscInt_FMT " x %" PetscInt_FMT, d->c.grid.ny, d->c.grid.nx);
  PetscCheck(p->climatology[0] || p->bfile[0], d->c.world, PETSC_ERR_USER_INPUT, "the 3dvar filter needs its background covariance B: -var3d_climatology NATURE.h5 (estimated from those states) or -var3d_b_file FILE (written by -var3d_b_save)");
  PetscCheck(!(p->climatology[0] && p->bfile[0]), d->c.world, PETSC_ERR_ARG_INCOMP, "-var3d_climatology %s and -var3d_b_file %s both give B: give one of them", p->climatology, p->bfile);
  d->nx     = d->c.grid.nx;
  d->ny     = d->c.grid.ny;
  d->nlev   = d->c.grid.nlev;
  d->nxh    = d->nx / 2 + 1;
  d->n2     = d->nlev * d->ny;
  nb        = 2 * (size_t)d->n2 * d->n2;
  /* rows of every group rank; kx dealt out in contiguous blocks */
  PetscCall(PetscMalloc4(d->c.P, &d->ry0, d->c.P, &d->rnyl, d->c.P, &d->rk0, d->c.P, &d->rnk));
  PetscCall(PetscMalloc4(d->c.P, &d->c1, d->c.P, &d->d1, d->c.P, &d->c2, d->c.P, &d->d2));
  {
    PetscInt *all;
    PetscCall(PetscMalloc1(2 * d->c.P, &all));
    rows[0] = d->c.grid.y0;
    rows[1] = d->c.grid.nyl;
    PetscCallMPI(MPI_Allgather(rows, 2, MPIU_INT, all, 2, MPIU_INT, d->c.group));
    for (PetscMPIInt r = 0, k = 0; r < d->c.P; r++) {
      d->ry0[r]  = all[2 * r];
      d->rnyl[r] = all[2 * r + 1];
      d->rnk[r]  = d->nxh / d->c.P + (r < d->nxh % d->c.P ? 1 : 0);
      d->rk0[r]  = k;
      k += d->rnk[r];
    }
    PetscCall(PetscFree(all));
  }
  d->k0 = d->rk0[d->c.prank];
  d->nk = d->rnk[d->c.prank];
  {
    PetscInt o1 = 0, o2 = 0;
    for (PetscMPIInt r = 0; r < d->c.P; r++) {
      d->c1[r] = (PetscMPIInt)(2 * d->nlev * d->c.grid.nyl * d->rnk[r]);
      d->d1[r] = (PetscMPIInt)o1;
      d->c2[r] = (PetscMPIInt)(2 * d->nlev * d->rnyl[r] * d->nk);
      d->d2[r] = (PetscMPIInt)o2;
      o1 += d->c1[r];
      o2 += d->c2[r];
    }
    PetscCall(PetscMalloc1(d->nk + 1, &d->voff));
    d->nv = 0;
    for (PetscInt k = 0; k < d->nk; k++) {
      d->voff[k] = d->nv;
      d->nv += (IsEdge(d, d->k0 + k) ? 1 : 2) * d->n2;
    }
    PetscCall(PetscMalloc6(d->c.n + 1, &d->rbuf, 2 * (size_t)d->nlev * d->c.grid.nyl * d->nxh + 2, &d->cbuf, (size_t)o1 + 2, &d->sbuf, (size_t)o2 + 2, &d->tbuf, 2 * (size_t)d->n2 * d->nk + 2, &d->Z, 2 * (size_t)d->n2, &d->wv));
  }
  if (d->c.grid.nyl > 0) {
    int nxi = (int)d->nx;
    d->fwd  = fftw_plan_many_dft_r2c(1, &nxi, (int)(d->nlev * d->c.grid.nyl), d->rbuf, NULL, 1, nxi, (fftw_complex *)d->cbuf, NULL, 1, (int)d->nxh, FFTW_ESTIMATE);
    d->bwd  = fftw_plan_many_dft_c2r(1, &nxi, (int)(d->nlev * d->c.grid.nyl), (fftw_complex *)d->cbuf, NULL, 1, (int)d->nxh, d->rbuf, NULL, 1, nxi, FFTW_ESTIMATE);
    PetscCheck(d->fwd && d->bwd, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan the 1-D transforms of length %" PetscInt_FMT " for 3dvar", d->nx);
  }
  /* B: group 0 estimates or reads the blocks, every group gets them over the slab communicator */
  if (p->climatology[0]) PetscCall(ClimatologyCheck(f, &nsamples));
  else PetscCall(CheckBFile(f, p->bfile));
  PetscCall(PetscMalloc1(nb * d->nk + 1, &S));
  PetscCall(PetscMalloc1(nb * d->nk + 1, &d->L));
  PetscCall(PetscMalloc1(d->nk * d->n2 + 1, &d->lam));
  if (d->c.gindex == 0) {
    ierr = p->climatology[0] ? EstimateBlocks(f, S) : BFileIO(d, p->bfile, PETSC_FALSE, S, p->bfile);
    if (!ierr && p->bsave[0]) ierr = BFileIO(d, p->bsave, PETSC_TRUE, S, p->climatology[0] ? p->climatology : p->bfile);
  }
  bad = ierr ? 1 : 0;
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_MAX, d->c.world));
  if (bad) PetscCall(PetscFree(S));
  PetscCheck(!bad, d->c.world, ierr ? ierr : PETSC_ERR_LIB, "3dvar: making B failed (see the first error above)");
  if (info.G > 1) {
    PetscCallMPI(MPI_Bcast(S, (PetscMPIInt)(nb * d->nk), MPI_DOUBLE, 0, d->c.slab));
    PetscCallMPI(MPI_Bcast(&d->nsamples, 1, MPIU_INT64, 0, d->c.slab));
  }
  ierr = Factorize(f, S);
  PetscCall(PetscFree(S));
  PetscCall(ierr);
  PetscCall(PetscMalloc4(d->c.n + 1, &d->xb, d->c.n + 1, &d->x, d->c.n + 1, &d->gx, d->ny + d->nxh, &d->part));
  PetscCall(VecCreateMPI(d->c.group, d->nv, PETSC_DETERMINE, &d->v));
  d->c.nv  = d->nv;
  d->c.ens = e;
  PetscCall(PetscLogEventEnd(DAISI_FilterVar3dSetUp, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The objective and the solve
 * ------------------------------------------------------------------------------------- */
/* J(v) and g = grad J(v) (g NULL on every rank of the group or on none) for the background d->xb and observation values
 * d->c.ob.yp; x = xb + B^1/2 v is left in d->x. Collective over the group. */
static PetscErrorCode Objective(Filter_Var3d *d, const PetscReal v[], PetscReal *J, PetscReal g[])
{
  const PetscInt ny = d->ny;
  PetscReal      jo, jb;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterVar3dObjective, 0, 0, 0, 0));
  PetscCall(SqrtB(d, v, d->x));
  for (PetscInt i = 0; i < d->c.n; i++) d->x[i] += d->xb[i];
  PetscCall(PetscArrayzero(d->part, ny + d->nxh));
  PetscCall(DaisiVarObsCost(&d->c.ob, d->x, d->part));
  for (PetscInt k = 0; k < d->nk; k++) {
    const PetscInt n = (IsEdge(d, d->k0 + k) ? 1 : 2) * d->n2;
    PetscReal      s = 0;
    for (PetscInt i = 0; i < n; i++) s += v[d->voff[k] + i] * v[d->voff[k] + i];
    d->part[ny + d->k0 + k] = s;
  }
  /* one contribution per entry: exact, then added in row and kx order (independent of P) */
  PetscCall(DaisiVarSumParts(d->c.group, ny + d->nxh, d->part, ny, &jo, &jb));
  *J = 0.5 * (jb + jo);
  if (g) {
    PetscCall(DaisiVarObsGradient(&d->c.ob, d->c.n, d->gx));
    PetscCall(SqrtBT(d, d->gx, g));
    for (PetscInt i = 0; i < d->nv; i++) g[i] += v[i];
  }
  PetscCall(PetscLogFlops(3.0 * d->c.n + 6.0 * d->c.ob.nown + 2.0 * d->nv));
  PetscCall(PetscLogEventEnd(DAISI_FilterVar3dObjective, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ObjectiveFn(void *ctx, const PetscReal v[], PetscReal *J, PetscReal g[])
{
  PetscFunctionBegin;
  PetscCall(Objective((Filter_Var3d *)ctx, v, J, g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Background(DaisiFilter f, const PetscReal xb[])
{
  Filter_Var3d *d = (Filter_Var3d *)f->data;

  PetscFunctionBegin;
  PetscCall(PetscArraycpy(d->xb, xb, d->c.n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* xa = xb + B^1/2 argmin J, for the observation values d->c.ob.yp; member < 0: the ensemble mean
 * (for the monitor) */
static PetscErrorCode Solve(DaisiFilter f, PetscInt member, const PetscReal xb[], PetscReal xa[])
{
  Filter_Var3d      *d = (Filter_Var3d *)f->data;
  const PetscScalar *v;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterVar3dSolve, 0, 0, 0, 0));
  PetscCall(Background(f, xb));
  PetscCall(DaisiVarMinimize(f, &d->c, d->v, ObjectiveFn, d, 1e-6, 0, member));
  PetscCall(VecGetArrayRead(d->v, &v));
  PetscCall(SqrtB(d, v, xa));
  PetscCall(VecRestoreArrayRead(d->v, &v));
  for (PetscInt i = 0; i < d->c.n; i++) xa[i] += d->xb[i];
  PetscCall(PetscLogEventEnd(DAISI_FilterVar3dSolve, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Tests and diagnostics
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode Prepare(DaisiFilter f, DaisiEnsemble e, Filter_Var3d **d)
{
  DaisiVarCore *c = NULL;

  PetscFunctionBegin;
  PetscCall(DaisiVarPrepare(f, DAISI_FILTER_VAR3D, e, &c));
  *d = (Filter_Var3d *)c;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dGetControlSize(DaisiFilter f, DaisiEnsemble e, PetscInt *nv)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarGetControlSize(f, DAISI_FILTER_VAR3D, e, nv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dObjective(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs, const PetscReal xb[], const PetscReal v[], PetscReal *J, PetscReal g[])
{
  PetscFunctionBegin;
  PetscCall(DaisiVarObjectiveAt(f, DAISI_FILTER_VAR3D, e, obs, xb, v, J, g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dApplySqrtB(DaisiFilter f, DaisiEnsemble e, const PetscReal v[], PetscReal dx[])
{
  Filter_Var3d *d = NULL;

  PetscFunctionBegin;
  PetscCall(Prepare(f, e, &d));
  PetscCall(SqrtB(d, v, dx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dApplySqrtBTranspose(DaisiFilter f, DaisiEnsemble e, const PetscReal dx[], PetscReal v[])
{
  Filter_Var3d *d = NULL;

  PetscFunctionBegin;
  PetscCall(Prepare(f, e, &d));
  PetscCall(SqrtBT(d, dx, v));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterVar3dGetStats(DaisiFilter f, DaisiFilterVar3dStats *s)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarGetStats(f, DAISI_FILTER_VAR3D, s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode View_Var3d(DaisiFilter f, PetscViewer viewer)
{
  Filter_Var3d                 *d = (Filter_Var3d *)f->data;
  const DaisiFilterVar3dParams *p = &f->var3d;

  PetscFunctionBegin;
  PetscCall(DaisiVarViewMode(f, viewer));
  if (p->climatology[0]) {
    char mem[64] = "";
    if (p->members) PetscCall(PetscSNPrintf(mem, sizeof(mem), ", members 0..%" PetscInt_FMT, p->members - 1));
    PetscCall(PetscViewerASCIIPrintf(viewer, "B estimated from %s (time indices from %" PetscInt_FMT " in steps of %" PetscInt_FMT ", %s%s)%s%s\n", p->climatology, p->first, p->stride, p->count ? "count given" : "to the end", mem, p->bsave[0] ? ", saved to " : "", p->bsave));
  } else PetscCall(PetscViewerASCIIPrintf(viewer, "B read from %s\n", p->bfile));
  PetscCall(PetscViewerASCIIPrintf(viewer, "B = %g x ((1 - a) S + a diag(S)) per kx block, shrinkage a = %g\n", (double)p->bscale, (double)p->shrinkage));
  if (d && d->c.ens) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "%" PetscInt64_FMT " states; %" PetscInt_FMT " kx blocks of %" PetscInt_FMT " x %" PetscInt_FMT " (level, y); eigenvalues of B in [%g, %g], %" PetscInt_FMT " of %" PetscInt_FMT " below 1e-12 of the largest; mean std of B %g\n", d->nsamples, d->nxh, d->n2, d->n2, (double)d->lmin,
                                     (double)d->lmax, d->nzero, d->nxh * d->n2, (double)PetscSqrtReal(d->trace)));
    PetscCall(PetscViewerASCIIPrintf(viewer, "per group of %d rank(s): kx dealt out in blocks, this rank kx %" PetscInt_FMT "..%" PetscInt_FMT ", %" PetscInt_FMT " control values\n", (int)d->c.P, d->k0, d->k0 + d->nk - 1, d->nv));
  }
  PetscCall(DaisiVarViewSolver(f, viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Destroy_Var3d(DaisiFilter f)
{
  Filter_Var3d *d = (Filter_Var3d *)f->data;

  PetscFunctionBegin;
  if (!d) PetscFunctionReturn(PETSC_SUCCESS);
  if (d->fwd) fftw_destroy_plan(d->fwd);
  if (d->bwd) fftw_destroy_plan(d->bwd);
  PetscCall(PetscFree4(d->ry0, d->rnyl, d->rk0, d->rnk));
  PetscCall(PetscFree4(d->c1, d->d1, d->c2, d->d2));
  PetscCall(PetscFree(d->voff));
  PetscCall(PetscFree6(d->rbuf, d->cbuf, d->sbuf, d->tbuf, d->Z, d->wv));
  PetscCall(PetscFree(d->L));
  PetscCall(PetscFree(d->lam));
  PetscCall(DaisiVarCoreDestroy(&d->c));
  PetscCall(PetscFree4(d->xb, d->x, d->gx, d->part));
  PetscCall(VecDestroy(&d->v));
  PetscCall(PetscFree(f->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_Var3d(DaisiFilter f)
{
  Filter_Var3d *d = NULL;

  PetscFunctionBegin;
  if (!DAISI_FilterVar3dSetUp) {
    PetscCall(PetscLogEventRegister("Var3dSetUp", DAISI_CLASSID, &DAISI_FilterVar3dSetUp));
    PetscCall(PetscLogEventRegister("Var3dSolve", DAISI_CLASSID, &DAISI_FilterVar3dSolve));
    PetscCall(PetscLogEventRegister("Var3dObjective", DAISI_CLASSID, &DAISI_FilterVar3dObjective));
    PetscCall(PetscLogEventRegister("Var3dSqrtB", DAISI_CLASSID, &DAISI_FilterVar3dSqrtB));
  }
  PetscCall(PetscNew(&d));
  f->data                  = d;
  d->c.setup              = SetUpForEnsemble;
  d->c.background         = Background;
  d->c.objective          = ObjectiveFn;
  f->ops.setup             = DaisiVarSetUpOp;
  f->ops.view              = View_Var3d;
  f->ops.destroy           = Destroy_Var3d;
  f->ops.ensemble_analysis = DaisiVarEnsembleAnalysisOp;
  PetscFunctionReturn(PETSC_SUCCESS);
}
