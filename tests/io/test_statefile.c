/* State and ensemble files: bit-exact round trips on grids whose rows do not divide by the
 * rank count (ranks with no rows included), reading back with other rank counts than the
 * writer, attributes, the grid query, and a restart (append) giving the same bytes. */
#include <daisi/statefile.h>
#include "iotest.h"

static const char help[] = "Round trips of DAISI state files.\n";

static const DaisiModelParam params[] = {
  {"N",          64          },
  {"dt",         1200        },
  {"tdiab",      864000      },
  {"adv_scale",  2.25        },
  {"one_third",  1.0 / 3.0   },
  {"tiny",       1e-300      },
};
#define NPARAM ((PetscInt)(sizeof(params) / sizeof(params[0])))

static PetscErrorCode WriteFile(MPI_Comm comm, const char path[], const DaisiGrid *g, PetscInt ntime, PetscInt nmember, PetscInt kfirst, PetscInt kend, DaisiFileMode mode, PetscBool close)
{
  DaisiStateFile f;
  PetscReal     *x;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(PetscMax(DaisiGridLocalSize(g), 1), &x));
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileSetGrid(f, g));
  PetscCall(DaisiStateFileSetNumTimes(f, ntime));
  PetscCall(DaisiStateFileSetNumMembers(f, nmember));
  PetscCall(DaisiStateFileSetString(f, "model", "sqg"));
  PetscCall(DaisiStateFileSetParams(f, NPARAM, params));
  PetscCall(DaisiStateFileOpen(f, path, mode));
  for (PetscInt k = kfirst; k < kend; k++) {
    for (PetscInt m = 0; m < PetscMax(nmember, 1); m++) {
      IoTestFill(g, k, m, x);
      if (nmember) PetscCall(DaisiStateFileWriteMember(f, k, m, 10800.0 * (PetscReal)k, x));
      else PetscCall(DaisiStateFileWrite(f, k, 10800.0 * (PetscReal)k, x));
    }
  }
  if (close) PetscCall(DaisiStateFileClose(f));
  else PetscCall(DaisiStateFileFlush(f)); /* as a run does before its checkpoint, then it stops */
  PetscCall(DaisiStateFileDestroy(&f));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* reads every time (by index from the start and from the end) and member on comm */
