/* LETKF on small problems equals a direct dense computation of the same formulas, written
 * independently here and run serially on rank 0 from the gathered prior: per grid point and
 * level, all observations are scanned for the Gaspari-Cohn weight on the periodic plane, the
 * M x M matrix A is formed and diagonalised by Jacobi rotations, W is formed explicitly and
 * x_a = mean + X'_b W, then RTPP/RTPS. Several settings cover nonlinear h, inflation, both
 * relaxations, both local solvers (observation and ensemble space) and points without
 * observations. */
#include "filtertest.h"

static const char help[] = "Tests LETKF against a dense serial computation of the same formulas.\n";

/* Gaspari-Cohn in r = d / cutoff (0 at r >= 1), in powers of z = 2 r */
static PetscReal GC(PetscReal r)
{
  const PetscReal z = 2 * r, z2 = z * z, z3 = z2 * z, z4 = z3 * z, z5 = z4 * z;
  if (r >= 1) return 0;
  if (r <= 0.5) return -z5 / 4 + z4 / 2 + 5 * z3 / 8 - 5 * z2 / 3 + 1;
  return z5 / 12 - z4 / 2 + 5 * z3 / 8 + 5 * z2 / 3 - 5 * z + 4 - 2 / (3 * z);
}

/* cyclic Jacobi: A (n x n, symmetric, destroyed) = V diag(w) V^T, V[i*n + q] = component i of vector q */
static void Jacobi(PetscInt n, PetscReal A[], PetscReal V[], PetscReal w[])
{
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) V[i * n + j] = i == j;
  for (PetscInt sweep = 0; sweep < 100; sweep++) {
    PetscReal off = 0, tot = 0;
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) {
        tot += A[i * n + j] * A[i * n + j];
        if (i != j) off += A[i * n + j] * A[i * n + j];
      }
    if (off <= 1e-32 * tot) break;
    for (PetscInt p = 0; p < n; p++)
      for (PetscInt q = p + 1; q < n; q++) {
        PetscReal theta, t, c, s;
        if (A[p * n + q] == 0) continue;
        theta = (A[q * n + q] - A[p * n + p]) / (2 * A[p * n + q]);
        t     = (theta >= 0 ? 1 : -1) / (PetscAbsReal(theta) + PetscSqrtReal(theta * theta + 1));
        c     = 1 / PetscSqrtReal(t * t + 1);
        s     = t * c;
        for (PetscInt k = 0; k < n; k++) { /* A <- A J (columns p, q) */
          const PetscReal akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (PetscInt k = 0; k < n; k++) { /* A <- J^T A (rows p, q) */
          const PetscReal apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (PetscInt k = 0; k < n; k++) {
          const PetscReal vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  for (PetscInt i = 0; i < n; i++) w[i] = A[i * n + i];
}

typedef struct {
  const char          *name;
  DaisiObsOperatorType op;
  PetscReal            fraction, sigma, cutoff, lr, rtps, rtpp, inflation;
  PetscBool            ensspace;
} Setting;

/* the dense LETKF of one setting on the gathered prior all (M x n); result in xa */
static PetscErrorCode DenseLETKF(const Setting *s, const DaisiGrid *g, PetscInt M, const PetscReal all[], const DaisiObsSet *obs, PetscReal xa[], PetscInt *nsmall, PetscInt *nnone)
{
  const PetscInt  n = DaisiGridGlobalSize(g), p = obs->nobs, ncol = g->ny * g->nx;
  const PetscReal Dx = g->Lx / g->nx, Dy = g->Ly / g->ny, k1 = M - 1;
  PetscReal      *xb, *HX, *Yb, *d, *A, *E, *L, *W, *wloc, *z, *xp, *v;
  PetscInt       *loc;

  PetscFunctionBegin;
  PetscCall(PetscMalloc5(M * n, &xb, M * p, &HX, M * p, &Yb, p, &d, M * M, &A));
  PetscCall(PetscMalloc5(M * M, &E, M, &L, M * M, &W, p, &wloc, p, &loc));
  PetscCall(PetscMalloc3(M, &z, M, &xp, M, &v));
  *nsmall = *nnone = 0;
  for (PetscInt i = 0; i < n; i++) { /* prior inflation */
    PetscReal mean = 0;
    for (PetscInt m = 0; m < M; m++) mean += all[m * n + i] / M;
    for (PetscInt m = 0; m < M; m++) xb[m * n + i] = mean + s->inflation * (all[m * n + i] - mean);
  }
  for (PetscInt o = 0; o < p; o++) {
    const PetscInt gi = (obs->lev[o] * g->ny + obs->iy[o]) * g->nx + obs->ix[o];
    PetscReal      mean = 0;
    for (PetscInt m = 0; m < M; m++) {
      PetscCall(DaisiObsOperatorApply(obs->op, 1, &xb[m * n + gi], &HX[o * M + m]));
      mean += HX[o * M + m] / M;
    }
    for (PetscInt m = 0; m < M; m++) Yb[o * M + m] = HX[o * M + m] - mean;
    d[o] = obs->value[o] - mean;
  }
  for (PetscInt gi = 0; gi < n; gi++) {
    const PetscInt lev = gi / ncol, y = (gi % ncol) / g->nx, x = gi % g->nx;
    PetscInt       nl  = 0;
    PetscReal      mean = 0;
    for (PetscInt o = 0; o < p; o++) {
      PetscInt        ddx = PetscAbsInt(obs->ix[o] - x), ddy = PetscAbsInt(obs->iy[o] - y);
      PetscReal       dist, w;
      ddx  = PetscMin(ddx, g->nx - ddx);
      ddy  = PetscMin(ddy, g->ny - ddy);
      dist = PetscSqrtReal(PetscSqr(ddx * Dx) + PetscSqr(ddy * Dy));
      w    = GC(dist / s->cutoff) * (obs->lev[o] == lev ? 1.0 : GC(s->lr / s->cutoff)) / PetscSqr(obs->sigma[o]);
      if (w > 0) {
        loc[nl]  = o;
        wloc[nl] = w;
        nl++;
      }
    }
    for (PetscInt m = 0; m < M; m++) mean += xb[m * n + gi] / M;
    for (PetscInt m = 0; m < M; m++) z[m] = xb[m * n + gi] - mean;
    if (nl < M) (*nsmall)++;
    if (!nl) {
      (*nnone)++;
      for (PetscInt m = 0; m < M; m++) xa[m * n + gi] = xb[m * n + gi];
      continue;
    }
    /* A = (k-1) I + Yb R^-1 Yb^T,  v = Yb R^-1 d */
    for (PetscInt a = 0; a < M; a++) {
      v[a] = 0;
      for (PetscInt b = 0; b < M; b++) A[a * M + b] = a == b ? k1 : 0;
    }
    for (PetscInt k = 0; k < nl; k++)
      for (PetscInt a = 0; a < M; a++) {
        v[a] += Yb[loc[k] * M + a] * wloc[k] * d[loc[k]];
        for (PetscInt b = 0; b < M; b++) A[a * M + b] += Yb[loc[k] * M + a] * wloc[k] * Yb[loc[k] * M + b];
      }
    Jacobi(M, A, E, L);
    /* W = sqrt(k-1) E L^-1/2 E^T + (E L^-1 E^T v) 1^T */
    for (PetscInt a = 0; a < M; a++) {
      PetscReal wbar = 0;
      for (PetscInt q = 0; q < M; q++) {
        PetscReal etv = 0;
        for (PetscInt c = 0; c < M; c++) etv += E[c * M + q] * v[c];
        wbar += E[a * M + q] * etv / L[q];
      }
      for (PetscInt b = 0; b < M; b++) {
        PetscReal t = 0;
        for (PetscInt q = 0; q < M; q++) t += E[a * M + q] * E[b * M + q] / PetscSqrtReal(L[q]);
        W[a * M + b] = PetscSqrtReal(k1) * t + wbar;
      }
    }
    {
      PetscReal xam = 0, sb = 0, sa = 0;
      for (PetscInt i = 0; i < M; i++) {
        PetscReal s_ = 0;
        for (PetscInt j = 0; j < M; j++) s_ += z[j] * W[j * M + i];
        xp[i] = mean + s_; /* analysis member */
        xam += xp[i] / M;
      }
      for (PetscInt i = 0; i < M; i++) xp[i] -= xam;
      for (PetscInt i = 0; i < M; i++) xp[i] = (1 - s->rtpp) * xp[i] + s->rtpp * z[i];
      for (PetscInt i = 0; i < M; i++) {
        sb += z[i] * z[i] / k1;
        sa += xp[i] * xp[i] / k1;
      }
      sb = PetscSqrtReal(sb);
      sa = PetscSqrtReal(sa);
      for (PetscInt i = 0; i < M; i++) xa[i * n + gi] = xam + xp[i] * (1 + s->rtps * (sb - sa) / sa);
    }
  }
  PetscCall(PetscFree5(xb, HX, Yb, d, A));
  PetscCall(PetscFree5(E, L, W, wloc, loc));
  PetscCall(PetscFree3(z, xp, v));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  const PetscInt M = 10;
  const Setting  settings[] = {
    {"squared h, RTPS 0.5, inflation 1.1",           DAISI_OBS_OPERATOR_SQUARED, 0.25, 1.0,  3500e3, 1000e3, 0.5, 0.0, 1.1, PETSC_FALSE},
    {"arctan h, RTPP 0.4, ensemble space",           DAISI_OBS_OPERATOR_ARCTAN,  0.10, 0.05, 2000e3, 1000e3, 0.0, 0.4, 1.0, PETSC_TRUE },
    {"linear h, wide cutoff, RTPS 0.9, Lr 3000 km",  DAISI_OBS_OPERATOR_LINEAR,  0.30, 1.0,  6000e3, 3000e3, 0.9, 0.0, 1.0, PETSC_FALSE},
    {"linear h, sparse (p < M and p = 0), both",     DAISI_OBS_OPERATOR_LINEAR,  0.06, 0.5,  2600e3, 1000e3, 0.3, 0.2, 1.05, PETSC_FALSE},
  };
  PetscMPIInt rank;
  PetscInt    G = 1;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ens_groups", &G, NULL));
  for (size_t k = 0; k < sizeof(settings) / sizeof(settings[0]); k++) {
    const Setting *s = &settings[k];
    DaisiEnsemble  e;
    DaisiFilter    f;
    DaisiGrid      g;
    DaisiObsSet    obs;
    PetscReal     *truth, *all, *xa, *ref;
    PetscInt       n, nsmall = 0, nnone = 0;

    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, G, &e));
    PetscCall(DaisiEnsembleGetGrid(e, &g));
    n = DaisiGridGlobalSize(&g);
    PetscCall(PetscMalloc4(n, &truth, M * n, &all, M * n, &xa, M * n, &ref));
    SyntheticTruth(&g, 40 + k, truth);
    SyntheticEnsemble(&g, M, 50 + k, truth, all);
    PetscCall(DaisiEnsembleSetGlobal(e, all));
    PetscCall(SyntheticObs(&g, s->fraction, s->op, s->sigma, truth, 60 + k, 1, &obs));
    PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
    PetscCall(DaisiFilterSetType(f, DAISI_FILTER_LETKF));
    PetscCall(DaisiFilterSetFromOptions(f));
    PetscCall(DaisiFilterLETKFSetCutoff(f, s->cutoff));
    PetscCall(DaisiFilterLETKFSetVerticalScale(f, s->lr));
    PetscCall(DaisiFilterLETKFSetRTPS(f, s->rtps));
    PetscCall(DaisiFilterLETKFSetRTPP(f, s->rtpp));
    PetscCall(DaisiFilterSetInflation(f, s->inflation));
    PetscCall(DaisiFilterLETKFSetEnsembleSpace(f, s->ensspace));
    PetscCall(DaisiFilterSetUp(f));
    PetscCall(DaisiFilterAnalysis(f, e, &obs));
    PetscCall(DaisiEnsembleGatherGlobal(e, xa));
    if (!rank) {
      PetscReal diff, scale, incr;
      PetscCall(DenseLETKF(s, &g, M, all, &obs, ref, &nsmall, &nnone));
      diff  = MaxAbsDiff(M * n, xa, ref);
      scale = MaxAbs(M * n, ref);
      incr  = MaxAbsDiff(M * n, all, ref);
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "%-46s %4" PetscInt_FMT " obs, %3" PetscInt_FMT "/%" PetscInt_FMT " points with p < M (%" PetscInt_FMT " with p = 0): max |LETKF - dense| %.2e (values up to %.1f, increments up to %.2f)\n", s->name, obs.nobs, nsmall, n, nnone, (double)diff, (double)scale, (double)incr));
      EXPECT(diff <= 1e-11 * scale, "%s: LETKF differs from the dense computation by %g", s->name, (double)diff);
      EXPECT(incr > 0.1, "%s: the analysis barely changes the prior (%g): the test would not detect errors", s->name, (double)incr);
    }
    PetscCall(DaisiObsSetDestroy(&obs));
    PetscCall(DaisiFilterDestroy(&f));
    PetscCall(DaisiEnsembleDestroy(&e));
    PetscCall(PetscFree4(truth, all, xa, ref));
  }
  PetscCall(FinishTest("test_letkf_dense"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
