/* Private: the pieces shared by the variational types 3dvar (var3d.c), l3dvar (l3dvar.c) and losda (losda.c),
 * implemented in varcommon.c: the per-group work space of a member-wise analysis, the
 * observations of a cycle on this rank's rows (with the perturbed observations of the members
 * mode), the observation term of J and its gradient, the TAO minimisation, the exact ensemble
 * mean, and the ensemble analysis driver (mean / members modes, -var3d_* parameters). */
#ifndef DAISI_VARIMPL_H
#define DAISI_VARIMPL_H

#include "filterimpl.h"
#include <petscvec.h>

/* the observations of the cycle that lie on this rank's rows */
typedef struct {
  const DaisiObsSet *obs;
  PetscInt           cycle;
  PetscInt           nown;                    /* on this rank */
  PetscInt          *own, *site, *row;        /* observation index, slab index of its value, grid row */
  PetscReal         *y, *yp, *sig2, *hx, *hp; /* values, values used (perturbed), sigma^2, work */
} DaisiVarObs;

/* xa = the analysis for background xb and the observation values core->ob.yp; member < 0: the
 * ensemble mean (for the monitor line) */
typedef PetscErrorCode (*DaisiVarSolveFn)(DaisiFilter f, PetscInt member, const PetscReal xb[], PetscReal xa[]);
/* the type's work space for ensemble e (once; collective over e's world) */
typedef PetscErrorCode (*DaisiVarSetUpFn)(DaisiFilter f, DaisiEnsemble e);

/* the part of a variational type's data common to both types (first member of their structs) */
typedef struct {
  const char           *name; /* type name, for messages */
  DaisiEnsemble         ens;  /* the ensemble the work space was made for (set by the type when complete) */
  MPI_Comm              world, group, slab;
  PetscMPIInt           P, prank, gindex;
  PetscInt              G;
  DaisiGrid             grid; /* this rank's slab */
  PetscInt              n, B, M, *member;
  PetscReal            *mean, *xa, *xm; /* the exact ensemble mean (slab); the mean's analysis; the group's analyses */
  DaisiVarObs           ob;
  DaisiFilterVar3dStats stats;
  DaisiVarSolveFn       solve;
  /* set by the type's constructor (DaisiVarCoreSetUp keeps them): its set-up for an ensemble, the
   * background of a solve (xb: this rank's slab), J and grad J at v for that background (ctx: f->data) */
  DaisiVarSetUpFn       setup;
  PetscErrorCode (*background)(DaisiFilter f, const PetscReal xb[]);
  PetscErrorCode (*objective)(void *ctx, const PetscReal v[], PetscReal *J, PetscReal g[]);
  PetscInt              nv; /* control values on this rank (set by the type's set-up) */
  PetscInt              max_it;            /* > 0: the next minimisations' iteration limit instead of -var3d_max_it */
  PetscBool             members_from_mean; /* losda: every member solved from the ensemble mean with the observations as given */
} DaisiVarCore;

/* comms, grid, sizes, member indices, mean and analysis buffers (collective over e's world) */
PETSC_INTERN PetscErrorCode DaisiVarCoreSetUp(DaisiVarCore *c, const char name[], DaisiEnsemble e, DaisiVarSolveFn solve);
PETSC_INTERN PetscErrorCode DaisiVarCoreDestroy(DaisiVarCore *c);

PETSC_INTERN PetscErrorCode DaisiVarObsTake(DaisiVarObs *o, const DaisiGrid *g, const DaisiObsSet *obs);
PETSC_INTERN PetscErrorCode DaisiVarObsFree(DaisiVarObs *o);
/* yp = y + sigma eps, eps keyed like the EnKF's (seed, cycle, member; observation index) */
PETSC_INTERN void DaisiVarObsPerturb(DaisiVarObs *o, PetscInt64 seed, PetscInt member);
/* the observation term at the state x (slab): part[row] += ((yp - h(x)) / sigma)^2 per owned
 * observation (part zeroed by the caller); keeps dJ_o/dh for DaisiVarObsGradient */
