/* The DAISI guidance gradients, through the exact Gaussian prior and through a small random
 * U-Net prior (saved to a file and loaded by -daisi_prior, which detects a network file):
 *  - dps and dps_scale: <g, v> against central finite differences of the log-likelihood
 *    composed with the denoiser, L(x) = -sum (y - h(s x1_hat(x, t)))^2 / (2 sigma^2) and
 *    -|y - h(s x1_hat(x, t))|, for h linear, squared and arctan, two members, two times;
 *    the s_data factor of the chain rule is checked by this (s = 8.14 K);
 *  - mmps: g against a dense computation of J^T A^T (R + A Sigma A^T)^-1 r on the 8 x 8 x 2
 *    grid (J from 128 Jacobian-vector products of unit vectors): GMRES with as many iterations
 *    as observations reproduces it (and so does CG for the symmetric Gaussian case); with one
 *    iteration CG gives u = (r.r)/(r.Kr) r and GMRES u = (r.Kr)/(Kr.Kr) r, also checked. */
#include "daisitest.h"
#include <daisi/nn.h>

static const char help[] = "DAISI guidance gradients against finite differences and a dense computation.\n";

#define NOBS 12

typedef struct {
  DaisiEnsemble e;
  DaisiGrid     g;
  PetscInt      M, n, d;
  DaisiPrior    gauss;
  char          netfile[PETSC_MAX_PATH_LEN];
} Ctx;

static PetscErrorCode MakeObs(const DaisiGrid *g, DaisiObsOperatorType op, DaisiObsSet *obs)
{
  const PetscInt cols[6][2] = {{0, 0}, {1, 4}, {3, 2}, {4, 7}, {6, 1}, {7, 5}};
  PetscBool      isat;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(op, DAISI_OBS_OPERATOR_ARCTAN, &isat));
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, NOBS, op, obs));
  for (PetscInt o = 0; o < NOBS; o++) {
    PetscReal th = 6.0 * PetscSinReal(1.7 * o + 0.3), h;
    obs->lev[o] = o / 6;
    obs->iy[o]  = cols[o % 6][0];
    obs->ix[o]  = cols[o % 6][1];
    PetscCall(DaisiObsOperatorApply(obs->op, 1, &th, &h));
    obs->sigma[o] = (isat ? 0.1 : 1.0) * (0.7 + 0.05 * o);
    obs->value[o] = h + 0.5 * obs->sigma[o] * PetscCosReal(2.1 * o);
  }
  obs->cycle = 1;
  (void)g;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* global fields of B local batches on every rank (the group is the world here) */
static PetscErrorCode Gather(const DaisiGrid *g, PetscInt B, const PetscReal x[], PetscReal all[])
{
  const PetscInt n = DaisiGridLocalSize(g), d = DaisiGridGlobalSize(g);

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(all, B * d));
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt j = 0; j < g->nyl; j++)
        for (PetscInt i = 0; i < g->nx; i++) all[b * d + (l * g->ny + g->y0 + j) * g->nx + i] = x[b * n + (l * g->nyl + j) * g->nx + i];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, all, (PetscMPIInt)(B * d), MPIU_REAL, MPI_SUM, PETSC_COMM_WORLD));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void Field(const DaisiGrid *g, PetscInt B, uint64_t key, PetscReal amp, PetscReal x[])
{
  const PetscInt n = DaisiGridLocalSize(g);
  for (PetscInt b = 0; b < B; b++) {
    const DaisiRng r = DaisiRngMake(99, DAISI_RNG_TEST, key, (uint64_t)b, 0);
    for (PetscInt l = 0; l < g->nlev; l++)
      for (PetscInt j = 0; j < g->nyl; j++)
        for (PetscInt i = 0; i < g->nx; i++) x[b * n + (l * g->nyl + j) * g->nx + i] = amp * DaisiRngNormal(&r, (uint64_t)((l * g->ny + g->y0 + j) * g->nx + i));
  }
}

