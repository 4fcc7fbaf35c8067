/* Helpers shared by the prior tests: FFTW row split,
 * a synthetic stationary covariance with a known closed form, and serial spectra. */
#ifndef DAISI_PRIORTEST_H
#define DAISI_PRIORTEST_H

#include <daisi/prior.h>
#include <daisi/sampler.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <daisitest.h>
#include <fftw3-mpi.h>
#include <complex.h>
#include <math.h>
#include <string.h>

/* rows as FFTW-MPI hands them out (the model's grid) */
static inline PetscErrorCode PriorTestGrid(MPI_Comm comm, PetscInt nlev, PetscInt ny, PetscInt nx, DaisiGrid *g)
{
  ptrdiff_t nyl, y0;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(g, sizeof(*g)));
  fftw_mpi_init();
  (void)fftw_mpi_local_size_2d((ptrdiff_t)ny, (ptrdiff_t)nx, comm, &nyl, &y0);
  g->nlev = nlev;
  g->ny   = ny;
  g->nx   = nx;
  g->y0   = nyl > 0 ? (PetscInt)y0 : 0;
  g->nyl  = (PetscInt)nyl;
  g->Lx = g->Ly = 2.0e7;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Synthetic climate: S_ab(k) = sqrt(p_a p_b) rho^|a-b| exp(i (a - b) phi(k)), with
 * p_l(k) = A_l / (1 + |k|^2/k0^2)^2 + floor (red, positive) and phi odd in k and zero on the
 * Nyquist lines, so that S(-k) = conj(S(k)); positive definite for |rho| < 1. */
typedef struct {
  PetscInt  ny, nx;
  PetscReal A[8], k0, floor, rho;
} SynthClimate;

static inline void SynthInit(SynthClimate *c, PetscInt ny, PetscInt nx)
{
  c->ny = ny;
  c->nx = nx;
  for (PetscInt l = 0; l < 8; l++) c->A[l] = 3.0 / (1 + l);
  c->k0    = 2.0;
  c->floor = 0.05;
  c->rho   = 0.6;
}

static inline PetscReal SynthPower(const SynthClimate *c, PetscInt l, PetscInt ky, PetscInt kx)
{
  const PetscReal q = (PetscReal)(kx * kx + ky * ky) / (c->k0 * c->k0);
  return c->A[l] / ((1 + q) * (1 + q)) + c->floor;
}

