/* Speed and memory of the global ETKF (or EnKF) analysis against the ensemble size, serial
 * LAPACK against the distributed ScaLAPACK ensemble-space solver (-filter_ensspace_solver), on
 * SQG grids N = 64 and 128 with observations of both levels at a fraction of the columns.
 * Run:  mpiexec -n P build/bin/etkf_bench [-bench_n 64,128] [-bench_sizes 20,50,100,200,500,1000,2000,5000]
 *       [-bench_solvers lapack,scalapack] [-bench_reps 3] [-bench_obs_fraction 0.05] [-bench_filter etkf|enkf]
 *       [-filter_scalapack_block 64] [-filter_scalapack_grid pr,pc] [-log_view]
 * (on AVX-512 machines with `env -u OPENBLAS_CORETYPE` so that DAISI picks the OpenBLAS core).
 * Per line: wall seconds of one analysis from a barrier to the last rank's return (best of
 * -bench_reps below 1000 members, one analysis from 1000 on), the CPU seconds of the busiest
 * rank (the better guide when other jobs share the cores; with MPI busy-waiting), the part in the M x M solve
 * (FilterTransform event: formation, eigensolver, weights, replication) and in applying the
 * weights at the points (FilterLocal), both max over ranks; a nominal GFLOP/s rate against
 * the measured dgemm peak of all ranks; the peak resident memory of the analysis, max over
 * ranks (VmHWM reset before each analysis; the ensemble itself is included). */
#include <daisi/filter.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include "benchutil.h"

extern void dgemm_(const char *, const char *, const int *, const int *, const int *, const double *, const double *, const int *, const double *, const int *, const double *, double *, const int *);

/* peak resident set of this process in MB since the last ResetPeakRSS (Linux VmHWM); falls
 * back to the lifetime peak (getrusage) where /proc cannot reset it */
