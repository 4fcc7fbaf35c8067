/* The latent 3DVar baseline (filter type l3dvar, src/filter/l3dvar.c) on a 16 x 16 two-level
 * grid with a small random-weight variational autoencoder written by the test (encoder and
 * decoder of base width 4, 3 levels: a latent field of 3 channels on 4 x 4, so 3 and 4 ranks
 * hold uneven and empty latent slabs; per-level state normalisation as daisi-train stores it;
 * helpers shared with the LO-SDA test in latenttest.h):
 *  - gradient: the objective's gradient against central finite differences of J (linear,
 *    squared and arctan h; the networks are float32, tolerance 2e-3 as the network tests'), and
 *    J(0) against the observation term of D(E(x_b)) computed here from the weight files;
 *  - analyses: observation errors 1e8 K give z_a = z_b, x_a = D(E(mean)) exactly (mean mode);
 *    with sigma 1 K the minimiser converges, J decreases and the analysis fits the observations
 *    better than D(E(x_b)) (mean and members modes);
 *  - B_z: NMC-style lagged differences of a climatology file and encoded background errors of a
 *    diagnostics file against the same variances computed here from the encoder (and the scale);
 *  - layout: analyses of every (G, P) grouping against a serial run on rank 0 (float32
 *    tolerance, as the DAISI layout test's network case);
 *  - bad input: missing files, networks that are not a pair (latent channels, normalisation,
 *    training signature), a network of the wrong type, B_z of the wrong size or sign, missing
 *    or doubled B_z sources, a climatology on another grid: errors naming the culprit. */
#include "daisitest.h"
#include "latenttest.h"
#include <daisi/diagfile.h>
#include <daisi/l3dvar.h>
#include <daisi/nn.h>
#include <daisi/statefile.h>

static const char help[] = "Latent 3DVar: gradients, analyses, B_z estimates, layouts, bad input.\n";

#define NC 3 /* latent channels */

static const char *encfile = "l3dvar_enc.h5", *decfile = "l3dvar_dec.h5", *dec2file = "l3dvar_dec2.h5", *decnfile = "l3dvar_decnorm.h5", *decsfile = "l3dvar_decsig.h5", *encsfile = "l3dvar_encsig.h5";
static const char *climfile = "l3dvar_clim.h5", *clim8file = "l3dvar_clim8.h5", *diagfile = "l3dvar_diag.h5";
static const char **files[] = {&encfile, &decfile, &dec2file, &decnfile, &decsfile, &encsfile, &climfile, &clim8file, &diagfile};
#define NFILES ((PetscInt)(sizeof(files) / sizeof(files[0])))

/* state s of a synthetic nature run (global array): moving waves plus noise */
static void NatureState(const DaisiGrid *g, PetscInt s, PetscReal x[])
{
  const DaisiRng r = DaisiRngMake(21, DAISI_RNG_TEST, 40, (uint64_t)s, 0);
  for (PetscInt l = 0; l < g->nlev; l++)
    for (PetscInt y = 0; y < g->ny; y++)
      for (PetscInt i = 0; i < g->nx; i++) {
        const PetscInt gi = (l * g->ny + y) * g->nx + i;
        x[gi] = 6 * PetscSinReal(2 * PETSC_PI * (i + 0.7 * s) / g->nx + 0.5 * l) * PetscCosReal(2 * PETSC_PI * (y - 0.3 * s) / g->ny) + 2 * PetscCosReal(2 * PETSC_PI * (2 * i + y + s) / g->nx) + 0.5 * DaisiRngNormal(&r, (uint64_t)gi);
      }
}

/* a diagnostics file of nk cycles, cycle k = k + 1, ens_mean_b = nature state k + 1 + a smooth error */
static PetscErrorCode WriteDiag(const DaisiGrid *g, PetscInt nk, const char path[])
{
  DaisiDiagFile d;
  PetscReal    *x;
  const PetscInt n = DaisiGridGlobalSize(g);

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(n, &x));
  PetscCall(DaisiDiagFileOpen(PETSC_COMM_WORLD, path, g, nk, 0, NULL, 0, 0, 0, PETSC_FALSE, &d));
  for (PetscInt k = 0; k < nk; k++) {
    const DaisiRng r = DaisiRngMake(22, DAISI_RNG_TEST, 41, (uint64_t)k, 0);
    NatureState(g, k + 1, x);
    for (PetscInt i = 0; i < n; i++) x[i] += 1.5 * PetscSinReal(2 * PETSC_PI * (i % g->nx) / g->nx + k) + 0.3 * DaisiRngNormal(&r, (uint64_t)i);
    PetscCall(DaisiDiagFileWriteSeries(d, k, k + 1, 3600.0 * (k + 1), NULL));
    PetscCall(DaisiDiagFileWriteField(d, "ens_mean_b", k, x));
  }
  PetscCall(DaisiDiagFileClose(&d));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* per channel variance (about the mean, 1/N) of K latent fields dz (slab layout), over the group */
