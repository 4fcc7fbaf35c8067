/* Helpers shared by the DAISI filter tests: a synthetic stationary Gaussian climate with a
 * known spectrum (two correlated levels with a phase tilt), its dense covariance on the grid,
 * and small dense linear algebra (LAPACK dsyev, Cholesky, solves). */
#ifndef DAISI_DAISITEST_H
#define DAISI_DAISITEST_H

#include "filtertest.h"
#include <daisi/prior.h>
#include <daisi/sampler.h>

extern void dsyev_(const char *, const char *, const PetscBLASInt *, PetscReal *, const PetscBLASInt *, PetscReal *, PetscReal *, const PetscBLASInt *, PetscBLASInt *);

/* Synthetic climate (normalised units): S_ab(k) = sqrt(p_a p_b) rho^|a-b| exp(i (a - b) phi(k)),
 * p_l(k) = A_l / (1 + |k|^2 / k0^2)^2 + floor, phi odd in k and zero on the Nyquist lines, so
 * S(-k) = conj(S(k)) holds for every signed k and the formula can be used on the whole plane. */
typedef struct {
  PetscInt  ny, nx;
  PetscReal A[2], k0, floor, rho;
} DaisiTestClimate;

static inline void DaisiTestClimateInit(DaisiTestClimate *c, PetscInt ny, PetscInt nx)
{
  c->ny    = ny;
  c->nx    = nx;
  c->A[0]  = 3.0;
  c->A[1]  = 1.5;
  c->k0    = 1.5;
  c->floor = 0.05;
  c->rho   = 0.6;
}

