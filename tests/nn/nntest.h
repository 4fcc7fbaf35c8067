/* Helpers shared by the network tests: a slab-decomposed grid, layout-independent random
 * data and global inner products. */
#ifndef DAISI_NNTEST_H
#define DAISI_NNTEST_H

#include <daisi/nn.h>
#include <daisi/rng.h>
#include <daisi/sys.h>

/* FFTW-MPI's block distribution of ny rows over the ranks of comm (some may get none) */
static inline PetscErrorCode NNTestGrid(MPI_Comm comm, PetscInt nlev, PetscInt ny, PetscInt nx, DaisiGrid *g)
{
  PetscMPIInt rank, size;
  PetscInt    bs;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  bs = (ny + size - 1) / size;
  PetscCall(PetscMemzero(g, sizeof(*g)));
  g->nlev = nlev;
  g->ny   = ny;
  g->nx   = nx;
  g->y0   = PetscMin(rank * bs, ny);
  g->nyl  = PetscMin(bs, ny - g->y0);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* B samples of standard normals keyed by (sample, global index): the same field whatever
 * the rank count */
static inline void NNTestRandomShifted(const DaisiGrid *g, PetscInt B, uint64_t step, PetscReal scale, PetscInt sy, PetscInt sx, PetscReal *x)
{
  PetscInt n = DaisiGridLocalSize(g);
  for (PetscInt b = 0; b < B; b++) {
    DaisiRng r = DaisiRngMake(7, DAISI_RNG_TEST, 0, (uint64_t)b, step);
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt y = 0; y < g->nyl; y++)
        for (PetscInt xi = 0; xi < g->nx; xi++) {
          PetscInt ys = ((g->y0 + y - sy) % g->ny + g->ny) % g->ny, xs = ((xi - sx) % g->nx + g->nx) % g->nx;
          x[b * n + (l * g->nyl + y) * g->nx + xi] = scale * DaisiRngNormal(&r, (uint64_t)((l * g->ny + ys) * g->nx + xs));
        }
  }
}

/* the whole batch in global order on every rank (small test sizes only) */
static inline PetscErrorCode NNTestGlobal(MPI_Comm comm, const DaisiGrid *g, PetscInt B, const PetscReal *x, PetscReal *xg)
{
  PetscInt n = DaisiGridLocalSize(g), N = DaisiGridGlobalSize(g);

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(xg, B * N));
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt y = 0; y < g->nyl; y++)
        for (PetscInt xi = 0; xi < g->nx; xi++) xg[b * N + (l * g->ny + g->y0 + y) * g->nx + xi] = x[b * n + (l * g->nyl + y) * g->nx + xi];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, xg, (PetscMPIInt)(B * N), MPIU_REAL, MPIU_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* max |a - b| / max |b| */
static inline PetscReal NNTestRelDiff(PetscInt n, const PetscReal *a, const PetscReal *b)
{
  PetscReal d = 0, m = 0;
  for (PetscInt i = 0; i < n; i++) {
    d = PetscMax(d, PetscAbsReal(a[i] - b[i]));
    m = PetscMax(m, PetscAbsReal(b[i]));
  }
  return m > 0 ? d / m : d;
}

static inline void NNTestRandom(const DaisiGrid *g, PetscInt B, uint64_t step, PetscReal scale, PetscReal *x)
{
  PetscInt n = DaisiGridLocalSize(g);
  for (PetscInt b = 0; b < B; b++) {
    DaisiRng r = DaisiRngMake(7, DAISI_RNG_TEST, 0, (uint64_t)b, step);
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt y = 0; y < g->nyl; y++)
        for (PetscInt xi = 0; xi < g->nx; xi++) x[b * n + (l * g->nyl + y) * g->nx + xi] = scale * DaisiRngNormal(&r, (uint64_t)((l * g->ny + g->y0 + y) * g->nx + xi));
  }
}

/* Random relative perturbation of the initial weights, so that biases, group-norm scales
 * and shifts are not at their special initial values (0, 1) where some errors hide. */
