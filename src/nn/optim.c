/* AdamW with warm-up + cosine schedule, gradient clipping and a weight EMA (include/daisi/optim.h). */
#include <daisi/optim.h>
#include <daisi/sys.h>

PetscLogEvent DAISI_OptimizerStep = 0;

struct _p_DaisiOptimizer {
  MPI_Comm   comm;
  char      *prefix;
  PetscInt   n, warmup, steps;
  PetscReal  lr, lr_min, wd, beta1, beta2, eps, clip, ema_decay;
  PetscInt64 k;
  float     *m, *v, *ema;
  PetscBool  setup;
};

PetscErrorCode DaisiOptimizerCreate(MPI_Comm comm, PetscInt n, DaisiOptimizer *o)
{
  PetscFunctionBegin;
  PetscCheck(n >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "optimizer: %" PetscInt_FMT " parameters", n);
  if (!DAISI_OptimizerStep) PetscCall(PetscLogEventRegister("OptimizerStep", DAISI_CLASSID, &DAISI_OptimizerStep));
  PetscCall(PetscNew(o));
  (*o)->comm      = comm;
  (*o)->n         = n;
  (*o)->lr        = 1e-3;
  (*o)->lr_min    = 1e-5;
  (*o)->warmup    = 200;
  (*o)->steps     = 10000;
  (*o)->wd        = 1e-2;
  (*o)->beta1     = 0.9;
  (*o)->beta2     = 0.999;
  (*o)->eps       = 1e-8;
  (*o)->clip      = 1.0;
  (*o)->ema_decay = 0.999;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerSetOptionsPrefix(DaisiOptimizer o, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(o->prefix));
  PetscCall(PetscStrallocpy(prefix, &o->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiOptimizerCheck(DaisiOptimizer o)
{
  PetscFunctionBegin;
  PetscCheck(o->lr > 0 && PetscIsNormalReal(o->lr), o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_lr %g must be positive", (double)o->lr);
  PetscCheck(o->lr_min >= 0 && o->lr_min <= o->lr, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_lr_min %g must lie in [0, -train_lr %g]", (double)o->lr_min, (double)o->lr);
  PetscCheck(o->steps >= 1, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_steps %" PetscInt_FMT " must be at least 1", o->steps);
  PetscCheck(o->warmup >= 0 && o->warmup < o->steps, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_warmup %" PetscInt_FMT " must lie in [0, -train_steps %" PetscInt_FMT ")", o->warmup, o->steps);
  PetscCheck(o->wd >= 0 && o->wd * o->lr < 1, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_weight_decay %g must be >= 0 with weight_decay * lr < 1", (double)o->wd);
  PetscCheck(o->beta1 >= 0 && o->beta1 < 1, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_beta1 %g must lie in [0, 1)", (double)o->beta1);
  PetscCheck(o->beta2 >= 0 && o->beta2 < 1, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_beta2 %g must lie in [0, 1)", (double)o->beta2);
  PetscCheck(o->eps > 0, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_adam_eps %g must be positive", (double)o->eps);
  PetscCheck(o->clip >= 0, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_clip %g must be >= 0 (0: no clipping)", (double)o->clip);
  PetscCheck(o->ema_decay >= 0 && o->ema_decay < 1, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "-train_ema %g must lie in [0, 1)", (double)o->ema_decay);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerSetFromOptions(DaisiOptimizer o)
{
  const char *p = o->prefix ? o->prefix : "train_";
  char        name[14][64];
  const char *base[] = {"lr", "lr_min", "warmup", "steps", "weight_decay", "beta1", "beta2", "adam_eps", "clip", "ema"};

  PetscFunctionBegin;
  for (int i = 0; i < 10; i++) PetscCall(PetscSNPrintf(name[i], sizeof(name[i]), "-%s%s", p, base[i]));
  PetscOptionsBegin(o->comm, NULL, "AdamW optimizer", "DaisiOptimizer");
  PetscCall(PetscOptionsReal(name[0], "Peak learning rate", "", o->lr, &o->lr, NULL));
  PetscCall(PetscOptionsReal(name[1], "Final learning rate of the cosine schedule", "", o->lr_min, &o->lr_min, NULL));
  PetscCall(PetscOptionsInt(name[2], "Linear warm-up steps", "", o->warmup, &o->warmup, NULL));
  PetscCall(PetscOptionsInt(name[3], "Total optimiser steps (length of the schedule)", "", o->steps, &o->steps, NULL));
  PetscCall(PetscOptionsReal(name[4], "Decoupled weight decay", "", o->wd, &o->wd, NULL));
  PetscCall(PetscOptionsReal(name[5], "Adam beta1", "", o->beta1, &o->beta1, NULL));
  PetscCall(PetscOptionsReal(name[6], "Adam beta2", "", o->beta2, &o->beta2, NULL));
  PetscCall(PetscOptionsReal(name[7], "Adam epsilon", "", o->eps, &o->eps, NULL));
  PetscCall(PetscOptionsReal(name[8], "Clip the gradient to this global norm (0: off)", "", o->clip, &o->clip, NULL));
  PetscCall(PetscOptionsReal(name[9], "Decay of the exponential moving average of the weights", "", o->ema_decay, &o->ema_decay, NULL));
  PetscOptionsEnd();
  PetscCall(DaisiOptimizerCheck(o));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerSetSchedule(DaisiOptimizer o, PetscReal lr, PetscReal lr_min, PetscInt warmup, PetscInt steps)
{
  PetscFunctionBegin;
  o->lr     = lr;
  o->lr_min = lr_min;
  o->warmup = warmup;
  o->steps  = steps;
  PetscCall(DaisiOptimizerCheck(o));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerGetSchedule(DaisiOptimizer o, PetscReal *lr, PetscReal *lr_min, PetscInt *warmup, PetscInt *steps)
{
  PetscFunctionBegin;
  if (lr) *lr = o->lr;
  if (lr_min) *lr_min = o->lr_min;
  if (warmup) *warmup = o->warmup;
  if (steps) *steps = o->steps;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerSetUp(DaisiOptimizer o, const float theta0[])
{
  PetscFunctionBegin;
  if (!o->m) PetscCall(PetscMalloc3(o->n, &o->m, o->n, &o->v, o->n, &o->ema));
  PetscCall(PetscArrayzero(o->m, o->n));
  PetscCall(PetscArrayzero(o->v, o->n));
  PetscCall(PetscArraycpy(o->ema, theta0, o->n));
  o->k     = 0;
  o->setup = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerView(DaisiOptimizer o, PetscViewer viewer)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "AdamW: %" PetscInt_FMT " parameters, lr %g (warm-up %" PetscInt_FMT " steps, cosine to %g at step %" PetscInt_FMT "), betas %g %g, eps %g, weight decay %g, clip %g, EMA decay %g\n", o->n, (double)o->lr, o->warmup, (double)o->lr_min, o->steps, (double)o->beta1, (double)o->beta2, (double)o->eps, (double)o->wd, (double)o->clip, (double)o->ema_decay));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerDestroy(DaisiOptimizer *o)
{
  PetscFunctionBegin;
  if (!*o) PetscFunctionReturn(PETSC_SUCCESS);
  if ((*o)->m) PetscCall(PetscFree3((*o)->m, (*o)->v, (*o)->ema));
  PetscCall(PetscFree((*o)->prefix));
  PetscCall(PetscFree(*o));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerLearningRate(DaisiOptimizer o, PetscInt64 k, PetscReal *lr)
{
  PetscFunctionBegin;
  if (k <= o->warmup) *lr = o->lr * (PetscReal)k / (PetscReal)PetscMax(o->warmup, 1);
  else if (k >= o->steps) *lr = o->lr_min;
  else *lr = o->lr_min + 0.5 * (o->lr - o->lr_min) * (1.0 + PetscCosReal(PETSC_PI * (PetscReal)(k - o->warmup) / (PetscReal)(o->steps - o->warmup)));
  if (o->warmup == 0 && k == 0) *lr = o->lr;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerStep(DaisiOptimizer o, float theta[], float grad[], DaisiOptimizerStepInfo *info)
{
  double    g2 = 0, scale = 1, lr, bc1, bc2, d;
  PetscReal lrk;

  PetscFunctionBegin;
  PetscCheck(o->setup, o->comm, PETSC_ERR_ORDER, "call DaisiOptimizerSetUp() first");
  PetscCall(PetscLogEventBegin(DAISI_OptimizerStep, 0, 0, 0, 0));
  for (PetscInt i = 0; i < o->n; i++) g2 += (double)grad[i] * (double)grad[i];
  PetscCheck(PetscIsNormalReal((PetscReal)g2) || g2 == 0, o->comm, PETSC_ERR_FP, "optimizer step %" PetscInt64_FMT ": the gradient is not finite (diverged training; lower -train_lr or raise -train_warmup)", o->k + 1);
  if (o->clip > 0 && PetscSqrtReal(g2) > o->clip) scale = o->clip / PetscSqrtReal(g2);
  o->k++;
  PetscCall(DaisiOptimizerLearningRate(o, o->k, &lrk));
  lr  = lrk;
  bc1 = 1.0 - PetscPowReal(o->beta1, (PetscReal)o->k);
  bc2 = 1.0 - PetscPowReal(o->beta2, (PetscReal)o->k);
  d   = PetscMin(o->ema_decay, (1.0 + (double)o->k) / (10.0 + (double)o->k));
  for (PetscInt i = 0; i < o->n; i++) {
    const double g = scale * (double)grad[i];
    const double m = o->beta1 * (double)o->m[i] + (1.0 - o->beta1) * g;
    const double v = o->beta2 * (double)o->v[i] + (1.0 - o->beta2) * g * g;
    double       t = (double)theta[i] * (1.0 - lr * o->wd);
    t -= lr * (m / bc1) / (sqrt(v / bc2) + o->eps);
    o->m[i]   = (float)m;
    o->v[i]   = (float)v;
    theta[i]  = (float)t;
    grad[i]   = (float)g;
    o->ema[i] = (float)(d * (double)o->ema[i] + (1.0 - d) * t);
  }
  if (info) {
    info->lr      = lrk;
    info->gnorm   = PetscSqrtReal(g2);
    info->clipped = (PetscBool)(scale < 1);
  }
  PetscCall(PetscLogEventEnd(DAISI_OptimizerStep, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerGetEMA(DaisiOptimizer o, const float **ema)
{
  PetscFunctionBegin;
  *ema = o->ema;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerGetState(DaisiOptimizer o, PetscInt64 *k, float **m, float **v, float **ema)
{
  PetscFunctionBegin;
  PetscCheck(o->setup, o->comm, PETSC_ERR_ORDER, "call DaisiOptimizerSetUp() first");
  if (k) *k = o->k;
  if (m) *m = o->m;
  if (v) *v = o->v;
  if (ema) *ema = o->ema;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerSetStep(DaisiOptimizer o, PetscInt64 k)
{
  PetscFunctionBegin;
  PetscCheck(k >= 0, o->comm, PETSC_ERR_ARG_OUTOFRANGE, "optimizer step %" PetscInt64_FMT " < 0", k);
  o->k = k;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiOptimizerGetSignature(DaisiOptimizer o, char sig[], size_t len)
{
  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(sig, len, "n=%" PetscInt_FMT " lr=%.17g lr_min=%.17g warmup=%" PetscInt_FMT " steps=%" PetscInt_FMT " wd=%.17g beta1=%.17g beta2=%.17g eps=%.17g clip=%.17g ema=%.17g", o->n, (double)o->lr, (double)o->lr_min, o->warmup, o->steps, (double)o->wd, (double)o->beta1, (double)o->beta2, (double)o->eps, (double)o->clip, (double)o->ema_decay));
  PetscFunctionReturn(PETSC_SUCCESS);
}
