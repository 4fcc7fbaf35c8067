/* Failure counting shared by the C tests: EXPECT records a failure (with file and line) and
 * goes on, FinishTest reduces the count over PETSC_COMM_WORLD and prints the verdict. */
#ifndef DAISI_TEST_H
#define DAISI_TEST_H

#include <petscsys.h>

static PetscInt nfail = 0;

#define EXPECT(cond, ...) \
  do { \
    if (!(cond)) { \
      nfail++; \
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "FAIL %s:%d: ", __FILE__, __LINE__)); \
      PetscCall(PetscPrintf(PETSC_COMM_SELF, __VA_ARGS__)); \
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n")); \
    } \
  } while (0)

static inline PetscErrorCode FinishTest(const char *name)
{
  PetscInt total;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(&nfail, &total, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s %s: %" PetscInt_FMT " failure(s)\n", name, total ? "FAILED" : "PASSED", total));
  nfail = total;
  PetscFunctionReturn(PETSC_SUCCESS);
}

#endif
