#include <daisi/obs.h>

PetscErrorCode DaisiObsSetCreate(MPI_Comm comm, PetscInt n, DaisiObsOperatorType type, DaisiObsSet *set)
{
  PetscFunctionBegin;
  PetscCheck(n >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "number of observations must be >= 0, got %" PetscInt_FMT, n);
  PetscCall(PetscMemzero(set, sizeof(*set)));
  set->nobs = n;
  PetscCall(PetscMalloc5(n + 1, &set->lev, n + 1, &set->iy, n + 1, &set->ix, n + 1, &set->value, n + 1, &set->sigma));
  PetscCall(DaisiObsOperatorCreate(comm, &set->op));
  PetscCall(DaisiObsOperatorSetType(set->op, type));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsSetDestroy(DaisiObsSet *set)
{
  PetscFunctionBegin;
  PetscCall(PetscFree5(set->lev, set->iy, set->ix, set->value, set->sigma));
  PetscCall(DaisiObsOperatorDestroy(&set->op));
  PetscCall(PetscMemzero(set, sizeof(*set)));
  PetscFunctionReturn(PETSC_SUCCESS);
}
