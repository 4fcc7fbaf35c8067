/* The 3DVar baseline (filter type "3dvar", src/filter/var3d.c; docs/filters.md, section 3DVar).
 *
 *   J(v) = 1/2 v^T v + 1/2 sum_o ((y_o - h(x)_o) / sigma_o)^2,   x = x_b + B^1/2 v,
 *   grad J = v - B^T/2 H^T R^-1 (y - h(x)),   H^T: the observation operator's Jacobian transpose,
 *
 * minimised with PETSc TAO (LMVM or BLMVM). B is a climatological covariance, homogeneous in x:
 * block-diagonal in the zonal wavenumber kx, one Hermitian (nlev ny) x (nlev ny) block S(kx)
 * over (level, y) per kx, estimated from nature-run states (-var3d_climatology FILE) or read from
 * a B file (-var3d_b_file FILE, written by -var3d_b_save FILE). Modes: mean (one minimisation for
 * the ensemble mean; members = analysis mean + r (x_m - background mean)) or members (each
 * member with its own background and perturbed observations).
 *
 * This header is the type's whole interface: its parameters (held by every filter, so that every
 * type reads the -var3d_* options), and a few entry points for tests and diagnostics. */
#ifndef DAISI_VAR3D_H
#define DAISI_VAR3D_H

#include <daisi/filter.h>

#define DAISI_FILTER_VAR3D "3dvar"

typedef enum {
  DAISI_FILTER_VAR3D_MEAN,
  DAISI_FILTER_VAR3D_MEMBERS
} DaisiFilterVar3dMode;
PETSC_EXTERN const char *const DaisiFilterVar3dModes[];  /* mean, members */
PETSC_EXTERN const char *const DaisiFilterVar3dSolvers[]; /* lmvm, blmvm */

typedef struct {
  DaisiFilterVar3dMode mode;                            /* -var3d_mode mean|members (mean) */
  PetscReal            pert_scale;                      /* -var3d_perturbation_scale r >= 0, mean mode (0: deterministic 3DVar) */
  char                 climatology[PETSC_MAX_PATH_LEN]; /* -var3d_climatology FILE: nature-run (or ensemble) state file */
  PetscInt             first, stride, count;            /* -var3d_climatology_first (0), _stride (1), _count (0: to the end) */
  PetscInt             members;                         /* -var3d_climatology_members (0: all members of an ensemble file) */
  char                 bfile[PETSC_MAX_PATH_LEN];       /* -var3d_b_file FILE: read the covariance blocks instead */
  char                 bsave[PETSC_MAX_PATH_LEN];       /* -var3d_b_save FILE: write the estimated blocks at set-up */
  PetscReal            shrinkage;                       /* -var3d_shrinkage a in [0, 1]: (1 - a) S + a diag(S) per kx block (0) */
  PetscReal            bscale;                          /* -var3d_b_scale s > 0: B = s S (1) */
  PetscInt             solver;                          /* -var3d_tao lmvm|blmvm (lmvm) */
  PetscInt             max_it;                          /* -var3d_max_it >= 1 (200) */
  PetscReal            gatol, gttol;                    /* -var3d_gatol (1e-8), -var3d_gttol (1e-6): stop at |g| <= gatol or |g| <= gttol |g0| */
  PetscBool            monitor;                         /* -var3d_monitor: one line per minimisation */
} DaisiFilterVar3dParams;

PETSC_EXTERN PetscErrorCode DaisiFilterVar3dParamsDefault(DaisiFilterVar3dParams *p);
/* Any filter holds them; Set checks them, naming the option. */
PETSC_EXTERN PetscErrorCode DaisiFilterVar3dGetParams(DaisiFilter f, DaisiFilterVar3dParams *p);
PETSC_EXTERN PetscErrorCode DaisiFilterVar3dSetParams(DaisiFilter f, const DaisiFilterVar3dParams *p);

/* Tests and diagnostics (type 3dvar; the filter is set up for e on first use; collective over
 * e's world). The control vector of this rank's group is distributed over the group: nv values
 * on this rank (GetControlSize). Objective: J and its gradient g (may be NULL) at v for the
 * background xb (this rank's slab, K) and the observations as given (no perturbation). */
PETSC_EXTERN PetscErrorCode DaisiFilterVar3dGetControlSize(DaisiFilter f, DaisiEnsemble e, PetscInt *nv);
PETSC_EXTERN PetscErrorCode DaisiFilterVar3dObjective(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs, const PetscReal xb[], const PetscReal v[], PetscReal *J, PetscReal g[]);
/* dx = B^1/2 v (this rank's slab) and its adjoint v = B^T/2 dx */
PETSC_EXTERN PetscErrorCode DaisiFilterVar3dApplySqrtB(DaisiFilter f, DaisiEnsemble e, const PetscReal v[], PetscReal dx[]);
PETSC_EXTERN PetscErrorCode DaisiFilterVar3dApplySqrtBTranspose(DaisiFilter f, DaisiEnsemble e, const PetscReal dx[], PetscReal v[]);

/* What the last analysis did (on this rank's group; members mode: summed over its members). */
typedef struct {
  PetscInt  solves;     /* minimisations */
  PetscInt  iterations; /* TAO iterations, summed */
  PetscInt  worst;      /* the most negative TAO convergence reason seen (> 0: all converged; a line-search
                         * failure at |g| <= 1e-6 |g0|, where the round-off of J stops it, counts as converged) */
  PetscReal J0, J;      /* objective before and after (last solve) */
} DaisiFilterVar3dStats;
PETSC_EXTERN PetscErrorCode DaisiFilterVar3dGetStats(DaisiFilter f, DaisiFilterVar3dStats *s);

/* private to the filter package: the -var3d_* options (read by every type) and the type's constructor */
PETSC_INTERN PetscErrorCode DaisiFilterVar3dParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_Var3d(DaisiFilter f);

PETSC_EXTERN PetscLogEvent DAISI_FilterVar3dSetUp, DAISI_FilterVar3dSolve, DAISI_FilterVar3dObjective, DAISI_FilterVar3dSqrtB;

#endif
