#include <daisi/sys.h>
#include <stdio.h>
#include <unistd.h>

PetscErrorCode DaisiOutputNameInit(MPI_Comm comm, const char path[], DaisiOutputName *out)
{
  PetscMPIInt rank;
  long        pid;

  PetscFunctionBegin;
  PetscCheck(path && path[0], comm, PETSC_ERR_ARG_WRONG, "empty output file name");
  PetscCheck(strlen(path) + 32 < PETSC_MAX_PATH_LEN, comm, PETSC_ERR_ARG_SIZ, "output file name too long: %s", path);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  pid = (long)getpid();
  PetscCallMPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, comm));
  PetscCall(PetscStrncpy(out->final, path, sizeof(out->final)));
  PetscCall(PetscSNPrintf(out->tmp, sizeof(out->tmp), "%s.tmp.%ld", path, pid));
  out->comm = comm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOutputNameCommit(DaisiOutputName *out)
{
  PetscMPIInt rank;
  int         err = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  if (rank == 0) err = rename(out->tmp, out->final);
  PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, out->comm));
  PetscCheck(!err, out->comm, PETSC_ERR_FILE_WRITE, "cannot rename %s to %s", out->tmp, out->final);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOutputNameDiscard(DaisiOutputName *out)
{
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  if (rank == 0) (void)remove(out->tmp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFileExists(MPI_Comm comm, const char path[], PetscBool *exists)
{
  PetscMPIInt rank;
  int         e = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) e = access(path, F_OK) == 0;
  PetscCallMPI(MPI_Bcast(&e, 1, MPI_INT, 0, comm));
  *exists = e ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiResolveSourcePath(MPI_Comm comm, const char in[], char out[], size_t len)
{
  char      alt[PETSC_MAX_PATH_LEN];
  PetscBool exists;

  PetscFunctionBegin;
  PetscCall(PetscStrncpy(out, in, len));
  if (!in[0] || in[0] == '/') PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(DaisiFileExists(comm, in, &exists));
  if (exists) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscSNPrintf(alt, sizeof(alt), "%s/%s", DAISI_SOURCE_DIR, in));
  PetscCall(DaisiFileExists(comm, alt, &exists));
  if (exists) PetscCall(PetscStrncpy(out, alt, len));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFileRemove(MPI_Comm comm, const char path[])
{
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  /* every rank is done with the file before it goes: a rank that runs ahead (calls that only
   * broadcast from rank 0 do not hold it back) must not remove a file the others still read */
  PetscCallMPI(MPI_Barrier(comm));
  if (rank == 0) (void)remove(path);
  PetscCallMPI(MPI_Barrier(comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}
