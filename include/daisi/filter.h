/* DaisiFilter: the analysis step of an ensemble filter behind one interface.
 *
 * Types (option -filter_type):
 *   letkf  local ensemble transform Kalman filter (Hunt et al. 2007) as EXPERIMENTS.md runs it:
 *          one local analysis per grid point and level, Gaspari-Cohn R-localisation on the
 *          doubly periodic plane (cutoff -letkf_cutoff m, GC reaches 0 there), vertical factor
 *          GC(|dlev| Lr / cutoff) (Lr: -letkf_lr m, default 1000 km), LAPACK symmetric
 *          eigensolver; RTPS (-letkf_rtps alpha) and RTPP (-letkf_rtpp alpha) relaxation.
 *   etkf   the same transform, global: all observations, no localisation (RTPS/RTPP as letkf).
 *   enkf   stochastic EnKF with perturbed observations (noise from the counter-based
 *          generator keyed by (-filter_seed, DAISI_RNG_ENKF_PERTURBED_OBS, cycle, member,
 *          observation index)), global.
 *   none   no update (free-running ensemble).
 *   daisi  DAISI (Andrae et al., arXiv 2512.00252; docs/daisi.md): per member, the forecast
 *          (normalised by the prior's s_data) is inverted to t_min by the backward SDE/ODE of
 *          an unconditional stochastic-interpolant prior (DaisiPrior: exact Gaussian or a
 *          trained network, -daisi_prior FILE or -prior_*), then carried back to t = 1 by the
 *          forward SDE with observation guidance (DPS, DPS-scale or MMPS). Works on whole
 *          members: each group pushes its members through the prior as one batch, on its
 *          group communicator; guidance sums are collective over the group. Options -daisi_*
 *          (DaisiFilterDAISIParams below).
 *   pf     bootstrap particle filter (the reference posterior of small systems such as
 *          Lorenz '63; docs/filters.md): the members are particles weighted by the Gaussian
 *          likelihood of the cycle's observations, log w_m = -1/2 sum_o ((y_o - h(x_m)_o) /
 *          sigma_o)^2 (normalised by log-sum-exp; any observation operator, through the
 *          observation-space ensemble the other types use), effective sample size
 *          ESS = 1 / sum_m w_m^2; systematic resampling when ESS < -pf_resample_threshold * M
 *          (default 1: every cycle with observations; below 1 the weights of cycles without
 *          resampling are carried by the filter to the next analysis), then Gaussian jitter
 *          -pf_jitter sigma (state units, default 0) on every resampled value. Random numbers
 *          keyed by (-filter_seed, DAISI_RNG_PARTICLE_FILTER, cycle, member, step; global
 *          index). Works in the analysis layout (all members at each point), so it is exact
 *          for any model; -pf_monitor prints the ESS of every analysis, DaisiFilterGetStats
 *          returns it.
 * All types: multiplicative prior inflation -filter_inflation (factor on the prior
 * perturbations, default 1, applied before h, or before the inversion for daisi). The
 * letkf-family options (-letkf_*), the -daisi_* and the -pf_* options are read by every type, so that
 * one scenario file serves every filter; each type uses its own. Eigensolver of the
 * ensemble-space problems: -letkf_eigensolver auto (LAPACK dsyev for n <= 32, dsyevd above) |
 * syev | syevr | syevd | qr (built-in Householder + implicit QR, about twice as fast on these
 * tiny problems). See docs/filters.md and docs/daisi.md for the formulas, the parallel layout
 * and the tests.
 *
 * Every result is bit-identical for every (G, P) layout and rank count: each analysis value
 * is computed from the same inputs in the same order wherever it lands (see docs/filters.md;
 * for daisi: counter-based noise keyed by member and global grid index, observation-space sums
 * formed per grid row and added in row order, and a prior whose results do not depend on the
 * layout, as the Gaussian prior's do not).
 *
 * Lifecycle:
 *   DaisiFilterCreate(comm, &f);  DaisiFilterSetType(f, DAISI_FILTER_LETKF);
 *   DaisiFilterSetFromOptions(f);  [DaisiFilterSetEnsemble(f, ens);]  DaisiFilterSetUp(f);
 *   DaisiFilterAnalysis(f, ens, &obs);  ...  DaisiFilterDestroy(&f); */
