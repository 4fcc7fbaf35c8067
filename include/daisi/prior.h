/* DaisiPrior: the unconditional generative prior of DAISI, a stochastic interpolant
 * x_t = (1 - t) z + t x1 (t = 0 noise, t = 1 data) given by its velocity b(x, t).
 *
 * Lifecycle, in the PETSc manner:
 *   DaisiPriorCreate(comm, &p);  DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN);
 *   DaisiPriorSetFromOptions(p);  DaisiPriorSetUp(p, &grid);
 *   DaisiPriorVelocity(p, B, t, x, b);  DaisiPriorVelocityVJP(...);  DaisiPriorVelocityJVP(...);
 *   DaisiPriorDestroy(&p);
 *
 * The prior works in normalised space x_n = x / s_data (one scalar, -prior_scale, default
 * 8.143 K = 2660 m/s, mean 0); DaisiPriorNormalize/Denormalize convert. Each of the B samples
 * of a batch is a state in the DaisiGrid layout (rows split over the ranks of comm exactly as
 * FFTW-MPI hands them out, possibly none on some ranks), stored x[b * n + (lev * nyl + y - y0)
 * * nx + xi], n = DaisiGridLocalSize(grid). Every rank passes the same t[B].
 *
 * Types (-prior_type):
 *   gaussian  exact velocity of a stationary Gaussian climate N(0, C), C block-diagonal in 2-D
 *             Fourier space (one Hermitian nlev x nlev block per wavevector), estimated from a
 *             nature run or read from a prior file (docs/prior.md):
 *             b(x, t) = (t C - (1 - t) I) ((1 - t)^2 I + t^2 C)^-1 x.
 *   net       a trained DaisiNet (-prior_file WEIGHTS): b = DaisiNetForward, VJP and JVP
 *             through the network.
 * docs/prior.md gives the options, the prior file format and the conventions. */
#ifndef DAISI_PRIOR_H
#define DAISI_PRIOR_H

#include <daisi/grid.h>
#include <petscviewer.h>

typedef struct _p_DaisiPrior *DaisiPrior;
typedef const char           *DaisiPriorType;
#define DAISI_PRIOR_GAUSSIAN "gaussian"
#define DAISI_PRIOR_NET      "net"

/* published SQG normalisation: 2660 m/s times f theta0 / g = 8.1429 K */
#define DAISI_PRIOR_DEFAULT_SCALE 8.142857142857142

