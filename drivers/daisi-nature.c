/* daisi-nature: a nature run (the truth of twin experiments, and training data).
 *
 * Spin-up from the reference initial condition (seeded noise plus a lid blob) or from a state
 * file (-sqg_ic FILE, its last time or -sqg_ic_time K), then -nature_steps steps with the
 * state written every -nature_every steps (the state at the end of the spin-up is time 0).
 * Checkpoints every -nature_checkpoint_every steps and on SIGTERM/SIGUSR1 (exit status 3);
 * -nature_restart continues from the checkpoint and produces the same file, bit for bit.
 * Every model option (-sqg_*, -model_type) applies. See docs/user-guide.md.
 *
 * -nature_members M > 1 runs M independent trajectories in one batch (training data for the
 * prior): member k starts from the reference initial condition drawn from the random stream
 * (-nature_seed, member k), so member 0 is the single run with that seed, and
 * the output is an ensemble file theta(time, member, level, y, x). */
#include <daisi/checkpoint.h>
#include <daisi/model.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>

static const char help[] = "DAISI nature run: spin-up, then the state every K steps to an HDF5 file.\n"
                           "  -nature_output FILE  -nature_spinup_days D | -nature_spinup_steps S  -nature_steps S\n"
                           "  -nature_every K  -nature_seed S  -nature_members M  -sqg_ic FILE [-sqg_ic_time K]\n"
                           "  -nature_checkpoint FILE  -nature_checkpoint_every S  -nature_restart\n";

typedef struct {
  char       output[PETSC_MAX_PATH_LEN], checkpoint[PETSC_MAX_PATH_LEN], ic[PETSC_MAX_PATH_LEN];
  PetscInt   ic_time, every, steps, spinup_steps, ckpt_every, progress_every, stop_at;
  PetscInt   seed, members;
  PetscReal  spinup_days;
  PetscBool  restart, has_ic;
} NatureOptions;

