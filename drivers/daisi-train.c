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
 * by t-bins (the quality report's table).
 *
 * -train_model vae trains a variational autoencoder instead (the state compression of
 * LO-SDA and latent 3DVar; docs/training.md, section VAE): encoder E (-train_encoder_output)
 * and decoder D (-train_output), both -nn_* networks of types encoder / decoder with the same
 * options, in physical units (per-level normalisation from the training data, stored with
 * the weights). Per sample, with r = (D(z) - x) / std_level and z = mu + exp(lv / 2) eps,
 * [mu; lv] = E(x), eps ~ N(0, I):  loss = (|r|^2 + beta KL(N(mu, e^lv) | N(0, I))) / n.
 * One encoder pass serves both halves: its cotangent callback runs the decoder's forward
 * and reverse pass. Validation: |r|^2 / n with z = mu. The two parameter vectors are one
 * for the optimiser, checkpoint and EMA.
 *
 * -train_model latent trains LO-SDA's latent model (docs/training.md, section 5): an
 * interpolant velocity unet on the VAE's latent grid conditioned on the encoded background,
 * on (background, truth) pairs of a daisi-filter cycling run (-train_data: its diagnostics
 * file, -train_truth: its truth), encoded by -train_vae_encoder and normalised per channel. */
#include <daisi/diagfile.h>
#include <daisi/metrics.h>
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
                           "  -train_eval WEIGHTS -train_data TEST.h5 [-train_eval_samples V -train_eval_bins nb -train_eval_output F.tsv]\n"
                           "  -train_model vae -train_encoder_output ENC.h5 -train_output DEC.h5 -train_vae_beta b -nn_type encoder -nn_latent_channels C\n"
                           "  -train_model vae -train_eval ENC.h5 -train_eval_decoder DEC.h5 -train_data TEST.h5  (reconstruction errors)\n"
                           "  -train_model latent -train_vae_encoder ENC.h5 -train_data DIAG.h5 -train_truth TRUTH.h5 -train_val DIAG_VAL.h5\n"
                           "     -train_val_truth TRUTH_VAL.h5 [-train_first_cycle c]  (LO-SDA's background-conditioned latent model)\n";

#define CKPT_FORMAT  "daisi-train-checkpoint"
#define CKPT_VERSION 1
#define VAL_CYCLE    ((uint64_t)1 << 40) /* RNG counter of the validation draws (never a step) */
#define EVAL_CYCLE   ((uint64_t)1 << 41)

typedef struct {
  char       data[PETSC_MAX_PATH_LEN], val[PETSC_MAX_PATH_LEN], output[PETSC_MAX_PATH_LEN];
  char       checkpoint[PETSC_MAX_PATH_LEN], curve[PETSC_MAX_PATH_LEN], eval[PETSC_MAX_PATH_LEN], eval_output[PETSC_MAX_PATH_LEN];
  char       enc_output[PETSC_MAX_PATH_LEN], eval_decoder[PETSC_MAX_PATH_LEN];
  char       truth[PETSC_MAX_PATH_LEN], val_truth[PETSC_MAX_PATH_LEN], vae_encoder[PETSC_MAX_PATH_LEN];
  PetscBool  vae;    /* -train_model vae */
  PetscBool  latent; /* -train_model latent */
  PetscInt   first_cycle;
  PetscBool  check_gradient;
  PetscReal  beta; /* -train_vae_beta */
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
  PetscReal     *z1, *zb; /* -train_model latent: [nsamples][local size of grid] normalised latents of truth and background */
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
  o->beta           = 0.01;
  o->first_cycle    = 21;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Prior training options", "daisi-train");
  {
    const char *models[] = {"interpolant", "vae", "latent"};
    PetscInt    im       = 0;
    PetscCall(PetscOptionsEList("-train_model", "What to train: the interpolant prior's velocity network, a variational autoencoder (encoder + decoder), or LO-SDA's latent interpolant conditioned on the encoded background", "", models, 3, models[0], &im, NULL));
    o->vae    = (PetscBool)(im == 1);
    o->latent = (PetscBool)(im == 2);
  }
  PetscCall(PetscOptionsString("-train_vae_encoder", "latent: the VAE encoder that maps backgrounds and truths to latents", "", o->vae_encoder, o->vae_encoder, sizeof(o->vae_encoder), NULL));
  PetscCall(PetscOptionsString("-train_truth", "latent: the truth state file of the -train_data cycling run", "", o->truth, o->truth, sizeof(o->truth), NULL));
  PetscCall(PetscOptionsString("-train_val_truth", "latent: the truth state file of the -train_val cycling run", "", o->val_truth, o->val_truth, sizeof(o->val_truth), NULL));
  PetscCall(PetscOptionsInt("-train_first_cycle", "latent: first cycle of the runs used (skips the spin-up of the filter)", "", o->first_cycle, &o->first_cycle, NULL));
  PetscCall(PetscOptionsString("-train_encoder_output", "VAE: weight file of the encoder (-train_output holds the decoder)", "", o->enc_output, o->enc_output, sizeof(o->enc_output), NULL));
  PetscCall(PetscOptionsBool("-train_check_gradient", "Check the loss gradient of the first minibatch against a central difference, then stop", "", o->check_gradient, &o->check_gradient, NULL));
  PetscCall(PetscOptionsReal("-train_vae_beta", "VAE: weight of the KL term against the normalised reconstruction error", "", o->beta, &o->beta, NULL));
  PetscCall(PetscOptionsString("-train_eval_decoder", "VAE evaluation: the decoder of the -train_eval encoder", "", o->eval_decoder, o->eval_decoder, sizeof(o->eval_decoder), NULL));
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
  PetscCall(PetscOptionsString("-train_eval_output", "Table of the evaluation (TSV): loss by t bin; for a VAE the spectra of states, reconstructions and errors by level", "", o->eval_output, o->eval_output, sizeof(o->eval_output), &o->has_eval_output));
  PetscOptionsEnd();
  PetscCheck(o->data[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give the training states with -train_data FILE (scripts/make-trainset.sh makes them; -train_model latent: the diagnostics file of a cycling run)");
  if (o->latent) {
    PetscCheck(!o->has_eval, PETSC_COMM_WORLD, PETSC_ERR_SUP, "-train_eval is not available for -train_model latent (the training's validation loss is its measure)");
    PetscCheck(o->vae_encoder[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_model latent needs -train_vae_encoder FILE (the encoder of a VAE trained with -train_model vae)");
    PetscCheck(o->truth[0] && o->val_truth[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_model latent needs -train_truth and -train_val_truth (the truth state files of the -train_data and -train_val runs)");
    PetscCheck(o->first_cycle >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_first_cycle %" PetscInt_FMT " must be at least 1", o->first_cycle);
  } else PetscCheck(!o->vae_encoder[0] && !o->truth[0] && !o->val_truth[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_vae_encoder, -train_truth and -train_val_truth belong to -train_model latent");
  PetscCheck(o->has_eval || o->has_val, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give the validation states with -train_val FILE");
  PetscCheck(o->batch >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_batch %" PetscInt_FMT " must be at least 1", o->batch);
  PetscCheck(o->epoch_steps >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_epoch_steps must be >= 0");
  PetscCheck(o->val_samples >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_val_samples must be at least 1");
  PetscCheck(o->ckpt_every >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_checkpoint_every must be >= 0");
  PetscCheck(o->progress_every >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_progress_every must be at least 1");
  PetscCheck(o->scale > 0 && PetscIsNormalReal(o->scale), PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-prior_scale %g must be positive", (double)o->scale);
  PetscCheck(o->max_minutes >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_max_minutes must be >= 0");
  PetscCheck(o->beta >= 0 && PetscIsNormalReal(o->beta + 1), PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-train_vae_beta %g must be >= 0", (double)o->beta);
  PetscCheck(!o->vae || o->has_eval || o->enc_output[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_model vae needs -train_encoder_output FILE (the encoder's weights; -train_output is the decoder's)");
  PetscCheck(!o->vae || !o->has_eval || o->eval_decoder[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_model vae -train_eval ENCODER needs -train_eval_decoder FILE");
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
  PetscCall(PetscFree2(d->z1, d->zb));
  if (d->f) PetscCall(DaisiStateFileClose(d->f));
  PetscCall(DaisiStateFileDestroy(&d->f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* block [lo, hi) of `count` draws for this rank */
static void TrainBlock(PetscInt count, PetscMPIInt rank, PetscMPIInt size, PetscInt *lo, PetscInt *hi)
{
  *lo = (PetscInt)(((PetscInt64)count * rank) / size);
  *hi = (PetscInt)(((PetscInt64)count * (rank + 1)) / size);
}

/* -train_model latent: the pairs (background ensemble mean of cycle c, truth at time index c)
 * of a daisi-filter diagnostics file and its truth, cycles c >= first, encoded by the VAE
 * encoder (the means) and normalised per latent channel by mean[] and std[] (those of the
 * encoded truths, computed here unless given). Every rank encodes a block of the pairs; all
 * ranks end with all of them. */
static PetscErrorCode LatentDataLoad(const char diag[], const char truth[], PetscInt first, DaisiNet enc, PetscBool given, PetscReal mean[], PetscReal std[], TrainData *d)
{
  PetscMPIInt    rank, size, *cnt, *dsp;
  DaisiGrid      g;
  PetscInt       nt, nm, nc, nsel, lo, hi, n, nz, C, S;
  PetscInt64    *cyc;
  PetscReal     *x, *h, *z1, *zb;
  DaisiStateFile tf;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscMemzero(d, sizeof(*d)));
  PetscCall(PetscStrncpy(d->path, diag, sizeof(d->path)));
  PetscCall(DaisiStateFileQuery(PETSC_COMM_SELF, truth, &g, &nt, &nm));
  PetscCheck(nm == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "truth %s is an ensemble file; give the truth state file of the run %s", truth, diag);
  /* every rank reads for itself (the whole grid on PETSC_COMM_SELF), as TrainDataOpen does */
  PetscCall(DaisiDiagFileReadCycles(PETSC_COMM_SELF, diag, diag, &g, &nc, &cyc));
  for (nsel = 0; nsel < nc && cyc[nc - 1 - nsel] >= first; nsel++) { }
  PetscCheck(nsel >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "%s has no cycle >= %" PetscInt_FMT " (-train_first_cycle)", diag, first);
  PetscCheck(cyc[nc - 1] < nt, PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP, "truth %s has %" PetscInt_FMT " times, the run %s goes to cycle %" PetscInt64_FMT ": not its truth", truth, nt, diag, cyc[nc - 1]);
  PetscCall(DaisiNetGetLatentGrid(enc, &d->grid));
  n  = DaisiGridLocalSize(&g);
  nz = DaisiGridLocalSize(&d->grid);
  C  = d->grid.nlev;
  S  = nz / C;
  d->nsamples = nsel;
  TrainBlock(nsel, rank, size, &lo, &hi);
  PetscCall(PetscMalloc2(nsel * nz, &d->z1, nsel * nz, &d->zb));
  PetscCall(PetscMalloc5(2 * n, &x, 2 * 2 * nz, &h, (hi - lo) * nz + 1, &z1, (hi - lo) * nz + 1, &zb, 2 * size, &cnt));
  dsp = cnt + size;
  PetscCall(DaisiStateFileCreate(PETSC_COMM_SELF, &tf));
  PetscCall(DaisiStateFileSetGrid(tf, &g));
  PetscCall(DaisiStateFileOpen(tf, truth, DAISI_FILE_READ));
  for (PetscInt i = lo; i < hi; i++) {
    const PetscInt ic = nc - nsel + i;
    PetscCall(DaisiDiagFileReadField(PETSC_COMM_SELF, diag, diag, "ens_mean_b", &g, ic, x));
    for (PetscInt j = 0; j < n; j++) PetscCheck(PetscIsNormalReal(x[j]) || x[j] == 0, PETSC_COMM_SELF, PETSC_ERR_FP, "%s: the background of cycle %" PetscInt64_FMT " is not finite (a diverged run?)", diag, cyc[ic]);
    PetscCall(DaisiStateFileRead(tf, (PetscInt)cyc[ic], NULL, x + n));
    PetscCall(DaisiNetForward(enc, 2, NULL, x, h));
    PetscCall(PetscArraycpy(zb + (i - lo) * nz, h, nz));
    PetscCall(PetscArraycpy(z1 + (i - lo) * nz, h + 2 * nz, nz));
  }
  PetscCall(DaisiStateFileClose(tf));
  PetscCall(DaisiStateFileDestroy(&tf));
  for (PetscMPIInt r = 0; r < size; r++) {
    PetscInt a, b;
    TrainBlock(nsel, r, size, &a, &b);
    cnt[r] = (PetscMPIInt)((b - a) * nz);
    dsp[r] = (PetscMPIInt)(a * nz);
  }
  PetscCallMPI(MPI_Allgatherv(z1, cnt[rank], MPIU_REAL, d->z1, cnt, dsp, MPIU_REAL, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allgatherv(zb, cnt[rank], MPIU_REAL, d->zb, cnt, dsp, MPIU_REAL, PETSC_COMM_WORLD));
  if (!given)
    for (PetscInt c = 0; c < C; c++) {
      PetscReal s1 = 0, s2 = 0;
      for (PetscInt k = 0; k < nsel; k++)
        for (PetscInt j = 0; j < S; j++) {
          s1 += d->z1[k * nz + c * S + j];
          s2 += d->z1[k * nz + c * S + j] * d->z1[k * nz + c * S + j];
        }
      mean[c] = s1 / ((PetscReal)nsel * S);
      std[c]  = PetscSqrtReal(PetscMax(s2 / ((PetscReal)nsel * S) - mean[c] * mean[c], 0));
      PetscCheck(std[c] > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "latent channel %" PetscInt_FMT " of the encoded truths of %s is constant", c, diag);
    }
  for (PetscInt k = 0; k < nsel; k++)
    for (PetscInt j = 0; j < nz; j++) {
      d->z1[k * nz + j] = (d->z1[k * nz + j] - mean[j / S]) / std[j / S];
      d->zb[k * nz + j] = (d->zb[k * nz + j] - mean[j / S]) / std[j / S];
    }
  PetscCall(PetscFree5(x, h, z1, zb, cnt));
  PetscCall(PetscFree(cyc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -train_model latent: the training and validation pairs, encoded by -train_vae_encoder and
 * normalised by the training truths' per-channel latent mean and std (C values each, the
 * caller frees them; they go into the weight file's metadata) */
static PetscErrorCode LatentDataOpen(const TrainOptions *o, TrainData *data, TrainData *val, PetscReal **mean, PetscReal **std, char vsig[], size_t len)
{
  DaisiGrid   g, gv, z;
  DaisiNet    enc;
  PetscInt    nt, nm;
  const char *type;

  PetscFunctionBegin;
  PetscCall(DaisiStateFileQuery(PETSC_COMM_SELF, o->truth, &g, &nt, &nm));
  PetscCall(DaisiStateFileQuery(PETSC_COMM_SELF, o->val_truth, &gv, &nt, &nm));
  PetscCheck(gv.nlev == g.nlev && gv.ny == g.ny && gv.nx == g.nx, PETSC_COMM_WORLD, PETSC_ERR_ARG_SIZ, "-train_val_truth %s holds %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " states, -train_truth %s %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT, o->val_truth, gv.nlev, gv.ny, gv.nx, o->truth, g.nlev, g.ny, g.nx);
  PetscCall(DaisiNetLoad(PETSC_COMM_SELF, o->vae_encoder, &g, &enc));
  PetscCall(DaisiNetGetType(enc, &type));
  PetscCheck(!strcmp(type, "encoder"), PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_vae_encoder %s holds a %s network, not an encoder", o->vae_encoder, type);
  {
    const char *sig;
    PetscCall(DaisiNetGetMetadata(enc, "train_signature", &sig));
    PetscCall(PetscStrncpy(vsig, sig ? sig : "", len));
  }
  PetscCall(DaisiNetGetLatentGrid(enc, &z));
  PetscCall(PetscMalloc2(z.nlev, mean, z.nlev, std));
  PetscCall(LatentDataLoad(o->data, o->truth, o->first_cycle, enc, PETSC_FALSE, *mean, *std, data));
  PetscCall(LatentDataLoad(o->val, o->val_truth, o->first_cycle, enc, PETSC_TRUE, *mean, *std, val));
  PetscCall(DaisiNetDestroy(&enc));
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
static PetscInt TrainPick(const TrainData *d, const DaisiRng *rng)
{
  return PetscMin((PetscInt)(DaisiRngUniform(rng, 0) * (double)d->nsamples), d->nsamples - 1);
}

static PetscErrorCode TrainDraw(TrainData *d, PetscReal scale, PetscInt64 seed, uint64_t cycle, uint64_t i, PetscInt tbin, PetscInt nbins, PetscReal *t, PetscReal xt[], PetscReal target[], PetscReal z[])
{
  const PetscInt n   = DaisiGridLocalSize(&d->grid);
  const DaisiRng rng = DaisiRngMake((uint64_t)seed, DAISI_RNG_TRAINING, cycle, i, 0);
  const DaisiRng rz  = DaisiRngMake((uint64_t)seed, DAISI_RNG_TRAINING, cycle, i, 1);
  PetscInt       k   = TrainPick(d, &rng);
  PetscReal      u   = DaisiRngUniform(&rng, 1);

  PetscFunctionBegin;
  *t = tbin >= 0 ? ((PetscReal)tbin + u) / (PetscReal)nbins : u;
  if (d->z1) { /* latent pairs: x_t, then the background as the condition */
    DaisiRngNormalArray(&rz, 0, n, z);
    for (PetscInt j = 0; j < n; j++) {
      xt[j]     = (1.0 - *t) * z[j] + *t * d->z1[k * n + j];
      xt[n + j] = d->zb[k * n + j];
      target[j] = d->z1[k * n + j] - z[j];
    }
    PetscFunctionReturn(PETSC_SUCCESS);
  }
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
  PetscInt   nmax, nin, n; /* samples; values of a network input (x_t [, condition]) and output */
  PetscReal *t, *xt, *target, *z, *y, *w;
} TrainWork;

static PetscErrorCode TrainWorkCreate(PetscInt nmax, PetscInt nin, PetscInt n, TrainWork *w)
{
  PetscFunctionBegin;
  w->nmax = PetscMax(nmax, 1);
  w->nin  = nin;
  w->n    = n;
  PetscCall(PetscMalloc6(w->nmax, &w->t, w->nmax * nin, &w->xt, w->nmax * n, &w->target, n, &w->z, w->nmax * n, &w->y, w->nmax * n, &w->w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TrainWorkDestroy(TrainWork *w)
{
  PetscFunctionBegin;
  PetscCall(PetscFree6(w->t, w->xt, w->target, w->z, w->y, w->w));
  PetscFunctionReturn(PETSC_SUCCESS);
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
    for (PetscInt b = 0; b < nb; b++) PetscCall(TrainDraw(d, o->scale, o->seed, cycle, (uint64_t)(i0 + b), nbins > 1 ? (i0 + b) % nbins : -1, nbins, &w->t[b], w->xt + b * w->nin, w->target + b * n, w->z));
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

/* ---- the networks being trained: the velocity network, or encoder + decoder (VAE) ---- */

typedef struct {
  PetscBool  vae;
  DaisiNet   net, enc;     /* the velocity network or the VAE's decoder; the encoder */
  PetscInt   nparam, nnet; /* all parameters; those of net (first in theta) */
  float     *theta, *grad; /* all parameters and their gradient: net's own arrays, or [net | enc] */
  /* VAE */
  PetscReal  beta, wscale; /* KL weight; 1 / (global batch * state size) */
  PetscInt   n, nz, S;     /* values of a state and of a latent (one sample, whole grid); of a level */
  PetscReal *istd2;        /* per level: 1 / std^2 of the training states */
  PetscReal *h, *wh, *zl, *xr, *wr, *eps; /* per sample of a block: [mu; lv], its cotangent, z, D(z), its cotangent, noise */
  const PetscReal *x;      /* the block's states */
  PetscInt   off;          /* first sample of the encoder chunk being processed */
  PetscReal  sum;          /* block sums: squared normalised errors + beta KL */
} TrainNets;

/* per level mean and standard deviation of (up to) 512 evenly spaced training states */
static PetscErrorCode TrainDataLevelStats(TrainData *d, PetscReal mean[], PetscReal std[])
{
  const PetscInt nl = d->grid.nlev, S = d->grid.ny * d->grid.nx, K = PetscMin(512, d->nsamples);
  PetscReal     *x, *s1, *s2;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(nl * S, &x));
  PetscCall(PetscCalloc2(nl, &s1, nl, &s2));
  for (PetscInt k = 0; k < K; k++) {
    PetscCall(TrainDataRead(d, (PetscInt)(((PetscInt64)k * d->nsamples) / K), 1.0, x));
    for (PetscInt l = 0; l < nl; l++)
      for (PetscInt j = 0; j < S; j++) {
        s1[l] += x[l * S + j];
        s2[l] += x[l * S + j] * x[l * S + j];
      }
  }
  for (PetscInt l = 0; l < nl; l++) {
    mean[l] = s1[l] / ((PetscReal)K * S);
    std[l]  = PetscSqrtReal(PetscMax(s2[l] / ((PetscReal)K * S) - mean[l] * mean[l], 0));
    PetscCheck(std[l] > 0, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: level %" PetscInt_FMT " of the training states is constant; a VAE cannot be normalised on it", d->path, l);
  }
  PetscCall(PetscFree(x));
  PetscCall(PetscFree2(s1, s2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The networks from the -nn_* options (VAE: both halves with the same options, per-level
 * normalisation from the training data); nmax: samples per block. */
static PetscErrorCode TrainNetsCreate(const TrainOptions *o, TrainData *data, PetscInt nmax, TrainNets *tn)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(tn, sizeof(*tn)));
  tn->vae = o->vae;
  PetscCall(DaisiNetCreate(PETSC_COMM_SELF, &tn->net));
  PetscCall(DaisiNetSetFromOptions(tn->net));
  if (!tn->vae) {
    if (o->latent) PetscCall(DaisiNetSetConditionChannels(tn->net, data->grid.nlev)); /* the encoded background */
    PetscCall(DaisiNetSetUp(tn->net, &data->grid));
    PetscCall(DaisiNetGetParameters(tn->net, &tn->nparam, &tn->theta));
    PetscCall(DaisiNetGetGradient(tn->net, NULL, &tn->grad));
    tn->nnet = tn->nparam;
  } else {
    PetscInt   nl = data->grid.nlev, nn, ne;
    PetscReal *mean, *std, *zero, *one;
    DaisiGrid  z;
    float     *th;
    PetscCall(DaisiNetCreate(PETSC_COMM_SELF, &tn->enc));
    PetscCall(DaisiNetSetFromOptions(tn->enc));
    PetscCall(DaisiNetSetType(tn->net, "decoder"));
    PetscCall(DaisiNetSetType(tn->enc, "encoder"));
    PetscCall(DaisiNetSetUp(tn->net, &data->grid));
    PetscCall(DaisiNetSetUp(tn->enc, &data->grid));
    PetscCall(DaisiNetGetLatentGrid(tn->enc, &z));
    PetscCall(DaisiNetGetParameters(tn->net, &tn->nnet, NULL));
    PetscCall(DaisiNetGetParameters(tn->enc, &ne, NULL));
    tn->nparam = tn->nnet + ne;
    PetscCall(PetscMalloc2(tn->nparam, &tn->theta, tn->nparam, &tn->grad));
    PetscCall(DaisiNetGetParameters(tn->net, NULL, &th));
    PetscCall(PetscArraycpy(tn->theta, th, tn->nnet));
    PetscCall(DaisiNetGetParameters(tn->enc, NULL, &th));
    PetscCall(PetscArraycpy(tn->theta + tn->nnet, th, ne));
    tn->beta = o->beta;
    tn->n    = DaisiGridLocalSize(&data->grid);
    tn->nz   = DaisiGridLocalSize(&z);
    tn->S    = tn->n / nl;
    tn->wscale = 1.0 / ((PetscReal)o->batch * (PetscReal)tn->n);
    PetscCall(DaisiNetGetNormalizationSize(tn->enc, &nn));
    PetscCall(PetscCalloc4(nn, &mean, nn, &std, nn, &zero, nn, &one));
    for (PetscInt i = 0; i < nn; i++) std[i] = one[i] = 1;
    PetscCall(TrainDataLevelStats(data, mean, std));
    PetscCall(DaisiNetSetNormalization(tn->enc, mean, std, zero, one));
    PetscCall(DaisiNetSetNormalization(tn->net, zero, one, mean, std));
    PetscCall(PetscMalloc1(nl, &tn->istd2));
    for (PetscInt l = 0; l < nl; l++) tn->istd2[l] = 1.0 / (std[l] * std[l]);
    PetscCall(PetscFree4(mean, std, zero, one));
    nmax = PetscMax(nmax, 1);
    PetscCall(PetscMalloc6(nmax * 2 * tn->nz, &tn->h, nmax * 2 * tn->nz, &tn->wh, nmax * tn->nz, &tn->zl, nmax * tn->n, &tn->xr, nmax * tn->n, &tn->wr, nmax * tn->nz, &tn->eps));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TrainNetsDestroy(TrainNets *tn)
{
  PetscFunctionBegin;
  if (tn->vae) {
    PetscCall(PetscFree2(tn->theta, tn->grad));
    PetscCall(PetscFree(tn->istd2));
    PetscCall(PetscFree6(tn->h, tn->wh, tn->zl, tn->xr, tn->wr, tn->eps));
  }
  PetscCall(DaisiNetDestroy(&tn->enc));
  PetscCall(DaisiNetDestroy(&tn->net));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* VAE: the parameters into the two networks (the velocity network uses theta directly) */
static PetscErrorCode TrainNetsPush(TrainNets *tn)
{
  float   *th;
  PetscInt ne;

  PetscFunctionBegin;
  if (!tn->vae) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(DaisiNetGetParameters(tn->net, NULL, &th));
  PetscCall(PetscArraycpy(th, tn->theta, tn->nnet));
  PetscCall(DaisiNetGetParameters(tn->enc, &ne, &th));
  PetscCall(PetscArraycpy(th, tn->theta + tn->nnet, ne));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TrainNetsSetMetadata(TrainNets *tn, const char name[], const char value[])
{
  PetscFunctionBegin;
  PetscCall(DaisiNetSetMetadata(tn->net, name, value));
  if (tn->enc) PetscCall(DaisiNetSetMetadata(tn->enc, name, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* decoder cotangent of samples [b0, b0 + bc) of the current encoder chunk: the gradient of
 * wscale |r|^2, r = (D(z) - x) / std_level */
static PetscErrorCode VAEReconCotangent(void *ctx, PetscInt b0, PetscInt bc, const PetscReal y[], PetscReal w[])
{
  TrainNets       *tn = (TrainNets *)ctx;
  const PetscInt   n  = tn->n;
  const PetscReal *x  = tn->x + (tn->off + b0) * n;

  PetscFunctionBegin;
  for (PetscInt j = 0; j < bc * n; j++) {
    const PetscReal r = y[j] - x[j], is2 = tn->istd2[(j % n) / tn->S];
    tn->sum += r * r * is2;
    w[j] = 2 * tn->wscale * r * is2;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

#define VAE_LV_MIN (-20.0)
#define VAE_LV_MAX 10.0

/* encoder cotangent of the chunk [b0, b0 + bc) from its output h = [mu; lv]: samples
 * z = mu + exp(lv / 2) eps, runs the decoder's forward and reverse pass (parameter gradient
 * accumulated), then adds the KL term */
static PetscErrorCode VAEEncoderCotangent(void *ctx, PetscInt b0, PetscInt bc, const PetscReal h[], PetscReal wh[])
{
  TrainNets     *tn = (TrainNets *)ctx;
  const PetscInt nz = tn->nz;
  const PetscReal c = tn->beta * tn->wscale;
  PetscReal     *gz = tn->zl + b0 * nz; /* z, then overwritten by dL/dz (the decoder's VJP) */

  PetscFunctionBegin;
  for (PetscInt b = 0; b < bc; b++)
    for (PetscInt j = 0; j < nz; j++) {
      const PetscReal mu = h[b * 2 * nz + j], lv = PetscMin(PetscMax(h[b * 2 * nz + nz + j], VAE_LV_MIN), VAE_LV_MAX);
      tn->zl[(b0 + b) * nz + j] = mu + PetscExpReal(0.5 * lv) * tn->eps[(b0 + b) * nz + j];
    }
  tn->off = b0;
  PetscCall(DaisiNetVJPOutput(tn->net, bc, NULL, tn->zl + b0 * nz, VAEReconCotangent, tn, tn->xr + b0 * tn->n, tn->wr + b0 * tn->n, gz, PETSC_TRUE));
  for (PetscInt b = 0; b < bc; b++)
    for (PetscInt j = 0; j < nz; j++) {
      const PetscReal mu = h[b * 2 * nz + j], lvr = h[b * 2 * nz + nz + j], lv = PetscMin(PetscMax(lvr, VAE_LV_MIN), VAE_LV_MAX), e = PetscExpReal(lv);
      const PetscReal g = gz[b * nz + j];
      tn->sum += tn->beta * 0.5 * (mu * mu + e - 1 - lv);
      wh[b * 2 * nz + j]      = g + c * mu;
      wh[b * 2 * nz + nz + j] = (lvr == lv) ? g * tn->eps[(b0 + b) * nz + j] * 0.5 * PetscExpReal(0.5 * lv) + c * 0.5 * (e - 1) : 0;
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* one VAE training block: states x[B], noise keyed by (seed, step, sample); adds to the
 * gradients of both networks, returns the sum of |r|^2 + beta KL */
static PetscErrorCode VAEBlock(TrainNets *tn, TrainData *d, const TrainOptions *o, uint64_t cycle, PetscInt lo, PetscInt B, PetscReal x[], PetscReal *sum)
{
  PetscFunctionBegin;
  for (PetscInt b = 0; b < B; b++) {
    const DaisiRng rng = DaisiRngMake((uint64_t)o->seed, DAISI_RNG_TRAINING, cycle, (uint64_t)(lo + b), 0);
    const DaisiRng rz  = DaisiRngMake((uint64_t)o->seed, DAISI_RNG_TRAINING, cycle, (uint64_t)(lo + b), 1);
    PetscCall(TrainDataRead(d, TrainPick(d, &rng), 1.0, x + b * tn->n));
    DaisiRngNormalArray(&rz, 0, tn->nz, tn->eps + b * tn->nz);
  }
  tn->x   = x;
  tn->sum = 0;
  PetscCall(DaisiNetVJPOutput(tn->enc, B, NULL, x, VAEEncoderCotangent, tn, tn->h, tn->wh, NULL, PETSC_TRUE));
  *sum = tn->sum;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* VAE: draws [lo, lo + B) of counter `cycle` into x and their reconstructions D(mu(E(x))) into tn->xr */
static PetscErrorCode VAEReconstruct(TrainNets *tn, TrainData *d, const TrainOptions *o, uint64_t cycle, PetscInt lo, PetscInt B, PetscReal x[])
{
  const PetscInt nz = tn->nz;

  PetscFunctionBegin;
  for (PetscInt b = 0; b < B; b++) {
    const DaisiRng rng = DaisiRngMake((uint64_t)o->seed, DAISI_RNG_TRAINING, cycle, (uint64_t)(lo + b), 0);
    PetscCall(TrainDataRead(d, TrainPick(d, &rng), 1.0, x + b * tn->n));
  }
  PetscCall(DaisiNetForward(tn->enc, B, NULL, x, tn->h));
  for (PetscInt b = 0; b < B; b++) PetscCall(PetscArraycpy(tn->zl + b * nz, tn->h + b * 2 * nz, nz));
  PetscCall(DaisiNetForward(tn->net, B, NULL, tn->zl, tn->xr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* VAE validation: sum of |r|^2 with z = mu over draws [lo, lo + B) of counter `cycle` */
static PetscErrorCode VAEEvaluateBlock(TrainNets *tn, TrainData *d, const TrainOptions *o, uint64_t cycle, PetscInt lo, PetscInt B, PetscReal x[], PetscReal *sum)
{
  const PetscInt n = tn->n;

  PetscFunctionBegin;
  PetscCall(VAEReconstruct(tn, d, o, cycle, lo, B, x));
  *sum = 0;
  for (PetscInt j = 0; j < B * n; j++) *sum += (tn->xr[j] - x[j]) * (tn->xr[j] - x[j]) * tn->istd2[(j % n) / tn->S];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* mean validation loss per state value over draws 0..count-1 of counter `cycle` (all ranks) */
static PetscErrorCode TrainNetsEvaluate(TrainNets *tn, TrainData *d, const TrainOptions *o, uint64_t cycle, PetscInt count, TrainWork *w, PetscReal *mean)
{
  PetscMPIInt rank, size;
  PetscInt    lo, hi;
  PetscReal   acc = 0, tot;

  PetscFunctionBegin;
  PetscCall(TrainNetsPush(tn));
  if (!tn->vae) {
    PetscCall(TrainEvaluate(tn->net, d, o, cycle, count, 1, w, mean, NULL, NULL, NULL));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  TrainBlock(count, rank, size, &lo, &hi);
  for (PetscInt i0 = lo; i0 < hi; i0 += w->nmax) {
    PetscReal s = 0;
    PetscCall(VAEEvaluateBlock(tn, d, o, cycle, i0, PetscMin(w->nmax, hi - i0), w->xt, &s));
    acc += s;
  }
  PetscCall(MPIU_Allreduce(&acc, &tot, 1, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  *mean = tot / ((PetscReal)count * (PetscReal)tn->n);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* this rank's block [lo, hi) of the minibatch of step s: one forward + reverse pass, the
 * gradient of this rank's samples in tn->grad, their squared errors in L->sum */
static PetscErrorCode TrainBlockGradient(TrainNets *tn, TrainData *data, const TrainOptions *o, PetscInt64 s, PetscInt lo, PetscInt hi, TrainWork *w, TrainLoss *L)
{
  const PetscInt n = w->n;

  PetscFunctionBegin;
  PetscCall(DaisiNetZeroGradient(tn->net));
  L->sum = 0;
  if (tn->vae) {
    float   *g;
    PetscInt ne;
    PetscCall(DaisiNetZeroGradient(tn->enc));
    if (hi > lo) PetscCall(VAEBlock(tn, data, o, (uint64_t)s, lo, hi - lo, w->xt, &L->sum));
    PetscCall(DaisiNetGetGradient(tn->net, NULL, &g));
    PetscCall(PetscArraycpy(tn->grad, g, tn->nnet));
    PetscCall(DaisiNetGetGradient(tn->enc, &ne, &g));
    PetscCall(PetscArraycpy(tn->grad + tn->nnet, g, ne));
  } else {
    for (PetscInt b = 0; b < hi - lo; b++) PetscCall(TrainDraw(data, o->scale, o->seed, (uint64_t)s, (uint64_t)(lo + b), -1, 1, &w->t[b], w->xt + b * w->nin, w->target + b * n, w->z));
    L->target = w->target;
    if (hi > lo) PetscCall(DaisiNetVJPOutput(tn->net, hi - lo, w->t, w->xt, TrainCotangent, L, w->y, w->w, NULL, PETSC_TRUE));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -train_check_gradient: the gradient of the first minibatch's loss along a random direction
 * u (standard normal per parameter) against the central difference
 * (L(theta + h u) - L(theta - h u)) / 2h with the same draws and noise; fails if they differ
 * by more than tol |grad|, the typical size of grad . u (a wrong term or factor is off by
 * O(|grad|); float32 rounding and the O(h^2) truncation stay far below) */
static PetscErrorCode TrainCheckGradient(TrainNets *tn, TrainData *data, const TrainOptions *o, PetscInt lo, PetscInt hi, TrainWork *w, TrainLoss *L)
{
  const PetscReal h = 1e-3, tol = 1e-2;
  PetscReal       gu = 0, gg = 0, lp[2], tot[2];
  float          *save, *u;
  DaisiRng        r = DaisiRngMake((uint64_t)o->seed, DAISI_RNG_TRAINING, VAL_CYCLE + 1, 0, 0);

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(tn->nparam, &save, tn->nparam, &u));
  PetscCall(TrainBlockGradient(tn, data, o, 0, lo, hi, w, L));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, tn->grad, (PetscMPIInt)tn->nparam, MPI_FLOAT, MPI_SUM, PETSC_COMM_WORLD));
  for (PetscInt i = 0; i < tn->nparam; i++) {
    u[i]    = (float)DaisiRngNormal(&r, (uint64_t)i);
    save[i] = tn->theta[i];
    gu += (PetscReal)tn->grad[i] * u[i];
    gg += (PetscReal)tn->grad[i] * tn->grad[i];
  }
  for (int sgn = 0; sgn < 2; sgn++) {
    for (PetscInt i = 0; i < tn->nparam; i++) tn->theta[i] = save[i] + (float)((sgn ? -h : h) * u[i]);
    PetscCall(TrainNetsPush(tn));
    PetscCall(TrainBlockGradient(tn, data, o, 0, lo, hi, w, L));
    lp[sgn] = L->sum;
  }
  PetscCall(MPIU_Allreduce(lp, tot, 2, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  for (PetscInt i = 0; i < tn->nparam; i++) tn->theta[i] = save[i];
  PetscCall(TrainNetsPush(tn));
  {
    /* L->sum is the loss times batch * n; the gradient is that of the loss */
    const PetscReal fd = (tot[0] - tot[1]) / (2 * h) / ((PetscReal)o->batch * (PetscReal)w->n), scale = PetscSqrtReal(gg), rel = PetscAbsReal(fd - gu) / scale;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | gradient check: directional derivative %.8e, central difference %.8e, difference / |g| %.2e (tol %.0e)\n", (double)gu, (double)fd, (double)rel, (double)tol));
    PetscCheck(rel <= tol, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "gradient check failed: %.3e vs %.3e", (double)gu, (double)fd);
  }
  PetscCall(PetscFree2(save, u));
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

/* a text table written by one rank under a temporary name, renamed by TableClose when complete */
static PetscErrorCode TableOpen(const char path[], DaisiOutputName *out, FILE **fp)
{
  PetscFunctionBegin;
  PetscCall(DaisiOutputNameInit(PETSC_COMM_SELF, path, out));
  *fp = fopen(out->tmp, "w");
  PetscCheck(*fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", out->tmp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TableClose(DaisiOutputName *out, FILE *fp)
{
  PetscFunctionBegin;
  PetscCheck(!fclose(fp), PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s", out->tmp);
  PetscCall(DaisiOutputNameCommit(out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteCurveRank0(const char path[], const TrainHistory *h)
{
  DaisiOutputName out;
  FILE           *fp;

  PetscFunctionBegin;
  PetscCall(TableOpen(path, &out, &fp));
  fprintf(fp, "epoch\tstep\ttrain_loss\tval_loss_ema\tval_loss_raw\tlr\n");
  for (PetscInt e = 0; e < h->nep; e++) {
    const PetscReal *r = h->rows + e * HIST_COLS;
    fprintf(fp, "%.0f\t%.0f\t%.6f\t%.6f\t%.6f\t%.3e\n", (double)r[0], (double)r[1], (double)r[2], (double)r[3], (double)r[4], (double)r[5]);
  }
  PetscCall(TableClose(&out, fp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the network(s) with the EMA weights in place of their own, saved with their metadata */
static PetscErrorCode SaveEMARank0(TrainNets *tn, const TrainOptions *o, const float *ema, float *save)
{
  PetscFunctionBegin;
  PetscCall(PetscArraycpy(save, tn->theta, tn->nparam));
  PetscCall(PetscArraycpy(tn->theta, ema, tn->nparam));
  PetscCall(TrainNetsPush(tn));
  PetscCall(DaisiNetSave(tn->net, o->output));
  if (tn->enc) PetscCall(DaisiNetSave(tn->enc, o->enc_output));
  PetscCall(PetscArraycpy(tn->theta, save, tn->nparam));
  PetscCall(TrainNetsPush(tn));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* loss of the EMA weights (swapped in and out) */
static PetscErrorCode EvaluateEMA(TrainNets *tn, TrainData *val, const TrainOptions *o, TrainWork *w, const float *ema, float *save, PetscReal *loss)
{
  PetscFunctionBegin;
  PetscCall(PetscArraycpy(save, tn->theta, tn->nparam));
  PetscCall(PetscArraycpy(tn->theta, ema, tn->nparam));
  PetscCall(TrainNetsEvaluate(tn, val, o, VAL_CYCLE, o->val_samples, w, loss));
  PetscCall(PetscArraycpy(tn->theta, save, tn->nparam));
  PetscCall(TrainNetsPush(tn));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetMetadataReal(TrainNets *tn, const char name[], PetscReal v)
{
  char buf[64];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "%.17g", (double)v));
  PetscCall(TrainNetsSetMetadata(tn, name, buf));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* everything Train() holds, released */
static PetscErrorCode TrainRelease(DaisiOptimizer *opt, TrainNets *tn, TrainWork *w, TrainData *data, TrainData *val, float *gsum, float *save, PetscReal *lmean, PetscReal *lstd)
{
  PetscFunctionBegin;
  PetscCall(PetscFree2(gsum, save));
  PetscCall(TrainWorkDestroy(w));
  PetscCall(DaisiOptimizerDestroy(opt));
  PetscCall(TrainNetsDestroy(tn));
  PetscCall(TrainDataClose(val));
  PetscCall(TrainDataClose(data));
  PetscCall(PetscFree2(lmean, lstd));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Train(const TrainOptions *o, PetscBool *stopped)
{
  PetscMPIInt            rank, size;
  TrainData              data, val;
  TrainNets              tn;
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
  PetscReal             *lmean = NULL, *lstd = NULL; /* latent: the per-channel normalisation */
  char                   vsig[sizeof(((TrainState *)0)->signature)] = ""; /* latent: the VAE's training signature */

  PetscFunctionBegin;
  *stopped = PETSC_FALSE;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (o->latent) PetscCall(LatentDataOpen(o, &data, &val, &lmean, &lstd, vsig, sizeof(vsig)));
  else {
    PetscCall(TrainDataOpen(o->data, &data));
    PetscCall(TrainDataOpen(o->val, &val));
  }
  PetscCheck(val.grid.nlev == data.grid.nlev && val.grid.ny == data.grid.ny && val.grid.nx == data.grid.nx, PETSC_COMM_WORLD, PETSC_ERR_ARG_SIZ, "validation file %s holds %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " states, the training file %s %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT, o->val, val.grid.nlev, val.grid.ny, val.grid.nx, o->data, data.grid.nlev, data.grid.ny, data.grid.nx);
  n = DaisiGridLocalSize(&data.grid);

  TrainBlock(o->batch, rank, size, &lo, &hi);
  PetscCall(TrainNetsCreate(o, &data, PetscMax(hi - lo, 8), &tn));
  nparam = tn.nparam;
  theta  = tn.theta;
  grad   = tn.grad;
  PetscCall(DaisiOptimizerCreate(PETSC_COMM_WORLD, nparam, &opt));
  PetscCall(DaisiOptimizerSetFromOptions(opt));
  PetscCall(DaisiOptimizerSetUp(opt, theta));
  PetscCall(DaisiOptimizerGetSchedule(opt, &lr, &lr_min, &warmup, &steps));
  PetscCall(DaisiOptimizerGetState(opt, NULL, &m, &v, &ema));
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  epoch_steps = o->epoch_steps > 0 ? o->epoch_steps : PetscMax(1, (data.nsamples + o->batch - 1) / o->batch);
  PetscCall(TrainWorkCreate(PetscMax(hi - lo, 8), o->latent ? 2 * n : n, n, &w)); /* validation runs in chunks of 8; latent: x_t and the background */
  PetscCall(PetscMalloc2(nparam, &gsum, nparam, &save));

  /* everything that shapes the trajectory; a resumed run must match it */
  PetscCall(DaisiOptimizerGetSignature(opt, sig, sizeof(sig)));
  PetscCall(PetscMemzero(&st, sizeof(st)));
  PetscCall(PetscSNPrintf(st.signature, sizeof(st.signature), "%s batch=%" PetscInt_FMT " seed=%" PetscInt64_FMT " train_states=%" PetscInt_FMT " val_states=%" PetscInt_FMT " val_samples=%" PetscInt_FMT " epoch_steps=%" PetscInt_FMT " scale=%.17g grid=%" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT "%s", sig, o->batch, o->seed, data.nsamples, val.nsamples, o->val_samples, epoch_steps, (double)o->scale, data.grid.nlev, data.grid.ny, data.grid.nx, o->vae ? " model=vae" : o->latent ? " model=latent" : ""));
  if (o->vae || o->latent) {
    size_t len;
    PetscCall(PetscStrlen(st.signature, &len));
    if (o->vae) PetscCall(PetscSNPrintf(st.signature + len, sizeof(st.signature) - len, " beta=%.17g", (double)o->beta));
    else PetscCall(PetscSNPrintf(st.signature + len, sizeof(st.signature) - len, " first_cycle=%" PetscInt_FMT " latent_std0=%.17g", o->first_cycle, (double)lstd[0]));
  }
  st.best = PETSC_MAX_REAL;
  if (o->restart) PetscCall(DaisiFileExists(PETSC_COMM_WORLD, o->checkpoint, &have_ckpt));
  if (have_ckpt) {
    PetscCall(ReadCheckpoint(o->checkpoint, &st, nparam, theta, m, v, ema, &hist));
    PetscCall(TrainNetsPush(&tn));
    PetscCall(DaisiOptimizerSetStep(opt, st.step));
    if (hist.nep) val_last = hist.rows[(hist.nep - 1) * HIST_COLS + 3];
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | resuming from %s at step %" PetscInt64_FMT " (%" PetscInt_FMT " epochs done, best validation loss %.5f)\n", o->checkpoint, st.step, hist.nep, st.best < PETSC_MAX_REAL ? (double)st.best : -1.0));
  }

  {
    PetscLogDouble flops, fe = 0;
    PetscCall(DaisiNetGetForwardFlops(tn.net, &flops));
    if (tn.enc) PetscCall(DaisiNetGetForwardFlops(tn.enc, &fe));
    flops += fe;
    char sdata[64] = ""; /* the interpolant prior's data scale (a VAE normalises per level, the latent model per channel) */
    if (!o->vae && !o->latent) PetscCall(PetscSNPrintf(sdata, sizeof(sdata), ", s_data %g", (double)o->scale));
    if (!o->latent) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | %" PetscInt_FMT " training states from %s, %" PetscInt_FMT " validation states from %s, grid %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT "%s\n", data.nsamples, o->data, val.nsamples, o->val, data.grid.nlev, data.grid.ny, data.grid.nx, sdata));
    if (o->latent) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | latent interpolant conditioned on the encoded background: %" PetscInt_FMT " training pairs (cycles >= %" PetscInt_FMT " of %s), %" PetscInt_FMT " validation pairs; latents normalised per channel (std of channel 0: %g)\n", data.nsamples, o->first_cycle, o->data, val.nsamples, (double)lstd[0]));
    if (tn.vae) {
      DaisiGrid z;
      PetscCall(DaisiNetGetLatentGrid(tn.enc, &z));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | variational autoencoder: latent %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " (%.1fx compression), KL weight beta %g; encoder to %s, decoder to %s\n", z.nlev, z.ny, z.nx, (double)DaisiGridGlobalSize(&data.grid) / (double)DaisiGridGlobalSize(&z), (double)o->beta, o->enc_output, o->output));
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "train | network: %" PetscInt_FMT " parameters, %.3f GFLOP per sample forward; batch %" PetscInt_FMT " over %d rank(s); %" PetscInt_FMT " steps, %" PetscInt_FMT " per epoch; output %s\n", nparam, flops / 1e9, o->batch, size, steps, epoch_steps, o->output));
    PetscCall(DaisiOptimizerView(opt, PETSC_VIEWER_STDOUT_WORLD));
  }
  L.n      = n;
  L.wscale = 2.0 / ((PetscReal)o->batch * (PetscReal)n);
  if (o->check_gradient) {
    PetscCall(TrainCheckGradient(&tn, &data, o, lo, hi, &w, &L));
    PetscCall(TrainRelease(&opt, &tn, &w, &data, &val, gsum, save, lmean, lstd));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(TrainNetsSetMetadata(&tn, "trained_by", "daisi-train"));
  PetscCall(TrainNetsSetMetadata(&tn, "train_data", o->data));
  PetscCall(TrainNetsSetMetadata(&tn, "train_signature", st.signature));
  if (o->latent) {
    char buf[1024] = "", *p = buf;
    for (PetscInt q = 0; q < 2; q++) {
      const PetscReal *a = q ? lstd : lmean;
      p                  = buf;
      for (PetscInt c = 0; c < data.grid.nlev && p < buf + sizeof(buf) - 32; c++) p += snprintf(p, (size_t)(buf + sizeof(buf) - p), "%s%.9g", c ? "," : "", (double)a[c]);
      PetscCall(TrainNetsSetMetadata(&tn, q ? "latent_std" : "latent_mean", buf));
    }
    PetscCall(TrainNetsSetMetadata(&tn, "vae_encoder", o->vae_encoder));
    if (vsig[0]) PetscCall(TrainNetsSetMetadata(&tn, "vae_signature", vsig)); /* the filter checks it against its encoder's */
    PetscCall(TrainNetsSetMetadata(&tn, "train_truth", o->truth));
    PetscCall(SetMetadataReal(&tn, "first_cycle", (PetscReal)o->first_cycle));
  } else if (!o->vae) PetscCall(SetMetadataReal(&tn, "data_scale", o->scale));

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
    PetscCall(TrainBlockGradient(&tn, &data, o, s, lo, hi, &w, &L));
    /* sum on rank 0, then broadcast: every rank gets the same bits */
    PetscCallMPI(MPI_Reduce(grad, gsum, (PetscMPIInt)nparam, MPI_FLOAT, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Bcast(gsum, (PetscMPIInt)nparam, MPI_FLOAT, 0, PETSC_COMM_WORLD));
    lsum[0] = L.sum;
    PetscCall(MPIU_Allreduce(lsum, ltot, 1, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
    ltot[0] /= (PetscReal)o->batch * (PetscReal)n;
    PetscCheck(PetscIsNormalReal(ltot[0]) || ltot[0] == 0, PETSC_COMM_WORLD, PETSC_ERR_FP, "step %" PetscInt64_FMT ": the training loss is not finite (diverged; lower -train_lr or raise -train_warmup)", s + 1);
    PetscCall(DaisiOptimizerStep(opt, theta, gsum, &info));
    PetscCall(TrainNetsPush(&tn));
    st.step++;
    st.epoch_sum += ltot[0];
    st.epoch_count += 1;
    prog_sum += ltot[0];

    epoch_end = (PetscBool)(st.step % epoch_steps == 0 || st.step == steps);
    if (epoch_end) {
      PetscReal row[HIST_COLS], val_ema, val_raw;
      PetscCall(TrainNetsEvaluate(&tn, &val, o, VAL_CYCLE, o->val_samples, &w, &val_raw));
      PetscCall(EvaluateEMA(&tn, &val, o, &w, ema, save, &val_ema));
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
        PetscCall(SetMetadataReal(&tn, "train_step", (PetscReal)st.step));
        PetscCall(SetMetadataReal(&tn, "val_loss", val_ema));
        RANK0_CALL(rank, SaveEMARank0(&tn, o, ema, save));
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
  PetscCall(PetscFree(hist.rows));
  PetscCall(TrainRelease(&opt, &tn, &w, &data, &val, gsum, save, lmean, lstd));
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
  PetscCall(TrainWorkCreate(8, DaisiGridLocalSize(&data.grid), DaisiGridLocalSize(&data.grid), &w));
  PetscCall(PetscMalloc3(o->eval_bins, &loss, o->eval_bins, &base, o->eval_bins, &counts));
  PetscCall(TrainEvaluate(net, &data, &oe, EVAL_CYCLE, o->eval_samples, o->eval_bins, &w, &mean, loss, base, counts));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | %s on %s (%" PetscInt_FMT " states), %" PetscInt_FMT " draws, s_data %g\n", o->eval, o->data, data.nsamples, o->eval_samples, (double)oe.scale));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | t_lo   t_hi   draws  loss      loss(b=0)  ratio\n"));
  for (PetscInt b = 0; b < o->eval_bins; b++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | %.3f  %.3f  %5.0f  %.5f  %.5f   %.4f\n", (double)b / o->eval_bins, (double)(b + 1) / o->eval_bins, (double)counts[b], (double)loss[b], (double)base[b], (double)(loss[b] / base[b])));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | all t: loss %.5f\n", (double)mean));
  if (o->has_eval_output && rank == 0) {
    DaisiOutputName out;
    FILE           *fp;
    PetscCall(TableOpen(o->eval_output, &out, &fp));
    fprintf(fp, "t_lo\tt_hi\tdraws\tloss\tloss_b0\n");
    for (PetscInt b = 0; b < o->eval_bins; b++) fprintf(fp, "%.4f\t%.4f\t%.0f\t%.6f\t%.6f\n", (double)b / o->eval_bins, (double)(b + 1) / o->eval_bins, (double)counts[b], (double)loss[b], (double)base[b]);
    PetscCall(TableClose(&out, fp));
  }
  PetscCall(PetscFree3(loss, base, counts));
  PetscCall(TrainWorkDestroy(&w));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(TrainDataClose(&data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* VAE reconstruction errors on a data split: per level RMSE of D(mu(E(x))) - x in K, against
 * the standard deviation of the states (draws as in validation), and the mean power spectra of
 * the states, of the reconstructions and of the errors (-train_eval_output: a TSV by
 * wavenumber; the log printed: the log-spectral distance of the reconstructions' spectrum to
 * the states' over k = 1 .. kmax, and the wavenumber where the error power first exceeds half
 * the state power, the scale below which the VAE loses the field) */
static PetscErrorCode EvaluateVAE(const TrainOptions *o)
{
  TrainData data;
  TrainNets tn;
  PetscInt  nl, S, lo, hi, nmax = 8, nk;
  PetscMPIInt rank, size;
  PetscReal *acc, *tot, *x, *ps, *pw;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(TrainDataOpen(o->data, &data));
  PetscCall(PetscMemzero(&tn, sizeof(tn)));
  tn.vae = PETSC_TRUE;
  PetscCall(DaisiNetLoad(PETSC_COMM_SELF, o->eval, &data.grid, &tn.enc));
  PetscCall(DaisiNetLoad(PETSC_COMM_SELF, o->eval_decoder, &data.grid, &tn.net));
  {
    const char *te, *td;
    PetscCall(DaisiNetGetType(tn.enc, &te));
    PetscCall(DaisiNetGetType(tn.net, &td));
    PetscCheck(!strcmp(te, "encoder"), PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_eval %s holds a %s network, not an encoder", o->eval, te);
    PetscCheck(!strcmp(td, "decoder"), PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-train_eval_decoder %s holds a %s network, not a decoder", o->eval_decoder, td);
  }
  {
    DaisiGrid ze, zd;
    PetscCall(DaisiNetGetLatentGrid(tn.enc, &ze));
    PetscCall(DaisiNetGetLatentGrid(tn.net, &zd));
    PetscCheck(ze.nlev == zd.nlev && ze.ny == zd.ny && ze.nx == zd.nx, PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP, "encoder %s and decoder %s have different latent spaces", o->eval, o->eval_decoder);
    tn.nz = DaisiGridLocalSize(&ze);
  }
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  nl   = data.grid.nlev;
  tn.n = DaisiGridLocalSize(&data.grid);
  tn.S = S = tn.n / nl;
  PetscCall(PetscMalloc6(nmax * 2 * tn.nz, &tn.h, 1, &tn.wh, nmax * tn.nz, &tn.zl, nmax * tn.n, &tn.xr, 1, &tn.wr, 1, &tn.eps));
  PetscCall(DaisiMetricsSpectrumSize(&data.grid, &nk));
  /* acc, tot: per level the squared error, sum and sum of squares, then 3 spectra (state, reconstruction, error) */
  PetscCall(PetscCalloc3(3 * nl + 3 * nl * nk, &acc, 3 * nl + 3 * nl * nk, &tot, nmax * tn.n, &x));
  PetscCall(PetscMalloc2(nl * nk, &ps, tn.n, &pw));
  TrainBlock(o->eval_samples, rank, size, &lo, &hi);
  for (PetscInt i0 = lo; i0 < hi; i0 += nmax) {
    const PetscInt B = PetscMin(nmax, hi - i0);
    PetscCall(VAEReconstruct(&tn, &data, o, EVAL_CYCLE, i0, B, x));
    for (PetscInt j = 0; j < B * tn.n; j++) {
      const PetscInt l = (j % tn.n) / S;
      acc[l] += (tn.xr[j] - x[j]) * (tn.xr[j] - x[j]);
      acc[nl + l] += x[j];
      acc[2 * nl + l] += x[j] * x[j];
    }
    for (PetscInt b = 0; b < B; b++) {
      const PetscReal *xb = x + b * tn.n, *rb = tn.xr + b * tn.n;
      for (PetscInt j = 0; j < tn.n; j++) pw[j] = rb[j] - xb[j];
      for (PetscInt q = 0; q < 3; q++) {
        PetscCall(DaisiMetricsPowerSpectrum(PETSC_COMM_SELF, &data.grid, q == 0 ? xb : q == 1 ? rb : pw, ps));
        for (PetscInt i = 0; i < nl * nk; i++) acc[3 * nl + q * nl * nk + i] += ps[i];
      }
    }
  }
  PetscCall(MPIU_Allreduce(acc, tot, 3 * nl + 3 * nl * nk, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  for (PetscInt i = 3 * nl; i < 3 * nl + 3 * nl * nk; i++) tot[i] /= (PetscReal)o->eval_samples;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | VAE %s + %s on %s (%" PetscInt_FMT " states), %" PetscInt_FMT " draws\n", o->eval, o->eval_decoder, o->data, data.nsamples, o->eval_samples));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | level  RMSE (K)   std of the states (K)  RMSE / std  spectral distance (dB)  k(error = state / 2)\n"));
  for (PetscInt l = 0; l < nl; l++) {
    const PetscReal  N = (PetscReal)o->eval_samples * S, mean = tot[nl + l] / N, sd = PetscSqrtReal(PetscMax(tot[2 * nl + l] / N - mean * mean, 0)), rmse = PetscSqrtReal(tot[l] / N);
    const PetscReal *P = tot + 3 * nl + l * nk, *R = P + nl * nk, *E = R + nl * nk;
    PetscReal        lsd;
    PetscInt         kh = 1, kmax = PetscMin(data.grid.nx, data.grid.ny) / 2;
    PetscCall(DaisiMetricsLogSpectralDistance(1, kmax, R, P, &lsd));
    while (kh < nk - 1 && E[kh] < 0.5 * P[kh]) kh++;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "eval | %5" PetscInt_FMT "  %.5f    %.5f                %.4f      %8.3f                %" PetscInt_FMT "\n", l, (double)rmse, (double)sd, (double)(rmse / sd), (double)lsd, kh));
  }
  if (o->has_eval_output && rank == 0) {
    DaisiOutputName out;
    FILE           *fp;
    PetscCall(TableOpen(o->eval_output, &out, &fp));
    fprintf(fp, "k");
    for (PetscInt l = 0; l < nl; l++) fprintf(fp, "\tstate_%" PetscInt_FMT "\treconstruction_%" PetscInt_FMT "\terror_%" PetscInt_FMT, l, l, l);
    fprintf(fp, "\n");
    for (PetscInt k = 0; k < nk; k++) {
      fprintf(fp, "%" PetscInt_FMT, k);
      for (PetscInt l = 0; l < nl; l++)
        for (PetscInt q = 0; q < 3; q++) fprintf(fp, "\t%.6e", (double)tot[3 * nl + q * nl * nk + l * nk + k]);
      fprintf(fp, "\n");
    }
    PetscCall(TableClose(&out, fp));
  }
  PetscCall(PetscFree2(ps, pw));
  PetscCall(PetscFree3(acc, tot, x));
  PetscCall(PetscFree6(tn.h, tn.wh, tn.zl, tn.xr, tn.wr, tn.eps));
  PetscCall(DaisiNetDestroy(&tn.enc));
  PetscCall(DaisiNetDestroy(&tn.net));
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
  if (o.has_eval && o.vae) PetscCall(EvaluateVAE(&o));
  else if (o.has_eval) PetscCall(Evaluate(&o));
  else PetscCall(Train(&o, &stopped));
  PetscCall(DaisiFinalize());
  return stopped ? DAISI_EXIT_CHECKPOINTED : 0;
}