#ifndef DAISI_FILTER_H
#define DAISI_FILTER_H

#include <daisi/ensemble.h>
#include <daisi/obs.h>
#include <daisi/prior.h>
#include <daisi/sampler.h>

typedef struct _p_DaisiFilter *DaisiFilter;
typedef const char            *DaisiFilterType;
#define DAISI_FILTER_LETKF "letkf"
#define DAISI_FILTER_ETKF  "etkf"
#define DAISI_FILTER_ENKF  "enkf"
#define DAISI_FILTER_NONE  "none"
#define DAISI_FILTER_DAISI "daisi"
#define DAISI_FILTER_PF    "pf"

PETSC_EXTERN PetscErrorCode DaisiFilterCreate(MPI_Comm comm, DaisiFilter *f);
/* errors with PETSC_ERR_ARG_UNKNOWN_TYPE naming the type for an unknown type */
/* adds a type (name -> constructor that fills the ops table; see docs/developer-guide.md) */
PETSC_EXTERN PetscErrorCode DaisiFilterRegister(const char name[], PetscErrorCode (*create)(DaisiFilter));
PETSC_EXTERN PetscErrorCode DaisiFilterSetType(DaisiFilter f, DaisiFilterType type);
PETSC_EXTERN PetscErrorCode DaisiFilterGetType(DaisiFilter f, DaisiFilterType *type);
PETSC_EXTERN PetscErrorCode DaisiFilterSetOptionsPrefix(DaisiFilter f, const char prefix[]);
PETSC_EXTERN PetscErrorCode DaisiFilterSetFromOptions(DaisiFilter f);
/* The ensemble the filter will analyse (optional, before DaisiFilterSetUp; not owned). Types
 * that work on whole members (daisi) then create their per-group objects (the prior) at
 * set-up, so that their options are read and their files checked before the first cycle;
 * otherwise they do so at the first analysis. */