static PetscErrorCode LatentVariances(LatentTestVAE *v, PetscInt K, const PetscReal dz[], PetscReal var[])
{
  PetscReal s[2 * NC] = {0};

  PetscFunctionBegin;
  for (PetscInt k = 0; k < K; k++)
    for (PetscInt c = 0; c < NC; c++)
      for (PetscInt i = 0; i < v->z.nyl * v->z.nx; i++) {
        const PetscReal a = dz[k * v->nz + c * v->z.nyl * v->z.nx + i];
        s[c] += a;
        s[NC + c] += a * a;
      }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, 2 * NC, MPIU_REAL, MPI_SUM, v->group));
  for (PetscInt c = 0; c < NC; c++) {
    const PetscReal N = (PetscReal)K * v->z.ny * v->z.nx;
    var[c]            = s[NC + c] / N - (s[c] / N) * (s[c] / N);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetParams(DaisiFilter f, const void *p)
{
  return DaisiFilterL3dvarSetParams(f, (const DaisiFilterL3dvarParams *)p);
}

static PetscErrorCode MakeFilter(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterL3dvarParams *p, DaisiFilter *f)
{
  return LatentTestMakeFilter(e, DAISI_FILTER_L3DVAR, 0, vp, SetParams, p, f);
}

/* central differences of J against the gradient; J(0) against the observation term of D(E(x_b)) */
static PetscErrorCode CheckGradient(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterL3dvarParams *p, DaisiObsOperatorType op, PetscReal sigma, const PetscReal truth[], const PetscReal xbg[])
{
  DaisiFilter       f = NULL;
  DaisiEnsembleInfo in;
  DaisiObsSet       obs;
  LatentTestVAE     vae;
  PetscInt          nv;
  PetscReal        *v, *dv, *gr, *vp0, *xb, *z, *x0, *x0g, *xt, J, Jp[2], Jm[2], J0, Jd, an, fd;
  const PetscReal   eps = 1e-2;

  PetscFunctionBegin;
  PetscCall(MakeFilter(e, vp, p, &f));
  PetscCall(LatentTestVAELoad(e, encfile, decfile, &vae));
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(DaisiFilterL3dvarGetControlSize(f, e, &nv));
  EXPECT(nv == vae.nz, "control size %" PetscInt_FMT " on this rank, the latent field has %" PetscInt_FMT " values here", nv, vae.nz);
  PetscCall(PetscMalloc7(nv + 1, &v, nv + 1, &dv, nv + 1, &gr, nv + 1, &vp0, vae.n + 1, &xb, vae.nz + 1, &z, vae.n + 1, &x0));
  PetscCall(PetscMalloc2(DaisiGridGlobalSize(&vae.g), &x0g, DaisiGridGlobalSize(&vae.g), &xt));
  ExtractSlab(&vae.g, xbg, xb);
  {
    const DaisiRng r = DaisiRngMake(6, DAISI_RNG_TEST, 31, (uint64_t)in.rank, 0);
    for (PetscInt i = 0; i < nv; i++) {
      v[i]  = 0.5 * DaisiRngNormal(&r, i);
      dv[i] = DaisiRngNormal(&r, 100000 + i);
    }
  }
  /* J(0) = the observation term of D(E(x_b)), from the weight files; observations of the truth
   * pulled towards D(E(x_b)), so that J stays moderate and its float32 round-off small */
  PetscCall(LatentTestVAEEncode(&vae, 1, xb, z));
  PetscCall(DaisiNetForward(vae.dec, 1, NULL, z, x0));
  PetscCall(SlabToGlobal(e, x0, x0g));
  for (PetscInt i = 0; i < DaisiGridGlobalSize(&vae.g); i++) xt[i] = 0.8 * x0g[i] + 0.2 * truth[i];
  PetscCall(SyntheticObs(&vae.g, 0.2, op, sigma, xt, 9, 3, &obs));
  PetscCall(LatentTestObsTerm(&vae.g, &obs, x0g, &Jd));
  PetscCall(PetscArrayzero(vp0, nv));
  PetscCall(DaisiFilterL3dvarObjective(f, e, &obs, xb, vp0, &J0, NULL));
  EXPECT(PetscAbsReal(J0 - Jd) <= 1e-12 * Jd, "%s: J(0) = %.15g, the observation term of D(E(x_b)) %.15g", op, (double)J0, (double)Jd);
  PetscCall(DaisiFilterL3dvarObjective(f, e, &obs, xb, v, &J, gr));
  an = GroupDot(vae.group, nv, gr, dv);
  /* fourth-order central differences (truncation ~ eps^4) */
  for (PetscInt k = 0; k < 2; k++) {
    for (PetscInt i = 0; i < nv; i++) vp0[i] = v[i] + (k + 1) * eps * dv[i];
    PetscCall(DaisiFilterL3dvarObjective(f, e, &obs, xb, vp0, &Jp[k], NULL));
    for (PetscInt i = 0; i < nv; i++) vp0[i] = v[i] - (k + 1) * eps * dv[i];
    PetscCall(DaisiFilterL3dvarObjective(f, e, &obs, xb, vp0, &Jm[k], NULL));
  }
  fd = (8 * (Jp[0] - Jm[0]) - (Jp[1] - Jm[1])) / (12 * eps);
  EXPECT(PetscAbsReal(fd - an) <= 2e-3 * PetscAbsReal(an), "%s: gradient . d = %.10g, finite differences %.10g", op, (double)an, (double)fd);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "gradient %-7s: J(0) %.6g (D(E(x_b)) %.6g), J(v) %.6g, g.d %.8g, FD %.8g, rel. diff %.1e\n", op, (double)J0, (double)Jd, (double)J, (double)an, (double)fd, (double)(PetscAbsReal(fd - an) / PetscAbsReal(an))));
  PetscCall(PetscFree7(v, dv, gr, vp0, xb, z, x0));
  PetscCall(PetscFree2(x0g, xt));
  PetscCall(LatentTestVAEDestroy(&vae));
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscReal MeanSq(PetscInt n, const PetscReal a[], const PetscReal b[])
{
  PetscReal s = 0;
  for (PetscInt i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s / n;
}

/* one analysis (global xf in, xa out on every rank) and its statistics */
static PetscErrorCode Analyse(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterL3dvarParams *p, const DaisiObsSet *obs, const PetscReal xf[], PetscReal xa[], DaisiFilterVar3dStats *st)
{
  DaisiFilter       f = NULL;
  DaisiEnsembleInfo in;
  MPI_Comm          comm;

  PetscFunctionBegin;
  PetscCall(MakeFilter(e, vp, p, &f));
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(DaisiEnsembleGetComm(e, &comm));
  PetscCall(DaisiEnsembleSetGlobal(e, xf));
  PetscCall(DaisiFilterAnalysis(f, e, obs));
  if (st) PetscCall(DaisiFilterL3dvarGetStats(f, st));
  PetscCall(DaisiEnsembleGatherGlobal(e, xa));
  PetscCallMPI(MPI_Bcast(xa, (PetscMPIInt)(in.M * in.nglobal), MPIU_REAL, 0, comm));
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckAnalyses(DaisiEnsemble e, const DaisiFilterVar3dParams *vp0, const DaisiFilterL3dvarParams *p, const PetscReal truth[], const PetscReal xf[])
{
  DaisiEnsembleInfo      in;
  DaisiFilterVar3dParams vp = *vp0;
  DaisiFilterVar3dStats  st;
  DaisiObsSet            obs;
  LatentTestVAE          vae;
  PetscInt               n, M;
  PetscReal             *xa, *mb, *mbl, *z, *xr, *xrg, *xtg, err = 0, mx = 0, eb;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetInfo(e, &in));
  PetscCall(LatentTestVAELoad(e, encfile, decfile, &vae));
  n = in.nglobal;
  M = in.M;
  PetscCall(PetscMalloc7(M * n, &xa, n, &mb, vae.n + 1, &mbl, vae.nz + 1, &z, vae.n + 1, &xr, n, &xrg, n, &xtg));
  MeanCov(M, n, xf, mb, NULL);
  ExtractSlab(&vae.g, mb, mbl);
  PetscCall(LatentTestVAEEncode(&vae, 1, mbl, z));
  PetscCall(DaisiNetForward(vae.dec, 1, NULL, z, xr));
  PetscCall(SlabToGlobal(e, xr, xrg)); /* D(E(background mean)) */

  /* observations useless: z_a = z_b, every member D(E(mean)) (perturbation scale 0) */
  PetscCall(SyntheticObs(&vae.g, 0.2, DAISI_OBS_OPERATOR_LINEAR, 1e8, truth, 8, 2, &obs));
  for (PetscInt o = 0; o < obs.nobs; o++) obs.value[o] = truth[(obs.lev[o] * vae.g.ny + obs.iy[o]) * vae.g.nx + obs.ix[o]]; /* no noise: residuals of a few K */
  PetscCall(Analyse(e, &vp, p, &obs, xf, xa, &st));
  for (PetscInt m = 0; m < M; m++)
    for (PetscInt i = 0; i < n; i++) {
      err = PetscMax(err, PetscAbsReal(xa[m * n + i] - xrg[i]));
      mx  = PetscMax(mx, PetscAbsReal(xrg[i]));
    }
  EXPECT(err <= 1e-12 * mx, "sigma 1e8: the analysis differs from D(E(background mean)) by %g (max %g)", (double)err, (double)mx);
  EXPECT(st.iterations == 0, "sigma 1e8: %" PetscInt_FMT " TAO iterations, 0 expected (|grad J(0)| ~ 1e-16)", st.iterations);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sigma 1e8: max |x_a - D(E(x_b))| %.1e of %.3g, %" PetscInt_FMT " iterations\n", (double)err, (double)mx, st.iterations));
  PetscCall(DaisiObsSetDestroy(&obs));

  /* a truth the decoder can represent, x_t = D(z_b + delta), observed with sigma 0.5 K: the
   * minimiser converges, J decreases, and the analysis is much closer to x_t than D(z_b) */
  {
    const DaisiRng r = DaisiRngMake(23, DAISI_RNG_TEST, 42, 0, 0);
    const PetscInt blk = vae.z.nyl * vae.z.nx;
    for (PetscInt c = 0; c < NC; c++)
      for (PetscInt i = 0; i < blk; i++) {
        const PetscInt gz = (c * vae.z.ny + vae.z.y0 + i / vae.z.nx) * vae.z.nx + i % vae.z.nx; /* global latent index */
        z[c * blk + i] += 0.5 * PetscSqrtReal(p->var[c]) * DaisiRngNormal(&r, (uint64_t)gz);
      }
    PetscCall(DaisiNetForward(vae.dec, 1, NULL, z, xr));
    PetscCall(SlabToGlobal(e, xr, xtg));
  }
  PetscCall(SyntheticObs(&vae.g, 0.3, DAISI_OBS_OPERATOR_LINEAR, 0.5, xtg, 8, 2, &obs));
  eb = PetscSqrtReal(MeanSq(n, xrg, xtg));
  for (PetscInt mode = 0; mode < 2; mode++) {
    PetscReal ea;
    vp.mode = mode ? DAISI_FILTER_VAR3D_MEMBERS : DAISI_FILTER_VAR3D_MEAN;
    PetscCall(Analyse(e, &vp, p, &obs, xf, xa, &st));
    MeanCov(M, n, xa, mb, NULL);
    ea = PetscSqrtReal(MeanSq(n, mb, xtg));
    EXPECT(st.worst > 0, "%s mode: a minimisation did not converge (TAO reason %" PetscInt_FMT ")", mode ? "members" : "mean", st.worst);
    EXPECT(st.J < 0.2 * st.J0, "%s mode: J %g -> %g", mode ? "members" : "mean", (double)st.J0, (double)st.J);
    EXPECT(st.solves == (mode ? in.nlocal : 1), "%s mode: %" PetscInt_FMT " solves on this group", mode ? "members" : "mean", st.solves);
    EXPECT(ea < 0.5 * eb, "%s mode: RMSE of the analysis mean against x_t %g, of D(E(x_b)) %g", mode ? "members" : "mean", (double)ea, (double)eb);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-7s mode, x_t = D(z_b + delta): %" PetscInt_FMT " solve(s), %" PetscInt_FMT " iterations, J %.5g -> %.5g; RMSE to x_t: analysis mean %.3g, D(E(x_b)) %.3g\n", mode ? "members" : "mean", st.solves, st.iterations, (double)st.J0, (double)st.J, (double)ea, (double)eb));
  }
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(PetscFree7(xa, mb, mbl, z, xr, xrg, xtg));
  PetscCall(LatentTestVAEDestroy(&vae));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* B_z from NMC differences and from background errors against the encoder run here */
static PetscErrorCode CheckBz(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterL3dvarParams *p0, PetscInt ntime, PetscInt ncycle)
{
  DaisiFilterL3dvarParams p;
  DaisiFilter             f = NULL;
  LatentTestVAE           vae;
  PetscReal              *xg, *x, *z, *dz, ref[NC], got[NC], err;
  PetscInt                nc, K;

  PetscFunctionBegin;
  PetscCall(LatentTestVAELoad(e, encfile, decfile, &vae));
  PetscCall(PetscMalloc4(vae.g.nlev * vae.g.ny * vae.g.nx, &xg, 2 * vae.n + 1, &x, 2 * vae.nz + 1, &z, (ntime + ncycle) * vae.nz + 1, &dz));
  /* NMC: lag 2, from 1 in steps of 3, as many as fit; scale 0.5 */
  p      = *p0;
  p.nvar = 0;
  PetscCall(PetscStrncpy(p.climatology, climfile, sizeof(p.climatology)));
  p.first  = 1;
  p.lag    = 2;
  p.stride = 3;
  p.scale  = 0.5;
  K        = 0;
  for (PetscInt t = p.first; t + p.lag < ntime; t += p.stride, K++) {
    NatureState(&vae.g, t, xg);
    ExtractSlab(&vae.g, xg, x);
    NatureState(&vae.g, t + p.lag, xg);
    ExtractSlab(&vae.g, xg, x + vae.n);
    PetscCall(LatentTestVAEEncode(&vae, 2, x, z));
    for (PetscInt i = 0; i < vae.nz; i++) dz[K * vae.nz + i] = z[vae.nz + i] - z[i];
  }
  PetscCall(LatentVariances(&vae, K, dz, ref));
  PetscCall(MakeFilter(e, vp, &p, &f));
  PetscCall(DaisiFilterL3dvarGetVariances(f, e, &nc, got));
  PetscCall(DaisiFilterDestroy(&f));
  err = 0;
  for (PetscInt c = 0; c < NC; c++) err = PetscMax(err, PetscAbsReal(got[c] - 0.5 * ref[c]) / (0.5 * ref[c]));
  EXPECT(nc == NC && err <= 1e-10, "NMC B_z: %" PetscInt_FMT " channels, relative error %g against the encoder run here (%g %g %g vs %g %g %g)", nc, (double)err, (double)got[0], (double)got[1], (double)got[2], 0.5 * ref[0], 0.5 * ref[1], 0.5 * ref[2]);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "B_z NMC (%" PetscInt_FMT " differences): %.6g %.6g %.6g, relative error %.1e\n", K, (double)got[0], (double)got[1], (double)got[2], (double)err));

  /* background errors: cycles k + 1, k = 0..ncycle-1, from cycle 2 on */
  p      = *p0;
  p.nvar = 0;
  PetscCall(PetscStrncpy(p.errors, diagfile, sizeof(p.errors)));
  PetscCall(PetscStrncpy(p.truth, climfile, sizeof(p.truth)));
  p.first_cycle = 2;
  K             = 0;
  for (PetscInt k = 0; k < ncycle; k++) {
    const DaisiRng r = DaisiRngMake(22, DAISI_RNG_TEST, 41, (uint64_t)k, 0);
    const PetscInt N = DaisiGridGlobalSize(&vae.g);
    if (k + 1 < p.first_cycle) continue;
    NatureState(&vae.g, k + 1, xg);
    ExtractSlab(&vae.g, xg, x + vae.n);
    for (PetscInt i = 0; i < N; i++) xg[i] += 1.5 * PetscSinReal(2 * PETSC_PI * (i % vae.g.nx) / vae.g.nx + k) + 0.3 * DaisiRngNormal(&r, (uint64_t)i);
    ExtractSlab(&vae.g, xg, x);
    PetscCall(LatentTestVAEEncode(&vae, 2, x, z));
    for (PetscInt i = 0; i < vae.nz; i++) dz[K * vae.nz + i] = z[i] - z[vae.nz + i];
    K++;
  }
  PetscCall(LatentVariances(&vae, K, dz, ref));
  PetscCall(MakeFilter(e, vp, &p, &f));
  PetscCall(DaisiFilterL3dvarGetVariances(f, e, &nc, got));
  PetscCall(DaisiFilterDestroy(&f));
  err = 0;
  for (PetscInt c = 0; c < NC; c++) err = PetscMax(err, PetscAbsReal(got[c] - ref[c]) / ref[c]);
  EXPECT(err <= 1e-10, "background-error B_z: relative error %g against the encoder run here (%g %g %g vs %g %g %g)", (double)err, (double)got[0], (double)got[1], (double)got[2], ref[0], ref[1], ref[2]);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "B_z background errors (%" PetscInt_FMT " cycles): %.6g %.6g %.6g, relative error %.1e\n", K, (double)got[0], (double)got[1], (double)got[2], (double)err));
  PetscCall(PetscFree4(xg, x, z, dz));
  PetscCall(LatentTestVAEDestroy(&vae));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* every (G, P) grouping of the world against a serial run on rank 0 (two cycles: mean mode with
 * squared h, then members mode with linear h) */
