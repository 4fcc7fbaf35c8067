/* daisi-train: trains the velocity network b(x, t) of the stochastic-interpolant prior on
 * nature-run states, data-parallel over all ranks (docs/training.md).
 *
 * Interpolant x_t = (1 - t) z + t x1, x1 = theta / s_data (-prior_scale), z ~ N(0, I),
 * t ~ U(0, 1); loss = mean over the minibatch and the grid of |b(x_t, t) - (x1 - z)|^2.
 * Every rank holds the whole network (on PETSC_COMM_SELF) and computes its block of the
 * global minibatch; the gradients are summed on rank 0 and broadcast (one reduction per step),
 * so all ranks apply the same update to identical weights. Sample i of step s is drawn from
 * the counter-based generator keyed by (-train_seed, DAISI_RNG_TRAINING, s, i): which state,
 * t and z do not depend on the rank count, and the result depends on it only through the
 * rounding of the gradient sum.
 *
 * AdamW with warm-up and cosine schedule, gradient clipping and an EMA of the weights
 * (include/daisi/optim.h). Each epoch (-train_epoch_steps, default one pass over the training
 * states) the loss on a fixed validation set (-train_val_samples draws from -train_val) is
 * computed for the EMA and the raw weights; the EMA weights with the lowest validation loss
 * so far are written to -train_output. Checkpoint every -train_checkpoint_every steps, on
 * SIGTERM/SIGUSR1 and at -train_max_minutes (exit 3); -train_restart resumes bit-identically.
 *
 * -train_eval WEIGHTS evaluates a trained network instead: the denoising loss on -train_data
 * by t-bins (the quality report's table). */
#include <daisi/nn.h>
#include <daisi/optim.h>
#include <daisi/prior.h>
#include <daisi/rng.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>
#include <hdf5.h>

static const char help[] = "DAISI prior training: stochastic-interpolant velocity network on nature-run states.\n"
                           "  -train_data TRAIN.h5  -train_val VAL.h5  -train_output PRIOR.h5  -train_batch B  -train_steps S\n"
                           "  -train_lr, -train_lr_min, -train_warmup, -train_weight_decay, -train_clip, -train_ema, -train_seed\n"
                           "  -train_epoch_steps E  -train_val_samples V  -train_checkpoint F  -train_checkpoint_every K  -train_restart\n"
                           "  -train_max_minutes T  -train_curve F.tsv  -train_progress_every P  -prior_scale S  -nn_* (architecture)\n"
                           "  -train_eval WEIGHTS -train_data TEST.h5 [-train_eval_samples V -train_eval_bins nb -train_eval_output F.tsv]\n";

#define CKPT_FORMAT  "daisi-train-checkpoint"
#define CKPT_VERSION 1
#define VAL_CYCLE    ((uint64_t)1 << 40) /* RNG counter of the validation draws (never a step) */
#define EVAL_CYCLE   ((uint64_t)1 << 41)

typedef struct {
  char       data[PETSC_MAX_PATH_LEN], val[PETSC_MAX_PATH_LEN], output[PETSC_MAX_PATH_LEN];
  char       checkpoint[PETSC_MAX_PATH_LEN], curve[PETSC_MAX_PATH_LEN], eval[PETSC_MAX_PATH_LEN], eval_output[PETSC_MAX_PATH_LEN];
  PetscInt   batch, epoch_steps, val_samples, ckpt_every, progress_every, stop_at, eval_samples, eval_bins;
  PetscInt64 seed;
  PetscReal  scale, max_minutes;
  PetscBool  restart, has_val, has_eval, has_eval_output;
} TrainOptions;

/* a state or ensemble file read sample by sample (sample k = time k / M, member k % M) */
typedef struct {
  char           path[PETSC_MAX_PATH_LEN];
  DaisiStateFile f;
  DaisiGrid      grid;
  PetscInt       ntime, nmember, nsamples;
} TrainData;

typedef struct {
  PetscInt   nep, maxep;
  PetscReal *rows; /* per epoch: epoch, step, train loss, val loss EMA, val loss raw, lr */
} TrainHistory;
#define HIST_COLS 6

