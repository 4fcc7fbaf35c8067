/* The ensemble layer: member groups, slab communicators, layout-independent initial
 * perturbations and the all-to-all transposes between the slab and analysis layouts. */
#include <daisi/ensemble.h>
#include <daisi/rng.h>
#include <daisi/sys.h>

PetscLogEvent DAISI_EnsembleTranspose = 0, DAISI_EnsembleForecast = 0, DAISI_EnsembleInit = 0;

struct _p_DaisiEnsemble {
  MPI_Comm       world, group, slab;
  PetscMPIInt    size, rank;
  PetscInt       M, G, P, mygroup, myslab, nlocal, nloc, npts, n;
  PetscInt       fbatch; /* -ens_forecast_batch: members the model integrates at once (0: all local) */
  PetscInt       nbatch; /* the model's batch size: min(fbatch, nlocal), or nlocal */
  PetscInt       nnat;   /* streaming: native state values per member on this rank */
  PetscReal     *native; /* streaming: the members' native states between forecasts */
  PetscReal      init_sigma;
  PetscInt64     seed;
  char           modeltype[64];
  PetscBool      setupcalled, dirty, gotwrite;
  DaisiModel     model;
  DaisiGrid      grid;
  PetscReal     *x;    /* slab layout: x[b * nloc + i] */
  PetscInt      *gidx; /* global index of local slab value i */
  /* transpose plan */
  PetscInt      *slabs;          /* (y0, nyl) of every world rank */
  PetscInt      *dest, *slot;    /* per local value: destination rank, position in its block */
  PetscInt      *scount, *rcount; /* values per member sent to / received from each rank */
  PetscInt      *roff, *rlist;   /* analysis point of each value received, per source rank */
  PetscMPIInt   *sc, *sd, *rc, *rd; /* MPI counts and displacements (doubles) */
  PetscReal     *sbuf, *rbuf;
};

