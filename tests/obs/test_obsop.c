/* Observation operators: values against closed forms, Jacobian products against central
 * finite differences over a wide range of x (including huge |x| for arctan), the adjoint
 * identity <w, J v> = <J^T w, v>, options, and clear errors for bad types and scales. */
#include <daisi/obsop.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <daisitest.h>
#include <float.h>
#include <math.h>
#include <string.h>

static const char help[] = "Tests DaisiObsOperator.\n";

/* Central difference of h at x with a step relative to |x|. The tolerance is the
 * truncation error (relative, O(step^2)) plus the rounding of h(x +- step) divided
 * by the step. Returns whether J matches within tol; *err, *tol for messages. */
static PetscErrorCode FiniteDifferenceMatches(DaisiObsOperator op, PetscReal x, PetscReal J, PetscBool *ok, PetscReal *fd, PetscReal *tol)
{
  PetscReal e = 1e-4 * PetscMax(1.0, PetscAbsReal(x)), xs[2], hs[2];

  PetscFunctionBegin;
  xs[0] = x + e;
  xs[1] = x - e;
  e     = 0.5 * (xs[0] - xs[1]); /* the step actually taken in floating point */
  PetscCall(DaisiObsOperatorApply(op, 2, xs, hs));
  *fd  = (hs[0] - hs[1]) / (2 * e);
  *tol = 1e-7 * PetscAbsReal(J) + 8 * DBL_EPSILON * (PetscAbsReal(hs[0]) + PetscAbsReal(hs[1])) / (2 * e);
  *ok  = PetscAbsReal(*fd - J) <= *tol ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestType(const char *type, PetscReal (*exact)(PetscReal), PetscReal (*dexact)(PetscReal))
{
  DaisiObsOperator op;
  const PetscInt   n = 601;
  PetscReal       *x, *v, *w, *hx, *Jv, *JTw, *Jones, ip1 = 0, ip2 = 0, nrm = 0;
  DaisiRng         rng = DaisiRngMake(7, DAISI_RNG_TEST, 0, 0, 0);
  PetscInt         nfd = 0, ndetect = 0;

  PetscFunctionBegin;
  PetscCall(DaisiObsOperatorCreate(PETSC_COMM_SELF, &op));
  PetscCall(DaisiObsOperatorSetType(op, type));
  PetscCall(PetscMalloc7(n, &x, n, &v, n, &w, n, &hx, n, &Jv, n, &JTw, n, &Jones));
  /* x from -1e6 to 1e6 K on a log scale on both sides of 0, plus 0 and small values */
  for (PetscInt i = 0; i < n; i++) {
    const PetscInt  j = i - n / 2;
    const PetscReal a = PetscPowReal(10.0, -3.0 + 9.0 * (PetscAbsInt(j) - 1) / (n / 2 - 1));
    x[i]              = j == 0 ? 0.0 : (j > 0 ? a : -a);
    v[i]              = DaisiRngNormal(&rng, (uint64_t)i);
    w[i]              = DaisiRngNormal(&rng, (uint64_t)(n + i));
    Jones[i]          = 1.0;
  }
  PetscCall(DaisiObsOperatorApply(op, n, x, hx));
  for (PetscInt i = 0; i < n; i++) {
    const PetscReal h = exact(x[i]);
    EXPECT(PetscAbsReal(hx[i] - h) <= 4 * DBL_EPSILON * PetscAbsReal(h), "%s: h(%g) = %.17g, expected %.17g", type, (double)x[i], (double)hx[i], (double)h);
  }
  /* the diagonal of J at x: J times a vector of ones */
  PetscCall(DaisiObsOperatorJacobianApply(op, n, x, Jones, Jones));
  for (PetscInt i = 0; i < n; i++) {
    PetscBool ok;
    PetscReal fd, tol, d = dexact(x[i]);

    EXPECT(PetscAbsReal(Jones[i] - d) <= 4 * DBL_EPSILON * PetscAbsReal(d), "%s: h'(%g) = %.17g, expected %.17g", type, (double)x[i], (double)Jones[i], (double)d);
    PetscCall(FiniteDifferenceMatches(op, x[i], Jones[i], &ok, &fd, &tol));
    EXPECT(ok, "%s: h'(%g) = %.17g but central difference gives %.17g (tol %g)", type, (double)x[i], (double)Jones[i], (double)fd, (double)tol);
    nfd++;
    /* the check must be able to fail: a derivative off by 1e-4 (relative) is caught
     * wherever the derivative is not zero */
    if (d != 0) {
      PetscCall(FiniteDifferenceMatches(op, x[i], d * (1 + 1e-4), &ok, &fd, &tol));
      if (!ok) ndetect++;
    }
  }
  EXPECT(ndetect >= n - 1, "%s: finite differences detected a 1e-4 derivative error at only %" PetscInt_FMT " of %" PetscInt_FMT " points", type, ndetect, n - 1);
  /* J v and J^T w against the diagonal, and the adjoint identity */
  PetscCall(DaisiObsOperatorJacobianApply(op, n, x, v, Jv));
  PetscCall(DaisiObsOperatorJacobianTransposeApply(op, n, x, w, JTw));
  for (PetscInt i = 0; i < n; i++) {
    EXPECT(PetscAbsReal(Jv[i] - Jones[i] * v[i]) <= 4 * DBL_EPSILON * PetscAbsReal(Jv[i]), "%s: (J v)[%" PetscInt_FMT "] wrong", type, i);
    ip1 += w[i] * Jv[i];
    ip2 += JTw[i] * v[i];
    nrm += PetscAbsReal(w[i] * Jv[i]);
  }
  EXPECT(PetscAbsReal(ip1 - ip2) <= 1e-14 * nrm, "%s: adjoint identity <w, J v> = %.17g but <J^T w, v> = %.17g", type, (double)ip1, (double)ip2);
  /* outputs may alias inputs */
  for (PetscInt i = 0; i < n; i++) Jv[i] = v[i];
  PetscCall(DaisiObsOperatorJacobianTransposeApply(op, n, x, Jv, Jv));
  for (PetscInt i = 0; i < n; i++) EXPECT(Jv[i] == Jones[i] * v[i] || PetscAbsReal(Jv[i] - Jones[i] * v[i]) <= 4 * DBL_EPSILON * PetscAbsReal(Jv[i]), "%s: in-place J^T w wrong at %" PetscInt_FMT, type, i);
  PetscCall(PetscInfo(NULL, "%s: %" PetscInt_FMT " finite-difference checks\n", type, nfd));
  PetscCall(PetscFree7(x, v, w, hx, Jv, JTw, Jones));
  PetscCall(DaisiObsOperatorDestroy(&op));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscReal LinearH(PetscReal x)
{
  return x;
}
static PetscReal LinearD(PetscReal x)
{
  (void)x;
  return 1.0;
}
static PetscReal SquaredH(PetscReal x)
{
  return (x / 7.0) * (x / 7.0);
}
static PetscReal SquaredD(PetscReal x)
{
  return 2.0 * x / 49.0;
}
static PetscReal ArctanH(PetscReal x)
{
  return atan(x);
}
static PetscReal ArctanD(PetscReal x)
{
  return 1.0 / (1.0 + x * x);
}

/* closed-form values the scenarios rely on, and the option interface */
static PetscErrorCode TestOptionsAndErrors(void)
{
  DaisiObsOperator     op;
  DaisiObsOperatorType type;
  PetscReal            x[3] = {7.0, -14.0, 1.0}, hx[3], c;
  PetscErrorCode       ierr;

  PetscFunctionBegin;
  PetscCall(DaisiObsOperatorCreate(PETSC_COMM_WORLD, &op));
  /* default: linear */
  PetscCall(DaisiObsOperatorSetFromOptions(op));
  PetscCall(DaisiObsOperatorGetType(op, &type));
  EXPECT(type && !strcmp(type, DAISI_OBS_OPERATOR_LINEAR), "default type is '%s', expected linear", type ? type : "(null)");
  PetscCall(DaisiObsOperatorGetSquaredScale(op, &c));
  EXPECT(c == 7.0, "default squared scale %g, expected 7 K", (double)c);

  /* multimodal scenario: (7/7)^2 = 1, (-14/7)^2 = 4 */
  PetscCall(PetscOptionsSetValue(NULL, "-obs_operator", "squared"));
  PetscCall(DaisiObsOperatorSetFromOptions(op));
  PetscCall(DaisiObsOperatorApply(op, 3, x, hx));
  EXPECT(hx[0] == 1.0 && hx[1] == 4.0 && PetscAbsReal(hx[2] - 1.0 / 49.0) <= DBL_EPSILON, "squared: h(7, -14, 1) = %g %g %g", (double)hx[0], (double)hx[1], (double)hx[2]);
  PetscCall(PetscOptionsSetValue(NULL, "-obs_squared_scale", "2"));
  PetscCall(DaisiObsOperatorSetFromOptions(op));
  PetscCall(DaisiObsOperatorApply(op, 3, x, hx));
  EXPECT(PetscAbsReal(hx[0] - 12.25) <= 1e-15 * 12.25 && hx[1] == 49.0, "squared with -obs_squared_scale 2: h(7, -14) = %g %g", (double)hx[0], (double)hx[1]);
  PetscCall(DaisiObsOperatorView(op, PETSC_VIEWER_STDOUT_WORLD));

  /* saturating scenario: atan(1) = pi/4 */
  PetscCall(PetscOptionsSetValue(NULL, "-obs_operator", "arctan"));
  PetscCall(DaisiObsOperatorSetFromOptions(op));
  PetscCall(DaisiObsOperatorApply(op, 3, x, hx));
  EXPECT(PetscAbsReal(hx[2] - PETSC_PI / 4) <= DBL_EPSILON, "arctan: h(1) = %.17g, expected pi/4", (double)hx[2]);
  PetscCall(DaisiObsOperatorView(op, PETSC_VIEWER_STDOUT_WORLD));

  /* errors come back as codes (quietly) and leave the object usable */
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiObsOperatorSetType(op, "cubic");
  PetscCall(PetscPopErrorHandler());
  EXPECT(ierr == PETSC_ERR_ARG_UNKNOWN_TYPE, "SetType(\"cubic\") returned %d, expected PETSC_ERR_ARG_UNKNOWN_TYPE", (int)ierr);
  PetscCall(PetscOptionsSetValue(NULL, "-obs_operator", "cubic"));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiObsOperatorSetFromOptions(op);
  PetscCall(PetscPopErrorHandler());
  EXPECT(ierr == PETSC_ERR_ARG_UNKNOWN_TYPE, "-obs_operator cubic returned %d, expected PETSC_ERR_ARG_UNKNOWN_TYPE", (int)ierr);
  PetscCall(DaisiObsOperatorGetType(op, &type));
  EXPECT(type && !strcmp(type, DAISI_OBS_OPERATOR_ARCTAN), "a failed SetType changed the type to '%s'", type ? type : "(null)");
  PetscCall(PetscOptionsSetValue(NULL, "-obs_operator", "squared"));
  PetscCall(PetscOptionsSetValue(NULL, "-obs_squared_scale", "0"));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiObsOperatorSetFromOptions(op);
  PetscCall(PetscPopErrorHandler());
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "-obs_squared_scale 0 returned %d, expected PETSC_ERR_ARG_OUTOFRANGE", (int)ierr);
  PetscCall(DaisiObsOperatorGetSquaredScale(op, &c));
  EXPECT(c == 2.0, "a rejected scale changed the scale to %g", (double)c);
  PetscCall(PetscOptionsClearValue(NULL, "-obs_operator"));
  PetscCall(PetscOptionsClearValue(NULL, "-obs_squared_scale"));
  PetscCall(DaisiObsOperatorDestroy(&op));

  /* an operator without a type refuses to apply */
  PetscCall(DaisiObsOperatorCreate(PETSC_COMM_WORLD, &op));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiObsOperatorApply(op, 3, x, hx);
  PetscCall(PetscPopErrorHandler());
  EXPECT(ierr == PETSC_ERR_ORDER, "Apply without a type returned %d, expected PETSC_ERR_ORDER", (int)ierr);
  PetscCall(DaisiObsOperatorDestroy(&op));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(TestType(DAISI_OBS_OPERATOR_LINEAR, LinearH, LinearD));
  PetscCall(TestType(DAISI_OBS_OPERATOR_SQUARED, SquaredH, SquaredD));
  PetscCall(TestType(DAISI_OBS_OPERATOR_ARCTAN, ArctanH, ArctanD));
  PetscCall(TestOptionsAndErrors());
  PetscCall(FinishTest("obs operator"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
