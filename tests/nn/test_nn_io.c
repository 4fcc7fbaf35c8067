/* Weight files: a save/load round trip reproduces parameters, normalisation and outputs
 * exactly; corrupted, mismatched, missing and foreign files are refused with an error that
 * names the file and the problem; no temporary file is left behind. */
#include "nntest.h"
#include <hdf5.h>
#include <unistd.h>

static const char help[] = "DaisiNet weight file tests\n";

/* Runs a load expected to fail; returns 1 (a failure of the test) if it succeeded. */
/* a refused load whose message names the file (and HDF5's reason, if given) */
static PetscErrorCode ExpectLoadFailureWhy(MPI_Comm comm, const char *path, const DaisiGrid *g, const char *expect, const char *reason, PetscInt *fails)
{
  DaisiNet       net = NULL;
  PetscErrorCode ierr;
  const char    *text;
  char          *specific = NULL;

  PetscFunctionBegin;
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiNetLoad(comm, path, g, &net);
  PetscCall(PetscPopErrorHandler());
  if (!ierr) {
    PetscCall(PetscPrintf(comm, "FAIL: %s was accepted (expected: %s)\n", path, expect));
    PetscCall(DaisiNetDestroy(&net));
    (*fails)++;
  } else {
    PetscCall(PetscErrorMessage(ierr, &text, &specific));
    PetscCall(PetscPrintf(comm, "refused as expected (%s): %s\n", expect, specific ? specific : text));
    /* the message must name the file */
    if (!specific || !strstr(specific, path)) {
      PetscCall(PetscPrintf(comm, "FAIL: the message does not name %s\n", path));
      (*fails)++;
    }
    if (reason && (!specific || !strstr(specific, reason))) {
      PetscCall(PetscPrintf(comm, "FAIL: the message does not give the reason \"%s\"\n", reason));
      (*fails)++;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ExpectLoadFailure(MPI_Comm comm, const char *path, const DaisiGrid *g, const char *expect, PetscInt *fails)
{
  return ExpectLoadFailureWhy(comm, path, g, expect, NULL, fails);
}

static PetscErrorCode Copy(const char *from, const char *to)
{
  FILE  *a = fopen(from, "rb"), *b = fopen(to, "wb");
  char   buf[65536];
  size_t n;

  PetscFunctionBegin;
  PetscCheck(a && b, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot copy %s to %s", from, to);
  while ((n = fread(buf, 1, sizeof(buf), a)) > 0) PetscCheck(fwrite(buf, 1, n, b) == n, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s", to);
  fclose(a);
  fclose(b);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Change one value of a copy of the file: a parameter, or an integer attribute. */
static PetscErrorCode Tamper(const char *path, const char *attr, long long value)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);

  PetscFunctionBegin;
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  if (attr) {
    hid_t   a = H5Aopen(f, attr, H5P_DEFAULT);
    int64_t v = value;
    PetscCheck(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot change %s in %s", attr, path);
    H5Aclose(a);
  } else {
    hid_t   d = H5Dopen2(f, "parameters", H5P_DEFAULT), ms, fs;
    hsize_t start = 5, one = 1;
    float   v     = 0.5f;
    fs            = H5Dget_space(d);
    ms            = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
    PetscCheck(H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "read");
    v += 0.25f;
    PetscCheck(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "write");
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
  }
  H5Fclose(f);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RoundTrip(MPI_Comm comm, const char *type, const DaisiGrid *g, const char *path, PetscInt *fails)
{
  DaisiNet   net, back;
  PetscBool  dec = (PetscBool)!strcmp(type, "decoder");
  PetscInt   n, np, np2, B = 2, N, M = DaisiGridLocalSize(g) * B;
  DaisiGrid  gin = *g;
  float     *th, *th2;
  PetscReal *x, *y, *y2, t[2] = {0.25, 0.75}, nm[16], ns[16], om[16], os[16];
  PetscBool  same = PETSC_TRUE;

  PetscFunctionBegin;
  PetscCall(DaisiNetCreate(comm, &net));
  PetscCall(DaisiNetSetOptionsPrefix(net, !strcmp(type, "mlp") ? "mlp_" : dec ? "dec_" : NULL));
  PetscCall(DaisiNetSetFromOptions(net));
  PetscCall(DaisiNetSetUp(net, g));
  PetscCall(DaisiNetInitializeWeights(net, 42));
  if (dec) PetscCall(DaisiNetGetLatentGrid(net, &gin)); /* the decoder's input is the latent */
  N = DaisiGridLocalSize(&gin) * B;
  PetscCall(DaisiNetGetNormalizationSize(net, &n));
  for (PetscInt i = 0; i < n; i++) {
    nm[i] = 270 + i;
    ns[i] = 3 + i;
    om[i] = -0.5 * i;
    os[i] = 0.1 * (i + 1);
  }
  PetscCall(DaisiNetSetNormalization(net, nm, ns, om, os));
  PetscCall(DaisiNetSave(net, path));
  PetscCall(DaisiNetLoad(comm, path, g, &back));
  PetscCall(DaisiNetGetParameters(net, &np, &th));
  PetscCall(DaisiNetGetParameters(back, &np2, &th2));
  if (np != np2 || memcmp(th, th2, sizeof(float) * np)) same = PETSC_FALSE;
  PetscCall(PetscMalloc3(N + 1, &x, M + 1, &y, M + 1, &y2));
  NNTestRandom(&gin, B, 1, 5.0, x);
  for (PetscInt i = 0; i < N; i++) x[i] += 271;
  PetscCall(DaisiNetForward(net, B, t, x, y));
  PetscCall(DaisiNetForward(back, B, t, x, y2));
  for (PetscInt i = 0; i < M; i++)
    if (y[i] != y2[i]) same = PETSC_FALSE;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPIU_BOOL, MPI_LAND, comm));
  PetscCall(PetscPrintf(comm, "%s round trip through %s: %s\n", type, path, same ? "identical" : "DIFFERENT"));
  if (!same) (*fails)++;
  PetscCall(PetscFree3(x, y, y2));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(DaisiNetDestroy(&back));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  PetscInt    fails = 0;
  DaisiGrid   grid, other, onelevel, l63;
  char        path[256], bad[256], tmpglob[300];

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(NNTestGrid(comm, 2, 16, 16, &grid));
  PetscCall(NNTestGrid(comm, 2, 32, 16, &other));
  PetscCall(NNTestGrid(comm, 1, 16, 16, &onelevel));
  PetscCall(NNTestGrid(comm, 1, 1, 3, &l63));
  PetscCall(PetscSNPrintf(path, sizeof(path), "nn_io_np%d.h5", size));
  PetscCall(PetscSNPrintf(bad, sizeof(bad), "nn_io_bad_np%d.h5", size));

  PetscCall(RoundTrip(comm, "unet", &grid, path, &fails));
  {
    char mpath[256];
    PetscCall(PetscSNPrintf(mpath, sizeof(mpath), "nn_io_mlp_np%d.h5", size));
    PetscCall(RoundTrip(comm, "mlp", &l63, mpath, &fails));
    PetscCall(PetscSNPrintf(mpath, sizeof(mpath), "nn_io_dec_np%d.h5", size));
    PetscCall(RoundTrip(comm, "decoder", &grid, mpath, &fails));
  }
  /* no temporary file left: DaisiOutputName writes <path>.tmp.<pid> then renames */
  PetscCall(PetscSNPrintf(tmpglob, sizeof(tmpglob), "%s.tmp.", path));
  {
    PetscBool left = PETSC_FALSE;
    long      pid  = (long)getpid();
    char      tmp[320];
    PetscCallMPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, comm));
    PetscCall(PetscSNPrintf(tmp, sizeof(tmp), "%s%ld", tmpglob, pid));
    if (rank == 0 && access(tmp, F_OK) == 0) left = PETSC_TRUE;
    PetscCallMPI(MPI_Bcast(&left, 1, MPIU_BOOL, 0, comm));
    if (left) {
      PetscCall(PetscPrintf(comm, "FAIL: temporary file %s left behind\n", tmp));
      fails++;
    }
  }

  /* mismatches with the grid or the model */
  PetscCall(ExpectLoadFailure(comm, path, &other, "grid 32 x 16 instead of 16 x 16", &fails));
  PetscCall(ExpectLoadFailure(comm, path, &onelevel, "one level instead of two", &fails));
  /* corrupted and foreign files */
  if (rank == 0) {
    PetscCall(Copy(path, bad));
    PetscCall(Tamper(bad, NULL, 0));
  }
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(ExpectLoadFailure(comm, bad, &grid, "a changed parameter", &fails));
  if (rank == 0) {
    PetscCall(Copy(path, bad));
    PetscCall(Tamper(bad, "version", 99));
  }
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(ExpectLoadFailure(comm, bad, &grid, "format version 99", &fails));
  if (rank == 0) {
    PetscCall(Copy(path, bad));
    PetscCall(Tamper(bad, "base_width", 5));
  }
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(ExpectLoadFailure(comm, bad, &grid, "architecture edited (base width 5)", &fails));
  if (rank == 0) {
    FILE *f = fopen(bad, "w");
    PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", bad);
    fprintf(f, "not an HDF5 file\n");
    fclose(f);
  }
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(ExpectLoadFailure(comm, bad, &grid, "not HDF5", &fails));
  PetscCall(ExpectLoadFailureWhy(comm, "nn_io_does_not_exist.h5", &grid, "missing file", "No such file or directory", &fails));

  if (rank == 0) {
    (void)remove(bad);
  }
  PetscCall(PetscPrintf(comm, "%s\n", fails ? "FAILED" : "passed"));
  PetscCall(DaisiFinalize());
  return fails ? 1 : 0;
}
