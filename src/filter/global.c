/* Global ensemble-space filters (ETKF, stochastic EnKF) and the free-running "none".
 *
 * Both global filters reduce to one M x M problem, A = (k-1) I + Yb R^-1 Yb^T = E L E^T,
 * whose solution (an M x M weight matrix) is then applied at every analysis point. The small
 * problem is solved redundantly on every rank from identical inputs (so every rank has the
 * same weights bit for bit, and no rank waits for another). This function is the place where
 * a distributed ensemble-space solver (ScaLAPACK, thousand-member ensembles) plugs in. */
#include "filterimpl.h"
#include <daisi/rng.h>

/* A = (k-1) I + Yb R^-1 Yb^T over all observations (lower triangle, column-major), and
 * b = Yb R^-1 d; then A = E L E^T. */
static PetscErrorCode GlobalEnsembleSpaceSolve(DaisiFilter f, DaisiFilterContext *c, PetscReal A[], PetscReal E[], PetscReal l[], PetscReal b[])
{
  const PetscInt  M = c->M;
  DaisiFilterEig  eig;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(A, M * M));
  PetscCall(PetscArrayzero(b, M));
  for (PetscInt o = 0; o < c->nobs; o++) {
    const PetscReal *y = c->Yb + o * M, w = 1.0 / (c->obs->sigma[o] * c->obs->sigma[o]);
    for (PetscInt a = 0; a < M; a++) {
      const PetscReal fa = w * y[a];
      for (PetscInt k = a; k < M; k++) A[a * M + k] += fa * y[k];
      b[a] += w * c->d[o] * y[a];
    }
  }
  for (PetscInt a = 0; a < M; a++) A[a * M + a] += (PetscReal)(M - 1);
  PetscCall(DaisiFilterEigCreate(M, f->eigsolver, &eig));
  PetscCall(DaisiFilterEigSolve(&eig, M, A, l, E));
  PetscCall(DaisiFilterEigDestroy(&eig));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ETKF: W = sqrt(k-1) E L^-1/2 E^T + (E L^-1 E^T b) 1^T applied at every point. */
