/* Helpers shared by the io tests: FFTW-style slabs, exact test states, error capture. */
#ifndef DAISI_IOTEST_H
#define DAISI_IOTEST_H

#include <daisi/sys.h>
#include <daisi/grid.h>
#include <daisi/rng.h>
#include <stdio.h>
#include <string.h>
#include <daisitest.h>

/* rows of rank r of P as FFTW-MPI hands them out: blocks of ceil(n/P), the last ranks may get none */
static inline void IoTestBlock(PetscInt n, PetscMPIInt P, PetscMPIInt r, PetscInt *start, PetscInt *count)
{
  PetscInt b = (n + P - 1) / P;
  *start     = PetscMin((PetscInt)r * b, n);
  *count     = PetscMin((PetscInt)(r + 1) * b, n) - *start;
}

static inline PetscErrorCode IoTestGrid(MPI_Comm comm, PetscInt nlev, PetscInt ny, PetscInt nx, PetscReal L, DaisiGrid *g)
{
  PetscMPIInt size, rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  g->nlev = nlev;
  g->ny   = ny;
  g->nx   = nx;
  g->Lx = g->Ly = L;
  g->dt         = 1200;
  IoTestBlock(ny, size, rank, &g->y0, &g->nyl);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The value at global index (lev * ny + y) * nx + x of time k, member m: a seeded normal,
 * so the expected answer is known on any rank without communication. */
static inline void IoTestFill(const DaisiGrid *g, PetscInt k, PetscInt m, PetscReal x[])
{
  DaisiRng r = DaisiRngMake(20261123, DAISI_RNG_TEST, (uint64_t)k, (uint64_t)m, 0);
  for (PetscInt l = 0; l < g->nlev; l++)
    for (PetscInt y = 0; y < g->nyl; y++)
      for (PetscInt i = 0; i < g->nx; i++) x[(l * g->nyl + y) * g->nx + i] = 8.0 * DaisiRngNormal(&r, (uint64_t)((l * g->ny + g->y0 + y) * g->nx + i));
}

/* bit-for-bit comparison of a read state against IoTestFill, agreed over comm */
static inline PetscErrorCode IoTestCompare(MPI_Comm comm, const DaisiGrid *g, PetscInt k, PetscInt m, const PetscReal x[], const char what[])
{
  PetscInt   n = DaisiGridLocalSize(g), bad = 0, anybad;
  PetscReal *e;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(n, &e));
  IoTestFill(g, k, m, e);
  for (PetscInt i = 0; i < n; i++)
    if (memcmp(&e[i], &x[i], sizeof(PetscReal))) bad++;
  PetscCall(PetscFree(e));
  PetscCall(MPIU_Allreduce(&bad, &anybad, 1, MPIU_INT, MPI_SUM, comm));
  PetscCheck(anybad == 0, comm, PETSC_ERR_PLIB, "%s: %" PetscInt_FMT " values differ from what was written (time %" PetscInt_FMT ", member %" PetscInt_FMT ")", what, anybad, k, m);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- expected errors (the handler of tests/common/daisitest.h) ---- */
/* Runs `call` expecting it to fail with a message containing s1 and s2 (either may be NULL);
 * -test_show_errors prints the messages. */
#define IoTestExpectError(comm, call, s1, s2) \
  do { \
    DaisiTestError err_ = {{0}, 0}; \
    PetscErrorCode ierr_; \
    const char    *s1_ = (s1), *s2_ = (s2); \
    PetscBool      show_; \
    PetscCall(PetscPushErrorHandler(DaisiTestErrorHandler, &err_)); \
    ierr_ = (call); \
    PetscCall(PetscPopErrorHandler()); \
    PetscCheck(ierr_ != 0, comm, PETSC_ERR_PLIB, "expected an error from %s, got success", #call); \
    PetscCheck(!s1_ || strstr(err_.msg, s1_), comm, PETSC_ERR_PLIB, "error of %s does not name \"%s\": %s", #call, s1_, err_.msg); \
    PetscCheck(!s2_ || strstr(err_.msg, s2_), comm, PETSC_ERR_PLIB, "error of %s does not name \"%s\": %s", #call, s2_, err_.msg); \
    PetscCall(PetscOptionsHasName(NULL, NULL, "-test_show_errors", &show_)); \
    if (show_) PetscCall(PetscPrintf(comm, "expected error (code %d): %s\n", (int)ierr_, err_.msg)); \
  } while (0)

/* whether a file exists, as seen by rank 0 of comm */
static inline PetscErrorCode IoTestExists(MPI_Comm comm, const char path[], PetscBool *exists)
{
  PetscMPIInt rank;
  int         e = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE *fp = fopen(path, "rb");
    e        = fp != NULL;
    if (fp) fclose(fp);
  }
  PetscCallMPI(MPI_Bcast(&e, 1, MPI_INT, 0, comm));
  *exists = e ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscErrorCode IoTestExpectFile(MPI_Comm comm, const char path[], PetscBool want)
{
  PetscBool exists;

  PetscFunctionBegin;
  PetscCall(IoTestExists(comm, path, &exists));
  PetscCheck(exists == want, comm, PETSC_ERR_PLIB, "file %s %s", path, want ? "is missing" : "should not exist");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* removes a file of a passed test (rank 0) */
static inline PetscErrorCode IoTestRemove(MPI_Comm comm, const char path[])
{
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Barrier(comm));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) (void)remove(path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* byte-for-byte comparison of two files, done on rank 0 */
static inline PetscErrorCode IoTestSameBytes(MPI_Comm comm, const char a[], const char b[])
{
  PetscMPIInt rank;
  long        where = -2; /* -2 same, -1 cannot open, >= 0 first differing byte */

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    if (!fa || !fb) where = -1;
    else {
      long pos = 0;
      for (;;) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) {
          where = pos;
          break;
        }
        if (ca == EOF) break;
        pos++;
      }
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
  }
  PetscCallMPI(MPI_Bcast(&where, 1, MPI_LONG, 0, comm));
  PetscCheck(where != -1, comm, PETSC_ERR_FILE_OPEN, "cannot open %s or %s", a, b);
  PetscCheck(where == -2, comm, PETSC_ERR_PLIB, "files %s and %s differ at byte %ld", a, b, where);
  PetscFunctionReturn(PETSC_SUCCESS);
}

#endif
