/* The output-file helpers of sys/output.c on any number of ranks: a write under the temporary
 * name appears under the final name only when committed (and not at all when discarded),
 * impossible names are refused, the existence check answers alike on every rank, and removal
 * waits for every rank: a rank still using the file (here the last one, which arrives late)
 * finds it in place until it calls DaisiFileRemove itself. A relative path missing from the
 * working directory resolves to the source tree's file (how configs name shipped files), and
 * is kept as given when it exists here, is absolute or exists nowhere. */
#include <daisi/sys.h>
#include "../common/daisitest.h"
#include <unistd.h>

static const char help[] = "Temporary output names, file existence and collective removal.\n";

static PetscBool OnDisk(const char path[])
{
  return access(path, F_OK) == 0 ? PETSC_TRUE : PETSC_FALSE;
}

/* every rank's answer of DaisiFileExists equals rank 0's view of the disk */
static PetscErrorCode ExpectExists(MPI_Comm comm, const char path[], PetscBool want, const char what[])
{
  PetscBool got;
  int       g, lo, hi;

  PetscFunctionBegin;
  PetscCall(DaisiFileExists(comm, path, &got));
  g = got;
  PetscCallMPI(MPI_Allreduce(&g, &lo, 1, MPI_INT, MPI_MIN, comm));
  PetscCallMPI(MPI_Allreduce(&g, &hi, 1, MPI_INT, MPI_MAX, comm));
  EXPECT(lo == hi, "%s: ranks disagree on whether %s exists", what, path);
  EXPECT(got == want, "%s: %s %s, expected it %s", what, path, got ? "exists" : "does not exist", want ? "to exist" : "not to");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* DaisiResolveSourcePath(in) is `want` on every rank */
static PetscErrorCode ExpectResolved(MPI_Comm comm, const char in[], const char want[])
{
  char got[PETSC_MAX_PATH_LEN], first[PETSC_MAX_PATH_LEN];
  int  same, all;

  PetscFunctionBegin;
  PetscCall(DaisiResolveSourcePath(comm, in, got, sizeof(got)));
  PetscCall(PetscStrncpy(first, got, sizeof(first)));
  PetscCallMPI(MPI_Bcast(first, sizeof(first), MPI_CHAR, 0, comm));
  same = !strcmp(first, got);
  PetscCallMPI(MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, comm));
  EXPECT(all, "resolving '%s': ranks disagree", in);
  EXPECT(!strcmp(got, want), "resolving '%s' gave '%s', expected '%s'", in, got, want);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteTemporary(const DaisiOutputName *out, PetscMPIInt rank)
{
  PetscFunctionBegin;
  if (rank == 0) {
    FILE *fp = fopen(out->tmp, "w");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", out->tmp);
    fprintf(fp, "content\n");
    fclose(fp);
  }
  PetscCallMPI(MPI_Barrier(out->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  MPI_Comm        comm;
  PetscMPIInt     rank, size;
  DaisiOutputName out;
  char            path[64], tmp[PETSC_MAX_PATH_LEN];
  char            longname[PETSC_MAX_PATH_LEN];

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscSNPrintf(path, sizeof(path), "sys_output_np%d.txt", size));
  PetscCall(DaisiFileRemove(comm, path));
  PetscCall(ExpectExists(comm, path, PETSC_FALSE, "before writing"));

  /* commit: the temporary name (the same on every rank) becomes the final one */
  PetscCall(DaisiOutputNameInit(comm, path, &out));
  {
    char first[PETSC_MAX_PATH_LEN];
    int  same, all;
    PetscCall(PetscStrncpy(first, out.tmp, sizeof(first)));
    PetscCallMPI(MPI_Bcast(first, sizeof(first), MPI_CHAR, 0, comm));
    same = !strcmp(first, out.tmp);
    PetscCallMPI(MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, comm));
    EXPECT(all, "the temporary name %s differs between ranks", out.tmp);
    EXPECT(strncmp(out.tmp, path, strlen(path)) == 0 && strcmp(out.tmp, path), "temporary name %s is not a new name beginning with %s", out.tmp, path);
  }
  PetscCall(WriteTemporary(&out, rank));
  PetscCall(ExpectExists(comm, path, PETSC_FALSE, "written, not committed"));
  PetscCall(PetscStrncpy(tmp, out.tmp, sizeof(tmp)));
  PetscCall(DaisiOutputNameCommit(&out));
  PetscCall(ExpectExists(comm, path, PETSC_TRUE, "committed"));
  PetscCall(ExpectExists(comm, tmp, PETSC_FALSE, "committed (temporary)"));

  /* discard: the temporary goes, the committed file stays */
  PetscCall(DaisiOutputNameInit(comm, path, &out));
  PetscCall(WriteTemporary(&out, rank));
  PetscCall(DaisiOutputNameDiscard(&out));
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(ExpectExists(comm, out.tmp, PETSC_FALSE, "discarded (temporary)"));
  PetscCall(ExpectExists(comm, path, PETSC_TRUE, "discarded (earlier file)"));

  /* source-tree lookup; this header exists only in the source tree, not under the test's directory */
  EXPECT(!OnDisk("include/daisi/sys.h"), "the test runs where include/daisi/sys.h exists: run it from the build tree");
  PetscCall(ExpectResolved(comm, "include/daisi/sys.h", DAISI_SOURCE_DIR "/include/daisi/sys.h"));
  PetscCall(ExpectResolved(comm, path, path)); /* here: kept */
  PetscCall(ExpectResolved(comm, "no_such_dir/file.h5", "no_such_dir/file.h5"));
  PetscCall(ExpectResolved(comm, "/no_such_dir/include/daisi/sys.h", "/no_such_dir/include/daisi/sys.h"));
  PetscCall(ExpectResolved(comm, "", ""));

  /* removal waits for the latecomer, which still finds the file */
  if (rank == size - 1) {
    PetscCall(PetscSleep(0.5));
    EXPECT(OnDisk(path), "%s was removed before the last rank called DaisiFileRemove", path);
  }
  PetscCall(DaisiFileRemove(comm, path));
  EXPECT(!OnDisk(path), "%s is still there after DaisiFileRemove (rank %d)", path, rank);
  PetscCall(DaisiFileRemove(comm, path)); /* a missing file is not an error */

  /* impossible names */
  EXPECT_ERROR_MSG(DaisiOutputNameInit(comm, "", &out), "empty output file name", NULL);
  memset(longname, 'x', sizeof(longname) - 20);
  longname[sizeof(longname) - 20] = 0;
  EXPECT_ERROR_MSG(DaisiOutputNameInit(comm, longname, &out), "output file name too long", NULL);
  /* a commit whose temporary was never written names both files */
  PetscCall(DaisiOutputNameInit(comm, path, &out));
  EXPECT_ERROR_MSG(DaisiOutputNameCommit(&out), "cannot rename", path);

  PetscCall(FinishTest("test_output"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
