/* The 3DVar baseline (filter type 3dvar, src/filter/var3d.c) against independent dense
 * computations on a 16 x 16 two-level grid:
 *  - B: a climatology file of K = 48 synthetic states (correlated levels, y-dependent amplitude,
 *    a mean jet) is written; the test forms the homogeneous-in-x estimator densely, as the
 *    sample covariance (about the x- and time-mean of each (level, y)) averaged over all x
 *    shifts, shrinks the entries between different (level, y) by (1 - a) and scales it.
 *    B^1/2 (B^1/2)^T applied to unit vectors must reproduce its columns (1e-12), and B^1/2 and
 *    B^T/2 must be adjoint (1e-12);
 *  - gradient: TAO's objective and gradient against central finite differences of J (linear,
 *    squared and arctan h; relative 1e-6), and J(0) against a direct evaluation;
 *  - linear-Gaussian: with linear h the analysis equals the BLUE / Kalman mean
 *    x_b + B H^T (H B H^T + R)^-1 (y - H x_b) computed densely (mean mode, with and without
 *    shrinkage and scale, LMVM and BLMVM; members mode with the documented perturbed
 *    observations; B saved to a file and read back gives the same analysis);
 *  - bad input: missing or foreign files, a climatology on another grid, no or two B sources,
 *    an out-of-range time selection, bad option values: errors naming the culprit.
 * Registered on 1-4 ranks (and 2 groups on 2 and 4): every check is against the dense
 * computation, so every layout must give the same answer. */
#include "daisitest.h"
#include <daisi/statefile.h>
#include <daisi/var3d.h>

static const char help[] = "3DVar against dense linear algebra.\n";

#define NSAMPLE 48

/* climatology sample s (global array): correlated levels, y-dependent amplitude, a mean jet */
static void ClimateSample(const DaisiGrid *g, PetscInt s, PetscReal x[])
{
  const DaisiRng r = DaisiRngMake(11, DAISI_RNG_TEST, 20, (uint64_t)s, 0);
  for (PetscInt i = 0; i < DaisiGridGlobalSize(g); i++) x[i] = 0;
  for (PetscInt q = 0; q < 10; q++) {
    const PetscReal a = DaisiRngNormal(&r, 10 * q) / (1 + q), ph = 2 * PETSC_PI * DaisiRngUniform(&r, 10 * q + 1);
    const PetscInt  kx = (q % 4), ky = (q / 3) % 3;
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt y = 0; y < g->ny; y++)
        for (PetscInt i = 0; i < g->nx; i++)
          x[(l * g->ny + y) * g->nx + i] += 4 * a * (1 + 0.5 * PetscSinReal(2 * PETSC_PI * y / g->ny)) * PetscCosReal(2 * PETSC_PI * ((PetscReal)kx * i / g->nx + (PetscReal)ky * y / g->ny) + ph + 0.6 * l);
  }
  for (PetscInt i = 0; i < DaisiGridGlobalSize(g); i++) {
    const PetscInt y = (i / g->nx) % g->ny;
    x[i] += 5 * PetscCosReal(2 * PETSC_PI * y / g->ny) + 0.5 * DaisiRngNormal(&r, 1000 + i);
  }
}

/* the dense homogeneous-in-x estimator: shift-averaged sample covariance about the x- and
 * sample-mean of every (level, y); entries between different (level, y) times (1 - a); times s */
