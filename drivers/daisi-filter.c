/* daisi-filter: a cycling twin experiment. Reads the truth (a nature-run file) and the
 * observations (daisi-obs), builds the initial ensemble from the truth's time index 0 plus
 * Gaussian perturbations, and for C cycles runs forecasts and analyses (-filter_type letkf,
 * etkf, enkf, none, daisi, pf, 3dvar, l3dvar, losda), printing one progress line per cycle and writing a diagnostics file
 * (scores over cycles, ensemble mean and spread fields, optionally members, rank histogram).
 * Checkpoints every -filter_checkpoint_every cycles and on SIGTERM/SIGUSR1 (exit 3);
 * -filter_restart continues with results identical to an uninterrupted run. */
#include <daisi/checkpoint.h>
#include <daisi/diagfile.h>
#include <daisi/ensemble.h>
#include <daisi/filter.h>
#include <daisi/metrics.h>
#include <daisi/obsfile.h>
#include <daisi/obsnetwork.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>

static const char help[] = "DAISI cycling filter: forecasts and analyses against a nature run.\n"
                           "  -truth FILE -obs FILE -cycles C -filter_output FILE -filter_type letkf|etkf|enkf|none|daisi|pf|3dvar|l3dvar|losda\n"
                           "  -ens_size M -ens_groups G -filter_checkpoint_every K -filter_restart -filter_save_members\n"
                           "  -filter_view (print the filter's settings)  -daisi_prior FILE -daisi_* (docs/daisi.md)  -var3d_* -l3dvar_* -losda_* (docs/filters.md)\n";

/* the per-cycle scores written to the diagnostics file, in this order */
enum {
  S_RMSE_B, S_RMSE_A, S_SPREAD_B, S_SPREAD_A, S_SSR_B, S_SSR_A, S_CRPS_B, S_CRPS_A, S_CRPSF_B, S_CRPSF_A,
  S_INNOV_MEAN, S_INNOV_STD, S_NOBS, S_NSKIPPED, S_SEC_FORECAST, S_SEC_ANALYSIS, S_N
};
static const char *const series_names[S_N] = {"rmse_b", "rmse_a", "spread_b", "spread_a", "ssr_b", "ssr_a", "crps_b", "crps_a", "crps_fair_b", "crps_fair_a", "innov_mean", "innov_std", "nobs", "nobs_skipped", "seconds_forecast", "seconds_analysis"};

typedef struct {
  char      truth[PETSC_MAX_PATH_LEN], obs[PETSC_MAX_PATH_LEN], output[PETSC_MAX_PATH_LEN], ckpt[PETSC_MAX_PATH_LEN];
  char      scenario[64];
  PetscInt  cycles, ckpt_every, hist_start, stop_at;
  PetscBool restart, save_members, view;
} FilterOptions;

