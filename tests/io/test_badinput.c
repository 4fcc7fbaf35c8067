/* Bad state files and failed writes: each gives a PETSc error whose message names the file
 * and the culprit, and no file is left under the final name (nor a partial one, once the
 * failed run discards it). Damaged files are made here with plain HDF5 calls on rank 0. */
#include <daisi/statefile.h>
#include <hdf5.h>
#include <unistd.h>
#include "iotest.h"

static const char help[] = "Refusals of bad DAISI state files.\n";

static const DaisiModelParam params[] = {
  {"N",  32  },
  {"dt", 2400},
};

static PetscErrorCode WriteGood(MPI_Comm comm, const char path[], const DaisiGrid *g, PetscInt ntime, PetscInt nwrite)
{
  DaisiStateFile f;
  PetscReal     *x;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(PetscMax(DaisiGridLocalSize(g), 1), &x));
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileSetGrid(f, g));
  PetscCall(DaisiStateFileSetNumTimes(f, ntime));
  PetscCall(DaisiStateFileSetParams(f, 2, params));
  PetscCall(DaisiStateFileSetString(f, "model", "sqg"));
  PetscCall(DaisiStateFileOpen(f, path, DAISI_FILE_WRITE));
  for (PetscInt k = 0; k < nwrite; k++) {
    IoTestFill(g, k, 0, x);
    PetscCall(DaisiStateFileWrite(f, k, 3600.0 * (PetscReal)k, x));
  }
  PetscCall(DaisiStateFileClose(f));
  PetscCall(DaisiStateFileDestroy(&f));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* what an initial-condition reader does */
static PetscErrorCode ReadState(MPI_Comm comm, const char path[], const DaisiGrid *g, PetscInt k)
{
  PetscReal     *x, t;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(PetscMax(DaisiGridLocalSize(g), 1), &x));
  ierr = DaisiStateFileLoad(comm, path, g, k, &t, x);
  PetscCall(PetscFree(x));
  return ierr;
}

/* a writer that meets a NaN at time index 1 (or a bad directory); the failed run discards */
static PetscErrorCode WriteFailing(MPI_Comm comm, const char path[], const DaisiGrid *g)
{
  DaisiStateFile f;
  PetscReal     *x;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(PetscMax(DaisiGridLocalSize(g), 1), &x));
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileSetGrid(f, g));
  PetscCall(DaisiStateFileSetNumTimes(f, 3));
  PetscCall(DaisiStateFileSetParams(f, 2, params));
  ierr = DaisiStateFileOpen(f, path, DAISI_FILE_WRITE);
  for (PetscInt k = 0; k < 3 && !ierr; k++) {
    IoTestFill(g, k, 0, x);
    if (k == 1 && g->nyl > 0) x[0] = NAN;
    ierr = DaisiStateFileWrite(f, k, 3600.0 * (PetscReal)k, x);
  }
  if (!ierr) ierr = DaisiStateFileClose(f);
  else PetscCall(DaisiStateFileDiscard(f));
  PetscCall(DaisiStateFileDestroy(&f));
  PetscCall(PetscFree(x));
  return ierr;
}

/* a restart whose parameters differ from those of the interrupted run */
static PetscErrorCode AppendMismatch(MPI_Comm comm, const char path[], const DaisiGrid *g, PetscReal dt)
{
  DaisiStateFile  f;
  DaisiModelParam p[2] = {params[0], {"dt", dt}};
  PetscErrorCode  ierr;

  PetscFunctionBegin;
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileSetGrid(f, g));
  PetscCall(DaisiStateFileSetNumTimes(f, 3));
  PetscCall(DaisiStateFileSetParams(f, 2, p));
  ierr = DaisiStateFileOpen(f, path, DAISI_FILE_APPEND);
  PetscCall(DaisiStateFileDestroy(&f));
  return ierr;
}

/* ---- damaged files, made on rank 0 with serial HDF5 ---- */

