/* Test tool for the script tests of state files: writes a file whose every value is a known
 * formula, possibly stopping part-way as a killed run would, appends to it as a restarted run,
 * or checks a file on any rank count.
 *   io_tool -mode write  -file F [-ntime 4 -nlev 2 -ny 10 -nx 12 -nmember 0 -L 2e7]
 *           [-first k0] [-stop_after k]   (-stop_after: flush after time k, then MPI_Abort)
 *   io_tool -mode append -file F -first k0
 *   io_tool -mode check  -file F          (views the file, checks every value of every time
 *                                          and member) */
#include <daisi/statefile.h>
#include "iotest.h"

static const char help[] = "Writes, appends to and checks DAISI state files for the script tests.\n";

/* exact in double, and easy to recompute in Python */
static PetscReal Value(PetscInt k, PetscInt m, PetscInt l, PetscInt y, PetscInt x)
{
  return (PetscReal)((((k * 10 + m) * 10 + l) * 100 + y) * 100 + x) * 0.25;
}

static void Fill(const DaisiGrid *g, PetscInt k, PetscInt m, PetscReal v[])
{
  for (PetscInt l = 0; l < g->nlev; l++)
    for (PetscInt y = 0; y < g->nyl; y++)
      for (PetscInt i = 0; i < g->nx; i++) v[(l * g->nyl + y) * g->nx + i] = Value(k, m, l, g->y0 + y, i);
}

int main(int argc, char **argv)
{
  MPI_Comm       comm;
  char           mode[16] = "write", path[PETSC_MAX_PATH_LEN] = "";
  PetscInt       ntime = 4, nlev = 2, ny = 10, nx = 12, nmember = 0, first = 0, stop_after = -1;
  PetscReal      L     = 2.0e7, *v;
  DaisiGrid      g;
  DaisiStateFile f;
  PetscBool      isread;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscOptionsBegin(comm, NULL, "io_tool options", NULL);
  PetscCall(PetscOptionsString("-mode", "write, append or check", NULL, mode, mode, sizeof(mode), NULL));
  PetscCall(PetscOptionsString("-file", "state file", NULL, path, path, sizeof(path), NULL));
  PetscCall(PetscOptionsInt("-ntime", "number of times", NULL, ntime, &ntime, NULL));
  PetscCall(PetscOptionsInt("-nlev", "levels", NULL, nlev, &nlev, NULL));
  PetscCall(PetscOptionsInt("-ny", "rows", NULL, ny, &ny, NULL));
  PetscCall(PetscOptionsInt("-nx", "columns", NULL, nx, &nx, NULL));
  PetscCall(PetscOptionsInt("-nmember", "members (0: state file)", NULL, nmember, &nmember, NULL));
  PetscCall(PetscOptionsReal("-L", "domain length (m)", NULL, L, &L, NULL));
  PetscCall(PetscOptionsInt("-first", "first time index to write", NULL, first, &first, NULL));
  PetscCall(PetscOptionsInt("-stop_after", "abort after flushing this time index", NULL, stop_after, &stop_after, NULL));
  PetscOptionsEnd();
  PetscCheck(path[0], comm, PETSC_ERR_USER_INPUT, "give -file");

  PetscCall(PetscStrcmp(mode, "check", &isread));
  if (isread) { /* the shape comes from the file */
    PetscInt nt, nm;
    PetscCall(DaisiStateFileQuery(comm, path, &g, &nt, &nm));
    ntime   = nt;
    nmember = nm;
    nlev    = g.nlev;
    ny      = g.ny;
    nx      = g.nx;
    L       = g.Lx;
  }
  PetscCall(IoTestGrid(comm, nlev, ny, nx, L, &g));
  PetscCall(PetscMalloc1(PetscMax(DaisiGridLocalSize(&g), 1), &v));
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileSetGrid(f, &g));
  if (isread) {
    PetscInt bad = 0, anybad;
    PetscCall(DaisiStateFileOpen(f, path, DAISI_FILE_READ));
    PetscCall(DaisiStateFileView(f, NULL));
    for (PetscInt k = 0; k < ntime; k++) {
      for (PetscInt m = 0; m < PetscMax(nmember, 1); m++) {
        PetscReal t;
        if (nmember) PetscCall(DaisiStateFileReadMember(f, k, m, &t, v));
        else PetscCall(DaisiStateFileRead(f, k, &t, v));
        if (t != 10800.0 * (PetscReal)k) bad++;
        for (PetscInt l = 0; l < nlev; l++)
          for (PetscInt y = 0; y < g.nyl; y++)
            for (PetscInt i = 0; i < nx; i++)
              if (v[(l * g.nyl + y) * nx + i] != Value(k, m, l, g.y0 + y, i)) bad++;
      }
    }
    PetscCall(MPIU_Allreduce(&bad, &anybad, 1, MPIU_INT, MPI_SUM, comm));
    PetscCheck(anybad == 0, comm, PETSC_ERR_PLIB, "file %s: %" PetscInt_FMT " values or times differ from the formula", path, anybad);
    PetscCall(DaisiStateFileClose(f));
    PetscCall(PetscPrintf(comm, "%s: %" PetscInt_FMT " times, %" PetscInt_FMT " members of %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT " read correctly\n", path, ntime, nmember, nlev, ny, nx));
  } else {
    PetscBool       append;
    DaisiModelParam params[] = {
      {"N",  (PetscReal)ny},
      {"dt", 1200         },
      {"L",  L            },
    };
    PetscCall(PetscStrcmp(mode, "append", &append));
    PetscCall(DaisiStateFileSetNumTimes(f, ntime));
    PetscCall(DaisiStateFileSetNumMembers(f, nmember));
    PetscCall(DaisiStateFileSetString(f, "model", "sqg"));
    PetscCall(DaisiStateFileSetParams(f, 3, params));
    PetscCall(DaisiStateFileOpen(f, path, append ? DAISI_FILE_APPEND : DAISI_FILE_WRITE));
    for (PetscInt k = first; k < ntime; k++) {
      for (PetscInt m = 0; m < PetscMax(nmember, 1); m++) {
        Fill(&g, k, m, v);
        if (nmember) PetscCall(DaisiStateFileWriteMember(f, k, m, 10800.0 * (PetscReal)k, v));
        else PetscCall(DaisiStateFileWrite(f, k, 10800.0 * (PetscReal)k, v));
      }
      if (k == stop_after) { /* as a run killed right after its checkpoint */
        PetscMPIInt rank;
        PetscCallMPI(MPI_Comm_rank(comm, &rank));
        PetscCall(DaisiStateFileFlush(f));
        PetscCallMPI(MPI_Barrier(comm));
        /* rank 0 alone aborts, after its message is out; the others wait to be killed (if every
         * rank aborted, a fast one could kill rank 0 before its buffered message is written) */
        PetscCall(PetscPrintf(comm, "stopping after time index %" PetscInt_FMT "\n", k));
        if (rank == 0) {
          (void)fflush(PETSC_STDOUT);
          MPI_Abort(comm, DAISI_EXIT_CHECKPOINTED);
        }
        PetscCallMPI(MPI_Barrier(comm));
      }
    }
    PetscCall(DaisiStateFileClose(f));
  }
  PetscCall(DaisiStateFileDestroy(&f));
  PetscCall(PetscFree(v));
  PetscCall(DaisiFinalize());
  return 0;
}