static PetscErrorCode FilterGetOptions(FilterOptions *o)
{
  PetscBool set, flg;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  PetscCall(PetscStrncpy(o->output, "filter.h5", sizeof(o->output)));
  o->cycles     = -1;
  o->hist_start = 1;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Cycling filter options", "daisi-filter");
  PetscCall(PetscOptionsString("-truth", "Truth: a nature-run state file (daisi-nature)", "", o->truth, o->truth, sizeof(o->truth), &flg));
  PetscCheck(flg, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give the truth file with -truth FILE (a daisi-nature output)");
  PetscCall(PetscOptionsString("-obs", "Observation file (daisi-obs)", "", o->obs, o->obs, sizeof(o->obs), &flg));
  PetscCheck(flg, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give the observation file with -obs FILE (a daisi-obs output)");
  PetscCall(PetscOptionsInt("-cycles", "Number of cycles (default: all the observation file has)", "", o->cycles, &o->cycles, NULL));
  PetscCall(PetscOptionsString("-filter_output", "Diagnostics file (HDF5)", "", o->output, o->output, sizeof(o->output), NULL));
  PetscCall(PetscOptionsString("-filter_checkpoint", "Checkpoint file (default <output>.chk)", "", o->ckpt, o->ckpt, sizeof(o->ckpt), &set));
  if (!set) PetscCall(PetscSNPrintf(o->ckpt, sizeof(o->ckpt), "%s.chk", o->output));
  PetscCall(PetscOptionsInt("-filter_checkpoint_every", "Checkpoint interval in cycles (0: only when signalled)", "", o->ckpt_every, &o->ckpt_every, NULL));
  PetscCall(PetscOptionsBool("-filter_restart", "Continue from the checkpoint if there is one", "", o->restart, &o->restart, NULL));
  PetscCall(PetscOptionsBool("-filter_save_members", "Write the analysis members of every cycle", "", o->save_members, &o->save_members, NULL));
  PetscCall(PetscOptionsInt("-filter_stats_start", "First cycle of the statistics window (rank histogram, spectra)", "", o->hist_start, &o->hist_start, NULL));
  PetscCall(PetscOptionsInt("-filter_stop_at_cycle", "Behave as if signalled after this cycle (testing restarts; 0: off)", "", o->stop_at, &o->stop_at, NULL));
  PetscCall(PetscOptionsString("-scenario", "Scenario name (checked against the observation file)", "", o->scenario, o->scenario, sizeof(o->scenario), NULL));
  PetscCall(PetscOptionsBool("-filter_view", "Print the filter's settings before the first cycle", "DaisiFilterView", o->view, &o->view, NULL));
  PetscOptionsEnd();
  PetscCheck(o->ckpt_every >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-filter_checkpoint_every must be >= 0");
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscLogEvent FILTER_Gather = 0; /* the rank-0 gathers of the diagnostics output */

/* gathers a field held in the analysis layout (point j of rank r is global index j*R + r) to
 * rank 0 as full[nglobal] */
static PetscErrorCode GatherAnalysisField(const DaisiEnsembleInfo *in, MPI_Comm world, const PetscReal fa[], PetscReal full[], PetscReal work[])
{
  PetscMPIInt *cnt = NULL, *dsp = NULL, n = (PetscMPIInt)in->npts;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(FILTER_Gather, 0, 0, 0, 0));
  if (in->rank == 0) PetscCall(PetscMalloc2(in->size, &cnt, in->size, &dsp));
  PetscCallMPI(MPI_Gather(&n, 1, MPI_INT, cnt, 1, MPI_INT, 0, world));
  if (in->rank == 0) {
    dsp[0] = 0;
    for (PetscInt r = 1; r < in->size; r++) dsp[r] = dsp[r - 1] + cnt[r - 1];
  }
  PetscCallMPI(MPI_Gatherv(fa, n, MPIU_REAL, work, cnt, dsp, MPIU_REAL, 0, world));
  if (in->rank == 0) {
    for (PetscInt r = 0; r < in->size; r++)
      for (PetscInt j = 0; j < cnt[r]; j++) full[j * in->size + r] = work[dsp[r] + j];
    PetscCall(PetscFree2(cnt, dsp));
  }
  PetscCall(PetscLogEventEnd(FILTER_Gather, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ensemble mean and spread (unbiased std) per analysis point */
static void MeanSpread(PetscInt M, PetscInt n, const PetscReal xa[], PetscReal mean[], PetscReal spread[])
{
  for (PetscInt j = 0; j < n; j++) {
    PetscReal s = 0, v = 0;
    for (PetscInt m = 0; m < M; m++) s += xa[m * n + j];
    s /= M;
    for (PetscInt m = 0; m < M; m++) v += (xa[m * n + j] - s) * (xa[m * n + j] - s);
    mean[j]   = s;
    spread[j] = PetscSqrtReal(v / (M - 1));
  }
}

/* observation-space innovation statistics of the ensemble xa (analysis layout) */
static PetscErrorCode Innovation(const DaisiEnsembleInfo *in, MPI_Comm world, const DaisiGrid *g, const DaisiObsSet *obs, const PetscReal xa[], PetscReal *mean, PetscReal *std)
{
  PetscInt   nmine = 0;
  PetscReal *hx, *y, *xm, *hm;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(obs->nobs + 1, &hx, obs->nobs + 1, &y, in->M, &xm, in->M, &hm));
  for (PetscInt i = 0; i < obs->nobs; i++) {
    const PetscInt gi = (obs->lev[i] * g->ny + obs->iy[i]) * g->nx + obs->ix[i];
    if (gi % in->size != in->rank) continue;
    for (PetscInt m = 0; m < in->M; m++) xm[m] = xa[m * in->npts + gi / in->size];
    PetscCall(DaisiObsOperatorApply(obs->op, in->M, xm, hm));
    hx[nmine] = 0;
    for (PetscInt m = 0; m < in->M; m++) hx[nmine] += hm[m];
    hx[nmine] /= in->M;
    y[nmine++] = obs->value[i];
  }
  if (obs->nobs >= 2) PetscCall(DaisiMetricsInnovation(world, nmine, hx, y, mean, std));
  else {
    /* one observation (Lorenz '63 observing x only) or none: the std is undefined (NaN) */
    PetscReal s = nmine ? y[0] - hx[0] : 0;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPIU_REAL, MPIU_SUM, world));
    *mean = obs->nobs ? s : (PetscReal)NAN;
    *std  = (PetscReal)NAN;
  }
  PetscCall(PetscFree4(hx, y, xm, hm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What accumulates over the cycles of the statistics window: the rank histogram and the
 * sums of the error and spread spectra (spec[0 .. nspec) error, spec[nspec .. 2 nspec) spread). */
typedef struct {
  PetscInt    nbins, nspec;
  PetscInt64 *hist, nacc;
  PetscReal  *spec;
} FilterStats;

/* The checkpoint holds every member's analysis state on the grid (the next forecast starts
 * from these exact values in both an uninterrupted and a restarted run), the cycle reached and
 * the statistics so far. Every group writes its own members' slabs in parallel (dataset
 * native(member * nlev + level, y, x)); no rank holds more than its share of the ensemble, and
 * a run may restart on any (G, P) layout. */
static PetscErrorCode CheckpointIO(DaisiEnsemble e, const FilterOptions *o, PetscBool write, PetscInt *cycle, FilterStats *st)
{
  DaisiEnsembleInfo in;
  DaisiGrid         g;
  DaisiNativeLayout lay;
  DaisiCheckpoint   c;
  PetscReal        *x, **rows;
  PetscInt         *members;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  lay.nrows  = g.ny;
  lay.rowlen = g.nx;
  lay.row0   = g.y0;
  lay.nrowl  = g.nyl;
  if (write) PetscCall(DaisiEnsembleGetLocalStatesRead(e, (const PetscReal **)&x));
  else PetscCall(DaisiEnsembleGetLocalStates(e, &x));
  PetscCall(PetscMalloc2(in.nlocal * g.nlev + 1, &rows, in.nlocal * g.nlev + 1, &members));
  for (PetscInt b = 0; b < in.nlocal; b++) {
    PetscInt m;
    PetscCall(DaisiEnsembleGetMemberIndex(e, b, &m));
    for (PetscInt lev = 0; lev < g.nlev; lev++) {
      members[b * g.nlev + lev] = m * g.nlev + lev;
      rows[b * g.nlev + lev]    = x + b * in.nloc + lev * g.nyl * g.nx;
    }
  }
  PetscCall(DaisiCheckpointCreate(PETSC_COMM_WORLD, &c));
  PetscCall(DaisiCheckpointSetLayout(c, &lay, in.M * g.nlev));
  PetscCall(DaisiCheckpointSetMembers(c, in.nlocal * g.nlev, members));
  PetscCall(DaisiCheckpointSetString(c, "truth", o->truth));
  PetscCall(DaisiCheckpointSetString(c, "obs", o->obs));
  if (write) {
    PetscCall(DaisiCheckpointSetInt(c, "cycle", *cycle));
    PetscCall(DaisiCheckpointSetInt(c, "stats_cycles", st->nacc));
    for (PetscInt b = 0; b < st->nbins; b++) {
      char name[32];
      PetscCall(PetscSNPrintf(name, sizeof(name), "rank_histogram_%" PetscInt_FMT, b));
      PetscCall(DaisiCheckpointSetInt(c, name, st->hist[b]));
    }
    for (PetscInt b = 0; b < 2 * st->nspec; b++) {
      char name[32];
      PetscCall(PetscSNPrintf(name, sizeof(name), "spectrum_sum_%" PetscInt_FMT, b));
      PetscCall(DaisiCheckpointSetReal(c, name, st->spec[b]));
    }
    PetscCall(DaisiCheckpointWrite(c, o->ckpt, (const PetscReal *const *)rows));
  } else {
    PetscInt64 v;
    PetscCall(DaisiCheckpointRead(c, o->ckpt, rows));
    PetscCall(DaisiEnsembleRestoreLocalStates(e, &x));
    PetscCall(DaisiCheckpointGetInt(c, "cycle", &v));
    *cycle = (PetscInt)v;
    PetscCall(DaisiCheckpointGetInt(c, "stats_cycles", &st->nacc));
    for (PetscInt b = 0; b < st->nbins; b++) {
      char name[32];
      PetscCall(PetscSNPrintf(name, sizeof(name), "rank_histogram_%" PetscInt_FMT, b));
      PetscCall(DaisiCheckpointGetInt(c, name, &st->hist[b]));
    }
    for (PetscInt b = 0; b < 2 * st->nspec; b++) {
      char name[32];
      PetscCall(PetscSNPrintf(name, sizeof(name), "spectrum_sum_%" PetscInt_FMT, b));
      PetscCall(DaisiCheckpointGetReal(c, name, &st->spec[b]));
    }
  }
  PetscCall(DaisiCheckpointDestroy(&c));
  PetscCall(PetscFree2(rows, members));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Error spectrum of the ensemble mean and spread spectrum of the members, in the slab layout:
 * the mean is summed over each group's members and then over the groups (slab comm), each
 * group transforms its own members, and the groups' spread parts are summed. Every rank
 * returns the whole spectra. */
static PetscErrorCode AnalysisSpectra(DaisiEnsemble e, const PetscReal truth[], PetscReal errspec[], PetscReal spreadspec[])
{
  DaisiEnsembleInfo in;
  DaisiGrid         g;
  MPI_Comm          group, slab;
  const PetscReal  *x;
  PetscReal        *sum, *mean, *part;
  PetscInt          nk, ns;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiEnsembleGetGroupComm(e, &group));
  PetscCall(DaisiEnsembleGetSlabComm(e, &slab));
  PetscCall(DaisiEnsembleGetLocalStatesRead(e, &x));
  PetscCall(DaisiMetricsSpectrumSize(&g, &nk));
  ns = g.nlev * nk;
  PetscCall(PetscMalloc3(in.nloc + 1, &sum, in.nloc + 1, &mean, ns, &part));
  for (PetscInt i = 0; i < in.nloc; i++) {
    sum[i] = 0;
    for (PetscInt b = 0; b < in.nlocal; b++) sum[i] += x[b * in.nloc + i];
  }
  PetscCallMPI(MPI_Allreduce(sum, mean, (PetscMPIInt)in.nloc, MPIU_REAL, MPIU_SUM, slab));
  for (PetscInt i = 0; i < in.nloc; i++) {
    mean[i] /= (PetscReal)in.M;
    sum[i] = mean[i] - truth[i];
  }
  PetscCall(DaisiMetricsPowerSpectrum(group, &g, sum, errspec));
  PetscCall(DaisiMetricsDeviationSpectrum(group, &g, in.nlocal, x, mean, 1.0 / (in.M - 1), part));
  PetscCallMPI(MPI_Allreduce(part, spreadspec, (PetscMPIInt)ns, MPIU_REAL, MPIU_SUM, slab));
  PetscCall(PetscFree3(sum, mean, part));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* With -scenario (a scenario YAML file serves daisi-obs and daisi-filter alike), the
 * observation settings must be those the observation file was made with. */
static PetscErrorCode CheckScenario(MPI_Comm world, const FilterOptions *o, DaisiObsFile obs)
{
  DaisiObsScenario s;
  char             fs[64], fop[64];
  PetscReal        ffrac, fscale, fseed;
  PetscInt         seed = DAISI_OBS_SEED_DEFAULT, levels[16], nlev = 16;
  PetscBool        found, same, set;

  PetscFunctionBegin;
  PetscCall(DaisiObsScenarioGetFromOptions(world, NULL, &s));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-obs_seed", &seed, NULL));
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-obs_levels", levels, &nlev, &set)); /* the network's, read by daisi-obs */
  PetscCall(DaisiObsFileGetString(obs, "scenario", fs, sizeof(fs), &found));
  PetscCall(PetscStrcmp(fs, o->scenario, &same));
  PetscCheck(!found || same, world, PETSC_ERR_ARG_INCOMP, "observation file %s was made for scenario '%s', but -scenario is '%s'", o->obs, fs, o->scenario);
  PetscCall(DaisiObsFileGetString(obs, "obs_operator", fop, sizeof(fop), &found));
  PetscCall(PetscStrcmp(fop, s.op, &same));
  PetscCheck(!found || same, world, PETSC_ERR_ARG_INCOMP, "observation file %s uses the operator %s, but the options say -obs_operator %s", o->obs, fop, s.op);
  PetscCall(DaisiObsFileGetReal(obs, "obs_fraction", &ffrac, &found));
  PetscCheck(!found || PetscAbsReal(ffrac - s.fraction) < 1e-12, world, PETSC_ERR_ARG_INCOMP, "observation file %s has obs_fraction %g, but the options say %g", o->obs, (double)ffrac, (double)s.fraction);
  PetscCall(DaisiObsFileGetReal(obs, "obs_squared_scale", &fscale, &found));
  PetscCheck(!found || PetscAbsReal(fscale - s.squared_scale) < 1e-12, world, PETSC_ERR_ARG_INCOMP, "observation file %s has obs_squared_scale %g, but the options say %g", o->obs, (double)fscale, (double)s.squared_scale);
  PetscCall(DaisiObsFileGetReal(obs, "obs_seed", &fseed, &found));
  PetscCheck(!found || (PetscInt)fseed == seed, world, PETSC_ERR_ARG_INCOMP, "observation file %s was drawn with obs_seed %g, but the options say %" PetscInt_FMT, o->obs, (double)fseed, seed);
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  DaisiEnsemble  e;
  DaisiFilter    f;
  DaisiStateFile truth;
  DaisiObsFile   obs;
  DaisiDiagFile  diag;
} FilterRun;

static PetscErrorCode FilterCycle(const FilterOptions *o, FilterRun *run, PetscBool *stopped)
{
  DaisiEnsembleInfo in;
  DaisiGrid         g, sg;
  MPI_Comm          world;
  DaisiModel        model;
  DaisiFilterType   ftype;
  PetscInt          ntime, nmem, tlev, tny, tnx, ncyc_obs, nobs, olev, ony, onx, C, start = 1, nbins, nk;
  FilterStats       st;
  PetscReal        *spec1 = NULL, *spec2 = NULL, *smean = NULL;
  PetscReal        *truth, *ta, *xa, *mean, *spread, *full = NULL, *work = NULL, dt;
  PetscInt64       *hc;
  PetscBool         have_ckpt = PETSC_FALSE;

  PetscFunctionBegin;
  *stopped = PETSC_FALSE;
  PetscCall(DaisiEnsembleGetInfo(run->e, &in));
  PetscCall(DaisiEnsembleGetGrid(run->e, &g));
  PetscCall(DaisiEnsembleGetComm(run->e, &world));
  PetscCall(DaisiEnsembleGetModel(run->e, &model));
  PetscCall(DaisiFilterGetType(run->f, &ftype));
  sg = g; /* this rank's slab of the truth: the group's layout */

  /* truth and observations, checked against the model grid */
  PetscCall(DaisiStateFileCreate(world, &run->truth));
  PetscCall(DaisiStateFileSetGrid(run->truth, &sg));
  PetscCall(DaisiStateFileOpen(run->truth, o->truth, DAISI_FILE_READ));
  PetscCall(DaisiStateFileGetSizes(run->truth, &ntime, &nmem, &tlev, &tny, &tnx));
  PetscCheck(ntime >= 2, world, PETSC_ERR_ARG_SIZ, "truth file %s has %" PetscInt_FMT " time(s): at least 2 are needed (time 0 starts the ensemble)", o->truth, ntime);
  PetscCall(DaisiObsFileCreate(world, &run->obs));
  PetscCall(DaisiObsFileSetGrid(run->obs, &g));
  PetscCall(DaisiObsFileOpen(run->obs, o->obs, DAISI_FILE_READ));
  PetscCall(DaisiObsFileGetSizes(run->obs, &ncyc_obs, &nobs, &olev, &ony, &onx));
  if (o->scenario[0]) PetscCall(CheckScenario(world, o, run->obs));
  PetscCall(DaisiCheckOptionsUsed(world)); /* every program option has been read by now */
  C = o->cycles >= 0 ? o->cycles : PetscMin(ncyc_obs, ntime - 1);
  PetscCheck(C >= 1, world, PETSC_ERR_ARG_OUTOFRANGE, "-cycles must be >= 1");
  PetscCheck(C <= ntime - 1, world, PETSC_ERR_ARG_OUTOFRANGE, "-cycles %" PetscInt_FMT ": the truth file %s has only %" PetscInt_FMT " times after the initial one", C, o->truth, ntime - 1);
  PetscCheck(C <= ncyc_obs, world, PETSC_ERR_ARG_OUTOFRANGE, "-cycles %" PetscInt_FMT ": the observation file %s has only %" PetscInt_FMT " cycles", C, o->obs, ncyc_obs);

  nbins = in.M + 1;
  PetscCall(DaisiMetricsSpectrumSize(&g, &nk));
  st.nbins = nbins;
  st.nspec = g.nlev * nk;
  st.nacc  = 0;
  PetscCall(PetscMalloc5(DaisiGridLocalSize(&g) + 1, &truth, in.npts + 1, &ta, in.M * in.npts + 1, &xa, in.npts + 1, &mean, in.npts + 1, &spread));
  PetscCall(PetscCalloc3(nbins, &st.hist, 2 * st.nspec, &st.spec, nbins, &hc));
  PetscCall(PetscMalloc3(st.nspec, &spec1, st.nspec, &spec2, 2 * st.nspec, &smean));
  if (in.rank == 0) PetscCall(PetscMalloc2(in.nglobal, &full, in.nglobal, &work)); /* fields written by rank 0 */

  if (o->restart) PetscCall(DaisiFileExists(PETSC_COMM_WORLD, o->ckpt, &have_ckpt));
  if (have_ckpt) {
    PetscInt done;
    PetscCall(CheckpointIO(run->e, o, PETSC_FALSE, &done, &st));
    start = done + 1;
    PetscCall(PetscPrintf(world, "filter | restarting from %s after cycle %" PetscInt_FMT "\n", o->ckpt, done));
  } else {
    PetscCall(DaisiStateFileRead(run->truth, 0, NULL, truth));
    PetscCall(DaisiEnsembleInitializeFromTruth(run->e, truth));
  }
  PetscCall(DaisiDiagFileOpen(world, o->output, &g, C, S_N, series_names, o->save_members ? in.M : 0, nbins, nk, have_ckpt, &run->diag));
  if (!have_ckpt) {
    PetscCall(DaisiDiagFileSetString(run->diag, "filter_type", ftype));
    PetscCall(DaisiDiagFileSetString(run->diag, "truth", o->truth));
    PetscCall(DaisiDiagFileSetString(run->diag, "obs", o->obs));
    PetscCall(DaisiDiagFileSetString(run->diag, "crps_note", "crps_*: ensemble CRPS with the 1/(2 M^2) spread term; crps_fair_*: 1/(2 M (M-1))"));
    PetscCall(DaisiDiagFileSetReal(run->diag, "ens_size", (PetscReal)in.M));
    PetscCall(DaisiDiagFileSetReal(run->diag, "stats_start", (PetscReal)o->hist_start));
  }
  PetscCall(PetscPrintf(world, "filter | %s, %" PetscInt_FMT " members in %" PetscInt_FMT " group(s) of %" PetscInt_FMT " rank(s), %" PetscInt_FMT " cycles, grid %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT "\n", ftype, in.M, in.G, in.P, C, g.nlev, g.ny, g.nx));
  PetscCall(PetscPrintf(world, "filter | cycle        day    rmse_b   rmse_a  spread_a  crps_a  nobs   forecast_s analysis_s\n"));

  for (PetscInt c = start; c <= C; c++) {
    const PetscInt      k = c - 1;
    DaisiObsSet         obs;
    DaisiEnsembleScores sb, sa;
    PetscReal           vals[S_N], tc, tp, imean, istd;
    PetscInt            nskipped, steps;
    PetscLogDouble      ta0, ta1, ta2;
    PetscBool           stop;

    /* forecast over the truth's interval */
    PetscCall(DaisiStateFileReadTime(run->truth, c - 1, &tp));
    PetscCall(DaisiStateFileReadTime(run->truth, c, &tc));
    dt    = g.dt;
    steps = (PetscInt)PetscFloorReal((tc - tp) / dt + 0.5);
    PetscCheck(steps >= 1 && PetscAbsReal(steps * dt - (tc - tp)) <= 1e-6 * PetscAbsReal(tc - tp), world, PETSC_ERR_ARG_INCOMP, "truth file %s: times %g and %g are not a whole number of model steps of %g s apart", o->truth, (double)tp, (double)tc, (double)dt);
    PetscCall(PetscTime(&ta0));
    PetscCall(DaisiEnsembleForecast(run->e, steps));
    PetscCall(PetscTime(&ta1));
    /* background scores */
    PetscCall(DaisiStateFileRead(run->truth, c, NULL, truth));
    PetscCall(DaisiEnsembleFieldToAnalysis(run->e, truth, ta));
    PetscCall(DaisiEnsembleToAnalysis(run->e, xa));
    PetscCall(DaisiMetricsScores(world, in.M, in.npts, xa, ta, &sb));
    MeanSpread(in.M, in.npts, xa, mean, spread);
    PetscCall(GatherAnalysisField(&in, world, mean, full, work));
    PetscCall(DaisiDiagFileWriteField(run->diag, "ens_mean_b", k, full));
    PetscCall(GatherAnalysisField(&in, world, spread, full, work));
    PetscCall(DaisiDiagFileWriteField(run->diag, "ens_spread_b", k, full));
    /* analysis */
    PetscCall(DaisiObsFileRead(run->obs, c, &obs, &nskipped));
    PetscCall(Innovation(&in, world, &g, &obs, xa, &imean, &istd));
    PetscCall(DaisiFilterAnalysis(run->f, run->e, &obs));
    PetscCall(PetscTime(&ta2));
    PetscCall(DaisiEnsembleToAnalysis(run->e, xa));
    PetscCall(DaisiMetricsScores(world, in.M, in.npts, xa, ta, &sa));
    MeanSpread(in.M, in.npts, xa, mean, spread);
    PetscCall(GatherAnalysisField(&in, world, mean, full, work));
    PetscCall(DaisiDiagFileWriteField(run->diag, "ens_mean_a", k, full));
    PetscCall(GatherAnalysisField(&in, world, spread, full, work));
    PetscCall(DaisiDiagFileWriteField(run->diag, "ens_spread_a", k, full));
    if (c >= o->hist_start) {
      /* one histogram per cycle, its tie-breaking keyed by the cycle: restart-safe */
      DaisiRankHistogram h;
      PetscInt64        *gidx;
      PetscInt           nb;
      PetscCall(PetscMalloc1(in.npts + 1, &gidx));
      for (PetscInt j = 0; j < in.npts; j++) gidx[j] = DaisiEnsembleAnalysisGlobalIndex(&in, j);
      PetscCall(DaisiRankHistogramCreate(world, in.M, &h));
      PetscCall(DaisiRankHistogramSetSeed(h, c));
      PetscCall(DaisiRankHistogramAccumulate(h, in.npts, xa, ta, gidx));
      PetscCall(DaisiRankHistogramGetCounts(h, &nb, hc));
      for (PetscInt b = 0; b < nbins; b++) st.hist[b] += hc[b];
      PetscCall(DaisiRankHistogramDestroy(&h));
      PetscCall(PetscFree(gidx));
    }
    if (o->save_members) /* one member at a time through rank 0: no rank holds the ensemble */
      for (PetscInt m = 0; m < in.M; m++) {
        PetscCall(PetscLogEventBegin(FILTER_Gather, 0, 0, 0, 0));
        PetscCall(DaisiEnsembleGatherMember(run->e, m, full));
        PetscCall(PetscLogEventEnd(FILTER_Gather, 0, 0, 0, 0));
        PetscCall(DaisiDiagFileWriteMember(run->diag, k, m, full));
      }
    if (c >= o->hist_start) {
      /* error and spread spectra of the analysis, summed over the statistics window, computed
       * where the members are: each group on its slabs, the groups' parts summed */
      PetscCall(AnalysisSpectra(run->e, truth, spec1, spec2));
      for (PetscInt b = 0; b < st.nspec; b++) {
        st.spec[b] += spec1[b];
        st.spec[st.nspec + b] += spec2[b];
      }
      st.nacc++;
      for (PetscInt b = 0; b < 2 * st.nspec; b++) smean[b] = st.spec[b] / (PetscReal)st.nacc;
      PetscCall(DaisiDiagFileWriteSpectra(run->diag, smean, smean + st.nspec));
    }
    vals[S_RMSE_B]       = sb.rmse;
    vals[S_RMSE_A]       = sa.rmse;
    vals[S_SPREAD_B]     = sb.spread;
    vals[S_SPREAD_A]     = sa.spread;
    vals[S_SSR_B]        = sb.ssr;
    vals[S_SSR_A]        = sa.ssr;
    vals[S_CRPS_B]       = sb.crps;
    vals[S_CRPS_A]       = sa.crps;
    vals[S_CRPSF_B]      = sb.crps_fair;
    vals[S_CRPSF_A]      = sa.crps_fair;
    vals[S_INNOV_MEAN]   = imean;
    vals[S_INNOV_STD]    = istd;
    vals[S_NOBS]         = (PetscReal)obs.nobs;
    vals[S_NSKIPPED]     = (PetscReal)nskipped;
    vals[S_SEC_FORECAST] = ta1 - ta0;
    vals[S_SEC_ANALYSIS] = ta2 - ta1;
    PetscCallMPI(MPI_Bcast(vals, S_N, MPIU_REAL, 0, world)); /* timings as rank 0 saw them */
    PetscCall(DaisiDiagFileWriteSeries(run->diag, k, c, tc, vals));
    PetscCall(DaisiDiagFileWriteHistogram(run->diag, st.hist));
    PetscCall(DaisiDiagFileFlush(run->diag));
    PetscCall(PetscPrintf(world, "filter | %5" PetscInt_FMT " %10.3f %9.4f %8.4f %8.4f %8.4f %6" PetscInt_FMT " %10.2f %10.2f\n", c, (double)(tc / 86400.0), (double)sb.rmse, (double)sa.rmse, (double)sa.spread, (double)sa.crps, obs.nobs, (double)vals[S_SEC_FORECAST], (double)vals[S_SEC_ANALYSIS]));
    PetscCheck(!PetscIsInfOrNanReal(sa.rmse) && !PetscIsInfOrNanReal(sa.spread), world, PETSC_ERR_NOT_CONVERGED, "cycle %" PetscInt_FMT ": the analysis is not finite (filter %s diverged); nothing further is written", c, ftype);
    PetscCall(DaisiObsSetDestroy(&obs));
    PetscCall(DaisiStopRequested(world, &stop));
    if (o->stop_at > 0 && c == o->stop_at) stop = PETSC_TRUE;
    if (c < C && (stop || (o->ckpt_every > 0 && c % o->ckpt_every == 0))) {
      PetscCall(CheckpointIO(run->e, o, PETSC_TRUE, &c, &st));
      PetscCall(PetscPrintf(world, "filter | checkpoint %s after cycle %" PetscInt_FMT "\n", o->ckpt, c));
      if (stop) {
        PetscCall(PetscPrintf(world, "filter | stopping on request; rerun with -filter_restart to continue\n"));
        *stopped = PETSC_TRUE;
        break;
      }
    }
  }
  if (*stopped) PetscCall(DaisiDiagFileDestroy(&run->diag));
  else PetscCall(DaisiDiagFileClose(&run->diag));
  PetscCall(PetscFree5(truth, ta, xa, mean, spread));
  PetscCall(PetscFree3(st.hist, st.spec, hc));
  PetscCall(PetscFree3(spec1, spec2, smean));
  if (in.rank == 0) PetscCall(PetscFree2(full, work));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  FilterOptions  o;
  FilterRun      run;
  PetscBool      stopped = PETSC_FALSE;
  PetscErrorCode ierr;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(DaisiInstallStopHandler());
  PetscCall(PetscLogEventRegister("FilterGather", DAISI_CLASSID, &FILTER_Gather));
  PetscCall(PetscMemzero(&run, sizeof(run)));
  PetscCall(FilterGetOptions(&o));
  {
    /* the grid comes from the truth unless -sqg_n says otherwise (then they must agree) */
    DaisiGrid tg;
    PetscBool set;
    char      n[32];
    PetscCall(DaisiStateFileQuery(PETSC_COMM_WORLD, o.truth, &tg, NULL, NULL));
    PetscCall(PetscOptionsHasName(NULL, NULL, "-sqg_n", &set));
    if (!set && tg.nlev == 2 && tg.ny == tg.nx) {
      PetscCall(PetscSNPrintf(n, sizeof(n), "%" PetscInt_FMT, tg.ny));
      PetscCall(PetscOptionsSetValue(NULL, "-sqg_n", n));
    }
  }
  PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &run.e));
  PetscCall(DaisiEnsembleSetFromOptions(run.e));
  PetscCall(DaisiEnsembleSetUp(run.e));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &run.f));
  PetscCall(DaisiFilterSetFromOptions(run.f));
  PetscCall(DaisiFilterSetEnsemble(run.f, run.e)); /* daisi: the prior is made (and checked) now */
  PetscCall(DaisiFilterSetUp(run.f));
  if (o.view) PetscCall(DaisiFilterView(run.f, PETSC_VIEWER_STDOUT_WORLD));
  ierr = FilterCycle(&o, &run, &stopped);
  if (ierr) {
    if (run.diag) (void)DaisiDiagFileDiscard(&run.diag);
  } else if (!stopped) {
    PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, o.ckpt)); /* the run is complete */
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "filter | wrote %s\n", o.output));
  }
  if (run.obs) (void)DaisiObsFileClose(run.obs);
  (void)DaisiObsFileDestroy(&run.obs);
  if (run.truth) (void)DaisiStateFileClose(run.truth);
  (void)DaisiStateFileDestroy(&run.truth);
  (void)DaisiFilterDestroy(&run.f);
  (void)DaisiEnsembleDestroy(&run.e);
  (void)DaisiFinalize();
  return ierr ? (int)ierr : (stopped ? DAISI_EXIT_CHECKPOINTED : 0);
}
