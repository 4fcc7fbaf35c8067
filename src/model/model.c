#include "modelimpl.h"
#include <daisi/sys.h>

PetscLogEvent DAISI_ModelAdvance = 0, DAISI_ModelFFT = 0, DAISI_ModelTranspose = 0;

/* the registered types: name -> constructor, PETSc's function list */
static PetscFunctionList model_types = NULL;
static PetscBool         model_registered_defaults = PETSC_FALSE;

PetscErrorCode DaisiModelRegister(const char name[], PetscErrorCode (*create)(DaisiModel))
{
  PetscFunctionBegin;
  PetscCall(PetscFunctionListAdd(&model_types, name, create));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelRegisterAll(void)
{
  PetscFunctionBegin;
  if (model_registered_defaults) PetscFunctionReturn(PETSC_SUCCESS);
  model_registered_defaults = PETSC_TRUE;
  PetscCall(DaisiModelRegister(DAISI_MODEL_SQG, DaisiModelCreate_SQG));
  PetscCall(DaisiModelRegister(DAISI_MODEL_L63, DaisiModelCreate_L63));
  if (!DAISI_ModelAdvance) {
    PetscCall(PetscLogEventRegister("ModelAdvance", DAISI_CLASSID, &DAISI_ModelAdvance));
    PetscCall(PetscLogEventRegister("ModelFFT", DAISI_CLASSID, &DAISI_ModelFFT));
    PetscCall(PetscLogEventRegister("ModelTranspose", DAISI_CLASSID, &DAISI_ModelTranspose));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelCreate(MPI_Comm comm, DaisiModel *m)
{
  PetscFunctionBegin;
  PetscCall(DaisiModelRegisterAll());
  PetscCall(PetscNew(m));
  (*m)->comm   = comm;
  (*m)->nbatch = 1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetType(DaisiModel m, DaisiModelType type)
{
  PetscBool same;
  PetscErrorCode (*create)(DaisiModel) = NULL;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(m->type, type, &same));
  if (same) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!m->setupcalled, m->comm, PETSC_ERR_ORDER, "cannot change the model type after DaisiModelSetUp()");
  if (m->ops.destroy) PetscCall(m->ops.destroy(m));
  PetscCall(PetscMemzero(&m->ops, sizeof(m->ops)));
  PetscCall(PetscFunctionListFind(model_types, type, &create));
  PetscCheck(create, m->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown model type '%s' (known: sqg, l63)", type);
  PetscCall(PetscStrncpy(m->type, type, sizeof(m->type)));
  PetscCall(create(m));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetType(DaisiModel m, DaisiModelType *type)
{
  PetscFunctionBegin;
  *type = m->type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetOptionsPrefix(DaisiModel m, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(m->prefix));
  PetscCall(PetscStrallocpy(prefix, &m->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetBatchSize(DaisiModel m, PetscInt nbatch)
{
  PetscFunctionBegin;
  PetscCheck(!m->setupcalled, m->comm, PETSC_ERR_ORDER, "set the batch size before DaisiModelSetUp()");
  PetscCheck(nbatch >= 1, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "batch size must be >= 1, got %" PetscInt_FMT, nbatch);
  m->nbatch = nbatch;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetBatchSize(DaisiModel m, PetscInt *nbatch)
{
  PetscFunctionBegin;
  *nbatch = m->nbatch;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetFromOptions(DaisiModel m)
{
  char      type[64];
  PetscBool set;

  PetscFunctionBegin;
  PetscOptionsBegin(m->comm, m->prefix, "Forecast model options", "DaisiModel");
  PetscCall(PetscOptionsString("-model_type", "Model type (sqg, l63)", "DaisiModelSetType", m->type[0] ? m->type : DAISI_MODEL_SQG, type, sizeof(type), &set));
  if (set || !m->type[0]) PetscCall(DaisiModelSetType(m, set ? type : DAISI_MODEL_SQG));
  if (m->ops.setfromoptions) PetscCall(m->ops.setfromoptions(m, PetscOptionsObject));
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetUp(DaisiModel m)
{
  PetscFunctionBegin;
  if (m->setupcalled) PetscFunctionReturn(PETSC_SUCCESS);
  if (!m->type[0]) PetscCall(DaisiModelSetType(m, DAISI_MODEL_SQG));
  PetscCall(m->ops.setup(m));
  m->setupcalled = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelView(DaisiModel m, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(m->comm);
  PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiModel %s: %" PetscInt_FMT " level(s) x %" PetscInt_FMT " x %" PetscInt_FMT ", batch %" PetscInt_FMT ", dt %g\n", m->type, m->grid.nlev, m->grid.ny, m->grid.nx, m->nbatch, (double)m->grid.dt));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (m->ops.view) PetscCall(m->ops.view(m, viewer));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelDestroy(DaisiModel *m)
{
  PetscFunctionBegin;
  if (!*m) PetscFunctionReturn(PETSC_SUCCESS);
  if ((*m)->ops.destroy) PetscCall((*m)->ops.destroy(*m));
  PetscCall(PetscFree((*m)->params));
  PetscCall(PetscFree((*m)->prefix));
  PetscCall(PetscFree(*m));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetComm(DaisiModel m, MPI_Comm *comm)
{
  PetscFunctionBegin;
  *comm = m->comm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

#define DaisiModelCheckSetUp(m) PetscCheck((m)->setupcalled, (m)->comm, PETSC_ERR_ORDER, "call DaisiModelSetUp() first")
#define DaisiModelCheckMember(m, b) \
  PetscCheck((b) >= 0 && (b) < (m)->nbatch, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "member %" PetscInt_FMT " outside the batch [0, %" PetscInt_FMT ")", (b), (m)->nbatch)

PetscErrorCode DaisiModelGetGrid(DaisiModel m, DaisiGrid *grid)
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  *grid = m->grid;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetState(DaisiModel m, PetscInt member, const PetscReal x[])
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  DaisiModelCheckMember(m, member);
  PetscCall(DaisiCheckFinite(m->comm, DaisiGridLocalSize(&m->grid), x, "the state given to the model"));
  PetscCall(m->ops.setstate(m, member, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetState(DaisiModel m, PetscInt member, PetscReal x[])
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  DaisiModelCheckMember(m, member);
  PetscCall(m->ops.getstate(m, member, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelAdvance(DaisiModel m, PetscInt nsteps)
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  PetscCheck(nsteps >= 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "number of steps must be >= 0");
  if (!nsteps) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscLogEventBegin(DAISI_ModelAdvance, 0, 0, 0, 0));
  PetscCall(m->ops.advance(m, nsteps));
  PetscCall(PetscLogEventEnd(DAISI_ModelAdvance, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetTime(DaisiModel m, PetscReal *t)
{
  PetscFunctionBegin;
  *t = m->time;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetTime(DaisiModel m, PetscReal t)
{
  PetscFunctionBegin;
  m->time = t;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelInitialCondition(DaisiModel m, PetscInt member, PetscInt64 seed)
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  DaisiModelCheckMember(m, member);
  PetscCheck(m->ops.initialcondition, m->comm, PETSC_ERR_SUP, "model %s has no reference initial condition", m->type);
  PetscCall(m->ops.initialcondition(m, member, seed));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetNativeLayout(DaisiModel m, DaisiNativeLayout *layout)
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  *layout = m->native;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetNative(DaisiModel m, PetscInt member, PetscReal x[])
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  DaisiModelCheckMember(m, member);
  PetscCall(m->ops.getnative(m, member, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetNative(DaisiModel m, PetscInt member, const PetscReal x[])
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  DaisiModelCheckMember(m, member);
  PetscCall(DaisiCheckFinite(m->comm, m->native.nrowl * m->native.rowlen, x, "the native (checkpoint) state"));
  PetscCall(m->ops.setnative(m, member, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelSetParams(DaisiModel m, PetscInt n, const DaisiModelParam *p)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(m->params));
  PetscCall(PetscMalloc1(n, &m->params));
  PetscCall(PetscArraycpy(m->params, p, n));
  m->nparams = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelGetParams(DaisiModel m, PetscInt *n, const DaisiModelParam **params)
{
  PetscFunctionBegin;
  DaisiModelCheckSetUp(m);
  *n      = m->nparams;
  *params = m->params;
  PetscFunctionReturn(PETSC_SUCCESS);
}
