/* LO-SDA (type losda; docs/filters.md, section LO-SDA; interface in losda.h): latent
 * diffusion data assimilation with latent optimisation, on our own VAE and conditional latent
 * interpolant (daisi-train -train_model vae, -train_model latent).
 *
 * Per cycle and per member group, on the group communicator:
 *   1. the exact ensemble mean of the forecast, x_b (varcommon.c), encoded: z_b = mean of E(x_b),
 *      normalised per latent channel by the latent model's latent_mean / latent_std: u_b;
 *   2. per member m: u ~ N(0, I) keyed by (-filter_seed, DAISI_RNG_LOSDA, cycle, m; global
 *      latent index); K = -losda_steps Euler steps of the interpolant ODE from t = 0 to 1 with
 *      the velocity b([u; u_b], t), written through the denoised estimate u1 = u + (1 - t) b:
 *        u0 = (u - t u1) / (1 - t),  u <- (1 - t') u0 + t' u1,   t' = t + 1/K
 *      (for an untouched u1 this is the Euler step u + (t' - t) b). At the steps chosen by
 *      -losda_opt_every (counted back from the last step, which always qualifies) with t >=
 *      -losda_opt_tmin, u1 is replaced by the latent 3DVar analysis with background u1 and
 *      B_z = gamma^2 I in normalised units (l3dvar's objective and TAO, at most
 *      -losda_opt_max_it iterations);
 *   3. the member's analysis is D(latent_mean + latent_std u) at t = 1.
 * Observations are used as they are (no perturbation): the members differ by their noise.
 * The networks run on the group (rows of the state and of the latent field over its ranks);
 * the optimisation's sums are exact per row (varcommon.c), so results depend on the layout only
 * through the float32 rounding of the networks. */
#include "latentvar.h"
#include <daisi/losda.h>
#include <daisi/rng.h>
#include <daisi/sys.h>

PetscLogEvent DAISI_FilterLOSDASample = 0, DAISI_FilterLOSDAOptimise = 0;

typedef struct {
  DaisiLatentVar        lv;    /* first: the VAE, the latent objective and the core (latentvar.h) */
  DaisiNet              model; /* the conditional latent interpolant, on the group, latent layout */
  PetscReal             lmean[DAISI_L3DVAR_MAX_CHANNELS], lstd[DAISI_L3DVAR_MAX_CHANNELS];
  PetscReal            *ub, *u, *u1, *in, *vel; /* latent layout (in: 2 nz) */
  PetscBool             have_ub;                  /* ub holds this analysis' encoded mean (every member's background) */
  DaisiFilterLOSDAStats stats;
} Filter_LOSDA;

/* ---------------------------------------------------------------------------------------
 * Parameters (read by every filter type)
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiFilterLOSDAParamsDefault(DaisiFilterLOSDAParams *p)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(p, sizeof(*p)));
  p->steps      = 20;
  p->opt_every  = 1;
  p->opt_tmin   = 0.5;
  p->gamma      = 0.5;
  p->opt_max_it = 20;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckParams(MPI_Comm comm, const DaisiFilterLOSDAParams *p)
{
  PetscFunctionBegin;
  PetscCheck(p->steps >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-losda_steps %" PetscInt_FMT " must be at least 1", p->steps);
  PetscCheck(p->opt_every >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-losda_opt_every %" PetscInt_FMT " must be >= 0 (0: no latent optimisation)", p->opt_every);
  PetscCheck(p->opt_tmin >= 0 && p->opt_tmin < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-losda_opt_tmin %g must be in [0, 1)", (double)p->opt_tmin);
  PetscCheck(p->gamma > 0 && PetscIsNormalReal(p->gamma), comm, PETSC_ERR_ARG_OUTOFRANGE, "-losda_gamma %g must be positive", (double)p->gamma);
  PetscCheck(p->opt_max_it >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-losda_opt_max_it %" PetscInt_FMT " must be at least 1", p->opt_max_it);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLOSDAGetParams(DaisiFilter f, DaisiFilterLOSDAParams *p)
{
  PetscFunctionBegin;
  *p = f->losda;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLOSDASetParams(DaisiFilter f, const DaisiFilterLOSDAParams *p)
{
  PetscFunctionBegin;
  PetscCall(CheckParams(f->comm, p));
  f->losda = *p;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLOSDAParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject)
{
  DaisiFilterLOSDAParams p = f->losda;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "LO-SDA (filter type losda)");
  PetscCall(PetscOptionsString("-losda_model", "the conditional latent model (daisi-train -train_model latent)", "DaisiFilterLOSDASetParams", p.model, p.model, sizeof(p.model), NULL));
  PetscCall(PetscOptionsString("-losda_encoder", "the VAE encoder (daisi-train -train_model vae: -train_encoder_output)", "DaisiFilterLOSDASetParams", p.encoder, p.encoder, sizeof(p.encoder), NULL));
  PetscCall(PetscOptionsString("-losda_decoder", "the VAE decoder (daisi-train -train_model vae: -train_output)", "DaisiFilterLOSDASetParams", p.decoder, p.decoder, sizeof(p.decoder), NULL));
  PetscCall(PetscOptionsInt("-losda_steps", "Euler steps of the latent interpolant from noise (t = 0) to t = 1", "DaisiFilterLOSDASetParams", p.steps, &p.steps, NULL));
  PetscCall(PetscOptionsInt("-losda_opt_every", "optimise the denoised latent every k-th step, counted back from the last (0: never)", "DaisiFilterLOSDASetParams", p.opt_every, &p.opt_every, NULL));
  PetscCall(PetscOptionsReal("-losda_opt_tmin", "optimise only at steps with t >= this", "DaisiFilterLOSDASetParams", p.opt_tmin, &p.opt_tmin, NULL));
  PetscCall(PetscOptionsReal("-losda_gamma", "width of the optimisation's pull towards the model's estimate (normalised latent units)", "DaisiFilterLOSDASetParams", p.gamma, &p.gamma, NULL));
  PetscCall(PetscOptionsInt("-losda_opt_max_it", "TAO iterations per latent optimisation", "DaisiFilterLOSDASetParams", p.opt_max_it, &p.opt_max_it, NULL));
  PetscOptionsHeadEnd();
  PetscCall(DaisiFilterLOSDASetParams(f, &p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Set-up: the VAE (latentvar.h) and the conditional model, checked to belong together
 * ------------------------------------------------------------------------------------- */