static inline PetscErrorCode SynthSpectrum(void *ctx, PetscInt ky, PetscInt kx, PetscInt nlev, PetscReal re[], PetscReal im[])
{
  const SynthClimate *c   = (const SynthClimate *)ctx;
  const PetscReal     phi = 0.7 * sin(2 * M_PI * kx / c->nx) + 0.4 * sin(2 * M_PI * ky / c->ny);

  PetscFunctionBegin;
  for (PetscInt a = 0; a < nlev; a++)
    for (PetscInt b = 0; b < nlev; b++) {
      const PetscReal m = sqrt(SynthPower(c, a, ky, kx) * SynthPower(c, b, ky, kx)) * pow(c->rho, (double)PetscAbsInt(a - b));
      re[a * nlev + b]  = m * cos((a - b) * phi);
      im[a * nlev + b]  = m * sin((a - b) * phi);
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscInt SignedK(PetscInt y, PetscInt n)
{
  return y <= n / 2 ? y : y - n;
}

/* the whole field of B samples on every rank: global[b][lev][y][x] */
static inline PetscErrorCode GatherGlobal(MPI_Comm comm, const DaisiGrid *g, PetscInt B, const PetscReal x[], PetscReal global[])
{
  const PetscInt n = DaisiGridLocalSize(g), ng = DaisiGridGlobalSize(g);
  PetscReal     *tmp;

  PetscFunctionBegin;
  PetscCall(PetscCalloc1(B * ng, &tmp));
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt j = 0; j < g->nyl; j++)
        for (PetscInt i = 0; i < g->nx; i++) tmp[b * ng + (l * g->ny + g->y0 + j) * g->nx + i] = x[b * n + (l * g->nyl + j) * g->nx + i];
  PetscCall(MPIU_Allreduce(tmp, global, (PetscMPIInt)(B * ng), MPIU_REAL, MPIU_SUM, comm));
  PetscCall(PetscFree(tmp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* unitary 2-D DFT of one global level field: X[ky][kx], kx in [0, nx/2] */
static inline PetscErrorCode SerialSpectrum(PetscInt ny, PetscInt nx, const PetscReal f[], double complex X[])
{
  const PetscInt nxh = nx / 2 + 1;
  double        *in  = fftw_alloc_real((size_t)(ny * nx));
  fftw_complex  *out = fftw_alloc_complex((size_t)(ny * nxh));
  fftw_plan      pl  = fftw_plan_dft_r2c_2d((int)ny, (int)nx, in, out, FFTW_ESTIMATE);

  PetscFunctionBegin;
  memcpy(in, f, sizeof(double) * (size_t)(ny * nx));
  fftw_execute(pl);
  for (PetscInt i = 0; i < ny * nxh; i++) X[i] = ((const double *)out)[2 * i] / sqrt((double)(nx * ny)) + I * (((const double *)out)[2 * i + 1] / sqrt((double)(nx * ny)));
  fftw_destroy_plan(pl);
  fftw_free(in);
  fftw_free(out);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 2 x 2 complex helpers (row-major) */
static inline void Mat2Mul(const double complex A[4], const double complex B[4], double complex C[4])
{
  double complex R[4];
  R[0] = A[0] * B[0] + A[1] * B[2];
  R[1] = A[0] * B[1] + A[1] * B[3];
  R[2] = A[2] * B[0] + A[3] * B[2];
  R[3] = A[2] * B[1] + A[3] * B[3];
  memcpy(C, R, sizeof(R));
}
static inline void Mat2Inv(const double complex A[4], double complex C[4])
{
  const double complex d = A[0] * A[3] - A[1] * A[2];
  double complex       R[4];
  R[0] = A[3] / d;
  R[1] = -A[1] / d;
  R[2] = -A[2] / d;
  R[3] = A[0] / d;
  memcpy(C, R, sizeof(R));
}
/* S as a 2 x 2 complex matrix */
static inline PetscErrorCode SynthMat2(const SynthClimate *c, PetscInt ky, PetscInt kx, double complex S[4])
{
  PetscReal re[4], im[4];

  PetscFunctionBegin;
  PetscCall(SynthSpectrum((void *)c, ky, kx, 2, re, im));
  for (PetscInt i = 0; i < 4; i++) S[i] = re[i] + I * im[i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a Gaussian prior with the synthetic climate on grid g */
static inline PetscErrorCode SynthPrior(MPI_Comm comm, const DaisiGrid *g, SynthClimate *c, DaisiPrior *p)
{
  PetscFunctionBegin;
  SynthInit(c, g->ny, g->nx);
  PetscCall(DaisiPriorCreate(comm, p));
  PetscCall(DaisiPriorSetType(*p, DAISI_PRIOR_GAUSSIAN));
  PetscCall(DaisiPriorGaussianSetSpectrumFunction(*p, SynthSpectrum, c));
  PetscCall(DaisiPriorSetFromOptions(*p)); /* e.g. -prior_gaussian_batch */
  PetscCall(DaisiPriorSetUp(*p, g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* reproducible test fields keyed by global index */
static inline void TestField(const DaisiGrid *g, PetscInt B, uint64_t key, PetscReal x[])
{
  const PetscInt n = DaisiGridLocalSize(g);
  for (PetscInt b = 0; b < B; b++) {
    DaisiRng r = DaisiRngMake(4242, DAISI_RNG_TEST, key, (uint64_t)b, 0);
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt j = 0; j < g->nyl; j++)
        for (PetscInt i = 0; i < g->nx; i++) x[b * n + (l * g->nyl + j) * g->nx + i] = DaisiRngNormal(&r, (uint64_t)((l * g->ny + g->y0 + j) * g->nx + i));
  }
}

static inline PetscErrorCode Dot(MPI_Comm comm, PetscInt n, const PetscReal a[], const PetscReal b[], PetscReal *d)
{
  PetscReal s = 0;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < n; i++) s += a[i] * b[i];
  PetscCall(MPIU_Allreduce(&s, d, 1, MPIU_REAL, MPIU_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

#endif
