/* DaisiModel: a forecast model behind a small ops table (SQG, Lorenz '63, ...).
 *
 * Lifecycle, in the PETSc manner:
 *   DaisiModelCreate(comm, &m);  DaisiModelSetType(m, DAISI_MODEL_SQG);
 *   DaisiModelSetBatchSize(m, B);  DaisiModelSetFromOptions(m);  DaisiModelSetUp(m);
 *   DaisiModelSetState(m, b, x);  DaisiModelAdvance(m, nsteps);  DaisiModelGetState(m, b, x);
 *   DaisiModelDestroy(&m);
 * A model advances a batch of B members together on its communicator; each member's
 * state is split over all ranks of the communicator in the layout of DaisiGrid.
 *
 * Besides the state in state units (SQG: theta in K on the grid) a model has a native
 * state (SQG: spectral coefficients) from which a run continues bit for bit; checkpoints
 * store the native state. It is a global array of nrows x rowlen doubles per member,
 * rows split over the ranks (this rank: rows [row0, row0 + nrowl)), independent of the
 * rank count, so that a checkpoint can be restarted on any number of ranks. */
#ifndef DAISI_MODEL_H
#define DAISI_MODEL_H

#include <daisi/grid.h>
#include <petscviewer.h>

typedef struct _p_DaisiModel *DaisiModel;
typedef const char           *DaisiModelType;
#define DAISI_MODEL_SQG "sqg"
#define DAISI_MODEL_L63 "l63"

typedef struct {
  PetscInt nrows, rowlen; /* global native shape per member */
  PetscInt row0, nrowl;   /* this rank's rows */
} DaisiNativeLayout;

PETSC_EXTERN PetscErrorCode DaisiModelCreate(MPI_Comm comm, DaisiModel *m);
PETSC_EXTERN PetscErrorCode DaisiModelSetType(DaisiModel m, DaisiModelType type);
PETSC_EXTERN PetscErrorCode DaisiModelGetType(DaisiModel m, DaisiModelType *type);
PETSC_EXTERN PetscErrorCode DaisiModelSetOptionsPrefix(DaisiModel m, const char prefix[]);
PETSC_EXTERN PetscErrorCode DaisiModelSetBatchSize(DaisiModel m, PetscInt nbatch);
PETSC_EXTERN PetscErrorCode DaisiModelGetBatchSize(DaisiModel m, PetscInt *nbatch);
PETSC_EXTERN PetscErrorCode DaisiModelSetFromOptions(DaisiModel m);
PETSC_EXTERN PetscErrorCode DaisiModelSetUp(DaisiModel m);
PETSC_EXTERN PetscErrorCode DaisiModelView(DaisiModel m, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiModelDestroy(DaisiModel *m);

PETSC_EXTERN PetscErrorCode DaisiModelGetComm(DaisiModel m, MPI_Comm *comm);
PETSC_EXTERN PetscErrorCode DaisiModelGetGrid(DaisiModel m, DaisiGrid *grid);
PETSC_EXTERN PetscErrorCode DaisiModelSetState(DaisiModel m, PetscInt member, const PetscReal x[]);
PETSC_EXTERN PetscErrorCode DaisiModelGetState(DaisiModel m, PetscInt member, PetscReal x[]);
/* Advances all members of the batch by nsteps time steps; errors (PETSC_ERR_NOT_CONVERGED)
 * naming the member, step and model time if the state blows up (NaN/Inf or runaway norm). */
PETSC_EXTERN PetscErrorCode DaisiModelAdvance(DaisiModel m, PetscInt nsteps);
PETSC_EXTERN PetscErrorCode DaisiModelGetTime(DaisiModel m, PetscReal *t);
PETSC_EXTERN PetscErrorCode DaisiModelSetTime(DaisiModel m, PetscReal t);
/* The reference initial condition of the model (SQG: seeded noise plus a lid blob). */
PETSC_EXTERN PetscErrorCode DaisiModelInitialCondition(DaisiModel m, PetscInt member, PetscInt64 seed);

PETSC_EXTERN PetscErrorCode DaisiModelGetNativeLayout(DaisiModel m, DaisiNativeLayout *layout);
PETSC_EXTERN PetscErrorCode DaisiModelGetNative(DaisiModel m, PetscInt member, PetscReal x[]);
PETSC_EXTERN PetscErrorCode DaisiModelSetNative(DaisiModel m, PetscInt member, const PetscReal x[]);

/* Attributes describing every model parameter, for output files: name and value. */
typedef struct {
  const char *name;
  PetscReal   value;
} DaisiModelParam;
PETSC_EXTERN PetscErrorCode DaisiModelGetParams(DaisiModel m, PetscInt *n, const DaisiModelParam **params);

/* Registration of model types (for new models: see docs/developer-guide.md). */
PETSC_EXTERN PetscErrorCode DaisiModelRegister(const char name[], PetscErrorCode (*create)(DaisiModel));

/* Log events around the model kernels (visible in -log_view). */
PETSC_EXTERN PetscLogEvent DAISI_ModelAdvance, DAISI_ModelFFT, DAISI_ModelTranspose;

#endif
