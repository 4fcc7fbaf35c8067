/* Checkpoints: bit-exact round trip of a batch of native states and of the run's counters,
 * read back on other rank counts than the writer; atomic replacement; refusals with clear
 * messages (layout, parameters, model type, NaN) that leave no temporary file behind. */
#include <daisi/checkpoint.h>
#include <dirent.h>
#include "iotest.h"

static const char help[] = "Round trips and refusals of DAISI checkpoints.\n";

static const DaisiModelParam params[] = {
  {"N",         64    },
  {"dt",        1200  },
  {"adv_scale", 2.25  },
  {"eps",       1e-17 },
};
#define NPARAM  ((PetscInt)(sizeof(params) / sizeof(params[0])))
#define NMEMBER 3

static PetscErrorCode Layout(MPI_Comm comm, PetscInt nrows, PetscInt rowlen, DaisiNativeLayout *l)
{
  PetscMPIInt size, rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  l->nrows  = nrows;
  l->rowlen = rowlen;
  IoTestBlock(nrows, size, rank, &l->row0, &l->nrowl);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* native rows as a "grid" of one level, so that the iotest value helpers apply */
static DaisiGrid AsGrid(const DaisiNativeLayout *l)
{
  DaisiGrid g = {1, l->nrows, l->rowlen, l->row0, l->nrowl, 0, 0, 0};
  return g;
}

static PetscErrorCode NewCheckpoint(MPI_Comm comm, const DaisiNativeLayout *l, PetscInt nparam, const char model[], DaisiCheckpoint *c)
{
  PetscFunctionBegin;
  PetscCall(DaisiCheckpointCreate(comm, c));
  PetscCall(DaisiCheckpointSetLayout(*c, l, NMEMBER));
  PetscCall(DaisiCheckpointSetParams(*c, nparam, params));
  PetscCall(DaisiCheckpointSetString(*c, "model", model));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* version v of the run: counters and states all depend on v */
static PetscErrorCode Write(MPI_Comm comm, const char path[], const DaisiNativeLayout *l, PetscInt v)
{
  DaisiCheckpoint c;
  DaisiGrid       g = AsGrid(l);
  PetscReal      *x[NMEMBER];
  PetscErrorCode  ierr;

  PetscFunctionBegin;
  PetscCall(NewCheckpoint(comm, l, NPARAM, "sqg", &c));
  PetscCall(DaisiCheckpointSetInt(c, "step", 123456789012LL + v)); /* beyond 32 bits */
  PetscCall(DaisiCheckpointSetInt(c, "output_index", -7 + v));
  PetscCall(DaisiCheckpointSetReal(c, "time", 1.0 / 3.0 + (PetscReal)v));
  for (PetscInt b = 0; b < NMEMBER; b++) {
    PetscCall(PetscMalloc1(PetscMax(l->nrowl * l->rowlen, 1), &x[b]));
    IoTestFill(&g, v, b, x[b]);
  }
  ierr = DaisiCheckpointWrite(c, path, (const PetscReal *const *)x); /* may be an expected failure */
  for (PetscInt b = 0; b < NMEMBER; b++) PetscCall(PetscFree(x[b]));
  PetscCall(DaisiCheckpointDestroy(&c));
  return ierr;
}

static PetscErrorCode Check(MPI_Comm comm, const char path[], const DaisiNativeLayout *l, PetscInt v)
{
  DaisiCheckpoint c;
  DaisiGrid       g = AsGrid(l);
  PetscReal      *x[NMEMBER], t;
  PetscInt64      step, index;

  PetscFunctionBegin;
  PetscCall(NewCheckpoint(comm, l, NPARAM, "sqg", &c));
  for (PetscInt b = 0; b < NMEMBER; b++) PetscCall(PetscCalloc1(PetscMax(l->nrowl * l->rowlen, 1), &x[b]));
  PetscCall(DaisiCheckpointRead(c, path, x));
  for (PetscInt b = 0; b < NMEMBER; b++) PetscCall(IoTestCompare(comm, &g, v, b, x[b], path));
  PetscCall(DaisiCheckpointGetInt(c, "step", &step));
  PetscCall(DaisiCheckpointGetInt(c, "output_index", &index));
  PetscCall(DaisiCheckpointGetReal(c, "time", &t));
  PetscCheck(step == 123456789012LL + v && index == -7 + v && t == 1.0 / 3.0 + (PetscReal)v, comm, PETSC_ERR_PLIB, "%s: counters read %" PetscInt64_FMT " %" PetscInt64_FMT " %.17g", path, step, index, (double)t);
  IoTestExpectError(comm, DaisiCheckpointGetInt(c, "no_such_counter", &step), "no_such_counter", path);
  for (PetscInt b = 0; b < NMEMBER; b++) PetscCall(PetscFree(x[b]));
  PetscCall(DaisiCheckpointDestroy(&c));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a read that must fail: checkpoint set up with nparam parameters (one changed to `changed`
 * if not NULL), model type `model`, layout l */
static PetscErrorCode ReadWith(MPI_Comm comm, const char path[], const DaisiNativeLayout *l, PetscInt nparam, const DaisiModelParam *changed, const char model[])
{
  DaisiCheckpoint c;
  PetscReal      *x[NMEMBER];
  PetscErrorCode  ierr;

  PetscFunctionBegin;
  PetscCall(NewCheckpoint(comm, l, nparam, model, &c));
  if (changed) PetscCall(DaisiCheckpointSetParams(c, 1, changed));
  for (PetscInt b = 0; b < NMEMBER; b++) PetscCall(PetscCalloc1(PetscMax(l->nrowl * l->rowlen, 1), &x[b]));
  ierr = DaisiCheckpointRead(c, path, x);
  for (PetscInt b = 0; b < NMEMBER; b++) PetscCall(PetscFree(x[b]));
  PetscCall(DaisiCheckpointDestroy(&c));
  return ierr;
}

static PetscErrorCode WriteNaN(MPI_Comm comm, const char path[], const DaisiNativeLayout *l)
{
  DaisiCheckpoint c;
  PetscReal      *x[NMEMBER];
  PetscErrorCode  ierr;
  DaisiGrid       g = AsGrid(l);

  PetscFunctionBegin;
  PetscCall(NewCheckpoint(comm, l, NPARAM, "sqg", &c));
  for (PetscInt b = 0; b < NMEMBER; b++) {
    PetscCall(PetscMalloc1(PetscMax(l->nrowl * l->rowlen, 1), &x[b]));
    IoTestFill(&g, 9, b, x[b]);
  }
  if (l->nrowl > 0) x[NMEMBER - 1][l->nrowl * l->rowlen - 1] = NAN; /* diverged member */
  ierr = DaisiCheckpointWrite(c, path, (const PetscReal *const *)x);
  for (PetscInt b = 0; b < NMEMBER; b++) PetscCall(PetscFree(x[b]));
  PetscCall(DaisiCheckpointDestroy(&c));
  return ierr;
}

/* no "<prefix>.tmp.*" file in the working directory */
static PetscErrorCode ExpectNoTemporary(MPI_Comm comm, const char prefix[])
{
  PetscMPIInt rank;
  int         found = 0;
  char        stem[PETSC_MAX_PATH_LEN];

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscSNPrintf(stem, sizeof(stem), "%s.tmp.", prefix));
  if (rank == 0) {
    DIR           *dir = opendir(".");
    struct dirent *e;
    while (dir && (e = readdir(dir)))
      if (!strncmp(e->d_name, stem, strlen(stem))) found = 1;
    if (dir) closedir(dir);
  }
  PetscCallMPI(MPI_Bcast(&found, 1, MPI_INT, 0, comm));
  PetscCheck(!found, comm, PETSC_ERR_PLIB, "a temporary file %s* was left behind", stem);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RoundTrip(PetscInt nrows, PetscInt rowlen)
{
  MPI_Comm          world = PETSC_COMM_WORLD, sub;
  PetscMPIInt       size, rank;
  DaisiNativeLayout lw, lself, lsub, lwrong;
  char              path[PETSC_MAX_PATH_LEN], path2[PETSC_MAX_PATH_LEN], shape[64];
  DaisiModelParam   changed = {"dt", 600};

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(world, &size));
  PetscCallMPI(MPI_Comm_rank(world, &rank));
  PetscCall(PetscSNPrintf(path, sizeof(path), "ck_np%d_%" PetscInt_FMT "x%" PetscInt_FMT ".h5", size, nrows, rowlen));
  PetscCall(PetscSNPrintf(path2, sizeof(path2), "ck_np%d_sub_%" PetscInt_FMT "x%" PetscInt_FMT ".h5", size, nrows, rowlen));
  PetscCall(Layout(world, nrows, rowlen, &lw));
  PetscCall(Layout(PETSC_COMM_SELF, nrows, rowlen, &lself));

  PetscCall(Write(world, path, &lw, 0));
  PetscCall(Check(world, path, &lw, 0));
  PetscCall(Check(PETSC_COMM_SELF, path, &lself, 0));
  /* a new checkpoint replaces the old one */
  PetscCall(Write(world, path, &lw, 1));
  PetscCall(Check(world, path, &lw, 1));
  PetscCall(ExpectNoTemporary(world, path));

  /* written on fewer ranks, read on all */
  PetscCallMPI(MPI_Comm_split(world, size == 1 || rank < size - 1 ? 0 : MPI_UNDEFINED, rank, &sub));
  if (sub != MPI_COMM_NULL) {
    PetscCall(Layout(sub, nrows, rowlen, &lsub));
    PetscCall(Write(sub, path2, &lsub, 2));
    PetscCallMPI(MPI_Comm_free(&sub));
  }
  PetscCall(Check(world, path2, &lw, 2));
  PetscCall(IoTestRemove(world, path2));

  /* refusals, each naming the file and the culprit */
  PetscCall(Layout(world, nrows, rowlen + 1, &lwrong));
  PetscCall(PetscSNPrintf(shape, sizeof(shape), "shape %dx%" PetscInt_FMT "x%" PetscInt_FMT, NMEMBER, nrows, rowlen));
  IoTestExpectError(world, ReadWith(world, path, &lwrong, NPARAM, NULL, "sqg"), path, shape);
  IoTestExpectError(world, ReadWith(world, path, &lw, NPARAM, &changed, "sqg"), path, "parameter dt = 1200 in the file but 600");
  IoTestExpectError(world, ReadWith(world, path, &lw, NPARAM - 1, NULL, "sqg"), path, "parameter eps which this run does not have");
  {
    DaisiModelParam extra = {"tdiab", 864000};
    IoTestExpectError(world, ReadWith(world, path, &lw, NPARAM, &extra, "sqg"), path, "parameter tdiab is missing");
  }
  IoTestExpectError(world, ReadWith(world, path, &lw, NPARAM, NULL, "l63"), path, "model");
  IoTestExpectError(world, ReadWith(world, "ck_no_such_file.h5", &lw, NPARAM, NULL, "sqg"), "ck_no_such_file.h5", "does not exist");

  /* a diverged state is refused; the previous checkpoint stays as it was */
  IoTestExpectError(world, WriteNaN(world, path, &lw), path, "member 2");
  PetscCall(ExpectNoTemporary(world, path));
  PetscCall(Check(world, path, &lw, 1));
  /* a failed write into a missing directory leaves nothing */
  IoTestExpectError(world, Write(world, "no_such_dir/ck.h5", &lw, 0), "no_such_dir/ck.h5", "such file or directory"); /* HDF5's reason, from MPI-IO */
  PetscCall(IoTestExpectFile(world, "no_such_dir/ck.h5", PETSC_FALSE));
  PetscCall(IoTestRemove(world, path));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(RoundTrip(19, 7)); /* rows not divisible by 2, 3 or 4 */
  PetscCall(RoundTrip(3, 5));  /* fewer rows than ranks: some ranks hold none */
  PetscCall(RoundTrip(128, 66));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "checkpoint round trips and refusals: OK\n"));
  PetscCall(DaisiFinalize());
  return 0;
}
