/* DaisiOptimizer: AdamW with warm-up and cosine learning-rate schedule, global-norm gradient
 * clipping and an exponential moving average (EMA) of the weights, for a flat float32
 * parameter array (DaisiNetGetParameters). Used by daisi-train (docs/training.md).
 *
 * One step k = 1, 2, ... with gradient g (already summed over the whole minibatch and
 * identical on every rank):
 *   lr_k   = lr k / W                                              k <= W (warm-up)
 *          = lr_min + (lr - lr_min) (1 + cos(pi (k - W) / (S - W))) / 2   W < k <= S
 *   g     <- g min(1, c / |g|)             (clipping to global norm c; c = 0: off)
 *   m      = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
 *   theta <- theta (1 - lr_k wd) - lr_k (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)
 *   ema    = d_k ema + (1 - d_k) theta,  d_k = min(d, (1 + k) / (10 + k))
 * (decoupled weight decay as Loshchilov & Hutter; the EMA's warm-up keeps early averages from
 * being dominated by the random initial weights). Arithmetic is per element in double with
 * state kept in float32, so results do not depend on the rank count.
 *
 * Lifecycle: DaisiOptimizerCreate(comm, n, &o); DaisiOptimizerSetFromOptions(o);
 * DaisiOptimizerSetUp(o, theta0); per step DaisiOptimizerStep(o, theta, grad, &info);
 * DaisiOptimizerGetEMA(o, &ema); DaisiOptimizerDestroy(&o). The state (m, v, ema, k) is
 * exposed for checkpoints by DaisiOptimizerGetState / SetState. */
#ifndef DAISI_OPTIM_H
#define DAISI_OPTIM_H

#include <petscviewer.h>

typedef struct _p_DaisiOptimizer *DaisiOptimizer;

typedef struct {
  PetscReal lr;        /* learning rate used by this step */
  PetscReal gnorm;     /* gradient norm before clipping */
  PetscBool clipped;   /* the gradient was scaled down */
} DaisiOptimizerStepInfo;

PETSC_EXTERN PetscErrorCode DaisiOptimizerCreate(MPI_Comm comm, PetscInt n, DaisiOptimizer *o);
/* -train_lr, -train_lr_min, -train_warmup, -train_steps, -train_weight_decay, -train_beta1,
 * -train_beta2, -train_adam_eps, -train_clip, -train_ema (the prefix replaces "train_") */
PETSC_EXTERN PetscErrorCode DaisiOptimizerSetOptionsPrefix(DaisiOptimizer o, const char prefix[]);
PETSC_EXTERN PetscErrorCode DaisiOptimizerSetFromOptions(DaisiOptimizer o);
/* total steps S of the schedule and warm-up W (also options) */
PETSC_EXTERN PetscErrorCode DaisiOptimizerSetSchedule(DaisiOptimizer o, PetscReal lr, PetscReal lr_min, PetscInt warmup, PetscInt steps);
PETSC_EXTERN PetscErrorCode DaisiOptimizerGetSchedule(DaisiOptimizer o, PetscReal *lr, PetscReal *lr_min, PetscInt *warmup, PetscInt *steps);
/* zero moments, ema = theta0, k = 0 */
PETSC_EXTERN PetscErrorCode DaisiOptimizerSetUp(DaisiOptimizer o, const float theta0[]);
PETSC_EXTERN PetscErrorCode DaisiOptimizerView(DaisiOptimizer o, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiOptimizerDestroy(DaisiOptimizer *o);

/* learning rate of step k (1-based) */
PETSC_EXTERN PetscErrorCode DaisiOptimizerLearningRate(DaisiOptimizer o, PetscInt64 k, PetscReal *lr);
/* one step: updates theta in place (grad may be scaled in place by the clipping) */
PETSC_EXTERN PetscErrorCode DaisiOptimizerStep(DaisiOptimizer o, float theta[], float grad[], DaisiOptimizerStepInfo *info);
PETSC_EXTERN PetscErrorCode DaisiOptimizerGetEMA(DaisiOptimizer o, const float **ema);
/* state for checkpoints: steps taken, and the arrays m, v, ema (n values each) */
PETSC_EXTERN PetscErrorCode DaisiOptimizerGetState(DaisiOptimizer o, PetscInt64 *k, float **m, float **v, float **ema);
PETSC_EXTERN PetscErrorCode DaisiOptimizerSetStep(DaisiOptimizer o, PetscInt64 k);
/* a text of every setting that changes the trajectory (compared on resume) */
PETSC_EXTERN PetscErrorCode DaisiOptimizerGetSignature(DaisiOptimizer o, char sig[], size_t len);

PETSC_EXTERN PetscLogEvent DAISI_OptimizerStep;

#endif