static PetscErrorCode NatureGetOptions(NatureOptions *o)
{
  PetscBool set;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  PetscCall(PetscStrncpy(o->output, "nature.h5", sizeof(o->output)));
  o->ic_time     = -1;
  o->every       = 9;
  o->steps       = 2160;
  o->spinup_days = 300;
  o->seed        = 1;
  o->members     = 1;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Nature run options", "daisi-nature");
  PetscCall(PetscOptionsString("-nature_output", "Output state file (HDF5, netCDF-4 compatible)", "", o->output, o->output, sizeof(o->output), NULL));
  PetscCall(PetscOptionsString("-sqg_ic", "Initial-condition state file (default: the reference random field plus lid blob)", "", o->ic, o->ic, sizeof(o->ic), &o->has_ic));
  PetscCall(PetscOptionsInt("-sqg_ic_time", "Time index in the -sqg_ic file (negative: from the end)", "", o->ic_time, &o->ic_time, NULL));
  PetscCall(PetscOptionsReal("-nature_spinup_days", "Spin-up length (days)", "", o->spinup_days, &o->spinup_days, NULL));
  PetscCall(PetscOptionsInt("-nature_spinup_steps", "Spin-up length in steps (overrides -nature_spinup_days)", "", o->spinup_steps, &o->spinup_steps, &set));
  if (!set) o->spinup_steps = -1;
  PetscCall(PetscOptionsInt("-nature_steps", "Steps after the spin-up", "", o->steps, &o->steps, NULL));
  PetscCall(PetscOptionsInt("-nature_every", "Output interval (steps)", "", o->every, &o->every, NULL));
  PetscCall(PetscOptionsInt("-nature_seed", "Seed of the random initial condition", "", o->seed, &o->seed, NULL));
  PetscCall(PetscOptionsInt("-nature_members", "Independent trajectories run together (member k: initial-condition stream (seed, k); > 1 writes an ensemble file)", "", o->members, &o->members, NULL));
  PetscCall(PetscOptionsString("-nature_checkpoint", "Checkpoint file (default: <output>.chk)", "", o->checkpoint, o->checkpoint, sizeof(o->checkpoint), &set));
  if (!set) PetscCall(PetscSNPrintf(o->checkpoint, sizeof(o->checkpoint), "%s.chk", o->output));
  PetscCall(PetscOptionsInt("-nature_checkpoint_every", "Checkpoint interval in steps (0: only when signalled)", "", o->ckpt_every, &o->ckpt_every, NULL));
  PetscCall(PetscOptionsInt("-nature_progress_every", "Progress line interval in steps (0: about every 10 model days or output)", "", o->progress_every, &o->progress_every, NULL));
  PetscCall(PetscOptionsInt("-nature_stop_at_step", "Behave as if signalled at this step (for testing restarts; 0: off)", "", o->stop_at, &o->stop_at, NULL));
  PetscCall(PetscOptionsBool("-nature_restart", "Continue from the checkpoint if there is one", "", o->restart, &o->restart, NULL));
  PetscOptionsEnd();
  PetscCheck(o->every >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nature_every must be >= 1, got %" PetscInt_FMT, o->every);
  PetscCheck(o->steps >= 0 && o->steps % o->every == 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nature_steps %" PetscInt_FMT " must be >= 0 and a multiple of -nature_every %" PetscInt_FMT, o->steps, o->every);
  PetscCheck(o->spinup_days >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nature_spinup_days must be >= 0");
  PetscCheck(o->members >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nature_members must be >= 1, got %" PetscInt_FMT, o->members);
  PetscCheck(o->members == 1 || !o->has_ic, PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP, "-nature_members %" PetscInt_FMT " needs the random initial conditions: do not give -sqg_ic", o->members);
  PetscCheck(o->ckpt_every >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nature_checkpoint_every must be >= 0");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Loads member 0 of the model from a state file (its shape is checked against the grid). */
static PetscErrorCode LoadInitialCondition(DaisiModel m, const char path[], PetscInt k)
{
  DaisiGrid  g;
  PetscReal *x, t;

  PetscFunctionBegin;
  PetscCall(DaisiModelGetGrid(m, &g));
  PetscCall(PetscMalloc1(DaisiGridLocalSize(&g) + 1, &x));
  PetscCall(DaisiStateFileLoad(PETSC_COMM_WORLD, path, &g, k, &t, x));
  PetscCall(DaisiModelSetState(m, 0, x));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* standard deviation of each level of x over the whole grid */
static PetscErrorCode LevelStd(const DaisiGrid *g, const PetscReal x[], PetscReal sd[2])
{
  PetscReal loc[4] = {0, 0, 0, 0}, tot[4];
  PetscInt  nl = PetscMin(g->nlev, 2);

  PetscFunctionBegin;
  for (PetscInt lev = 0; lev < nl; lev++)
    for (PetscInt i = 0; i < g->nyl * g->nx; i++) {
      const PetscReal v = x[lev * g->nyl * g->nx + i];
      loc[2 * lev] += v;
      loc[2 * lev + 1] += v * v;
    }
  PetscCall(MPIU_Allreduce(loc, tot, 4, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  for (PetscInt lev = 0; lev < 2; lev++) {
    const PetscReal n = (PetscReal)g->ny * g->nx, mean = tot[2 * lev] / n;
    sd[lev] = lev < nl ? PetscSqrtReal(PetscMax(0, tot[2 * lev + 1] / n - mean * mean)) : 0;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the checkpoint's description: layout of all members, parameters and identifying strings */
static PetscErrorCode CheckpointCreate(DaisiModel m, const NatureOptions *o, DaisiCheckpoint *c, PetscInt *nloc)
{
  DaisiNativeLayout      lay;
  PetscInt               np;
  const DaisiModelParam *p;
  DaisiModelType         type;

  PetscFunctionBegin;
  PetscCall(DaisiModelGetNativeLayout(m, &lay));
  PetscCall(DaisiModelGetParams(m, &np, &p));
  PetscCall(DaisiModelGetType(m, &type));
  PetscCall(DaisiCheckpointCreate(PETSC_COMM_WORLD, c));
  PetscCall(DaisiCheckpointSetLayout(*c, &lay, o->members));
  PetscCall(DaisiCheckpointSetParams(*c, np, p));
  PetscCall(DaisiCheckpointSetString(*c, "model", type));
  PetscCall(DaisiCheckpointSetString(*c, "output", o->output));
  *nloc = lay.nrowl * lay.rowlen;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteCheckpoint(DaisiModel m, const NatureOptions *o, PetscInt64 step, PetscInt64 nout)
{
  DaisiCheckpoint   c;
  PetscInt          nloc;
  PetscReal        *x, t;
  const PetscReal **xs;

  PetscFunctionBegin;
  PetscCall(CheckpointCreate(m, o, &c, &nloc));
  PetscCall(DaisiModelGetTime(m, &t));
  PetscCall(PetscMalloc2(o->members * nloc + 1, &x, o->members, &xs));
  for (PetscInt k = 0; k < o->members; k++) {
    PetscCall(DaisiModelGetNative(m, k, x + k * nloc));
    xs[k] = x + k * nloc;
  }
  PetscCall(DaisiCheckpointSetInt(c, "step", step));
  PetscCall(DaisiCheckpointSetInt(c, "outputs_written", nout));
  PetscCall(DaisiCheckpointSetReal(c, "time", t));
  PetscCall(DaisiCheckpointWrite(c, o->checkpoint, xs));
  PetscCall(DaisiCheckpointDestroy(&c));
  PetscCall(PetscFree2(x, xs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReadCheckpoint(DaisiModel m, const NatureOptions *o, PetscInt64 *step, PetscInt64 *nout)
{
  DaisiCheckpoint c;
  PetscInt        nloc;
  PetscReal      *x, t, **xv;

  PetscFunctionBegin;
  PetscCall(CheckpointCreate(m, o, &c, &nloc));
  PetscCall(PetscMalloc2(o->members * nloc + 1, &x, o->members, &xv));
  for (PetscInt k = 0; k < o->members; k++) xv[k] = x + k * nloc;
  PetscCall(DaisiCheckpointRead(c, o->checkpoint, xv));
  PetscCall(DaisiCheckpointGetInt(c, "step", step));
  PetscCall(DaisiCheckpointGetInt(c, "outputs_written", nout));
  PetscCall(DaisiCheckpointGetReal(c, "time", &t));
  PetscCall(DaisiCheckpointDestroy(&c));
  for (PetscInt k = 0; k < o->members; k++) PetscCall(DaisiModelSetNative(m, k, xv[k]));
  PetscCall(DaisiModelSetTime(m, t));
  PetscCall(PetscFree2(x, xv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* writes output index k: every member's state at the model's current time */
static PetscErrorCode WriteOutput(DaisiModel m, const NatureOptions *o, DaisiStateFile out, PetscInt k, PetscReal x[])
{
  PetscReal t;

  PetscFunctionBegin;
  PetscCall(DaisiModelGetTime(m, &t));
  for (PetscInt b = 0; b < o->members; b++) {
    PetscCall(DaisiModelGetState(m, b, x));
    if (o->members == 1) PetscCall(DaisiStateFileWrite(out, k, t, x));
    else PetscCall(DaisiStateFileWriteMember(out, k, b, t, x));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NatureRun(const NatureOptions *o, DaisiModel m, DaisiStateFile *out, PetscBool *stopped)
{
  DaisiGrid              g;
  PetscInt               np;
  const DaisiModelParam *p;
  DaisiModelType         type;
  PetscReal             *x, sd[2] = {0, 0}, t;
  PetscInt64             step = 0, prev, nout = 0, spin, total, ntime, last_progress = 0;
  PetscBool              resumed = PETSC_FALSE, have_ckpt = PETSC_FALSE;
  PetscLogDouble         t0, t1;

  PetscFunctionBegin;
  *stopped = PETSC_FALSE;
  PetscCall(DaisiModelGetGrid(m, &g));
  PetscCall(DaisiModelGetParams(m, &np, &p));
  PetscCall(DaisiModelGetType(m, &type));
  spin  = o->spinup_steps >= 0 ? o->spinup_steps : (PetscInt64)PetscFloorReal(o->spinup_days * 86400.0 / g.dt + 0.5);
  total = spin + o->steps;
  ntime = o->steps / o->every + 1;
  PetscCall(PetscMalloc1(DaisiGridLocalSize(&g) + 1, &x));

  if (o->restart) PetscCall(DaisiFileExists(PETSC_COMM_WORLD, o->checkpoint, &have_ckpt));
  if (have_ckpt) {
    PetscCall(ReadCheckpoint(m, o, &step, &nout));
    resumed = PETSC_TRUE;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nature | restarting from %s at step %" PetscInt64_FMT " with %" PetscInt64_FMT " output(s) written\n", o->checkpoint, step, nout));
  } else if (o->has_ic) {
    PetscCall(LoadInitialCondition(m, o->ic, o->ic_time));
  } else {
    for (PetscInt k = 0; k < o->members; k++) PetscCall(DaisiModelInitialCondition(m, k, (PetscInt64)o->seed));
  }

  PetscCall(DaisiStateFileCreate(PETSC_COMM_WORLD, out));
  PetscCall(DaisiStateFileSetGrid(*out, &g));
  PetscCall(DaisiStateFileSetNumTimes(*out, (PetscInt)ntime));
  if (o->members > 1) PetscCall(DaisiStateFileSetNumMembers(*out, o->members));
  PetscCall(DaisiStateFileSetParams(*out, np, p));
  PetscCall(DaisiStateFileSetString(*out, "model", type));
  PetscCall(DaisiStateFileSetString(*out, "title", "DAISI nature run"));
  PetscCall(DaisiStateFileOpen(*out, o->output, resumed && nout > 0 ? DAISI_FILE_APPEND : DAISI_FILE_WRITE));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nature | %s %" PetscInt_FMT " x %" PetscInt_FMT ", %" PetscInt_FMT " trajector%s, dt %g: %" PetscInt64_FMT " spin-up steps, %" PetscInt_FMT " steps, output every %" PetscInt_FMT " -> %" PetscInt64_FMT " times in %s\n", type, g.ny, g.nx, o->members, o->members > 1 ? "ies" : "y", (double)g.dt, spin, o->steps, o->every, ntime, o->output));

  PetscCall(PetscTime(&t0));
  while (step <= total) {
    PetscInt64 next;
    PetscBool  stop, is_output = (PetscBool)(step >= spin && (step - spin) % o->every == 0);

    if (is_output && (step - spin) / o->every == nout) {
      PetscCall(WriteOutput(m, o, *out, (PetscInt)nout, x));
      nout++;
    }
    if (step == total) break;
    /* advance to the next output, or by at most a day of spin-up, or to the next checkpoint */
    if (step < spin) next = PetscMin(spin, step + PetscMax(1, (PetscInt64)(86400.0 / g.dt)));
    else next = step + o->every;
    if (o->ckpt_every > 0) next = PetscMin(next, (step / o->ckpt_every + 1) * o->ckpt_every);
    PetscCall(DaisiModelAdvance(m, (PetscInt)(next - step)));
    prev = step;
    step = next;
    PetscCall(PetscTime(&t1));
    if (step == total || (o->progress_every > 0 ? step - last_progress >= o->progress_every : (step < spin ? step - last_progress >= (PetscInt64)(10 * 86400.0 / g.dt) : PETSC_TRUE))) {
      PetscCall(DaisiModelGetState(m, 0, x));
      PetscCall(LevelStd(&g, x, sd));
      PetscCall(DaisiModelGetTime(m, &t));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nature | day %9.3f | step %8" PetscInt64_FMT "/%" PetscInt64_FMT " | %s | %7.1f steps/s | theta std %.3f %.3f\n", (double)(t / 86400.0), step, total, step <= spin ? "spin-up    " : "output", (double)((step - last_progress) / PetscMax(t1 - t0, 1e-9)), (double)sd[0], (double)sd[1]));
      last_progress = step;
      t0            = t1;
    }
    PetscCall(DaisiStopRequested(PETSC_COMM_WORLD, &stop));
    if (o->stop_at > 0 && prev < o->stop_at && o->stop_at <= step) stop = PETSC_TRUE;
    if (stop || (o->ckpt_every > 0 && step % o->ckpt_every == 0 && step < total)) {
      /* the state at `step` is written out first if it is an output time, so that the
       * restarted run starts exactly where this one stopped */
      if (step >= spin && (step - spin) % o->every == 0 && (step - spin) / o->every == nout) {
        PetscCall(WriteOutput(m, o, *out, (PetscInt)nout, x));
        nout++;
      }
      PetscCall(DaisiStateFileFlush(*out));
      PetscCall(WriteCheckpoint(m, o, step, nout));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nature | checkpoint %s at step %" PetscInt64_FMT " (%" PetscInt64_FMT " outputs)\n", o->checkpoint, step, nout));
      if (stop) {
        PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nature | stopping on request; rerun with -nature_restart to continue\n"));
        *stopped = PETSC_TRUE;
        break;
      }
    }
  }
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  NatureOptions  o;
  DaisiModel     m   = NULL;
  DaisiStateFile out = NULL;
  PetscBool      stopped = PETSC_FALSE, viewmodel = PETSC_FALSE;
  PetscErrorCode ierr;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(DaisiInstallStopHandler());
  PetscCall(NatureGetOptions(&o));
  PetscCall(DaisiModelCreate(PETSC_COMM_WORLD, &m));
  PetscCall(DaisiModelSetBatchSize(m, o.members));
  PetscCall(DaisiModelSetFromOptions(m));
  PetscCall(DaisiModelSetUp(m));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-model_view", &viewmodel, NULL));
  if (viewmodel) PetscCall(DaisiModelView(m, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  ierr = NatureRun(&o, m, &out, &stopped);
  if (ierr) {
    /* a failed run leaves nothing under the output name, nor a partial file */
    if (out) (void)DaisiStateFileDiscard(out);
    (void)DaisiStateFileDestroy(&out);
    (void)DaisiModelDestroy(&m);
    (void)DaisiFinalize();
    return (int)ierr;
  }
  if (stopped) {
    PetscCall(DaisiStateFileDestroy(&out)); /* keeps the partial file for the restart */
  } else {
    PetscCall(DaisiStateFileClose(out));
    PetscCall(DaisiStateFileDestroy(&out));
    PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, o.checkpoint)); /* the run is complete */
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "nature | wrote %s\n", o.output));
  }
  PetscCall(DaisiModelDestroy(&m));
  PetscCall(DaisiFinalize());
  return stopped ? DAISI_EXIT_CHECKPOINTED : 0;
}