static PetscErrorCode TrainGetOptions(TrainOptions *o)
{
  PetscBool set;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  PetscCall(PetscStrncpy(o->output, "prior.h5", sizeof(o->output)));
  o->batch          = 32;
  o->val_samples    = 256;
  o->ckpt_every     = 500;
  o->progress_every = 20;
  o->seed           = 1;
  o->scale          = DAISI_PRIOR_DEFAULT_SCALE;
  o->eval_samples   = 1000;
  o->eval_bins      = 10;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Prior training options", "daisi-train");
  PetscCall(PetscOptionsString("-train_data", "Training states (state or ensemble file of a nature run)", "", o->data, o->data, sizeof(o->data), NULL));
  PetscCall(PetscOptionsString("-train_val", "Validation states (state or ensemble file)", "", o->val, o->val, sizeof(o->val), &o->has_val));
  PetscCall(PetscOptionsString("-train_output", "Weight file of the best EMA weights", "", o->output, o->output, sizeof(o->output), NULL));
  PetscCall(PetscOptionsString("-train_checkpoint", "Checkpoint file (default <output>.chk)", "", o->checkpoint, o->checkpoint, sizeof(o->checkpoint), &set));
  if (!set) PetscCall(PetscSNPrintf(o->checkpoint, sizeof(o->checkpoint), "%s.chk", o->output));
  PetscCall(PetscOptionsString("-train_curve", "Training curve, one line per epoch (default <output>.curve.tsv)", "", o->curve, o->curve, sizeof(o->curve), &set));
  if (!set) PetscCall(PetscSNPrintf(o->curve, sizeof(o->curve), "%s.curve.tsv", o->output));
  PetscCall(PetscOptionsInt("-train_batch", "Global minibatch size (split over the ranks)", "", o->batch, &o->batch, NULL));
  PetscCall(PetscOptionsInt("-train_epoch_steps", "Steps between validations (0: one pass over the training states)", "", o->epoch_steps, &o->epoch_steps, NULL));
  PetscCall(PetscOptionsInt("-train_val_samples", "Fixed validation draws (state, t, z)", "", o->val_samples, &o->val_samples, NULL));
  PetscCall(PetscOptionsInt("-train_checkpoint_every", "Checkpoint interval in steps (0: only when signalled)", "", o->ckpt_every, &o->ckpt_every, NULL));
  PetscCall(PetscOptionsInt("-train_progress_every", "Progress line interval in steps", "", o->progress_every, &o->progress_every, NULL));
  PetscCall(PetscOptionsInt("-train_stop_at_step", "Behave as if signalled after this step (testing restarts; 0: off)", "", o->stop_at, &o->stop_at, NULL));
  {
    PetscInt seed = (PetscInt)o->seed;
    PetscCall(PetscOptionsInt("-train_seed", "Seed of the minibatch draws", "", seed, &seed, NULL));
    o->seed = seed;
  }
  PetscCall(PetscOptionsReal("-train_max_minutes", "Checkpoint and stop (exit 3) after this wall time (0: no limit)", "", o->max_minutes, &o->max_minutes, NULL));
  PetscCall(PetscOptionsBool("-train_restart", "Resume from the checkpoint if there is one", "", o->restart, &o->restart, NULL));
  PetscCall(PetscOptionsReal("-prior_scale", "Data scale s_data: the network sees theta / s_data", "", o->scale, &o->scale, NULL));
  PetscCall(PetscOptionsString("-train_eval", "Evaluate this weight file on -train_data instead of training", "", o->eval, o->eval, sizeof(o->eval), &o->has_eval));
  PetscCall(PetscOptionsInt("-train_eval_samples", "Draws of the evaluation", "", o->eval_samples, &o->eval_samples, NULL));
  PetscCall(PetscOptionsInt("-train_eval_bins", "t-bins of the evaluation", "", o->eval_bins, &o->eval_bins, NULL));
  PetscCall(PetscOptionsString("-train_eval_output", "Table of the evaluation (TSV)", "", o->eval_output, o->eval_output, sizeof(o->eval_output), &o->has_eval_output));
  PetscOptionsEnd();
  PetscCheck(o->data[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give the training states with -train_data FILE (scripts/make-trainset.sh makes them)");
  PetscCheck(o->has_eval || o->has_val, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give the validation states with -train_val FILE");
  PetscCheck(o->batch >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_batch %" PetscInt_FMT " must be at least 1", o->batch);
  PetscCheck(o->epoch_steps >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_epoch_steps must be >= 0");
  PetscCheck(o->val_samples >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_val_samples must be at least 1");
  PetscCheck(o->ckpt_every >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_checkpoint_every must be >= 0");
  PetscCheck(o->progress_every >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_progress_every must be at least 1");
  PetscCheck(o->scale > 0 && PetscIsNormalReal(o->scale), PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-prior_scale %g must be positive", (double)o->scale);
  PetscCheck(o->max_minutes >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_max_minutes must be >= 0");
  PetscCheck(o->eval_samples >= 1 && o->eval_bins >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_eval_samples and -train_eval_bins must be at least 1");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- data ---- */

static PetscErrorCode TrainDataOpen(const char path[], TrainData *d)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(d, sizeof(*d)));
  PetscCall(PetscStrncpy(d->path, path, sizeof(d->path)));
  /* every rank reads its own samples: the file is opened on PETSC_COMM_SELF, whole grid */
  PetscCall(DaisiStateFileQuery(PETSC_COMM_SELF, path, &d->grid, &d->ntime, &d->nmember));
  d->nsamples = d->ntime * PetscMax(d->nmember, 1);
  PetscCheck(d->nsamples >= 1, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s holds no states", path);
  PetscCall(DaisiStateFileCreate(PETSC_COMM_SELF, &d->f));
  PetscCall(DaisiStateFileSetGrid(d->f, &d->grid));
  PetscCall(DaisiStateFileOpen(d->f, path, DAISI_FILE_READ));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TrainDataClose(TrainData *d)
{
  PetscFunctionBegin;
  if (d->f) PetscCall(DaisiStateFileClose(d->f));
  PetscCall(DaisiStateFileDestroy(&d->f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* x1 = state k / scale (errors name the file and time if it is not finite) */
static PetscErrorCode TrainDataRead(TrainData *d, PetscInt k, PetscReal scale, PetscReal x1[])
{
  const PetscInt n = DaisiGridLocalSize(&d->grid);

  PetscFunctionBegin;
  if (d->nmember > 0) PetscCall(DaisiStateFileReadMember(d->f, k / d->nmember, k % d->nmember, NULL, x1));
  else PetscCall(DaisiStateFileRead(d->f, k, NULL, x1));
  for (PetscInt i = 0; i < n; i++) x1[i] /= scale;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Draw i of counter `cycle` (a step, or the validation/evaluation counter): state index,
 * time (tbin >= 0: stratified in bin tbin of nbins) and the interpolant point x_t with its
 * regression target x1 - z. */
static PetscErrorCode TrainDraw(TrainData *d, PetscReal scale, PetscInt64 seed, uint64_t cycle, uint64_t i, PetscInt tbin, PetscInt nbins, PetscReal *t, PetscReal xt[], PetscReal target[], PetscReal z[])
{
  const PetscInt n   = DaisiGridLocalSize(&d->grid);
  const DaisiRng rng = DaisiRngMake((uint64_t)seed, DAISI_RNG_TRAINING, cycle, i, 0);
  const DaisiRng rz  = DaisiRngMake((uint64_t)seed, DAISI_RNG_TRAINING, cycle, i, 1);
  PetscInt       k   = (PetscInt)(DaisiRngUniform(&rng, 0) * (double)d->nsamples);
  PetscReal      u   = DaisiRngUniform(&rng, 1);

  PetscFunctionBegin;
  k  = PetscMin(k, d->nsamples - 1);
  *t = tbin >= 0 ? ((PetscReal)tbin + u) / (PetscReal)nbins : u;
  PetscCall(TrainDataRead(d, k, scale, target));
  DaisiRngNormalArray(&rz, 0, n, z);
  for (PetscInt j = 0; j < n; j++) {
    xt[j]     = (1.0 - *t) * z[j] + *t * target[j];
    target[j] = target[j] - z[j];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- loss ---- */

typedef struct {
  const PetscReal *target;
  PetscReal        wscale; /* d loss / d y = wscale (y - target) */
  PetscReal        sum;    /* sum of squared errors of this rank */
  PetscInt         n;
} TrainLoss;

static PetscErrorCode TrainCotangent(void *ctx, PetscInt b0, PetscInt bc, const PetscReal y[], PetscReal w[])
{
  TrainLoss       *L   = (TrainLoss *)ctx;
  const PetscReal *tgt = L->target + b0 * L->n;

  PetscFunctionBegin;
  for (PetscInt j = 0; j < bc * L->n; j++) {
    const PetscReal r = y[j] - tgt[j];
    L->sum += r * r;
    w[j] = L->wscale * r;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* workspace of one rank: its block of a minibatch */
typedef struct {
  PetscInt   nmax, n;
  PetscReal *t, *xt, *target, *z, *y, *w;
} TrainWork;

static PetscErrorCode TrainWorkCreate(PetscInt nmax, PetscInt n, TrainWork *w)
{
  PetscFunctionBegin;
  w->nmax = PetscMax(nmax, 1);
  w->n    = n;
  PetscCall(PetscMalloc6(w->nmax, &w->t, w->nmax * n, &w->xt, w->nmax * n, &w->target, n, &w->z, w->nmax * n, &w->y, w->nmax * n, &w->w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TrainWorkDestroy(TrainWork *w)
{
  PetscFunctionBegin;
  PetscCall(PetscFree6(w->t, w->xt, w->target, w->z, w->y, w->w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* block [lo, hi) of `count` draws for this rank */
static void TrainBlock(PetscInt count, PetscMPIInt rank, PetscMPIInt size, PetscInt *lo, PetscInt *hi)
{
  *lo = (PetscInt)(((PetscInt64)count * rank) / size);
  *hi = (PetscInt)(((PetscInt64)count * (rank + 1)) / size);
}

/* mean squared error of the network over draws 0..count-1 of counter `cycle` (all ranks);
 * with nbins > 1 also per t-bin (loss[b], base[b]: the same for b = 0, counts[b]) */
static PetscErrorCode TrainEvaluate(DaisiNet net, TrainData *d, const TrainOptions *o, uint64_t cycle, PetscInt count, PetscInt nbins, TrainWork *w, PetscReal *mean, PetscReal loss[], PetscReal base[], PetscReal counts[])
{
  PetscMPIInt rank, size;
  PetscInt    lo, hi, n = w->n;
  PetscReal  *acc, *tot;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscCalloc2(3 * nbins + 1, &acc, 3 * nbins + 1, &tot));
  TrainBlock(count, rank, size, &lo, &hi);
  for (PetscInt i0 = lo; i0 < hi; i0 += w->nmax) {
    PetscInt nb = PetscMin(w->nmax, hi - i0);
    for (PetscInt b = 0; b < nb; b++) PetscCall(TrainDraw(d, o->scale, o->seed, cycle, (uint64_t)(i0 + b), nbins > 1 ? (i0 + b) % nbins : -1, nbins, &w->t[b], w->xt + b * n, w->target + b * n, w->z));
    PetscCall(DaisiNetForward(net, nb, w->t, w->xt, w->y));
    for (PetscInt b = 0; b < nb; b++) {
      PetscReal       e = 0, e0 = 0;
      const PetscInt  bin = nbins > 1 ? (i0 + b) % nbins : 0;
      for (PetscInt j = 0; j < n; j++) {
        const PetscReal r = w->y[b * n + j] - w->target[b * n + j];
        e += r * r;
        e0 += w->target[b * n + j] * w->target[b * n + j];
      }
      acc[bin] += e;
      acc[nbins + bin] += e0;
      acc[2 * nbins + bin] += 1;
      acc[3 * nbins] += e;
    }
  }
  PetscCall(MPIU_Allreduce(acc, tot, 3 * nbins + 1, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  *mean = tot[3 * nbins] / ((PetscReal)count * (PetscReal)n);
  for (PetscInt b = 0; b < nbins && loss; b++) {
    loss[b]   = tot[b] / (PetscMax(tot[2 * nbins + b], 1) * (PetscReal)n);
    base[b]   = tot[nbins + b] / (PetscMax(tot[2 * nbins + b], 1) * (PetscReal)n);
    counts[b] = tot[2 * nbins + b];
  }
  PetscCall(PetscFree2(acc, tot));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- files written by rank 0 (the weights and the optimiser state are replicated) ---- */

/* runs call on rank 0 under the return-error handler and shares its error message, so that a
 * failed write ends every rank with the reason */
#define RANK0_CALL(rank, call) \
  do { \
    PetscErrorCode ierr_ = PETSC_SUCCESS; \
    char           msg_[512] = ""; \
    if ((rank) == 0) { \
      PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL)); \
      ierr_ = (call); \
      PetscCall(PetscPopErrorHandler()); \
      if (ierr_) { \
        const char *text_; \
        char       *specific_ = NULL; \
        PetscCall(PetscErrorMessage(ierr_, &text_, &specific_)); \
        PetscCall(PetscStrncpy(msg_, specific_ ? specific_ : text_, sizeof(msg_))); \
      } \
    } \
    PetscCallMPI(MPI_Bcast(msg_, sizeof(msg_), MPI_CHAR, 0, PETSC_COMM_WORLD)); \
    PetscCheck(!msg_[0], PETSC_COMM_WORLD, PETSC_ERR_FILE_WRITE, "%s", msg_); \
  } while (0)

static herr_t H5WriteFloats(hid_t f, const char *name, hsize_t n, const float *v)
{
  hid_t  sp = H5Screate_simple(1, &n, NULL), ds;
  herr_t e  = -1;
  if (sp < 0) return -1;
  ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (ds >= 0) {
    e = H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
  }
  H5Sclose(sp);
  return e;
}

static herr_t H5ReadFloats(hid_t f, const char *name, hsize_t n, float *v)
{
  hid_t    ds = H5Dopen2(f, name, H5P_DEFAULT), sp;
  hssize_t np;
  herr_t   e = -1;
  if (ds < 0) return -1;
  sp = H5Dget_space(ds);
  np = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  if (np == (hssize_t)n) e = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(ds);
  return e;
}

static herr_t H5WriteAttr(hid_t f, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *v)
{
  hid_t  sp = H5Screate_simple(1, &n, NULL), a;
  herr_t e  = -1;
  if (sp < 0) return -1;
  a = H5Acreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    e = H5Awrite(a, mtype, v);
    H5Aclose(a);
  }
  H5Sclose(sp);
  return e;
}

static herr_t H5ReadAttr(hid_t f, const char *name, hid_t mtype, void *v)
{
  hid_t  a;
  herr_t e;
  if (H5Aexists(f, name) <= 0) return -1;
  a = H5Aopen(f, name, H5P_DEFAULT);
  if (a < 0) return -1;
  e = H5Aread(a, mtype, v);
  H5Aclose(a);
  return e;
}

static herr_t H5WriteString(hid_t f, const char *name, const char *s)
{
  hid_t  t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a;
  herr_t e = -1;
  H5Tset_size(t, strlen(s) + 1);
  a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    e = H5Awrite(a, t, s);
    H5Aclose(a);
  }
  H5Sclose(sp);
  H5Tclose(t);
  return e;
}

static herr_t H5ReadString(hid_t f, const char *name, char *s, size_t len)
{
  hid_t  a, t, m;
  herr_t e = -1;
  if (H5Aexists(f, name) <= 0 || (a = H5Aopen(f, name, H5P_DEFAULT)) < 0) return -1;
  t = H5Aget_type(a);
  if (H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && H5Tget_size(t) <= len) {
    m = H5Tcopy(H5T_C_S1);
    H5Tset_size(m, H5Tget_size(t));
    memset(s, 0, len);
    e = H5Aread(a, m, s);
    H5Tclose(m);
  }
  H5Tclose(t);
  H5Aclose(a);
  return e;
}

typedef struct {
  PetscInt64 step;
  PetscReal  best, epoch_sum, epoch_count, seconds;
  char       signature[1024];
} TrainState;

static PetscErrorCode WriteCheckpointRank0(const char path[], const TrainState *s, PetscInt nparam, const float *theta, const float *m, const float *v, const float *ema, const TrainHistory *h)
{
  DaisiOutputName out;
  hid_t           f;
  herr_t          e = 0;
  int64_t         i64[2] = {CKPT_VERSION, s->step};
  double          r[4]   = {s->best, s->epoch_sum, s->epoch_count, s->seconds};

  PetscFunctionBegin;
  PetscCall(DaisiOutputNameInit(PETSC_COMM_SELF, path, &out));
  f = H5Fcreate(out.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot create checkpoint %s", out.tmp);
  e |= H5WriteString(f, "format", CKPT_FORMAT);
  e |= H5WriteString(f, "signature", s->signature);
  e |= H5WriteAttr(f, "version_step", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, i64);
  e |= H5WriteAttr(f, "best_epochsum_epochcount_seconds", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, r);
  e |= H5WriteFloats(f, "theta", (hsize_t)nparam, theta);
  e |= H5WriteFloats(f, "adam_m", (hsize_t)nparam, m);
  e |= H5WriteFloats(f, "adam_v", (hsize_t)nparam, v);
  e |= H5WriteFloats(f, "ema", (hsize_t)nparam, ema);
  {
    hsize_t dims[2] = {(hsize_t)h->nep, HIST_COLS};
    hid_t   sp      = H5Screate_simple(2, dims, NULL);
    hid_t   ds      = H5Dcreate2(f, "history", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    e |= ds < 0 ? -1 : (h->nep ? H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, h->rows) : 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
  }
  if (H5Fclose(f) < 0) e = -1;
  if (e < 0) {
    PetscCall(DaisiOutputNameDiscard(&out));
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write checkpoint %s", out.tmp);
  }
  PetscCall(DaisiOutputNameCommit(&out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode HistoryAppend(TrainHistory *h, const PetscReal row[HIST_COLS])
{
  PetscFunctionBegin;
  if (h->nep == h->maxep) {
    PetscReal *rows;
    h->maxep = PetscMax(16, 2 * h->maxep);
    PetscCall(PetscMalloc1(h->maxep * HIST_COLS, &rows));
    if (h->nep) PetscCall(PetscArraycpy(rows, h->rows, h->nep * HIST_COLS));
    PetscCall(PetscFree(h->rows));
    h->rows = rows;
  }
  PetscCall(PetscArraycpy(h->rows + h->nep * HIST_COLS, row, HIST_COLS));
  h->nep++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Reads the checkpoint on rank 0 and broadcasts it; errors name the file and what is wrong. */
static PetscErrorCode ReadCheckpoint(const char path[], TrainState *s, PetscInt nparam, float *theta, float *m, float *v, float *ema, TrainHistory *h)
{
  PetscMPIInt rank;
  char        msg[PETSC_MAX_PATH_LEN + 1400] = "", fmt[64] = "", sig[1024] = "";
  int64_t     i64[2] = {0, 0};
  double      r[4]   = {0, 0, 0, 0};
  PetscInt    nep = 0;
  PetscReal  *rows = NULL;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    H5E_auto2_t efn;
    void       *edata;
    hid_t       f;
    H5Eget_auto2(H5E_DEFAULT, &efn, &edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) snprintf(msg, sizeof(msg), "cannot open checkpoint %s (unreadable or not HDF5)", path);
    else {
      if (H5ReadString(f, "format", fmt, sizeof(fmt)) < 0 || strcmp(fmt, CKPT_FORMAT)) snprintf(msg, sizeof(msg), "%s is not a daisi-train checkpoint (attribute format)", path);
      else if (H5ReadString(f, "signature", sig, sizeof(sig)) < 0 || H5ReadAttr(f, "version_step", H5T_NATIVE_INT64, i64) < 0 || H5ReadAttr(f, "best_epochsum_epochcount_seconds", H5T_NATIVE_DOUBLE, r) < 0) snprintf(msg, sizeof(msg), "checkpoint %s: attributes missing or unreadable", path);
      else if (i64[0] != CKPT_VERSION) snprintf(msg, sizeof(msg), "checkpoint %s: version %lld, this daisi-train writes %d", path, (long long)i64[0], CKPT_VERSION);
      else if (strcmp(sig, s->signature)) snprintf(msg, sizeof(msg), "checkpoint %s was written with other training settings; resume with the same ones.\n  checkpoint: %s\n  this run:   %s", path, sig, s->signature);
      else if (H5ReadFloats(f, "theta", (hsize_t)nparam, theta) < 0 || H5ReadFloats(f, "adam_m", (hsize_t)nparam, m) < 0 || H5ReadFloats(f, "adam_v", (hsize_t)nparam, v) < 0 || H5ReadFloats(f, "ema", (hsize_t)nparam, ema) < 0) snprintf(msg, sizeof(msg), "checkpoint %s: weights or optimiser state missing, of the wrong size, or unreadable", path);
      else {
        hid_t   ds = H5Dopen2(f, "history", H5P_DEFAULT);
        hsize_t dims[2] = {0, 0};
        if (ds < 0) snprintf(msg, sizeof(msg), "checkpoint %s: history missing", path);
        else {
          hid_t sp = H5Dget_space(ds);
          if (H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 || dims[1] != HIST_COLS) snprintf(msg, sizeof(msg), "checkpoint %s: history has the wrong shape", path);
          else {
            nep  = (PetscInt)dims[0];
            rows = (PetscReal *)malloc(sizeof(PetscReal) * (size_t)(nep * HIST_COLS + 1));
            if (!rows || (nep && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)) snprintf(msg, sizeof(msg), "checkpoint %s: history unreadable", path);
          }
          H5Sclose(sp);
          H5Dclose(ds);
        }
      }
      H5Fclose(f);
    }
    H5Eset_auto2(H5E_DEFAULT, efn, edata);
  }
  PetscCallMPI(MPI_Bcast(msg, sizeof(msg), MPI_CHAR, 0, PETSC_COMM_WORLD));
  if (msg[0]) {
    free(rows);
    SETERRQ(PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED, "%s", msg);
  }
  PetscCallMPI(MPI_Bcast(i64, 2, MPI_INT64_T, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(r, 4, MPI_DOUBLE, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(&nep, 1, MPIU_INT, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(theta, (PetscMPIInt)nparam, MPI_FLOAT, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(m, (PetscMPIInt)nparam, MPI_FLOAT, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(v, (PetscMPIInt)nparam, MPI_FLOAT, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(ema, (PetscMPIInt)nparam, MPI_FLOAT, 0, PETSC_COMM_WORLD));
  if (rank != 0) rows = (PetscReal *)malloc(sizeof(PetscReal) * (size_t)(nep * HIST_COLS + 1));
  PetscCheck(rows, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  PetscCallMPI(MPI_Bcast(rows, (PetscMPIInt)(nep * HIST_COLS), MPIU_REAL, 0, PETSC_COMM_WORLD));
  h->nep = 0;
  for (PetscInt e = 0; e < nep; e++) PetscCall(HistoryAppend(h, rows + e * HIST_COLS));
  free(rows);
  s->step        = i64[1];
  s->best        = r[0];
  s->epoch_sum   = r[1];
  s->epoch_count = r[2];
  s->seconds     = r[3];
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteCurveRank0(const char path[], const TrainHistory *h)
{
  DaisiOutputName out;
  FILE           *fp;

  PetscFunctionBegin;
  PetscCall(DaisiOutputNameInit(PETSC_COMM_SELF, path, &out));
  fp = fopen(out.tmp, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write training curve %s", out.tmp);
  fprintf(fp, "epoch\tstep\ttrain_loss\tval_loss_ema\tval_loss_raw\tlr\n");
  for (PetscInt e = 0; e < h->nep; e++) {
    const PetscReal *r = h->rows + e * HIST_COLS;
    fprintf(fp, "%.0f\t%.0f\t%.6f\t%.6f\t%.6f\t%.3e\n", (double)r[0], (double)r[1], (double)r[2], (double)r[3], (double)r[4], (double)r[5]);
  }
  PetscCheck(!fclose(fp), PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write training curve %s", out.tmp);
  PetscCall(DaisiOutputNameCommit(&out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the network with the EMA weights in place of its own, saved with its metadata */
static PetscErrorCode SaveEMARank0(DaisiNet net, const char path[], const float *ema, float *save)
{
  PetscInt n;
  float   *theta;

  PetscFunctionBegin;
  PetscCall(DaisiNetGetParameters(net, &n, &theta));
  PetscCall(PetscArraycpy(save, theta, n));
  PetscCall(PetscArraycpy(theta, ema, n));
  PetscCall(DaisiNetSave(net, path));
  PetscCall(PetscArraycpy(theta, save, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* loss of the EMA weights (swapped in and out) */
static PetscErrorCode EvaluateEMA(DaisiNet net, TrainData *val, const TrainOptions *o, TrainWork *w, const float *ema, float *save, PetscReal *loss)
{
  PetscInt n;
  float   *theta;

  PetscFunctionBegin;
  PetscCall(DaisiNetGetParameters(net, &n, &theta));
  PetscCall(PetscArraycpy(save, theta, n));
  PetscCall(PetscArraycpy(theta, ema, n));
  PetscCall(TrainEvaluate(net, val, o, VAL_CYCLE, o->val_samples, 1, w, loss, NULL, NULL, NULL));
  PetscCall(PetscArraycpy(theta, save, n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetMetadataReal(DaisiNet net, const char name[], PetscReal v)
{
  char buf[64];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "%.17g", (double)v));
  PetscCall(DaisiNetSetMetadata(net, name, buf));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Train(const TrainOptions *o, PetscBool *stopped)
{
  PetscMPIInt            rank, size;
  TrainData              data, val;
  DaisiNet               net;
  DaisiOptimizer         opt;
  TrainWork              w;
  TrainState             st;
  TrainHistory           hist = {0, 0, NULL};
  TrainLoss              L;
  DaisiOptimizerStepInfo info;
  PetscInt               nparam, n, lo, hi, steps, warmup, epoch_steps, last_progress;
  float                 *theta, *grad, *gsum, *save, *m, *v, *ema;
  PetscReal              lr, lr_min, prog_sum = 0, val_last = -1;
  PetscLogDouble         t_start, t_prog, now;
  PetscBool              have_ckpt = PETSC_FALSE;
  char                   sig[768];

  PetscFunctionBegin;
  *stopped = PETSC_FALSE;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(TrainDataOpen(o->data, &data));
  PetscCall(TrainDataOpen(o->val, &val));
  PetscCheck(val.grid.nlev == data.grid.nlev && val.grid.ny == data.grid.ny && val.grid.nx == data.grid.nx, PETSC_COMM_WORLD, PETSC_ERR_ARG_SIZ, "validation file %s holds %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " states, the training file %s %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT, o->val, val.grid.nlev, val.grid.ny, val.grid.nx, o->data, data.grid.nlev, data.grid.ny, data.grid.nx);
  n = DaisiGridLocalSize(&data.grid);

  PetscCall(DaisiNetCreate(PETSC_COMM_SELF, &net));
  PetscCall(DaisiNetSetFromOptions(net));
  PetscCall(DaisiNetSetUp(net, &data.grid));
  PetscCall(DaisiNetGetParameters(net, &nparam, &theta));
  PetscCall(DaisiNetGetGradient(net, &nparam, &grad));
  PetscCall(DaisiOptimizerCreate(PETSC_COMM_WORLD, nparam, &opt));
  PetscCall(DaisiOptimizerSetFromOptions(opt));
  PetscCall(DaisiOptimizerSetUp(opt, theta));
  PetscCall(DaisiOptimizerGetSchedule(opt, &lr, &lr_min, &warmup, &steps));
  PetscCall(DaisiOptimizerGetState(opt, NULL, &m, &v, &ema));
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  epoch_steps = o->epoch_steps > 0 ? o->epoch_steps : PetscMax(1, (data.nsamples + o->batch - 1) / o->batch);
  TrainBlock(o->batch, rank, size, &lo, &hi);
  PetscCall(TrainWorkCreate(PetscMax(hi - lo, 8), n, &w)); /* validation runs in chunks of 8 */
  PetscCall(PetscMalloc2(nparam, &gsum, nparam, &save));

  /* everything that shapes the trajectory; a resumed run must match it */
  PetscCall(DaisiOptimizerGetSignature(opt, sig, sizeof(sig)));
  PetscCall(PetscMemzero(&st, sizeof(st)));
  PetscCall(PetscSNPrintf(st.signature, sizeof(st.signature), "%s batch=%" PetscInt_FMT " seed=%" PetscInt64_FMT " train_states=%" PetscInt_FMT " val_states=%" PetscInt_FMT " val_samples=%" PetscInt_FMT " epoch_steps=%" PetscInt_FMT " scale=%.17g grid=%" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT, sig, o->batch, o->seed, data.nsamples, val.nsamples, o->val_samples, epoch_steps, (double)o->scale, data.grid.nlev, data.grid.ny, data.grid.nx));
  st.best = PETSC_MAX_REAL;
  if (o->restart) PetscCall(DaisiFileExists(PETSC_COMM_WORLD, o->checkpoint, &have_ckpt));
  if (have_ckpt) {
    PetscCall(ReadCheckpoint(o->checkpoint, &st, nparam, theta, m, v, ema, &hist));
    PetscCall(DaisiOptimizerSetStep(opt, st.step));
    if (hist.nep) val_last = hist.rows[(hist.nep - 1) * HIST_COLS + 3];
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | resuming from %s at step %" PetscInt64_FMT " (%" PetscInt_FMT " epochs done, best validation loss %.5f)\n", o->checkpoint, st.step, hist.nep, st.best < PETSC_MAX_REAL ? (double)st.best : -1.0));
  }

  {
    PetscLogDouble flops;
    PetscCall(DaisiNetGetForwardFlops(net, &flops));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | %" PetscInt_FMT " training states from %s, %" PetscInt_FMT " validation states from %s, grid %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT ", s_data %g\n", data.nsamples, o->data, val.nsamples, o->val, data.grid.nlev, data.grid.ny, data.grid.nx, (double)o->scale));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | network: %" PetscInt_FMT " parameters, %.3f GFLOP per sample forward; batch %" PetscInt_FMT " over %d rank(s); %" PetscInt_FMT " steps, %" PetscInt_FMT " per epoch; output %s\n", nparam, flops / 1e9, o->batch, size, steps, epoch_steps, o->output));
    PetscCall(DaisiOptimizerView(opt, PETSC_VIEWER_STDOUT_WORLD));
  }
  PetscCall(DaisiNetSetMetadata(net, "trained_by", "daisi-train"));
  PetscCall(DaisiNetSetMetadata(net, "train_data", o->data));
  PetscCall(DaisiNetSetMetadata(net, "train_signature", st.signature));
  PetscCall(SetMetadataReal(net, "data_scale", o->scale));

  PetscCall(PetscTime(&t_start));
  t_prog        = t_start;
  last_progress = (PetscInt)st.step;
  L.n           = n;
  L.wscale      = 2.0 / ((PetscReal)o->batch * (PetscReal)n);
  while (st.step < steps) {
    const PetscInt64 s = st.step; /* 0-based index of this step: the RNG counter */
    PetscReal        lsum[1], ltot[1];
    PetscBool        stop, epoch_end;

    /* this rank's block of the minibatch, one forward + reverse pass */
    for (PetscInt b = 0; b < hi - lo; b++) PetscCall(TrainDraw(&data, o->scale, o->seed, (uint64_t)s, (uint64_t)(lo + b), -1, 1, &w.t[b], w.xt + b * n, w.target + b * n, w.z));
    PetscCall(DaisiNetZeroGradient(net));
    L.target = w.target;
    L.sum    = 0;
    if (hi > lo) PetscCall(DaisiNetVJPOutput(net, hi - lo, w.t, w.xt, TrainCotangent, &L, w.y, w.w, NULL, PETSC_TRUE));
    /* sum on rank 0, then broadcast: every rank gets the same bits */
    PetscCallMPI(MPI_Reduce(grad, gsum, (PetscMPIInt)nparam, MPI_FLOAT, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Bcast(gsum, (PetscMPIInt)nparam, MPI_FLOAT, 0, PETSC_COMM_WORLD));
    lsum[0] = L.sum;
    PetscCall(MPIU_Allreduce(lsum, ltot, 1, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
    ltot[0] /= (PetscReal)o->batch * (PetscReal)n;
    PetscCheck(PetscIsNormalReal(ltot[0]) || ltot[0] == 0, PETSC_COMM_WORLD, PETSC_ERR_FP, "step %" PetscInt64_FMT ": the training loss is not finite (diverged; lower -train_lr or raise -train_warmup)", s + 1);
    PetscCall(DaisiOptimizerStep(opt, theta, gsum, &info));
    st.step++;
    st.epoch_sum += ltot[0];
    st.epoch_count += 1;
    prog_sum += ltot[0];

    epoch_end = (PetscBool)(st.step % epoch_steps == 0 || st.step == steps);
    if (epoch_end) {
      PetscReal row[HIST_COLS], val_ema, val_raw;
      PetscCall(TrainEvaluate(net, &val, o, VAL_CYCLE, o->val_samples, 1, &w, &val_raw, NULL, NULL, NULL));
      PetscCall(EvaluateEMA(net, &val, o, &w, ema, save, &val_ema));
      row[0] = (PetscReal)(hist.nep + 1);
      row[1] = (PetscReal)st.step;
      row[2] = st.epoch_sum / PetscMax(st.epoch_count, 1);
      row[3] = val_ema;
      row[4] = val_raw;
      row[5] = info.lr;
      PetscCall(HistoryAppend(&hist, row));
      st.epoch_sum = st.epoch_count = 0;
      val_last                      = val_ema;
      if (val_ema < st.best) {
        st.best = val_ema;
        PetscCall(SetMetadataReal(net, "train_step", (PetscReal)st.step));
        PetscCall(SetMetadataReal(net, "val_loss", val_ema));
        RANK0_CALL(rank, SaveEMARank0(net, o->output, ema, save));
      }
      RANK0_CALL(rank, WriteCurveRank0(o->curve, &hist));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | epoch %4" PetscInt_FMT " | step %7" PetscInt64_FMT " | train loss %.5f | val loss EMA %.5f raw %.5f%s\n", hist.nep, st.step, (double)row[2], (double)val_ema, (double)val_raw, val_ema <= st.best ? " | best, saved" : ""));
    }
    PetscCall(PetscTime(&now));
    if (st.step % o->progress_every == 0 || st.step == steps) {
      const PetscReal rate = (PetscReal)((st.step - last_progress) * o->batch) / PetscMax(now - t_prog, 1e-9);
      const PetscReal eta  = (PetscReal)((steps - st.step) * o->batch) / PetscMax(rate, 1e-9);
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | step %7" PetscInt64_FMT "/%" PetscInt_FMT " | epoch %6.2f | loss %.5f | val %.5f | lr %.2e | |g| %.3g%s | %6.1f samples/s | ETA %.1f min\n", st.step, steps, (double)st.step / (double)epoch_steps, (double)(prog_sum / PetscMax(st.step - last_progress, 1)), (double)val_last, (double)info.lr, (double)info.gnorm, info.clipped ? " (clipped)" : "", (double)rate, (double)(eta / 60.0)));
      prog_sum      = 0;
      last_progress = (PetscInt)st.step;
      t_prog        = now;
    }
    PetscCall(DaisiStopRequested(PETSC_COMM_WORLD, &stop));
    if (o->stop_at > 0 && st.step == o->stop_at) stop = PETSC_TRUE;
    if (o->max_minutes > 0) {
      int late = (now - t_start) > 60.0 * o->max_minutes, any;
      PetscCallMPI(MPI_Allreduce(&late, &any, 1, MPI_INT, MPI_LOR, PETSC_COMM_WORLD));
      if (any) stop = PETSC_TRUE;
    }
    if (st.step < steps && (stop || (o->ckpt_every > 0 && st.step % o->ckpt_every == 0))) {
      st.seconds += now - t_start;
      RANK0_CALL(rank, WriteCheckpointRank0(o->checkpoint, &st, nparam, theta, m, v, ema, &hist));
      st.seconds -= now - t_start;
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | checkpoint %s at step %" PetscInt64_FMT "\n", o->checkpoint, st.step));
      if (stop) {
        PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | stopping on request; rerun with -train_restart to continue\n"));
        *stopped = PETSC_TRUE;
        break;
      }
    }
  }
  if (!*stopped) {
    PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, o->checkpoint));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | done: %" PetscInt64_FMT " steps, best validation loss (EMA weights) %.5f in %s, curve in %s\n", st.step, (double)st.best, o->output, o->curve));
  }
  PetscCall(PetscFree2(gsum, save));
  PetscCall(PetscFree(hist.rows));
  PetscCall(TrainWorkDestroy(&w));
  PetscCall(DaisiOptimizerDestroy(&opt));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(TrainDataClose(&val));
  PetscCall(TrainDataClose(&data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the denoising loss of a trained network on a data split, by t-bins */
static PetscErrorCode Evaluate(const TrainOptions *o)
{
  PetscMPIInt rank;
  TrainData   data;
  DaisiNet    net;
  TrainWork   w;
  TrainOptions oe = *o;
  const char *scale;
  PetscReal   mean = 0, *loss, *base, *counts;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(TrainDataOpen(o->data, &data));
  PetscCall(DaisiNetLoad(PETSC_COMM_SELF, o->eval, &data.grid, &net));
  PetscCall(DaisiNetGetMetadata(net, "data_scale", &scale));
  if (scale) oe.scale = atof(scale);
  PetscCheck(oe.scale > 0, PETSC_COMM_WORLD, PETSC_ERR_FILE_UNEXPECTED, "%s: metadata data_scale '%s' is not a positive number", o->eval, scale);
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  PetscCall(TrainWorkCreate(8, DaisiGridLocalSize(&data.grid), &w));
  PetscCall(PetscMalloc3(o->eval_bins, &loss, o->eval_bins, &base, o->eval_bins, &counts));
  PetscCall(TrainEvaluate(net, &data, &oe, EVAL_CYCLE, o->eval_samples, o->eval_bins, &w, &mean, loss, base, counts));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | %s on %s (%" PetscInt_FMT " states), %" PetscInt_FMT " draws, s_data %g\n", o->eval, o->data, data.nsamples, o->eval_samples, (double)oe.scale));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | t_lo   t_hi   draws  loss      loss(b=0)  ratio\n"));
  for (PetscInt b = 0; b < o->eval_bins; b++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | %.3f  %.3f  %5.0f  %.5f  %.5f   %.4f\n", (double)b / o->eval_bins, (double)(b + 1) / o->eval_bins, (double)counts[b], (double)loss[b], (double)base[b], (double)(loss[b] / base[b])));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | all t: loss %.5f\n", (double)mean));
  if (o->has_eval_output && rank == 0) {
    FILE *fp = fopen(o->eval_output, "w");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", o->eval_output);
    fprintf(fp, "t_lo\tt_hi\tdraws\tloss\tloss_b0\n");
    for (PetscInt b = 0; b < o->eval_bins; b++) fprintf(fp, "%.4f\t%.4f\t%.0f\t%.6f\t%.6f\n", (double)b / o->eval_bins, (double)(b + 1) / o->eval_bins, (double)counts[b], (double)loss[b], (double)base[b]);
    PetscCheck(!fclose(fp), PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s", o->eval_output);
  }
  PetscCall(PetscFree3(loss, base, counts));
  PetscCall(TrainWorkDestroy(&w));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(TrainDataClose(&data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TrainOptions o;
  PetscBool    stopped = PETSC_FALSE;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(DaisiInstallStopHandler());
  PetscCall(TrainGetOptions(&o));
  /* the network and optimiser options are read inside; unknown options are caught there
   * before any work */
  if (o.has_eval) PetscCall(Evaluate(&o));
  else PetscCall(Train(&o, &stopped));
  PetscCall(DaisiFinalize());
  return stopped ? DAISI_EXIT_CHECKPOINTED : 0;
}