PETSC_EXTERN PetscErrorCode DaisiFilterSetEnsemble(DaisiFilter f, DaisiEnsemble e);
PETSC_EXTERN PetscErrorCode DaisiFilterSetUp(DaisiFilter f);
PETSC_EXTERN PetscErrorCode DaisiFilterView(DaisiFilter f, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiFilterDestroy(DaisiFilter *f);

/* Parameters (also options). Each errors naming the option if the value is out of range. */
PETSC_EXTERN PetscErrorCode DaisiFilterSetInflation(DaisiFilter f, PetscReal factor);         /* -filter_inflation > 0 */
PETSC_EXTERN PetscErrorCode DaisiFilterSetSeed(DaisiFilter f, PetscInt64 seed);               /* -filter_seed */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetCutoff(DaisiFilter f, PetscReal cutoff);       /* -letkf_cutoff (m) > 0 */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetVerticalScale(DaisiFilter f, PetscReal lr);    /* -letkf_lr (m) >= 0 */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetRTPS(DaisiFilter f, PetscReal alpha);          /* -letkf_rtps in [0, 1] */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetRTPP(DaisiFilter f, PetscReal alpha);          /* -letkf_rtpp in [0, 1] */
/* -letkf_ensemble_space: always solve in ensemble space (M x M eigenproblem) as the formulas
 * read; by default a local problem with fewer observations than members is solved with the
 * equivalent p x p eigenproblem in observation space (same result to round-off, faster). */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetEnsembleSpace(DaisiFilter f, PetscBool always);

/* ---- Particle filter (type pf). Each errors naming the option if out of range. */
PETSC_EXTERN PetscErrorCode DaisiFilterPFSetResampleThreshold(DaisiFilter f, PetscReal threshold); /* -pf_resample_threshold in [0, 1] (1) */
PETSC_EXTERN PetscErrorCode DaisiFilterPFSetJitter(DaisiFilter f, PetscReal sigma);                 /* -pf_jitter >= 0, state units (0) */
PETSC_EXTERN PetscErrorCode DaisiFilterPFSetMonitor(DaisiFilter f, PetscBool flg);                  /* -pf_monitor: print the ESS per analysis */

/* ---- DAISI (type daisi; docs/daisi.md). In normalised space x_n = x / s_data:
 *   start at t_min:  invert   backward SDE/ODE of the prior from the forecast, 1 -> t_min
 *                    noise    t_min = 0, x = z ~ N(0, I) (the forecast is ignored)
 *                    sdedit   x = t_min x_f + (1 - t_min) z
 *   guided forward SDE t_min -> 1:
 *     dX = [b + lam(t) c(t) g + eps(t) (s + lam(t) g)] dt + sqrt(2 eps(t)) dW,  eps(t) = eps (1 - t)
 *   with x1_hat = x + (1 - t) b, r = y - h(s_data x1_hat) (h on theta in state units), J = d x1_hat/dx:
 *     dps        g = grad_x [-sum_o r_o^2 / (2 sigma_o^2)],  c(t) = 1 - t
 *     dps_scale  g = grad_x [-|r|],                           c(t) = 1 - t
 *     mmps       g = J^T A^T (R + A Sigma A^T)^-1 r, A = dh/dx at x1_hat (with the s_data factor),
 *                Sigma = ((1 - t)^2 / t) J, R = diag(sigma_o^2), c(t) = (1 - t) / t
 *     none       g = 0
 *   lam(t) = lam (constant) or lam (1 - t) (linear); no guidance at t = 0 (nor at t = 1, where
 *   c(t) + eps(t) = 0). */
typedef enum {
  DAISI_FILTER_DAISI_INVERT,
  DAISI_FILTER_DAISI_NOISE,
  DAISI_FILTER_DAISI_SDEDIT
} DaisiFilterDAISIVariant;
typedef enum {
  DAISI_FILTER_DAISI_DPS,
  DAISI_FILTER_DAISI_DPS_SCALE,
  DAISI_FILTER_DAISI_MMPS,
  DAISI_FILTER_DAISI_GUIDANCE_NONE
} DaisiFilterDAISIGuidance;
typedef enum {
  DAISI_FILTER_DAISI_LAMBDA_CONSTANT,
  DAISI_FILTER_DAISI_LAMBDA_LINEAR
} DaisiFilterDAISISchedule;
typedef enum {
  DAISI_FILTER_DAISI_CG,
  DAISI_FILTER_DAISI_GMRES
} DaisiFilterDAISIMMPSSolver;
PETSC_EXTERN const char *const DaisiFilterDAISIVariants[];  /* invert, noise, sdedit */
PETSC_EXTERN const char *const DaisiFilterDAISIGuidances[]; /* dps, dps_scale, mmps, none */
PETSC_EXTERN const char *const DaisiFilterDAISISchedules[]; /* constant, linear */
PETSC_EXTERN const char *const DaisiFilterDAISISolvers[];   /* cg, gmres */

typedef struct {
  DaisiFilterDAISIVariant    variant;          /* -daisi_variant (invert) */
  PetscReal                  tmin;             /* -daisi_tmin in [0, 1) (0.3) */
  PetscInt                   inversion_steps;  /* -daisi_inversion_steps >= 1 (100) */
  PetscInt                   steps;            /* -daisi_steps >= 1, guided steps (100) */
  DaisiInterpolantMethod     method;           /* -daisi_method euler|heun, both SDEs (euler) */
  PetscReal                  time_power;       /* -daisi_time_power in [1, 10] (1: uniform steps) */
  PetscReal                  eps;              /* -daisi_eps >= 0, both SDEs; 0 = ODEs (0.03) */
  DaisiFilterDAISIGuidance   guidance;         /* -daisi_guidance (mmps) */
  PetscReal                  lambda;           /* -daisi_lambda >= 0 (1) */
  DaisiFilterDAISISchedule   schedule;         /* -daisi_lambda_schedule (constant) */
  DaisiFilterDAISIMMPSSolver mmps_solver;      /* -daisi_mmps_solver (cg) */
  PetscInt                   mmps_iterations;  /* -daisi_mmps_iterations >= 1 (1) */
  PetscReal                  mmps_rtol;        /* -daisi_mmps_rtol >= 0: stop at |res| <= rtol |r| (1e-6) */
  PetscInt                   correctors;       /* -daisi_correctors >= 0, Langevin steps per guided step (0) */
  PetscReal                  corrector_tau;    /* -daisi_corrector_tau > 0 (1e-4) */
  PetscInt64                 seed;             /* -daisi_seed (0) */
  PetscReal                  divergence_bound; /* -daisi_divergence_bound > 0, max |x| in state units (1000) */
  PetscReal                  rtps;             /* -daisi_rtps in [0, 1]: relaxation of the analysis spread to the forecast's (0) */
  char                       prior_file[PETSC_MAX_PATH_LEN]; /* -daisi_prior FILE ("": -prior_* options) */
} DaisiFilterDAISIParams;
/* the defaults above */
PETSC_EXTERN PetscErrorCode DaisiFilterDAISIParamsDefault(DaisiFilterDAISIParams *p);
/* Any filter holds them (every type reads the options); Set checks them, naming the option. */
PETSC_EXTERN PetscErrorCode DaisiFilterDAISIGetParams(DaisiFilter f, DaisiFilterDAISIParams *p);
PETSC_EXTERN PetscErrorCode DaisiFilterDAISISetParams(DaisiFilter f, const DaisiFilterDAISIParams *p);
/* A prior to use instead of creating one from -daisi_prior / -prior_*: created on this rank's
 * group communicator (DaisiEnsembleGetGroupComm) and set up on the ensemble's grid. Not owned:
 * keep it alive until the filter is destroyed. Before the first analysis. */
PETSC_EXTERN PetscErrorCode DaisiFilterDAISISetPrior(DaisiFilter f, DaisiPrior p);
/* The prior in use (after set-up with an ensemble or the first analysis). */
PETSC_EXTERN PetscErrorCode DaisiFilterDAISIGetPrior(DaisiFilter f, DaisiPrior *p);
/* Diagnostics and tests: the guidance gradient g (without lam(t) and c(t)) of the configured
 * guidance at time t in (0, 1) for the members of this rank's group, x and g in the slab layout
 * in normalised units (x[b * nloc + i], b < nlocal). Collective over the ensemble's world. */
PETSC_EXTERN PetscErrorCode DaisiFilterDAISIGuidanceGradient(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs, PetscReal t, const PetscReal x[], PetscReal g[]);

/* The analysis: updates the ensemble in place with the observations of one cycle (every
 * rank holds the whole set). Collective over the ensemble's world communicator. Errors if an
 * observation has sigma <= 0, lies outside the grid or has a non-finite value. */
PETSC_EXTERN PetscErrorCode DaisiFilterAnalysis(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs);

/* Statistics of the last analysis on this rank (for load balance reports). */
typedef struct {
  PetscInt64 npoints;    /* local analyses done by this rank */
  PetscInt64 nlocalobs;  /* sum of local observation counts */
  PetscInt   maxlocalobs;
  PetscReal  ess;        /* pf: effective sample size of the analysis weights (0 for other types) */
  PetscBool  resampled;  /* pf: whether the analysis resampled */
} DaisiFilterStats;
PETSC_EXTERN PetscErrorCode DaisiFilterGetStats(DaisiFilter f, DaisiFilterStats *stats);

/* Gaspari-Cohn taper as used for localisation: 1 at r = 0, 0 for r >= 1 (r = d / cutoff). */
PETSC_EXTERN PetscReal DaisiGaspariCohn(PetscReal r);

PETSC_EXTERN PetscLogEvent DAISI_FilterAnalysis, DAISI_FilterObsOperator, DAISI_FilterLocalAnalyses, DAISI_FilterTransform;
/* DAISI kernels: DaisiInversion (backward SDE/ODE), DaisiGuidedSteps (guided forward SDE),
 * DaisiGuidance (the gradient g), DaisiMMPSSolve (the MMPS linear solve) */
PETSC_EXTERN PetscLogEvent DAISI_FilterDAISIInversion, DAISI_FilterDAISIGuidedSteps, DAISI_FilterDAISIGuidance, DAISI_FilterDAISIMMPSSolve;

#endif
