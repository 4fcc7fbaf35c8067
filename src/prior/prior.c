/* The DaisiPrior object: type registry, lifecycle, checked entry points and derived fields. */
#include "priorimpl.h"

PetscLogEvent DAISI_PriorVelocity = 0, DAISI_PriorVJP = 0, DAISI_PriorJVP = 0, DAISI_PriorFFT = 0, DAISI_PriorEstimate = 0, DAISI_InterpolantStep = 0;

/* the registered types: name -> constructor, PETSc's function list */
static PetscFunctionList prior_types = NULL;
static PetscBool         prior_registered_defaults = PETSC_FALSE;

PetscErrorCode DaisiPriorRegister(const char name[], PetscErrorCode (*create)(DaisiPrior))
{
  PetscFunctionBegin;
  PetscCall(PetscFunctionListAdd(&prior_types, name, create));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorRegisterEvents(void)
{
  PetscFunctionBegin;
  if (DAISI_PriorVelocity) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscLogEventRegister("PriorVelocity", DAISI_CLASSID, &DAISI_PriorVelocity));
  PetscCall(PetscLogEventRegister("PriorVJP", DAISI_CLASSID, &DAISI_PriorVJP));
  PetscCall(PetscLogEventRegister("PriorJVP", DAISI_CLASSID, &DAISI_PriorJVP));
  PetscCall(PetscLogEventRegister("PriorFFT", DAISI_CLASSID, &DAISI_PriorFFT));
  PetscCall(PetscLogEventRegister("PriorEstimate", DAISI_CLASSID, &DAISI_PriorEstimate));
  PetscCall(PetscLogEventRegister("InterpolantStep", DAISI_CLASSID, &DAISI_InterpolantStep));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiPriorRegisterAll(void)
{
  PetscFunctionBegin;
  if (prior_registered_defaults) PetscFunctionReturn(PETSC_SUCCESS);
  prior_registered_defaults = PETSC_TRUE;
  PetscCall(DaisiPriorRegister(DAISI_PRIOR_GAUSSIAN, DaisiPriorCreate_Gaussian));
  PetscCall(DaisiPriorRegister(DAISI_PRIOR_NET, DaisiPriorCreate_Net));
  PetscCall(DaisiPriorRegisterEvents());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorCreate(MPI_Comm comm, DaisiPrior *p)
{
  PetscFunctionBegin;
  PetscCall(DaisiPriorRegisterAll());
  PetscCall(PetscNew(p));
  (*p)->comm  = comm;
  (*p)->scale = DAISI_PRIOR_DEFAULT_SCALE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorSetType(DaisiPrior p, DaisiPriorType type)
{
  PetscBool same;
  PetscErrorCode (*create)(DaisiPrior) = NULL;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(p->type, type, &same));
  if (same) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!p->setupcalled, p->comm, PETSC_ERR_ORDER, "cannot change the prior type after DaisiPriorSetUp()");
  if (p->ops.destroy) PetscCall(p->ops.destroy(p));
  PetscCall(PetscMemzero(&p->ops, sizeof(p->ops)));
  p->data = NULL;
  PetscCall(PetscFunctionListFind(prior_types, type, &create));
  PetscCheck(create, p->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown prior type '%s' (-prior_type; known: gaussian, net)", type);
  PetscCall(PetscStrncpy(p->type, type, sizeof(p->type)));
  PetscCall(create(p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorGetType(DaisiPrior p, DaisiPriorType *type)
{
  PetscFunctionBegin;
  *type = p->type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorSetOptionsPrefix(DaisiPrior p, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(p->prefix));
  PetscCall(PetscStrallocpy(prefix, &p->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorSetFromOptions(DaisiPrior p)
{
  char      type[64];
  PetscBool set;

  PetscFunctionBegin;
  PetscOptionsBegin(p->comm, p->prefix, "Generative prior options", "DaisiPrior");
  PetscCall(PetscOptionsString("-prior_type", "Prior type (gaussian, net)", "DaisiPriorSetType", p->type[0] ? p->type : DAISI_PRIOR_GAUSSIAN, type, sizeof(type), &set));
  if (set || !p->type[0]) PetscCall(DaisiPriorSetType(p, set ? type : DAISI_PRIOR_GAUSSIAN));
  PetscCall(PetscOptionsReal("-prior_scale", "Normalisation s_data: the prior sees x / s_data (state units, SQG: K)", "DaisiPriorSetScale", p->scale, &p->scale, &set));
  if (set) p->scale_set = PETSC_TRUE;
  PetscCheck(p->scale > 0 && PetscIsNormalReal(p->scale), p->comm, PETSC_ERR_ARG_OUTOFRANGE, "-prior_scale must be positive and finite, got %g", (double)p->scale);
  if (p->ops.setfromoptions) PetscCall(p->ops.setfromoptions(p, PetscOptionsObject));
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorSetUp(DaisiPrior p, const DaisiGrid *grid)
{
  PetscFunctionBegin;
  if (p->setupcalled) {
    PetscCheck(grid->nlev == p->grid.nlev && grid->ny == p->grid.ny && grid->nx == p->grid.nx && grid->y0 == p->grid.y0 && grid->nyl == p->grid.nyl, p->comm, PETSC_ERR_ARG_INCOMP, "prior already set up for a different grid");
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCheck(grid->nlev >= 1 && grid->ny >= 1 && grid->nx >= 1, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "prior on an empty grid (%" PetscInt_FMT " levels x %" PetscInt_FMT " x %" PetscInt_FMT ")", grid->nlev, grid->ny, grid->nx);
  if (!p->type[0]) PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
  p->grid = *grid;
  PetscCall(p->ops.setup(p));
  p->setupcalled = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorView(DaisiPrior p, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(p->comm);
  PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiPrior %s: %" PetscInt_FMT " level(s) x %" PetscInt_FMT " x %" PetscInt_FMT ", scale s_data %g\n", p->type, p->grid.nlev, p->grid.ny, p->grid.nx, (double)p->scale));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (p->ops.view) PetscCall(p->ops.view(p, viewer));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorDestroy(DaisiPrior *p)
{
  PetscFunctionBegin;
  if (!*p) PetscFunctionReturn(PETSC_SUCCESS);
  if ((*p)->ops.destroy) PetscCall((*p)->ops.destroy(*p));
  PetscCall(PetscFree((*p)->prefix));
  PetscCall(PetscFree(*p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorGetComm(DaisiPrior p, MPI_Comm *comm)
{
  PetscFunctionBegin;
  *comm = p->comm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

#define DaisiPriorCheckSetUp(p) PetscCheck((p)->setupcalled, (p)->comm, PETSC_ERR_ORDER, "call DaisiPriorSetUp() first")

PetscErrorCode DaisiPriorGetGrid(DaisiPrior p, DaisiGrid *grid)
{
  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  *grid = p->grid;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorSetScale(DaisiPrior p, PetscReal s)
{
  PetscFunctionBegin;
  PetscCheck(s > 0 && PetscIsNormalReal(s), p->comm, PETSC_ERR_ARG_OUTOFRANGE, "prior scale s_data must be positive and finite, got %g", (double)s);
  p->scale     = s;
  p->scale_set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorGetScale(DaisiPrior p, PetscReal *s)
{
  PetscFunctionBegin;
  *s = p->scale;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorNormalize(DaisiPrior p, PetscInt B, const PetscReal x[], PetscReal xn[])
{
  const PetscInt n = B * DaisiGridLocalSize(&p->grid);

  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  for (PetscInt i = 0; i < n; i++) xn[i] = x[i] / p->scale;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorDenormalize(DaisiPrior p, PetscInt B, const PetscReal xn[], PetscReal x[])
{
  const PetscInt n = B * DaisiGridLocalSize(&p->grid);

  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  for (PetscInt i = 0; i < n; i++) x[i] = xn[i] * p->scale;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* every rank must pass the same times, each in [0, 1] */
static PetscErrorCode CheckTimes(DaisiPrior p, PetscInt B, const PetscReal t[])
{
  PetscFunctionBegin;
  PetscCheck(B >= 0, p->comm, PETSC_ERR_ARG_OUTOFRANGE, "batch of %" PetscInt_FMT " samples", B);
  for (PetscInt b = 0; b < B; b++) PetscCheck(t[b] >= 0 && t[b] <= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "interpolant time t = %g of sample %" PetscInt_FMT " is outside [0, 1]", (double)t[b], b);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorVelocity(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal b[])
{
  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  PetscCall(CheckTimes(p, B, t));
  PetscCall(PetscLogEventBegin(DAISI_PriorVelocity, 0, 0, 0, 0));
  PetscCall(p->ops.velocity(p, B, t, x, b));
  PetscCall(PetscLogEventEnd(DAISI_PriorVelocity, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorVelocityVJP(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal w[], PetscReal b[], PetscReal gx[])
{
  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  PetscCall(CheckTimes(p, B, t));
  PetscCheck(p->ops.vjp, p->comm, PETSC_ERR_SUP, "prior type %s has no vector-Jacobian product", p->type);
  PetscCall(PetscLogEventBegin(DAISI_PriorVJP, 0, 0, 0, 0));
  PetscCall(p->ops.vjp(p, B, t, x, w, b, gx));
  PetscCall(PetscLogEventEnd(DAISI_PriorVJP, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorVelocityJVP(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal v[], PetscReal b[], PetscReal jv[])
{
  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  PetscCall(CheckTimes(p, B, t));
  PetscCheck(p->ops.jvp, p->comm, PETSC_ERR_SUP, "prior type %s has no Jacobian-vector product", p->type);
  PetscCall(PetscLogEventBegin(DAISI_PriorJVP, 0, 0, 0, 0));
  PetscCall(p->ops.jvp(p, B, t, x, v, b, jv));
  PetscCall(PetscLogEventEnd(DAISI_PriorJVP, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorDenoiserFromVelocity(PetscInt n, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal b[], PetscReal x1[])
{
  PetscFunctionBegin;
  for (PetscInt s = 0; s < B; s++) {
    const PetscReal c = 1 - t[s];
    for (PetscInt i = 0; i < n; i++) x1[s * n + i] = x[s * n + i] + c * b[s * n + i];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorScoreFromVelocity(PetscInt n, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal b[], PetscReal sc[])
{
  PetscFunctionBegin;
  for (PetscInt s = 0; s < B; s++) {
    if (t[s] >= 1) {
      /* the score of the data distribution is not defined by b; 0 by convention (eps(1) = 0) */
      for (PetscInt i = 0; i < n; i++) sc[s * n + i] = 0;
    } else {
      const PetscReal c = 1 / (1 - t[s]);
      for (PetscInt i = 0; i < n; i++) sc[s * n + i] = (t[s] * b[s * n + i] - x[s * n + i]) * c;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorDenoiser(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal x1[])
{
  const PetscInt n = DaisiGridLocalSize(&p->grid);
  PetscReal     *b;

  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  PetscCall(PetscMalloc1(B * n + 1, &b));
  PetscCall(DaisiPriorVelocity(p, B, t, x, b));
  PetscCall(DaisiPriorDenoiserFromVelocity(n, B, t, x, b, x1));
  PetscCall(PetscFree(b));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorScore(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal sc[])
{
  const PetscInt n = DaisiGridLocalSize(&p->grid);
  PetscReal     *b;

  PetscFunctionBegin;
  DaisiPriorCheckSetUp(p);
  PetscCall(PetscMalloc1(B * n + 1, &b));
  PetscCall(DaisiPriorVelocity(p, B, t, x, b));
  PetscCall(DaisiPriorScoreFromVelocity(n, B, t, x, b, sc));
  PetscCall(PetscFree(b));
  PetscFunctionReturn(PETSC_SUCCESS);
}
