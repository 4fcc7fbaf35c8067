/* LO-SDA (filter type losda, src/filter/losda.c) on a 16 x 16 two-level grid with small
 * random-weight networks written by the test: a VAE (latent field of 3 channels on 4 x 4) and
 * a unet on the latent grid conditioned on 3 channels, with the latent normalisation metadata
 * daisi-train -train_model latent writes.
 *  - sampler: without optimisation every member's analysis equals the decoded Euler solution of
 *    the conditional ODE computed here from the weight files (noise keyed by seed, cycle and
 *    member; the background enters only through the encoded ensemble mean), and members differ;
 *  - latent optimisation: with it, every member fits the observations better than without, a
 *    wider gamma fits them better than a narrow one, and the number of optimisations follows
 *    -losda_opt_every and -losda_opt_tmin;
 *  - layout: analyses of every (G, P) grouping against a serial run on rank 0 (float32
 *    tolerance, as the other network filters');
 *  - bad input: missing model, a model that is not conditioned on the VAE's latent channels,
 *    missing or malformed latent normalisation, a model trained on another VAE, impossible
 *    parameters: errors naming the culprit. */
#include "latenttest.h"
#include <daisi/losda.h>
#include <daisi/rng.h>

static const char help[] = "LO-SDA: sampler, latent optimisation, layouts, bad input.\n";

#define NC 3 /* latent channels */

static const char *encfile = "losda_enc.h5", *decfile = "losda_dec.h5", *encsfile = "losda_encsig.h5", *decsfile = "losda_decsig.h5";
static const char *modelfile = "losda_model.h5", *model2file = "losda_model2.h5", *modelnfile = "losda_modeln.h5", *modelbfile = "losda_modelb.h5", *modelsfile = "losda_models.h5";
static const char **files[] = {&encfile, &decfile, &encsfile, &decsfile, &modelfile, &model2file, &modelnfile, &modelbfile, &modelsfile};
#define NFILES ((PetscInt)(sizeof(files) / sizeof(files[0])))
static const PetscReal lmean[NC] = {0.1, -0.2, 0.3}, lstd[NC] = {1.5, 0.8, 1.2};

/* a random-weight unet on the latent grid z conditioned on K channels, with latent_mean and
 * latent_std metadata (NULL: none) and an optional vae_signature */
