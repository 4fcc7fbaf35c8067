/* Speed of one LETKF analysis for the four SQG observation scenarios of EXPERIMENTS.md at
 * N = 64 with 20 members (random states, synthetic observations at 25 % / 5 % of the columns
 * on both levels), next to the reference Python LETKF's 0.8 s per analysis (sparse scenario),
 * and the sparse and noisy scenarios against the ensemble size.
 * Run:  mpiexec -n P build/bin/letkf_bench [-bench_reps 3] [-bench_sizes 20,40,80,120,160,200] [-bench_noisy_max 80]
 *       [-bench_scenarios noisy,sparse,multimodal,saturating]
 *       [-ens_groups G] [-letkf_eigensolver syevr|syev] [-letkf_ensemble_space] [-log_view]
 * Times are the best of -bench_reps analyses: wall seconds from a barrier to the last rank's
 * return, and the CPU seconds of the busiest rank (robust when other jobs share the cores). */
#include <daisi/filter.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include "benchutil.h"

typedef struct {
  const char          *name;
  DaisiObsOperatorType op;
  PetscReal            fraction, sigma, cutoff, rtps;
} Scenario;

static const Scenario scenarios[] = {
  {"noisy",      DAISI_OBS_OPERATOR_LINEAR,  0.25, 5.0,  2500e3, 0.5},
  {"sparse",     DAISI_OBS_OPERATOR_LINEAR,  0.05, 1.0,  1500e3, 0.5},
  {"multimodal", DAISI_OBS_OPERATOR_SQUARED, 0.25, 1.0,  2500e3, 0.5},
  {"saturating", DAISI_OBS_OPERATOR_ARCTAN,  0.25, 0.01, 4500e3, 0.9},
};

/* best time of reps LETKF analyses of scenario s with M members; mean local obs count */
static PetscErrorCode TimeAnalysis(const Scenario *s, PetscInt M, PetscInt reps, PetscReal *best, PetscReal *bestcpu, PetscReal *meanp, PetscInt *nobs)
{
  DaisiEnsemble    e;
  DaisiFilter      f;
  DaisiGrid        g;
  DaisiObsSet      obs;
  DaisiFilterStats st;
  PetscReal       *truth, *tloc;
  PetscInt64       sums[2];

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &e));
  PetscCall(DaisiEnsembleSetSize(e, M));
  PetscCall(DaisiEnsembleSetFromOptions(e));
  PetscCall(DaisiEnsembleSetSize(e, M));
  PetscCall(DaisiEnsembleSetUp(e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(PetscMalloc2(DaisiGridGlobalSize(&g), &truth, PetscMax(1, DaisiGridLocalSize(&g)), &tloc));
  BenchTruth(&g, truth);
  for (PetscInt lev = 0; lev < g.nlev; lev++)
    for (PetscInt y = 0; y < g.nyl; y++)
      for (PetscInt x = 0; x < g.nx; x++) tloc[(lev * g.nyl + y) * g.nx + x] = truth[(lev * g.ny + g.y0 + y) * g.nx + x];
  PetscCall(BenchMakeObs(&g, s->op, s->fraction, s->sigma, truth, &obs));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_LETKF));
  PetscCall(DaisiFilterLETKFSetCutoff(f, s->cutoff));
  PetscCall(DaisiFilterLETKFSetRTPS(f, s->rtps));
  PetscCall(DaisiFilterSetFromOptions(f));
  PetscCall(DaisiFilterSetUp(f));
  *best = *bestcpu = PETSC_MAX_REAL;
  for (PetscInt r = 0; r < reps; r++) {
    double t0, t1, c0, c1;
    PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    t0 = MPI_Wtime();
    c0 = BenchCpuSeconds();
    PetscCall(DaisiFilterAnalysis(f, e, &obs));
    c1 = BenchCpuSeconds() - c0;
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    t1 = MPI_Wtime();
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &c1, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
    *best    = PetscMin(*best, (PetscReal)(t1 - t0));
    *bestcpu = PetscMin(*bestcpu, (PetscReal)c1);
  }
  PetscCall(DaisiFilterGetStats(f, &st));
  sums[0] = st.npoints;
  sums[1] = st.nlocalobs;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPIU_INT64, MPI_SUM, PETSC_COMM_WORLD));
  *meanp = sums[0] ? (PetscReal)sums[1] / (PetscReal)sums[0] : 0;
  *nobs  = obs.nobs;
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(PetscFree2(truth, tloc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscInt    reps = 3, sizes[16] = {20, 40, 80, 120, 160, 200}, nsizes = 16, noisymax = 80;
  PetscMPIInt size;
  PetscBool   set;
  char       *only[4];
  PetscInt    nonly = 4;

  PetscCall(DaisiInitialize(&argc, &argv, "LETKF analysis benchmark.\n"));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_reps", &reps, NULL));
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-bench_sizes", sizes, &nsizes, &set));
  if (!set) nsizes = 6;
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_noisy_max", &noisymax, NULL));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-bench_scenarios", only, &nonly, &set));
  if (!set) nonly = 0;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "LETKF analysis, %d rank(s), best of %" PetscInt_FMT "; reference Python LETKF: 0.8 s (sparse, 20 members)\n", size, reps));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-11s %7s %5s %10s %10s %10s %12s\n", "scenario", "members", "obs", "local obs", "wall s", "cpu s", "x faster"));
  for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
    PetscReal t, tc, p;
    PetscInt  nobs;
    PetscBool run = PETSC_TRUE;
    if (nonly) {
      run = PETSC_FALSE;
      for (PetscInt i = 0; i < nonly; i++) {
        PetscBool same;
        PetscCall(PetscStrcmp(only[i], scenarios[k].name, &same));
        run = (PetscBool)(run || same);
      }
    }
    if (!run) continue;
    PetscCall(TimeAnalysis(&scenarios[k], 20, reps, &t, &tc, &p, &nobs));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-11s %7d %5" PetscInt_FMT " %10.1f %10.4f %10.4f %12.0f\n", scenarios[k].name, 20, nobs, (double)p, (double)t, (double)tc, (double)(0.8 / t)));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "against the ensemble size:\n"));
  /* sparse over all sizes; noisy (p ~ 100 > M: M x M problems) up to -bench_noisy_max members */
  for (PetscInt s = 1; s >= 0; s--)
    for (PetscInt i = 0; i < nsizes; i++) {
      if (s == 0 && sizes[i] > noisymax) continue;
      PetscReal t, tc, p;
      PetscInt  nobs;
      PetscCall(TimeAnalysis(&scenarios[s], sizes[i], reps, &t, &tc, &p, &nobs));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-11s %7" PetscInt_FMT " %5" PetscInt_FMT " %10.1f %10.4f %10.4f\n", scenarios[s].name, sizes[i], nobs, (double)p, (double)t, (double)tc));
    }
  for (PetscInt i = 0; i < nonly; i++) PetscCall(PetscFree(only[i]));
  PetscCall(DaisiFinalize());
  return 0;
}
