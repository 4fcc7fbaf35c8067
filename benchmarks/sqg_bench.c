/* Speed of the SQG model: seconds per time step for several N, next to the time spent in
 * the FFTs alone (the limit of a pseudo-spectral step: 4 stages x (8 inverse + 2 forward)
 * real transforms on the 3N/2 grid) and the reference Python model's figures of SQG.md.
 * Run:  mpiexec -n P build/bin/sqg_bench [-bench_n 64,128,256,512] [-bench_seconds 2]
 * Prints one table row per N; the -log_view breakdown shows ModelFFT / ModelTranspose. */
#include <daisi/model.h>
#include <daisi/sys.h>
#define FFTW_NO_Complex
#include <fftw3-mpi.h>

/* The FFT-only limit: per step 4 RK stages x (8 inverse + 2 forward) real 2-D transforms of
 * the 3N/2 grid, done by FFTW-MPI's own 2-D transforms (planned with FFTW_MEASURE) on the same
 * ranks. Returns ms per step. */
static PetscErrorCode FftLimit(PetscInt N, PetscReal seconds, PetscReal *ms)
{
  const ptrdiff_t M = 3 * N / 2, n[2] = {M, M};
  ptrdiff_t       alloc8, alloc2, n0, o0, n1, o1;
  double         *r8, *r2;
  fftw_complex   *c8, *c2;
  fftw_plan       inv, fwd;
  PetscLogDouble  t0, t1;
  PetscInt        it = 0;

  PetscFunctionBegin;
  alloc8 = fftw_mpi_local_size_many_transposed(2, (ptrdiff_t[]){M, M / 2 + 1}, 8, FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK, PETSC_COMM_WORLD, &n0, &o0, &n1, &o1);
  alloc2 = fftw_mpi_local_size_many_transposed(2, (ptrdiff_t[]){M, M / 2 + 1}, 2, FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK, PETSC_COMM_WORLD, &n0, &o0, &n1, &o1);
  r8  = fftw_alloc_real(2 * alloc8 + 16);
  c8  = fftw_alloc_complex(alloc8 + 8);
  r2  = fftw_alloc_real(2 * alloc2 + 16);
  c2  = fftw_alloc_complex(alloc2 + 8);
  inv = fftw_mpi_plan_many_dft_c2r(2, n, 8, FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK, c8, r8, PETSC_COMM_WORLD, FFTW_MEASURE | FFTW_MPI_TRANSPOSED_IN);
  fwd = fftw_mpi_plan_many_dft_r2c(2, n, 2, FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK, r2, c2, PETSC_COMM_WORLD, FFTW_MEASURE | FFTW_MPI_TRANSPOSED_OUT);
  PetscCheck(inv && fwd, PETSC_COMM_WORLD, PETSC_ERR_LIB, "FFTW-MPI could not plan the reference transforms");
  memset(c8, 0, sizeof(fftw_complex) * (size_t)(alloc8 + 8));
  memset(r2, 0, sizeof(double) * (size_t)(2 * alloc2 + 16));
  PetscCall(PetscTime(&t0));
  do {
    for (int stage = 0; stage < 4; stage++) {
      fftw_execute(inv);
      fftw_execute(fwd);
    }
    it++;
    PetscCall(PetscTime(&t1));
    PetscCallMPI(MPI_Bcast(&t1, 1, MPI_DOUBLE, 0, PETSC_COMM_WORLD));
  } while (t1 - t0 < seconds);
  *ms = 1e3 * (t1 - t0) / it;
  fftw_destroy_plan(inv);
  fftw_destroy_plan(fwd);
  fftw_free(r8);
  fftw_free(c8);
  fftw_free(r2);
  fftw_free(c2);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static const char help[] = "SQG time-step benchmark.\n";

int main(int argc, char **argv)
{
  PetscInt    ns[8] = {64, 128, 256, 512}, nn = 4, batch = 1;
  PetscReal   seconds = 2.0;
  PetscMPIInt size;
  /* reference Python (pyfftw, 1 thread) ms per step on this machine class, SQG.md */
  const struct {
    PetscInt  N;
    PetscReal lo, hi;
  } ref[] = {
    {64,  3,   5  },
    {128, 13,  18 },
    {256, 60,  60 },
    {512, 270, 270}
  };

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscBool set;
  PetscCall(PetscLogDefaultBegin()); /* the FFT share comes from the ModelFFT event */
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-bench_n", ns, &nn, &set));
  if (!set) nn = 4;
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-bench_seconds", &seconds, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_batch", &batch, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# SQG step benchmark: %d rank(s), batch %" PetscInt_FMT " member(s) per model, times per member per step\n", size, batch));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# fft_ms: time inside our transforms; fftw2d_ms: the same transforms done by FFTW-MPI 2-D plans\n"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "#    N   step_ms   fft_ms  fft_share  fftw2d_ms  ref_python_ms  speedup_vs_ref\n"));
  for (PetscInt k = 0; k < nn; k++) {
    DaisiModel     m;
    char           nstr[16];
    PetscInt       steps = 0;
    PetscLogDouble t0, t1, fft0, fft1;
    PetscEventPerfInfo info;
    PetscReal      step_ms, fft_ms, lim_ms = 0, rlo = 0, rhi = 0;

    PetscCall(PetscSNPrintf(nstr, sizeof(nstr), "%" PetscInt_FMT, ns[k]));
    PetscCall(PetscOptionsSetValue(NULL, "-sqg_n", nstr));
    PetscCall(DaisiModelCreate(PETSC_COMM_WORLD, &m));
    PetscCall(DaisiModelSetType(m, DAISI_MODEL_SQG));
    PetscCall(DaisiModelSetBatchSize(m, batch));
    PetscCall(DaisiModelSetFromOptions(m));
    PetscCall(DaisiModelSetUp(m));
    for (PetscInt b = 0; b < batch; b++) PetscCall(DaisiModelInitialCondition(m, b, 1 + b));
    PetscCall(DaisiModelAdvance(m, 2)); /* warm-up */
    PetscCall(PetscLogEventGetPerfInfo(PETSC_DETERMINE, DAISI_ModelFFT, &info));
    fft0 = info.time;
    PetscCall(PetscTime(&t0));
    do {
      PetscCall(DaisiModelAdvance(m, 5));
      steps += 5;
      PetscCall(PetscTime(&t1));
      PetscCallMPI(MPI_Bcast(&t1, 1, MPI_DOUBLE, 0, PETSC_COMM_WORLD));
    } while (t1 - t0 < seconds);
    PetscCall(PetscLogEventGetPerfInfo(PETSC_DETERMINE, DAISI_ModelFFT, &info));
    fft1    = info.time;
    step_ms = 1e3 * (t1 - t0) / steps / batch;
    fft_ms  = 1e3 * (fft1 - fft0) / steps / batch;
    PetscCall(FftLimit(ns[k], seconds, &lim_ms));
    for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
      if (ref[i].N == ns[k]) {
        rlo = ref[i].lo;
        rhi = ref[i].hi;
      }
    if (rlo > 0)
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%6" PetscInt_FMT " %9.3f %8.3f %9.0f%% %10.3f %8.0f-%-5.0f %7.1f-%.1fx\n", ns[k], (double)step_ms, (double)fft_ms, (double)(100 * fft_ms / step_ms), (double)lim_ms, (double)rlo, (double)rhi, (double)(rlo / step_ms), (double)(rhi / step_ms)));
    else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%6" PetscInt_FMT " %9.3f %8.3f %9.0f%% %10.3f            n/a\n", ns[k], (double)step_ms, (double)fft_ms, (double)(100 * fft_ms / step_ms), (double)lim_ms));
    PetscCall(DaisiModelDestroy(&m));
  }
  PetscCall(DaisiFinalize());
  return 0;
}
