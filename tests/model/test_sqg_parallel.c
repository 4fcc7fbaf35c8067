/* The SQG model gives the same answer on any rank count and any batch grouping:
 * the model on PETSC_COMM_WORLD (P ranks, rows and spectral columns split the way FFTW-MPI
 * hands them out, some ranks possibly empty) against the same model on rank 0 alone, for
 * grids whose sizes do not divide by P (including N = 10, whose 3/2 grid is odd), and a batch
 * of members advanced together against the same members advanced one by one. */
#include <daisi/model.h>
#include <daisi/sys.h>

static const char help[] = "SQG rank-count and batch independence.\n";

static PetscErrorCode MakeModel(MPI_Comm comm, PetscInt nbatch, DaisiModel *m)
{
  PetscFunctionBegin;
  PetscCall(DaisiModelCreate(comm, m));
  PetscCall(DaisiModelSetType(*m, DAISI_MODEL_SQG));
  PetscCall(DaisiModelSetBatchSize(*m, nbatch));
  PetscCall(DaisiModelSetFromOptions(*m));
  PetscCall(DaisiModelSetUp(*m));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* gather member b's full state (nlev x N x N) onto rank 0 of the model's communicator */
static PetscErrorCode GatherState(DaisiModel m, PetscInt b, PetscReal *full)
{
  DaisiGrid   g;
  MPI_Comm    comm;
  PetscMPIInt size, rank;
  PetscReal  *loc, *buf = NULL;
  PetscMPIInt *cnt = NULL, *dsp = NULL, nloc;
  PetscInt    *y0s = NULL, *nyls = NULL;

  PetscFunctionBegin;
  PetscCall(DaisiModelGetGrid(m, &g));
  PetscCall(DaisiModelGetComm(m, &comm));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMalloc1(DaisiGridLocalSize(&g) + 1, &loc));
  PetscCall(DaisiModelGetState(m, b, loc));
  nloc = (PetscMPIInt)DaisiGridLocalSize(&g);
  PetscCall(PetscMalloc4(size, &cnt, size, &dsp, size, &y0s, size, &nyls));
  PetscCallMPI(MPI_Gather(&nloc, 1, MPI_INT, cnt, 1, MPI_INT, 0, comm));
  PetscCallMPI(MPI_Gather(&g.y0, 1, MPIU_INT, y0s, 1, MPIU_INT, 0, comm));
  PetscCallMPI(MPI_Gather(&g.nyl, 1, MPIU_INT, nyls, 1, MPIU_INT, 0, comm));
  if (rank == 0) {
    dsp[0] = 0;
    for (PetscMPIInt r = 1; r < size; r++) dsp[r] = dsp[r - 1] + cnt[r - 1];
    PetscCall(PetscMalloc1(DaisiGridGlobalSize(&g), &buf));
  }
  PetscCallMPI(MPI_Gatherv(loc, nloc, MPIU_REAL, buf, cnt, dsp, MPIU_REAL, 0, comm));
  if (rank == 0) {
    for (PetscMPIInt r = 0; r < size; r++)
      for (PetscInt lev = 0; lev < g.nlev; lev++)
        for (PetscInt j = 0; j < nyls[r]; j++)
          for (PetscInt i = 0; i < g.nx; i++) full[(lev * g.ny + y0s[r] + j) * g.nx + i] = buf[dsp[r] + (lev * nyls[r] + j) * g.nx + i];
    PetscCall(PetscFree(buf));
  }
  PetscCall(PetscFree4(cnt, dsp, y0s, nyls));
  PetscCall(PetscFree(loc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckCase(PetscInt N, const char *dt, const char *efold, PetscInt nsteps)
{
  DaisiModel  mpar, mser = NULL, mbatch;
  PetscMPIInt rank;
  PetscReal  *a, *b, *c, maxdiff = 0, maxabs = 0, maxbatch = 0;
  char        nstr[16];
  const PetscInt B = 3;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscSNPrintf(nstr, sizeof(nstr), "%" PetscInt_FMT, N));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_n", nstr));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_dt", dt));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_diff_efold", efold));
  PetscCall(MakeModel(PETSC_COMM_WORLD, 1, &mpar));
  PetscCall(MakeModel(PETSC_COMM_WORLD, B, &mbatch));
  if (rank == 0) PetscCall(MakeModel(PETSC_COMM_SELF, 1, &mser));
  PetscCall(PetscMalloc3(2 * N * N, &a, 2 * N * N, &b, 2 * N * N, &c));

  PetscCall(DaisiModelInitialCondition(mpar, 0, 7));
  /* batch of 3 whose member 1 starts from the same state: must end equal to the single run */
  for (PetscInt m = 0; m < B; m++) PetscCall(DaisiModelInitialCondition(mbatch, m, 100 + m));
  {
    DaisiGrid  g;
    PetscReal *x0;
    PetscCall(DaisiModelGetGrid(mpar, &g));
    PetscCall(PetscMalloc1(DaisiGridLocalSize(&g) + 1, &x0));
    PetscCall(DaisiModelGetState(mpar, 0, x0));
    PetscCall(DaisiModelSetState(mbatch, 1, x0));
    PetscCall(PetscFree(x0));
  }
  PetscCall(DaisiModelAdvance(mpar, nsteps));
  PetscCall(GatherState(mpar, 0, a));
  if (rank == 0) {
    PetscCall(DaisiModelInitialCondition(mser, 0, 7));
    PetscCall(DaisiModelAdvance(mser, nsteps));
    PetscCall(GatherState(mser, 0, b));
    for (PetscInt i = 0; i < 2 * N * N; i++) {
      maxdiff = PetscMax(maxdiff, PetscAbsReal(a[i] - b[i]));
      maxabs  = PetscMax(maxabs, PetscAbsReal(b[i]));
    }
  }
  PetscCall(DaisiModelAdvance(mbatch, nsteps));
  PetscCall(GatherState(mbatch, 1, c));
  if (rank == 0)
    for (PetscInt i = 0; i < 2 * N * N; i++) maxbatch = PetscMax(maxbatch, PetscAbsReal(c[i] - a[i]));
  PetscCallMPI(MPI_Bcast(&maxdiff, 1, MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(&maxabs, 1, MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(&maxbatch, 1, MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "N=%3" PetscInt_FMT " %3" PetscInt_FMT " steps: max |P ranks - 1 rank| / max|theta| = %.2e, batch vs single = %.2e\n", N, nsteps, (double)(maxdiff / maxabs), (double)(maxbatch / maxabs)));
  PetscCheck(maxdiff <= 1e-12 * maxabs, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "N=%" PetscInt_FMT ": result depends on the rank count (%g)", N, (double)(maxdiff / maxabs));
  PetscCheck(maxbatch <= 1e-12 * maxabs, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "N=%" PetscInt_FMT ": batched result differs from the single-member result (%g)", N, (double)(maxbatch / maxabs));
  PetscCall(PetscFree3(a, b, c));
  PetscCall(DaisiModelDestroy(&mpar));
  PetscCall(DaisiModelDestroy(&mbatch));
  PetscCall(DaisiModelDestroy(&mser));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  /* N = 8 on 4 ranks leaves a rank without spectral columns (5 columns, blocks of 2) */
  PetscCall(CheckCase(8, "2400", "259200", 20));
  PetscCall(CheckCase(10, "2400", "259200", 20));
  PetscCall(CheckCase(32, "2400", "259200", 30));
  PetscCall(CheckCase(64, "1200", "86400", 20));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS sqg parallel\n"));
  PetscCall(DaisiFinalize());
  return 0;
}
