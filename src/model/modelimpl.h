/* Private: the model object and its ops table. */
#ifndef DAISI_MODELIMPL_H
#define DAISI_MODELIMPL_H

#include <daisi/model.h>

typedef struct {
  PetscErrorCode (*setfromoptions)(DaisiModel, PetscOptionItems *);
  PetscErrorCode (*setup)(DaisiModel);
  PetscErrorCode (*view)(DaisiModel, PetscViewer);
  PetscErrorCode (*destroy)(DaisiModel);
  PetscErrorCode (*setstate)(DaisiModel, PetscInt, const PetscReal *);
  PetscErrorCode (*getstate)(DaisiModel, PetscInt, PetscReal *);
  PetscErrorCode (*advance)(DaisiModel, PetscInt);
  PetscErrorCode (*initialcondition)(DaisiModel, PetscInt, PetscInt64);
  PetscErrorCode (*getnative)(DaisiModel, PetscInt, PetscReal *);
  PetscErrorCode (*setnative)(DaisiModel, PetscInt, const PetscReal *);
} DaisiModelOps;

struct _p_DaisiModel {
  MPI_Comm          comm;
  char              type[64];
  char             *prefix;
  PetscInt          nbatch;
  PetscBool         setupcalled;
  PetscReal         time;
  DaisiGrid         grid;
  DaisiNativeLayout native;
  DaisiModelParam  *params;
  PetscInt          nparams;
  DaisiModelOps     ops;
  void             *data;
};

/* helpers for implementations */
PETSC_INTERN PetscErrorCode DaisiModelSetParams(DaisiModel, PetscInt, const DaisiModelParam *);

PETSC_INTERN PetscErrorCode DaisiModelCreate_SQG(DaisiModel);
PETSC_INTERN PetscErrorCode DaisiModelCreate_L63(DaisiModel);

#endif
