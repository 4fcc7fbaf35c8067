/* The exact Gaussian prior: a stationary Gaussian climate N(0, C) whose covariance is
 * block-diagonal in 2-D Fourier space, one Hermitian nlev x nlev block S(k) per wavevector
 * (levels are correlated in SQG, with a phase tilt between them, hence the full complex block
 * rather than one variance per level). For this climate the interpolant velocity is linear
 * and exact per wavevector:
 *   b_hat(k) = f_t(S(k)) x_hat(k),   f_t(lam) = (t lam - (1 - t)) / ((1 - t)^2 + t^2 lam),
 * a function of the Hermitian S(k), applied through its eigen-decomposition, computed once at
 * set-up. S(k) acts on complex level vectors; it is stored in its real form M = [[A, -B], [B, A]]
 * (S = A + iB) acting on (Re u, Im u), which is real symmetric, so a small Jacobi solver does.
 * b is self-adjoint in x, so its VJP and JVP are the same operator.
 *
 * The FFT is FFTW-MPI r2c/c2r over the grid's rows (howmany = nlev, levels interleaved), whose
 * row split is the DaisiGrid's; every rank holds all columns of its rows of the spectrum, so
 * the per-wavevector operator needs no communication. */
#include "priorimpl.h"
#include "../io/h5util.h"
#include <daisi/statefile.h>
#include <fftw3-mpi.h>

#define GAUSSIAN_FORMAT         "daisi-prior-gaussian"
#define GAUSSIAN_FORMAT_VERSION 1

typedef struct {
  /* sources of S, in order of precedence: function, truth file, prior file */
  DaisiPriorSpectrumFn fn;
  void                *fnctx;
  char                 truth[PETSC_MAX_PATH_LEN], file[PETSC_MAX_PATH_LEN];
  PetscInt             first, stride, count;
  PetscReal            minvar;   /* eigenvalue floor (normalised units) */
  PetscInt64           nsamples; /* states behind an estimated S (0: given) */
  PetscReal            lmin, lmax, nfloored; /* eigenvalue range before the floor, number floored */
  /* FFT */
  PetscInt      nlev, ny, nx, nxh;
  ptrdiff_t     fn0, f0; /* FFTW's rows of this rank (= the grid's) */
  PetscInt      bmax;    /* samples transformed together (one collective FFT per chunk) */
  double       *rin;     /* fn0 rows x 2 nxh x (chunk x nlev) reals (padded r2c layout, interleaved) */
  fftw_complex *cout;    /* fn0 x nxh x (chunk x nlev) */
  fftw_plan    *fwd, *bwd; /* per chunk size 1..bmax, planned on first use (collective) */
  /* per local wavevector c = j * nxh + kx */
  PetscInt   ncoef;
  PetscReal *S;   /* ncoef x nlev x nlev x 2 (re, im) */
  PetscReal *lam; /* ncoef x 2 nlev eigenvalues of M (floored) */
  PetscReal *V;   /* ncoef x (2 nlev)^2 eigenvectors of M (columns) */
  PetscReal *work;
} Prior_Gaussian;