static PetscErrorCode RunLayout(MPI_Comm comm, PetscInt M, PetscInt G, const DaisiFilterVar3dParams *vp0, const DaisiFilterL3dvarParams *p, PetscReal result[])
{
  DaisiEnsemble          e;
  DaisiFilter            f;
  DaisiGrid              g;
  DaisiFilterVar3dParams vp = *vp0;
  PetscReal             *truth, *tloc, *z;
  LatentTestVAE          vae;

  PetscFunctionBegin;
  PetscCall(MakeEnsemble(comm, M, G, &e));
  PetscCall(DaisiEnsembleSetSeed(e, 17));
  PetscCall(DaisiEnsembleSetInitSigma(e, 1.0));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(LatentTestVAELoad(e, encfile, decfile, &vae));
  PetscCall(PetscMalloc3(DaisiGridGlobalSize(&g), &truth, PetscMax(1, DaisiGridLocalSize(&g)), &tloc, vae.nz + 1, &z));
  /* a truth the decoder can represent: D(E(synthetic truth) + delta) (delta keyed by the global latent index) */
  SyntheticTruth(&g, 9, truth);
  ExtractSlab(&g, truth, tloc);
  PetscCall(LatentTestVAEEncode(&vae, 1, tloc, z));
  {
    const DaisiRng r   = DaisiRngMake(24, DAISI_RNG_TEST, 43, 0, 0);
    const PetscInt blk = vae.z.nyl * vae.z.nx;
    for (PetscInt c = 0; c < NC; c++)
      for (PetscInt i = 0; i < blk; i++) z[c * blk + i] += 0.3 * PetscSqrtReal(p->var[c]) * DaisiRngNormal(&r, (uint64_t)((c * vae.z.ny + vae.z.y0 + i / vae.z.nx) * vae.z.nx + i % vae.z.nx));
  }
  PetscCall(DaisiNetForward(vae.dec, 1, NULL, z, tloc));
  PetscCall(SlabToGlobal(e, tloc, truth));
  PetscCall(LatentTestVAEDestroy(&vae));
  PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
  for (PetscInt cycle = 1; cycle <= 2; cycle++) {
    DaisiObsSet obs;
    vp.mode       = cycle == 1 ? DAISI_FILTER_VAR3D_MEAN : DAISI_FILTER_VAR3D_MEMBERS;
    vp.pert_scale = 1;
    PetscCall(DaisiFilterCreate(comm, &f));
    PetscCall(DaisiFilterSetType(f, DAISI_FILTER_L3DVAR));
    PetscCall(DaisiFilterSetInflation(f, 1.1));
    PetscCall(DaisiFilterVar3dSetParams(f, &vp));
    PetscCall(DaisiFilterL3dvarSetParams(f, p));
    PetscCall(DaisiFilterSetEnsemble(f, e));
    PetscCall(DaisiFilterSetUp(f));
    PetscCall(SyntheticObs(&g, 0.2, cycle == 1 ? DAISI_OBS_OPERATOR_SQUARED : DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, 70 + cycle, cycle, &obs));
    PetscCall(DaisiFilterAnalysis(f, e, &obs));
    PetscCall(DaisiObsSetDestroy(&obs));
    PetscCall(DaisiFilterDestroy(&f));
  }
  PetscCall(DaisiEnsembleGatherGlobal(e, result));
  PetscCall(PetscFree3(truth, tloc, z));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckLayouts(PetscInt n, const DaisiFilterVar3dParams *vp0, const DaisiFilterL3dvarParams *p)
{
  DaisiFilterVar3dParams vp1 = *vp0, *vp = &vp1;
  const PetscInt         M   = 5;
  PetscMPIInt            size, rank;
  PetscReal             *ref = NULL, *res;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  /* a fixed number of iterations: every layout takes the same steps, so the analyses differ by the
   * float32 rounding of the networks carried through them (converged minimisations stop on that
   * rounding's noise floor, at layout-dependent iterations) */
  vp1.gatol  = 0;
  vp1.gttol  = 0;
  vp1.max_it = 12;
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_layout_max_it", &vp1.max_it, NULL));
  PetscCall(PetscMalloc1(M * n, &res));
  if (!rank) {
    PetscCall(PetscMalloc1(M * n, &ref));
    PetscCall(RunLayout(PETSC_COMM_SELF, M, 1, vp, p, ref));
  }
  for (PetscInt G = 1; G <= size; G++) {
    if (size % G) continue;
    PetscCall(RunLayout(PETSC_COMM_WORLD, M, G, vp, p, res));
    if (!rank) {
      const PetscReal dif = MaxAbsDiff(M * n, ref, res), mx = MaxAbs(M * n, ref);
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "layout G=%" PetscInt_FMT " P=%" PetscInt_FMT ": max diff from the serial run %.1e of max |x| %.1f K\n", G, (PetscInt)size / G, (double)dif, (double)mx));
      EXPECT(dif <= 1e-4 * mx, "layout G=%" PetscInt_FMT " P=%" PetscInt_FMT ": analysis differs from the serial run by %g (float32 networks)", G, (PetscInt)size / G, (double)dif);
      EXPECT(mx > 1 && mx < 100, "layout: implausible analysis, max |x| = %g K", (double)mx);
    }
  }
  PetscCall(PetscFree(ref));
  PetscCall(PetscFree(res));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the error of a refused set-up or parameter check */