/* n comma-separated numbers of metadata entry `name` of the model into v */
static PetscErrorCode ReadChannels(Filter_LOSDA *d, const char path[], const char name[], PetscReal v[])
{
  const char *s, *all;
  char       *end;

  PetscFunctionBegin;
  PetscCall(DaisiNetGetMetadata(d->model, name, &all));
  s = all;
  PetscCheck(s, d->lv.c.world, PETSC_ERR_FILE_UNEXPECTED, "-losda_model %s has no metadata %s: not a latent model written by daisi-train -train_model latent", path, name);
  for (PetscInt c = 0; c < d->lv.nc; c++) {
    v[c] = strtod(s, &end);
    PetscCheck(end != s && (c == d->lv.nc - 1 ? *end == 0 : *end == ','), d->lv.c.world, PETSC_ERR_FILE_UNEXPECTED, "-losda_model %s: metadata %s \"%s\" is not %" PetscInt_FMT " comma-separated numbers (the latent channels of the VAE)", path, name, all, d->lv.nc);
    s = end + 1;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LoadModel(DaisiFilter f, Filter_LOSDA *d)
{
  const DaisiFilterLOSDAParams *p = &f->losda;
  MPI_Comm                      world = d->lv.c.world;
  char                          model[PETSC_MAX_PATH_LEN];
  PetscBool                     exists;
  const char                   *t, *sig, *esig;
  PetscInt                      K;

  PetscFunctionBegin;
  PetscCheck(p->model[0], world, PETSC_ERR_USER_INPUT, "the losda filter needs its conditional latent model: -losda_model FILE (daisi-train -train_model latent writes it)");
  PetscCall(DaisiResolveSourcePath(world, p->model, model, sizeof(model)));
  PetscCall(DaisiFileExists(world, model, &exists));
  PetscCheck(exists, world, PETSC_ERR_FILE_OPEN, "-losda_model %s: no such file", model);
  PetscCall(DaisiNetDestroy(&d->model));
  PetscCall(DaisiNetLoad(d->lv.c.group, model, &d->lv.zg, &d->model));
  PetscCall(DaisiNetGetType(d->model, &t));
  PetscCall(DaisiNetGetConditionChannels(d->model, &K));
  PetscCheck(!strcmp(t, "unet") && K == d->lv.nc, world, PETSC_ERR_ARG_INCOMP, "-losda_model %s is a %s with %" PetscInt_FMT " condition channel(s); a unet conditioned on the %" PetscInt_FMT " latent channels of %s is expected (daisi-train -train_model latent)", model, t, K, d->lv.nc, p->encoder);
  PetscCall(ReadChannels(d, model, "latent_mean", d->lmean));
  PetscCall(ReadChannels(d, model, "latent_std", d->lstd));
  for (PetscInt c = 0; c < d->lv.nc; c++) PetscCheck(d->lstd[c] > 0, world, PETSC_ERR_FILE_UNEXPECTED, "-losda_model %s: latent_std of channel %" PetscInt_FMT " is %g, not positive", model, c, (double)d->lstd[c]);
  /* the model was trained on this encoder's latents */
  PetscCall(DaisiNetGetMetadata(d->model, "vae_signature", &sig));
  PetscCall(DaisiNetGetMetadata(d->lv.enc, "train_signature", &esig));
  PetscCheck(!sig || !esig || !strcmp(sig, esig), world, PETSC_ERR_ARG_INCOMP, "-losda_model %s was trained on the latents of another VAE than -losda_encoder %s (their training signatures differ)", model, p->encoder);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Sample(DaisiFilter, PetscInt, const PetscReal[], PetscReal[]);

static PetscErrorCode SetUpForEnsemble(DaisiFilter f, DaisiEnsemble e)
{
  Filter_LOSDA                 *d = (Filter_LOSDA *)f->data;
  const DaisiFilterLOSDAParams *p = &f->losda;

  PetscFunctionBegin;
  if (d->lv.c.ens == e) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!d->lv.c.ens, f->comm, PETSC_ERR_ARG_WRONG, "this losda filter was set up for another ensemble");
  PetscCall(DaisiLatentVarSetUp(&d->lv, DAISI_FILTER_LOSDA, e, Sample, "-losda_encoder", p->encoder, "-losda_decoder", p->decoder));
  PetscCall(LoadModel(f, d));
  PetscCall(PetscFree5(d->ub, d->u, d->u1, d->in, d->vel));
  PetscCall(PetscMalloc5(d->lv.nz + 1, &d->ub, d->lv.nz + 1, &d->u, d->lv.nz + 1, &d->u1, 2 * (size_t)d->lv.nz + 1, &d->in, d->lv.nz + 1, &d->vel));
  d->lv.c.ens = e;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The sampler
 * ------------------------------------------------------------------------------------- */
/* raw latent z <-> normalised u, latent layout (channel-major blocks of this rank's rows) */
static void Normalise(const Filter_LOSDA *d, PetscBool to_u, const PetscReal a[], PetscReal b[])
{
  const PetscInt blk = d->lv.zg.nyl * d->lv.zg.nx;

  for (PetscInt c = 0; c < d->lv.nc; c++)
    for (PetscInt i = c * blk; i < (c + 1) * blk; i++) b[i] = to_u ? (a[i] - d->lmean[c]) / d->lstd[c] : d->lmean[c] + d->lstd[c] * a[i];
}

/* standard normals keyed by (seed, DAISI_RNG_LOSDA, cycle, member; global latent index) */
static void Noise(const Filter_LOSDA *d, PetscInt64 seed, PetscInt cycle, PetscInt member, PetscReal u[])
{
  const DaisiGrid *z = &d->lv.zg;
  const DaisiRng   r = DaisiRngMake((uint64_t)seed, DAISI_RNG_LOSDA, (uint64_t)cycle, (uint64_t)member, 0);

  for (PetscInt c = 0; c < z->nlev; c++)
    for (PetscInt j = 0; j < z->nyl; j++) DaisiRngNormalArray(&r, (uint64_t)((c * z->ny + z->y0 + j) * z->nx), z->nx, u + (c * z->nyl + j) * z->nx);
}

/* u1 <- the latent 3DVar analysis with background u1 and B_z = gamma^2 I (normalised units) */
static PetscErrorCode Optimise(DaisiFilter f, Filter_LOSDA *d, PetscInt member)
{
  const DaisiFilterLOSDAParams *p = &f->losda;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterLOSDAOptimise, 0, 0, 0, 0));
  Normalise(d, PETSC_FALSE, d->u1, d->lv.zb);
  for (PetscInt c = 0; c < d->lv.nc; c++) d->lv.sd[c] = p->gamma * d->lstd[c];
  PetscCall(DaisiLatentVarMinimize(f, &d->lv, member, p->opt_max_it));
  Normalise(d, PETSC_TRUE, d->lv.z, d->u1);
  d->stats.optimisations++;
  d->stats.iterations = d->lv.c.stats.iterations;
  d->stats.jo_before  = d->lv.c.stats.J0;
  d->stats.jo_after   = d->lv.c.stats.J;
  PetscCall(PetscLogEventEnd(DAISI_FilterLOSDAOptimise, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* xa = the analysis of `member` for the background (ensemble mean) xb, observations as given */
static PetscErrorCode Sample(DaisiFilter f, PetscInt member, const PetscReal xb[], PetscReal xa[])
{
  Filter_LOSDA                 *d  = (Filter_LOSDA *)f->data;
  const DaisiFilterLOSDAParams *p  = &f->losda;
  const PetscInt                nz = d->lv.nz, K = p->steps;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterLOSDASample, 0, 0, 0, 0));
  if (!d->have_ub) { /* xb is the ensemble mean, the same for every member of the analysis */
    PetscCall(DaisiLatentVarEncode(&d->lv, 1, xb, d->lv.zb));
    Normalise(d, PETSC_TRUE, d->lv.zb, d->ub);
    d->have_ub = PETSC_TRUE;
  }
  Noise(d, f->seed, d->lv.c.ob.cycle, member, d->u);
  for (PetscInt k = 0; k < K; k++) {
    const PetscReal t = (PetscReal)k / K, t1 = (PetscReal)(k + 1) / K;
    PetscCall(PetscArraycpy(d->in, d->u, nz));
    PetscCall(PetscArraycpy(d->in + nz, d->ub, nz));
    PetscCall(DaisiNetForward(d->model, 1, &t, d->in, d->vel));
    if (p->opt_every > 0 && t >= p->opt_tmin && (K - 1 - k) % p->opt_every == 0) {
      for (PetscInt i = 0; i < nz; i++) d->u1[i] = d->u[i] + (1 - t) * d->vel[i];
      PetscCall(Optimise(f, d, member));
      for (PetscInt i = 0; i < nz; i++) {
        const PetscReal u0 = k ? (d->u[i] - t * d->u1[i]) / (1 - t) : d->u[i];
        d->u[i]            = (1 - t1) * u0 + t1 * d->u1[i];
      }
    } else
      for (PetscInt i = 0; i < nz; i++) d->u[i] += (t1 - t) * d->vel[i]; /* the same step with u1 untouched */
  }
  Normalise(d, PETSC_FALSE, d->u, d->lv.z);
  PetscCall(DaisiNetForward(d->lv.dec, 1, NULL, d->lv.z, xa));
  d->stats.members++;
  PetscCall(PetscLogFlops(8.0 * K * nz));
  PetscCall(PetscLogEventEnd(DAISI_FilterLOSDASample, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode EnsembleAnalysis_LOSDA(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs)
{
  Filter_LOSDA *d = (Filter_LOSDA *)f->data;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(&d->stats, sizeof(d->stats)));
  d->have_ub = PETSC_FALSE;
  PetscCall(DaisiVarEnsembleAnalysisOp(f, e, obs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLOSDAGetStats(DaisiFilter f, DaisiFilterLOSDAStats *s)
{
  Filter_LOSDA *d;

  PetscFunctionBegin;
  PetscCall(DaisiVarCheckType(f, DAISI_FILTER_LOSDA));
  d  = (Filter_LOSDA *)f->data;
  *s = d->stats;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Object
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode View_LOSDA(DaisiFilter f, PetscViewer viewer)
{
  Filter_LOSDA                 *d = (Filter_LOSDA *)f->data;
  const DaisiFilterLOSDAParams *p = &f->losda;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "model %s, encoder %s, decoder %s\n", p->model[0] ? p->model : "(not set)", p->encoder[0] ? p->encoder : "(not set)", p->decoder[0] ? p->decoder : "(not set)"));
  PetscCall(PetscViewerASCIIPrintf(viewer, "%" PetscInt_FMT " Euler steps from noise; latent optimisation every %" PetscInt_FMT " step(s) from t >= %g, gamma %g, at most %" PetscInt_FMT " TAO iterations\n", p->steps, p->opt_every, (double)p->opt_tmin, (double)p->gamma, p->opt_max_it));
  if (d && d->lv.c.ens) PetscCall(PetscViewerASCIIPrintf(viewer, "latent field: %" PetscInt_FMT " channel(s) on %" PetscInt_FMT " x %" PetscInt_FMT "\n", d->lv.nc, d->lv.zg.ny, d->lv.zg.nx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Destroy_LOSDA(DaisiFilter f)
{
  Filter_LOSDA *d = (Filter_LOSDA *)f->data;

  PetscFunctionBegin;
  if (!d) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(DaisiLatentVarDestroy(&d->lv));
  PetscCall(DaisiNetDestroy(&d->model));
  PetscCall(PetscFree5(d->ub, d->u, d->u1, d->in, d->vel));
  PetscCall(PetscFree(f->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_LOSDA(DaisiFilter f)
{
  Filter_LOSDA *d = NULL;

  PetscFunctionBegin;
  if (!DAISI_FilterLOSDASample) {
    PetscCall(PetscLogEventRegister("LOSDASample", DAISI_CLASSID, &DAISI_FilterLOSDASample));
    PetscCall(PetscLogEventRegister("LOSDAOptimise", DAISI_CLASSID, &DAISI_FilterLOSDAOptimise));
  }
  PetscCall(PetscNew(&d));
  f->data                     = d;
  d->lv.c.setup               = SetUpForEnsemble;
  d->lv.c.members_from_mean   = PETSC_TRUE; /* every member from the mean background, observations as given */
  f->ops.setup             = DaisiVarSetUpOp;
  f->ops.view              = View_LOSDA;
  f->ops.destroy           = Destroy_LOSDA;
  f->ops.ensemble_analysis = EnsembleAnalysis_LOSDA;
  PetscFunctionReturn(PETSC_SUCCESS);
}