static PetscErrorCode DenseB(const DaisiGrid *g, PetscInt K, PetscReal a, PetscReal s, PetscReal Bd[])
{
  const PetscInt n = DaisiGridGlobalSize(g), nx = g->nx, n2 = g->nlev * g->ny;
  PetscReal     *X, *mu, *c;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(K * n, &X, n2, &mu, n2 * n2 * nx, &c));
  for (PetscInt k = 0; k < K; k++) ClimateSample(g, k, X + k * n);
  for (PetscInt p = 0; p < n2; p++) {
    mu[p] = 0;
    for (PetscInt k = 0; k < K; k++)
      for (PetscInt i = 0; i < nx; i++) mu[p] += X[k * n + p * nx + i];
    mu[p] /= (PetscReal)K * nx;
  }
  for (PetscInt k = 0; k < K; k++)
    for (PetscInt i = 0; i < n; i++) X[k * n + i] -= mu[i / nx];
  /* c(p, q, dx) = 1/(K nx) sum_k sum_i a_k(p, i + dx) a_k(q, i) */
  for (PetscInt p = 0; p < n2; p++)
    for (PetscInt q = 0; q < n2; q++)
      for (PetscInt dx = 0; dx < nx; dx++) {
        PetscReal sum = 0;
        for (PetscInt k = 0; k < K; k++)
          for (PetscInt i = 0; i < nx; i++) sum += X[k * n + p * nx + (i + dx) % nx] * X[k * n + q * nx + i];
        c[(p * n2 + q) * nx + dx] = sum / ((PetscReal)K * nx);
      }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) {
      const PetscInt p = i / nx, q = j / nx, dx = ((i % nx) - (j % nx) + nx) % nx;
      Bd[i * n + j]    = s * (p == q ? 1 : 1 - a) * c[(p * n2 + q) * nx + dx];
    }
  PetscCall(PetscFree3(X, mu, c));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* BLUE: xa = xb + B H^T (H B H^T + R)^-1 (y - H xb), linear h (all global) */
