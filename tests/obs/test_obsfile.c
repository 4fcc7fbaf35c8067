/* Observation files: write three cycles (one with NaN values), read them back on every rank
 * and compare exactly; the attributes; NaN values skipped and counted; errors for a wrong
 * grid, a missing cycle, bad sets on writing; an unfinished file leaves nothing behind. */
#include <daisi/obsfile.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <daisitest.h>
#include <unistd.h>

static const char help[] = "Tests DaisiObsFile.\n";

#define NOBS   40
#define NCYCLE 3

/* cycle c (1-based) of the test data; obs i with i % 7 == 3 is NaN in cycle 2 */
static PetscErrorCode FillSet(PetscInt c, DaisiObsSet *set)
{
  DaisiRng rng = DaisiRngMake(5, DAISI_RNG_TEST, (uint64_t)c, 0, 0);

  PetscFunctionBegin;
  for (PetscInt i = 0; i < NOBS; i++) {
    set->lev[i]   = i % 2;
    set->iy[i]    = (i * 7 + c) % 24;
    set->ix[i]    = (i * 5 + 3 * c) % 40;
    set->value[i] = 10 * DaisiRngNormal(&rng, (uint64_t)i);
    set->sigma[i] = 0.5 + DaisiRngUniform(&rng, (uint64_t)(1000 + i));
    if (c == 2 && i % 7 == 3) set->value[i] = (PetscReal)NAN;
  }
  set->cycle = c;
  set->time  = 10800.0 * c + 0.125;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FileExists(const char path[], PetscBool *exists)
{
  PetscFunctionBegin;
  *exists = access(path, F_OK) == 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  DaisiGrid        g = {2, 24, 40, 0, 24, 0, 0, 0}, g32 = {2, 32, 32, 0, 32, 0, 0, 0};
  DaisiObsOperator op;
  DaisiObsFile     f;
  DaisiObsSet      set, rd, ref;
  PetscMPIInt      size;
  char             path[64], gone[64], s[64];
  PetscInt         nskip, ncycle, nobs, nlev, ny, nx;
  PetscReal        scale, frac;
  PetscErrorCode   ierr;
  PetscBool        exists;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscSNPrintf(path, sizeof(path), "test_obsfile_np%d.h5", size));
  PetscCall(PetscSNPrintf(gone, sizeof(gone), "test_obsfile_unfinished_np%d.h5", size));

  /* write */
  PetscCall(DaisiObsOperatorCreate(PETSC_COMM_WORLD, &op));
  PetscCall(DaisiObsOperatorSetType(op, DAISI_OBS_OPERATOR_SQUARED));
  PetscCall(DaisiObsOperatorSetSquaredScale(op, 6.5));
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, NOBS, DAISI_OBS_OPERATOR_SQUARED, &set));
  PetscCall(DaisiObsFileCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiObsFileSetGrid(f, &g));
  PetscCall(DaisiObsFileSetSizes(f, NCYCLE, NOBS));
  PetscCall(DaisiObsFileSetOperator(f, op));
  PetscCall(DaisiObsFileSetString(f, "scenario", "roundtrip"));
  PetscCall(DaisiObsFileSetReal(f, "obs_fraction", 0.3));
  PetscCall(DaisiObsFileOpen(f, path, DAISI_FILE_WRITE));
  for (PetscInt c = 1; c <= NCYCLE; c++) {
    PetscCall(FillSet(c, &set));
    PetscCall(DaisiObsFileWrite(f, c - 1, &set));
  }
  /* bad sets are refused before anything is written */
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  set.sigma[3] = 0;
  ierr         = DaisiObsFileWrite(f, 0, &set);
  EXPECT(ierr, "sigma = 0 written");
  set.sigma[3] = 1;
  set.ix[5]    = 40;
  ierr         = DaisiObsFileWrite(f, 0, &set);
  EXPECT(ierr, "a site outside the grid written");
  PetscCall(PetscPopErrorHandler());
  PetscCall(DaisiObsFileClose(f));
  PetscCall(DaisiObsFileDestroy(&f));

  /* read back with the model's grid */
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, NOBS, DAISI_OBS_OPERATOR_SQUARED, &ref));
  PetscCall(DaisiObsFileCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiObsFileSetGrid(f, &g));
  PetscCall(DaisiObsFileOpen(f, path, DAISI_FILE_READ));
  PetscCall(DaisiObsFileGetSizes(f, &ncycle, &nobs, &nlev, &ny, &nx));
  EXPECT(ncycle == NCYCLE && nobs == NOBS && nlev == 2 && ny == 24 && nx == 40, "sizes %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT, ncycle, nobs, nlev, ny, nx);
  PetscCall(DaisiObsFileGetString(f, "scenario", s, sizeof(s), NULL));
  EXPECT(!strcmp(s, "roundtrip"), "scenario attribute '%s'", s);
  PetscCall(DaisiObsFileGetString(f, "obs_operator", s, sizeof(s), NULL));
  EXPECT(!strcmp(s, "squared"), "operator attribute '%s'", s);
  PetscCall(DaisiObsFileGetReal(f, "obs_fraction", &frac, NULL));
  EXPECT(frac == 0.3, "fraction attribute %g", (double)frac);
  PetscCall(DaisiObsFileGetReal(f, "no_such_attribute", &frac, &exists));
  EXPECT(!exists, "a missing attribute found");
  for (PetscInt c = NCYCLE; c >= 1; c--) { /* any order */
    PetscInt k = 0;
    PetscCall(FillSet(c, &ref));
    PetscCall(DaisiObsFileRead(f, c, &rd, &nskip));
    EXPECT(nskip == (c == 2 ? 6 : 0), "cycle %" PetscInt_FMT ": %" PetscInt_FMT " skipped", c, nskip);
    EXPECT(rd.nobs == NOBS - nskip && rd.cycle == c && rd.time == ref.time, "cycle %" PetscInt_FMT ": %" PetscInt_FMT " observations, time %g", c, rd.nobs, (double)rd.time);
    PetscCall(DaisiObsOperatorGetSquaredScale(rd.op, &scale));
    EXPECT(scale == 6.5, "squared scale %g", (double)scale);
    for (PetscInt i = 0; i < NOBS && rd.nobs == NOBS - nskip; i++) {
      if (PetscIsNanReal(ref.value[i])) continue;
      EXPECT(rd.value[k] == ref.value[i] && rd.sigma[k] == ref.sigma[i] && rd.lev[k] == ref.lev[i] && rd.iy[k] == ref.iy[i] && rd.ix[k] == ref.ix[i], "cycle %" PetscInt_FMT ": observation %" PetscInt_FMT " differs after the round trip", c, i);
      k++;
    }
    PetscCall(DaisiObsSetDestroy(&rd));
  }
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiObsFileRead(f, 4, &rd, NULL);
  EXPECT(ierr, "missing cycle 4 read");
  PetscCall(PetscPopErrorHandler());
  PetscCall(DaisiObsFileClose(f));
  PetscCall(DaisiObsFileDestroy(&f));

  /* the wrong grid */
  PetscCall(DaisiObsFileCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiObsFileSetGrid(f, &g32));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiObsFileOpen(f, path, DAISI_FILE_READ);
  EXPECT(ierr, "a file for 24x40 opened for a 32x32 model");
  PetscCall(PetscPopErrorHandler());
  PetscCall(DaisiObsFileDestroy(&f));

  /* an unfinished file (destroyed without Close) leaves nothing behind */
  PetscCall(DaisiObsFileCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiObsFileSetGrid(f, &g));
  PetscCall(DaisiObsFileSetSizes(f, NCYCLE, NOBS));
  PetscCall(DaisiObsFileSetOperator(f, op));
  PetscCall(DaisiObsFileOpen(f, gone, DAISI_FILE_WRITE));
  PetscCall(FillSet(1, &set));
  PetscCall(DaisiObsFileWrite(f, 0, &set));
  PetscCall(DaisiObsFileDestroy(&f));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  {
    char tmp[PETSC_MAX_PATH_LEN];
    PetscCall(PetscSNPrintf(tmp, sizeof(tmp), "%s.tmp.%ld", gone, (long)getpid()));
    PetscCall(FileExists(gone, &exists));
    EXPECT(!exists, "unfinished file %s exists", gone);
    PetscCall(FileExists(tmp, &exists));
    EXPECT(!exists, "temporary file %s left behind", tmp);
  }

  PetscCall(DaisiObsSetDestroy(&set));
  PetscCall(DaisiObsSetDestroy(&ref));
  PetscCall(DaisiObsOperatorDestroy(&op));
  {
    PetscMPIInt rank;
    PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    if (rank == 0) (void)remove(path);
  }
  PetscCall(FinishTest("obs file"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