static PetscErrorCode TrySetUp(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterL3dvarParams *p)
{
  return LatentTestTrySetUp(e, DAISI_FILTER_L3DVAR, 0, vp, SetParams, p);
}

static PetscErrorCode TrySetParams(const DaisiFilterL3dvarParams *p)
{
  return LatentTestTrySetParams(DAISI_FILTER_L3DVAR, SetParams, p);
}

static PetscErrorCode CheckBadInput(DaisiEnsemble e, const DaisiFilterVar3dParams *vp, const DaisiFilterL3dvarParams *def)
{
  DaisiFilterL3dvarParams p;

  PetscFunctionBegin;
  p = *def;
  PetscCall(PetscStrncpy(p.encoder, "no_such_encoder.h5", sizeof(p.encoder)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-l3dvar_encoder no_such_encoder.h5", "no such file");
  p.encoder[0] = 0;
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-l3dvar_encoder", "not given");
  p = *def;
  PetscCall(PetscStrncpy(p.decoder, dec2file, sizeof(p.decoder)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), dec2file, "2 on 4 x 4");
  PetscCall(PetscStrncpy(p.decoder, decnfile, sizeof(p.decoder)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), decnfile, "normalisation of level 0 differs");
  PetscCall(PetscStrncpy(p.decoder, encfile, sizeof(p.decoder)));
  {
    char what[PETSC_MAX_PATH_LEN + 32];
    PetscCall(PetscSNPrintf(what, sizeof(what), "-l3dvar_decoder %s", encfile));
    EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), what, "type decoder is expected");
  }
  p = *def;
  PetscCall(PetscStrncpy(p.encoder, encsfile, sizeof(p.encoder)));
  PetscCall(PetscStrncpy(p.decoder, decsfile, sizeof(p.decoder)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), decsfile, "training signatures");
  p      = *def;
  p.nvar = 2;
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-l3dvar_bz_variances: 2 value(s)", "3 channel(s)");
  p.nvar = 0;
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-l3dvar_bz_climatology", "-l3dvar_bz_errors");
  p = *def;
  PetscCall(PetscStrncpy(p.climatology, climfile, sizeof(p.climatology)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "give one of them", climfile);
  p.nvar = 0;
  PetscCall(PetscStrncpy(p.climatology, clim8file, sizeof(p.climatology)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), clim8file, "8 x 8");
  PetscCall(PetscStrncpy(p.climatology, "no_such_nature.h5", sizeof(p.climatology)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-l3dvar_bz_climatology no_such_nature.h5", "no such file");
  PetscCall(PetscStrncpy(p.climatology, climfile, sizeof(p.climatology)));
  p.lag = 100;
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), climfile, "-l3dvar_bz_first, _stride, _count, _lag");
  p = *def;
  p.nvar = 0;
  PetscCall(PetscStrncpy(p.errors, diagfile, sizeof(p.errors)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), "-l3dvar_bz_errors", "-l3dvar_bz_truth");
  PetscCall(PetscStrncpy(p.truth, clim8file, sizeof(p.truth)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), clim8file, "8 x 8");
  PetscCall(PetscStrncpy(p.truth, climfile, sizeof(p.truth)));
  p.first_cycle = 1000;
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), diagfile, "no cycle >= 1000");
  p.first_cycle = 0;
  PetscCall(PetscStrncpy(p.errors, climfile, sizeof(p.errors)));
  EXPECT_ERROR_MSG(TrySetUp(e, vp, &p), climfile, "ens_mean_b");
  p        = *def;
  p.var[1] = 0;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-l3dvar_bz_variances: value 2", "> 0");
  p        = *def;
  p.var[2] = -1;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-l3dvar_bz_variances: value 3", "> 0");
  p       = *def;
  p.scale = 0;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-l3dvar_bz_scale", "> 0");
  p     = *def;
  p.lag = 0;
  EXPECT_ERROR_MSG(TrySetParams(&p), "-l3dvar_bz_lag", ">= 1");
  EXPECT_ERROR_MSG(FilterTryOption(DAISI_FILTER_L3DVAR, "-l3dvar_bz_variances", "1,-2"), "-l3dvar_bz_variances: value 2", "-2");
  EXPECT_ERROR_MSG(FilterTryOption(DAISI_FILTER_L3DVAR, "-l3dvar_bz_stride", "0"), "-l3dvar_bz_stride", ">= 1");
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  DaisiEnsemble           e;
  DaisiGrid               g;
  DaisiFilterVar3dParams  vp;
  DaisiFilterL3dvarParams def;
  PetscInt                G = 1, n;
  const PetscInt          M = 5, ntime = 14, ncycle = 6;
  PetscReal              *truth, *xf;
  PetscBool               layout = PETSC_TRUE;

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
    DaisiGrid     g1;
    MPI_Comm      group;
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, 2, 1, &e1));
    PetscCall(DaisiEnsembleGetGrid(e1, &g1));
    PetscCall(DaisiEnsembleGetGroupComm(e1, &group));
    PetscCall(LatentTestMakeVAENet(group, &g1, "encoder", NC, 11, 0, NULL, encfile));
    PetscCall(LatentTestMakeVAENet(group, &g1, "decoder", NC, 12, 0, NULL, decfile));
    PetscCall(LatentTestMakeVAENet(group, &g1, "decoder", 2, 12, 0, NULL, dec2file));
    PetscCall(LatentTestMakeVAENet(group, &g1, "decoder", NC, 12, 0.25, NULL, decnfile));
    PetscCall(LatentTestMakeVAENet(group, &g1, "encoder", NC, 11, 0, "run A model=vae", encsfile));
    PetscCall(LatentTestMakeVAENet(group, &g1, "decoder", NC, 12, 0, "run B model=vae", decsfile));
    PetscCall(DaisiEnsembleDestroy(&e1));
  }
  PetscCall(FilterTestWriteStates(&g, ntime, NatureState, climfile));
  {
    DaisiGrid g8 = g;
    g8.nx = g8.ny = 8;
    PetscCall(FilterTestWriteStates(&g8, 3, NatureState, clim8file));
  }
  PetscCall(WriteDiag(&g, ncycle, diagfile));
  PetscCall(PetscMalloc2(n, &truth, M * n, &xf));
  SyntheticTruth(&g, 3, truth);
  SyntheticEnsemble(&g, M, 4, truth, xf);
  PetscCall(DaisiFilterVar3dParamsDefault(&vp));
  vp.gatol  = 1e-8;
  vp.gttol  = 1e-4; /* above the float32 noise floor of J (about 1e-4 |g0| here) */
  vp.max_it = 500;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-var3d_monitor", &vp.monitor, NULL));
  PetscCall(DaisiFilterL3dvarParamsDefault(&def));
  PetscCall(PetscStrncpy(def.encoder, encfile, sizeof(def.encoder)));
  PetscCall(PetscStrncpy(def.decoder, decfile, sizeof(def.decoder)));
  def.nvar   = NC;
  def.var[0] = 0.5;
  def.var[1] = 1.2;
  def.var[2] = 2.0;

  PetscCall(CheckGradient(e, &vp, &def, DAISI_OBS_OPERATOR_LINEAR, 1.0, truth, xf));
  PetscCall(CheckGradient(e, &vp, &def, DAISI_OBS_OPERATOR_SQUARED, 0.1, truth, xf));
  PetscCall(CheckGradient(e, &vp, &def, DAISI_OBS_OPERATOR_ARCTAN, 0.05, truth, xf));
  PetscCall(CheckAnalyses(e, &vp, &def, truth, xf));
  PetscCall(CheckBz(e, &vp, &def, ntime, ncycle));
  PetscCall(CheckBadInput(e, &vp, &def));
  PetscCall(DaisiEnsembleDestroy(&e));
  if (layout) PetscCall(CheckLayouts(n, &vp, &def));

  PetscCall(PetscFree2(truth, xf));
  PetscCall(LatentTestFreeNames(NFILES, files));
  PetscCall(FinishTest("test_l3dvar"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