static PetscErrorCode Blue(const DaisiGrid *g, const PetscReal Bd[], const DaisiObsSet *obs, const PetscReal y[], const PetscReal xb[], PetscReal xa[])
{
  const PetscInt n = DaisiGridGlobalSize(g), p = obs->nobs;
  PetscInt      *gi;
  PetscReal     *S, *r;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(p, &gi, p * p, &S, p, &r));
  for (PetscInt o = 0; o < p; o++) gi[o] = (obs->lev[o] * g->ny + obs->iy[o]) * g->nx + obs->ix[o];
  for (PetscInt o = 0; o < p; o++) {
    for (PetscInt q = 0; q < p; q++) S[o * p + q] = Bd[gi[o] * n + gi[q]] + (o == q ? obs->sigma[o] * obs->sigma[o] : 0);
    r[o] = y[o] - xb[gi[o]];
  }
  PetscCall(DaisiTestSolve(p, S, 1, r));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal s = xb[i];
    for (PetscInt o = 0; o < p; o++) s += Bd[i * n + gi[o]] * r[o];
    xa[i] = s;
  }
  PetscCall(PetscFree3(gi, S, r));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MakeFilter(DaisiEnsemble e, const DaisiFilterVar3dParams *p, DaisiFilter *f)
{
  PetscFunctionBegin;
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, f));
  PetscCall(DaisiFilterSetType(*f, DAISI_FILTER_VAR3D));
  PetscCall(DaisiFilterVar3dSetParams(*f, p));
  PetscCall(DaisiFilterSetEnsemble(*f, e));
  PetscCall(DaisiFilterSetUp(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* B^1/2 adjointness and B = B^1/2 B^T/2 against the dense estimator */
static PetscErrorCode CheckB(DaisiEnsemble e, const DaisiFilterVar3dParams *p, const PetscReal Bd[])
{
  DaisiFilter       f = NULL;
  DaisiGrid         g;
  DaisiEnsembleInfo in;
  MPI_Comm          group;
  PetscInt          nv, n, nl;
  PetscReal        *v, *vt, *dx, *w, *col, err = 0, bmax = 0;
  const PetscInt    cols[] = {0, 37, 130, 255, 256, 300, 511};

  PetscFunctionBegin;
  PetscCall(MakeFilter(e, p, &f));
  PetscCall(DaisiFilterView(f, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(DaisiEnsembleGetGroupComm(e, &group));
  PetscCall(DaisiFilterVar3dGetControlSize(f, e, &nv));
  n  = DaisiGridGlobalSize(&g);
  nl = DaisiGridLocalSize(&g);
  PetscCall(PetscMalloc5(nv + 1, &v, nv + 1, &vt, nl + 1, &dx, nl + 1, &w, n, &col));
  {
    const DaisiRng r = DaisiRngMake(5, DAISI_RNG_TEST, 30, (uint64_t)in.rank, 0);
    PetscReal      lhs, rhs;
    for (PetscInt i = 0; i < nv; i++) v[i] = DaisiRngNormal(&r, i);
    for (PetscInt i = 0; i < nl; i++) w[i] = DaisiRngNormal(&r, 100000 + i);
    PetscCall(DaisiFilterVar3dApplySqrtB(f, e, v, dx));
    PetscCall(DaisiFilterVar3dApplySqrtBTranspose(f, e, w, vt));
    lhs = GroupDot(group, nl, dx, w);
    rhs = GroupDot(group, nv, v, vt);
    EXPECT(PetscAbsReal(lhs - rhs) <= 1e-12 * PetscAbsReal(lhs), "B^1/2 and B^T/2 are not adjoint: <B^1/2 v, w> = %.15g, <v, B^T/2 w> = %.15g", (double)lhs, (double)rhs);
  }
  for (PetscInt i = 0; i < n * n; i++) bmax = PetscMax(bmax, PetscAbsReal(Bd[i]));
  for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
    PetscCall(PetscArrayzero(col, n));
    col[cols[c]] = 1;
    ExtractSlab(&g, col, w);
    PetscCall(DaisiFilterVar3dApplySqrtBTranspose(f, e, w, vt));
    PetscCall(DaisiFilterVar3dApplySqrtB(f, e, vt, dx));
    PetscCall(SlabToGlobal(e, dx, col));
    for (PetscInt i = 0; i < n; i++) err = PetscMax(err, PetscAbsReal(col[i] - Bd[i * n + cols[c]]));
  }
  EXPECT(err <= 1e-12 * bmax, "B^1/2 B^T/2 differs from the dense estimator by %g (max |B| %g)", (double)err, (double)bmax);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "B: columns vs dense estimator %.2e of %.3g\n", (double)err, (double)bmax));
  PetscCall(PetscFree5(v, vt, dx, w, col));
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* central finite differences of J against the gradient, and J(0) against a direct evaluation */
static PetscErrorCode CheckGradient(DaisiEnsemble e, const DaisiFilterVar3dParams *p, DaisiObsOperatorType op, PetscReal sigma, const PetscReal truth[], const PetscReal xbg[])
{
  DaisiFilter       f = NULL;
  DaisiGrid         g;
  DaisiEnsembleInfo in;
  DaisiObsSet       obs;
  MPI_Comm          group;
  PetscInt          nv, nl;
  PetscReal        *v, *dv, *gr, *vp, *xb, J, Jp, Jm, J0, Jd = 0, an, fd;
  const PetscReal   eps = 1e-5;

  PetscFunctionBegin;
  PetscCall(MakeFilter(e, p, &f));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(DaisiEnsembleGetGroupComm(e, &group));
  PetscCall(DaisiFilterVar3dGetControlSize(f, e, &nv));
  nl = DaisiGridLocalSize(&g);
  PetscCall(SyntheticObs(&g, 0.2, op, sigma, truth, 9, 3, &obs));
  PetscCall(PetscMalloc5(nv + 1, &v, nv + 1, &dv, nv + 1, &gr, nv + 1, &vp, nl + 1, &xb));
  ExtractSlab(&g, xbg, xb);
  {
    const DaisiRng r = DaisiRngMake(6, DAISI_RNG_TEST, 31, (uint64_t)in.rank, 0);
    for (PetscInt i = 0; i < nv; i++) {
      v[i]  = 0.3 * DaisiRngNormal(&r, i);
      dv[i] = DaisiRngNormal(&r, 100000 + i);
    }
  }
  /* J(0) directly */
  for (PetscInt o = 0; o < obs.nobs; o++) {
    const PetscInt gi = (obs.lev[o] * g.ny + obs.iy[o]) * g.nx + obs.ix[o];
    PetscReal      h;
    PetscCall(DaisiObsOperatorApply(obs.op, 1, &xbg[gi], &h));
    Jd += 0.5 * (obs.value[o] - h) * (obs.value[o] - h) / (obs.sigma[o] * obs.sigma[o]);
  }
  PetscCall(PetscArrayzero(vp, nv));
  PetscCall(DaisiFilterVar3dObjective(f, e, &obs, xb, vp, &J0, NULL));
  EXPECT(PetscAbsReal(J0 - Jd) <= 1e-12 * Jd, "%s: J(0) = %.15g, direct evaluation %.15g", op, (double)J0, (double)Jd);
  PetscCall(DaisiFilterVar3dObjective(f, e, &obs, xb, v, &J, gr));
  an = GroupDot(group, nv, gr, dv);
  for (PetscInt i = 0; i < nv; i++) vp[i] = v[i] + eps * dv[i];
  PetscCall(DaisiFilterVar3dObjective(f, e, &obs, xb, vp, &Jp, NULL));
  for (PetscInt i = 0; i < nv; i++) vp[i] = v[i] - eps * dv[i];
  PetscCall(DaisiFilterVar3dObjective(f, e, &obs, xb, vp, &Jm, NULL));
  fd = (Jp - Jm) / (2 * eps);
  EXPECT(PetscAbsReal(fd - an) <= 1e-6 * PetscAbsReal(an), "%s: gradient . d = %.12g, finite differences %.12g", op, (double)an, (double)fd);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "gradient %-7s: J(0) %.6g (direct %.6g), J(v) %.6g, g.d %.10g, FD %.10g, rel. diff %.1e\n", op, (double)J0, (double)Jd, (double)J, (double)an, (double)fd, (double)(PetscAbsReal(fd - an) / PetscAbsReal(an))));
  PetscCall(PetscFree5(v, dv, gr, vp, xb));
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* one analysis against the dense BLUE (mean mode: mean; members mode: every member) */
static PetscErrorCode CheckBlue(DaisiEnsemble e, const DaisiFilterVar3dParams *p, const char *what, const PetscReal Bd[], const DaisiObsSet *obs, const PetscReal xf[], PetscReal xa[])
{
  DaisiFilter           f = NULL;
  DaisiGrid             g;
  DaisiEnsembleInfo     in;
  DaisiFilterVar3dStats st;
  PetscInt              n, M;
  PetscReal            *mb, *ma, *ref, *y, err = 0, inc = 0;

  PetscFunctionBegin;
  PetscCall(MakeFilter(e, p, &f));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  n = DaisiGridGlobalSize(&g);
  M = in.M;
  PetscCall(DaisiEnsembleSetGlobal(e, xf));
  PetscCall(DaisiFilterAnalysis(f, e, obs));
  PetscCall(DaisiFilterVar3dGetStats(f, &st));
  PetscCall(DaisiEnsembleGatherGlobal(e, xa));
  PetscCallMPI(MPI_Bcast(xa, (PetscMPIInt)(M * n), MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscCall(PetscMalloc4(n, &mb, n, &ma, n, &ref, obs->nobs + 1, &y));
  if (p->mode == DAISI_FILTER_VAR3D_MEAN) {
    for (PetscInt i = 0; i < n; i++) {
      mb[i] = 0;
      for (PetscInt m = 0; m < M; m++) mb[i] += xf[m * n + i];
      mb[i] /= M;
    }
    PetscCall(Blue(&g, Bd, obs, obs->value, mb, ref));
    for (PetscInt m = 0; m < M; m++)
      for (PetscInt i = 0; i < n; i++) {
        const PetscReal expect = ref[i] + p->pert_scale * (xf[m * n + i] - mb[i]);
        err                    = PetscMax(err, PetscAbsReal(xa[m * n + i] - expect));
        inc                    = PetscMax(inc, PetscAbsReal(ref[i] - mb[i]));
      }
  } else {
    for (PetscInt m = 0; m < M; m++) {
      const DaisiRng r = DaisiRngMake((uint64_t)0, DAISI_RNG_ENKF_PERTURBED_OBS, (uint64_t)obs->cycle, (uint64_t)m, 0);
      for (PetscInt o = 0; o < obs->nobs; o++) y[o] = obs->value[o] + obs->sigma[o] * DaisiRngNormal(&r, (uint64_t)o);
      PetscCall(Blue(&g, Bd, obs, y, xf + m * n, ref));
      for (PetscInt i = 0; i < n; i++) {
        err = PetscMax(err, PetscAbsReal(xa[m * n + i] - ref[i]));
        inc = PetscMax(inc, PetscAbsReal(ref[i] - xf[m * n + i]));
      }
    }
  }
  EXPECT(err <= 1e-9 * inc, "%s: 3dvar analysis differs from the BLUE by %g (largest increment %g)", what, (double)err, (double)inc);
  EXPECT(st.worst > 0, "%s: a minimisation did not converge (TAO reason %" PetscInt_FMT ")", what, st.worst);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "BLUE %-34s: max |3dvar - BLUE| %.2e of increments up to %.3g; %" PetscInt_FMT " solve(s) on group 0, %" PetscInt_FMT " iterations, J %.5g -> %.5g\n", what, (double)err, (double)inc, st.solves, st.iterations, (double)st.J0, (double)st.J));
  PetscCall(PetscFree4(mb, ma, ref, y));
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TrySetUp(DaisiEnsemble e, const DaisiFilterVar3dParams *p)
{
  DaisiFilter    f = NULL;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  ierr = MakeFilter(e, p, &f);
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(ierr);
}

static PetscErrorCode TrySetParams(const DaisiFilterVar3dParams *p)
{
  DaisiFilter    f = NULL;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_VAR3D));
  ierr = DaisiFilterVar3dSetParams(f, p);
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(ierr);
}