PETSC_INTERN PetscErrorCode DaisiVarObsCost(DaisiVarObs *o, const PetscReal x[], PetscReal part[]);
/* gx (slab, n values) = H^T R^-1 (h(x) - yp), after DaisiVarObsCost at x */
PETSC_INTERN PetscErrorCode DaisiVarObsGradient(DaisiVarObs *o, PetscInt n, PetscReal gx[]);

/* The TAO minimisation of fn from v = 0 (v: the group's control Vec, the minimiser on return)
 * with the -var3d_* solver parameters; statistics into c->stats, the -var3d_monitor line. A
 * line-search failure at |g| <= round |g0| is counted as converged (round: the relative gradient
 * at which the round-off of J stops the line search: 1e-6 for J in double, larger for float32
 * networks). floor > 0 (a J with a noise floor): the relative tolerance is at least floor, and
 * exhausted function evaluations at |g| <= round |g0| count as converged too (0: 3dvar's rules).
 * fn's gradient argument g is never NULL here. */
typedef PetscErrorCode (*DaisiVarObjectiveFn)(void *ctx, const PetscReal v[], PetscReal *J, PetscReal g[]);
PETSC_INTERN PetscErrorCode DaisiVarMinimize(DaisiFilter f, DaisiVarCore *c, Vec v, DaisiVarObjectiveFn fn, void *ctx, PetscReal round, PetscReal floor, PetscInt member);

/* the exact ensemble mean over all groups, identical on every group */
PETSC_INTERN PetscErrorCode DaisiVarMemberMean(DaisiVarCore *c, const PetscReal x[], PetscReal mean[]);

/* The ensemble analysis of a variational type: inflation, the mean, then per group the mean
 * mode (one solve for the mean, members = x_a + r (x_m - mean)) or the members mode (one solve
 * per member with perturbed observations) or, with members_from_mean, one solve per member
 * from the mean with the observations as given (losda), the verdict of all groups, the result
 * into e. */
PETSC_INTERN PetscErrorCode DaisiVarEnsembleAnalysis(DaisiFilter f, DaisiVarCore *c, DaisiEnsemble e, const DaisiObsSet *obs);

/* The ops and entry points common to the types (f->data starts with the core): f->ops.setup
 * (the work space for f's ensemble, if set), f->ops.ensemble_analysis (set-up, then
 * DaisiVarEnsembleAnalysis), the mode and solver lines of f->ops.view; for the test entry points
 * the type check, the filter's and the type's set-up for e, and the statistics. */
PETSC_INTERN PetscErrorCode DaisiVarSetUpOp(DaisiFilter f);
PETSC_INTERN PetscErrorCode DaisiVarEnsembleAnalysisOp(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs);
PETSC_INTERN PetscErrorCode DaisiVarViewMode(DaisiFilter f, PetscViewer viewer);
PETSC_INTERN PetscErrorCode DaisiVarViewSolver(DaisiFilter f, PetscViewer viewer);
PETSC_INTERN PetscErrorCode DaisiVarCheckType(DaisiFilter f, const char type[]);
PETSC_INTERN PetscErrorCode DaisiVarPrepare(DaisiFilter f, const char type[], DaisiEnsemble e, DaisiVarCore **c);
PETSC_INTERN PetscErrorCode DaisiVarGetStats(DaisiFilter f, const char type[], DaisiFilterVar3dStats *s);
/* the test entry points DaisiFilter{Var3d,L3dvar}GetControlSize and ...Objective */
PETSC_INTERN PetscErrorCode DaisiVarGetControlSize(DaisiFilter f, const char type[], DaisiEnsemble e, PetscInt *nv);
PETSC_INTERN PetscErrorCode DaisiVarObjectiveAt(DaisiFilter f, const char type[], DaisiEnsemble e, const DaisiObsSet *obs, const PetscReal xb[], const PetscReal v[], PetscReal *J, PetscReal g[]);

/* J's partial sums: part[0..np) summed over the group exactly (one non-zero contribution per
 * entry), then added in index order: the same on every layout */
PETSC_INTERN PetscErrorCode DaisiVarSumParts(MPI_Comm group, PetscInt np, PetscReal part[], PetscInt n1, PetscReal *s1, PetscReal *s2);

#endif
