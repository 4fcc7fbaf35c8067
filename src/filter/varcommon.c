/* The pieces shared by the variational types 3dvar (var3d.c), l3dvar (l3dvar.c) and losda: the
 * per-group work space, the observations of a cycle on this rank's rows and their term of J,
 * the TAO minimisation, the exact ensemble mean and the ensemble analysis (mean and members
 * modes). Interface and conventions in varimpl.h; docs/filters.md, section 3DVar. */
#include "varimpl.h"
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <petsctao.h>

PetscErrorCode DaisiVarCoreSetUp(DaisiVarCore *c, const char name[], DaisiEnsemble e, DaisiVarSolveFn solve)
{
  DaisiEnsembleInfo info;

  PetscFunctionBegin;
  PetscCall(DaisiVarCoreDestroy(c));
  c->name  = name;
  c->solve = solve;
  PetscCall(DaisiEnsembleGetInfo(e, &info));
  PetscCall(DaisiEnsembleGetComm(e, &c->world));
  PetscCall(DaisiEnsembleGetGroupComm(e, &c->group));
  PetscCall(DaisiEnsembleGetSlabComm(e, &c->slab));
  PetscCall(DaisiEnsembleGetGrid(e, &c->grid));
  PetscCallMPI(MPI_Comm_size(c->group, &c->P));
  PetscCallMPI(MPI_Comm_rank(c->group, &c->prank));
  c->gindex = (PetscMPIInt)info.group;
  c->G      = info.G;
  c->n      = DaisiGridLocalSize(&c->grid);
  c->B      = info.nlocal;
  c->M      = info.M;
  PetscCall(PetscMalloc1(c->B + 1, &c->member));
  for (PetscInt b = 0; b < c->B; b++) PetscCall(DaisiEnsembleGetMemberIndex(e, b, &c->member[b]));
  PetscCall(PetscMalloc3(c->n + 1, &c->mean, c->n + 1, &c->xa, (size_t)c->B * c->n + 1, &c->xm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarCoreDestroy(DaisiVarCore *c)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarObsFree(&c->ob));
  PetscCall(PetscFree(c->member));
  PetscCall(PetscFree3(c->mean, c->xa, c->xm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Observations of the cycle on this rank's rows; their term of J
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiVarObsFree(DaisiVarObs *o)
{
  PetscFunctionBegin;
  PetscCall(PetscFree3(o->own, o->site, o->row));
  PetscCall(PetscFree5(o->y, o->yp, o->sig2, o->hx, o->hp));
  o->obs  = NULL;
  o->nown = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarObsTake(DaisiVarObs *o, const DaisiGrid *g, const DaisiObsSet *obs)
{
  PetscInt     k  = 0;
  const size_t nb = (size_t)PetscMax(obs->nobs, 1);

  PetscFunctionBegin;
  PetscCall(DaisiVarObsFree(o));
  o->obs   = obs;
  o->cycle = obs->cycle;
  for (PetscInt i = 0; i < obs->nobs; i++)
    if (obs->iy[i] >= g->y0 && obs->iy[i] < g->y0 + g->nyl) o->nown++;
  PetscCall(PetscMalloc3(nb, &o->own, nb, &o->site, nb, &o->row));
  PetscCall(PetscMalloc5(nb, &o->y, nb, &o->yp, nb, &o->sig2, nb, &o->hx, nb, &o->hp));
  for (PetscInt i = 0; i < obs->nobs; i++) {
    if (obs->iy[i] < g->y0 || obs->iy[i] >= g->y0 + g->nyl) continue;
    o->own[k]  = i;
    o->row[k]  = obs->iy[i];
    o->site[k] = (obs->lev[i] * g->nyl + obs->iy[i] - g->y0) * g->nx + obs->ix[i];
    o->y[k]    = obs->value[i];
    o->yp[k]   = obs->value[i];
    o->sig2[k] = obs->sigma[i] * obs->sigma[i];
    k++;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

void DaisiVarObsPerturb(DaisiVarObs *o, PetscInt64 seed, PetscInt member)
{
  const DaisiRng r = DaisiRngMake((uint64_t)seed, DAISI_RNG_ENKF_PERTURBED_OBS, (uint64_t)o->cycle, (uint64_t)member, 0);
  for (PetscInt k = 0; k < o->nown; k++) o->yp[k] = o->y[k] + o->obs->sigma[o->own[k]] * DaisiRngNormal(&r, (uint64_t)o->own[k]);
}

PetscErrorCode DaisiVarObsCost(DaisiVarObs *o, const PetscReal x[], PetscReal part[])
{
  const PetscInt no = o->nown;

  PetscFunctionBegin;
  for (PetscInt k = 0; k < no; k++) o->hp[k] = x[o->site[k]]; /* theta at the sites */
  if (no) PetscCall(DaisiObsOperatorApply(o->obs->op, no, o->hp, o->hx));
  for (PetscInt k = 0; k < no; k++) {
    const PetscReal r = o->yp[k] - o->hx[k];
    part[o->row[k]] += r * r / o->sig2[k];
    o->hx[k] = -r / o->sig2[k]; /* d(1/2 r^2 / sigma^2) / dh */
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarObsGradient(DaisiVarObs *o, PetscInt n, PetscReal gx[])
{
  const PetscInt no = o->nown;

  PetscFunctionBegin;
  if (no) PetscCall(DaisiObsOperatorJacobianTransposeApply(o->obs->op, no, o->hp, o->hx, o->hx));
  PetscCall(PetscArrayzero(gx, n));
  for (PetscInt k = 0; k < no; k++) gx[o->site[k]] += o->hx[k];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarSumParts(MPI_Comm group, PetscInt np, PetscReal part[], PetscInt n1, PetscReal *s1, PetscReal *s2)
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, part, (PetscMPIInt)np, MPIU_REAL, MPI_SUM, group));
  *s1 = 0;
  *s2 = 0;
  for (PetscInt i = 0; i < n1; i++) *s1 += part[i];
  for (PetscInt i = n1; i < np; i++) *s2 += part[i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The minimisation
 * ------------------------------------------------------------------------------------- */
typedef struct {
  DaisiVarObjectiveFn fn;
  void               *ctx;
  PetscReal           J0, g0;
  PetscBool           first;
} MinimizeCtx;

static PetscErrorCode FormFunctionGradient(Tao tao, Vec V, PetscReal *J, Vec G, void *ctx)
{
  MinimizeCtx       *mc = (MinimizeCtx *)ctx;
  const PetscScalar *v;
  PetscScalar       *g, none;

  PetscFunctionBegin;
  (void)tao;
  PetscCall(VecGetArrayRead(V, &v));
  PetscCall(VecGetArray(G, &g));
  /* a rank without control values may get no array; the objective must still form the gradient
   * there (g == NULL means "J only", a collective choice) */
  PetscCall(mc->fn(mc->ctx, v, J, g ? g : &none));
  PetscCall(VecRestoreArray(G, &g));
  PetscCall(VecRestoreArrayRead(V, &v));
  if (mc->first) {
    mc->J0    = *J;
    mc->first = PETSC_FALSE;
    PetscCall(VecNorm(G, NORM_2, &mc->g0));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarMinimize(DaisiFilter f, DaisiVarCore *c, Vec v, DaisiVarObjectiveFn fn, void *ctx, PetscReal round, PetscReal floor, PetscInt member)
{
  const DaisiFilterVar3dParams *p = &f->var3d;
  Tao                           tao;
  MinimizeCtx                   mc = {fn, ctx, 0, 0, PETSC_TRUE};
  TaoConvergedReason            reason;
  PetscInt                      its;
  PetscReal                     J, gnorm;
  PetscBool                     rounded;

  PetscFunctionBegin;
  PetscCall(VecSet(v, 0));
  PetscCall(TaoCreate(c->group, &tao));
  PetscCall(TaoSetType(tao, p->solver ? TAOBLMVM : TAOLMVM));
  PetscCall(TaoSetSolution(tao, v));
  PetscCall(TaoSetObjectiveAndGradient(tao, NULL, FormFunctionGradient, &mc));
  PetscCall(TaoSetTolerances(tao, p->gatol, 0, PetscMax(p->gttol, floor)));
  PetscCall(TaoSetMaximumIterations(tao, c->max_it > 0 ? c->max_it : p->max_it));
  PetscCall(TaoSetMaximumFunctionEvaluations(tao, 20 * (c->max_it > 0 ? c->max_it : p->max_it) + 100));
  PetscCall(TaoSolve(tao));
  PetscCall(TaoGetSolutionStatus(tao, &its, &J, &gnorm, NULL, NULL, &reason));
  PetscCall(TaoDestroy(&tao));
  c->stats.solves++;
  c->stats.iterations += its;
  /* a line search that fails once |g| is tiny has met the round-off of J (|g|^2 ~ eps |J|):
   * converged as far as J can tell; with a noise floor (float32 J), so have exhausted function
   * evaluations (line searches that keep retrying on the noise) */
  rounded        = (PetscBool)((reason == TAO_DIVERGED_LS_FAILURE || (floor > 0 && reason == TAO_DIVERGED_MAXFCN)) && gnorm <= round * mc.g0);
  c->stats.worst = PetscMin(c->stats.worst, rounded ? (PetscInt)1 : (PetscInt)reason);
  c->stats.J0    = mc.J0;
  c->stats.J     = J;
  if (p->monitor && (member >= 0 || c->gindex == 0)) {
    char who[32] = "mean";
    if (member >= 0) PetscCall(PetscSNPrintf(who, sizeof(who), "member %" PetscInt_FMT, member));
    PetscCall(PetscPrintf(c->group, "%s | cycle %" PetscInt_FMT " %s: %" PetscInt_FMT " iteration(s), J %.6g -> %.6g, |grad J| %.3g -> %.3g (%s%s)\n", c->name, c->ob.cycle, who, its, (double)mc.J0, (double)J, (double)mc.g0, (double)gnorm, TaoConvergedReasons[reason], rounded ? " at the round-off of J: accepted" : ""));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The ensemble analysis
 * ------------------------------------------------------------------------------------- */
/* the exact ensemble mean over all groups (each member on one group: exact sums over the slab
 * communicator, added in member order), identical on every group */
PetscErrorCode DaisiVarMemberMean(DaisiVarCore *c, const PetscReal x[], PetscReal mean[])
{
  const PetscInt n = c->n, M = c->M;
  PetscReal     *all;

  PetscFunctionBegin;
  PetscCall(PetscCalloc1((size_t)M * n + 1, &all));
  for (PetscInt b = 0; b < c->B; b++) PetscCall(PetscArraycpy(all + (size_t)c->member[b] * n, x + (size_t)b * n, n));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, all, (PetscMPIInt)(M * n), MPIU_REAL, MPI_SUM, c->slab));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal s = 0;
    for (PetscInt m = 0; m < M; m++) s += all[(size_t)m * n + i];
    mean[i] = s / M;
  }
  PetscCall(PetscFree(all));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the group's part of the analysis, into c->xm (no world collectives: groups may differ in
 * their number of members) */
static PetscErrorCode GroupAnalysis(DaisiFilter f, DaisiVarCore *c, const PetscReal xs[])
{
  const DaisiFilterVar3dParams *p = &f->var3d;
  const PetscInt                n = c->n;

  PetscFunctionBegin;
  if (c->members_from_mean) {
    for (PetscInt b = 0; b < c->B; b++) PetscCall(c->solve(f, c->member[b], c->mean, c->xm + (size_t)b * n));
  } else if (p->mode == DAISI_FILTER_VAR3D_MEAN) {
    PetscCall(c->solve(f, -1, c->mean, c->xa)); /* the analysis mean */
    for (PetscInt b = 0; b < c->B; b++)
      for (PetscInt i = 0; i < n; i++) c->xm[(size_t)b * n + i] = c->xa[i] + p->pert_scale * (xs[(size_t)b * n + i] - c->mean[i]);
  } else {
    for (PetscInt b = 0; b < c->B; b++) {
      DaisiVarObsPerturb(&c->ob, f->seed, c->member[b]);
      PetscCall(c->solve(f, c->member[b], xs + (size_t)b * n, c->xm + (size_t)b * n));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarEnsembleAnalysis(DaisiFilter f, DaisiVarCore *c, DaisiEnsemble e, const DaisiObsSet *obs)
{
  PetscReal     *xs;
  PetscErrorCode ierr;
  PetscInt       bad;
  char           what[64];

  PetscFunctionBegin;
  PetscCall(DaisiVarObsTake(&c->ob, &c->grid, obs));
  PetscCall(PetscMemzero(&c->stats, sizeof(c->stats)));
  c->stats.worst = PETSC_MAX_INT;
  PetscCall(DaisiEnsembleGetLocalStates(e, &xs));
  if (f->inflation != 1.0) {
    PetscCall(DaisiVarMemberMean(c, xs, c->mean));
    for (PetscInt b = 0; b < c->B; b++)
      for (PetscInt i = 0; i < c->n; i++) xs[(size_t)b * c->n + i] = c->mean[i] + f->inflation * (xs[(size_t)b * c->n + i] - c->mean[i]);
  }
  if (f->var3d.mode == DAISI_FILTER_VAR3D_MEAN || c->members_from_mean) PetscCall(DaisiVarMemberMean(c, xs, c->mean));
  /* every group on its own; then the whole world learns whether one failed */
  ierr = GroupAnalysis(f, c, xs);
  bad  = ierr ? 1 : 0;
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_MAX, c->world));
  if (bad) {
    PetscCall(DaisiEnsembleRestoreLocalStates(e, &xs));
    PetscCall(DaisiVarObsFree(&c->ob));
    SETERRQ(c->world, ierr ? ierr : PETSC_ERR_LIB, "%s analysis of cycle %" PetscInt_FMT " failed in a member group (see the first error above)", c->name, obs->cycle);
  }
  PetscCall(PetscSNPrintf(what, sizeof(what), "the %s analysis", c->name));
  PetscCall(DaisiCheckFinite(c->world, c->B * c->n, c->xm, what));
  PetscCall(PetscArraycpy(xs, c->xm, (size_t)c->B * c->n));
  PetscCall(DaisiEnsembleRestoreLocalStates(e, &xs));
  PetscCall(DaisiVarObsFree(&c->ob));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Ops and entry points shared by the types
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiVarSetUpOp(DaisiFilter f)
{
  DaisiVarCore *c = (DaisiVarCore *)f->data;

  PetscFunctionBegin;
  if (f->ens) PetscCall(c->setup(f, f->ens));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarEnsembleAnalysisOp(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs)
{
  DaisiVarCore *c = (DaisiVarCore *)f->data;

  PetscFunctionBegin;
  PetscCall(c->setup(f, e));
  PetscCall(DaisiVarEnsembleAnalysis(f, c, e, obs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarViewMode(DaisiFilter f, PetscViewer viewer)
{
  const DaisiFilterVar3dParams *p = &f->var3d;

  PetscFunctionBegin;
  if (p->mode == DAISI_FILTER_VAR3D_MEAN)
    PetscCall(PetscViewerASCIIPrintf(viewer, "mode mean: one minimisation for the ensemble mean; members = analysis mean + %g (x_m - background mean)%s\n", (double)p->pert_scale, p->pert_scale == 0 ? " (deterministic 3DVar: spread 0, CRPS = mean absolute error)" : ""));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "mode members: one minimisation per member, perturbed observations (seed %" PetscInt64_FMT ", the EnKF's stream)\n", f->seed));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarViewSolver(DaisiFilter f, PetscViewer viewer)
{
  const DaisiFilterVar3dParams *p = &f->var3d;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "TAO %s: at most %" PetscInt_FMT " iterations, stop at |grad J| <= %g or <= %g |grad J(0)|\n", DaisiFilterVar3dSolvers[p->solver], p->max_it, (double)p->gatol, (double)p->gttol));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarCheckType(DaisiFilter f, const char type[])
{
  PetscBool same;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(f->type, type, &same));
  PetscCheck(same, f->comm, PETSC_ERR_ARG_WRONG, "this needs a filter of type %s, not '%s'", type, f->type);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarPrepare(DaisiFilter f, const char type[], DaisiEnsemble e, DaisiVarCore **c)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarCheckType(f, type));
  if (!f->setupcalled) PetscCall(DaisiFilterSetUp(f));
  *c = (DaisiVarCore *)f->data;
  PetscCall((*c)->setup(f, e));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarGetStats(DaisiFilter f, const char type[], DaisiFilterVar3dStats *s)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarCheckType(f, type));
  *s = ((DaisiVarCore *)f->data)->stats;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarGetControlSize(DaisiFilter f, const char type[], DaisiEnsemble e, PetscInt *nv)
{
  DaisiVarCore *c = NULL;

  PetscFunctionBegin;
  PetscCall(DaisiVarPrepare(f, type, e, &c));
  *nv = c->nv;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiVarObjectiveAt(DaisiFilter f, const char type[], DaisiEnsemble e, const DaisiObsSet *obs, const PetscReal xb[], const PetscReal v[], PetscReal *J, PetscReal g[])
{
  DaisiVarCore  *c = NULL;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiVarPrepare(f, type, e, &c));
  PetscCall(DaisiVarObsTake(&c->ob, &c->grid, obs));
  ierr = c->background(f, xb);
  if (!ierr) ierr = c->objective(f->data, v, J, g);
  PetscCall(DaisiVarObsFree(&c->ob));
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}
