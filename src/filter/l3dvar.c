/* The latent 3DVar baseline (type l3dvar; docs/filters.md, section Latent 3DVar; interface in
 * l3dvar.h): 3DVar in the latent space of a variational autoencoder.
 *
 * Cost, in the control variable v of z = z_b + B_z^1/2 v, z_b = mean of E(x_b):
 *   J(v) = 1/2 v^T v + 1/2 sum_o ((y_o - h(D(z))_o) / sigma_o)^2,
 *   grad J(v) = v + B_z^1/2 J_D^T H^T R^-1 (h(D(z)) - y),
 * with J_D^T the decoder's vector-Jacobian product (one forward and one reverse pass of D per
 * evaluation, DaisiNetVJPOutput: the observation term is formed from the decoder's output inside
 * the pass), H^T the observation operator's Jacobian transpose. Minimised like 3dvar (TAO, the
 * -var3d_* parameters, mean and members modes: varcommon.c); x_a = D(z_a).
 *
 * The networks (DaisiNet types encoder and decoder, written by daisi-train -train_model vae)
 * take and return physical states: the per-level normalisation of the training data is stored
 * with the weights and applied by the network engine (encoder input, decoder output), so the
 * filter passes states as they are; it checks that the two files are a pair (latent shape,
 * identical state normalisation, same training signature).
 *
 * B_z: diagonal, one variance per latent channel (homogeneous over the latent grid): explicit
 * (-l3dvar_bz_variances), from NMC-style lagged differences of encoded nature-run states
 * (-l3dvar_bz_climatology), or from encoded background errors of a cycled run
 * (-l3dvar_bz_errors DIAG.h5 -l3dvar_bz_truth TRUTH.h5); estimates are scaled by -l3dvar_bz_scale.
 *
 * Parallel shape: per member group, on the group communicator, the networks are loaded on the
 * group (rows of the state and of the latent field split over its P ranks, as the network engine
 * does); the control vector is a PETSc Vec over the group in the latent layout. J is summed per
 * state row (observation term) and per latent row (v^T v), each partial sum on exactly one rank,
 * reduced exactly and added in row order. The networks compute in float32 and agree across
 * layouts to float32 rounding only, so analyses do too. B_z is estimated by group 0 and
 * broadcast to the world. */
#include "latentvar.h"
#include <daisi/diagfile.h>
#include <daisi/nn.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>

PetscLogEvent DAISI_FilterL3dvarSetUp = 0, DAISI_FilterL3dvarSolve = 0, DAISI_FilterL3dvarObjective = 0;

/* J comes through float32 networks: its round-off (~1e-7 |J|) stops TAO's line searches at
 * |g| ~ 1e-4 .. 1e-3 |g0|. The minimisation stops at |g| <= max(-var3d_gttol, L3DVAR_FLOOR) |g0|,
 * and a line search that fails (or evaluations exhausted) at |g| <= L3DVAR_ROUND |g0| counts as
 * converged. */
#define L3DVAR_ROUND 1e-3
#define L3DVAR_FLOOR 1e-4

/* the type's data is the latent core (latentvar.h) with B_z in var[] (sd = sqrt(var)), the
 * number of differences or errors it was estimated from (0: explicit) and their source */
typedef DaisiLatentVar Filter_L3dvar;