static PetscErrorCode MakeModel(MPI_Comm comm, const DaisiGrid *z, PetscInt K, const char *mean, const char *std, const char *vsig, const char path[])
{
  DaisiNet net;

  PetscFunctionBegin;
  PetscCall(LatentTestNetOptions(PETSC_TRUE, "1,2"));
  PetscCall(DaisiNetCreate(comm, &net));
  PetscCall(DaisiNetSetOptionsPrefix(net, "lt_"));
  PetscCall(DaisiNetSetFromOptions(net));
  PetscCall(DaisiNetSetType(net, "unet"));
  PetscCall(DaisiNetSetConditionChannels(net, K));
  PetscCall(DaisiNetSetUp(net, z));
  PetscCall(DaisiNetInitializeWeights(net, 31));
  if (mean) PetscCall(DaisiNetSetMetadata(net, "latent_mean", mean));
  if (std) PetscCall(DaisiNetSetMetadata(net, "latent_std", std));
  if (vsig) PetscCall(DaisiNetSetMetadata(net, "vae_signature", vsig));
  PetscCall(DaisiNetSave(net, path));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(LatentTestNetOptions(PETSC_FALSE, NULL));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetParams(DaisiFilter f, const void *p)
{
  return DaisiFilterLOSDASetParams(f, (const DaisiFilterLOSDAParams *)p);
}

static PetscErrorCode MakeFilter(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterLOSDAParams *p, DaisiFilter *f)
{
  return LatentTestMakeFilter(e, DAISI_FILTER_LOSDA, 5, vp, SetParams, p, f);
}

/* one analysis of the forecast xf (global, M members) with obs: the analysis (global, on every rank) and the statistics */
static PetscErrorCode Analyse(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterLOSDAParams *p, const DaisiObsSet *obs, const PetscReal xf[], PetscReal xa[], DaisiFilterLOSDAStats *st)
{
  DaisiFilter       f;
  DaisiEnsembleInfo info;
  DaisiGrid         g;
  PetscReal        *xs;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetInfo(e, &info));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiEnsembleGetLocalStates(e, &xs));
  for (PetscInt b = 0; b < info.nlocal; b++) {
    PetscInt m;
    PetscCall(DaisiEnsembleGetMemberIndex(e, b, &m));
    ExtractSlab(&g, xf + m * DaisiGridGlobalSize(&g), xs + b * DaisiGridLocalSize(&g));
  }
  PetscCall(DaisiEnsembleRestoreLocalStates(e, &xs));
  PetscCall(MakeFilter(e, vp, p, &f));
  PetscCall(DaisiFilterAnalysis(f, e, obs));
  if (st) PetscCall(DaisiFilterLOSDAGetStats(f, st));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiEnsembleGatherGlobal(e, xa));
  {
    MPI_Comm comm;
    PetscCall(DaisiEnsembleGetComm(e, &comm));
    PetscCallMPI(MPI_Bcast(xa, (PetscMPIInt)(info.M * DaisiGridGlobalSize(&g)), MPIU_REAL, 0, comm)); /* on every rank */
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the analysis of member m without optimisation, computed here: the Euler solution of the
 * conditional ODE from the member's noise, decoded (global result on every rank) */
static PetscErrorCode Reference(DaisiEnsemble e, const DaisiFilterLOSDAParams *p, PetscInt M, PetscInt cycle, PetscInt m, const PetscReal xf[], PetscReal xa[])
{
  LatentTestVAE  v;
  DaisiNet       model;
  PetscInt       n;
  PetscReal     *mean, *xs, *zb, *u, *u1, *in, *vel, *loc;
  const DaisiRng r = DaisiRngMake(5, DAISI_RNG_LOSDA, (uint64_t)cycle, (uint64_t)m, 0);

  PetscFunctionBegin;
  PetscCall(LatentTestVAELoad(e, encfile, decfile, &v));
  PetscCall(DaisiNetLoad(v.group, modelfile, &v.z, &model));
  n = DaisiGridGlobalSize(&v.g);
  PetscCall(PetscMalloc4(n, &mean, v.n + 1, &xs, v.nz + 1, &zb, v.nz + 1, &u));
  PetscCall(PetscMalloc4(v.nz + 1, &u1, 2 * v.nz + 1, &in, v.nz + 1, &vel, v.n + 1, &loc));
  /* the exact ensemble mean, summed in member order as the filter does */
  for (PetscInt i = 0; i < n; i++) {
    PetscReal s = 0;
    for (PetscInt k = 0; k < M; k++) s += xf[k * n + i];
    mean[i] = s / M;
  }
  ExtractSlab(&v.g, mean, xs);
  PetscCall(LatentTestVAEEncode(&v, 1, xs, zb));
  {
    const PetscInt blk = v.z.nyl * v.z.nx;
    for (PetscInt c = 0; c < NC; c++)
      for (PetscInt i = c * blk; i < (c + 1) * blk; i++) zb[i] = (zb[i] - lmean[c]) / lstd[c];
    for (PetscInt c = 0; c < NC; c++)
      for (PetscInt j = 0; j < v.z.nyl; j++) DaisiRngNormalArray(&r, (uint64_t)((c * v.z.ny + v.z.y0 + j) * v.z.nx), v.z.nx, u + (c * v.z.nyl + j) * v.z.nx);
    for (PetscInt k = 0; k < p->steps; k++) {
      const PetscReal t = (PetscReal)k / p->steps, t1 = (PetscReal)(k + 1) / p->steps;
      PetscCall(PetscArraycpy(in, u, v.nz));
      PetscCall(PetscArraycpy(in + v.nz, zb, v.nz));
      PetscCall(DaisiNetForward(model, 1, &t, in, vel));
      for (PetscInt i = 0; i < v.nz; i++) u[i] += (t1 - t) * vel[i];
    }
    for (PetscInt c = 0; c < NC; c++)
      for (PetscInt i = c * blk; i < (c + 1) * blk; i++) u[i] = lmean[c] + lstd[c] * u[i];
  }
  PetscCall(DaisiNetForward(v.dec, 1, NULL, u, loc));
  PetscCall(SlabToGlobal(e, loc, xa));
  PetscCall(PetscFree4(mean, xs, zb, u));
  PetscCall(PetscFree4(u1, in, vel, loc));
  PetscCall(DaisiNetDestroy(&model));
  PetscCall(LatentTestVAEDestroy(&v));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckSampler(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterLOSDAParams *p0, PetscInt M, const PetscReal truth[], const PetscReal xf[])
{
  DaisiFilterLOSDAParams p = *p0;
  DaisiGrid              g;
  DaisiObsSet            obs;
  PetscInt               n;
  PetscReal             *xa, *ref, *xf2;
  DaisiFilterLOSDAStats  st;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  n = DaisiGridGlobalSize(&g);
  PetscCall(PetscMalloc3(M * n, &xa, n, &ref, M * n, &xf2));
  PetscCall(SyntheticObs(&g, 0.3, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 41, 3, &obs));
  p.opt_every = 0;
  PetscCall(Analyse(e, vp, &p, &obs, xf, xa, &st));
  EXPECT(st.optimisations == 0, "no optimisation expected with -losda_opt_every 0, got %" PetscInt_FMT, st.optimisations);
  for (PetscInt m = 0; m < M; m++) {
    PetscCall(Reference(e, &p, M, 3, m, xf, ref));
    const PetscReal dif = MaxAbsDiff(n, ref, xa + m * n), mx = MaxAbs(n, ref);
    EXPECT(dif <= 1e-12 * mx && mx > 0, "member %" PetscInt_FMT ": the analysis differs from the decoded Euler solution by %g (max %g)", m, (double)dif, (double)mx);
  }
  EXPECT(MaxAbsDiff(n, xa, xa + n) > 1e-3, "members 0 and 1 have the same analysis: the noise is not per member");
  /* the forecast enters only through its mean: a changed spread with the same mean gives the same analyses */
  {
    PetscReal *keep;
    PetscCall(PetscMalloc1(M * n, &keep));
    PetscCall(PetscArraycpy(keep, xa, M * n));
    for (PetscInt i = 0; i < n; i++) {
      PetscReal s = 0;
      for (PetscInt m = 0; m < M; m++) s += xf[m * n + i];
      for (PetscInt m = 0; m < M; m++) xf2[m * n + i] = s / M + 2 * (xf[m * n + i] - s / M);
    }
    PetscCall(Analyse(e, vp, &p, &obs, xf2, xa, NULL));
    /* the doubled spread changes the mean by its rounding only, which the float32 networks may carry */
    EXPECT(MaxAbsDiff(M * n, keep, xa) <= 1e-4 * MaxAbs(M * n, keep), "the analyses depend on the forecast spread (only the mean conditions LO-SDA), by %g", (double)MaxAbsDiff(M * n, keep, xa));
    PetscCall(PetscFree(keep));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sampler: %" PetscInt_FMT " members equal the decoded Euler solutions of the conditional ODE\n", M));
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(PetscFree3(xa, ref, xf2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckOptimisation(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterLOSDAParams *p0, PetscInt M, const PetscReal truth[], const PetscReal xf[])
{
  DaisiFilterLOSDAParams p = *p0;
  DaisiEnsembleInfo      info;
  DaisiGrid              g;
  DaisiObsSet            obs;
  PetscInt               n;
  PetscReal             *x0, *x1, *x2, j0 = 0, j1 = 0, j2 = 0;
  DaisiFilterLOSDAStats  st;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetInfo(e, &info));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  n = DaisiGridGlobalSize(&g);
  PetscCall(PetscMalloc3(M * n, &x0, M * n, &x1, M * n, &x2));
  PetscCall(SyntheticObs(&g, 0.3, DAISI_OBS_OPERATOR_LINEAR, 0.5, truth, 43, 4, &obs));
  p.opt_every = 0;
  PetscCall(Analyse(e, vp, &p, &obs, xf, x0, NULL));
  p.opt_every = 1;
  p.opt_tmin  = 0;
  p.gamma     = 2;
  PetscCall(Analyse(e, vp, &p, &obs, xf, x1, &st));
  EXPECT(st.optimisations == info.nlocal * p.steps, "-losda_opt_every 1 -losda_opt_tmin 0: %" PetscInt_FMT " optimisations, expected %" PetscInt_FMT, st.optimisations, info.nlocal * p.steps);
  EXPECT(st.jo_after < st.jo_before, "the last optimisation did not lower J (%g -> %g)", (double)st.jo_before, (double)st.jo_after);
  p.gamma = 0.05;
  PetscCall(Analyse(e, vp, &p, &obs, xf, x2, NULL));
  for (PetscInt m = 0; m < M; m++) {
    PetscReal a, b, c;
    PetscCall(LatentTestObsTerm(&g, &obs, x0 + m * n, &a));
    PetscCall(LatentTestObsTerm(&g, &obs, x1 + m * n, &b));
    PetscCall(LatentTestObsTerm(&g, &obs, x2 + m * n, &c));
    EXPECT(b < a, "member %" PetscInt_FMT ": with latent optimisation the observation term is %g, without %g", m, (double)b, (double)a);
    j0 += a;
    j1 += b;
    j2 += c;
  }
  EXPECT(j1 < j2, "a wider gamma should fit the observations better: J_o %g (gamma 2) against %g (gamma 0.05)", (double)j1, (double)j2);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "optimisation: observation term summed over members %.4g without, %.4g with gamma 0.05, %.4g with gamma 2\n", (double)j0, (double)j2, (double)j1));
  /* K = 7, every 3rd step from the last, t >= 0.5: steps 6 only (step 3 has t = 3/7) */
  p.steps     = 7;
  p.opt_every = 3;
  p.opt_tmin  = 0.5;
  PetscCall(Analyse(e, vp, &p, &obs, xf, x2, &st));
  EXPECT(st.optimisations == info.nlocal, "K 7, every 3rd step, t >= 0.5: %" PetscInt_FMT " optimisations, expected one per member (%" PetscInt_FMT ")", st.optimisations, info.nlocal);
  p.opt_tmin = 0.4;
  PetscCall(Analyse(e, vp, &p, &obs, xf, x2, &st));
  EXPECT(st.optimisations == 2 * info.nlocal, "K 7, every 3rd step, t >= 0.4: %" PetscInt_FMT " optimisations, expected two per member (steps 3 and 6)", st.optimisations);
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(PetscFree3(x0, x1, x2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* every (G, P) grouping of the world against a serial run on rank 0 */
static PetscErrorCode RunLayout(MPI_Comm comm, PetscInt M, PetscInt G, const DaisiFilterVar3dParams *vp, const DaisiFilterLOSDAParams *p, const PetscReal truth[], const PetscReal xf[], PetscReal result[])
{
  DaisiEnsemble e;
  DaisiGrid     g;
  DaisiObsSet   obs;

  PetscFunctionBegin;
  PetscCall(MakeEnsemble(comm, M, G, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(SyntheticObs(&g, 0.3, DAISI_OBS_OPERATOR_SQUARED, 1.0, truth, 47, 2, &obs));
  PetscCall(Analyse(e, vp, p, &obs, xf, result, NULL));
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckLayouts(PetscInt n, PetscInt M, const DaisiFilterVar3dParams *vp0, const DaisiFilterLOSDAParams *p, const PetscReal truth[], const PetscReal xf[])
{
  DaisiFilterVar3dParams vp = *vp0;
  PetscMPIInt            size, rank;
  PetscReal             *ref = NULL, *res;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  /* fixed iteration counts: every layout takes the same steps (see test_l3dvar.c) */
  vp.gatol = 0;
  vp.gttol = 0;
  PetscCall(PetscMalloc1(M * n, &res));
  if (!rank) {
    PetscCall(PetscMalloc1(M * n, &ref));
    PetscCall(RunLayout(PETSC_COMM_SELF, M, 1, &vp, p, truth, xf, ref));
  }
  for (PetscInt G = 1; G <= size; G++) {
    if (size % G) continue;
    PetscCall(RunLayout(PETSC_COMM_WORLD, M, G, &vp, p, truth, xf, res));
    if (!rank) {
      const PetscReal dif = MaxAbsDiff(M * n, ref, res), mx = MaxAbs(M * n, ref);
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "layout G=%" PetscInt_FMT " P=%" PetscInt_FMT ": max diff from the serial run %.1e of max |x| %.1f K\n", G, (PetscInt)size / G, (double)dif, (double)mx));
      /* float32 VJPs sum in another order when the rows are split on some CPUs (AVX2: 3e-7
       * relative), and the latent optimisations amplify it (1.4e-4 of max |x| seen for P = 4);
       * a wrong split or halo gives errors of order max |x| */
      EXPECT(dif <= 1e-3 * mx, "layout G=%" PetscInt_FMT " P=%" PetscInt_FMT ": analysis differs from the serial run by %g (float32 networks)", G, (PetscInt)size / G, (double)dif);
    }
  }
  PetscCall(PetscFree(ref));
  PetscCall(PetscFree(res));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the error of a refused set-up or parameter check */
static PetscErrorCode TrySetUp(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterLOSDAParams *p)
{
  return LatentTestTrySetUp(e, DAISI_FILTER_LOSDA, 5, vp, SetParams, p);
}

static PetscErrorCode TrySetParams(const DaisiFilterLOSDAParams *p)
{
  return LatentTestTrySetParams(DAISI_FILTER_LOSDA, SetParams, p);
}

static PetscErrorCode CheckBadInput(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterLOSDAParams *def)
{
  DaisiFilterLOSDAParams p;

  PetscFunctionBegin;
  p = *def;
  PetscCall(PetscStrncpy(p.model, "losda_missing.h5", sizeof(p.model)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-losda_model losda_missing.h5", "no such file");
  p.model[0] = 0;
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "needs its conditional latent model", "-losda_model");
  p = *def;
  PetscCall(PetscStrncpy(p.model, model2file, sizeof(p.model)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), model2file, "2 condition channel");
  PetscCall(PetscStrncpy(p.model, modelnfile, sizeof(p.model)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), modelnfile, "has no metadata latent_std");
  PetscCall(PetscStrncpy(p.model, modelbfile, sizeof(p.model)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), modelbfile, "latent_mean \"0.1,0.2\" is not 3 comma-separated numbers");
  PetscCall(PetscStrncpy(p.model, modelsfile, sizeof(p.model)));
  PetscCall(PetscStrncpy(p.encoder, encsfile, sizeof(p.encoder)));
  PetscCall(PetscStrncpy(p.decoder, decsfile, sizeof(p.decoder)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), modelsfile, "another VAE");
  p = *def;
  PetscCall(PetscStrncpy(p.decoder, "losda_nodec.h5", sizeof(p.decoder)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-losda_decoder losda_nodec.h5", "no such file");
  p       = *def;
  p.steps = 0;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-losda_steps", "at least 1");
  p       = *def;
  p.gamma = 0;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-losda_gamma", "positive");
  p          = *def;
  p.opt_tmin = 1;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-losda_opt_tmin", "[0, 1)");
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  DaisiEnsemble          e;
  DaisiGrid              g;
  DaisiFilterVar3dParams vp;
  DaisiFilterLOSDAParams def;
  PetscInt               G = 1, n;
  const PetscInt         M = 4;
  PetscReal             *truth, *xf;
  PetscBool              layout = PETSC_TRUE;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(LatentTestUniqueNames(NFILES, files));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ens_groups", &G, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-test_layout", &layout, NULL));
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, G, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  n = DaisiGridGlobalSize(&g);
  PetscCheck(g.nx == 16 && g.ny == 16 && g.nlev == 2, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "run with -sqg_n 16");
  {
    /* the networks are written from a one-group layout of the world (the files do not depend on it) */
    DaisiEnsemble e1;
    DaisiGrid     g1, z;
    DaisiNet      dec;
    MPI_Comm      group;
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, 2, 1, &e1));
    PetscCall(DaisiEnsembleGetGrid(e1, &g1));
    PetscCall(DaisiEnsembleGetGroupComm(e1, &group));
    PetscCall(LatentTestMakeVAENet(group, &g1, "encoder", NC, 11, 0, NULL, encfile));
    PetscCall(LatentTestMakeVAENet(group, &g1, "decoder", NC, 12, 0, NULL, decfile));
    PetscCall(LatentTestMakeVAENet(group, &g1, "encoder", NC, 11, 0, "run A model=vae", encsfile));
    PetscCall(LatentTestMakeVAENet(group, &g1, "decoder", NC, 12, 0, "run A model=vae", decsfile));
    PetscCall(DaisiNetLoad(group, decfile, &g1, &dec));
    PetscCall(DaisiNetGetLatentGrid(dec, &z));
    PetscCall(DaisiNetDestroy(&dec));
    PetscCall(MakeModel(group, &z, NC, "0.1,-0.2,0.3", "1.5,0.8,1.2", NULL, modelfile));
    PetscCall(MakeModel(group, &z, 2, "0.1,-0.2,0.3", "1.5,0.8,1.2", NULL, model2file));
    PetscCall(MakeModel(group, &z, NC, "0.1,-0.2,0.3", NULL, NULL, modelnfile));
    PetscCall(MakeModel(group, &z, NC, "0.1,0.2", "1.5,0.8,1.2", NULL, modelbfile));
    PetscCall(MakeModel(group, &z, NC, "0.1,-0.2,0.3", "1.5,0.8,1.2", "run B model=vae", modelsfile));
    PetscCall(DaisiEnsembleDestroy(&e1));
  }
  PetscCall(PetscMalloc2(n, &truth, M * n, &xf));
  SyntheticTruth(&g, 3, truth);
  SyntheticEnsemble(&g, M, 4, truth, xf);
  PetscCall(DaisiFilterVar3dParamsDefault(&vp));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-var3d_monitor", &vp.monitor, NULL));
  PetscCall(DaisiFilterLOSDAParamsDefault(&def));
  PetscCall(PetscStrncpy(def.model, modelfile, sizeof(def.model)));
  PetscCall(PetscStrncpy(def.encoder, encfile, sizeof(def.encoder)));
  PetscCall(PetscStrncpy(def.decoder, decfile, sizeof(def.decoder)));
  def.steps      = 6;
  def.opt_max_it = 8;

  PetscCall(CheckSampler(e, &vp, &def, M, truth, xf));
  PetscCall(CheckOptimisation(e, &vp, &def, M, truth, xf));
  PetscCall(CheckBadInput(e, &vp, &def));
  PetscCall(DaisiEnsembleDestroy(&e));
  if (layout) PetscCall(CheckLayouts(n, M, &vp, &def, truth, xf));

  PetscCall(PetscFree2(truth, xf));
  PetscCall(LatentTestFreeNames(NFILES, files));
  PetscCall(FinishTest("test_losda"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