static inline PetscErrorCode PerturbWeights(DaisiNet net)
{
  PetscInt n;
  float   *theta;
  DaisiRng r = DaisiRngMake(11, DAISI_RNG_TEST, 2, 0, 0);

  PetscFunctionBegin;
  PetscCall(DaisiNetGetParameters(net, &n, &theta));
  for (PetscInt i = 0; i < n; i++) theta[i] = (float)(theta[i] * (1 + 0.2 * DaisiRngNormal(&r, 2 * (uint64_t)i)) + 0.1 * DaisiRngNormal(&r, 2 * (uint64_t)i + 1));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscErrorCode NNTestDot(MPI_Comm comm, PetscInt n, const PetscReal *a, const PetscReal *b, PetscReal *dot)
{
  PetscReal s = 0;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < n; i++) s += a[i] * b[i];
  PetscCallMPI(MPI_Allreduce(&s, dot, 1, MPIU_REAL, MPIU_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Derivative checks of a set-up network on B samples, inputs laid out as gi and outputs as
 * go (the same grid except for an encoder or decoder). Returns the failures found.
 *   adjoint:  <J v, w> = <v, J^T w> to float32 rounding: |diff| <= tol_adj ||Jv|| ||w||
 *   input:    <J v, w> against the central difference <f(x+ev) - f(x-ev), w> / 2e
 *   params:   <grad, u> against the central difference in the parameter direction u
 * Tolerances are relative to ||Jv|| ||w|| (the scale of a wrong answer) and justified where
 * the callers choose them. */
static inline PetscErrorCode NNTestDerivatives(DaisiNet net, const DaisiGrid *gi, const DaisiGrid *go, PetscInt B, PetscReal eps, PetscReal tol_adj, PetscReal tol_fd, const char *what, PetscInt *fails)
{
  MPI_Comm   comm = PETSC_COMM_WORLD;
  PetscInt   n = DaisiGridLocalSize(gi) * B, m = DaisiGridLocalSize(go) * B, np;
  PetscReal *x, *v, *w, *y, *jv, *gx, *xp, *yp, *ym, t[64];
  PetscReal  jvw, vgx, jj, ww, fd, gu, uu;
  float     *theta, *grad, *save, *u;

  PetscFunctionBegin;
  PetscCall(PetscMalloc6(n + 1, &x, n + 1, &v, m + 1, &w, m + 1, &y, m + 1, &jv, n + 1, &gx));
  PetscCall(PetscMalloc3(n + 1, &xp, m + 1, &yp, m + 1, &ym));
  for (PetscInt b = 0; b < B; b++) t[b] = (b + 0.5) / B;
  NNTestRandom(gi, B, 1, 1.0, x);
  NNTestRandom(gi, B, 2, 1.0, v);
  NNTestRandom(go, B, 3, 1.0, w);
  PetscCall(DaisiNetJVP(net, B, t, x, v, y, jv));
  PetscCall(DaisiNetZeroGradient(net));
  PetscCall(DaisiNetVJP(net, B, t, x, w, NULL, gx, PETSC_TRUE));
  PetscCall(NNTestDot(comm, m, jv, w, &jvw));
  PetscCall(NNTestDot(comm, n, v, gx, &vgx));
  PetscCall(NNTestDot(comm, m, jv, jv, &jj));
  PetscCall(NNTestDot(comm, m, w, w, &ww));
  jj = PetscSqrtReal(jj * ww);
  PetscCall(PetscPrintf(comm, "%s: <Jv,w> %.8e <v,J^T w> %.8e rel %.2e (tol %.1e)\n", what, jvw, vgx, PetscAbsReal(jvw - vgx) / jj, tol_adj));
  if (!(PetscAbsReal(jvw - vgx) <= tol_adj * jj)) (*fails)++;
  for (PetscInt i = 0; i < n; i++) xp[i] = x[i] + eps * v[i];
  PetscCall(DaisiNetForward(net, B, t, xp, yp));
  for (PetscInt i = 0; i < n; i++) xp[i] = x[i] - eps * v[i];
  PetscCall(DaisiNetForward(net, B, t, xp, ym));
  for (PetscInt i = 0; i < m; i++) yp[i] = (yp[i] - ym[i]) / (2 * eps);
  PetscCall(NNTestDot(comm, m, yp, w, &fd));
  PetscCall(PetscPrintf(comm, "%s: input FD %.8e JVP %.8e rel %.2e (tol %.1e)\n", what, fd, jvw, PetscAbsReal(fd - jvw) / jj, tol_fd));
  if (!(PetscAbsReal(fd - jvw) <= tol_fd * jj)) (*fails)++;
  /* parameters: direction u (same on all ranks), central difference of <f, w> */
  PetscCall(DaisiNetGetParameters(net, &np, &theta));
  PetscCall(DaisiNetGetGradient(net, NULL, &grad));
  if (np == 0) {
    PetscCall(PetscPrintf(comm, "%s: no parameters\n", what));
    PetscCall(PetscFree3(xp, yp, ym));
    PetscCall(PetscFree6(x, v, w, y, jv, gx));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscMalloc2(np, &save, np, &u));
  {
    DaisiRng r = DaisiRngMake(7, DAISI_RNG_TEST, 1, 0, 4);
    gu = uu = 0;
    for (PetscInt i = 0; i < np; i++) {
      u[i]    = (float)DaisiRngNormal(&r, (uint64_t)i);
      save[i] = theta[i];
      gu += (double)grad[i] * u[i];
      uu += (double)u[i] * u[i];
    }
  }
  /* u moves all np parameters at once (norm ~ sqrt(np)): a tenth of eps keeps the
   * third-order term of the central difference as small as for the input direction */
  eps /= 10;
  for (PetscInt i = 0; i < np; i++) theta[i] = save[i] + (float)eps * u[i];
  PetscCall(DaisiNetForward(net, B, t, x, yp));
  for (PetscInt i = 0; i < np; i++) theta[i] = save[i] - (float)eps * u[i];
  PetscCall(DaisiNetForward(net, B, t, x, ym));
  for (PetscInt i = 0; i < np; i++) theta[i] = save[i];
  for (PetscInt i = 0; i < m; i++) yp[i] = (yp[i] - ym[i]) / (2 * eps);
  PetscCall(NNTestDot(comm, m, yp, w, &fd));
  PetscCall(NNTestDot(comm, m, yp, yp, &jj));
  jj = PetscSqrtReal(jj * ww);
  PetscCall(PetscPrintf(comm, "%s: parameter FD %.8e gradient %.8e rel %.2e (tol %.1e)\n", what, fd, gu, PetscAbsReal(fd - gu) / jj, tol_fd));
  if (!(PetscAbsReal(fd - gu) <= tol_fd * jj)) (*fails)++;
  PetscCall(PetscFree2(save, u));
  PetscCall(PetscFree3(xp, yp, ym));
  PetscCall(PetscFree6(x, v, w, y, jv, gx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

#endif
