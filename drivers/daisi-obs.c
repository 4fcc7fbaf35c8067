/* daisi-obs: synthetic observations of a nature run for a twin experiment.
 *
 * For every truth time index c >= 1 (index 0 is the initial state of the experiment) it
 * writes cycle c: y = h(theta_true at the sites) + sigma * z, z ~ N(0, 1) from the counter
 * RNG keyed by (-obs_seed, DAISI_RNG_OBS_NOISE, cycle c; index = observation index), so the
 * file does not depend on the rank count. -scenario gives h, the observed fraction and sigma
 * (EXPERIMENTS.md); every field can be overridden (-obs_operator, -obs_squared_scale,
 * -obs_fraction, -obs_sigma) and the network has its own options (-obs_seed, -obs_sites,
 * -obs_levels, -obs_new_sites_each_cycle). The same options come from a scenario file:
 * -options_file_yaml configs/sqg_sparse.yaml. Layout of the output: docs/observations.md. */
#include <daisi/obsfile.h>
#include <daisi/obsnetwork.h>
#include <daisi/rng.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>

static const char help[] = "DAISI observations: y = h(truth at the sites) + noise for every truth time >= 1.\n"
                           "  -scenario {noisy,sparse,multimodal,saturating}  -truth FILE  -obs_output FILE\n"
                           "  -obs_seed S  -obs_operator {linear,squared,arctan}  -obs_squared_scale C  -obs_fraction F\n"
                           "  -obs_sigma S  -obs_levels 0,1  -obs_sites FILE  -obs_new_sites_each_cycle  -obs_cycles C\n";

typedef struct {
  char     truth[PETSC_MAX_PATH_LEN], output[PETSC_MAX_PATH_LEN];
  PetscInt  ncycle; /* -1: every truth time after the first */
  PetscBool help;   /* -help: print the options and stop */
} ObsOptions;

