/* Every filter gives bit-identical analyses for every (G, P) grouping of the world and for any
 * rank count: each layout's gathered analysis is compared bitwise with a serial run on
 * rank 0 alone (PETSC_COMM_SELF), which is also what a 1-rank run computes. Two cycles, so
 * the EnKF's perturbed observations (keyed by cycle, member, observation) are covered too. */
#include "filtertest.h"

static const char help[] = "Tests that filter analyses are bit-identical for every (G, P) layout.\n";

typedef struct {
  DaisiFilterType      type;
  DaisiObsOperatorType op;
  PetscReal            cutoff, rtps, inflation;
} Case;

static PetscErrorCode RunCase(MPI_Comm comm, const Case *c, PetscInt M, PetscInt G, PetscReal result[])
{
  DaisiEnsemble e;
  DaisiFilter   f;
  DaisiGrid     g;
  PetscReal    *truth, *tloc;
  PetscMPIInt   rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(MakeEnsemble(comm, M, G, &e));
  PetscCall(DaisiEnsembleSetSeed(e, 17));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(PetscMalloc2(DaisiGridGlobalSize(&g), &truth, PetscMax(1, DaisiGridLocalSize(&g)), &tloc));
  SyntheticTruth(&g, 9, truth);
  ExtractSlab(&g, truth, tloc);
  PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
  PetscCall(DaisiFilterCreate(comm, &f));
  PetscCall(DaisiFilterSetType(f, c->type));
  PetscCall(DaisiFilterLETKFSetCutoff(f, c->cutoff));
  PetscCall(DaisiFilterLETKFSetRTPS(f, c->rtps));
  PetscCall(DaisiFilterSetInflation(f, c->inflation));
  PetscCall(DaisiFilterSetSeed(f, 5));
  PetscCall(DaisiFilterSetFromOptions(f));
  PetscCall(DaisiFilterSetUp(f));
  for (PetscInt cycle = 1; cycle <= 2; cycle++) {
    DaisiObsSet obs;
    PetscCall(SyntheticObs(&g, 0.2, c->op, 1.0, truth, 70 + cycle, cycle, &obs));
    PetscCall(DaisiFilterAnalysis(f, e, &obs));
    PetscCall(DaisiObsSetDestroy(&obs));
  }
  PetscCall(DaisiEnsembleGatherGlobal(e, result));
  PetscCall(PetscFree2(truth, tloc));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  const PetscInt M = 7; /* not divisible by 2, 3 or 4 */
  const Case     cases[] = {
    {DAISI_FILTER_LETKF, DAISI_OBS_OPERATOR_SQUARED, 3000e3, 0.5, 1.05},
    {DAISI_FILTER_LETKF, DAISI_OBS_OPERATOR_ARCTAN,  1e30,   0.0, 1.0 },
    {DAISI_FILTER_ETKF,  DAISI_OBS_OPERATOR_LINEAR,  1e30,   0.3, 1.1 },
    {DAISI_FILTER_ENKF,  DAISI_OBS_OPERATOR_LINEAR,  1e30,   0.0, 1.0 },
    {DAISI_FILTER_NONE,  DAISI_OBS_OPERATOR_LINEAR,  1e30,   0.0, 1.0 },
  };
  PetscMPIInt size, rank;
  PetscInt    n;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  {
    DaisiEnsemble e;
    DaisiGrid     g;
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, 1, &e));
    PetscCall(DaisiEnsembleGetGrid(e, &g));
    n = DaisiGridGlobalSize(&g);
    PetscCall(DaisiEnsembleDestroy(&e));
  }
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    PetscReal *ref = NULL, *res;
    PetscCall(PetscMalloc1(M * n, &res));
    if (!rank) {
      PetscCall(PetscMalloc1(M * n, &ref));
      PetscCall(RunCase(PETSC_COMM_SELF, &cases[k], M, 1, ref));
    }
    for (PetscInt G = 1; G <= size; G++) {
      if (size % G) continue;
      PetscCall(RunCase(PETSC_COMM_WORLD, &cases[k], M, G, res));
      if (!rank) {
        const PetscInt nd = CountDifferent(M * n, ref, res);
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "%-6s h=%-8s G=%" PetscInt_FMT " P=%" PetscInt_FMT ": %" PetscInt_FMT " of %" PetscInt_FMT " values differ from the serial run (max diff %.1e)\n", cases[k].type, cases[k].op, G, (PetscInt)size / G, nd, M * n, (double)MaxAbsDiff(M * n, ref, res)));
        EXPECT(nd == 0, "%s with h=%s, G=%" PetscInt_FMT ", P=%" PetscInt_FMT ": analysis not bit-identical to the serial run", cases[k].type, cases[k].op, G, (PetscInt)size / G);
      }
    }
    PetscCall(PetscFree(ref));
    PetscCall(PetscFree(res));
  }
  PetscCall(FinishTest("test_filter_layout"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
