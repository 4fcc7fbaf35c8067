/* Interpolant samplers: forward SDE/ODE from t0 to 1, backward SDE/ODE from 1 to t_min
 * (DAISI's inversion), Euler(-Maruyama) or Heun, with layout-independent noise. */
#include "priorimpl.h"
#include <daisi/sampler.h>

const char *const DaisiInterpolantMethods[] = {"euler", "heun", "DaisiInterpolantMethod", "DAISI_INTERPOLANT_", NULL};

/* RNG step counter of the backward equation: far from the forward one's, so an inversion and
 * a forward run of the same member and cycle never share noise */
#define INVERT_STEP_BASE ((uint64_t)1 << 40)
/* RNG step counter of the Langevin corrector steps: apart from both */
#define CORRECTOR_STEP_BASE ((uint64_t)1 << 41)

PetscErrorCode DaisiInterpolantParamsDefault(DaisiInterpolantParams *ip)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(ip, sizeof(*ip)));
  ip->steps  = 100;
  ip->method = DAISI_INTERPOLANT_EULER;
  ip->eps    = 0.03;
  ip->seed   = 1;
  ip->stream = DAISI_RNG_SDE_NOISE;
  ip->time_power = 1;
  ip->corrector_tau = 1e-4;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckParams(MPI_Comm comm, const DaisiInterpolantParams *ip, const char prefix[])
{
  const char *dash = prefix ? "-" : "", *pre = prefix ? prefix : "";

  PetscFunctionBegin;
  PetscCheck(ip->steps >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "interpolant sampler: %s%ssteps must be >= 1, got %" PetscInt_FMT, dash, pre, ip->steps);
  PetscCheck(ip->eps >= 0 && PetscIsNormalReal(ip->eps + 1), comm, PETSC_ERR_ARG_OUTOFRANGE, "interpolant sampler: %s%seps must be >= 0 and finite, got %g", dash, pre, (double)ip->eps);
  PetscCheck(ip->time_power >= 1 && ip->time_power <= 10, comm, PETSC_ERR_ARG_OUTOFRANGE, "interpolant sampler: %s%stime_power must be in [1, 10], got %g", dash, pre, (double)ip->time_power);
  PetscCheck(ip->correctors >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "interpolant sampler: %s%scorrectors must be >= 0, got %" PetscInt_FMT, dash, pre, ip->correctors);
  PetscCheck(ip->corrector_tau > 0 && PetscIsNormalReal(ip->corrector_tau), comm, PETSC_ERR_ARG_OUTOFRANGE, "interpolant sampler: %s%scorrector_tau must be > 0 and finite, got %g", dash, pre, (double)ip->corrector_tau);
  PetscCheck(ip->method == DAISI_INTERPOLANT_EULER || ip->method == DAISI_INTERPOLANT_HEUN, comm, PETSC_ERR_ARG_OUTOFRANGE, "interpolant sampler: %s%smethod %d unknown (euler, heun)", dash, pre, (int)ip->method);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiInterpolantParamsSetFromOptions(MPI_Comm comm, const char prefix[], DaisiInterpolantParams *ip)
{
  PetscInt seed = (PetscInt)ip->seed;

  PetscFunctionBegin;
  PetscOptionsBegin(comm, prefix, "Interpolant sampler options", "DaisiInterpolant");
  PetscCall(PetscOptionsInt("-steps", "Number of steps K", "DaisiInterpolantForward", ip->steps, &ip->steps, NULL));
  PetscCall(PetscOptionsEnum("-method", "Time stepping (euler, heun)", "DaisiInterpolantForward", DaisiInterpolantMethods, (PetscEnum)ip->method, (PetscEnum *)&ip->method, NULL));
  PetscCall(PetscOptionsReal("-eps", "Diffusion eps of eps(t) = eps (1 - t); 0 = probability-flow ODE", "DaisiInterpolantForward", ip->eps, &ip->eps, NULL));
  PetscCall(PetscOptionsReal("-time_power", "Time grid t = lo + (hi - lo) u^p, u uniform: p > 1 refines the low (noise) end", "DaisiInterpolantForward", ip->time_power, &ip->time_power, NULL));
  PetscCall(PetscOptionsInt("-seed", "Seed of the sampler's random numbers", "DaisiInterpolantForward", seed, &seed, NULL));
  PetscCall(PetscOptionsInt("-correctors", "Langevin corrector steps after each forward step", "DaisiInterpolantForward", ip->correctors, &ip->correctors, NULL));
  PetscCall(PetscOptionsReal("-corrector_tau", "Step size tau of the Langevin corrector steps", "DaisiInterpolantForward", ip->corrector_tau, &ip->corrector_tau, NULL));
  PetscOptionsEnd();
  ip->seed = seed;
  PetscCall(CheckParams(comm, ip, prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiInterpolantParamsView(const DaisiInterpolantParams *ip, PetscViewer viewer)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "interpolant sampler: %s, %" PetscInt_FMT " steps (time power %g), eps %g%s, seed %" PetscInt64_FMT "%s\n", DaisiInterpolantMethods[ip->method], ip->steps, (double)ip->time_power, (double)ip->eps, ip->eps == 0 ? " (probability-flow ODE)" : " (SDE)", ip->seed, ip->guidance ? ", guided" : ""));
  if (ip->correctors > 0) PetscCall(PetscViewerASCIIPrintf(viewer, "  %" PetscInt_FMT " Langevin corrector step(s) per forward step, tau %g\n", ip->correctors, (double)ip->corrector_tau));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscInt MemberOf(const PetscInt member[], PetscInt b)
{
  return member ? member[b] : b;
}

/* out[b] = normals keyed by (rng of member b) at the global grid index */
static PetscErrorCode FillNormals(const DaisiGrid *g, PetscInt B, const PetscInt member[], uint64_t seed, uint64_t stream, uint64_t cycle, uint64_t step, PetscReal out[])
{
  const PetscInt n = DaisiGridLocalSize(g);

  PetscFunctionBegin;
  for (PetscInt b = 0; b < B; b++) {
    const PetscInt m = MemberOf(member, b);
    DaisiRng       r;
    PetscCheck(m >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "member index %" PetscInt_FMT " of batch entry %" PetscInt_FMT " is negative", m, b);
    r = DaisiRngMake(seed, stream, cycle, (uint64_t)m, step);
    for (PetscInt lev = 0; lev < g->nlev; lev++)
      for (PetscInt j = 0; j < g->nyl; j++) {
        const uint64_t gid = (uint64_t)((lev * g->ny + g->y0 + j) * g->nx);
        DaisiRngNormalArray(&r, gid, g->nx, out + b * n + (lev * g->nyl + j) * g->nx);
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiInterpolantNoise(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal z[])
{
  PetscFunctionBegin;
  PetscCheck(p->setupcalled, p->comm, PETSC_ERR_ORDER, "call DaisiPriorSetUp() first");
  PetscCall(FillNormals(&p->grid, B, member, (uint64_t)ip->seed, DAISI_RNG_INTERPOLANT, (uint64_t)ip->cycle, 0, z));
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  DaisiPrior                    p;
  const DaisiInterpolantParams *ip;
  PetscInt                      B, n;
  PetscReal                     sign; /* +1 forward, -1 backward */
  PetscReal                    *t, *b, *s;
} Drift;

/* D = b + sign eps(t) s (+ guidance in the forward direction) at time t */
static PetscErrorCode DriftEval(Drift *d, PetscReal t, const PetscReal x[], PetscReal D[])
{
  const PetscReal eps_t = d->ip->eps * (1 - t);
  const PetscInt  N     = d->B * d->n;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < d->B; i++) d->t[i] = t;
  PetscCall(DaisiPriorVelocity(d->p, d->B, d->t, x, d->b));
  if (eps_t > 0) {
    PetscCall(DaisiPriorScoreFromVelocity(d->n, d->B, d->t, x, d->b, d->s));
    for (PetscInt i = 0; i < N; i++) D[i] = d->b[i] + d->sign * eps_t * d->s[i];
  } else {
    PetscCall(PetscArraycpy(D, d->b, N));
  }
  if (d->sign > 0 && d->ip->guidance) PetscCall(d->ip->guidance(d->ip->guidance_ctx, d->B, t, eps_t, x, d->b, D));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Node k of K from ta to tb. The nodes are lo + (hi - lo) u^p with u uniform in [0, 1] and
 * lo = min(ta, tb), hi = max(ta, tb), in either direction, so that a backward run retraces the
 * nodes of the forward run over the same interval; the ends are exact. */
static PetscReal TimeNode(const DaisiInterpolantParams *ip, PetscReal ta, PetscReal tb, PetscInt k)
{
  const PetscInt  K  = ip->steps;
  const PetscReal lo = PetscMin(ta, tb), hi = PetscMax(ta, tb);
  PetscReal       u;

  if (k == 0) return ta;
  if (k == K) return tb;
  u = tb > ta ? (PetscReal)k / K : (PetscReal)(K - k) / K;
  if (ip->time_power != 1) u = PetscPowReal(u, ip->time_power);
  return lo + (hi - lo) * u;
}

/* K steps from ta to tb (either direction) in place on x */
static PetscErrorCode Integrate(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal ta, PetscReal tb, uint64_t step0, PetscReal x[], const char what[])
{
  const PetscInt  n = DaisiGridLocalSize(&p->grid), N = B * n, K = ip->steps;
  Drift           d;
  PetscReal      *D, *D2, *xt, *xi;

  PetscFunctionBegin;
  PetscCheck(p->setupcalled, p->comm, PETSC_ERR_ORDER, "call DaisiPriorSetUp() first");
  PetscCall(CheckParams(p->comm, ip, NULL));
  PetscCheck(B >= 0, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "batch of %" PetscInt_FMT " samples", B);
  d.p    = p;
  d.ip   = ip;
  d.B    = B;
  d.n    = n;
  d.sign = tb > ta ? 1 : -1;
  PetscCall(PetscMalloc4(B + 1, &d.t, N + 1, &d.b, N + 1, &d.s, N + 1, &D));
  PetscCall(PetscMalloc3(N + 1, &D2, N + 1, &xt, N + 1, &xi));
  for (PetscInt k = 0; k < K; k++) {
    const PetscReal t0 = TimeNode(ip, ta, tb, k), t1 = TimeNode(ip, ta, tb, k + 1), dt = t1 - t0;
    /* noise variance of the step: Euler-Maruyama as published, eps(t) at the step's start;
     * Heun the exact integral of 2 eps(t) over the step (eps(t) at the midpoint), which removes
     * the O(dt) bias in the sampled variance that the left point leaves */
    const PetscReal tn    = ip->method == DAISI_INTERPOLANT_HEUN ? 0.5 * (t0 + t1) : t0;
    const PetscReal sigma = PetscSqrtReal(2 * ip->eps * (1 - tn) * PetscAbsReal(dt));

    PetscCall(PetscLogEventBegin(DAISI_InterpolantStep, 0, 0, 0, 0));
    if (sigma > 0) PetscCall(FillNormals(&p->grid, B, member, (uint64_t)ip->seed, ip->stream, (uint64_t)ip->cycle, step0 + (uint64_t)k, xi));
    PetscCall(DriftEval(&d, t0, x, D));
    if (ip->method == DAISI_INTERPOLANT_EULER) {
      for (PetscInt i = 0; i < N; i++) x[i] += D[i] * dt + (sigma > 0 ? sigma * xi[i] : 0);
    } else {
      /* Heun on the drift; the same noise increment in both stages */
      for (PetscInt i = 0; i < N; i++) xt[i] = x[i] + D[i] * dt + (sigma > 0 ? sigma * xi[i] : 0);
      PetscCall(DriftEval(&d, t1, xt, D2));
      for (PetscInt i = 0; i < N; i++) x[i] += 0.5 * (D[i] + D2[i]) * dt + (sigma > 0 ? sigma * xi[i] : 0);
    }
    PetscCall(PetscLogFlops((ip->method == DAISI_INTERPOLANT_HEUN ? 9.0 : 4.0) * N));
    /* Langevin corrector steps at t1 (forward only; the score is not defined at t = 1):
     * x <- x + tau (s + guidance) + sqrt(2 tau) xi */
    if (d.sign > 0 && ip->correctors > 0 && t1 < 1) {
      const PetscReal st = PetscSqrtReal(2 * ip->corrector_tau);
      for (PetscInt i = 0; i < B; i++) d.t[i] = t1;
      for (PetscInt j = 0; j < ip->correctors; j++) {
        PetscCall(FillNormals(&p->grid, B, member, (uint64_t)ip->seed, ip->stream, (uint64_t)ip->cycle, CORRECTOR_STEP_BASE + (uint64_t)ip->step_offset + (uint64_t)(k * ip->correctors + j), xi));
        PetscCall(DaisiPriorVelocity(p, B, d.t, x, d.b));
        PetscCall(DaisiPriorScoreFromVelocity(n, B, d.t, x, d.b, d.s));
        if (ip->score_guidance) PetscCall(ip->score_guidance(ip->guidance_ctx, B, t1, x, d.b, d.s));
        for (PetscInt i = 0; i < N; i++) x[i] += ip->corrector_tau * d.s[i] + st * xi[i];
      }
      PetscCall(PetscLogFlops(4.0 * N * ip->correctors));
    }
    PetscCall(PetscLogEventEnd(DAISI_InterpolantStep, 0, 0, 0, 0));
    if (ip->monitor) {
      PetscBool stop = PETSC_FALSE;
      PetscCall(ip->monitor(ip->monitor_ctx, B, k, t1, x, &stop));
      if (stop) { /* the monitor's owner reports what it saw; x must not be used */
        PetscCall(PetscFree4(d.t, d.b, d.s, D));
        PetscCall(PetscFree3(D2, xt, xi));
        PetscFunctionReturn(PETSC_SUCCESS);
      }
    }
  }
  PetscCall(PetscFree4(d.t, d.b, d.s, D));
  PetscCall(PetscFree3(D2, xt, xi));
  /* a diverged integration is reported, never passed on */
  PetscCall(DaisiCheckFinite(p->comm, N, x, what));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiInterpolantForward(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal t0, PetscReal x[])
{
  PetscFunctionBegin;
  PetscCheck(t0 >= 0 && t0 < 1, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "forward interpolant integration starts at t0 = %g, which must be in [0, 1)", (double)t0);
  PetscCall(Integrate(p, ip, B, member, t0, 1.0, (uint64_t)ip->step_offset, x, "the state after the forward interpolant integration"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiInterpolantInvert(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal t_min, PetscReal x[])
{
  PetscFunctionBegin;
  PetscCheck(t_min >= 0 && t_min < 1, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "inversion target t_min = %g must be in [0, 1)", (double)t_min);
  PetscCall(Integrate(p, ip, B, member, 1.0, t_min, INVERT_STEP_BASE + (uint64_t)ip->step_offset, x, "the state after the interpolant inversion"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiInterpolantSample(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal x[])
{
  PetscFunctionBegin;
  PetscCall(DaisiInterpolantNoise(p, ip, B, member, x));
  PetscCall(DaisiInterpolantForward(p, ip, B, member, 0.0, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}
