/* The exact Gaussian prior against closed forms:
 *  - velocity, denoiser and score of single Fourier modes against a direct evaluation of
 *    b = (t S - (1-t) I)((1-t)^2 I + t^2 S)^-1 a with 2 x 2 complex matrices (no eigenvectors);
 *  - adjoint identity <J v, w> = <v, J^T w>, central finite differences against the JVP,
 *    batching (bitwise) and B-sample calls with different times;
 *  - the level variance implied by S, save/load round trip (bitwise), and the estimate from a
 *    nature-run file (variance = mean square / s_data^2). */
#include <daisi/statefile.h>
#include "priortest.h"

static const char help[] = "Gaussian prior: closed forms, adjoints, files.\n";

static PetscErrorCode SingleModes(MPI_Comm comm, const DaisiGrid *g, DaisiPrior p, const SynthClimate *c)
{
  const PetscInt  modes[][2] = {{1, 0}, {0, 1}, {2, 3}, {-3, 2}, {8, 1}, {3, 8}, {0, 0}, {8, 8}, {-7, 5}};
  const PetscReal times[]    = {0, 0.25, 0.6, 1};
  const double complex a[2]  = {1.0 + 0.5 * I, -0.3 + 0.8 * I};
  const PetscInt  n          = DaisiGridLocalSize(g);
  PetscReal      *x, *b, *e1, *s;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(n + 1, &x, n + 1, &b, n + 1, &e1, n + 1, &s));
  for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
    const PetscInt ky = modes[m][0], kx = modes[m][1];
    double complex S[4];
    PetscCall(SynthMat2(c, ky, kx, S));
    for (PetscInt l = 0; l < 2; l++)
      for (PetscInt j = 0; j < g->nyl; j++)
        for (PetscInt i = 0; i < g->nx; i++) {
          const double th = 2 * M_PI * ((double)kx * i / g->nx + (double)ky * (g->y0 + j) / g->ny);
          x[(l * g->nyl + j) * g->nx + i] = creal(a[l] * cexp(I * th));
        }
    for (size_t it = 0; it < sizeof(times) / sizeof(times[0]); it++) {
      const PetscReal t = times[it];
      double complex  P[4], Q[4], Qi[4], F[4], tS[4], Fa[2], Sa[2], X1a[2], Qa[2];
      PetscReal       err[3] = {0, 0, 0}, mx = 0, tot[3];
      for (PetscInt q = 0; q < 4; q++) {
        const double id = (q == 0 || q == 3) ? 1 : 0;
        P[q]            = t * S[q] - (1 - t) * id;
        Q[q]            = (1 - t) * (1 - t) * id + t * t * S[q];
        tS[q]           = t * S[q];
      }
      Mat2Inv(Q, Qi);
      Mat2Mul(P, Qi, F);
      for (PetscInt l = 0; l < 2; l++) {
        Fa[l] = F[2 * l] * a[0] + F[2 * l + 1] * a[1];
        Qa[l] = Qi[2 * l] * a[0] + Qi[2 * l + 1] * a[1];
      }
      for (PetscInt l = 0; l < 2; l++) X1a[l] = tS[2 * l] * Qa[0] + tS[2 * l + 1] * Qa[1];
      (void)Sa;
      PetscCall(DaisiPriorVelocity(p, 1, &t, x, b));
      PetscCall(DaisiPriorDenoiser(p, 1, &t, x, e1));
      PetscCall(DaisiPriorScore(p, 1, &t, x, s));
      for (PetscInt l = 0; l < 2; l++)
        for (PetscInt j = 0; j < g->nyl; j++)
          for (PetscInt i = 0; i < g->nx; i++) {
            const double   th  = 2 * M_PI * ((double)kx * i / g->nx + (double)ky * (g->y0 + j) / g->ny);
            const PetscInt idx = (l * g->nyl + j) * g->nx + i;
            const double   bb = creal(Fa[l] * cexp(I * th)), xx = creal(X1a[l] * cexp(I * th)), ss = t < 1 ? -creal(Qa[l] * cexp(I * th)) : 0;
            err[0] = PetscMax(err[0], PetscAbsReal(b[idx] - bb));
            err[1] = PetscMax(err[1], PetscAbsReal(e1[idx] - xx));
            err[2] = PetscMax(err[2], PetscAbsReal(s[idx] - ss));
            mx     = PetscMax(mx, PetscAbsReal(bb) + PetscAbsReal(xx) + PetscAbsReal(ss));
          }
      PetscCall(MPIU_Allreduce(err, tot, 3, MPIU_REAL, MPIU_MAX, comm));
      PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &mx, 1, MPIU_REAL, MPIU_MAX, comm));
      EXPECT(tot[0] <= 1e-12 * mx, "velocity of mode (%" PetscInt_FMT ", %" PetscInt_FMT ") at t = %g: max error %g (scale %g)", ky, kx, (double)t, (double)tot[0], (double)mx);
      EXPECT(tot[1] <= 1e-12 * mx, "denoiser of mode (%" PetscInt_FMT ", %" PetscInt_FMT ") at t = %g: max error %g", ky, kx, (double)t, (double)tot[1]);
      EXPECT(tot[2] <= 1e-12 * mx, "score of mode (%" PetscInt_FMT ", %" PetscInt_FMT ") at t = %g: max error %g", ky, kx, (double)t, (double)tot[2]);
    }
  }
  PetscCall(PetscFree4(x, b, e1, s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Adjoints(MPI_Comm comm, const DaisiGrid *g, DaisiPrior p)
{
  const PetscInt  B = 3, n = DaisiGridLocalSize(g);
  const PetscReal t[3] = {0.1, 0.5, 0.9};
  PetscReal      *x, *v, *w, *jv, *jtw, *b, *b2, *xp, *xm, *bp, *bm, d1, d2, err = 0, mx = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc6(B * n + 1, &x, B * n + 1, &v, B * n + 1, &w, B * n + 1, &jv, B * n + 1, &jtw, B * n + 1, &b));
  PetscCall(PetscMalloc5(B * n + 1, &b2, B * n + 1, &xp, B * n + 1, &xm, B * n + 1, &bp, B * n + 1, &bm));
  TestField(g, B, 1, x);
  TestField(g, B, 2, v);
  TestField(g, B, 3, w);
  PetscCall(DaisiPriorVelocityJVP(p, B, t, x, v, b, jv));
  PetscCall(DaisiPriorVelocityVJP(p, B, t, x, w, NULL, jtw));
  PetscCall(Dot(comm, B * n, jv, w, &d1));
  PetscCall(Dot(comm, B * n, v, jtw, &d2));
  EXPECT(PetscAbsReal(d1 - d2) <= 1e-12 * PetscAbsReal(d1), "adjoint identity: <Jv, w> = %.17g, <v, J^T w> = %.17g", (double)d1, (double)d2);

  /* the b returned with the JVP is the velocity; samples batched or alone agree bitwise */
  PetscCall(DaisiPriorVelocity(p, B, t, x, b2));
  {
    PetscInt bad = 0;
    for (PetscInt i = 0; i < B * n; i++) bad += b[i] != b2[i];
    for (PetscInt s = 0; s < B; s++) {
      PetscCall(DaisiPriorVelocity(p, 1, &t[s], x + s * n, bp));
      for (PetscInt i = 0; i < n; i++) bad += bp[i] != b2[s * n + i];
    }
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_SUM, comm));
    EXPECT(bad == 0, "velocity differs between the JVP, a batch of %" PetscInt_FMT " and single calls at %" PetscInt_FMT " values", B, bad);
  }

  /* central differences (exact for a linear map up to round-off) */
  {
    const PetscReal h = 1e-3;
    for (PetscInt i = 0; i < B * n; i++) {
      xp[i] = x[i] + h * v[i];
      xm[i] = x[i] - h * v[i];
    }
    PetscCall(DaisiPriorVelocity(p, B, t, xp, bp));
    PetscCall(DaisiPriorVelocity(p, B, t, xm, bm));
    for (PetscInt i = 0; i < B * n; i++) {
      err = PetscMax(err, PetscAbsReal((bp[i] - bm[i]) / (2 * h) - jv[i]));
      mx  = PetscMax(mx, PetscAbsReal(jv[i]));
    }
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &err, 1, MPIU_REAL, MPIU_MAX, comm));
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &mx, 1, MPIU_REAL, MPIU_MAX, comm));
    EXPECT(err <= 1e-9 * mx, "finite differences vs JVP: max error %g (scale %g)", (double)err, (double)mx);
  }
  PetscCall(PetscFree6(x, v, w, jv, jtw, b));
  PetscCall(PetscFree5(b2, xp, xm, bp, bm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Variance(MPI_Comm comm, const DaisiGrid *g, DaisiPrior p, const SynthClimate *c)
{
  PetscFunctionBegin;
  (void)comm;
  for (PetscInt l = 0; l < g->nlev; l++) {
    PetscReal v, ref = 0;
    for (PetscInt y = 0; y < g->ny; y++)
      for (PetscInt xx = 0; xx < g->nx; xx++) ref += SynthPower(c, l, SignedK(y, g->ny), SignedK(xx, g->nx));
    ref /= (PetscReal)(g->nx * g->ny);
    PetscCall(DaisiPriorGaussianGetLevelVariance(p, l, &v));
    EXPECT(PetscAbsReal(v - ref) <= 1e-13 * ref, "variance of level %" PetscInt_FMT ": %.17g, expected %.17g", l, (double)v, (double)ref);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SaveLoad(MPI_Comm comm, const DaisiGrid *g, DaisiPrior p)
{
  const PetscInt  B = 2, n = DaisiGridLocalSize(g);
  const PetscReal t[2] = {0.3, 0.8};
  PetscMPIInt     size;
  char            path[64];
  DaisiPrior      q;
  PetscReal      *x, *b1, *b2;
  PetscInt        bad = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscSNPrintf(path, sizeof(path), "prior_gaussian_np%d.h5", size));
  PetscCall(DaisiPriorGaussianSave(p, path));
  PetscCall(DaisiPriorCreate(comm, &q));
  PetscCall(DaisiPriorSetType(q, DAISI_PRIOR_GAUSSIAN));
  PetscCall(DaisiPriorGaussianSetFile(q, path));
  PetscCall(DaisiPriorSetUp(q, g));
  PetscCall(PetscMalloc3(B * n + 1, &x, B * n + 1, &b1, B * n + 1, &b2));
  TestField(g, B, 7, x);
  PetscCall(DaisiPriorVelocity(p, B, t, x, b1));
  PetscCall(DaisiPriorVelocity(q, B, t, x, b2));
  for (PetscInt i = 0; i < B * n; i++) bad += b1[i] != b2[i];
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_SUM, comm));
  EXPECT(bad == 0, "prior read back from %s differs at %" PetscInt_FMT " values", path, bad);
  PetscCall(PetscFree3(x, b1, b2));
  PetscCall(DaisiPriorDestroy(&q));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a nature-run file of 3 states; the estimate's level variances are mean squares / s^2 */
static PetscErrorCode EstimateFromTruth(MPI_Comm comm, const DaisiGrid *g)
{
  const PetscInt  n = DaisiGridLocalSize(g), T = 3;
  const PetscReal scale = 2.5;
  PetscMPIInt     size;
  char            path[64];
  DaisiStateFile  f;
  DaisiPrior      p;
  PetscReal      *x, ms[8] = {0}, tot[8];

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscSNPrintf(path, sizeof(path), "prior_truth_np%d.h5", size));
  PetscCall(PetscMalloc1(n + 1, &x));
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileSetGrid(f, g));
  PetscCall(DaisiStateFileSetNumTimes(f, T));
  PetscCall(DaisiStateFileOpen(f, path, DAISI_FILE_WRITE));
  for (PetscInt k = 0; k < T; k++) {
    TestField(g, 1, 100 + k, x);
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt i = 0; i < g->nyl * g->nx; i++) {
        x[l * g->nyl * g->nx + i] *= 3.0 + l; /* different amplitude per level */
        ms[l] += x[l * g->nyl * g->nx + i] * x[l * g->nyl * g->nx + i];
      }
    PetscCall(DaisiStateFileWrite(f, k, 3600.0 * k, x));
  }
  PetscCall(DaisiStateFileClose(f));
  PetscCall(DaisiStateFileDestroy(&f));
  PetscCall(MPIU_Allreduce(ms, tot, 8, MPIU_REAL, MPIU_SUM, comm));

  PetscCall(DaisiPriorCreate(comm, &p));
  PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
  PetscCall(DaisiPriorSetScale(p, scale));
  PetscCall(DaisiPriorGaussianSetTruthFile(p, path, 0, 1, 0));
  PetscCall(DaisiPriorSetUp(p, g));
  for (PetscInt l = 0; l < g->nlev; l++) {
    const PetscReal ref = tot[l] / ((PetscReal)T * g->nx * g->ny * scale * scale);
    PetscReal       v;
    PetscCall(DaisiPriorGaussianGetLevelVariance(p, l, &v));
    EXPECT(PetscAbsReal(v - ref) <= 1e-12 * ref, "estimated variance of level %" PetscInt_FMT ": %.17g, expected mean square / s^2 = %.17g", l, (double)v, (double)ref);
  }
  PetscCall(DaisiPriorDestroy(&p));
  /* a subset of the times: first 1, stride 2 -> only state 1 */
  {
    PetscReal ms1[8] = {0}, tot1[8];
    TestField(g, 1, 101, x);
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt i = 0; i < g->nyl * g->nx; i++) ms1[l] += PetscSqr((3.0 + l) * x[l * g->nyl * g->nx + i]);
    PetscCall(MPIU_Allreduce(ms1, tot1, 8, MPIU_REAL, MPIU_SUM, comm));
    PetscCall(DaisiPriorCreate(comm, &p));
    PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
    PetscCall(DaisiPriorSetScale(p, scale));
    PetscCall(DaisiPriorGaussianSetTruthFile(p, path, 1, 2, 0));
    PetscCall(DaisiPriorSetUp(p, g));
    for (PetscInt l = 0; l < g->nlev; l++) {
      const PetscReal ref = tot1[l] / ((PetscReal)g->nx * g->ny * scale * scale);
      PetscReal       v;
      PetscCall(DaisiPriorGaussianGetLevelVariance(p, l, &v));
      EXPECT(PetscAbsReal(v - ref) <= 1e-12 * ref, "estimated variance (time 1 only) of level %" PetscInt_FMT ": %.17g, expected %.17g", l, (double)v, (double)ref);
    }
    PetscCall(DaisiPriorDestroy(&p));
  }
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  MPI_Comm     comm;
  DaisiGrid    g;
  DaisiPrior   p;
  SynthClimate c;
  PetscBool    view = PETSC_FALSE;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-view", &view, NULL));
  PetscCall(PriorTestGrid(comm, 2, 16, 16, &g));
  PetscCall(SynthPrior(comm, &g, &c, &p));
  if (view) PetscCall(DaisiPriorView(p, NULL));
  PetscCall(SingleModes(comm, &g, p, &c));
  PetscCall(Adjoints(comm, &g, p));
  PetscCall(Variance(comm, &g, p, &c));
  PetscCall(SaveLoad(comm, &g, p));
  PetscCall(EstimateFromTruth(comm, &g));
  PetscCall(DaisiPriorDestroy(&p));
  PetscCall(FinishTest("prior_gaussian"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
