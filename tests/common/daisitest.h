/* Failure counting shared by the C tests: EXPECT records a failure (with file and line) and
 * goes on, FinishTest reduces the count over PETSC_COMM_WORLD and prints the verdict.
 * Expected errors: DaisiTestErrorHandler keeps the first message of an error, and
 * EXPECT_ERROR_MSG(call, s1, s2) checks that call fails with a message naming s1 and s2
 * (-test_show_errors prints the messages). */
#ifndef DAISI_TEST_H
#define DAISI_TEST_H

#include <petscsys.h>
#include <stdio.h>
#include <string.h>

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

typedef struct {
  char           msg[4096];
  PetscErrorCode code;
} DaisiTestError;

static inline PetscErrorCode DaisiTestErrorHandler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  DaisiTestError *e = (DaisiTestError *)ctx;
  (void)comm;
  (void)line;
  (void)fun;
  (void)file;
  if (p == PETSC_ERROR_INITIAL && !e->code) {
    e->code = n;
    snprintf(e->msg, sizeof(e->msg), "%s", mess ? mess : "");
  }
  return n;
}

#define EXPECT_ERROR_MSG(call, s1, s2) \
  do { \
    DaisiTestError err_ = {{0}, 0}; \
    PetscErrorCode ierr_; \
    const char    *s1_ = (s1), *s2_ = (s2); \
    PetscBool      show_ = PETSC_FALSE; \
    PetscCall(PetscPushErrorHandler(DaisiTestErrorHandler, &err_)); \
    ierr_ = (call); \
    PetscCall(PetscPopErrorHandler()); \
    EXPECT(ierr_ != 0, "expected an error from %s, got success", #call); \
    EXPECT(!ierr_ || !s1_ || strstr(err_.msg, s1_), "error of %s does not name \"%s\": %s", #call, s1_, err_.msg); \
    EXPECT(!ierr_ || !s2_ || strstr(err_.msg, s2_), "error of %s does not name \"%s\": %s", #call, s2_, err_.msg); \
    PetscCall(PetscOptionsGetBool(NULL, NULL, "-test_show_errors", &show_, NULL)); \
    if (show_) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "expected error (code %d): %s\n", (int)ierr_, err_.msg)); \
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