static PetscBool peak_resettable = PETSC_FALSE;
static void ResetPeakRSS(void)
{
  FILE *fp;
  /* hand freed heap pages back first: glibc keeps them resident, and the previous solver's
   * work space would otherwise count as this one's */
  malloc_trim(0);
  fp              = fopen("/proc/self/clear_refs", "w");
  peak_resettable = PETSC_FALSE;
  if (!fp) return;
  peak_resettable = (PetscBool)(fputs("5", fp) >= 0);
  if (fclose(fp)) peak_resettable = PETSC_FALSE;
}
static double PeakRSSMB(void)
{
  struct rusage ru;
  if (peak_resettable) {
    FILE *fp = fopen("/proc/self/status", "r");
    char  line[256];
    long  kb = -1;
    if (fp) {
      while (fgets(line, sizeof(line), fp))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
      fclose(fp);
    }
    if (kb >= 0) return (double)kb / 1024.0;
  }
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

/* dgemm rate of one rank (GFLOP/s) while every rank runs one: the peak the analysis is held to */
static PetscErrorCode DgemmPeak(double *gflops)
{
  const int    n = 1500;
  const double one = 1, zero = 0;
  double      *a, *b, *c, best = 1e30;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3((size_t)n * n, &a, (size_t)n * n, &b, (size_t)n * n, &c));
  for (size_t i = 0; i < (size_t)n * n; i++) {
    a[i] = 1.0 / (double)(1 + i % 7);
    b[i] = 1.0 / (double)(1 + i % 5);
  }
  for (int r = 0; r < 4; r++) {
    double t;
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    t = MPI_Wtime();
    dgemm_("N", "N", &n, &n, &n, &one, a, &n, b, &n, &zero, c, &n);
    t = MPI_Wtime() - t;
    if (r) best = PetscMin(best, t); /* the first call warms up */
  }
  *gflops = 2.0 * n * n * (double)n / best * 1e-9;
  PetscCall(PetscFree3(a, b, c));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode EventTimes(PetscLogEvent ev[2], double t[2])
{
  PetscFunctionBegin;
  for (int k = 0; k < 2; k++) {
    PetscEventPerfInfo info;
    PetscCall(PetscLogEventGetPerfInfo(0, ev[k], &info));
    t[k] = info.time;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscInt    reps = 3, sizes[16] = {20, 50, 100, 200, 500, 1000, 2000, 5000}, nsizes = 16, ns[4] = {64, 128}, nns = 4, nsolvers = 2;
  PetscReal   fraction = 0.05;
  char       *solvers[2], ftype[16] = "etkf";
  PetscMPIInt size;
  PetscBool   set, fftset;
  double      peak;
  PetscLogEvent ev[2];

  PetscCall(DaisiInitialize(&argc, &argv, "Global ETKF/EnKF analysis benchmark: LAPACK vs ScaLAPACK ensemble-space solver.\n"));
  PetscCall(PetscLogDefaultBegin());
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_reps", &reps, NULL));
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-bench_sizes", sizes, &nsizes, &set));
  if (!set) nsizes = 8;
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-bench_n", ns, &nns, &set));
  if (!set) nns = 2;
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-bench_obs_fraction", &fraction, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-bench_filter", ftype, sizeof(ftype), NULL));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-bench_solvers", solvers, &nsolvers, &set));
  if (!set) {
    nsolvers = 2;
    PetscCall(PetscStrallocpy("lapack", &solvers[0]));
    PetscCall(PetscStrallocpy("scalapack", &solvers[1]));
  }
  /* one member state per transform keeps the (unused) model's memory at one copy per member */
  PetscCall(PetscOptionsHasName(NULL, NULL, "-sqg_fft_batch", &fftset));
  if (!fftset) PetscCall(PetscOptionsSetValue(NULL, "-sqg_fft_batch", "1"));
  { /* the filter events exist once a filter has been created */
    DaisiFilter f;
    PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
    PetscCall(DaisiFilterDestroy(&f));
  }
  PetscCall(PetscLogEventGetId("FilterTransform", &ev[0]));
  PetscCall(PetscLogEventGetId("FilterLocal", &ev[1]));
  PetscCall(DgemmPeak(&peak));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &peak, 1, MPI_DOUBLE, MPI_MIN, PETSC_COMM_WORLD));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s analysis, %d rank(s); dgemm peak %.1f GFLOP/s per rank (n = 1500, all ranks at once, slowest rank)\n", ftype, size, peak));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nominal flops: M^2 p (A) + 13/3 M^3 (eigensolver reduction and back-transformation, weights) + 2 d M^2 (applying the weights at d values)\n"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%4s %6s %5s %-10s %8s %8s %10s %10s %10s %8s %5s %10s\n", "N", "M", "obs", "solver", "wall s", "cpu s", "solve s", "apply s", "GFLOP/s", "% peak", "reps", "peak MB"));
  for (PetscInt in = 0; in < nns; in++) {
    char nstr[16];
    PetscCall(PetscSNPrintf(nstr, sizeof(nstr), "%" PetscInt_FMT, ns[in]));
    PetscCall(PetscOptionsSetValue(NULL, "-sqg_n", nstr));
    for (PetscInt i = 0; i < nsizes; i++) {
      const PetscInt M = sizes[i], r = M < 1000 ? reps : 1;
      DaisiEnsemble  e;
      DaisiGrid      g;
      DaisiObsSet    obs;
      PetscReal     *truth, *tloc;
      PetscInt       d;

      PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &e));
      PetscCall(DaisiEnsembleSetSize(e, M));
      PetscCall(DaisiEnsembleSetFromOptions(e));
      PetscCall(DaisiEnsembleSetSize(e, M));
      PetscCall(DaisiEnsembleSetUp(e));
      PetscCall(DaisiEnsembleGetGrid(e, &g));
      d = DaisiGridGlobalSize(&g);
      PetscCall(PetscMalloc2(d, &truth, PetscMax(1, DaisiGridLocalSize(&g)), &tloc));
      BenchTruth(&g, truth);
      for (PetscInt lev = 0; lev < g.nlev; lev++)
        for (PetscInt y = 0; y < g.nyl; y++)
          for (PetscInt x = 0; x < g.nx; x++) tloc[(lev * g.nyl + y) * g.nx + x] = truth[(lev * g.ny + g.y0 + y) * g.nx + x];
      PetscCall(BenchMakeObs(&g, DAISI_OBS_OPERATOR_LINEAR, fraction, 1.0, truth, &obs));
      for (PetscInt s = 0; s < nsolvers; s++) {
        DaisiFilter f;
        double      best = 1e30, bestcpu = 1e30, tb[2] = {0, 0}, mem, flops, t0[2] = {0, 0}, t1[2] = {0, 0};
        PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
        PetscCall(DaisiFilterSetType(f, ftype));
        PetscCall(PetscOptionsSetValue(NULL, "-filter_ensspace_solver", solvers[s]));
        PetscCall(DaisiFilterSetFromOptions(f));
        PetscCall(PetscOptionsClearValue(NULL, "-filter_ensspace_solver"));
        PetscCall(DaisiFilterSetUp(f));
        PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
        ResetPeakRSS();
        for (PetscInt k = 0; k < r; k++) {
          double t, c, tt[2];
          if (k) PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
          PetscCall(EventTimes(ev, t0));
          PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
          t = MPI_Wtime();
          c = BenchCpuSeconds();
          PetscCall(DaisiFilterAnalysis(f, e, &obs));
          c = BenchCpuSeconds() - c;
          PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
          t = MPI_Wtime() - t;
          PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &c, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
          bestcpu = PetscMin(bestcpu, c);
          PetscCall(EventTimes(ev, t1));
          tt[0] = t1[0] - t0[0];
          tt[1] = t1[1] - t0[1];
          PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, tt, 2, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
          if (t < best) {
            best  = t;
            tb[0] = tt[0];
            tb[1] = tt[1];
          }
        }
        mem = PeakRSSMB();
        PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &mem, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
        flops = (double)M * M * obs.nobs + 13.0 / 3.0 * (double)M * M * M + 2.0 * (double)d * M * M;
        PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%4" PetscInt_FMT " %6" PetscInt_FMT " %5" PetscInt_FMT " %-10s %8.3f %8.3f %10.3f %10.3f %10.1f %8.1f %5" PetscInt_FMT " %10.0f%s\n", ns[in], M, obs.nobs, solvers[s], best, bestcpu, tb[0], tb[1], flops / best * 1e-9, 100.0 * flops / best * 1e-9 / (peak * size), r, mem, peak_resettable ? "" : " (lifetime)"));
        PetscCall(DaisiFilterDestroy(&f));
      }
      PetscCall(DaisiObsSetDestroy(&obs));
      PetscCall(DaisiEnsembleDestroy(&e));
      PetscCall(PetscFree2(truth, tloc));
    }
  }
  for (PetscInt s = 0; s < nsolvers; s++) PetscCall(PetscFree(solvers[s]));
  PetscCall(DaisiFinalize());
  return 0;
}