static PetscErrorCode DaisiFilterAnalysis_ETKF(DaisiFilter f, DaisiFilterContext *c)
{
  const PetscInt M = c->M;
  PetscReal     *A, *E, *l, *b, *T, *wbar, *z, *xp, *cq;
  void          *mem;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(DaisiFilterAlignedMalloc((size_t)(3 * M * M + 6 * M + 64), &mem, &A));
  E    = A + M * M;
  T    = E + M * M;
  l    = T + M * M;
  b    = l + M + 8;
  wbar = b + M + 8;
  z    = wbar + M + 8;
  xp   = z + M + 8;
  cq   = xp + M + 8;
  PetscCall(GlobalEnsembleSpaceSolve(f, c, A, E, l, b));
  for (PetscInt q = 0; q < M; q++) {
    cq[q] = 0;
    for (PetscInt a = 0; a < M; a++) cq[q] += E[q * M + a] * b[a];
  }
  for (PetscInt i = 0; i < M; i++) {
    wbar[i] = 0;
    for (PetscInt q = 0; q < M; q++) wbar[i] += E[q * M + i] * cq[q] / l[q];
    for (PetscInt j = 0; j < M; j++) {
      PetscReal s = 0;
      for (PetscInt q = 0; q < M; q++) s += E[q * M + j] * E[q * M + i] / PetscSqrtReal(l[q]);
      T[j * M + i] = PetscSqrtReal((PetscReal)(M - 1)) * s;
    }
  }
  PetscCall(PetscLogEventEnd(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  for (PetscInt j = 0; j < c->npts; j++) {
    PetscReal *xj = c->x + j * M, mean = 0, delta = 0;
    for (PetscInt m = 0; m < M; m++) mean += xj[m];
    mean /= M;
    for (PetscInt m = 0; m < M; m++) z[m] = xj[m] - mean;
    PetscCall(PetscArrayzero(xp, M));
    for (PetscInt k = 0; k < M; k++) {
      const PetscReal zk = z[k], *Tk = T + k * M;
      delta += zk * wbar[k];
      for (PetscInt i = 0; i < M; i++) xp[i] += zk * Tk[i];
    }
    DaisiFilterRelax(M, f->rtpp, f->rtps, z, xp);
    for (PetscInt m = 0; m < M; m++) xj[m] = mean + delta + xp[m];
  }
  f->stats.npoints     = c->npts;
  f->stats.nlocalobs   = (PetscInt64)c->npts * c->nobs;
  f->stats.maxlocalobs = c->nobs;
  PetscCall(PetscLogEventEnd(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(PetscFree(mem));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Stochastic EnKF with perturbed observations y + eps_i, eps_i ~ N(0, R):
 *   x_a^(i) = x_b^(i) + X'_b Yb^T S^-1 (y + eps_i - H x_b^(i)) / (k-1),  S = Yb^T Yb / (k-1) + R,
 * computed in ensemble space: Yb S^-1 = (k-1) A^-1 Yb R^-1, so x_a = X_b + X'_b G with
 * G = A^-1 Yb R^-1 D (M x M), D the perturbed innovations of every member. */
static PetscErrorCode DaisiFilterAnalysis_EnKF(DaisiFilter f, DaisiFilterContext *c)
{
  const PetscInt M = c->M;
  PetscReal     *A, *E, *l, *b, *Q, *Gm, *z, *xp, *D, *tmp;
  void          *mem;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(DaisiFilterAlignedMalloc((size_t)(5 * M * M + 6 * M + 64), &mem, &A));
  E   = A + M * M;
  Q   = E + M * M;
  Gm  = Q + M * M;
  tmp = Gm + M * M;
  l   = tmp + M * M;
  b   = l + M + 8;
  z   = b + M + 8;
  xp  = z + M + 8;
  PetscCall(PetscMalloc1(PetscMax(1, M), &D));
  PetscCall(GlobalEnsembleSpaceSolve(f, c, A, E, l, b));
  /* Q[a*M + i] = sum_o Yb[o,a] D[o,i] / sigma_o^2 */
  PetscCall(PetscArrayzero(Q, M * M));
  for (PetscInt o = 0; o < c->nobs; o++) {
    const PetscReal *y = c->Yb + o * M, w = 1.0 / (c->obs->sigma[o] * c->obs->sigma[o]);
    for (PetscInt i = 0; i < M; i++) {
      const DaisiRng r = DaisiRngMake((uint64_t)f->seed, DAISI_RNG_ENKF_PERTURBED_OBS, (uint64_t)c->obs->cycle, (uint64_t)i, 0);
      D[i]             = c->obs->value[o] + c->obs->sigma[o] * DaisiRngNormal(&r, (uint64_t)o) - c->HX[o * M + i];
    }
    for (PetscInt a = 0; a < M; a++) {
      const PetscReal fa = w * y[a];
      for (PetscInt i = 0; i < M; i++) Q[a * M + i] += fa * D[i];
    }
  }
  /* G = E L^-1 E^T Q */
  for (PetscInt q = 0; q < M; q++)
    for (PetscInt i = 0; i < M; i++) {
      PetscReal s = 0;
      for (PetscInt a = 0; a < M; a++) s += E[q * M + a] * Q[a * M + i];
      tmp[q * M + i] = s / l[q];
    }
  for (PetscInt a = 0; a < M; a++)
    for (PetscInt i = 0; i < M; i++) {
      PetscReal s = 0;
      for (PetscInt q = 0; q < M; q++) s += E[q * M + a] * tmp[q * M + i];
      Gm[a * M + i] = s;
    }
  PetscCall(PetscLogEventEnd(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  for (PetscInt j = 0; j < c->npts; j++) {
    PetscReal *xj = c->x + j * M, mean = 0, meana = 0;
    for (PetscInt m = 0; m < M; m++) mean += xj[m];
    mean /= M;
    for (PetscInt m = 0; m < M; m++) z[m] = xj[m] - mean;
    PetscCall(PetscArraycpy(xp, xj, M));
    for (PetscInt k = 0; k < M; k++) {
      const PetscReal zk = z[k], *Gk = Gm + k * M;
      for (PetscInt i = 0; i < M; i++) xp[i] += zk * Gk[i];
    }
    if (f->rtps > 0 || f->rtpp > 0) {
      for (PetscInt m = 0; m < M; m++) meana += xp[m];
      meana /= M;
      for (PetscInt m = 0; m < M; m++) xp[m] -= meana;
      DaisiFilterRelax(M, f->rtpp, f->rtps, z, xp);
      for (PetscInt m = 0; m < M; m++) xj[m] = meana + xp[m];
    } else PetscCall(PetscArraycpy(xj, xp, M));
  }
  f->stats.npoints     = c->npts;
  f->stats.nlocalobs   = (PetscInt64)c->npts * c->nobs;
  f->stats.maxlocalobs = c->nobs;
  PetscCall(PetscLogEventEnd(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(PetscFree(D));
  PetscCall(PetscFree(mem));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_ETKF(DaisiFilter f)
{
  PetscFunctionBegin;
  f->ops.analysis = DaisiFilterAnalysis_ETKF;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_EnKF(DaisiFilter f)
{
  PetscFunctionBegin;
  f->ops.analysis = DaisiFilterAnalysis_EnKF;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_None(DaisiFilter f)
{
  PetscFunctionBegin;
  f->ops.analysis = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}