/* log-likelihood per member at x (local), through the prior's denoiser */
static PetscErrorCode LogLik(Ctx *c, DaisiPrior p, DaisiFilterDAISIGuidance kind, const DaisiObsSet *obs, PetscReal t, const PetscReal x[], PetscReal L[])
{
  PetscReal *x1, *all, tt[8], s;

  PetscFunctionBegin;
  PetscCall(DaisiPriorGetScale(p, &s));
  PetscCall(PetscMalloc2(c->M * c->n + 1, &x1, c->M * c->d, &all));
  for (PetscInt b = 0; b < c->M; b++) tt[b] = t;
  PetscCall(DaisiPriorDenoiser(p, c->M, tt, x, x1));
  PetscCall(Gather(&c->g, c->M, x1, all));
  for (PetscInt b = 0; b < c->M; b++) {
    PetscReal sum = 0;
    for (PetscInt o = 0; o < obs->nobs; o++) {
      const PetscInt gi = (obs->lev[o] * c->g.ny + obs->iy[o]) * c->g.nx + obs->ix[o];
      PetscReal      th = s * all[b * c->d + gi], h, r;
      PetscCall(DaisiObsOperatorApply(obs->op, 1, &th, &h));
      r = obs->value[o] - h;
      sum += kind == DAISI_FILTER_DAISI_DPS ? r * r / (2 * obs->sigma[o] * obs->sigma[o]) : r * r;
    }
    L[b] = kind == DAISI_FILTER_DAISI_DPS ? -sum : -PetscSqrtReal(sum);
  }
  PetscCall(PetscFree2(x1, all));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NewFilter(Ctx *c, PetscBool net, const DaisiFilterDAISIParams *par0, DaisiFilter *f)
{
  DaisiFilterDAISIParams par = *par0;

  PetscFunctionBegin;
  if (net) PetscCall(PetscStrncpy(par.prior_file, c->netfile, sizeof(par.prior_file)));
  PetscCall(DaisiTestFilter(c->e, &par, net ? NULL : c->gauss, f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* dps / dps_scale against finite differences */
static PetscErrorCode CheckFD(Ctx *c, PetscBool net, DaisiObsOperatorType op, DaisiFilterDAISIGuidance kind)
{
  DaisiFilter            f;
  DaisiFilterDAISIParams par;
  DaisiPrior             p;
  DaisiObsSet            obs;
  /* the network computes in float32: Richardson-extrapolated central differences, (4 D(h/2) - D(h)) / 3,
   * with h = 8e-3 (the O(h^2) error of one difference is about 4e-3 there, float32 noise 1e-4 at h = 1e-3) */
  const PetscReal        ts[2] = {0.35, 0.8}, tol = net ? 1e-3 : 1e-6, delta = net ? 8e-3 : 1e-5;
  PetscReal             *x, *v, *xp, *gl, Lp[8], Lm[8], gv[8], fd[2][8], worst = 0;

  PetscFunctionBegin;
  PetscCall(MakeObs(&c->g, op, &obs));
  PetscCall(DaisiFilterDAISIParamsDefault(&par));
  par.guidance = kind;
  PetscCall(NewFilter(c, net, &par, &f));
  PetscCall(DaisiFilterDAISIGetPrior(f, &p));
  PetscCall(PetscMalloc4(c->M * c->n + 1, &x, c->M * c->n + 1, &v, c->M * c->n + 1, &xp, c->M * c->n + 1, &gl));
  Field(&c->g, c->M, 1, 0.8, x);
  Field(&c->g, c->M, 2, 1.0, v);
  for (PetscInt k = 0; k < 2; k++) {
    PetscCall(DaisiFilterDAISIGuidanceGradient(f, c->e, &obs, ts[k], x, gl));
    for (PetscInt b = 0; b < c->M; b++) {
      gv[b] = 0;
      for (PetscInt i = 0; i < c->n; i++) gv[b] += gl[b * c->n + i] * v[b * c->n + i];
    }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, gv, (PetscMPIInt)c->M, MPIU_REAL, MPI_SUM, PETSC_COMM_WORLD));
    for (PetscInt h = 0; h < (net ? 2 : 1); h++) {
      const PetscReal dl = delta / (1 << h);
      for (PetscInt i = 0; i < c->M * c->n; i++) xp[i] = x[i] + dl * v[i];
      PetscCall(LogLik(c, p, kind, &obs, ts[k], xp, Lp));
      for (PetscInt i = 0; i < c->M * c->n; i++) xp[i] = x[i] - dl * v[i];
      PetscCall(LogLik(c, p, kind, &obs, ts[k], xp, Lm));
      for (PetscInt b = 0; b < c->M; b++) fd[h][b] = (Lp[b] - Lm[b]) / (2 * dl);
    }
    for (PetscInt b = 0; b < c->M; b++) {
      const PetscReal fdv = net ? (4 * fd[1][b] - fd[0][b]) / 3 : fd[0][b], rel = PetscAbsReal(fdv - gv[b]) / PetscMax(PetscAbsReal(fdv), 1e-300);
      worst = PetscMax(worst, rel);
      EXPECT(PetscAbsReal(fdv) > 1e-3, "%s prior, %s, h %s, t %g: directional derivative %g too small for a meaningful check", net ? "net" : "Gaussian", DaisiFilterDAISIGuidances[kind], op, (double)ts[k], (double)fdv);
      EXPECT(rel < tol, "%s prior, %s, h %s, t %g, member %" PetscInt_FMT ": <g, v> = %.10g, finite differences %.10g (rel. diff. %.2e)", net ? "net" : "Gaussian", DaisiFilterDAISIGuidances[kind], op, (double)ts[k], b, (double)gv[b], (double)fdv, (double)rel);
    }
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-8s prior, %-9s h = %-7s: <g, v> vs finite differences, worst rel. diff. %.1e (tolerance %.0e)\n", net ? "net" : "Gaussian", DaisiFilterDAISIGuidances[kind], op, (double)worst, (double)tol));
  PetscCall(PetscFree4(x, v, xp, gl));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* MMPS against the dense computation (every rank computes it) */
static PetscErrorCode CheckMMPS(Ctx *c, PetscBool net, DaisiObsOperatorType op)
{
  const PetscInt         d = c->d, n = c->n, M = c->M;
  const PetscReal        t = 0.55;
  DaisiFilter            f;
  DaisiFilterDAISIParams par;
  DaisiPrior             p;
  DaisiObsSet            obs;
  PetscReal             *x, *xg, *bg, *J, *E, *jv, *gl, *gg, *tt, s, worst[4] = {0, 0, 0, 0};
  PetscReal             *Kd, *Kc, *u, *A, *r;

  PetscFunctionBegin;
  PetscCall(MakeObs(&c->g, op, &obs));
  PetscCall(DaisiFilterDAISIParamsDefault(&par));
  par.guidance = DAISI_FILTER_DAISI_MMPS;
  PetscCall(NewFilter(c, net, &par, &f));
  PetscCall(DaisiFilterDAISIGetPrior(f, &p));
  PetscCall(DaisiPriorGetScale(p, &s));
  PetscCall(PetscMalloc6(M * n + 1, &x, M * d, &xg, M * d, &bg, d * d, &J, d * n + 1, &E, d * n + 1, &jv));
  PetscCall(PetscMalloc5(M * n + 1, &gl, M * d, &gg, d + M, &tt, NOBS * NOBS, &Kd, NOBS * NOBS, &Kc));
  PetscCall(PetscMalloc3(NOBS, &u, NOBS * d, &A, NOBS, &r));
  Field(&c->g, M, 3, 0.8, x);
  for (PetscInt i = 0; i < d + M; i++) tt[i] = t;
  PetscCall(Gather(&c->g, M, x, xg));
  {
    PetscReal *bl;
    PetscCall(PetscMalloc1(M * n + 1, &bl));
    PetscCall(DaisiPriorVelocity(p, M, tt, x, bl));
    PetscCall(Gather(&c->g, M, bl, bg));
    PetscCall(PetscFree(bl));
  }
  /* unit vectors, local slabs */
  PetscCall(PetscArrayzero(E, d * n));
  for (PetscInt l = 0; l < c->g.nlev; l++)
    for (PetscInt j = 0; j < c->g.nyl; j++)
      for (PetscInt i = 0; i < c->g.nx; i++) {
        const PetscInt gi = (l * c->g.ny + c->g.y0 + j) * c->g.nx + i;
        E[gi * n + (l * c->g.nyl + j) * c->g.nx + i] = 1;
      }
  for (PetscInt m = 0; m < M; m++) {
    PetscReal *xrep, *col, *gd[3];
    PetscCall(PetscMalloc2(d * n + 1, &xrep, d * d, &col));
    for (PetscInt q = 0; q < d; q++) PetscCall(PetscArraycpy(xrep + q * n, x + m * n, n));
    PetscCall(DaisiPriorVelocityJVP(p, d, tt, xrep, E, NULL, jv));
    PetscCall(Gather(&c->g, d, jv, col)); /* col[q * d + i] = (db/dx)_iq */
    for (PetscInt i = 0; i < d; i++)
      for (PetscInt q = 0; q < d; q++) J[i * d + q] = (i == q ? 1 : 0) + (1 - t) * col[q * d + i];
    /* A = s diag(h') H at x1_hat, r = y - h */
    PetscCall(PetscArrayzero(A, NOBS * d));
    for (PetscInt o = 0; o < NOBS; o++) {
      const PetscInt  gi = (obs.lev[o] * c->g.ny + obs.iy[o]) * c->g.nx + obs.ix[o];
      PetscReal       th = s * (xg[m * d + gi] + (1 - t) * bg[m * d + gi]), h, hp, one = 1;
      PetscCall(DaisiObsOperatorApply(obs.op, 1, &th, &h));
      PetscCall(DaisiObsOperatorJacobianApply(obs.op, 1, &th, &one, &hp));
      A[o * d + gi] = s * hp;
      r[o]          = obs.value[o] - h;
    }
    /* K = R + A Sigma A^T, Sigma = ((1 - t)^2 / t) J */
    for (PetscInt o = 0; o < NOBS; o++)
      for (PetscInt q = 0; q < NOBS; q++) {
        PetscReal v = 0;
        for (PetscInt i = 0; i < d; i++)
          if (A[o * d + i] != 0)
            for (PetscInt j = 0; j < d; j++)
              if (A[q * d + j] != 0) v += A[o * d + i] * (1 - t) * (1 - t) / t * J[i * d + j] * A[q * d + j];
        Kd[o * NOBS + q] = v + (o == q ? obs.sigma[o] * obs.sigma[o] : 0);
      }
    /* three u: exact, one CG step, one GMRES step; g = J^T A^T u */
    for (PetscInt k = 0; k < 3; k++) PetscCall(PetscMalloc1(d, &gd[k]));
    for (PetscInt k = 0; k < 3; k++) {
      if (k == 0) {
        PetscCall(PetscArraycpy(Kc, Kd, NOBS * NOBS));
        PetscCall(PetscArraycpy(u, r, NOBS));
        PetscCall(DaisiTestSolve(NOBS, Kc, 1, u));
      } else {
        PetscReal Kr[NOBS], rr = 0, rKr = 0, KrKr = 0;
        for (PetscInt o = 0; o < NOBS; o++) {
          Kr[o] = 0;
          for (PetscInt q = 0; q < NOBS; q++) Kr[o] += Kd[o * NOBS + q] * r[q];
          rr += r[o] * r[o];
          rKr += r[o] * Kr[o];
          KrKr += Kr[o] * Kr[o];
        }
        for (PetscInt o = 0; o < NOBS; o++) u[o] = (k == 1 ? rr / rKr : rKr / KrKr) * r[o];
      }
      for (PetscInt j = 0; j < d; j++) {
        PetscReal v = 0;
        for (PetscInt i = 0; i < d; i++) {
          PetscReal atu = 0;
          for (PetscInt o = 0; o < NOBS; o++) atu += A[o * d + i] * u[o];
          v += J[i * d + j] * atu;
        }
        gd[k][j] = v;
      }
    }
    /* the implementation: (solver, iterations) = (gmres, NOBS), (cg, NOBS), (cg, 1), (gmres, 1) */
    for (PetscInt k = 0; k < 4; k++) {
      const PetscInt  ref = k < 2 ? 0 : (k == 2 ? 1 : 2);
      PetscReal       num = 0, den = 0;
      if (net && k == 1) continue; /* J is not symmetric for a network: CG is not exact */
      PetscCall(DaisiFilterDestroy(&f));
      par.mmps_solver     = (k == 0 || k == 3) ? DAISI_FILTER_DAISI_GMRES : DAISI_FILTER_DAISI_CG;
      par.mmps_iterations = k == 0 ? NOBS : (k == 1 ? 6 * NOBS : 1); /* CG loses orthogonality on the ill-conditioned arctan system */
      par.mmps_rtol       = 0;
      PetscCall(NewFilter(c, net, &par, &f));
      PetscCall(DaisiFilterDAISIGuidanceGradient(f, c->e, &obs, t, x, gl));
      PetscCall(Gather(&c->g, M, gl, gg));
      for (PetscInt j = 0; j < d; j++) {
        num += (gg[m * d + j] - gd[ref][j]) * (gg[m * d + j] - gd[ref][j]);
        den += gd[ref][j] * gd[ref][j];
      }
      worst[k] = PetscMax(worst[k], PetscSqrtReal(num / den));
      EXPECT(den > 0, "MMPS gradient is zero");
    }
    PetscCall(DaisiFilterDAISIGetPrior(f, &p));
    for (PetscInt k = 0; k < 3; k++) PetscCall(PetscFree(gd[k]));
    PetscCall(PetscFree2(xrep, col));
  }
  {
    const PetscReal tol = net ? 1e-4 : 1e-9;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-8s prior, mmps      h = %-7s: g vs dense, rel. error: GMRES(%d) %.1e, CG(%d) %s%.1e, CG(1) %.1e, GMRES(1) %.1e (tolerance %.0e)\n", net ? "net" : "Gaussian", op, NOBS, (double)worst[0], 6 * NOBS, net ? "n/a " : "", (double)worst[1], (double)worst[2], (double)worst[3], (double)tol));
    for (PetscInt k = 0; k < 4; k++) EXPECT(worst[k] < tol, "%s prior, mmps, h %s, solver case %" PetscInt_FMT ": relative error %g against the dense computation", net ? "net" : "Gaussian", op, k, (double)worst[k]);
  }
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(PetscFree6(x, xg, bg, J, E, jv));
  PetscCall(PetscFree5(gl, gg, tt, Kd, Kc));
  PetscCall(PetscFree3(u, A, r));
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  Ctx                         c;
  DaisiTestClimate            clim;
  PetscMPIInt                 size;
  const DaisiObsOperatorType  ops[3] = {DAISI_OBS_OPERATOR_LINEAR, DAISI_OBS_OPERATOR_SQUARED, DAISI_OBS_OPERATOR_ARCTAN};

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  c.M = 2;
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, c.M, 1, &c.e));
  PetscCall(DaisiEnsembleGetGrid(c.e, &c.g));
  c.n = DaisiGridLocalSize(&c.g);
  c.d = DaisiGridGlobalSize(&c.g);
  PetscCall(DaisiTestGaussianPrior(c.e, &clim, &c.gauss));
  /* a small random U-Net, saved; the filter loads it through -daisi_prior */
  {
    DaisiNet net;
    MPI_Comm group;
    PetscCall(DaisiEnsembleGetGroupComm(c.e, &group));
    PetscCall(PetscSNPrintf(c.netfile, sizeof(c.netfile), "daisi_guidance_net_np%d.h5", size));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_type", "unet"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_base_width", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_channel_mult", "1,2"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_groups", "2"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_time_features", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_time_dim", "8"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_seed", "5"));
    PetscCall(DaisiNetCreate(group, &net));
    PetscCall(DaisiNetSetFromOptions(net));
    PetscCall(DaisiNetSetUp(net, &c.g));
    PetscCall(DaisiNetSave(net, c.netfile));
    PetscCall(DaisiNetDestroy(&net));
  }
  for (PetscInt pr = 0; pr < 2; pr++)
    for (PetscInt k = 0; k < 3; k++) {
      PetscCall(CheckFD(&c, (PetscBool)pr, ops[k], DAISI_FILTER_DAISI_DPS));
      PetscCall(CheckFD(&c, (PetscBool)pr, ops[k], DAISI_FILTER_DAISI_DPS_SCALE));
      PetscCall(CheckMMPS(&c, (PetscBool)pr, ops[k]));
    }
  PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, c.netfile));
  PetscCall(DaisiPriorDestroy(&c.gauss));
  PetscCall(DaisiEnsembleDestroy(&c.e));
  PetscCall(FinishTest("test_daisi_guidance"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