int main(int argc, char **argv)
{
  DaisiEnsemble          e;
  DaisiGrid              g;
  DaisiFilterVar3dParams def, p;
  DaisiObsSet            obs;
  PetscInt               G = 1, n;
  const PetscInt         M = 5;
  PetscReal             *Bd, *truth, *xf, *xa, *xa2;
  const char            *clim = "var3d_clim.h5", *clim8 = "var3d_clim8.h5", *bfile = "var3d_b.h5";

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ens_groups", &G, NULL));
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, G, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  n = DaisiGridGlobalSize(&g);
  PetscCheck(g.nx == 16 && g.ny == 16 && g.nlev == 2, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "run with -sqg_n 16");
  PetscCall(FilterTestWriteStates(&g, NSAMPLE, ClimateSample, clim));
  {
    DaisiGrid g8 = g;
    g8.nx = g8.ny = 8;
    PetscCall(FilterTestWriteStates(&g8, 3, ClimateSample, clim8));
  }
  PetscCall(PetscMalloc5(n * n, &Bd, n, &truth, M * n, &xf, M * n, &xa, M * n, &xa2));
  SyntheticTruth(&g, 3, truth);
  SyntheticEnsemble(&g, M, 4, truth, xf);
  PetscCall(DaisiFilterVar3dParamsDefault(&def));
  PetscCall(PetscStrncpy(def.climatology, clim, sizeof(def.climatology)));
  def.gatol  = 0;
  def.gttol  = 1e-12;
  def.max_it = 3000;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-var3d_monitor", &def.monitor, NULL));

  /* B and its square root */
  p           = def;
  p.shrinkage = 0.2;
  p.bscale    = 1.7;
  PetscCall(DenseB(&g, NSAMPLE, p.shrinkage, p.bscale, Bd));
  PetscCall(CheckB(e, &p, Bd));

  /* gradients (B as above) */
  PetscCall(CheckGradient(e, &p, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, xf));
  PetscCall(CheckGradient(e, &p, DAISI_OBS_OPERATOR_SQUARED, 0.1, truth, xf));
  PetscCall(CheckGradient(e, &p, DAISI_OBS_OPERATOR_ARCTAN, 0.05, truth, xf));

  /* the BLUE, linear h */
  PetscCall(SyntheticObs(&g, 0.15, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 8, 2, &obs));
  p            = def;
  p.pert_scale = 1;
  PetscCall(DenseB(&g, NSAMPLE, 0, 1, Bd));
  PetscCall(PetscStrncpy(p.bsave, bfile, sizeof(p.bsave)));
  PetscCall(CheckBlue(e, &p, "mean, S, lmvm (B saved)", Bd, &obs, xf, xa));
  p = def; /* the saved B read back: the same analysis */
  p.pert_scale = 1;
  p.climatology[0] = 0;
  PetscCall(PetscStrncpy(p.bfile, bfile, sizeof(p.bfile)));
  PetscCall(CheckBlue(e, &p, "mean, B file read back", Bd, &obs, xf, xa2));
  EXPECT(CountDifferent(M * n, xa, xa2) == 0, "the B file read back gives another analysis (%" PetscInt_FMT " values differ)", CountDifferent(M * n, xa, xa2));
  p            = def;
  p.pert_scale = 0.5;
  p.shrinkage  = 0.3;
  p.bscale     = 2.5;
  p.solver     = 1;
  PetscCall(DenseB(&g, NSAMPLE, p.shrinkage, p.bscale, Bd));
  PetscCall(CheckBlue(e, &p, "mean, 2.5 (0.7 S + 0.3 diag), blmvm", Bd, &obs, xf, xa));
  p           = def;
  p.mode      = DAISI_FILTER_VAR3D_MEMBERS;
  p.shrinkage = 0.1;
  p.bscale    = 0.6;
  PetscCall(DenseB(&g, NSAMPLE, p.shrinkage, p.bscale, Bd));
  PetscCall(CheckBlue(e, &p, "members, perturbed obs", Bd, &obs, xf, xa));
  PetscCall(DaisiObsSetDestroy(&obs));

  /* bad input */
  p = def;
  PetscCall(PetscStrncpy(p.climatology, "no_such_climate.h5", sizeof(p.climatology)));
  EXPECT_ERROR_MSG(TrySetUp(e, &p), "no_such_climate.h5", "no such file");
  PetscCall(PetscStrncpy(p.climatology, clim8, sizeof(p.climatology)));
  EXPECT_ERROR_MSG(TrySetUp(e, &p), clim8, "8 x 8");
  p.climatology[0] = 0;
  EXPECT_ERROR_MSG(TrySetUp(e, &p), "-var3d_climatology", "-var3d_b_file");
  p = def;
  PetscCall(PetscStrncpy(p.bfile, bfile, sizeof(p.bfile)));
  EXPECT_ERROR_MSG(TrySetUp(e, &p), "give one of them", bfile);
  p.climatology[0] = 0;
  PetscCall(PetscStrncpy(p.bfile, clim, sizeof(p.bfile)));
  EXPECT_ERROR_MSG(TrySetUp(e, &p), clim, "not a 3DVar B file");
  PetscCall(PetscStrncpy(p.bfile, "no_such_b.h5", sizeof(p.bfile)));
  EXPECT_ERROR_MSG(TrySetUp(e, &p), "no_such_b.h5", NULL);
  p       = def;
  p.count = NSAMPLE + 1;
  EXPECT_ERROR_MSG(TrySetUp(e, &p), "-var3d_climatology_count", clim);
  p         = def;
  p.members = 2;
  EXPECT_ERROR_MSG(TrySetUp(e, &p), "-var3d_climatology_members", "not an ensemble file");
  p = def;
  p.first = NSAMPLE;
  EXPECT_ERROR_MSG(TrySetUp(e, &p), "-var3d_climatology_first", clim);
  p           = def;
  p.shrinkage = 1.5;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-var3d_shrinkage", "[0, 1]");
  p        = def;
  p.bscale = 0;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-var3d_b_scale", "> 0");
  p            = def;
  p.pert_scale = -1;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-var3d_perturbation_scale", ">= 0");
  p        = def;
  p.max_it = 0;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-var3d_max_it", ">= 1");
  EXPECT_ERROR_MSG(FilterTryOption(DAISI_FILTER_VAR3D, "-var3d_mode", "median"), "-var3d_mode", "median");
  EXPECT_ERROR_MSG(FilterTryOption(DAISI_FILTER_VAR3D, "-var3d_tao", "nm"), "-var3d_tao", "lmvm, blmvm");
  EXPECT_ERROR_MSG(FilterTryOption(DAISI_FILTER_VAR3D, "-var3d_gttol", "2"), "-var3d_gttol", "[0, 1)");

  PetscCall(PetscFree5(Bd, truth, xf, xa, xa2));
  PetscCall(DaisiEnsembleDestroy(&e));
  {
    PetscMPIInt rank;
    PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
    if (rank == 0) {
      remove(clim);
      remove(clim8);
      remove(bfile);
    }
  }
  PetscCall(FinishTest("test_var3d"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