PETSC_EXTERN PetscErrorCode DaisiPriorCreate(MPI_Comm comm, DaisiPrior *p);
PETSC_EXTERN PetscErrorCode DaisiPriorSetType(DaisiPrior p, DaisiPriorType type);
PETSC_EXTERN PetscErrorCode DaisiPriorGetType(DaisiPrior p, DaisiPriorType *type);
PETSC_EXTERN PetscErrorCode DaisiPriorSetOptionsPrefix(DaisiPrior p, const char prefix[]);
/* -prior_type gaussian|net, -prior_scale S, and the options of the type (docs/prior.md) */
PETSC_EXTERN PetscErrorCode DaisiPriorSetFromOptions(DaisiPrior p);
/* Prepares the prior for states on grid (the type checks that its data fit the grid). */
PETSC_EXTERN PetscErrorCode DaisiPriorSetUp(DaisiPrior p, const DaisiGrid *grid);
PETSC_EXTERN PetscErrorCode DaisiPriorView(DaisiPrior p, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiPriorDestroy(DaisiPrior *p);

PETSC_EXTERN PetscErrorCode DaisiPriorGetComm(DaisiPrior p, MPI_Comm *comm);
PETSC_EXTERN PetscErrorCode DaisiPriorGetGrid(DaisiPrior p, DaisiGrid *grid);
PETSC_EXTERN PetscErrorCode DaisiPriorSetScale(DaisiPrior p, PetscReal s_data);
PETSC_EXTERN PetscErrorCode DaisiPriorGetScale(DaisiPrior p, PetscReal *s_data);
/* x_n = x / s_data and back, for B samples (in place allowed) */
PETSC_EXTERN PetscErrorCode DaisiPriorNormalize(DaisiPrior p, PetscInt B, const PetscReal x[], PetscReal xn[]);
PETSC_EXTERN PetscErrorCode DaisiPriorDenormalize(DaisiPrior p, PetscInt B, const PetscReal xn[], PetscReal x[]);

/* b = b(x, t) for B samples in normalised space; t[b] in [0, 1]. */
PETSC_EXTERN PetscErrorCode DaisiPriorVelocity(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal b[]);
/* gx = (db/dx)^T w, and b = b(x, t) if b is not NULL. */
PETSC_EXTERN PetscErrorCode DaisiPriorVelocityVJP(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal w[], PetscReal b[], PetscReal gx[]);
/* jv = (db/dx) v, and b = b(x, t) if b is not NULL. */
PETSC_EXTERN PetscErrorCode DaisiPriorVelocityJVP(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal v[], PetscReal b[], PetscReal jv[]);

/* Derived fields of DAISI.md from a velocity already evaluated (n = values per sample on
 * this rank; no communication):
 *   denoiser  x1_hat = x + (1 - t) b
 *   score     s = (t b - x) / (1 - t),  s = 0 at t = 1 by convention. */
PETSC_EXTERN PetscErrorCode DaisiPriorDenoiserFromVelocity(PetscInt n, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal b[], PetscReal x1[]);
PETSC_EXTERN PetscErrorCode DaisiPriorScoreFromVelocity(PetscInt n, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal b[], PetscReal s[]);
/* the same, evaluating the velocity */
PETSC_EXTERN PetscErrorCode DaisiPriorDenoiser(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal x1[]);
PETSC_EXTERN PetscErrorCode DaisiPriorScore(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal s[]);

/* ---- gaussian type ----
 * The covariance in the unitary Fourier convention: for the 2-D DFT X(k) of each level,
 * S_ab(k) = E[X_a(k) conj(X_b(k))] / (nx ny), so that S = I everywhere is N(0, I) on the grid.
 * A spectrum function gives S(k) at a signed wavevector (ky in (-ny/2, ny/2], kx in [0, nx/2])
 * as nlev x nlev real and imaginary parts (row-major); it must be Hermitian positive
 * semidefinite with S(-k) = conj(S(k)) (the prior symmetrises it in this sense). */
typedef PetscErrorCode (*DaisiPriorSpectrumFn)(void *ctx, PetscInt ky, PetscInt kx, PetscInt nlev, PetscReal re[], PetscReal im[]);
/* Use a known spectrum (tests, synthetic climates) instead of a file; before SetUp. */
PETSC_EXTERN PetscErrorCode DaisiPriorGaussianSetSpectrumFunction(DaisiPrior p, DaisiPriorSpectrumFn fn, void *ctx);
/* Estimates S at SetUp from the states of a nature-run state file (time indices first,
 * first + stride, ..., count of them; count = 0: to the end), normalised by the prior scale
 * and taken about zero (the interpolant's mean 0); the file must hold the prior's grid. */
PETSC_EXTERN PetscErrorCode DaisiPriorGaussianSetTruthFile(DaisiPrior p, const char path[], PetscInt first, PetscInt stride, PetscInt count);
/* Reads S at SetUp from a prior file written by DaisiPriorGaussianSave (docs/prior.md). */
PETSC_EXTERN PetscErrorCode DaisiPriorGaussianSetFile(DaisiPrior p, const char path[]);
/* Writes the set-up spectrum to an HDF5 prior file (docs/prior.md), via a temporary name. */
PETSC_EXTERN PetscErrorCode DaisiPriorGaussianSave(DaisiPrior p, const char path[]);
/* Variance of level lev per grid point implied by S (normalised units): mean over k of S_ll. */
PETSC_EXTERN PetscErrorCode DaisiPriorGaussianGetLevelVariance(DaisiPrior p, PetscInt lev, PetscReal *var);

/* ---- net type ----
 * The weight file (as -prior_file); before SetUp. The data scale recorded in the file by
 * daisi-train (metadata data_scale) becomes the prior's scale; a different -prior_scale is an
 * error. */
PETSC_EXTERN PetscErrorCode DaisiPriorNetSetFile(DaisiPrior p, const char path[]);

/* Registration of prior types. */
PETSC_EXTERN PetscErrorCode DaisiPriorRegister(const char name[], PetscErrorCode (*create)(DaisiPrior));

/* Log events (visible in -log_view). */
PETSC_EXTERN PetscLogEvent DAISI_PriorVelocity, DAISI_PriorVJP, DAISI_PriorJVP, DAISI_PriorFFT, DAISI_PriorEstimate, DAISI_InterpolantStep;

#endif