static PetscErrorCode OnRankZero(MPI_Comm comm, herr_t (*make)(const char *), const char path[])
{
  PetscMPIInt rank;
  int         status = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) status = make(path) < 0 ? 1 : 0;
  PetscCallMPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
  PetscCheck(!status, comm, PETSC_ERR_LIB, "test setup: cannot make %s", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static herr_t MakeText(const char *path)
{
  FILE *fp = fopen(path, "w");
  if (!fp) return -1;
  fprintf(fp, "theta = 300 K everywhere\n");
  fclose(fp);
  return 0;
}

/* an HDF5 file whose state is called "temperature" */
static herr_t MakeWrongName(const char *path)
{
  hsize_t dims[4] = {2, 2, 8, 8};
  hid_t   file    = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t   space   = H5Screate_simple(4, dims, NULL);
  hid_t   dset    = H5Dcreate2(file, "temperature", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t  status  = (file < 0 || space < 0 || dset < 0) ? -1 : 0;
  H5Dclose(dset);
  H5Sclose(space);
  H5Fclose(file);
  return status;
}

/* an HDF5 file whose theta has 3 dimensions */
static herr_t MakeWrongRank(const char *path)
{
  hsize_t dims[3] = {2, 8, 8};
  hid_t   file    = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t   space   = H5Screate_simple(3, dims, NULL);
  hid_t   dset    = H5Dcreate2(file, "theta", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t  status  = (file < 0 || space < 0 || dset < 0) ? -1 : 0;
  H5Dclose(dset);
  H5Sclose(space);
  H5Fclose(file);
  return status;
}

/* puts a NaN into time index 1, level 1, row 3, column 2 of an existing file */
static herr_t PutNaN(const char *path)
{
  hsize_t start[4] = {1, 1, 3, 2}, one[4] = {1, 1, 1, 1};
  double  nan      = (double)NAN;
  hid_t   file     = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t   dset     = H5Dopen2(file, "theta", H5P_DEFAULT);
  hid_t   fspace   = H5Dget_space(dset);
  hid_t   mspace   = H5Screate_simple(4, one, NULL);
  herr_t  status   = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, one, NULL);
  if (status >= 0) status = H5Dwrite(dset, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, &nan);
  H5Sclose(mspace);
  H5Sclose(fspace);
  H5Dclose(dset);
  H5Fclose(file);
  return status;
}

/* keeps only the first 600 bytes of a valid file (an interrupted copy) */
static herr_t Truncate(const char *path)
{
  FILE *fp = fopen(path, "r+b");
  if (!fp) return -1;
  int fd = fileno(fp);
  int rc = ftruncate(fd, 600);
  fclose(fp);
  return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
  MPI_Comm    comm;
  PetscMPIInt size;
  DaisiGrid   g32, g64, g8;
  char        good[64], text[64], wrongname[64], wrongrank[64], nanfile[64], trunc[64], unwritten[64], failed[64], partial[80];

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(IoTestGrid(comm, 2, 32, 32, 2.0e7, &g32));
  PetscCall(IoTestGrid(comm, 2, 64, 64, 2.0e7, &g64));
  PetscCall(IoTestGrid(comm, 2, 8, 8, 2.0e7, &g8));
  PetscCall(PetscSNPrintf(good, sizeof(good), "bad_np%d_good.h5", size));
  PetscCall(PetscSNPrintf(text, sizeof(text), "bad_np%d_text.h5", size));
  PetscCall(PetscSNPrintf(wrongname, sizeof(wrongname), "bad_np%d_wrongname.h5", size));
  PetscCall(PetscSNPrintf(wrongrank, sizeof(wrongrank), "bad_np%d_wrongrank.h5", size));
  PetscCall(PetscSNPrintf(nanfile, sizeof(nanfile), "bad_np%d_nan.h5", size));
  PetscCall(PetscSNPrintf(trunc, sizeof(trunc), "bad_np%d_truncated.h5", size));
  PetscCall(PetscSNPrintf(unwritten, sizeof(unwritten), "bad_np%d_unwritten.h5", size));
  PetscCall(PetscSNPrintf(failed, sizeof(failed), "bad_np%d_failed.h5", size));
  PetscCall(PetscSNPrintf(partial, sizeof(partial), "%s.partial", failed));

  /* a good file reads (so the refusals below are about the damage, not the reader) */
  PetscCall(WriteGood(comm, good, &g32, 3, 3));
  PetscCall(ReadState(comm, good, &g32, -1));

  IoTestExpectError(comm, ReadState(comm, "bad_no_such_file.h5", &g32, 0), "bad_no_such_file.h5", "does not exist");
  IoTestExpectError(comm, ReadState(comm, good, &g64, 0), good, "has shape 3x2x32x32, expected 2x64x64 states (level x y x x, N=64)");
  IoTestExpectError(comm, ReadState(comm, good, &g32, 3), good, "time index 3 out of range (the file has 3 times)");
  IoTestExpectError(comm, ReadState(comm, good, &g32, -4), good, "time index -4 out of range");

  PetscCall(OnRankZero(comm, MakeText, text));
  IoTestExpectError(comm, ReadState(comm, text, &g32, 0), text, "not an HDF5 file");
  PetscCall(OnRankZero(comm, MakeWrongName, wrongname));
  IoTestExpectError(comm, ReadState(comm, wrongname, &g8, 0), wrongname, "no dataset theta");
  PetscCall(OnRankZero(comm, MakeWrongRank, wrongrank));
  IoTestExpectError(comm, ReadState(comm, wrongrank, &g8, 0), wrongrank, "has shape 2x8x8, expected (time, level, y, x)");

  /* NaN inside: times 0 and 2 read, time 1 is refused with its index named */
  PetscCall(WriteGood(comm, nanfile, &g32, 3, 3));
  PetscCall(OnRankZero(comm, PutNaN, nanfile));
  PetscCall(ReadState(comm, nanfile, &g32, 0));
  PetscCall(ReadState(comm, nanfile, &g32, 2));
  IoTestExpectError(comm, ReadState(comm, nanfile, &g32, 1), nanfile, "time index 1 contains NaN or Inf");
  IoTestExpectError(comm, ReadState(comm, nanfile, &g32, -2), nanfile, "time index 1 contains NaN or Inf");

  /* a time that was never written has a NaN time value and is refused */
  PetscCall(WriteGood(comm, unwritten, &g32, 3, 2));
  PetscCall(ReadState(comm, unwritten, &g32, 1));
  IoTestExpectError(comm, ReadState(comm, unwritten, &g32, -1), unwritten, "time index 2: the time value is not finite (never written?)");

  /* a truncated copy */
  PetscCall(WriteGood(comm, trunc, &g32, 3, 3));
  PetscCall(OnRankZero(comm, Truncate, trunc));
  IoTestExpectError(comm, ReadState(comm, trunc, &g32, 0), trunc, NULL);

  /* a writer meeting a NaN: refused with file and time index; nothing left behind */
  IoTestExpectError(comm, WriteFailing(comm, failed, &g32), failed, "time index 1 contains NaN or Inf");
  PetscCall(IoTestExpectFile(comm, failed, PETSC_FALSE));
  PetscCall(IoTestExpectFile(comm, partial, PETSC_FALSE));
  IoTestExpectError(comm, WriteFailing(comm, "bad_no_such_dir/out.h5", &g32), "bad_no_such_dir/out.h5.partial", "such file or directory"); /* HDF5's reason, from MPI-IO */
  PetscCall(IoTestExpectFile(comm, "bad_no_such_dir/out.h5", PETSC_FALSE));

  /* a restart without a partial file, and one with other parameters than the first run */
  IoTestExpectError(comm, AppendMismatch(comm, failed, &g32, 2400), partial, "does not exist");
  {
    DaisiStateFile f;
    PetscCall(DaisiStateFileCreate(comm, &f));
    PetscCall(DaisiStateFileSetGrid(f, &g32));
    PetscCall(DaisiStateFileSetNumTimes(f, 3));
    PetscCall(DaisiStateFileSetParams(f, 2, params));
    PetscCall(DaisiStateFileOpen(f, failed, DAISI_FILE_WRITE));
    PetscCall(DaisiStateFileFlush(f));
    PetscCall(DaisiStateFileDestroy(&f)); /* "killed": the partial file stays */
    PetscCall(IoTestExpectFile(comm, partial, PETSC_TRUE));
    IoTestExpectError(comm, AppendMismatch(comm, failed, &g32, 1200), partial, "parameter dt = 2400 in the file but 1200 in this run");
    PetscCall(IoTestExpectFile(comm, partial, PETSC_TRUE)); /* the interrupted run's file is kept */
    PetscCall(IoTestExpectFile(comm, failed, PETSC_FALSE));
    PetscCall(DaisiStateFileCreate(comm, &f));
    PetscCall(DaisiStateFileSetGrid(f, &g32));
    PetscCall(DaisiStateFileSetNumTimes(f, 3));
    PetscCall(DaisiStateFileSetParams(f, 2, params));
    PetscCall(DaisiStateFileOpen(f, failed, DAISI_FILE_APPEND));
    PetscCall(DaisiStateFileDiscard(f)); /* giving up removes it */
    PetscCall(DaisiStateFileDestroy(&f));
    PetscCall(IoTestExpectFile(comm, partial, PETSC_FALSE));
  }

  PetscCall(IoTestRemove(comm, good));
  PetscCall(IoTestRemove(comm, text));
  PetscCall(IoTestRemove(comm, wrongname));
  PetscCall(IoTestRemove(comm, wrongrank));
  PetscCall(IoTestRemove(comm, nanfile));
  PetscCall(IoTestRemove(comm, unwritten));
  PetscCall(IoTestRemove(comm, trunc));
  PetscCall(PetscPrintf(comm, "bad state files refused: OK\n"));
  PetscCall(DaisiFinalize());
  return 0;
}
