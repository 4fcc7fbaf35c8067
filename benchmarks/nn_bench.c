/* Throughput of the DaisiNet engine: forward, forward + VJP (input cotangent, as in
 * guidance), forward + VJP with parameter gradients (training) and forward + JVP, for the
 * SQG-64 prior network at several batch sizes, next to the sgemm peak measured here.
 *
 *   mpiexec -n 2 build/bin/nn_bench [-bench_batch 1,8,20] [-bench_time 2] [-nn_... options]
 *
 * GFLOP/s counts the multiply-adds of the convolutions and linear layers (2 per weight use):
 * F per sample forward, 2F for forward + VJP or forward + JVP, 3F with parameter
 * gradients. The rest (norms, pointwise, halos) is overhead that makes the rate lower.
 * -bench_passes 0,1,2,3 selects the passes (forward, VJP, VJP with parameters, JVP). */
#include <daisi/nn.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <cblas.h>

static const char help[] = "DaisiNet throughput benchmark\n";

/* sgemm rate of one rank on an n x n x n product, repeated for about `seconds` */
static PetscErrorCode SgemmPeak(PetscInt n, PetscReal seconds, PetscLogDouble *gflops)
{
  float         *a, *b, *c;
  PetscLogDouble t0, t1;
  PetscInt       reps = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(n * n, &a, n * n, &b, n * n, &c));
  for (PetscInt i = 0; i < n * n; i++) {
    a[i] = (float)((i % 7) - 3) * 0.1f;
    b[i] = (float)((i % 5) - 2) * 0.1f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n, 0.0f, c, (int)n);
  PetscCall(PetscTime(&t0));
  do {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n, 0.0f, c, (int)n);
    reps++;
    PetscCall(PetscTime(&t1));
  } while (t1 - t0 < seconds);
  *gflops = 2.0 * n * n * n * reps / (t1 - t0) * 1e-9;
  PetscCall(PetscFree3(a, b, c));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  MPI_Comm       comm;
  PetscMPIInt    rank, size;
  PetscInt       nlev = 2, ny = 64, nx = 64, batches[8] = {1, 8, 20}, nb = 8, n, gemm_n = 1024, passes[4] = {0, 1, 2, 3}, npass = 4;
  PetscReal      seconds = 2.0;
  DaisiGrid      grid;
  DaisiNet       net;
  PetscLogDouble flops, peak, peaksum;
  PetscReal     *x, *y, *w, *gx, t[64];
  PetscBool      set;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_nlev", &nlev, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_ny", &ny, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_nx", &nx, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_gemm_n", &gemm_n, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-bench_time", &seconds, NULL));
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-bench_batch", batches, &nb, &set));
  if (!set) nb = 3;
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-bench_passes", passes, &npass, &set));
  if (!set) npass = 4;
  {
    PetscInt bs = (ny + size - 1) / size;
    grid.nlev   = nlev;
    grid.ny     = ny;
    grid.nx     = nx;
    grid.y0     = PetscMin(rank * bs, ny);
    grid.nyl    = PetscMin(bs, ny - grid.y0);
    grid.Lx = grid.Ly = 0;
    grid.dt           = 0;
  }

  /* every rank runs sgemm at the same time, as the network does */
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(SgemmPeak(gemm_n, seconds, &peak));
  PetscCallMPI(MPI_Allreduce(&peak, &peaksum, 1, MPI_DOUBLE, MPI_SUM, comm));
  PetscCall(PetscPrintf(comm, "sgemm %" PetscInt_FMT "^3 peak: %.1f GFLOP/s over %d rank(s)\n", gemm_n, peaksum, size));

  PetscCall(DaisiNetCreate(comm, &net));
  PetscCall(DaisiNetSetFromOptions(net));
  PetscCall(DaisiNetSetUp(net, &grid));
  PetscCall(DaisiNetView(net, NULL));
  PetscCall(DaisiNetGetForwardFlops(net, &flops));
  n = DaisiGridLocalSize(&grid);
  PetscCall(PetscPrintf(comm, "%-6s %-22s %12s %10s %9s\n", "batch", "pass", "samples/s", "GFLOP/s", "of peak"));
  for (PetscInt ib = 0; ib < nb; ib++) {
    PetscInt B = batches[ib];
    PetscCheck(B >= 1 && B <= 64, comm, PETSC_ERR_ARG_OUTOFRANGE, "-bench_batch value %" PetscInt_FMT " must be in 1..64", B);
    PetscCall(PetscMalloc4(B * n + 1, &x, B * n + 1, &y, B * n + 1, &w, B * n + 1, &gx));
    for (PetscInt b = 0; b < B; b++) {
      DaisiRng r = DaisiRngMake(1, DAISI_RNG_TEST, 0, (uint64_t)b, 0);
      t[b]       = (b + 0.5) / B;
      for (PetscInt i = 0; i < n; i++) {
        x[b * n + i] = DaisiRngNormal(&r, (uint64_t)(rank * n + i));
        w[b * n + i] = DaisiRngNormal(&r, (uint64_t)(size * n + rank * n + i));
      }
    }
    for (PetscInt ip = 0; ip < npass; ip++) {
      PetscInt       pass    = passes[ip];
      const char    *names[] = {"forward", "forward+VJP", "forward+VJP+params", "forward+JVP"};
      PetscCheck(pass >= 0 && pass < 4, comm, PETSC_ERR_ARG_OUTOFRANGE, "-bench_passes value %" PetscInt_FMT " must be 0 (forward), 1 (VJP), 2 (VJP with parameters) or 3 (JVP)", pass);
      const double   mult[]  = {1, 2, 3, 2};
      PetscLogDouble t0, t1;
      PetscInt       reps = 0;
      PetscLogStage stage;
      char          sname[64];
      PetscCall(PetscSNPrintf(sname, sizeof(sname), "B%" PetscInt_FMT " %s", B, names[pass]));
      PetscCall(PetscLogStageRegister(sname, &stage));
      /* one untimed pass plans the memory for this batch; -log_view shows the timed passes
       * in their own stage */
      for (int timed = 0; timed < 2; timed++) {
        PetscCallMPI(MPI_Barrier(comm));
        if (timed) PetscCall(PetscLogStagePush(stage));
        PetscCall(PetscTime(&t0));
        do {
          if (pass == 0) PetscCall(DaisiNetForward(net, B, t, x, y));
          else if (pass == 1) PetscCall(DaisiNetVJP(net, B, t, x, w, y, gx, PETSC_FALSE));
          else if (pass == 2) PetscCall(DaisiNetVJP(net, B, t, x, w, y, gx, PETSC_TRUE));
          else PetscCall(DaisiNetJVP(net, B, t, x, w, y, gx));
          if (timed) reps++;
          PetscCall(PetscTime(&t1));
          /* all ranks must agree when to stop */
          PetscCallMPI(MPI_Bcast(&t1, 1, MPI_DOUBLE, 0, comm));
        } while (timed && t1 - t0 < seconds);
        if (timed) PetscCall(PetscLogStagePop());
      }
      {
        double rate = B * reps / (t1 - t0), gf = rate * flops * mult[pass] * 1e-9;
        PetscCall(PetscPrintf(comm, "%-6" PetscInt_FMT " %-22s %12.1f %10.1f %8.0f%%\n", B, names[pass], rate, gf, 100 * gf / peaksum));
      }
    }
    PetscCall(PetscFree4(x, y, w, gx));
  }
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(DaisiFinalize());
  return 0;
}
