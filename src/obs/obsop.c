#include <daisi/obsop.h>
#include <daisi/sys.h>
#include <math.h>


PetscLogEvent DAISI_ObsOperatorApply = 0, DAISI_ObsOperatorJacobian = 0;

/* One entry per operator type: h and the product h'(x) * v, both elementwise. */
typedef struct {
  const char *name;
  void (*apply)(PetscReal c, PetscInt n, const PetscReal x[], PetscReal hx[]);
  void (*tangent)(PetscReal c, PetscInt n, const PetscReal x[], const PetscReal v[], PetscReal Jv[]);
} ObsOperatorKind;

struct _p_DaisiObsOperator {
  MPI_Comm               comm;
  char                  *prefix;
  const ObsOperatorKind *kind;
  PetscReal              scale; /* c of the squared operator, K */
};

/* The loops read x[i] and v[i] before writing out[i], so outputs may alias inputs. */
static void LinearApply(PetscReal c, PetscInt n, const PetscReal x[], PetscReal hx[])
{
  (void)c;
  for (PetscInt i = 0; i < n; i++) hx[i] = x[i];
}
static void LinearTangent(PetscReal c, PetscInt n, const PetscReal x[], const PetscReal v[], PetscReal Jv[])
{
  (void)c;
  (void)x;
  for (PetscInt i = 0; i < n; i++) Jv[i] = v[i];
}

static void SquaredApply(PetscReal c, PetscInt n, const PetscReal x[], PetscReal hx[])
{
  for (PetscInt i = 0; i < n; i++) {
    const PetscReal s = x[i] / c;
    hx[i]             = s * s;
  }
}
/* d/dx (x/c)^2 = 2 x / c^2 */
static void SquaredTangent(PetscReal c, PetscInt n, const PetscReal x[], const PetscReal v[], PetscReal Jv[])
{
  const PetscReal f = 2.0 / (c * c);
  for (PetscInt i = 0; i < n; i++) Jv[i] = f * x[i] * v[i];
}

static void ArctanApply(PetscReal c, PetscInt n, const PetscReal x[], PetscReal hx[])
{
  (void)c;
  for (PetscInt i = 0; i < n; i++) hx[i] = atan(x[i]);
}
/* d/dx atan(x) = 1 / (1 + x^2); for huge |x| x*x overflows to inf and the result is the
 * correct limit 0 */
static void ArctanTangent(PetscReal c, PetscInt n, const PetscReal x[], const PetscReal v[], PetscReal Jv[])
{
  (void)c;
  for (PetscInt i = 0; i < n; i++) Jv[i] = v[i] / (1.0 + x[i] * x[i]);
}

static const ObsOperatorKind obs_kinds[] = {
  {DAISI_OBS_OPERATOR_LINEAR,  LinearApply,  LinearTangent },
  {DAISI_OBS_OPERATOR_SQUARED, SquaredApply, SquaredTangent},
  {DAISI_OBS_OPERATOR_ARCTAN,  ArctanApply,  ArctanTangent },
};
#define OBS_NKINDS ((PetscInt)(sizeof(obs_kinds) / sizeof(obs_kinds[0])))

