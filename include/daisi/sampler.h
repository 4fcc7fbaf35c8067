/* Interpolant samplers: the forward (generative) and backward (inversion) SDEs of a DaisiPrior,
 * and their probability-flow ODE (eps = 0). In normalised space, with eps(t) = eps (1 - t):
 *   forward  t0 -> 1:     dX = [b + eps(t) s] dt + sqrt(2 eps(t)) dW
 *   backward 1 -> t_min:  dX = [b - eps(t) s] dt + sqrt(2 eps(t)) dW_bar
 * s = (t b - x)/(1 - t) the score (0 at t = 1). K steps (uniform by default) of
 * Euler(-Maruyama) or Heun (Heun on the drift, the same noise increment in predictor and
 * corrector); the backward equation runs with dt < 0 (uniform: (t_min - 1)/K) and noise
 * sqrt(2 eps(t) |dt|) xi (Euler: eps at the step's start, as published; Heun: the exact
 * integral of 2 eps(t) over the step). Optionally the steps are refined toward the noise end:
 * nodes lo + (hi - lo) u^p for u uniform (time_power p > 1), which high-variance (large-scale)
 * modes need near t = 0.
 *
 * Noise: xi of step k of member m is DaisiRngNormal keyed by (seed, stream, cycle, m,
 * step_offset + k) at the global grid index (the inversion counts steps from 2^40 +
 * step_offset, so it never shares noise with a forward run); results therefore do not depend
 * on the rank count nor on how members are grouped in batches. The starting noise z ~ N(0, I)
 * of an unconditional sample is keyed by (seed, DAISI_RNG_INTERPOLANT, cycle, m, 0).
 *
 * Guidance hook (for the DAISI filter): after the drift D = b +- eps(t) s of the current
 * state is formed, guidance(ctx, B, t, eps_t, x, b, D) may add to D in place, e.g. the guided
 * SDE's lam(t) c(t) g + eps(t) lam(t) g. It is called at every drift evaluation of the forward
 * equation (both Heun stages), never by the backward one.
 *
 * Langevin corrector steps (optional, forward equation only): after every forward step that
 * ends at t < 1, `correctors` steps x <- x + tau S(x, t) + sqrt(2 tau) xi at that t, with
 * S = s the prior score, to which score_guidance(ctx, B, t, x, b, S) may add in place (e.g. the
 * guided SDE's lam(t) g, making S the conditional score). Their noise is keyed like the step
 * noise with the step counter 2^41 + step_offset + k * correctors + j (corrector j after step
 * k). None at t = 1, where the score is not defined by b.
 *
 * Monitor (optional, both directions): after every step k (x at time t, correctors included),
 * monitor(ctx, B, k, t, x, &stop) may inspect the state (collectively) and set stop to end the
 * integration at once. A stopped integration returns without its final NaN/Inf check: the
 * caller that stopped it owns the diagnosis and must not use x. */
#ifndef DAISI_SAMPLER_H
#define DAISI_SAMPLER_H

#include <daisi/prior.h>
#include <daisi/rng.h>

typedef enum {
  DAISI_INTERPOLANT_EULER,
  DAISI_INTERPOLANT_HEUN
} DaisiInterpolantMethod;
PETSC_EXTERN const char *const DaisiInterpolantMethods[];

/* t: the time of this drift evaluation (same for all B); eps_t = eps(t) */
typedef PetscErrorCode (*DaisiInterpolantGuidance)(void *ctx, PetscInt B, PetscReal t, PetscReal eps_t, const PetscReal x[], const PetscReal b[], PetscReal drift[]);
/* adds to the score S of a Langevin corrector step at time t (b = b(x, t)) */
typedef PetscErrorCode (*DaisiInterpolantScoreGuidance)(void *ctx, PetscInt B, PetscReal t, const PetscReal x[], const PetscReal b[], PetscReal score[]);
/* called after step k (x at time t); set *stop to end the integration */
typedef PetscErrorCode (*DaisiInterpolantMonitor)(void *ctx, PetscInt B, PetscInt k, PetscReal t, const PetscReal x[], PetscBool *stop);

typedef struct {
  PetscInt                 steps;       /* K >= 1 */
  DaisiInterpolantMethod   method;      /* Euler or Heun */
  PetscReal                eps;         /* eps of eps(t) = eps (1 - t); 0 = probability-flow ODE */
  PetscReal                time_power;  /* nodes lo + (hi - lo) u^p, u uniform; 1 = uniform steps */
  PetscInt64               seed;        /* RNG seed */
  PetscInt64               cycle;       /* RNG counter: assimilation cycle (0 for sampling) */
  PetscInt64               step_offset; /* RNG counter offset of step 0 (e.g. inversion vs forward) */
  uint64_t                 stream;      /* RNG stream of the SDE noise (DAISI_RNG_SDE_NOISE) */
  DaisiInterpolantGuidance guidance;    /* optional drift term of the forward equation */
  void                    *guidance_ctx;
  PetscInt                 correctors;    /* Langevin corrector steps after each forward step (0) */
  PetscReal                corrector_tau; /* their step size tau (1e-4) */
  DaisiInterpolantScoreGuidance score_guidance; /* optional term added to the corrector's score (guidance_ctx) */
  DaisiInterpolantMonitor  monitor;       /* optional check after every step */
  void                    *monitor_ctx;
} DaisiInterpolantParams;

/* Defaults: K = 100, Euler, eps = 0.03, uniform steps, seed 1, cycle 0, offset 0, no guidance,
 * no correctors (tau 1e-4), no monitor. */
PETSC_EXTERN PetscErrorCode DaisiInterpolantParamsDefault(DaisiInterpolantParams *ip);
/* Reads -<prefix>steps, -<prefix>method euler|heun, -<prefix>eps, -<prefix>time_power,
 * -<prefix>seed, -<prefix>correctors, -<prefix>corrector_tau (e.g. prefix
 * "sample_" gives -sample_steps), checking them. */
PETSC_EXTERN PetscErrorCode DaisiInterpolantParamsSetFromOptions(MPI_Comm comm, const char prefix[], DaisiInterpolantParams *ip);
PETSC_EXTERN PetscErrorCode DaisiInterpolantParamsView(const DaisiInterpolantParams *ip, PetscViewer viewer);

/* z ~ N(0, I) for members member[0..B) (member = NULL: 0..B-1), in the prior's layout. */
PETSC_EXTERN PetscErrorCode DaisiInterpolantNoise(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal z[]);
/* Integrates the forward equation from t0 in [0, 1) to 1, in place on x (normalised). */
PETSC_EXTERN PetscErrorCode DaisiInterpolantForward(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal t0, PetscReal x[]);
/* Integrates the backward equation from 1 to t_min in [0, 1), in place on x (normalised). */
PETSC_EXTERN PetscErrorCode DaisiInterpolantInvert(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal t_min, PetscReal x[]);
/* Unconditional samples: noise at t = 0, then the forward equation to 1. */
PETSC_EXTERN PetscErrorCode DaisiInterpolantSample(DaisiPrior p, const DaisiInterpolantParams *ip, PetscInt B, const PetscInt member[], PetscReal x[]);

#endif
