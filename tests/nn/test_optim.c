/* DaisiOptimizer (AdamW, schedule, clipping, EMA) against closed forms:
 *  - the schedule: linear warm-up to lr at W, cosine midpoint (lr + lr_min)/2, lr_min at S;
 *  - a constant gradient g: Adam's bias-corrected moments are exactly g and g^2, so each step
 *    moves theta by -lr_k sign(g) |g| / (|g| + eps) after the decoupled decay theta (1 - lr_k wd);
 *  - clipping scales the gradient to the global norm c and reports the norm before;
 *  - the EMA follows ema_k = d_k ema_{k-1} + (1 - d_k) theta_k with d_k = min(d, (1+k)/(10+k));
 *  - a non-finite gradient is refused, naming the step. */
#include <daisi/optim.h>
#include <daisi/sys.h>
#include "../common/daisitest.h"

int main(int argc, char **argv)
{
  DaisiOptimizer         o;
  DaisiOptimizerStepInfo info;
  const PetscInt         n = 4, W = 5, S = 25;
  const PetscReal        lr = 1e-2, lrmin = 1e-4, wd = 0.1, d = 0.9;
  float                  theta[4] = {1.0f, -2.0f, 0.5f, 3.0f}, grad[4], g0[4] = {0.3f, -0.2f, 1e-3f, -4.0f};
  double                 ref[4], eref[4];
  const float           *ema;
  PetscReal              r;

  PetscCall(DaisiInitialize(&argc, &argv, NULL));
  PetscCall(DaisiOptimizerCreate(PETSC_COMM_SELF, n, &o));
  PetscCall(DaisiOptimizerSetFromOptions(o));
  PetscCall(DaisiOptimizerSetSchedule(o, lr, lrmin, W, S));
  PetscCall(PetscOptionsSetValue(NULL, "-train_clip", "0"));
  PetscCall(PetscOptionsSetValue(NULL, "-train_weight_decay", "0.1"));
  PetscCall(PetscOptionsSetValue(NULL, "-train_ema", "0.9"));
  PetscCall(PetscOptionsSetValue(NULL, "-train_lr", "1e-2"));
  PetscCall(PetscOptionsSetValue(NULL, "-train_lr_min", "1e-4"));
  PetscCall(PetscOptionsSetValue(NULL, "-train_warmup", "5"));
  PetscCall(PetscOptionsSetValue(NULL, "-train_steps", "25"));
  PetscCall(DaisiOptimizerSetFromOptions(o));

  /* schedule */
  PetscCall(DaisiOptimizerLearningRate(o, 1, &r));
  EXPECT(PetscAbsReal(r - lr / W) < 1e-15, "warm-up lr(1) = %g, expected %g", (double)r, (double)(lr / W));
  PetscCall(DaisiOptimizerLearningRate(o, W, &r));
  EXPECT(PetscAbsReal(r - lr) < 1e-15, "lr(W) = %g", (double)r);
  PetscCall(DaisiOptimizerLearningRate(o, (W + S) / 2, &r));
  EXPECT(PetscAbsReal(r - 0.5 * (lr + lrmin)) < 1e-12, "cosine midpoint %g, expected %g", (double)r, 0.5 * (lr + lrmin));
  PetscCall(DaisiOptimizerLearningRate(o, S, &r));
  EXPECT(PetscAbsReal(r - lrmin) < 1e-15, "lr(S) = %g", (double)r);

  /* constant gradient: closed-form Adam steps with decoupled decay, and the EMA */
  PetscCall(DaisiOptimizerSetUp(o, theta));
  for (PetscInt i = 0; i < n; i++) ref[i] = eref[i] = theta[i];
  for (PetscInt k = 1; k <= 12; k++) {
    PetscReal lk, dk = PetscMin(d, (1.0 + k) / (10.0 + k));
    PetscCall(DaisiOptimizerLearningRate(o, k, &lk));
    for (PetscInt i = 0; i < n; i++) grad[i] = g0[i];
    PetscCall(DaisiOptimizerStep(o, theta, grad, &info));
    EXPECT(!info.clipped && PetscAbsReal(info.lr - lk) < 1e-15, "step %" PetscInt_FMT ": lr %g, clipped %d", k, (double)info.lr, (int)info.clipped);
    for (PetscInt i = 0; i < n; i++) {
      const double g = g0[i];
      ref[i]         = ref[i] * (1 - lk * wd) - lk * g / (PetscAbsReal(g) + 1e-8);
      eref[i]        = dk * eref[i] + (1 - dk) * ref[i];
    }
  }
  PetscCall(DaisiOptimizerGetEMA(o, &ema));
  for (PetscInt i = 0; i < n; i++) {
    EXPECT(PetscAbsReal(theta[i] - ref[i]) < 2e-6 * (1 + PetscAbsReal(ref[i])), "theta[%" PetscInt_FMT "] = %.8g, closed form %.8g", i, (double)theta[i], ref[i]);
    EXPECT(PetscAbsReal(ema[i] - eref[i]) < 2e-6 * (1 + PetscAbsReal(eref[i])), "ema[%" PetscInt_FMT "] = %.8g, closed form %.8g", i, (double)ema[i], eref[i]);
  }

  /* clipping to the global norm */
  PetscCall(PetscOptionsSetValue(NULL, "-train_clip", "0.5"));
  PetscCall(DaisiOptimizerSetFromOptions(o));
  for (PetscInt i = 0; i < n; i++) grad[i] = g0[i];
  PetscCall(DaisiOptimizerStep(o, theta, grad, &info));
  {
    double g2 = 0, c2 = 0;
    for (PetscInt i = 0; i < n; i++) {
      g2 += (double)g0[i] * g0[i];
      c2 += (double)grad[i] * grad[i];
    }
    EXPECT(info.clipped && PetscAbsReal(info.gnorm - PetscSqrtReal(g2)) < 1e-6 * PetscSqrtReal(g2), "reported norm %g, expected %g", (double)info.gnorm, PetscSqrtReal(g2));
    EXPECT(PetscAbsReal(PetscSqrtReal(c2) - 0.5) < 1e-6, "clipped norm %g, expected 0.5", PetscSqrtReal(c2));
  }

  /* a NaN gradient is an error naming the step */
  {
    PetscErrorCode ierr;
    grad[2] = NAN;
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr = DaisiOptimizerStep(o, theta, grad, &info);
    PetscCall(PetscPopErrorHandler());
    EXPECT(ierr == PETSC_ERR_FP, "NaN gradient accepted (error %d)", (int)ierr);
  }
  PetscCall(DaisiOptimizerDestroy(&o));
  PetscCall(FinishTest("optim"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