static inline PetscErrorCode DaisiTestSpectrum(void *ctx, PetscInt ky, PetscInt kx, PetscInt nlev, PetscReal re[], PetscReal im[])
{
  const DaisiTestClimate *c   = (const DaisiTestClimate *)ctx;
  const PetscReal         q   = (PetscReal)(kx * kx + ky * ky) / (c->k0 * c->k0);
  const PetscReal         phi = 0.7 * PetscSinReal(2 * PETSC_PI * kx / c->nx) + 0.4 * PetscSinReal(2 * PETSC_PI * ky / c->ny);

  PetscFunctionBegin;
  for (PetscInt a = 0; a < nlev; a++)
    for (PetscInt b = 0; b < nlev; b++) {
      const PetscReal pa = c->A[a % 2] / ((1 + q) * (1 + q)) + c->floor, pb = c->A[b % 2] / ((1 + q) * (1 + q)) + c->floor;
      const PetscReal m  = PetscSqrtReal(pa * pb) * PetscPowReal(c->rho, (PetscReal)PetscAbsInt(a - b));
      re[a * nlev + b]   = m * PetscCosReal((a - b) * phi);
      im[a * nlev + b]   = m * PetscSinReal((a - b) * phi);
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* dense covariance C[i * d + j] (global indices, normalised units) of the climate:
 * C_ab(p - q) = (1/N) sum_k Re[S_ab(k) exp(i k.(p - q))] */
static inline PetscErrorCode DaisiTestClimateDense(const DaisiTestClimate *c, PetscInt nlev, PetscReal C[])
{
  const PetscInt ny = c->ny, nx = c->nx, N = ny * nx, d = nlev * N;
  PetscReal     *Cre, re[4], im[4];

  PetscFunctionBegin;
  PetscCheck(nlev <= 2, PETSC_COMM_SELF, PETSC_ERR_SUP, "test climate: at most 2 levels");
  /* C_ab(dy, dx) first, then spread over the pairs of points */
  PetscCall(PetscCalloc1(nlev * nlev * N, &Cre));
  for (PetscInt yy = 0; yy < ny; yy++)
    for (PetscInt xx = 0; xx < nx; xx++) {
      const PetscInt ky = yy <= ny / 2 ? yy : yy - ny, kx = xx <= nx / 2 ? xx : xx - nx;
      PetscCall(DaisiTestSpectrum((void *)c, ky, kx, nlev, re, im));
      for (PetscInt a = 0; a < nlev; a++)
        for (PetscInt b = 0; b < nlev; b++)
          for (PetscInt dy = 0; dy < ny; dy++)
            for (PetscInt dx = 0; dx < nx; dx++) {
              const PetscReal ang = 2 * PETSC_PI * ((PetscReal)(ky * dy) / ny + (PetscReal)(kx * dx) / nx);
              Cre[(a * nlev + b) * N + dy * nx + dx] += (re[a * nlev + b] * PetscCosReal(ang) - im[a * nlev + b] * PetscSinReal(ang)) / N;
            }
    }
  for (PetscInt a = 0; a < nlev; a++)
    for (PetscInt p = 0; p < N; p++)
      for (PetscInt b = 0; b < nlev; b++)
        for (PetscInt q = 0; q < N; q++) {
          const PetscInt dy = ((p / nx - q / nx) % ny + ny) % ny, dx = ((p % nx - q % nx) % nx + nx) % nx;
          C[(a * N + p) * d + b * N + q] = Cre[(a * nlev + b) * N + dy * nx + dx];
        }
  PetscCall(PetscFree(Cre));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* f(A) = V diag(f(w)) V^T of a symmetric d x d matrix, f(w) = w^pw (pw = 0.5, -0.5, ...) */
static inline PetscErrorCode DaisiTestSymPower(PetscInt d, const PetscReal A[], PetscReal pw, PetscReal F[])
{
  PetscBLASInt n = (PetscBLASInt)d, lwork = (PetscBLASInt)(8 * d), info;
  PetscReal   *V, *w, *work;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(d * d, &V, d, &w, 8 * d, &work));
  PetscCall(PetscArraycpy(V, A, d * d));
  dsyev_("V", "U", &n, V, &n, w, work, &lwork, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "dsyev failed: %d", (int)info);
  for (PetscInt q = 0; q < d; q++) {
    PetscCheck(w[q] > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "matrix not positive definite (eigenvalue %g)", (double)w[q]);
    w[q] = PetscPowReal(w[q], pw);
  }
  for (PetscInt i = 0; i < d; i++)
    for (PetscInt j = 0; j < d; j++) {
      PetscReal s = 0;
      for (PetscInt q = 0; q < d; q++) s += V[q * d + i] * w[q] * V[q * d + j]; /* column-major: vector q = V + q d */
      F[i * d + j] = s;
    }
  PetscCall(PetscFree3(V, w, work));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* solves A X = B for a general n x n A (row-major, destroyed) and nrhs columns of B (row-major
 * n x nrhs, overwritten), Gaussian elimination with partial pivoting */
static inline PetscErrorCode DaisiTestSolve(PetscInt n, PetscReal A[], PetscInt nrhs, PetscReal B[])
{
  PetscFunctionBegin;
  for (PetscInt k = 0; k < n; k++) {
    PetscInt piv = k;
    for (PetscInt i = k + 1; i < n; i++)
      if (PetscAbsReal(A[i * n + k]) > PetscAbsReal(A[piv * n + k])) piv = i;
    PetscCheck(A[piv * n + k] != 0, PETSC_COMM_SELF, PETSC_ERR_MAT_LU_ZRPVT, "singular matrix");
    if (piv != k) {
      for (PetscInt j = 0; j < n; j++) {
        const PetscReal tmp = A[k * n + j];
        A[k * n + j]        = A[piv * n + j];
        A[piv * n + j]      = tmp;
      }
      for (PetscInt j = 0; j < nrhs; j++) {
        const PetscReal tmp = B[k * nrhs + j];
        B[k * nrhs + j]     = B[piv * nrhs + j];
        B[piv * nrhs + j]   = tmp;
      }
    }
    for (PetscInt i = k + 1; i < n; i++) {
      const PetscReal l = A[i * n + k] / A[k * n + k];
      for (PetscInt j = k; j < n; j++) A[i * n + j] -= l * A[k * n + j];
      for (PetscInt j = 0; j < nrhs; j++) B[i * nrhs + j] -= l * B[k * nrhs + j];
    }
  }
  for (PetscInt i = n - 1; i >= 0; i--)
    for (PetscInt j = 0; j < nrhs; j++) {
      PetscReal s = B[i * nrhs + j];
      for (PetscInt l = i + 1; l < n; l++) s -= A[i * n + l] * B[l * nrhs + j];
      B[i * nrhs + j] = s / A[i * n + i];
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* lower Cholesky factor L (n x n, row-major) of a symmetric positive definite A */
static inline PetscErrorCode DaisiTestCholesky(PetscInt n, const PetscReal A[], PetscReal L[])
{
  PetscFunctionBegin;
  PetscCall(PetscArrayzero(L, n * n));
  for (PetscInt j = 0; j < n; j++) {
    PetscReal s = A[j * n + j];
    for (PetscInt k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
    PetscCheck(s > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "Cholesky: not positive definite");
    L[j * n + j] = PetscSqrtReal(s);
    for (PetscInt i = j + 1; i < n; i++) {
      PetscReal t = A[i * n + j];
      for (PetscInt k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / L[j * n + j];
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a Gaussian prior with the test climate, on the group communicator of ensemble e and its grid */
static inline PetscErrorCode DaisiTestGaussianPrior(DaisiEnsemble e, DaisiTestClimate *c, DaisiPrior *p)
{
  MPI_Comm  group;
  DaisiGrid g;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetGroupComm(e, &group));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  DaisiTestClimateInit(c, g.ny, g.nx);
  PetscCall(DaisiPriorCreate(group, p));
  PetscCall(DaisiPriorSetType(*p, DAISI_PRIOR_GAUSSIAN));
  PetscCall(DaisiPriorGaussianSetSpectrumFunction(*p, DaisiTestSpectrum, c));
  PetscCall(DaisiPriorSetFromOptions(*p));
  PetscCall(DaisiPriorSetUp(*p, &g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a daisi filter with the given parameters and prior, set up for e */
static inline PetscErrorCode DaisiTestFilter(DaisiEnsemble e, const DaisiFilterDAISIParams *par, DaisiPrior prior, DaisiFilter *f)
{
  MPI_Comm world;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetComm(e, &world));
  PetscCall(DaisiFilterCreate(world, f));
  PetscCall(DaisiFilterSetType(*f, DAISI_FILTER_DAISI));
  PetscCall(DaisiFilterDAISISetParams(*f, par));
  if (prior) PetscCall(DaisiFilterDAISISetPrior(*f, prior));
  PetscCall(DaisiFilterSetEnsemble(*f, e));
  PetscCall(DaisiFilterSetUp(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

#endif
