/* DaisiObsOperator: the pointwise observation operator h of the SQG scenarios.
 *
 * h acts elementwise on theta (K) sampled at the observation sites:
 *   linear     h(x) = x                       (noisy, sparse scenarios)
 *   squared    h(x) = (x / c)^2, c = 7 K      (multimodal: the sign of theta is lost)
 *   arctan     h(x) = atan(x)                 (saturating: large |theta| is barely seen)
 * Observations are in the units of h(theta in K).
 *
 * Lifecycle, in the PETSc manner:
 *   DaisiObsOperatorCreate(comm, &op);  DaisiObsOperatorSetType(op, DAISI_OBS_OPERATOR_ARCTAN);
 *   DaisiObsOperatorSetFromOptions(op);  ...  DaisiObsOperatorDestroy(&op);
 * Options: -obs_operator <linear|squared|arctan>, -obs_squared_scale <c in K>.
 *
 * Guided samplers and variational solvers need products with the Jacobian J = dh/dx at
 * a state x. Because h is elementwise, J = J^T = diag(h'(x)); both entry points are kept
 * so that callers read like the algebra (J v in tangent-linear code, J^T w in adjoints)
 * and a future non-local operator (interpolation, averaging) can slot in behind them.
 * All apply routines are local (no communication) and allow the output to alias any
 * input array. */
#ifndef DAISI_OBSOP_H
#define DAISI_OBSOP_H

#include <petscviewer.h>

typedef struct _p_DaisiObsOperator *DaisiObsOperator;
typedef const char                 *DaisiObsOperatorType;
#define DAISI_OBS_OPERATOR_LINEAR  "linear"
#define DAISI_OBS_OPERATOR_SQUARED "squared"
#define DAISI_OBS_OPERATOR_ARCTAN  "arctan"

/* default scale c of the squared operator (K), as in the multimodal scenario */
#define DAISI_OBS_SQUARED_SCALE_DEFAULT 7.0

PETSC_EXTERN PetscErrorCode DaisiObsOperatorCreate(MPI_Comm comm, DaisiObsOperator *op);
/* errors with PETSC_ERR_ARG_UNKNOWN_TYPE naming the type for anything but the three above */
PETSC_EXTERN PetscErrorCode DaisiObsOperatorSetType(DaisiObsOperator op, DaisiObsOperatorType type);
PETSC_EXTERN PetscErrorCode DaisiObsOperatorGetType(DaisiObsOperator op, DaisiObsOperatorType *type);
PETSC_EXTERN PetscErrorCode DaisiObsOperatorSetOptionsPrefix(DaisiObsOperator op, const char prefix[]);
PETSC_EXTERN PetscErrorCode DaisiObsOperatorSetSquaredScale(DaisiObsOperator op, PetscReal c);
PETSC_EXTERN PetscErrorCode DaisiObsOperatorGetSquaredScale(DaisiObsOperator op, PetscReal *c);
PETSC_EXTERN PetscErrorCode DaisiObsOperatorSetFromOptions(DaisiObsOperator op);
PETSC_EXTERN PetscErrorCode DaisiObsOperatorView(DaisiObsOperator op, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiObsOperatorDestroy(DaisiObsOperator *op);

/* hx[i] = h(x[i]), i < n */
PETSC_EXTERN PetscErrorCode DaisiObsOperatorApply(DaisiObsOperator op, PetscInt n, const PetscReal x[], PetscReal hx[]);
/* tangent at x: Jv[i] = h'(x[i]) v[i] */
PETSC_EXTERN PetscErrorCode DaisiObsOperatorJacobianApply(DaisiObsOperator op, PetscInt n, const PetscReal x[], const PetscReal v[], PetscReal Jv[]);
/* adjoint at x: JTw[i] = h'(x[i]) w[i] */
PETSC_EXTERN PetscErrorCode DaisiObsOperatorJacobianTransposeApply(DaisiObsOperator op, PetscInt n, const PetscReal x[], const PetscReal w[], PetscReal JTw[]);

/* Log events around the operator kernels (visible in -log_view). */
PETSC_EXTERN PetscLogEvent DAISI_ObsOperatorApply, DAISI_ObsOperatorJacobian;

#endif
