/* DaisiEnsemble: the parallel shape of an ensemble of M model states.
 *
 * The world communicator (size R) is split into G member groups of P = R / G ranks:
 *   group      g = rank / P        (contiguous world ranks form a group),
 *   slab rank  s = rank % P        (position of the rank inside its group).
 * Member m lives on group m % G as batch member m / G of that group's DaisiModel (members are
 * dealt round-robin, so M need not divide by G); its field is split in row slabs over the P
 * ranks of the group exactly as the model (FFTW-MPI) lays them out. Two communicators:
 *   group comm  the P ranks of one group (a member's domain; the model runs on it),
 *   slab comm   the G ranks holding the same slab in every group.
 * Forecasts run on every group at once (DaisiEnsembleForecast).
 *
 * Analysis layout: every rank of the WORLD holds all M members at an equal share of the
 * nlev*ny*nx values. Value with global index gi = (lev*ny + y)*nx + x is held by world rank
 * gi % R as its point j = gi / R (points dealt out interleaved by global index, which balances
 * uneven observation density and gives ranks with empty slabs work too). In this layout an
 * ensemble is stored member-major, xa[m * npts + j] (the layout of metrics.h), so scores can be
 * computed directly on it. DaisiEnsembleToAnalysis / FromAnalysis move between the layouts with
 * one MPI_Alltoallv each (exact: data movement only).
 *
 * Lifecycle:
 *   DaisiEnsembleCreate(PETSC_COMM_WORLD, &e);  DaisiEnsembleSetSize(e, M);  (optional)
 *   DaisiEnsembleSetFromOptions(e);  DaisiEnsembleSetUp(e);  ...  DaisiEnsembleDestroy(&e);
 * Options: -ens_size M (default 20), -ens_groups G (default 1), -ens_init_sigma (K, default 3.06),
 * -ens_seed (default 0); the model reads its own options (-model_type, -sqg_n, ...).
 *
 * Random numbers (initial perturbations) come from the counter-based generator keyed by
 * (seed, DAISI_RNG_ENSEMBLE_PERTURBATION, cycle 0, member, step 0, global index), so the
 * ensemble is bit-identical for every (G, P) layout and rank count. */
#ifndef DAISI_ENSEMBLE_H
#define DAISI_ENSEMBLE_H

#include <daisi/model.h>

typedef struct _p_DaisiEnsemble *DaisiEnsemble;