static PetscErrorCode ObsGetOptions(ObsOptions *o)
{
  PetscBool set;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  o->ncycle = -1;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Observation generation options", "daisi-obs");
  PetscCall(PetscOptionsString("-truth", "Nature-run state file (theta(time, level, y, x))", "", o->truth, o->truth, sizeof(o->truth), &set));
  PetscCall(PetscOptionsString("-obs_output", "Observation file to write (HDF5, netCDF-4 compatible)", "", "obs.h5", o->output, sizeof(o->output), NULL));
  PetscCall(PetscOptionsInt("-obs_cycles", "Number of cycles to write (default: every truth time after the first)", "", o->ncycle, &o->ncycle, NULL));
  PetscOptionsEnd();
  PetscCall(PetscOptionsHasHelp(NULL, &o->help));
  PetscCheck(o->truth[0] || o->help, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give the nature run with -truth FILE (written by daisi-nature)");
  PetscCheck(o->ncycle == -1 || o->ncycle >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-obs_cycles must be >= 1, got %" PetscInt_FMT, o->ncycle);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* This rank's rows of the truth: an even split, independent of any model layout. */
static PetscErrorCode TruthGrid(const char path[], DaisiGrid *g, PetscInt *ntime)
{
  PetscMPIInt rank, size;

  PetscFunctionBegin;
  PetscCall(DaisiStateFileQuery(PETSC_COMM_WORLD, path, g, ntime, NULL));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  g->y0  = g->ny * rank / size;
  g->nyl = g->ny * (rank + 1) / size - g->y0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* hx[i] = h(truth at observation i), every rank getting all values: each rank fills the
 * observations in its rows, the sum over ranks gathers them (one contribution each). */
static PetscErrorCode ObserveTruth(const DaisiGrid *g, const PetscReal x[], DaisiObsSet *set, PetscReal hx[])
{
  PetscReal *loc;

  PetscFunctionBegin;
  PetscCall(PetscCalloc1(set->nobs + 1, &loc));
  for (PetscInt i = 0; i < set->nobs; i++)
    if (set->iy[i] >= g->y0 && set->iy[i] < g->y0 + g->nyl) loc[i] = x[(set->lev[i] * g->nyl + (set->iy[i] - g->y0)) * g->nx + set->ix[i]];
  PetscCall(DaisiObsOperatorApply(set->op, set->nobs, loc, loc));
  for (PetscInt i = 0; i < set->nobs; i++)
    if (!(set->iy[i] >= g->y0 && set->iy[i] < g->y0 + g->nyl)) loc[i] = 0;
  PetscCall(MPIU_Allreduce(loc, hx, (PetscMPIInt)set->nobs, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  PetscCall(PetscFree(loc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ObsRun(const ObsOptions *o, const DaisiObsScenario *sc, DaisiObsNetwork net, DaisiObsOperator op, DaisiObsFile *out)
{
  DaisiGrid      g;
  DaisiStateFile truth = NULL;
  DaisiObsSet    set;
  PetscInt       ntime, ncycle, nobs, nsite, nlevobs;
  PetscInt64     seed;
  PetscReal     *x, *hx, t, sum = 0, sumsq = 0;
  DaisiObsOperatorType type;

  PetscFunctionBegin;
  PetscCall(TruthGrid(o->truth, &g, &ntime));
  PetscCheck(ntime >= 2, PETSC_COMM_WORLD, PETSC_ERR_ARG_SIZ, "truth file %s holds %" PetscInt_FMT " time(s); observations need at least 2 (time index 0 is the initial state)", o->truth, ntime);
  ncycle = o->ncycle < 0 ? ntime - 1 : o->ncycle;
  PetscCheck(ncycle <= ntime - 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-obs_cycles %" PetscInt_FMT " asks for more cycles than truth file %s holds (%" PetscInt_FMT " times -> %" PetscInt_FMT " cycles)", o->ncycle, o->truth, ntime, ntime - 1);
  PetscCall(DaisiObsNetworkSetGrid(net, &g));
  PetscCall(DaisiObsNetworkSetUp(net));
  PetscCall(DaisiObsNetworkGetSizes(net, &nobs, &nsite, &nlevobs));
  PetscCall(DaisiObsNetworkGetSeed(net, &seed));
  PetscCall(DaisiObsOperatorGetType(op, &type));

  PetscCall(DaisiStateFileCreate(PETSC_COMM_WORLD, &truth));
  PetscCall(DaisiStateFileSetGrid(truth, &g));
  PetscCall(DaisiStateFileOpen(truth, o->truth, DAISI_FILE_READ));

  PetscCall(DaisiObsFileCreate(PETSC_COMM_WORLD, out));
  PetscCall(DaisiObsFileSetGrid(*out, &g));
  PetscCall(DaisiObsFileSetSizes(*out, ncycle, nobs));
  PetscCall(DaisiObsFileSetOperator(*out, op));
  PetscCall(DaisiObsFileSetString(*out, "title", "DAISI synthetic observations"));
  PetscCall(DaisiObsFileSetString(*out, "scenario", sc->name));
  PetscCall(DaisiObsFileSetString(*out, "truth_file", o->truth));
  PetscCall(DaisiObsFileSetReal(*out, "obs_fraction", sc->fraction));
  PetscCall(DaisiObsFileSetReal(*out, "obs_seed", (PetscReal)seed));
  PetscCall(DaisiObsFileOpen(*out, o->output, DAISI_FILE_WRITE));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "obs | scenario %s: h %s, %" PetscInt_FMT " sites x %" PetscInt_FMT " level(s) = %" PetscInt_FMT " observations per cycle, sigma %g, %" PetscInt_FMT " cycle(s) from %s -> %s\n", sc->name, type, nsite, nlevobs, nobs, (double)sc->sigma, ncycle, o->truth, o->output));

  PetscCall(PetscMalloc2(DaisiGridLocalSize(&g) + 1, &x, nobs + 1, &hx));
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, nobs, type, &set));
  PetscCall(DaisiObsOperatorDestroy(&set.op));
  set.op = op; /* the set borrows the configured operator; given back below */
  for (PetscInt c = 1; c <= ncycle; c++) {
    const PetscInt *lev, *iy, *ix;
    const DaisiRng  rng = DaisiRngMake((uint64_t)seed, DAISI_RNG_OBS_NOISE, (uint64_t)c, 0, 0);
    PetscInt        n;

    PetscCall(DaisiStateFileRead(truth, c, &t, x));
    PetscCall(DaisiObsNetworkGetSites(net, c, &n, &lev, &iy, &ix));
    PetscCall(PetscArraycpy(set.lev, lev, n));
    PetscCall(PetscArraycpy(set.iy, iy, n));
    PetscCall(PetscArraycpy(set.ix, ix, n));
    PetscCall(ObserveTruth(&g, x, &set, hx));
    for (PetscInt i = 0; i < n; i++) {
      const PetscReal z = (PetscReal)DaisiRngNormal(&rng, (uint64_t)i);
      set.value[i]      = hx[i] + sc->sigma * z;
      set.sigma[i]      = sc->sigma;
      sum += z;
      sumsq += z * z;
    }
    set.cycle = c;
    set.time  = t;
    PetscCall(DaisiObsFileWrite(*out, c - 1, &set));
  }
  set.op = NULL;
  PetscCall(DaisiObsSetDestroy(&set));
  PetscCall(PetscFree2(x, hx));
  PetscCall(DaisiStateFileClose(truth));
  PetscCall(DaisiStateFileDestroy(&truth));
  {
    const PetscReal n = (PetscReal)nobs * (PetscReal)ncycle, mean = sum / n;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "obs | noise / sigma over %g values: mean %+.4f, std %.4f\n", (double)n, (double)mean, (double)PetscSqrtReal(PetscMax(0, sumsq / n - mean * mean))));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  ObsOptions       o;
  DaisiObsScenario sc;
  DaisiObsNetwork  net = NULL;
  DaisiObsOperator op  = NULL;
  DaisiObsFile     out = NULL;
  PetscBool        view = PETSC_FALSE;
  PetscErrorCode   ierr;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(ObsGetOptions(&o));
  PetscCall(DaisiObsScenarioGetFromOptions(PETSC_COMM_WORLD, NULL, &sc));
  /* the scenario gives the defaults; the objects' own options override them */
  PetscCall(DaisiObsOperatorCreate(PETSC_COMM_WORLD, &op));
  PetscCall(DaisiObsOperatorSetType(op, sc.op));
  PetscCall(DaisiObsOperatorSetSquaredScale(op, sc.squared_scale));
  PetscCall(DaisiObsOperatorSetFromOptions(op));
  PetscCall(DaisiObsNetworkCreate(PETSC_COMM_WORLD, &net));
  PetscCall(DaisiObsNetworkSetFraction(net, sc.fraction));
  PetscCall(DaisiObsNetworkSetSeed(net, sc.seed));
  PetscCall(DaisiObsNetworkSetFromOptions(net));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-obs_view", &view, NULL));
  if (o.help) {
    PetscCall(DaisiObsNetworkDestroy(&net));
    PetscCall(DaisiObsOperatorDestroy(&op));
    PetscCall(DaisiFinalize());
    return 0;
  }
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  ierr = ObsRun(&o, &sc, net, op, &out);
  if (ierr) {
    /* a failed run leaves nothing under the output name */
    if (out) (void)DaisiObsFileDiscard(out);
    (void)DaisiObsFileDestroy(&out);
    (void)DaisiObsNetworkDestroy(&net);
    (void)DaisiObsOperatorDestroy(&op);
    (void)DaisiFinalize();
    return (int)ierr;
  }
  if (view) {
    PetscCall(DaisiObsOperatorView(op, PETSC_VIEWER_STDOUT_WORLD));
    PetscCall(DaisiObsNetworkView(net, PETSC_VIEWER_STDOUT_WORLD));
  }
  PetscCall(DaisiObsFileClose(out));
  PetscCall(DaisiObsFileDestroy(&out));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "obs | wrote %s\n", o.output));
  PetscCall(DaisiObsNetworkDestroy(&net));
  PetscCall(DaisiObsOperatorDestroy(&op));
  PetscCall(DaisiFinalize());
  return 0;
}