static PetscErrorCode CheckFile(MPI_Comm comm, const char path[], const DaisiGrid *g, PetscInt ntime, PetscInt nmember)
{
  DaisiStateFile f;
  PetscReal     *x, t, v;
  PetscInt       nt, nm, nlev, ny, nx;
  char           model[32];
  PetscBool      found;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(PetscMax(DaisiGridLocalSize(g), 1), &x));
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileOpen(f, path, DAISI_FILE_READ));
  PetscCall(DaisiStateFileSetGrid(f, g)); /* after opening: checked against the file */
  PetscCall(DaisiStateFileGetSizes(f, &nt, &nm, &nlev, &ny, &nx));
  PetscCheck(nt == ntime && nm == nmember && nlev == g->nlev && ny == g->ny && nx == g->nx, comm, PETSC_ERR_PLIB, "%s: sizes %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT " are wrong", path, nt, nm, nlev, ny, nx);
  for (PetscInt i = 0; i < NPARAM; i++) {
    PetscCall(DaisiStateFileGetParam(f, params[i].name, &v, NULL));
    PetscCheck(v == params[i].value, comm, PETSC_ERR_PLIB, "%s: parameter %s reads %g", path, params[i].name, (double)v);
  }
  PetscCall(DaisiStateFileGetParam(f, "no_such_parameter", &v, &found));
  PetscCheck(!found, comm, PETSC_ERR_PLIB, "%s: found a parameter that was never written", path);
  PetscCall(DaisiStateFileGetString(f, "model", model, sizeof(model), NULL));
  PetscCheck(!strcmp(model, "sqg"), comm, PETSC_ERR_PLIB, "%s: model attribute reads %s", path, model);
  for (PetscInt k = 0; k < ntime; k++) {
    for (PetscInt m = 0; m < PetscMax(nmember, 1); m++) {
      for (int fromend = 0; fromend < 2; fromend++) {
        PetscInt kk = fromend ? k - ntime : k;
        PetscCall(PetscArrayzero(x, DaisiGridLocalSize(g)));
        if (nmember) PetscCall(DaisiStateFileReadMember(f, kk, m, &t, x));
        else PetscCall(DaisiStateFileRead(f, kk, &t, x));
        PetscCheck(t == 10800.0 * (PetscReal)k, comm, PETSC_ERR_PLIB, "%s: time %" PetscInt_FMT " reads %g", path, kk, (double)t);
        PetscCall(IoTestCompare(comm, g, k, m, x, path));
      }
    }
  }
  PetscCall(DaisiStateFileReadTime(f, -1, &t));
  PetscCheck(t == 10800.0 * (PetscReal)(ntime - 1), comm, PETSC_ERR_PLIB, "%s: last time reads %g", path, (double)t);
  PetscCall(DaisiStateFileClose(f));
  PetscCall(DaisiStateFileDestroy(&f));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* one grid: write on the world, read on the world, on each rank alone and on a smaller
 * communicator; write on the smaller communicator and read on the world */
static PetscErrorCode RoundTrips(PetscInt nlev, PetscInt ny, PetscInt nx, PetscReal L, PetscInt nmember)
{
  MPI_Comm    world = PETSC_COMM_WORLD, sub;
  PetscMPIInt size, rank;
  DaisiGrid   gw, gself, gsub, gq;
  char        path[PETSC_MAX_PATH_LEN], partial[PETSC_MAX_PATH_LEN], path2[PETSC_MAX_PATH_LEN];
  PetscInt    ntime = 3, nt, nm;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(world, &size));
  PetscCallMPI(MPI_Comm_rank(world, &rank));
  PetscCall(PetscSNPrintf(path, sizeof(path), "sf_np%d_%" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT "_m%" PetscInt_FMT ".h5", size, nlev, ny, nx, nmember));
  PetscCall(PetscSNPrintf(partial, sizeof(partial), "%s.partial", path));
  PetscCall(PetscSNPrintf(path2, sizeof(path2), "sf_np%d_sub_%" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT "_m%" PetscInt_FMT ".h5", size, nlev, ny, nx, nmember));
  PetscCall(IoTestGrid(world, nlev, ny, nx, L, &gw));
  PetscCall(IoTestGrid(PETSC_COMM_SELF, nlev, ny, nx, L, &gself));

  PetscCall(WriteFile(world, path, &gw, ntime, nmember, 0, ntime, DAISI_FILE_WRITE, PETSC_TRUE));
  PetscCall(IoTestExpectFile(world, path, PETSC_TRUE));
  PetscCall(IoTestExpectFile(world, partial, PETSC_FALSE));
  PetscCall(CheckFile(world, path, &gw, ntime, nmember));
  /* every rank alone reads the whole state: any rank count reads what any other wrote */
  PetscCall(CheckFile(PETSC_COMM_SELF, path, &gself, ntime, nmember));

  PetscCall(DaisiStateFileQuery(world, path, &gq, &nt, &nm));
  PetscCheck(gq.nlev == nlev && gq.ny == ny && gq.nx == nx && gq.Lx == L && gq.Ly == L && nt == ntime && nm == nmember, world, PETSC_ERR_PLIB, "%s: query gives %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT " L %g, %" PetscInt_FMT " times %" PetscInt_FMT " members", path, gq.nlev, gq.ny, gq.nx, (double)gq.Lx, nt, nm);

  /* the first size-1 ranks (or the only one) write; everybody reads */
  PetscCallMPI(MPI_Comm_split(world, size == 1 || rank < size - 1 ? 0 : MPI_UNDEFINED, rank, &sub));
  if (sub != MPI_COMM_NULL) {
    PetscCall(IoTestGrid(sub, nlev, ny, nx, L, &gsub));
    PetscCall(WriteFile(sub, path2, &gsub, ntime, nmember, 0, ntime, DAISI_FILE_WRITE, PETSC_TRUE));
  }
  PetscCall(CheckFile(world, path2, &gw, ntime, nmember));
  PetscCall(IoTestSameBytes(world, path, path2)); /* the bytes do not depend on the rank count */
  if (sub != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&sub));
  PetscCall(IoTestRemove(world, path));
  PetscCall(IoTestRemove(world, path2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a run writes times 0, 1, stops; the restarted run (on another rank count) appends time 2
 * and 3: the result equals the uninterrupted file byte for byte */
static PetscErrorCode Restart(PetscInt nlev, PetscInt ny, PetscInt nx, PetscReal L, PetscInt nmember)
{
  MPI_Comm    world = PETSC_COMM_WORLD, sub;
  PetscMPIInt size, rank;
  DaisiGrid   gw, gsub;
  char        whole[PETSC_MAX_PATH_LEN], restarted[PETSC_MAX_PATH_LEN], partial[PETSC_MAX_PATH_LEN];
  PetscInt    ntime = 4;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(world, &size));
  PetscCallMPI(MPI_Comm_rank(world, &rank));
  PetscCall(PetscSNPrintf(whole, sizeof(whole), "sf_np%d_whole_%" PetscInt_FMT "_m%" PetscInt_FMT ".h5", size, ny, nmember));
  PetscCall(PetscSNPrintf(restarted, sizeof(restarted), "sf_np%d_restarted_%" PetscInt_FMT "_m%" PetscInt_FMT ".h5", size, ny, nmember));
  PetscCall(PetscSNPrintf(partial, sizeof(partial), "%s.partial", restarted));
  PetscCall(IoTestGrid(world, nlev, ny, nx, L, &gw));
  PetscCall(WriteFile(world, whole, &gw, ntime, nmember, 0, ntime, DAISI_FILE_WRITE, PETSC_TRUE));

  PetscCall(WriteFile(world, restarted, &gw, ntime, nmember, 0, 2, DAISI_FILE_WRITE, PETSC_FALSE));
  PetscCall(IoTestExpectFile(world, restarted, PETSC_FALSE));
  PetscCall(IoTestExpectFile(world, partial, PETSC_TRUE));
  PetscCallMPI(MPI_Comm_split(world, size == 1 || rank < size - 1 ? 0 : MPI_UNDEFINED, rank, &sub));
  if (sub != MPI_COMM_NULL) {
    PetscCall(IoTestGrid(sub, nlev, ny, nx, L, &gsub));
    PetscCall(WriteFile(sub, restarted, &gsub, ntime, nmember, 2, 3, DAISI_FILE_APPEND, PETSC_FALSE));
    PetscCallMPI(MPI_Comm_free(&sub));
  }
  PetscCall(WriteFile(world, restarted, &gw, ntime, nmember, 3, 4, DAISI_FILE_APPEND, PETSC_TRUE));
  PetscCall(IoTestExpectFile(world, partial, PETSC_FALSE));
  PetscCall(IoTestSameBytes(world, whole, restarted));
  PetscCall(CheckFile(world, restarted, &gw, ntime, nmember));
  PetscCall(IoTestRemove(world, whole));
  PetscCall(IoTestRemove(world, restarted));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  /* SQG-like; rows not divisible by 3; ny = 9 on 4 ranks leaves the last rank without rows;
   * a single row of 3 values as for Lorenz '63 (non-spatial: L = 0) */
  PetscCall(RoundTrips(2, 32, 32, 2.0e7, 0));
  PetscCall(RoundTrips(2, 9, 8, 2.0e7, 0));
  PetscCall(RoundTrips(2, 10, 6, 1.0e6, 0));
  PetscCall(RoundTrips(1, 1, 3, 0, 0));
  PetscCall(RoundTrips(2, 9, 8, 2.0e7, 3)); /* ensemble file */
  PetscCall(Restart(2, 9, 8, 2.0e7, 0));
  PetscCall(Restart(2, 10, 6, 1.0e6, 2));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "state file round trips: OK\n"));
  PetscCall(DaisiFinalize());
  return 0;
}