/* ---------------------------------------------------------------------------------------
 * Parameters (read by every filter type)
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiFilterL3dvarParamsDefault(DaisiFilterL3dvarParams *p)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(p, sizeof(*p)));
  p->lag         = 1;
  p->stride      = 1;
  p->first_cycle = 21;
  p->scale       = 1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckParams(MPI_Comm comm, const DaisiFilterL3dvarParams *p)
{
  PetscFunctionBegin;
  PetscCheck(p->nvar >= 0 && p->nvar <= DAISI_L3DVAR_MAX_CHANNELS, comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_variances: %" PetscInt_FMT " values, at most %d", p->nvar, DAISI_L3DVAR_MAX_CHANNELS);
  for (PetscInt i = 0; i < p->nvar; i++) PetscCheck(p->var[i] > 0 && PetscIsNormalReal(p->var[i]), comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_variances: value %" PetscInt_FMT " is %g; variances must be finite and > 0", i + 1, (double)p->var[i]);
  PetscCheck(p->first >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_first must be >= 0, got %" PetscInt_FMT, p->first);
  PetscCheck(p->lag >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_lag must be >= 1 (time indices of the climatology file), got %" PetscInt_FMT, p->lag);
  PetscCheck(p->stride >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_stride must be >= 1, got %" PetscInt_FMT, p->stride);
  PetscCheck(p->count >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_count must be >= 0 (0: as many as fit), got %" PetscInt_FMT, p->count);
  PetscCheck(p->first_cycle >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_first_cycle must be >= 0, got %" PetscInt_FMT, p->first_cycle);
  PetscCheck(p->scale > 0 && PetscIsNormalReal(p->scale), comm, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_scale must be finite and > 0, got %g", (double)p->scale);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterL3dvarGetParams(DaisiFilter f, DaisiFilterL3dvarParams *p)
{
  PetscFunctionBegin;
  *p = f->l3dvar;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterL3dvarSetParams(DaisiFilter f, const DaisiFilterL3dvarParams *p)
{
  PetscBool is;

  PetscFunctionBegin;
  PetscCall(CheckParams(f->comm, p));
  PetscCall(PetscStrcmp(f->type, DAISI_FILTER_L3DVAR, &is));
  if (is && f->data && ((Filter_L3dvar *)f->data)->c.ens) {
    /* the networks and B_z are made at set-up: their sources cannot change afterwards */
    const DaisiFilterL3dvarParams *o = &f->l3dvar;
    PetscBool                      same = (PetscBool)(p->nvar == o->nvar && p->first == o->first && p->lag == o->lag && p->stride == o->stride && p->count == o->count && p->first_cycle == o->first_cycle && p->scale == o->scale);
    same = (PetscBool)(same && !strcmp(p->encoder, o->encoder) && !strcmp(p->decoder, o->decoder) && !strcmp(p->climatology, o->climatology) && !strcmp(p->errors, o->errors) && !strcmp(p->truth, o->truth));
    for (PetscInt i = 0; same && i < p->nvar; i++) same = (PetscBool)(p->var[i] == o->var[i]);
    PetscCheck(same, f->comm, PETSC_ERR_ORDER, "the l3dvar networks and B_z options (-l3dvar_*) cannot change once the filter is set up");
  }
  f->l3dvar = *p;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterL3dvarParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject)
{
  DaisiFilterL3dvarParams p = f->l3dvar;
  PetscInt                nvar = DAISI_L3DVAR_MAX_CHANNELS;
  PetscBool               set;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "Latent 3DVar options (used by -filter_type l3dvar; its solver and mode are the -var3d_* options)");
  PetscCall(PetscOptionsString("-l3dvar_encoder", "Encoder weight file of the variational autoencoder (daisi-train -train_model vae -train_encoder_output)", "DaisiFilterL3dvarSetParams", p.encoder, p.encoder, sizeof(p.encoder), NULL));
  PetscCall(PetscOptionsString("-l3dvar_decoder", "Decoder weight file of the variational autoencoder (daisi-train -train_model vae -train_output)", "DaisiFilterL3dvarSetParams", p.decoder, p.decoder, sizeof(p.decoder), NULL));
  PetscCall(PetscOptionsRealArray("-l3dvar_bz_variances", "B_z given: one variance per latent channel, v1,v2,... (default none: estimate B_z with -l3dvar_bz_climatology or -l3dvar_bz_errors)", "DaisiFilterL3dvarSetParams", p.var, &nvar, &set));
  if (set) p.nvar = nvar;
  PetscCall(PetscOptionsString("-l3dvar_bz_climatology", "Nature-run state file: B_z from the variance of E(x(t + lag)) - E(x(t)) per latent channel (NMC-style)", "DaisiFilterL3dvarSetParams", p.climatology, p.climatology, sizeof(p.climatology), NULL));
  PetscCall(PetscOptionsInt("-l3dvar_bz_first", "First time index t of the climatology differences", "DaisiFilterL3dvarSetParams", p.first, &p.first, NULL));
  PetscCall(PetscOptionsInt("-l3dvar_bz_lag", "Lag of the climatology differences (time indices of the file, i.e. output intervals)", "DaisiFilterL3dvarSetParams", p.lag, &p.lag, NULL));
  PetscCall(PetscOptionsInt("-l3dvar_bz_stride", "Stride between the climatology differences", "DaisiFilterL3dvarSetParams", p.stride, &p.stride, NULL));
  PetscCall(PetscOptionsInt("-l3dvar_bz_count", "Number of climatology differences (0: as many as fit)", "DaisiFilterL3dvarSetParams", p.count, &p.count, NULL));
  PetscCall(PetscOptionsString("-l3dvar_bz_errors", "daisi-filter diagnostics file: B_z from the encoded background errors E(ens_mean_b) - E(truth) (with -l3dvar_bz_truth)", "DaisiFilterL3dvarSetParams", p.errors, p.errors, sizeof(p.errors), NULL));
  PetscCall(PetscOptionsString("-l3dvar_bz_truth", "Nature-run state file of the -l3dvar_bz_errors run (cycle k: time index k)", "DaisiFilterL3dvarSetParams", p.truth, p.truth, sizeof(p.truth), NULL));
  PetscCall(PetscOptionsInt("-l3dvar_bz_first_cycle", "First cycle of the -l3dvar_bz_errors file used (the spin-up before it is skipped)", "DaisiFilterL3dvarSetParams", p.first_cycle, &p.first_cycle, NULL));
  PetscCall(PetscOptionsReal("-l3dvar_bz_scale", "Factor s of the estimated B_z variances", "DaisiFilterL3dvarSetParams", p.scale, &p.scale, NULL));
  PetscOptionsHeadEnd();
  PetscCall(DaisiFilterL3dvarSetParams(f, &p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The networks
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiLatentVarEncode(DaisiLatentVar *d, PetscInt B, const PetscReal x[], PetscReal z[])
{
  PetscFunctionBegin;
  PetscCall(DaisiNetForward(d->enc, B, NULL, x, d->h));
  for (PetscInt b = 0; b < B; b++) PetscCall(PetscArraycpy(z + (size_t)b * d->nz, d->h + 2 * (size_t)b * d->nz, d->nz));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LoadNet(DaisiLatentVar *d, const char encopt[], const char decopt[], const char opt[], const char path[], const char type[], DaisiNet *net)
{
  PetscBool   exists, same;
  const char *t;

  PetscFunctionBegin;
  PetscCheck(path[0], d->c.world, PETSC_ERR_USER_INPUT, "the %s filter needs its variational autoencoder: %s ENC.h5 %s DEC.h5 (daisi-train -train_model vae writes them); %s is not given", d->c.name, encopt, decopt, opt);
  PetscCall(DaisiFileExists(d->c.world, path, &exists));
  PetscCheck(exists, d->c.world, PETSC_ERR_FILE_OPEN, "%s %s: no such file (the %s weight file of a variational autoencoder is expected)", opt, path, type);
  PetscCall(DaisiNetLoad(d->c.group, path, &d->c.grid, net));
  PetscCall(DaisiNetGetType(*net, &t));
  PetscCall(PetscStrcmp(t, type, &same));
  PetscCheck(same, d->c.world, PETSC_ERR_ARG_WRONG, "%s %s holds a network of type %s; type %s is expected (daisi-train -train_model vae writes the encoder to -train_encoder_output, the decoder to -train_output)", opt, path, t, type);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the two files must be the halves of one autoencoder: latent shape, state normalisation, training */
static PetscErrorCode CheckPair(DaisiLatentVar *d, const char encopt[], const char encoder[], const char decopt[], const char decoder[])
{
  DaisiGrid        ze, zd;
  const PetscReal *im, *is, *om, *os;
  const char      *se, *sd, *te;
  const PetscInt   nl = d->c.grid.nlev;
  PetscBool        ident = PETSC_TRUE;

  PetscFunctionBegin;
  PetscCall(DaisiNetGetLatentGrid(d->enc, &ze));
  PetscCall(DaisiNetGetLatentGrid(d->dec, &zd));
  PetscCheck(ze.nlev == zd.nlev && ze.ny == zd.ny && ze.nx == zd.nx, d->c.world, PETSC_ERR_ARG_INCOMP,
             "%s %s and %s %s are not a pair: the encoder's latent field has %" PetscInt_FMT " channel(s) on %" PetscInt_FMT " x %" PetscInt_FMT ", the decoder's %" PetscInt_FMT " on %" PetscInt_FMT " x %" PetscInt_FMT, encopt, encoder, decopt, decoder, ze.nlev, ze.ny, ze.nx, zd.nlev, zd.ny, zd.nx);
  /* the network engine normalises: encoder input (x - mean) / std, decoder output mean + std r */
  PetscCall(DaisiNetGetNormalization(d->enc, &im, &is, NULL, NULL));
  PetscCall(DaisiNetGetNormalization(d->dec, NULL, NULL, &om, &os));
  for (PetscInt l = 0; l < nl; l++) {
    PetscCheck(PetscAbsReal(im[l] - om[l]) <= 1e-12 * (PetscAbsReal(im[l]) + is[l]) && PetscAbsReal(is[l] - os[l]) <= 1e-12 * is[l], d->c.world, PETSC_ERR_ARG_INCOMP,
               "%s %s and %s %s are not a pair: the state normalisation of level %" PetscInt_FMT " differs (encoder input mean %g std %g, decoder output mean %g std %g)", encopt, encoder, decopt, decoder, l, (double)im[l], (double)is[l], (double)om[l], (double)os[l]);
    if (im[l] != 0 || is[l] != 1) ident = PETSC_FALSE;
  }
  PetscCall(DaisiNetGetMetadata(d->enc, "train_signature", &se));
  PetscCall(DaisiNetGetMetadata(d->dec, "train_signature", &sd));
  PetscCall(DaisiNetGetMetadata(d->enc, "trained_by", &te));
  PetscCheck((!se && !sd) || (se && sd && !strcmp(se, sd)), d->c.world, PETSC_ERR_ARG_INCOMP, "%s %s and %s %s are not a pair: their training signatures (metadata train_signature) differ: \"%s\" and \"%s\"", encopt, encoder, decopt, decoder, se ? se : "(none)", sd ? sd : "(none)");
  PetscCheck(!se || strstr(se, "model=vae"), d->c.world, PETSC_ERR_ARG_WRONG, "%s %s: its training signature lacks model=vae: not trained by daisi-train -train_model vae", encopt, encoder);
  /* a trained VAE works in physical units through the normalisation stored with its weights */
  PetscCheck(!(te && ident), d->c.world, PETSC_ERR_FILE_UNEXPECTED, "%s %s (trained by %s) has no state normalisation (mean 0, std 1 on every level): the per-level mean and std of the training states that daisi-train -train_model vae stores with the weights are missing", encopt, encoder, te);
  d->zg = zd;
  d->nc = zd.nlev;
  d->nz = DaisiGridLocalSize(&zd);
  PetscCheck(d->nc <= DAISI_L3DVAR_MAX_CHANNELS, d->c.world, PETSC_ERR_SUP, "the %s filter handles at most %d latent channels, %s has %" PetscInt_FMT, d->c.name, DAISI_L3DVAR_MAX_CHANNELS, decoder, d->nc);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * B_z: per latent channel, the variance of encoded differences about their mean
 * ------------------------------------------------------------------------------------- */
/* s[c * zg.ny + row] += sum over the row of dz and (s + nc ny) of dz^2, this rank's latent rows */
static void Accumulate(const Filter_L3dvar *d, const PetscReal dz[], PetscReal s[])
{
  const PetscInt nyl = d->zg.nyl, nx = d->zg.nx, ny = d->zg.ny;

  for (PetscInt c = 0; c < d->nc; c++)
    for (PetscInt r = 0; r < nyl; r++) {
      PetscReal s1 = 0, s2 = 0;
      for (PetscInt i = 0; i < nx; i++) {
        const PetscReal v = dz[(c * nyl + r) * nx + i];
        s1 += v;
        s2 += v * v;
      }
      s[c * ny + d->zg.y0 + r] += s1;
      s[d->nc * ny + c * ny + d->zg.y0 + r] += s2;
    }
}

/* the variances from the sums of K differences (exact group sums, added in row order) */
static PetscErrorCode Finish(Filter_L3dvar *d, PetscInt64 K, PetscReal s[], PetscReal var[])
{
  const PetscInt  ny = d->zg.ny;
  const PetscReal N  = (PetscReal)K * ny * d->zg.nx;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, (PetscMPIInt)(2 * d->nc * ny), MPIU_REAL, MPI_SUM, d->c.group));
  for (PetscInt c = 0; c < d->nc; c++) {
    PetscReal s1 = 0, s2 = 0;
    for (PetscInt r = 0; r < ny; r++) {
      s1 += s[c * ny + r];
      s2 += s[d->nc * ny + c * ny + r];
    }
    var[c] = PetscMax(s2 / N - (s1 / N) * (s1 / N), 0);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a state file on the model grid (nmem NULL: not an ensemble file) */
static PetscErrorCode CheckStateFile(Filter_L3dvar *d, const char opt[], const char path[], const char what[], PetscInt *ntime, PetscInt *nmember)
{
  PetscBool exists;
  DaisiGrid fg;
  PetscInt  nmem;

  PetscFunctionBegin;
  PetscCall(DaisiFileExists(d->c.world, path, &exists));
  PetscCheck(exists, d->c.world, PETSC_ERR_FILE_OPEN, "%s %s: no such file (%s is expected)", opt, path, what);
  PetscCall(DaisiStateFileQuery(d->c.world, path, &fg, ntime, &nmem));
  PetscCheck(fg.nlev == d->c.grid.nlev && fg.ny == d->c.grid.ny && fg.nx == d->c.grid.nx, d->c.world, PETSC_ERR_ARG_SIZ, "%s %s holds states of %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT ", the model grid is %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT, opt, path, fg.nlev, fg.ny, fg.nx, d->c.grid.nlev, d->c.grid.ny, d->c.grid.nx);
  PetscCheck(nmem == 0 || nmember, d->c.world, PETSC_ERR_ARG_WRONG, "%s %s is an ensemble file; %s is expected", opt, path, what);
  if (nmember) *nmember = nmem;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* NMC-style: differences E(x(t + lag)) - E(x(t)), t = first, first + stride, ..., of every
 * trajectory (an ensemble file: every member) (collective over the world: checks) */
static PetscErrorCode ClimatologyCount(Filter_L3dvar *d, const DaisiFilterL3dvarParams *p, PetscInt *count, PetscInt *nmem)
{
  PetscInt ntime;

  PetscFunctionBegin;
  PetscCall(CheckStateFile(d, "-l3dvar_bz_climatology", p->climatology, "a nature-run state file from daisi-nature (or an ensemble file of trajectories)", &ntime, nmem));
  *count = p->count ? p->count : (ntime - p->lag - p->first > 0 ? (ntime - p->lag - p->first + p->stride - 1) / p->stride : 0);
  PetscCheck(*count >= 1 && p->first + (*count - 1) * p->stride + p->lag < ntime, d->c.world, PETSC_ERR_ARG_OUTOFRANGE,
             "-l3dvar_bz_climatology %s has %" PetscInt_FMT " time(s): too few for %" PetscInt_FMT " difference(s) from time index %" PetscInt_FMT " in steps of %" PetscInt_FMT " at lag %" PetscInt_FMT " (-l3dvar_bz_first, _stride, _count, _lag)", p->climatology, ntime, PetscMax(*count, 1), p->first, p->stride, p->lag);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* (on one group) */
static PetscErrorCode ClimatologyVariances(Filter_L3dvar *d, const DaisiFilterL3dvarParams *p, PetscInt count, PetscInt nmem, PetscReal var[])
{
  const PetscInt n = d->c.n, nz = d->nz;
  DaisiStateFile sf;
  PetscReal     *x, *z, *s;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(2 * n + 1, &x, 2 * nz + 1, &z, 2 * d->nc * d->zg.ny, &s));
  PetscCall(PetscArrayzero(s, 2 * d->nc * d->zg.ny));
  PetscCall(DaisiStateFileCreate(d->c.group, &sf));
  PetscCall(DaisiStateFileSetGrid(sf, &d->c.grid));
  PetscCall(DaisiStateFileOpen(sf, p->climatology, DAISI_FILE_READ));
  for (PetscInt k = 0; k < count; k++)
    for (PetscInt m = 0; m < PetscMax(nmem, 1); m++) {
      const PetscInt t = p->first + k * p->stride;
      if (nmem) {
        PetscCall(DaisiStateFileReadMember(sf, t, m, NULL, x));
        PetscCall(DaisiStateFileReadMember(sf, t + p->lag, m, NULL, x + n));
      } else {
        PetscCall(DaisiStateFileRead(sf, t, NULL, x));
        PetscCall(DaisiStateFileRead(sf, t + p->lag, NULL, x + n));
      }
      PetscCall(DaisiLatentVarEncode(d, 2, x, z));
      for (PetscInt i = 0; i < nz; i++) z[i] = z[nz + i] - z[i];
      Accumulate(d, z, s);
    }
  PetscCall(DaisiStateFileClose(sf));
  PetscCall(DaisiStateFileDestroy(&sf));
  PetscCall(Finish(d, (PetscInt64)count * PetscMax(nmem, 1), s, var));
  PetscCall(PetscFree3(x, z, s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the cycles of the diagnostics file used (cycle >= first_cycle), checked against the truth file
 * (collective over the world); *cyc: the cycle numbers, *idx: their indices in the file */
static PetscErrorCode ErrorsSelect(Filter_L3dvar *d, const DaisiFilterL3dvarParams *p, PetscInt *K, PetscInt64 **cyc, PetscInt **idx)
{
  PetscInt    ntime, nc;
  PetscInt64 *all;
  char        what[PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBegin;
  PetscCheck(p->truth[0], d->c.world, PETSC_ERR_USER_INPUT, "-l3dvar_bz_errors %s needs -l3dvar_bz_truth TRUTH.h5, the nature run the cycled run was verified against", p->errors);
  PetscCall(CheckStateFile(d, "-l3dvar_bz_truth", p->truth, "the nature-run state file of the -l3dvar_bz_errors run", &ntime, NULL));
  PetscCall(PetscSNPrintf(what, sizeof(what), "-l3dvar_bz_errors %s", p->errors));
  PetscCall(DaisiDiagFileReadCycles(d->c.world, p->errors, what, &d->c.grid, &nc, &all));
  PetscCall(PetscMalloc2(nc + 1, cyc, nc + 1, idx));
  *K = 0;
  for (PetscInt k = 0; k < nc; k++) {
    if (all[k] < p->first_cycle) continue;
    PetscCheck(all[k] < ntime, d->c.world, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_errors %s: cycle %" PetscInt64_FMT " needs time index %" PetscInt64_FMT " of -l3dvar_bz_truth %s, which has %" PetscInt_FMT " time(s)", p->errors, all[k], all[k], p->truth, ntime);
    (*cyc)[*K] = all[k];
    (*idx)[*K] = k;
    (*K)++;
  }
  PetscCall(PetscFree(all));
  PetscCheck(*K >= 1, d->c.world, PETSC_ERR_ARG_OUTOFRANGE, "-l3dvar_bz_errors %s has no cycle >= %" PetscInt_FMT " (-l3dvar_bz_first_cycle)", p->errors, p->first_cycle);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* (on one group) the variances of E(ens_mean_b) - E(truth) over the selected cycles */
static PetscErrorCode ErrorsVariances(Filter_L3dvar *d, const DaisiFilterL3dvarParams *p, PetscInt K, const PetscInt64 cyc[], const PetscInt idx[], PetscReal var[])
{
  const PetscInt n = d->c.n, nz = d->nz;
  DaisiStateFile sf;
  PetscReal     *x, *z, *s;
  char           what[PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(what, sizeof(what), "-l3dvar_bz_errors %s", p->errors));
  PetscCall(PetscMalloc3(2 * n + 1, &x, 2 * nz + 1, &z, 2 * d->nc * d->zg.ny, &s));
  PetscCall(PetscArrayzero(s, 2 * d->nc * d->zg.ny));
  PetscCall(DaisiStateFileCreate(d->c.group, &sf));
  PetscCall(DaisiStateFileSetGrid(sf, &d->c.grid));
  PetscCall(DaisiStateFileOpen(sf, p->truth, DAISI_FILE_READ));
  for (PetscInt k = 0; k < K; k++) {
    /* the background mean of the cycle and the truth, this rank's rows (the slab layout) */
    PetscCall(DaisiDiagFileReadField(d->c.group, p->errors, what, "ens_mean_b", &d->c.grid, idx[k], x));
    PetscCall(DaisiStateFileRead(sf, (PetscInt)cyc[k], NULL, x + n));
    PetscCall(DaisiLatentVarEncode(d, 2, x, z));
    for (PetscInt i = 0; i < nz; i++) z[i] -= z[nz + i];
    Accumulate(d, z, s);
  }
  PetscCall(DaisiStateFileClose(sf));
  PetscCall(DaisiStateFileDestroy(&sf));
  PetscCall(Finish(d, K, s, var));
  PetscCall(PetscFree3(x, z, s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* B_z: given, or estimated by group 0 and broadcast; the set-up line */
static PetscErrorCode MakeBz(Filter_L3dvar *d, const DaisiFilterL3dvarParams *p)
{
  PetscInt       nsrc = (p->nvar > 0) + (p->climatology[0] != 0) + (p->errors[0] != 0), count = 0, nmem = 0, K = 0, *idx = NULL, bad;
  PetscInt64    *cyc = NULL;
  PetscErrorCode ierr = PETSC_SUCCESS;
  char           line[64 * DAISI_L3DVAR_MAX_CHANNELS];
  size_t         len;

  PetscFunctionBegin;
  PetscCheck(nsrc >= 1, d->c.world, PETSC_ERR_USER_INPUT, "the l3dvar filter needs its latent covariance B_z: -l3dvar_bz_variances v1,v2,... (one per latent channel), -l3dvar_bz_climatology NATURE.h5 (NMC-style lagged differences), or -l3dvar_bz_errors DIAG.h5 -l3dvar_bz_truth TRUTH.h5 (encoded background errors)");
  PetscCheck(nsrc == 1, d->c.world, PETSC_ERR_ARG_INCOMP, "B_z is given by more than one of -l3dvar_bz_variances (%" PetscInt_FMT " values), -l3dvar_bz_climatology (%s), -l3dvar_bz_errors (%s): give one of them", p->nvar, p->climatology[0] ? p->climatology : "-", p->errors[0] ? p->errors : "-");
  PetscCheck(!p->truth[0] || p->errors[0], d->c.world, PETSC_ERR_ARG_INCOMP, "-l3dvar_bz_truth %s is only used with -l3dvar_bz_errors", p->truth);
  d->nsamples = 0;
  if (p->nvar) {
    PetscCheck(p->nvar == d->nc, d->c.world, PETSC_ERR_ARG_SIZ, "-l3dvar_bz_variances: %" PetscInt_FMT " value(s) given, the latent space of %s has %" PetscInt_FMT " channel(s)", p->nvar, p->decoder, d->nc);
    for (PetscInt c = 0; c < d->nc; c++) d->var[c] = p->var[c];
    PetscCall(PetscStrncpy(d->source, "-l3dvar_bz_variances", sizeof(d->source)));
  } else {
    if (p->climatology[0]) PetscCall(ClimatologyCount(d, p, &count, &nmem));
    else PetscCall(ErrorsSelect(d, p, &K, &cyc, &idx));
    if (d->c.gindex == 0) ierr = p->climatology[0] ? ClimatologyVariances(d, p, count, nmem, d->var) : ErrorsVariances(d, p, K, cyc, idx, d->var);
    PetscCall(PetscFree2(cyc, idx));
    bad = ierr ? 1 : 0;
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_MAX, d->c.world));
    PetscCheck(!bad, d->c.world, ierr ? ierr : PETSC_ERR_LIB, "l3dvar: estimating B_z failed (see the first error above)");
    PetscCallMPI(MPI_Bcast(d->var, (PetscMPIInt)d->nc, MPIU_REAL, 0, d->c.world));
    d->nsamples = p->climatology[0] ? (PetscInt64)count * PetscMax(nmem, 1) : K;
    for (PetscInt c = 0; c < d->nc; c++) {
      PetscCheck(d->var[c] > 0 && PetscIsNormalReal(d->var[c]), d->c.world, PETSC_ERR_ARG_WRONG, "l3dvar: the B_z variance of latent channel %" PetscInt_FMT " estimated from %s is %g (not finite: a diverged run? zero: constant encoded differences?)", c, p->climatology[0] ? p->climatology : p->errors, (double)d->var[c]);
      d->var[c] *= p->scale;
    }
    if (p->climatology[0])
      PetscCall(PetscSNPrintf(d->source, sizeof(d->source), "%g x NMC lag %" PetscInt_FMT " of %s, %" PetscInt64_FMT " differences", (double)p->scale, p->lag, p->climatology, d->nsamples));
    else PetscCall(PetscSNPrintf(d->source, sizeof(d->source), "%g x background errors of %s, %" PetscInt64_FMT " cycles >= %" PetscInt_FMT, (double)p->scale, p->errors, d->nsamples, p->first_cycle));
  }
  for (PetscInt c = 0; c < d->nc; c++) d->sd[c] = PetscSqrtReal(d->var[c]);
  PetscCall(PetscSNPrintf(line, sizeof(line), "l3dvar | B_z variances (%s):", d->source));
  for (PetscInt c = 0; c < d->nc; c++) {
    PetscCall(PetscStrlen(line, &len));
    PetscCall(PetscSNPrintf(line + len, sizeof(line) - len, " %.6g", (double)d->var[c]));
  }
  PetscCall(PetscPrintf(d->c.world, "%s\n", line));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Set-up for an ensemble
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode Solve(DaisiFilter, PetscInt, const PetscReal[], PetscReal[]);

PetscErrorCode DaisiLatentVarSetUp(DaisiLatentVar *d, const char name[], DaisiEnsemble e, DaisiVarSolveFn solve, const char encopt[], const char encoder_in[], const char decopt[], const char decoder_in[])
{
  char     encoder[PETSC_MAX_PATH_LEN], decoder[PETSC_MAX_PATH_LEN];
  PetscInt n;

  PetscFunctionBegin;
  PetscCall(DaisiVarCoreSetUp(&d->c, name, e, solve));
  PetscCall(DaisiResolveSourcePath(d->c.world, encoder_in, encoder, sizeof(encoder)));
  PetscCall(DaisiResolveSourcePath(d->c.world, decoder_in, decoder, sizeof(decoder)));
  PetscCheck(d->c.grid.nx >= 2 && d->c.grid.ny >= 2, d->c.world, PETSC_ERR_ARG_WRONG, "the %s filter needs a gridded model, got %" PetscInt_FMT " x %" PetscInt_FMT, name, d->c.grid.ny, d->c.grid.nx);
  PetscCall(DaisiNetDestroy(&d->enc));
  PetscCall(DaisiNetDestroy(&d->dec));
  PetscCall(LoadNet(d, encopt, decopt, encopt, encoder, "encoder", &d->enc));
  PetscCall(LoadNet(d, encopt, decopt, decopt, decoder, "decoder", &d->dec));
  PetscCall(CheckPair(d, encopt, encoder, decopt, decoder));
  n = d->c.n;
  PetscCall(PetscFree4(d->xb, d->x, d->gx, d->part));
  PetscCall(PetscFree4(d->zb, d->z, d->gz, d->h));
  PetscCall(PetscMalloc4(n + 1, &d->xb, n + 1, &d->x, n + 1, &d->gx, d->c.grid.ny + d->zg.ny, &d->part));
  PetscCall(PetscMalloc4(d->nz + 1, &d->zb, d->nz + 1, &d->z, d->nz + 1, &d->gz, 4 * (size_t)d->nz + 1, &d->h));
  PetscCall(VecDestroy(&d->v));
  PetscCall(VecCreateMPI(d->c.group, d->nz, PETSC_DETERMINE, &d->v));
  d->c.nv = d->nz;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiLatentVarDestroy(DaisiLatentVar *d)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarCoreDestroy(&d->c));
  PetscCall(DaisiNetDestroy(&d->enc));
  PetscCall(DaisiNetDestroy(&d->dec));
  PetscCall(PetscFree4(d->xb, d->x, d->gx, d->part));
  PetscCall(PetscFree4(d->zb, d->z, d->gz, d->h));
  PetscCall(VecDestroy(&d->v));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetUpForEnsemble(DaisiFilter f, DaisiEnsemble e)
{
  Filter_L3dvar                 *d = (Filter_L3dvar *)f->data;
  const DaisiFilterL3dvarParams *p = &f->l3dvar;

  PetscFunctionBegin;
  if (d->c.ens == e) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!d->c.ens, f->comm, PETSC_ERR_ARG_WRONG, "this l3dvar filter was set up for another ensemble");
  PetscCall(PetscLogEventBegin(DAISI_FilterL3dvarSetUp, 0, 0, 0, 0));
  PetscCall(DaisiLatentVarSetUp(d, DAISI_FILTER_L3DVAR, e, Solve, "-l3dvar_encoder", p->encoder, "-l3dvar_decoder", p->decoder));
  PetscCall(MakeBz(d, p));
  d->c.ens = e;
  PetscCall(PetscLogEventEnd(DAISI_FilterL3dvarSetUp, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The objective and the solve
 * ------------------------------------------------------------------------------------- */
/* the decoder's output x = D(z) -> the observation term (into part) and its gradient w = H^T R^-1 (h(x) - y) */
static PetscErrorCode ObsCotangent(void *ctx, PetscInt b0, PetscInt bc, const PetscReal y[], PetscReal w[])
{
  Filter_L3dvar *d = (Filter_L3dvar *)ctx;

  PetscFunctionBegin;
  (void)b0;
  (void)bc; /* one sample */
  PetscCall(DaisiVarObsCost(&d->c.ob, y, d->part));
  PetscCall(DaisiVarObsGradient(&d->c.ob, d->c.n, w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* z = zb + B_z^1/2 v (latent layout: channel-major blocks of this rank's latent rows) */
static void ToLatent(const Filter_L3dvar *d, const PetscReal v[], PetscReal z[])
{
  const PetscInt blk = d->zg.nyl * d->zg.nx;

  for (PetscInt c = 0; c < d->nc; c++)
    for (PetscInt i = c * blk; i < (c + 1) * blk; i++) z[i] = d->zb[i] + d->sd[c] * v[i];
}

/* J(v) and g = grad J(v) (g NULL on every rank of the group or on none) for z_b = d->zb and observation values d->c.ob.yp;
 * D(z) is left in d->x. Collective over the group. */
static PetscErrorCode Objective(Filter_L3dvar *d, const PetscReal v[], PetscReal *J, PetscReal g[])
{
  const PetscInt ny = d->c.grid.ny, nyl = d->zg.nyl, nx = d->zg.nx, blk = nyl * nx;
  PetscReal      jo, jb;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterL3dvarObjective, 0, 0, 0, 0));
  ToLatent(d, v, d->z);
  PetscCall(PetscArrayzero(d->part, ny + d->zg.ny));
  if (g) PetscCall(DaisiNetVJPOutput(d->dec, 1, NULL, d->z, ObsCotangent, d, d->x, d->gx, d->gz, PETSC_FALSE));
  else {
    PetscCall(DaisiNetForward(d->dec, 1, NULL, d->z, d->x));
    PetscCall(DaisiVarObsCost(&d->c.ob, d->x, d->part));
  }
  for (PetscInt r = 0; r < nyl; r++) {
    PetscReal s = 0;
    for (PetscInt c = 0; c < d->nc; c++)
      for (PetscInt i = 0; i < nx; i++) s += v[(c * nyl + r) * nx + i] * v[(c * nyl + r) * nx + i];
    d->part[ny + d->zg.y0 + r] = s;
  }
  /* one contribution per entry: exact, then added in state-row and latent-row order */
  PetscCall(DaisiVarSumParts(d->c.group, ny + d->zg.ny, d->part, ny, &jo, &jb));
  *J = 0.5 * (jb + jo);
  if (g)
    for (PetscInt c = 0; c < d->nc; c++)
      for (PetscInt i = c * blk; i < (c + 1) * blk; i++) g[i] = v[i] + d->sd[c] * d->gz[i];
  PetscCall(PetscLogFlops(4.0 * d->nz + 6.0 * d->c.ob.nown));
  PetscCall(PetscLogEventEnd(DAISI_FilterL3dvarObjective, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiLatentVarObjective(void *ctx, const PetscReal v[], PetscReal *J, PetscReal g[])
{
  PetscFunctionBegin;
  PetscCall(Objective((DaisiLatentVar *)ctx, v, J, g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiLatentVarMinimize(DaisiFilter f, DaisiLatentVar *d, PetscInt member, PetscInt max_it)
{
  const PetscScalar *v;

  PetscFunctionBegin;
  d->c.max_it = max_it;
  PetscCall(DaisiVarMinimize(f, &d->c, d->v, DaisiLatentVarObjective, d, L3DVAR_ROUND, L3DVAR_FLOOR, member));
  PetscCall(VecGetArrayRead(d->v, &v));
  ToLatent(d, v, d->z);
  PetscCall(VecRestoreArrayRead(d->v, &v));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the background of a solve: x_b and z_b = mean of E(x_b) */
static PetscErrorCode Background(DaisiFilter f, const PetscReal xb[])
{
  Filter_L3dvar *d = (Filter_L3dvar *)f->data;

  PetscFunctionBegin;
  PetscCall(PetscArraycpy(d->xb, xb, d->c.n));
  PetscCall(DaisiLatentVarEncode(d, 1, d->xb, d->zb));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* xa = D(z_b + B_z^1/2 argmin J), z_b = E(xb), for the observation values d->c.ob.yp */
static PetscErrorCode Solve(DaisiFilter f, PetscInt member, const PetscReal xb[], PetscReal xa[])
{
  Filter_L3dvar *d = (Filter_L3dvar *)f->data;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterL3dvarSolve, 0, 0, 0, 0));
  PetscCall(Background(f, xb));
  PetscCall(DaisiLatentVarMinimize(f, d, member, 0));
  PetscCall(DaisiNetForward(d->dec, 1, NULL, d->z, xa));
  PetscCall(PetscLogEventEnd(DAISI_FilterL3dvarSolve, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Tests and diagnostics
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode Prepare(DaisiFilter f, DaisiEnsemble e, Filter_L3dvar **d)
{
  DaisiVarCore *c = NULL;

  PetscFunctionBegin;
  PetscCall(DaisiVarPrepare(f, DAISI_FILTER_L3DVAR, e, &c));
  *d = (Filter_L3dvar *)c;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterL3dvarGetControlSize(DaisiFilter f, DaisiEnsemble e, PetscInt *nv)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarGetControlSize(f, DAISI_FILTER_L3DVAR, e, nv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterL3dvarObjective(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs, const PetscReal xb[], const PetscReal v[], PetscReal *J, PetscReal g[])
{
  PetscFunctionBegin;
  PetscCall(DaisiVarObjectiveAt(f, DAISI_FILTER_L3DVAR, e, obs, xb, v, J, g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterL3dvarGetVariances(DaisiFilter f, DaisiEnsemble e, PetscInt *nc, PetscReal var[])
{
  Filter_L3dvar *d = NULL;

  PetscFunctionBegin;
  PetscCall(Prepare(f, e, &d));
  *nc = d->nc;
  if (var) PetscCall(PetscArraycpy(var, d->var, d->nc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterL3dvarGetStats(DaisiFilter f, DaisiFilterVar3dStats *s)
{
  PetscFunctionBegin;
  PetscCall(DaisiVarGetStats(f, DAISI_FILTER_L3DVAR, s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode View_L3dvar(DaisiFilter f, PetscViewer viewer)
{
  Filter_L3dvar                 *d = (Filter_L3dvar *)f->data;
  const DaisiFilterL3dvarParams *q = &f->l3dvar;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "encoder %s, decoder %s (physical states: the per-level normalisation stored with the weights)\n", q->encoder[0] ? q->encoder : "(not set)", q->decoder[0] ? q->decoder : "(not set)"));
  PetscCall(DaisiVarViewMode(f, viewer));
  if (d && d->c.ens) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "latent field: %" PetscInt_FMT " channel(s) on %" PetscInt_FMT " x %" PetscInt_FMT " (%" PetscInt_FMT " control values per group, %" PetscInt_FMT " on this rank); B_z from %s:", d->nc, d->zg.ny, d->zg.nx, d->nc * d->zg.ny * d->zg.nx, d->nz, d->source));
    PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_FALSE));
    for (PetscInt c = 0; c < d->nc; c++) PetscCall(PetscViewerASCIIPrintf(viewer, " %.4g", (double)d->var[c]));
    PetscCall(PetscViewerASCIIPrintf(viewer, "\n"));
    PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_TRUE));
  }
  PetscCall(DaisiVarViewSolver(f, viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Destroy_L3dvar(DaisiFilter f)
{
  Filter_L3dvar *d = (Filter_L3dvar *)f->data;

  PetscFunctionBegin;
  if (!d) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(DaisiLatentVarDestroy(d));
  PetscCall(PetscFree(f->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_L3dvar(DaisiFilter f)
{
  Filter_L3dvar *d = NULL;

  PetscFunctionBegin;
  if (!DAISI_FilterL3dvarSetUp) {
    PetscCall(PetscLogEventRegister("L3dvarSetUp", DAISI_CLASSID, &DAISI_FilterL3dvarSetUp));
    PetscCall(PetscLogEventRegister("L3dvarSolve", DAISI_CLASSID, &DAISI_FilterL3dvarSolve));
    PetscCall(PetscLogEventRegister("L3dvarObjective", DAISI_CLASSID, &DAISI_FilterL3dvarObjective));
  }
  PetscCall(PetscNew(&d));
  f->data                  = d;
  d->c.setup              = SetUpForEnsemble;
  d->c.background         = Background;
  d->c.objective          = DaisiLatentVarObjective;
  f->ops.setup             = DaisiVarSetUpOp;
  f->ops.view              = View_L3dvar;
  f->ops.destroy           = Destroy_L3dvar;
  f->ops.ensemble_analysis = DaisiVarEnsembleAnalysisOp;
  PetscFunctionReturn(PETSC_SUCCESS);
}