static PetscErrorCode DaisiEnsembleRegisterEvents(void)
{
  PetscFunctionBegin;
  if (!DAISI_EnsembleTranspose) {
    PetscCall(PetscLogEventRegister("EnsTranspose", DAISI_CLASSID, &DAISI_EnsembleTranspose));
    PetscCall(PetscLogEventRegister("EnsForecast", DAISI_CLASSID, &DAISI_EnsembleForecast));
    PetscCall(PetscLogEventRegister("EnsInit", DAISI_CLASSID, &DAISI_EnsembleInit));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleCreate(MPI_Comm world, DaisiEnsemble *e)
{
  PetscFunctionBegin;
  PetscCheck(e, world, PETSC_ERR_ARG_NULL, "DaisiEnsembleCreate: output pointer is NULL");
  PetscCall(DaisiEnsembleRegisterEvents());
  PetscCall(PetscNew(e));
  (*e)->world      = world;
  (*e)->M          = 20;
  (*e)->G          = 1;
  (*e)->init_sigma = 3.06;
  (*e)->fbatch     = 64; /* docs/filters.md: M = 1000, N = 64 on one rank peaks at 0.51 GB instead of 3.0 GB, and runs faster */
  (*e)->group      = MPI_COMM_NULL;
  (*e)->slab       = MPI_COMM_NULL;
  PetscCall(PetscStrncpy((*e)->modeltype, DAISI_MODEL_SQG, sizeof((*e)->modeltype)));
  PetscCallMPI(MPI_Comm_size(world, &(*e)->size));
  PetscCallMPI(MPI_Comm_rank(world, &(*e)->rank));
  PetscFunctionReturn(PETSC_SUCCESS);
}

#define CheckNotSetUp(e, what) PetscCheck(!(e)->setupcalled, (e)->world, PETSC_ERR_ORDER, "%s must be called before DaisiEnsembleSetUp()", what)
#define CheckSetUp(e)          PetscCheck((e)->setupcalled, (e)->world, PETSC_ERR_ORDER, "call DaisiEnsembleSetUp() first")

PetscErrorCode DaisiEnsembleSetSize(DaisiEnsemble e, PetscInt M)
{
  PetscFunctionBegin;
  CheckNotSetUp(e, "DaisiEnsembleSetSize()");
  PetscCheck(M >= 2, e->world, PETSC_ERR_ARG_OUTOFRANGE, "ensemble size (-ens_size) must be >= 2, got %" PetscInt_FMT, M);
  e->M = M;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetGroups(DaisiEnsemble e, PetscInt G)
{
  PetscFunctionBegin;
  CheckNotSetUp(e, "DaisiEnsembleSetGroups()");
  PetscCheck(G >= 1, e->world, PETSC_ERR_ARG_OUTOFRANGE, "number of member groups (-ens_groups) must be >= 1, got %" PetscInt_FMT, G);
  e->G = G;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetInitSigma(DaisiEnsemble e, PetscReal sigma)
{
  PetscFunctionBegin;
  PetscCheck(sigma > 0 && PetscIsNormalReal(sigma), e->world, PETSC_ERR_ARG_OUTOFRANGE, "initial perturbation std (-ens_init_sigma) must be finite and > 0, got %g", (double)sigma);
  e->init_sigma = sigma;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetSeed(DaisiEnsemble e, PetscInt64 seed)
{
  PetscFunctionBegin;
  e->seed = seed;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetForecastBatch(DaisiEnsemble e, PetscInt B)
{
  PetscFunctionBegin;
  CheckNotSetUp(e, "DaisiEnsembleSetForecastBatch()");
  PetscCheck(B >= 0, e->world, PETSC_ERR_ARG_OUTOFRANGE, "forecast batch (-ens_forecast_batch) must be >= 0 (0: all local members at once), got %" PetscInt_FMT, B);
  e->fbatch = B;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetModelType(DaisiEnsemble e, DaisiModelType type)
{
  PetscFunctionBegin;
  CheckNotSetUp(e, "DaisiEnsembleSetModelType()");
  PetscCall(PetscStrncpy(e->modeltype, type, sizeof(e->modeltype)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetFromOptions(DaisiEnsemble e)
{
  PetscInt  M = e->M, G = e->G, seed = (PetscInt)e->seed, fb = e->fbatch;
  PetscReal sigma = e->init_sigma;
  PetscBool set;

  PetscFunctionBegin;
  CheckNotSetUp(e, "DaisiEnsembleSetFromOptions()");
  PetscOptionsBegin(e->world, NULL, "Ensemble options", "DaisiEnsemble");
  PetscCall(PetscOptionsInt("-ens_size", "Ensemble size M (>= 2)", "DaisiEnsembleSetSize", M, &M, &set));
  if (set) PetscCall(DaisiEnsembleSetSize(e, M));
  PetscCall(PetscOptionsInt("-ens_groups", "Member groups G (must divide the number of ranks)", "DaisiEnsembleSetGroups", G, &G, &set));
  if (set) PetscCall(DaisiEnsembleSetGroups(e, G));
  PetscCall(PetscOptionsReal("-ens_init_sigma", "Std of the initial perturbations (K)", "DaisiEnsembleSetInitSigma", sigma, &sigma, &set));
  if (set) PetscCall(DaisiEnsembleSetInitSigma(e, sigma));
  PetscCall(PetscOptionsInt("-ens_seed", "Seed of the initial perturbations", "DaisiEnsembleSetSeed", seed, &seed, &set));
  if (set) PetscCall(DaisiEnsembleSetSeed(e, seed));
  PetscCall(PetscOptionsInt("-ens_forecast_batch", "Members a group's model integrates at once; fewer than its members stream through the forecast in batches, bounding the model's memory (0: all)", "DaisiEnsembleSetForecastBatch", fb, &fb, &set));
  if (set) PetscCall(DaisiEnsembleSetForecastBatch(e, fb));
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The transpose plan: where every local slab value goes and where every received value
 * lands in the analysis layout (value gi -> rank gi % R, point gi / R). */
static PetscErrorCode DaisiEnsembleSetUpTranspose(DaisiEnsemble e)
{
  const PetscInt R = e->size, r = e->rank, nx = e->grid.nx, ny = e->grid.ny, nlev = e->grid.nlev;
  PetscInt       mine[2] = {e->grid.y0, e->grid.nyl}, nrecv = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(2 * R, &e->slabs));
  PetscCallMPI(MPI_Allgather(mine, 2, MPIU_INT, e->slabs, 2, MPIU_INT, e->world));
  PetscCall(PetscCalloc4(R, &e->scount, R, &e->rcount, R + 1, &e->roff, PetscMax(1, e->nloc), &e->gidx));
  PetscCall(PetscMalloc2(PetscMax(1, e->nloc), &e->dest, PetscMax(1, e->nloc), &e->slot));
  for (PetscInt lev = 0, i = 0; lev < nlev; lev++)
    for (PetscInt y = 0; y < e->grid.nyl; y++)
      for (PetscInt x = 0; x < nx; x++, i++) {
        const PetscInt gi = (lev * ny + e->grid.y0 + y) * nx + x;
        e->gidx[i]        = gi;
        e->dest[i]        = gi % R;
        e->slot[i]        = e->scount[gi % R]++;
      }
  for (PetscInt q = 0; q < R; q++) {
    const PetscInt y0 = e->slabs[2 * q], nyl = e->slabs[2 * q + 1];
    for (PetscInt lev = 0; lev < nlev; lev++) {
      const PetscInt lo = (lev * ny + y0) * nx, hi = lo + nyl * nx;
      for (PetscInt gi = lo + ((r - lo % R) + R) % R; gi < hi; gi += R) e->rcount[q]++;
    }
    e->roff[q + 1] = e->roff[q] + e->rcount[q];
  }
  PetscCall(PetscMalloc1(PetscMax(1, e->roff[R]), &e->rlist));
  for (PetscInt q = 0, k = 0; q < R; q++) {
    const PetscInt y0 = e->slabs[2 * q], nyl = e->slabs[2 * q + 1];
    for (PetscInt lev = 0; lev < nlev; lev++) {
      const PetscInt lo = (lev * ny + y0) * nx, hi = lo + nyl * nx;
      for (PetscInt gi = lo + ((r - lo % R) + R) % R; gi < hi; gi += R) e->rlist[k++] = gi / R;
    }
  }
  PetscCall(PetscMalloc4(R, &e->sc, R, &e->sd, R, &e->rc, R, &e->rd));
  for (PetscInt q = 0; q < R; q++) nrecv += e->rcount[q] * ((e->M - q / e->P + e->G - 1) / e->G);
  PetscCheck(nrecv == e->npts * e->M, PETSC_COMM_SELF, PETSC_ERR_PLIB, "transpose plan: rank %d receives %" PetscInt_FMT " values, expected %" PetscInt_FMT " (do the group slabs tile the grid?)", (int)r, nrecv, e->npts * e->M);
  PetscCall(PetscMalloc2(PetscMax(1, e->nloc * e->nlocal), &e->sbuf, PetscMax(1, nrecv), &e->rbuf));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetUp(DaisiEnsemble e)
{
  PetscFunctionBegin;
  if (e->setupcalled) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(e->M >= 2, e->world, PETSC_ERR_ARG_OUTOFRANGE, "ensemble size (-ens_size) must be >= 2, got %" PetscInt_FMT, e->M);
  PetscCheck(e->size % e->G == 0, e->world, PETSC_ERR_ARG_INCOMP, "-ens_groups %" PetscInt_FMT " does not divide the number of MPI ranks %d", e->G, (int)e->size);
  PetscCheck(e->G <= e->M, e->world, PETSC_ERR_ARG_INCOMP, "-ens_groups %" PetscInt_FMT " exceeds the ensemble size -ens_size %" PetscInt_FMT " (a group would hold no member)", e->G, e->M);
  e->P       = e->size / e->G;
  e->mygroup = e->rank / e->P;
  e->myslab  = e->rank % e->P;
  e->nlocal  = (e->M - e->mygroup + e->G - 1) / e->G;
  PetscCallMPI(MPI_Comm_split(e->world, (int)e->mygroup, e->rank, &e->group));
  PetscCallMPI(MPI_Comm_split(e->world, (int)e->myslab, e->rank, &e->slab));

  PetscCall(DaisiModelCreate(e->group, &e->model));
  PetscCall(DaisiModelSetType(e->model, e->modeltype));
  e->nbatch = e->fbatch > 0 ? PetscMin(e->fbatch, e->nlocal) : e->nlocal;
  PetscCall(DaisiModelSetBatchSize(e->model, e->nbatch));
  PetscCall(DaisiModelSetFromOptions(e->model));
  PetscCall(DaisiModelSetUp(e->model));
  PetscCall(DaisiModelGetGrid(e->model, &e->grid));
  { /* every group must run the same grid (options may differ between ranks by mistake) */
    PetscInt shape[6] = {e->grid.nlev, e->grid.ny, e->grid.nx, -e->grid.nlev, -e->grid.ny, -e->grid.nx};
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, shape, 6, MPIU_INT, MPI_MAX, e->world));
    PetscCheck(shape[0] == -shape[3] && shape[1] == -shape[4] && shape[2] == -shape[5], e->world, PETSC_ERR_ARG_INCOMP,
               "the member groups' models have different grids (between %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT " and %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT "): are the model options (e.g. -sqg_n) the same on every rank?",
               -shape[3], -shape[4], -shape[5], shape[0], shape[1], shape[2]);
  }
  e->nloc = DaisiGridLocalSize(&e->grid);
  e->n    = DaisiGridGlobalSize(&e->grid);
  e->npts = e->rank < e->n ? (e->n - e->rank + e->size - 1) / e->size : 0;
  PetscCall(PetscCalloc1(PetscMax(1, e->nlocal * e->nloc), &e->x));
  if (e->nbatch < e->nlocal) {
    DaisiNativeLayout lay;
    PetscCall(DaisiModelGetNativeLayout(e->model, &lay));
    e->nnat = lay.nrowl * lay.rowlen;
    PetscCall(PetscCalloc1(PetscMax(1, e->nlocal * e->nnat), &e->native));
  }
  PetscCall(DaisiEnsembleSetUpTranspose(e));
  e->dirty       = PETSC_TRUE;
  e->setupcalled = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleView(DaisiEnsemble e, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(e->world);
  PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiEnsemble: %" PetscInt_FMT " members, %" PetscInt_FMT " group(s) x %" PetscInt_FMT " rank(s), initial sigma %g, seed %" PetscInt64_FMT "\n", e->M, e->G, e->P, (double)e->init_sigma, e->seed));
  if (e->setupcalled && e->nbatch < e->nlocal) PetscCall(PetscViewerASCIIPrintf(viewer, "forecast: members stream through the model %" PetscInt_FMT " at a time\n", e->nbatch));
  if (e->setupcalled) {
    PetscCall(PetscViewerASCIIPushTab(viewer));
    PetscCall(PetscViewerASCIIPrintf(viewer, "analysis layout: %" PetscInt_FMT " values dealt out interleaved over %d rank(s)\n", e->n, (int)e->size));
    PetscCall(DaisiModelView(e->model, viewer));
    PetscCall(PetscViewerASCIIPopTab(viewer));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleDestroy(DaisiEnsemble *e)
{
  PetscFunctionBegin;
  if (!*e) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(DaisiModelDestroy(&(*e)->model));
  if ((*e)->group != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&(*e)->group));
  if ((*e)->slab != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&(*e)->slab));
  PetscCall(PetscFree((*e)->x));
  PetscCall(PetscFree((*e)->native));
  PetscCall(PetscFree((*e)->slabs));
  PetscCall(PetscFree4((*e)->scount, (*e)->rcount, (*e)->roff, (*e)->gidx));
  PetscCall(PetscFree2((*e)->dest, (*e)->slot));
  PetscCall(PetscFree((*e)->rlist));
  PetscCall(PetscFree4((*e)->sc, (*e)->sd, (*e)->rc, (*e)->rd));
  PetscCall(PetscFree2((*e)->sbuf, (*e)->rbuf));
  PetscCall(PetscFree(*e));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetInfo(DaisiEnsemble e, DaisiEnsembleInfo *info)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  info->M       = e->M;
  info->G       = e->G;
  info->P       = e->P;
  info->group   = e->mygroup;
  info->slab    = e->myslab;
  info->nlocal  = e->nlocal;
  info->nloc    = e->nloc;
  info->npts    = e->npts;
  info->nglobal = e->n;
  info->size    = e->size;
  info->rank    = e->rank;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetGrid(DaisiEnsemble e, DaisiGrid *grid)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  *grid = e->grid;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetModel(DaisiEnsemble e, DaisiModel *model)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  *model = e->model;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetComm(DaisiEnsemble e, MPI_Comm *world)
{
  PetscFunctionBegin;
  *world = e->world;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetGroupComm(DaisiEnsemble e, MPI_Comm *group)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  *group = e->group;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetSlabComm(DaisiEnsemble e, MPI_Comm *slab)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  *slab = e->slab;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetMemberIndex(DaisiEnsemble e, PetscInt b, PetscInt *m)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  PetscCheck(b >= 0 && b < e->nlocal, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "local member %" PetscInt_FMT " outside [0, %" PetscInt_FMT ")", b, e->nlocal);
  *m = e->mygroup + b * e->G;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetLocalStates(DaisiEnsemble e, PetscReal **x)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  *x = e->x;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleRestoreLocalStates(DaisiEnsemble e, PetscReal **x)
{
  PetscFunctionBegin;
  PetscCheck(*x == e->x, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "DaisiEnsembleRestoreLocalStates: array was not obtained from DaisiEnsembleGetLocalStates()");
  *x       = NULL;
  e->dirty = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGetLocalStatesRead(DaisiEnsemble e, const PetscReal **x)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  *x = e->x;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleInitializeFromTruth(DaisiEnsemble e, const PetscReal truth[])
{
  PetscFunctionBegin;
  CheckSetUp(e);
  PetscCall(PetscLogEventBegin(DAISI_EnsembleInit, 0, 0, 0, 0));
  for (PetscInt b = 0; b < e->nlocal; b++) {
    const DaisiRng r = DaisiRngMake((uint64_t)e->seed, DAISI_RNG_ENSEMBLE_PERTURBATION, 0, (uint64_t)(e->mygroup + b * e->G), 0);
    for (PetscInt i = 0; i < e->nloc; i++) e->x[b * e->nloc + i] = truth[i] + e->init_sigma * DaisiRngNormal(&r, (uint64_t)e->gidx[i]);
  }
  e->dirty = PETSC_TRUE;
  PetscCall(PetscLogEventEnd(DAISI_EnsembleInit, 0, 0, 0, 0));
  PetscCall(DaisiCheckFinite(e->world, e->nlocal * e->nloc, e->x, "the initial ensemble (is the truth finite?)"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleSetGlobal(DaisiEnsemble e, const PetscReal all[])
{
  PetscFunctionBegin;
  CheckSetUp(e);
  for (PetscInt b = 0; b < e->nlocal; b++) {
    const PetscInt m = e->mygroup + b * e->G;
    for (PetscInt i = 0; i < e->nloc; i++) e->x[b * e->nloc + i] = all[m * e->n + e->gidx[i]];
  }
  e->dirty = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGatherGlobal(DaisiEnsemble e, PetscReal all[])
{
  PetscReal   *xa, *buf = NULL;
  PetscMPIInt *cnt = NULL, *dsp = NULL, mycnt;

  PetscFunctionBegin;
  CheckSetUp(e);
  PetscCall(PetscMalloc1(PetscMax(1, e->M * e->npts), &xa));
  PetscCall(DaisiEnsembleToAnalysis(e, xa));
  PetscCall(PetscMPIIntCast(e->M * e->npts, &mycnt));
  if (!e->rank) {
    PetscCall(PetscMalloc3(e->size, &cnt, e->size, &dsp, e->M * e->n, &buf));
    for (PetscMPIInt q = 0, off = 0; q < e->size; q++) {
      const PetscInt nq = q < e->n ? (e->n - q + e->size - 1) / e->size : 0;
      PetscCall(PetscMPIIntCast(e->M * nq, &cnt[q]));
      dsp[q] = off;
      off += cnt[q];
    }
  }
  PetscCallMPI(MPI_Gatherv(xa, mycnt, MPIU_REAL, buf, cnt, dsp, MPIU_REAL, 0, e->world));
  if (!e->rank) {
    for (PetscMPIInt q = 0; q < e->size; q++) {
      const PetscInt nq = cnt[q] / e->M;
      for (PetscInt m = 0; m < e->M; m++)
        for (PetscInt j = 0; j < nq; j++) all[m * e->n + j * e->size + q] = buf[dsp[q] + m * nq + j];
    }
    PetscCall(PetscFree3(cnt, dsp, buf));
  }
  PetscCall(PetscFree(xa));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleGatherMember(DaisiEnsemble e, PetscInt m, PetscReal full[])
{
  const PetscInt g = m % e->G, nx = e->grid.nx, ny = e->grid.ny, nlev = e->grid.nlev;
  PetscMPIInt   *cnt = NULL, *dsp = NULL, mycnt = 0;
  PetscReal     *buf = NULL;

  PetscFunctionBegin;
  CheckSetUp(e);
  PetscCheck(m >= 0 && m < e->M, e->world, PETSC_ERR_ARG_OUTOFRANGE, "member %" PetscInt_FMT " outside 0..%" PetscInt_FMT, m, e->M - 1);
  if (e->mygroup == g) PetscCall(PetscMPIIntCast(e->nloc, &mycnt));
  if (!e->rank) {
    PetscCall(PetscMalloc3(e->size, &cnt, e->size + 1, &dsp, e->n, &buf));
    dsp[0] = 0;
    for (PetscMPIInt q = 0; q < e->size; q++) {
      cnt[q]     = q / e->P == g ? (PetscMPIInt)(nlev * e->slabs[2 * q + 1] * nx) : 0;
      dsp[q + 1] = dsp[q] + cnt[q];
    }
  }
  PetscCallMPI(MPI_Gatherv(mycnt ? e->x + (m / e->G) * e->nloc : NULL, mycnt, MPIU_REAL, buf, cnt, dsp, MPIU_REAL, 0, e->world));
  if (!e->rank) {
    for (PetscMPIInt q = 0; q < e->size; q++) {
      const PetscInt y0 = e->slabs[2 * q], nyl = e->slabs[2 * q + 1];
      if (!cnt[q]) continue;
      for (PetscInt lev = 0, i = 0; lev < nlev; lev++)
        for (PetscInt y = 0; y < nyl; y++)
          for (PetscInt x = 0; x < nx; x++, i++) full[(lev * ny + y0 + y) * nx + x] = buf[dsp[q] + i];
    }
    PetscCall(PetscFree3(cnt, dsp, buf));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleForecast(DaisiEnsemble e, PetscInt nsteps)
{
  PetscFunctionBegin;
  CheckSetUp(e);
  PetscCall(PetscLogEventBegin(DAISI_EnsembleForecast, 0, 0, 0, 0));
  if (e->nbatch == e->nlocal) { /* the whole group at once; the model keeps its state between forecasts */
    if (e->dirty)
      for (PetscInt b = 0; b < e->nlocal; b++) PetscCall(DaisiModelSetState(e->model, b, e->x + b * e->nloc));
    PetscCall(DaisiModelAdvance(e->model, nsteps));
    for (PetscInt b = 0; b < e->nlocal; b++) PetscCall(DaisiModelGetState(e->model, b, e->x + b * e->nloc));
    e->dirty = PETSC_FALSE;
  } else { /* streaming: the members pass through the model nbatch at a time, each entering from
            * its native state kept here (or from its grid state when that changed), so the
            * result is that of the whole group at once; the unused slots of a short last batch
            * repeat its last member */
    PetscReal t0;
    PetscCall(DaisiModelGetTime(e->model, &t0));
    for (PetscInt b0 = 0; b0 < e->nlocal; b0 += e->nbatch) {
      const PetscInt nb = PetscMin(e->nbatch, e->nlocal - b0);
      PetscCall(DaisiModelSetTime(e->model, t0));
      for (PetscInt b = 0; b < e->nbatch; b++) {
        const PetscInt src = b0 + PetscMin(b, nb - 1);
        if (e->dirty) PetscCall(DaisiModelSetState(e->model, b, e->x + src * e->nloc));
        else PetscCall(DaisiModelSetNative(e->model, b, e->native + src * e->nnat));
      }
      PetscCall(DaisiModelAdvance(e->model, nsteps));
      for (PetscInt b = 0; b < nb; b++) {
        PetscCall(DaisiModelGetState(e->model, b, e->x + (b0 + b) * e->nloc));
        PetscCall(DaisiModelGetNative(e->model, b, e->native + (b0 + b) * e->nnat));
      }
    }
    e->dirty = PETSC_FALSE;
  }
  PetscCall(PetscLogEventEnd(DAISI_EnsembleForecast, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Members of the group of world rank q, and whether this transpose moves only one field
 * (held by group 0). */
static inline PetscInt MembersOf(DaisiEnsemble e, PetscInt q, PetscBool field)
{
  const PetscInt g = q / e->P;
  if (field) return g == 0 ? 1 : 0;
  return (e->M - g + e->G - 1) / e->G;
}

/* forward = slab -> analysis. x is the slab array (nb members), xa the analysis array
 * xa[m * npts + j] (for a field: M = 1). */
static PetscErrorCode DaisiEnsembleTranspose(DaisiEnsemble e, PetscBool forward, PetscBool field, PetscReal x[], PetscReal xa[])
{
  const PetscInt R = e->size, nb = MembersOf(e, e->rank, field);

  PetscFunctionBegin;
  CheckSetUp(e);
  PetscCall(PetscLogEventBegin(DAISI_EnsembleTranspose, 0, 0, 0, 0));
  for (PetscInt q = 0, soff = 0, roff = 0; q < R; q++) {
    PetscCall(PetscMPIIntCast(e->scount[q] * nb, &e->sc[q]));
    PetscCall(PetscMPIIntCast(soff, &e->sd[q]));
    PetscCall(PetscMPIIntCast(e->rcount[q] * MembersOf(e, q, field), &e->rc[q]));
    PetscCall(PetscMPIIntCast(roff, &e->rd[q]));
    soff += e->sc[q];
    roff += e->rc[q];
  }
  if (forward) {
    for (PetscInt b = 0; b < nb; b++)
      for (PetscInt i = 0; i < e->nloc; i++) e->sbuf[e->sd[e->dest[i]] + b * e->scount[e->dest[i]] + e->slot[i]] = x[b * e->nloc + i];
    PetscCallMPI(MPI_Alltoallv(e->sbuf, e->sc, e->sd, MPIU_REAL, e->rbuf, e->rc, e->rd, MPIU_REAL, e->world));
    for (PetscInt q = 0; q < R; q++) {
      const PetscInt nq = MembersOf(e, q, field), g = q / e->P, *list = e->rlist + e->roff[q];
      for (PetscInt b = 0; b < nq; b++) {
        const PetscInt   m   = field ? 0 : g + b * e->G;
        const PetscReal *src = e->rbuf + e->rd[q] + b * e->rcount[q];
        PetscReal       *dst = xa + m * e->npts;
        for (PetscInt k = 0; k < e->rcount[q]; k++) dst[list[k]] = src[k];
      }
    }
  } else {
    for (PetscInt q = 0; q < R; q++) {
      const PetscInt nq = MembersOf(e, q, field), g = q / e->P, *list = e->rlist + e->roff[q];
      for (PetscInt b = 0; b < nq; b++) {
        const PetscInt   m   = field ? 0 : g + b * e->G;
        PetscReal       *dst = e->rbuf + e->rd[q] + b * e->rcount[q];
        const PetscReal *src = xa + m * e->npts;
        for (PetscInt k = 0; k < e->rcount[q]; k++) dst[k] = src[list[k]];
      }
    }
    PetscCallMPI(MPI_Alltoallv(e->rbuf, e->rc, e->rd, MPIU_REAL, e->sbuf, e->sc, e->sd, MPIU_REAL, e->world));
    for (PetscInt b = 0; b < nb; b++)
      for (PetscInt i = 0; i < e->nloc; i++) x[b * e->nloc + i] = e->sbuf[e->sd[e->dest[i]] + b * e->scount[e->dest[i]] + e->slot[i]];
  }
  PetscCall(PetscLogEventEnd(DAISI_EnsembleTranspose, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleToAnalysis(DaisiEnsemble e, PetscReal xa[])
{
  PetscFunctionBegin;
  PetscCall(DaisiEnsembleTranspose(e, PETSC_TRUE, PETSC_FALSE, e->x, xa));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleFromAnalysis(DaisiEnsemble e, const PetscReal xa[])
{
  PetscFunctionBegin;
  PetscCall(DaisiEnsembleTranspose(e, PETSC_FALSE, PETSC_FALSE, e->x, (PetscReal *)xa));
  e->dirty = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiEnsembleFieldToAnalysis(DaisiEnsemble e, const PetscReal f[], PetscReal fa[])
{
  PetscFunctionBegin;
  PetscCall(DaisiEnsembleTranspose(e, PETSC_TRUE, PETSC_TRUE, (PetscReal *)f, fa));
  PetscFunctionReturn(PETSC_SUCCESS);
}