PETSC_EXTERN PetscErrorCode DaisiEnsembleCreate(MPI_Comm world, DaisiEnsemble *e);
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetSize(DaisiEnsemble e, PetscInt M);
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetGroups(DaisiEnsemble e, PetscInt G);
/* standard deviation of the initial perturbations (K); errors if sigma <= 0 */
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetInitSigma(DaisiEnsemble e, PetscReal sigma);
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetSeed(DaisiEnsemble e, PetscInt64 seed);
/* model type used if -model_type is not given (default sqg) */
/* Members a group's model integrates at once (-ens_forecast_batch B, default 64; 0 = all of
 * the group's members). With B smaller than a group's members, the members stream through
 * the forecast B at a time: the model's memory (SQG: spectral state and Runge-Kutta stages)
 * is for B members instead of all; each member's native model state is kept between
 * forecasts (the same results as B = 0). */
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetForecastBatch(DaisiEnsemble e, PetscInt B);
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetModelType(DaisiEnsemble e, DaisiModelType type);
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetFromOptions(DaisiEnsemble e);
/* Splits the world, creates the model on the group communicator with batch = the group's
 * member count. Errors if G does not divide the world size, M < 2 or G > M. */
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetUp(DaisiEnsemble e);
PETSC_EXTERN PetscErrorCode DaisiEnsembleView(DaisiEnsemble e, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiEnsembleDestroy(DaisiEnsemble *e);

/* Shape (valid after SetUp) */
typedef struct {
  PetscInt M;        /* ensemble size */
  PetscInt G, P;     /* groups, ranks per group */
  PetscInt group;    /* this rank's group */
  PetscInt slab;     /* this rank's position in its group */
  PetscInt nlocal;   /* members held by this rank's group (batch size) */
  PetscInt nloc;     /* values of one member on this rank (slab layout) */
  PetscInt npts;     /* points of this rank in the analysis layout */
  PetscInt nglobal;  /* nlev * ny * nx */
  PetscInt size;     /* world size R */
  PetscInt rank;     /* world rank */
} DaisiEnsembleInfo;
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetInfo(DaisiEnsemble e, DaisiEnsembleInfo *info);
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetGrid(DaisiEnsemble e, DaisiGrid *grid);
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetModel(DaisiEnsemble e, DaisiModel *model);
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetComm(DaisiEnsemble e, MPI_Comm *world);
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetGroupComm(DaisiEnsemble e, MPI_Comm *group);
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetSlabComm(DaisiEnsemble e, MPI_Comm *slab);
/* global member number of local batch member b: group + b * G */
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetMemberIndex(DaisiEnsemble e, PetscInt b, PetscInt *m);

/* The states in the slab layout: x[b * nloc + i] for this group's members b. The ensemble
 * owns them; Get/Restore give write access (Restore marks them changed, so the next
 * forecast hands them to the model). */
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetLocalStates(DaisiEnsemble e, PetscReal **x);
PETSC_EXTERN PetscErrorCode DaisiEnsembleRestoreLocalStates(DaisiEnsemble e, PetscReal **x);
PETSC_EXTERN PetscErrorCode DaisiEnsembleGetLocalStatesRead(DaisiEnsemble e, const PetscReal **x);

/* Member m (global number) = truth + sigma * N(0,1) per value, noise keyed by (seed, member,
 * global index): layout independent. truth is this rank's slab (slab layout of its group). */
PETSC_EXTERN PetscErrorCode DaisiEnsembleInitializeFromTruth(DaisiEnsemble e, const PetscReal truth[]);
/* Sets every member from a global array all[m * nglobal + gi] present on every rank
 * (small problems and tests). */
PETSC_EXTERN PetscErrorCode DaisiEnsembleSetGlobal(DaisiEnsemble e, const PetscReal all[]);
/* Gathers every member to world rank 0 as all[m * nglobal + gi] (all may be NULL elsewhere;
 * small problems and tests: rank 0 holds M x nglobal values). */
PETSC_EXTERN PetscErrorCode DaisiEnsembleGatherGlobal(DaisiEnsemble e, PetscReal all[]);
/* Gathers member m from its group to world rank 0 as full[gi] (full may be NULL elsewhere):
 * output one member at a time, so that no rank holds the ensemble. */
PETSC_EXTERN PetscErrorCode DaisiEnsembleGatherMember(DaisiEnsemble e, PetscInt m, PetscReal full[]);

/* Forecast: advance every member nsteps model steps (all groups at once). */
PETSC_EXTERN PetscErrorCode DaisiEnsembleForecast(DaisiEnsemble e, PetscInt nsteps);

/* Transposes between the slab layout and the analysis layout xa[m * npts + j] (collective
 * over the world). */
PETSC_EXTERN PetscErrorCode DaisiEnsembleToAnalysis(DaisiEnsemble e, PetscReal xa[]);
PETSC_EXTERN PetscErrorCode DaisiEnsembleFromAnalysis(DaisiEnsemble e, const PetscReal xa[]);
/* A single field held in the slab layout (the copy of group 0 is used) to the analysis
 * layout fa[j], e.g. the truth for scores computed in the analysis layout. */
PETSC_EXTERN PetscErrorCode DaisiEnsembleFieldToAnalysis(DaisiEnsemble e, const PetscReal f[], PetscReal fa[]);
/* global index of analysis point j of this rank */
static inline PetscInt DaisiEnsembleAnalysisGlobalIndex(const DaisiEnsembleInfo *info, PetscInt j)
{
  return j * info->size + info->rank;
}

PETSC_EXTERN PetscLogEvent DAISI_EnsembleTranspose, DAISI_EnsembleForecast, DAISI_EnsembleInit;

#endif