PetscErrorCode DaisiObsOperatorCreate(MPI_Comm comm, DaisiObsOperator *op)
{
  PetscFunctionBegin;
  PetscCheck(op, comm, PETSC_ERR_ARG_NULL, "DaisiObsOperatorCreate: output pointer is NULL");
  if (!DAISI_ObsOperatorApply) {
    PetscCall(PetscLogEventRegister("ObsOpApply", DAISI_CLASSID, &DAISI_ObsOperatorApply));
    PetscCall(PetscLogEventRegister("ObsOpJacobian", DAISI_CLASSID, &DAISI_ObsOperatorJacobian));
  }
  PetscCall(PetscNew(op));
  (*op)->comm  = comm;
  (*op)->scale = DAISI_OBS_SQUARED_SCALE_DEFAULT;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorSetType(DaisiObsOperator op, DaisiObsOperatorType type)
{
  PetscBool same;

  PetscFunctionBegin;
  PetscCheck(type, op->comm, PETSC_ERR_ARG_NULL, "observation operator type is NULL (known: linear, squared, arctan)");
  for (PetscInt k = 0; k < OBS_NKINDS; k++) {
    PetscCall(PetscStrcmp(obs_kinds[k].name, type, &same));
    if (same) {
      op->kind = &obs_kinds[k];
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  SETERRQ(op->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown observation operator type '%s' (option -%sobs_operator; known: linear, squared, arctan)", type, op->prefix ? op->prefix : "");
}

PetscErrorCode DaisiObsOperatorGetType(DaisiObsOperator op, DaisiObsOperatorType *type)
{
  PetscFunctionBegin;
  *type = op->kind ? op->kind->name : NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorSetOptionsPrefix(DaisiObsOperator op, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(op->prefix));
  PetscCall(PetscStrallocpy(prefix, &op->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorSetSquaredScale(DaisiObsOperator op, PetscReal c)
{
  PetscFunctionBegin;
  /* c = 0 would divide by zero and a non-finite c poisons every observation */
  PetscCheck(!PetscIsInfOrNanReal(c) && c > 0, op->comm, PETSC_ERR_ARG_OUTOFRANGE, "squared observation operator scale (option -%sobs_squared_scale) must be a positive finite number of K, got %g", op->prefix ? op->prefix : "", (double)c);
  op->scale = c;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorGetSquaredScale(DaisiObsOperator op, PetscReal *c)
{
  PetscFunctionBegin;
  *c = op->scale;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorSetFromOptions(DaisiObsOperator op)
{
  char      type[64];
  PetscReal scale = op->scale;
  PetscBool settype, setscale;

  PetscFunctionBegin;
  /* values are checked after PetscOptionsEnd() so that an error leaves the options
   * database in a clean state */
  PetscOptionsBegin(op->comm, op->prefix, "Observation operator options", "DaisiObsOperator");
  PetscCall(PetscOptionsString("-obs_operator", "Observation operator h (linear, squared, arctan)", "DaisiObsOperatorSetType", op->kind ? op->kind->name : DAISI_OBS_OPERATOR_LINEAR, type, sizeof(type), &settype));
  PetscCall(PetscOptionsReal("-obs_squared_scale", "Scale c (K) of the squared operator h(x) = (x/c)^2", "DaisiObsOperatorSetSquaredScale", scale, &scale, &setscale));
  PetscOptionsEnd();
  if (settype || !op->kind) PetscCall(DaisiObsOperatorSetType(op, settype ? type : DAISI_OBS_OPERATOR_LINEAR));
  if (setscale) PetscCall(DaisiObsOperatorSetSquaredScale(op, scale));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorView(DaisiObsOperator op, PetscViewer viewer)
{
  PetscBool isascii;

  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(op->comm);
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(PETSC_SUCCESS);
  if (!op->kind) PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsOperator: type not set\n"));
  else if (op->kind->apply == SquaredApply) PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsOperator squared: h(x) = (x / %g K)^2\n", (double)op->scale));
  else if (op->kind->apply == ArctanApply) PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsOperator arctan: h(x) = atan(x), x in K\n"));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsOperator linear: h(x) = x\n"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorDestroy(DaisiObsOperator *op)
{
  PetscFunctionBegin;
  if (!op || !*op) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree((*op)->prefix));
  PetscCall(PetscFree(*op));
  PetscFunctionReturn(PETSC_SUCCESS);
}

#define DaisiObsOperatorCheckUsable(op, n) \
  do { \
    PetscCheck((op)->kind, (op)->comm, PETSC_ERR_ORDER, "observation operator type not set: call DaisiObsOperatorSetType() or DaisiObsOperatorSetFromOptions() first"); \
    PetscCheck((n) >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "number of observations must be >= 0, got %" PetscInt_FMT, (PetscInt)(n)); \
  } while (0)

PetscErrorCode DaisiObsOperatorApply(DaisiObsOperator op, PetscInt n, const PetscReal x[], PetscReal hx[])
{
  PetscFunctionBegin;
  DaisiObsOperatorCheckUsable(op, n);
  PetscCall(PetscLogEventBegin(DAISI_ObsOperatorApply, 0, 0, 0, 0));
  op->kind->apply(op->scale, n, x, hx);
  PetscCall(PetscLogFlops(op->kind->apply == LinearApply ? 0.0 : 2.0 * n));
  PetscCall(PetscLogEventEnd(DAISI_ObsOperatorApply, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsOperatorJacobianApply(DaisiObsOperator op, PetscInt n, const PetscReal x[], const PetscReal v[], PetscReal Jv[])
{
  PetscFunctionBegin;
  DaisiObsOperatorCheckUsable(op, n);
  PetscCall(PetscLogEventBegin(DAISI_ObsOperatorJacobian, 0, 0, 0, 0));
  op->kind->tangent(op->scale, n, x, v, Jv);
  PetscCall(PetscLogFlops(op->kind->apply == LinearApply ? 0.0 : 3.0 * n));
  PetscCall(PetscLogEventEnd(DAISI_ObsOperatorJacobian, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* J is diagonal, so J^T w is the same elementwise product */
PetscErrorCode DaisiObsOperatorJacobianTransposeApply(DaisiObsOperator op, PetscInt n, const PetscReal x[], const PetscReal w[], PetscReal JTw[])
{
  PetscFunctionBegin;
  DaisiObsOperatorCheckUsable(op, n);
  PetscCall(PetscLogEventBegin(DAISI_ObsOperatorJacobian, 0, 0, 0, 0));
  op->kind->tangent(op->scale, n, x, w, JTw);
  PetscCall(PetscLogFlops(op->kind->apply == LinearApply ? 0.0 : 3.0 * n));
  PetscCall(PetscLogEventEnd(DAISI_ObsOperatorJacobian, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}
