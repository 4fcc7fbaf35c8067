/* Whole-network tests of DaisiNet (unet, mlp, encoder or decoder from the options):
 *  - JVP and VJP against central finite differences, the adjoint identity, parameter
 *    gradients against finite differences;
 *  - the same outputs, input gradients, tangents and parameter gradients on any number of
 *    ranks as on one rank (reference network on PETSC_COMM_SELF of rank 0);
 *  - batch of 8 equal to 8 batches of 1;
 *  - unet: translation equivariance for shifts that are multiples of the coarsest cell.
 * Encoder and decoder map between the state and the latent layout, so inputs (x, v, gx) and
 * outputs (y, jv, w) are checked in their own layouts, and they are called without times. */
#include "nntest.h"

static const char help[] = "DaisiNet whole-network tests\n";

int main(int argc, char **argv)
{
  MPI_Comm    comm;
  PetscMPIInt rank;
  PetscInt    nlev = 2, ny = 16, nx = 16, B = 3, fails = 0, n, N, m, M, np;
  PetscReal   eps = 1e-2, tol_fd = 2e-3, tol_adj = 1e-5, tol_rank = 1e-5, t[8];
  PetscReal  *x, *v, *w, *y, *jv, *gx, *yg, *jvg, *gxg, *xg, *vg, *wg, *yr, *jvr, *gxr;
  DaisiGrid   grid, full, gin, gout;
  DaisiNet    net, ref = NULL;
  PetscBool   unet, vae;
  const PetscReal *tt;
  char        type[16] = "unet";

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_nlev", &nlev, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_ny", &ny, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_nx", &nx, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-nn_type", type, sizeof(type), NULL));
  unet = (PetscBool)!strcmp(type, "unet");
  vae  = (PetscBool)(!strcmp(type, "encoder") || !strcmp(type, "decoder"));
  tt   = vae ? NULL : t;
  PetscCall(NNTestGrid(comm, nlev, ny, nx, &grid));
  PetscCall(NNTestGrid(PETSC_COMM_SELF, nlev, ny, nx, &full));
  PetscCall(DaisiNetCreate(comm, &net));
  PetscCall(DaisiNetSetFromOptions(net));
  PetscCall(DaisiNetSetUp(net, &grid));
  PetscCall(PerturbWeights(net));
  PetscCall(DaisiNetView(net, NULL));
  {
    /* a non-trivial normalisation, so the interface scaling is tested too */
    PetscReal im[1024], is[1024], om[1024], os[1024];
    PetscInt  nn;
    PetscCall(DaisiNetGetNormalizationSize(net, &nn));
    for (PetscInt i = 0; i < nn; i++) {
      im[i] = 0.1 * (i + 1);
      is[i] = 1.0 + 0.5 * i;
      om[i] = -0.2 * i;
      os[i] = 2.0 - 0.3 * i / nn;
    }
    PetscCall(DaisiNetSetNormalization(net, im, is, om, os));
    if (rank == 0) {
      PetscCall(DaisiNetCreate(PETSC_COMM_SELF, &ref));
      PetscCall(DaisiNetSetFromOptions(ref));
      PetscCall(DaisiNetSetUp(ref, &full));
      PetscCall(DaisiNetSetNormalization(ref, im, is, om, os));
    }
  }
  gin = gout = grid;
  {
    PetscInt K = 0; /* a conditioned unet takes K more input channels */
    PetscCall(PetscOptionsGetInt(NULL, NULL, "-nn_cond_channels", &K, NULL));
    gin.nlev += K;
  }
  if (vae) {
    PetscBool enc = (PetscBool)!strcmp(type, "encoder");
    DaisiGrid z;
    PetscCall(DaisiNetGetLatentGrid(net, &z));
    if (enc) z.nlev *= 2; /* mean and log-variance */
    if (enc) gout = z;
    else gin = z;
  }

  /* 1. derivatives. eps = 1e-2 on unit-variance inputs: the truncation error of the central
   * difference, eps^2 |f'''| / 6 ~ 1e-5, and the float32 rounding of the two forward passes,
   * ~ 1e-7 |f| / eps ~ 1e-5, are both well below tol_fd = 2e-3 (relative to ||Jv|| ||w||),
   * while a wrong derivative is off by O(1). The adjoint identity only sees the float32
   * rounding of the two passes (~1e-7 per operation, summed over a few hundred
   * operations): tol_adj = 1e-5. */
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-test_tol_fd", &tol_fd, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-test_eps", &eps, NULL));
  PetscCall(NNTestDerivatives(net, &gin, &gout, B, eps, tol_adj, tol_fd, type, &fails));

  /* 2. rank independence: all passes against the one-rank network with the same weights */
  n = DaisiGridLocalSize(&gin);
  N = DaisiGridGlobalSize(&gin);
  m = DaisiGridLocalSize(&gout);
  M = DaisiGridGlobalSize(&gout);
  B = 8;
  for (PetscInt b = 0; b < B; b++) t[b] = 0.13 * b;
  PetscCall(PetscMalloc6(B * n + 1, &x, B * n + 1, &v, B * m + 1, &w, B * m + 1, &y, B * m + 1, &jv, B * n + 1, &gx));
  PetscCall(PetscMalloc6(B * M, &yg, B * M, &jvg, B * N, &gxg, B * N, &xg, B * N, &vg, B * M, &wg));
  PetscCall(PetscMalloc3(B * M, &yr, B * M, &jvr, B * N, &gxr));
  NNTestRandom(&gin, B, 5, 1.0, x);
  NNTestRandom(&gin, B, 6, 1.0, v);
  NNTestRandom(&gout, B, 7, 1.0, w);
  PetscCall(DaisiNetJVP(net, B, tt, x, v, y, jv));
  PetscCall(DaisiNetZeroGradient(net));
  PetscCall(DaisiNetVJP(net, B, tt, x, w, NULL, gx, PETSC_TRUE));
  PetscCall(NNTestGlobal(comm, &gout, B, y, yg));
  PetscCall(NNTestGlobal(comm, &gout, B, jv, jvg));
  PetscCall(NNTestGlobal(comm, &gin, B, gx, gxg));
  PetscCall(NNTestGlobal(comm, &gin, B, x, xg));
  PetscCall(NNTestGlobal(comm, &gin, B, v, vg));
  PetscCall(NNTestGlobal(comm, &gout, B, w, wg));
  {
    PetscInt fr = 0;
    if (rank == 0) {
      float    *th, *thr, *g, *gr;
      PetscReal e[4], gd = 0, gm = 0;
      PetscCall(DaisiNetGetParameters(net, &np, &th));
      PetscCall(DaisiNetGetParameters(ref, NULL, &thr));
      PetscCall(PetscArraycpy(thr, th, np));
      PetscCall(DaisiNetJVP(ref, B, tt, xg, vg, yr, jvr));
      PetscCall(DaisiNetZeroGradient(ref));
      PetscCall(DaisiNetVJP(ref, B, tt, xg, wg, NULL, gxr, PETSC_TRUE));
      PetscCall(DaisiNetGetGradient(net, NULL, &g));
      PetscCall(DaisiNetGetGradient(ref, NULL, &gr));
      for (PetscInt i = 0; i < np; i++) {
        gd = PetscMax(gd, PetscAbsReal((PetscReal)g[i] - gr[i]));
        gm = PetscMax(gm, PetscAbsReal((PetscReal)gr[i]));
      }
      e[0] = NNTestRelDiff(B * M, yg, yr);
      e[1] = NNTestRelDiff(B * M, jvg, jvr);
      e[2] = NNTestRelDiff(B * N, gxg, gxr);
      e[3] = gd / gm;
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "ranks vs 1 rank: output %.2e, JVP %.2e, VJP %.2e, parameter gradient %.2e (tol %.0e)\n", e[0], e[1], e[2], e[3], tol_rank));
      for (int k = 0; k < 4; k++)
        if (!(e[k] <= tol_rank)) fr++;
    }
    PetscCallMPI(MPI_Bcast(&fr, 1, MPIU_INT, 0, comm));
    fails += fr;
  }

  /* 3. batch of 8 against 8 batches of 1: the same arithmetic up to the GEMM kernels' blocking,
   * which differs with the batch size and the CPU (float32, about 60 ops: 1.03e-6 seen on an
   * AVX2 machine, below 1e-6 on the AVX-512 ones); a wrong batch index gives O(1) */
  {
    const PetscReal tol_batch = 1e-5;
    PetscReal      *y1, e;
    PetscCall(PetscMalloc1(B * m + 1, &y1));
    for (PetscInt b = 0; b < B; b++) PetscCall(DaisiNetForward(net, 1, vae ? NULL : &t[b], x + b * n, y1 + b * m));
    PetscCall(NNTestGlobal(comm, &gout, B, y1, yr));
    e = NNTestRelDiff(B * M, yr, yg);
    PetscCall(PetscPrintf(comm, "batch 8 vs 8 x batch 1: %.2e (tol %.0e)\n", e, tol_batch));
    if (!(e <= tol_batch)) fails++;
    PetscCall(PetscFree(y1));
  }

  /* 4. translation equivariance: the U-Net is periodic and its pooling grid is aligned to
   * multiples of 2^(levels-1) cells, so such shifts commute with the network */
  if (unet) {
    PetscInt   nmult = 8, mult[8], f, sy, sx;
    PetscBool  set;
    PetscReal *ys, e = 0, mx = 0;
    PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-nn_channel_mult", mult, &nmult, &set));
    if (!set) nmult = 3;
    f  = 1 << (nmult - 1);
    sy = f * ((ny / f) / 2 + 1) % ny;
    sx = f;
    PetscCall(PetscMalloc1(B * m + 1, &ys));
    NNTestRandomShifted(&gin, B, 5, 1.0, sy, sx, x);
    PetscCall(DaisiNetForward(net, B, t, x, ys));
    PetscCall(NNTestGlobal(comm, &grid, B, ys, yr));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt l = 0; l < nlev; l++)
        for (PetscInt yy = 0; yy < ny; yy++)
          for (PetscInt xi = 0; xi < nx; xi++) {
            PetscReal a = yr[b * M + (l * ny + yy) * nx + xi], c = yg[b * M + (l * ny + (yy - sy + ny) % ny) * nx + (xi - sx + nx) % nx];
            e            = PetscMax(e, PetscAbsReal(a - c));
            mx           = PetscMax(mx, PetscAbsReal(c));
          }
    PetscCall(PetscPrintf(comm, "translation by (%" PetscInt_FMT ", %" PetscInt_FMT "): %.2e\n", sy, sx, e / mx));
    if (!(e / mx <= tol_rank)) fails++;
    PetscCall(PetscFree(ys));
  }

  PetscCall(PetscFree3(yr, jvr, gxr));
  PetscCall(PetscFree6(yg, jvg, gxg, xg, vg, wg));
  PetscCall(PetscFree6(x, v, w, y, jv, gx));
  PetscCall(DaisiNetDestroy(&ref));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(PetscPrintf(comm, "%s\n", fails ? "FAILED" : "passed"));
  PetscCall(DaisiFinalize());
  return fails ? 1 : 0;
}
