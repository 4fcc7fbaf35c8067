/* Private: the prior object and its ops table. */
#ifndef DAISI_PRIORIMPL_H
#define DAISI_PRIORIMPL_H

#include <daisi/prior.h>
#include <daisi/sys.h>

typedef struct {
  PetscErrorCode (*setfromoptions)(DaisiPrior, PetscOptionItems *);
  PetscErrorCode (*setup)(DaisiPrior);
  PetscErrorCode (*view)(DaisiPrior, PetscViewer);
  PetscErrorCode (*destroy)(DaisiPrior);
  /* b = b(x, t) */
  PetscErrorCode (*velocity)(DaisiPrior, PetscInt, const PetscReal *, const PetscReal *, PetscReal *);
  /* gx = J^T w, b (may be NULL) */
  PetscErrorCode (*vjp)(DaisiPrior, PetscInt, const PetscReal *, const PetscReal *, const PetscReal *, PetscReal *, PetscReal *);
  /* jv = J v, b (may be NULL) */
  PetscErrorCode (*jvp)(DaisiPrior, PetscInt, const PetscReal *, const PetscReal *, const PetscReal *, PetscReal *, PetscReal *);
} DaisiPriorOps;

struct _p_DaisiPrior {
  MPI_Comm      comm;
  char          type[64];
  char         *prefix;
  PetscBool     setupcalled;
  PetscReal     scale; /* s_data */
  PetscBool     scale_set; /* given by -prior_scale or DaisiPriorSetScale (else a type may supply it) */
  DaisiGrid     grid;
  DaisiPriorOps ops;
  void         *data;
};

PETSC_INTERN PetscErrorCode DaisiPriorCreate_Gaussian(DaisiPrior);
PETSC_INTERN PetscErrorCode DaisiPriorCreate_Net(DaisiPrior);
PETSC_INTERN PetscErrorCode DaisiPriorRegisterEvents(void);

#endif