/* cyclic Jacobi for a small symmetric matrix A (n x n row-major, destroyed): A = V diag(w) V^T */
static void JacobiEigen(PetscInt n, PetscReal A[], PetscReal V[], PetscReal w[])
{
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) V[i * n + j] = i == j ? 1 : 0;
  for (PetscInt sweep = 0; sweep < 64; sweep++) {
    PetscReal off = 0, tot = 0;
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) {
        tot += A[i * n + j] * A[i * n + j];
        if (i != j) off += A[i * n + j] * A[i * n + j];
      }
    if (off <= 1e-32 * tot || tot == 0) break;
    for (PetscInt p = 0; p < n - 1; p++)
      for (PetscInt q = p + 1; q < n; q++) {
        const PetscReal apq = A[p * n + q];
        PetscReal       theta, t, c, s;
        if (PetscAbsReal(apq) <= 1e-300) continue;
        theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        t     = (theta >= 0 ? 1 : -1) / (PetscAbsReal(theta) + PetscSqrtReal(theta * theta + 1));
        c     = 1 / PetscSqrtReal(t * t + 1);
        s     = t * c;
        for (PetscInt k = 0; k < n; k++) {
          const PetscReal akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (PetscInt k = 0; k < n; k++) {
          const PetscReal apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (PetscInt k = 0; k < n; k++) {
          const PetscReal vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  for (PetscInt i = 0; i < n; i++) w[i] = A[i * n + i];
}

static inline PetscInt SignedKy(PetscInt y, PetscInt ny)
{
  return y <= ny / 2 ? y : y - ny;
}

PetscErrorCode DaisiPriorGaussianSetSpectrumFunction(DaisiPrior p, DaisiPriorSpectrumFn fn, void *ctx)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  PetscBool       isg;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(p->type, DAISI_PRIOR_GAUSSIAN, &isg));
  PetscCheck(isg, p->comm, PETSC_ERR_ARG_WRONG, "a spectrum function needs a gaussian prior, this one is '%s'", p->type);
  PetscCheck(!p->setupcalled, p->comm, PETSC_ERR_ORDER, "set the spectrum before DaisiPriorSetUp()");
  g->fn    = fn;
  g->fnctx = ctx;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorGaussianSetTruthFile(DaisiPrior p, const char path[], PetscInt first, PetscInt stride, PetscInt count)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  PetscBool       isg;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(p->type, DAISI_PRIOR_GAUSSIAN, &isg));
  PetscCheck(isg, p->comm, PETSC_ERR_ARG_WRONG, "a truth file needs a gaussian prior, this one is '%s'", p->type);
  PetscCheck(!p->setupcalled, p->comm, PETSC_ERR_ORDER, "set the truth file before DaisiPriorSetUp()");
  PetscCheck(first >= 0 && stride >= 1 && count >= 0, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "truth file %s: need first >= 0, stride >= 1, count >= 0 (got %" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT ")", path, first, stride, count);
  PetscCall(PetscStrncpy(g->truth, path, sizeof(g->truth)));
  g->first  = first;
  g->stride = stride;
  g->count  = count;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorGaussianSetFile(DaisiPrior p, const char path[])
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  PetscBool       isg;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(p->type, DAISI_PRIOR_GAUSSIAN, &isg));
  PetscCheck(isg, p->comm, PETSC_ERR_ARG_WRONG, "a Gaussian prior file needs a gaussian prior, this one is '%s'", p->type);
  PetscCheck(!p->setupcalled, p->comm, PETSC_ERR_ORDER, "set the prior file before DaisiPriorSetUp()");
  PetscCall(PetscStrncpy(g->file, path, sizeof(g->file)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetFromOptions_Gaussian(DaisiPrior p, PetscOptionItems *PetscOptionsObject)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "Gaussian prior options");
  PetscCall(PetscOptionsString("-prior_gaussian_file", "Gaussian prior file (HDF5, docs/prior.md) to read", "DaisiPriorGaussianSetFile", g->file, g->file, sizeof(g->file), NULL));
  PetscCall(PetscOptionsString("-prior_gaussian_truth", "Nature-run state file to estimate the covariance from", "DaisiPriorGaussianSetTruthFile", g->truth, g->truth, sizeof(g->truth), NULL));
  PetscCall(PetscOptionsInt("-prior_gaussian_truth_first", "First time index of the truth file used", "DaisiPriorGaussianSetTruthFile", g->first, &g->first, NULL));
  PetscCall(PetscOptionsInt("-prior_gaussian_truth_stride", "Stride between the time indices used", "DaisiPriorGaussianSetTruthFile", g->stride, &g->stride, NULL));
  PetscCall(PetscOptionsInt("-prior_gaussian_truth_count", "Number of time indices used (0: to the end)", "DaisiPriorGaussianSetTruthFile", g->count, &g->count, NULL));
  PetscCall(PetscOptionsInt("-prior_gaussian_batch", "Samples transformed together (one collective FFT per chunk)", "", g->bmax, &g->bmax, NULL));
  PetscCall(PetscOptionsReal("-prior_gaussian_min_variance", "Floor of the covariance eigenvalues (normalised units)", "", g->minvar, &g->minvar, NULL));
  PetscOptionsHeadEnd();
  PetscCheck(g->first >= 0 && g->stride >= 1 && g->count >= 0, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "-prior_gaussian_truth_first %" PetscInt_FMT " / _stride %" PetscInt_FMT " / _count %" PetscInt_FMT ": need first >= 0, stride >= 1, count >= 0", g->first, g->stride, g->count);
  PetscCheck(g->bmax >= 1, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "-prior_gaussian_batch must be >= 1, got %" PetscInt_FMT, g->bmax);
  PetscCheck(g->minvar > 0, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "-prior_gaussian_min_variance must be > 0 (the velocity at t = 1 divides by the variance), got %g", (double)g->minvar);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SpectrumFromFunction(DaisiPrior p)
{
  Prior_Gaussian *g  = (Prior_Gaussian *)p->data;
  const PetscInt  nl = g->nlev, nn = nl * nl;
  PetscReal      *re, *im, *re2, *im2;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(nn, &re, nn, &im, nn, &re2, nn, &im2));
  for (ptrdiff_t j = 0; j < g->fn0; j++) {
    const PetscInt ky = SignedKy((PetscInt)(g->f0 + j), g->ny);
    for (PetscInt kx = 0; kx < g->nxh; kx++) {
      PetscReal *S = g->S + 2 * nn * (j * g->nxh + kx);
      PetscCall(PetscArrayzero(re, nn));
      PetscCall(PetscArrayzero(im, nn));
      PetscCall(g->fn(g->fnctx, ky, kx, nl, re, im));
      if (kx == 0 || 2 * kx == g->nx) {
        /* both k and -k are in the half spectrum: enforce S(-k) = conj(S(k)) */
        const PetscInt kyt = SignedKy(((-ky) % g->ny + g->ny) % g->ny, g->ny);
        PetscCall(PetscArrayzero(re2, nn));
        PetscCall(PetscArrayzero(im2, nn));
        PetscCall(g->fn(g->fnctx, kyt, kx, nl, re2, im2));
        for (PetscInt a = 0; a < nn; a++) {
          re[a] = 0.5 * (re[a] + re2[a]);
          im[a] = 0.5 * (im[a] - im2[a]);
        }
      }
      for (PetscInt a = 0; a < nn; a++) {
        S[2 * a]     = re[a];
        S[2 * a + 1] = im[a];
        PetscCheck(PetscIsNormalReal(re[a]) || re[a] == 0, PETSC_COMM_SELF, PETSC_ERR_FP, "spectrum function: S(%" PetscInt_FMT ", %" PetscInt_FMT ") is not finite", ky, kx);
      }
    }
  }
  PetscCall(PetscFree4(re, im, re2, im2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* pack sample s of a chunk of cb (level-major, local rows) into the interleaved padded r2c input */
static void PackLevels(Prior_Gaussian *g, PetscInt cb, PetscInt s, const PetscReal x[])
{
  const PetscInt nl = g->nlev, h = nl * cb, nx = g->nx, nxh2 = 2 * g->nxh, nyl = (PetscInt)g->fn0;
  for (PetscInt lev = 0; lev < nl; lev++)
    for (PetscInt j = 0; j < nyl; j++)
      for (PetscInt i = 0; i < nx; i++) g->rin[(j * nxh2 + i) * h + s * nl + lev] = x[(lev * nyl + j) * nx + i];
}

static void UnpackLevels(Prior_Gaussian *g, PetscInt cb, PetscInt s, PetscReal scale, PetscReal x[])
{
  const PetscInt nl = g->nlev, h = nl * cb, nx = g->nx, nxh2 = 2 * g->nxh, nyl = (PetscInt)g->fn0;
  for (PetscInt lev = 0; lev < nl; lev++)
    for (PetscInt j = 0; j < nyl; j++)
      for (PetscInt i = 0; i < nx; i++) x[(lev * nyl + j) * nx + i] = scale * g->rin[(j * nxh2 + i) * h + s * nl + lev];
}

/* the transforms of a chunk of cb samples; planning is collective, and every rank transforms
 * the same chunk sizes in the same order because all ranks hold the same batch */
static PetscErrorCode ChunkPlans(DaisiPrior p, PetscInt cb)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  const ptrdiff_t n[2] = {(ptrdiff_t)g->ny, (ptrdiff_t)g->nx};

  PetscFunctionBegin;
  if (g->fwd[cb]) PetscFunctionReturn(PETSC_SUCCESS);
  g->fwd[cb] = fftw_mpi_plan_many_dft_r2c(2, n, (ptrdiff_t)(g->nlev * cb), FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK, g->rin, g->cout, p->comm, FFTW_ESTIMATE);
  g->bwd[cb] = fftw_mpi_plan_many_dft_c2r(2, n, (ptrdiff_t)(g->nlev * cb), FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK, g->cout, g->rin, p->comm, FFTW_ESTIMATE);
  PetscCheck(g->fwd[cb] && g->bwd[cb], p->comm, PETSC_ERR_LIB, "FFTW-MPI could not plan the %" PetscInt_FMT " x %" PetscInt_FMT " transforms of %" PetscInt_FMT " fields for the Gaussian prior", g->ny, g->nx, g->nlev * cb);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ForwardFFT(DaisiPrior p, PetscInt cb)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;

  PetscFunctionBegin;
  PetscCall(ChunkPlans(p, cb));
  PetscCall(PetscLogEventBegin(DAISI_PriorFFT, 0, 0, 0, 0));
  fftw_execute(g->fwd[cb]);
  PetscCall(PetscLogFlops(2.5 * cb * g->nlev * g->nx * (PetscReal)g->fn0 * PetscLog2Real((PetscReal)g->nx * g->ny)));
  PetscCall(PetscLogEventEnd(DAISI_PriorFFT, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode BackwardFFT(DaisiPrior p, PetscInt cb)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;

  PetscFunctionBegin;
  PetscCall(ChunkPlans(p, cb));
  PetscCall(PetscLogEventBegin(DAISI_PriorFFT, 0, 0, 0, 0));
  fftw_execute(g->bwd[cb]);
  PetscCall(PetscLogFlops(2.5 * cb * g->nlev * g->nx * (PetscReal)g->fn0 * PetscLog2Real((PetscReal)g->nx * g->ny)));
  PetscCall(PetscLogEventEnd(DAISI_PriorFFT, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* S += X X^H (unnormalised) for count states of the open truth file */
static PetscErrorCode AccumulateStates(DaisiPrior p, DaisiStateFile f, PetscInt count, PetscReal x[])
{
  Prior_Gaussian *g  = (Prior_Gaussian *)p->data;
  const PetscInt  nl = g->nlev, nn = nl * nl;
  const double   *c  = (const double *)g->cout;

  PetscFunctionBegin;
  for (PetscInt k = 0; k < count; k++) {
    PetscCall(DaisiStateFileRead(f, g->first + k * g->stride, NULL, x));
    PackLevels(g, 1, 0, x);
    PetscCall(ForwardFFT(p, 1));
    for (PetscInt q = 0; q < g->ncoef; q++) {
      PetscReal *S = g->S + 2 * nn * q;
      for (PetscInt a = 0; a < nl; a++)
        for (PetscInt b = 0; b < nl; b++) {
          const double ar = c[2 * (q * nl + a)], ai = c[2 * (q * nl + a) + 1];
          const double br = c[2 * (q * nl + b)], bi = c[2 * (q * nl + b) + 1];
          /* X_a conj(X_b) */
          S[2 * (a * nl + b)] += ar * br + ai * bi;
          S[2 * (a * nl + b) + 1] += ai * br - ar * bi;
        }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* S from the states of a nature run, about zero, in normalised units */
static PetscErrorCode SpectrumFromTruth(DaisiPrior p)
{
  Prior_Gaussian *g  = (Prior_Gaussian *)p->data;
  const PetscInt  nn = g->nlev * g->nlev;
  DaisiGrid       fg;
  DaisiStateFile  f;
  PetscInt        ntime, nmember, count;
  PetscReal      *x;
  PetscErrorCode  ierr;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_PriorEstimate, 0, 0, 0, 0));
  PetscCall(DaisiStateFileQuery(p->comm, g->truth, &fg, &ntime, &nmember));
  PetscCheck(fg.nlev == p->grid.nlev && fg.ny == p->grid.ny && fg.nx == p->grid.nx, p->comm, PETSC_ERR_ARG_SIZ, "truth file %s holds %" PetscInt_FMT " level(s) on a %" PetscInt_FMT " x %" PetscInt_FMT " grid, the prior's grid is %" PetscInt_FMT " on %" PetscInt_FMT " x %" PetscInt_FMT, g->truth, fg.nlev, fg.ny, fg.nx, p->grid.nlev, p->grid.ny, p->grid.nx);
  PetscCheck(nmember == 0, p->comm, PETSC_ERR_ARG_WRONG, "truth file %s is an ensemble file (%" PetscInt_FMT " members); a nature run is expected", g->truth, nmember);
  PetscCheck(g->first < ntime, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "-prior_gaussian_truth_first %" PetscInt_FMT " is beyond the %" PetscInt_FMT " time(s) of %s", g->first, ntime, g->truth);
  count = (ntime - g->first + g->stride - 1) / g->stride;
  if (g->count > 0) {
    PetscCheck(g->count <= count, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "%s has only %" PetscInt_FMT " time(s) from index %" PetscInt_FMT " with stride %" PetscInt_FMT ", %" PetscInt_FMT " requested (-prior_gaussian_truth_count)", g->truth, count, g->first, g->stride, g->count);
    count = g->count;
  }
  PetscCall(PetscMalloc1(DaisiGridLocalSize(&p->grid) + 1, &x));
  PetscCall(PetscArrayzero(g->S, 2 * nn * g->ncoef));
  PetscCall(DaisiStateFileCreate(p->comm, &f));
  PetscCall(DaisiStateFileSetGrid(f, &p->grid));
  ierr = DaisiStateFileOpen(f, g->truth, DAISI_FILE_READ);
  if (!ierr) ierr = AccumulateStates(p, f, count, x);
  if (!ierr) ierr = DaisiStateFileClose(f);
  (void)DaisiStateFileDestroy(&f); /* also after a failed read: the file is not left open */
  PetscCall(PetscFree(x));
  PetscCall(ierr);
  {
    const PetscReal norm = 1.0 / ((PetscReal)count * g->nx * g->ny * p->scale * p->scale);
    for (PetscInt i = 0; i < 2 * nn * g->ncoef; i++) g->S[i] *= norm;
  }
  g->nsamples = count;
  PetscCall(PetscLogEventEnd(DAISI_PriorEstimate, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* checks the attributes and opens the covariance dataset, whose shape must fit the grid */
static PetscErrorCode SpectrumFileHeader(DaisiPrior p, hid_t file, hid_t *dset, hsize_t dims[5])
{
  Prior_Gaussian *g  = (Prior_Gaussian *)p->data;
  const PetscInt  nl = g->nlev;
  char            fmt[64];
  PetscBool       found;
  PetscInt64      ver, nsamp;
  PetscReal       scale;
  int             rank;

  PetscFunctionBegin;
  PetscCall(DaisiH5ReadAttrString(p->comm, file, "daisi_format", fmt, sizeof(fmt), &found, g->file));
  PetscCheck(found && !strcmp(fmt, GAUSSIAN_FORMAT), p->comm, PETSC_ERR_FILE_UNEXPECTED, "%s is not a Gaussian prior file (attribute daisi_format = \"%s\" expected)", g->file, GAUSSIAN_FORMAT);
  PetscCall(DaisiH5ReadAttrInt64(p->comm, file, "format_version", &ver, &found, g->file));
  PetscCheck(found && ver == GAUSSIAN_FORMAT_VERSION, p->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: Gaussian prior file format version %" PetscInt64_FMT ", this build reads version %d", g->file, found ? ver : -1, GAUSSIAN_FORMAT_VERSION);
  PetscCall(DaisiH5ReadAttrReal(p->comm, file, "scale", &scale, &found, g->file));
  PetscCheck(found, p->comm, PETSC_ERR_FILE_UNEXPECTED, "%s: attribute scale missing", g->file);
  /* S is in units of the file's scale: the prior's scale must agree */
  PetscCheck(PetscAbsReal(scale - p->scale) <= 1e-12 * scale, p->comm, PETSC_ERR_ARG_INCOMP, "%s was estimated with -prior_scale %.10g, this prior uses %.10g", g->file, (double)scale, (double)p->scale);
  PetscCall(DaisiH5ReadAttrInt64(p->comm, file, "nsamples", &nsamp, &found, g->file));
  g->nsamples = found ? nsamp : 0;
  PetscCall(DaisiH5OpenDataset(p->comm, file, "covariance", g->file, dset, &rank, dims, 5));
  PetscCheck(rank == 5 && dims[0] == (hsize_t)g->ny && dims[1] == (hsize_t)g->nxh && dims[2] == (hsize_t)nl && dims[3] == (hsize_t)nl && dims[4] == 2, p->comm, PETSC_ERR_ARG_SIZ,
             "%s: covariance of shape %d-d %llu x %llu x %llu x %llu (ky, kx, level, level) does not fit the prior's grid of %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT " (expected %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " x 2)",
             g->file, rank, (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2], (unsigned long long)dims[3], nl, g->ny, g->nx, g->ny, g->nxh, nl, nl);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SpectrumFromFile(DaisiPrior p)
{
  Prior_Gaussian *g  = (Prior_Gaussian *)p->data;
  const PetscInt  nl = g->nlev;
  hid_t           file = H5I_INVALID_HID, dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t         dims[5] = {0, 0, 0, 0, 0}, start[5] = {0, 0, 0, 0, 0}, cnt[5];
  herr_t          st;
  PetscErrorCode  ierr;

  PetscFunctionBegin;
  PetscCall(DaisiH5FileOpen(p->comm, g->file, PETSC_FALSE, &file));
  ierr = SpectrumFileHeader(p, file, &dset, dims);
  if (ierr) { /* close what is open before passing the error on */
    DaisiH5Close(&dset);
    DaisiH5Close(&file);
  }
  PetscCall(ierr);
  start[0] = (hsize_t)g->f0;
  cnt[0]   = (hsize_t)g->fn0;
  cnt[1]   = dims[1];
  cnt[2]   = dims[2];
  cnt[3]   = dims[3];
  cnt[4]   = 2;
  fspace   = H5Dget_space(dset);
  if (g->fn0 > 0) st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL);
  else st = H5Sselect_none(fspace);
  {
    hsize_t n1 = (hsize_t)PetscMax(1, g->ncoef * nl * nl * 2);
    mspace     = H5Screate_simple(1, &n1, NULL);
    if (g->fn0 == 0) (void)H5Sselect_none(mspace);
  }
  PetscCall(DaisiH5CreateCollectiveTransfer(p->comm, &dxpl));
  if (st >= 0) st = H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, g->S);
  DaisiH5Close(&dxpl);
  DaisiH5Close(&mspace);
  DaisiH5Close(&fspace);
  DaisiH5Close(&dset);
  DaisiH5Close(&file);
  DaisiH5Check(st, p->comm, "%s: cannot read the covariance", g->file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorGaussianSave(DaisiPrior p, const char path[])
{
  Prior_Gaussian *g  = (Prior_Gaussian *)p->data;
  const PetscInt  nl = g->nlev;
  DaisiOutputName out;
  hid_t           file = H5I_INVALID_HID, dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t         dims[5], start[5] = {0, 0, 0, 0, 0}, cnt[5];
  herr_t          st = 0;
  PetscBool       isg;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(p->type, DAISI_PRIOR_GAUSSIAN, &isg));
  PetscCheck(isg && p->setupcalled, p->comm, PETSC_ERR_ORDER, "only a set-up gaussian prior can be saved (%s)", path);
  PetscCall(DaisiOutputNameInit(p->comm, path, &out));
  PetscCall(DaisiH5FileCreate(p->comm, out.tmp, &file));
  PetscCall(DaisiH5WriteAttrString(p->comm, file, "daisi_format", GAUSSIAN_FORMAT, out.tmp));
  PetscCall(DaisiH5WriteAttrInt64(p->comm, file, "format_version", GAUSSIAN_FORMAT_VERSION, out.tmp));
  PetscCall(DaisiH5WriteAttrString(p->comm, file, "title", "DAISI Gaussian prior: covariance per wavevector, unitary DFT convention, normalised units", out.tmp));
  PetscCall(DaisiH5WriteAttrReal(p->comm, file, "scale", p->scale, out.tmp));
  PetscCall(DaisiH5WriteAttrInt64(p->comm, file, "nsamples", g->nsamples, out.tmp));
  PetscCall(DaisiH5WriteAttrInt64(p->comm, file, "nlev", nl, out.tmp));
  PetscCall(DaisiH5WriteAttrInt64(p->comm, file, "ny", g->ny, out.tmp));
  PetscCall(DaisiH5WriteAttrInt64(p->comm, file, "nx", g->nx, out.tmp));
  PetscCall(DaisiH5WriteAttrReal(p->comm, file, "Lx", p->grid.Lx, out.tmp));
  PetscCall(DaisiH5WriteAttrReal(p->comm, file, "Ly", p->grid.Ly, out.tmp));
  PetscCall(DaisiH5WriteAttrString(p->comm, file, "source", g->truth[0] ? g->truth : (g->file[0] ? g->file : "spectrum function"), out.tmp));
  dims[0] = (hsize_t)g->ny;
  dims[1] = (hsize_t)g->nxh;
  dims[2] = dims[3] = (hsize_t)nl;
  dims[4]           = 2;
  fspace            = H5Screate_simple(5, dims, NULL);
  dset              = H5Dcreate2(file, "covariance", H5T_IEEE_F64LE, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (dset < 0) st = -1;
  start[0] = (hsize_t)g->f0;
  cnt[0]   = (hsize_t)g->fn0;
  cnt[1]   = dims[1];
  cnt[2]   = dims[2];
  cnt[3]   = dims[3];
  cnt[4]   = 2;
  if (st >= 0) st = g->fn0 > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) : H5Sselect_none(fspace);
  {
    hsize_t n1 = (hsize_t)PetscMax(1, g->ncoef * nl * nl * 2);
    mspace     = H5Screate_simple(1, &n1, NULL);
    if (g->fn0 == 0) (void)H5Sselect_none(mspace);
  }
  PetscCall(DaisiH5CreateCollectiveTransfer(p->comm, &dxpl));
  if (st >= 0) st = H5Dwrite(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, g->S);
  DaisiH5Close(&dxpl);
  DaisiH5Close(&mspace);
  DaisiH5Close(&fspace);
  DaisiH5Close(&dset);
  if (H5Fclose(file) < 0) st = -1;
  if (st < 0) PetscCall(DaisiOutputNameDiscard(&out));
  DaisiH5Check(st, p->comm, "cannot write the Gaussian prior file %s", path);
  PetscCall(DaisiOutputNameCommit(&out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorGaussianGetLevelVariance(DaisiPrior p, PetscInt lev, PetscReal *var)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  PetscReal       loc = 0;

  PetscFunctionBegin;
  PetscCheck(p->setupcalled, p->comm, PETSC_ERR_ORDER, "call DaisiPriorSetUp() first");
  PetscCheck(lev >= 0 && lev < g->nlev, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "level %" PetscInt_FMT " outside [0, %" PetscInt_FMT ")", lev, g->nlev);
  for (ptrdiff_t j = 0; j < g->fn0; j++)
    for (PetscInt kx = 0; kx < g->nxh; kx++) {
      const PetscReal w = (kx == 0 || 2 * kx == g->nx) ? 1 : 2; /* conjugate twin not stored */
      loc += w * g->S[2 * (g->nlev * g->nlev * (j * g->nxh + kx) + lev * g->nlev + lev)];
    }
  PetscCall(MPIU_Allreduce(&loc, var, 1, MPIU_REAL, MPIU_SUM, p->comm));
  *var /= (PetscReal)g->nx * g->ny;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* eigen-decomposition of every block's real form; eigenvalues floored */
static PetscErrorCode Factorize(DaisiPrior p)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  const PetscInt  nl = g->nlev, n2 = 2 * nl, nn = nl * nl;
  PetscReal      *M, lmin = PETSC_MAX_REAL, lmax = 0, nfloor = 0, tot[3], loc[3];

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(n2 * n2, &M));
  for (PetscInt q = 0; q < g->ncoef; q++) {
    const PetscReal *S = g->S + 2 * nn * q;
    PetscCall(DaisiCheckFinite(PETSC_COMM_SELF, 2 * nn, S, "Gaussian prior covariance"));
    for (PetscInt a = 0; a < nl; a++)
      for (PetscInt b = 0; b < nl; b++) {
        /* Hermitian part: A = (Re S + Re S^T)/2, B = (Im S - Im S^T)/2 */
        const PetscReal A = 0.5 * (S[2 * (a * nl + b)] + S[2 * (b * nl + a)]);
        const PetscReal Bm = 0.5 * (S[2 * (a * nl + b) + 1] - S[2 * (b * nl + a) + 1]);
        M[a * n2 + b]               = A;
        M[(a + nl) * n2 + (b + nl)] = A;
        M[a * n2 + (b + nl)]        = -Bm;
        M[(a + nl) * n2 + b]        = Bm;
      }
    JacobiEigen(n2, M, g->V + n2 * n2 * q, g->lam + n2 * q);
    for (PetscInt i = 0; i < n2; i++) {
      PetscReal *l = g->lam + n2 * q + i;
      lmin = PetscMin(lmin, *l);
      lmax = PetscMax(lmax, *l);
      if (*l < g->minvar) {
        *l = g->minvar;
        nfloor++;
      }
    }
  }
  PetscCall(PetscFree(M));
  loc[0] = -lmin;
  loc[1] = lmax;
  loc[2] = nfloor;
  PetscCall(MPIU_Allreduce(loc, tot, 2, MPIU_REAL, MPIU_MAX, p->comm));
  PetscCall(MPIU_Allreduce(&loc[2], &tot[2], 1, MPIU_REAL, MPIU_SUM, p->comm));
  /* a covariance must be positive semidefinite: allow round-off only */
  PetscCheck(-tot[0] >= -1e-10 * PetscMax(tot[1], 1e-300), p->comm, PETSC_ERR_ARG_WRONG, "Gaussian prior covariance is not positive semidefinite: eigenvalue %g (largest %g)", (double)-tot[0], (double)tot[1]);
  g->lmin     = -tot[0];
  g->lmax     = tot[1];
  g->nfloored = tot[2];
  PetscCall(PetscInfo(NULL, "Gaussian prior: eigenvalues in [%g, %g], %g floored at %g\n", (double)-tot[0], (double)tot[1], (double)tot[2], (double)g->minvar));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetUp_Gaussian(DaisiPrior p)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  ptrdiff_t       n[2], alloc;
  PetscInt        bad = 0, anybad;
  const PetscInt  nl  = p->grid.nlev;

  PetscFunctionBegin;
  PetscCheck(g->fn || g->truth[0] || g->file[0], p->comm, PETSC_ERR_USER_INPUT, "the gaussian prior needs its covariance: -prior_gaussian_file FILE (written by daisi-sample -sample_estimate) or -prior_gaussian_truth NATURE.h5");
  PetscCheck(p->grid.nx >= 2 && p->grid.ny >= 2, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "the gaussian prior needs a 2-D grid, got %" PetscInt_FMT " x %" PetscInt_FMT, p->grid.ny, p->grid.nx);
  g->nlev = nl;
  g->ny   = p->grid.ny;
  g->nx   = p->grid.nx;
  g->nxh  = p->grid.nx / 2 + 1;
  fftw_mpi_init();
  n[0]  = (ptrdiff_t)g->ny;
  n[1]  = (ptrdiff_t)g->nxh;
  alloc = fftw_mpi_local_size_many(2, n, (ptrdiff_t)nl, FFTW_MPI_DEFAULT_BLOCK, p->comm, &g->fn0, &g->f0);
  /* the grid's rows must be FFTW's (the model's grid is) */
  if (g->fn0 != p->grid.nyl || (g->fn0 > 0 && g->f0 != p->grid.y0)) bad = 1;
  PetscCall(MPIU_Allreduce(&bad, &anybad, 1, MPIU_INT, MPI_MAX, p->comm));
  PetscCheck(!anybad, p->comm, PETSC_ERR_ARG_INCOMP, "the grid's row split is not FFTW-MPI's for a %" PetscInt_FMT " x %" PetscInt_FMT " grid on this communicator (this rank: rows [%" PetscInt_FMT ", +%" PetscInt_FMT ") vs FFTW [%td, +%td)); split rows as fftw_mpi_local_size_2d does", g->ny, g->nx, p->grid.y0, p->grid.nyl, g->f0, g->fn0);
  g->ncoef = (PetscInt)g->fn0 * g->nxh;
  {
    ptrdiff_t fnb, f0b;
    alloc = fftw_mpi_local_size_many(2, n, (ptrdiff_t)(nl * g->bmax), FFTW_MPI_DEFAULT_BLOCK, p->comm, &fnb, &f0b);
  }
  g->rin  = fftw_alloc_real(2 * (size_t)PetscMax(alloc, 1));
  g->cout = fftw_alloc_complex((size_t)PetscMax(alloc, 1));
  PetscCheck(g->rin && g->cout, PETSC_COMM_SELF, PETSC_ERR_MEM, "FFTW could not allocate %td complex values for the Gaussian prior", alloc);
  PetscCall(PetscCalloc2(g->bmax + 1, &g->fwd, g->bmax + 1, &g->bwd));
  PetscCall(PetscMalloc4(2 * nl * nl * PetscMax(g->ncoef, 1), &g->S, 2 * nl * PetscMax(g->ncoef, 1), &g->lam, 4 * nl * nl * PetscMax(g->ncoef, 1), &g->V, 4 * nl, &g->work));
  if (g->fn) PetscCall(SpectrumFromFunction(p));
  else if (g->truth[0]) PetscCall(SpectrumFromTruth(p));
  else PetscCall(SpectrumFromFile(p));
  PetscCall(Factorize(p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* y = f_t(M) u per local wavevector of sample s of the chunk of cb in g->cout */
static void ApplyFunction(Prior_Gaussian *g, PetscInt cb, PetscInt s0, PetscReal t)
{
  const PetscInt nl = g->nlev, n2 = 2 * nl;
  PetscReal     *u = g->work, *w = g->work + n2;
  const PetscReal a = 1 - t;

  for (PetscInt q = 0; q < g->ncoef; q++) {
    const PetscReal *V = g->V + n2 * n2 * q, *lam = g->lam + n2 * q;
    double          *c = (double *)g->cout + 2 * (q * cb + s0) * nl; /* c[2 l], c[2 l + 1]: level l */
    for (PetscInt l = 0; l < nl; l++) {
      u[l]      = c[2 * l];
      u[l + nl] = c[2 * l + 1];
    }
    for (PetscInt i = 0; i < n2; i++) {
      PetscReal s = 0;
      for (PetscInt k = 0; k < n2; k++) s += V[k * n2 + i] * u[k];
      w[i] = s * (t * lam[i] - a) / (a * a + t * t * lam[i]);
    }
    for (PetscInt k = 0; k < n2; k++) {
      PetscReal s = 0;
      for (PetscInt i = 0; i < n2; i++) s += V[k * n2 + i] * w[i];
      if (k < nl) c[2 * k] = s;
      else c[2 * (k - nl) + 1] = s;
    }
  }
}

/* the linear map x -> b(x, t), applied to B samples */
static PetscErrorCode ApplyVelocity(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal y[])
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;
  const PetscInt  n = DaisiGridLocalSize(&p->grid), n2 = 2 * g->nlev;

  PetscFunctionBegin;
  for (PetscInt s0 = 0; s0 < B; s0 += g->bmax) {
    const PetscInt cb = PetscMin(g->bmax, B - s0);
    for (PetscInt s = 0; s < cb; s++) PackLevels(g, cb, s, x + (s0 + s) * n);
    PetscCall(ForwardFFT(p, cb));
    for (PetscInt s = 0; s < cb; s++) ApplyFunction(g, cb, s, t[s0 + s]);
    PetscCall(PetscLogFlops((4.0 * n2 * n2 + 6.0 * n2) * g->ncoef * cb));
    PetscCall(BackwardFFT(p, cb));
    for (PetscInt s = 0; s < cb; s++) UnpackLevels(g, cb, s, 1.0 / ((PetscReal)g->nx * g->ny), y + (s0 + s) * n);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Velocity_Gaussian(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal b[])
{
  PetscFunctionBegin;
  PetscCall(ApplyVelocity(p, B, t, x, b));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* b is linear and self-adjoint in x: J = J^T = the velocity map itself */
static PetscErrorCode VJP_Gaussian(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal w[], PetscReal b[], PetscReal gx[])
{
  PetscFunctionBegin;
  if (b) PetscCall(ApplyVelocity(p, B, t, x, b));
  if (gx) PetscCall(ApplyVelocity(p, B, t, w, gx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode JVP_Gaussian(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal v[], PetscReal b[], PetscReal jv[])
{
  PetscFunctionBegin;
  if (b) PetscCall(ApplyVelocity(p, B, t, x, b));
  if (jv) PetscCall(ApplyVelocity(p, B, t, v, jv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode View_Gaussian(DaisiPrior p, PetscViewer viewer)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "covariance: %s%s%s (%" PetscInt64_FMT " states), eigenvalue floor %g\n", g->fn ? "spectrum function" : (g->truth[0] ? "estimated from " : "file "), g->fn ? "" : (g->truth[0] ? g->truth : g->file), "", g->nsamples, (double)g->minvar));
  if (p->setupcalled) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "eigenvalues of the covariance blocks in [%g, %g] (normalised), %g raised to the floor\n", (double)g->lmin, (double)g->lmax, (double)g->nfloored));
    for (PetscInt l = 0; l < g->nlev; l++) {
      PetscReal var;
      PetscCall(DaisiPriorGaussianGetLevelVariance(p, l, &var));
      PetscCall(PetscViewerASCIIPrintf(viewer, "level %" PetscInt_FMT ": std %g (normalised), %g (state units)\n", l, (double)PetscSqrtReal(var), (double)(PetscSqrtReal(var) * p->scale)));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Destroy_Gaussian(DaisiPrior p)
{
  Prior_Gaussian *g = (Prior_Gaussian *)p->data;

  PetscFunctionBegin;
  if (!g) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt cb = 0; g->fwd && cb <= g->bmax; cb++) {
    if (g->fwd[cb]) fftw_destroy_plan(g->fwd[cb]);
    if (g->bwd[cb]) fftw_destroy_plan(g->bwd[cb]);
  }
  PetscCall(PetscFree2(g->fwd, g->bwd));
  if (g->rin) fftw_free(g->rin);
  if (g->cout) fftw_free(g->cout);
  PetscCall(PetscFree4(g->S, g->lam, g->V, g->work));
  PetscCall(PetscFree(p->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorCreate_Gaussian(DaisiPrior p)
{
  Prior_Gaussian *g;

  PetscFunctionBegin;
  PetscCall(PetscNew(&g));
  g->stride              = 1;
  g->minvar              = 1e-8;
  g->bmax                = 16;
  p->data                = g;
  p->ops.setfromoptions  = SetFromOptions_Gaussian;
  p->ops.setup           = SetUp_Gaussian;
  p->ops.view            = View_Gaussian;
  p->ops.destroy         = Destroy_Gaussian;
  p->ops.velocity        = Velocity_Gaussian;
  p->ops.vjp             = VJP_Gaussian;
  p->ops.jvp             = JVP_Gaussian;
  PetscFunctionReturn(PETSC_SUCCESS);
}
