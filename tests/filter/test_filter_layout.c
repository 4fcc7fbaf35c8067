/* Every filter gives bit-identical analyses for every (G, P) grouping of the world and for any
 * rank count: each layout's gathered analysis is compared bitwise with a serial run on
 * rank 0 alone (PETSC_COMM_SELF), which is also what a 1-rank run computes. Two cycles, so
 * the EnKF's perturbed observations (keyed by cycle, member, observation) and the particle
 * filter's resampling and jitter (keyed by cycle, member, global index) are covered too. */
#include "filtertest.h"

static const char help[] = "Tests that filter analyses are bit-identical for every (G, P) layout.\n";

typedef struct {
  DaisiFilterType      type;
  DaisiObsOperatorType op;
  PetscReal            cutoff, rtps, inflation;
  PetscReal            pf_threshold, pf_jitter; /* pf */
  PetscReal            sigma[2];                /* observation error std of the two cycles */
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
  PetscCall(DaisiFilterPFSetResampleThreshold(f, c->pf_threshold));
  PetscCall(DaisiFilterPFSetJitter(f, c->pf_jitter));
  PetscCall(DaisiFilterSetFromOptions(f));
  PetscCall(DaisiFilterSetUp(f));
  for (PetscInt cycle = 1; cycle <= 2; cycle++) {
    DaisiObsSet obs;
    PetscCall(SyntheticObs(&g, 0.2, c->op, c->sigma[cycle - 1], truth, 70 + cycle, cycle, &obs));
    PetscCall(DaisiFilterAnalysis(f, e, &obs));
    PetscCall(DaisiObsSetDestroy(&obs));
    {
      PetscBool ispf;
      PetscCall(PetscStrcmp(c->type, DAISI_FILTER_PF, &ispf));
      if (ispf && comm == PETSC_COMM_SELF) {
        DaisiFilterStats st;
        PetscCall(DaisiFilterGetStats(f, &st));
        PetscCall(PetscPrintf(comm, "pf (threshold %g) cycle %" PetscInt_FMT ": ESS %.3f of %" PetscInt_FMT ", %s\n", (double)c->pf_threshold, cycle, (double)st.ess, M, st.resampled ? "resampled" : "weights carried"));
      }
    }
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
    {DAISI_FILTER_LETKF, DAISI_OBS_OPERATOR_SQUARED, 3000e3, 0.5, 1.05, 1.0, 0.0, {1.0, 1.0}},
    {DAISI_FILTER_LETKF, DAISI_OBS_OPERATOR_ARCTAN,  1e30,   0.0, 1.0,  1.0, 0.0, {1.0, 1.0}},
    {DAISI_FILTER_ETKF,  DAISI_OBS_OPERATOR_LINEAR,  1e30,   0.3, 1.1,  1.0, 0.0, {1.0, 1.0}},
    {DAISI_FILTER_ENKF,  DAISI_OBS_OPERATOR_LINEAR,  1e30,   0.0, 1.0,  1.0, 0.0, {1.0, 1.0}},
    {DAISI_FILTER_NONE,  DAISI_OBS_OPERATOR_LINEAR,  1e30,   0.0, 1.0,  1.0, 0.0, {1.0, 1.0}},
    /* pf: resampling every cycle with jitter (squared h, inflation); resampling only when
     * ESS < 0.85 M: a broad likelihood in cycle 1 (weights carried), a sharper one in cycle 2 */
    {DAISI_FILTER_PF,    DAISI_OBS_OPERATOR_SQUARED, 1e30,   0.0, 1.05, 1.0, 0.3, {3.0, 3.0}},
    {DAISI_FILTER_PF,    DAISI_OBS_OPERATOR_LINEAR,  1e30,   0.0, 1.0,  0.85, 0.0, {120.0, 10.0}},
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
