/* The bootstrap particle filter (type pf):
 *  1. exact: on an SQG grid with a nonlinear (squared) operator, the analysis equals an
 *     independent serial computation on rank 0 from the gathered prior members: Gaussian
 *     log-likelihood weights, ESS = 1 / sum w^2, systematic resampling with the documented
 *     uniform and ancestors, and the documented jitter;
 *  2. carried weights: with -pf_resample_threshold 0 the ensemble is left unchanged and the
 *     weights are kept; the next cycle (threshold 1) resamples with the product of both
 *     cycles' likelihoods;
 *  3. Bayes: Lorenz '63 ensemble of 20000 members drawn around a truth (Gaussian prior), one
 *     observation of x: the analysis mean and variance of x match the Kalman posterior computed
 *     from the prior sample's moments within Monte-Carlo error, y and z keep their prior means;
 *  4. bad parameters are refused naming the option. */
#include "filtertest.h"

static const char help[] = "Tests the bootstrap particle filter against independent computations and the Kalman posterior.\n";

/* independent reference: weights from the gathered members (all[m * n + gi]) and the
 * observation sets of the cycles since the last resampling, then systematic resampling and
 * jitter as documented */
static PetscErrorCode Reference(PetscInt M, PetscInt n, const PetscReal all[], PetscInt nsets, const DaisiObsSet *sets[], const DaisiGrid *g, PetscInt64 seed, PetscReal jitter, PetscReal out[], PetscReal *ess)
{
  PetscReal *logw, *w, lmax = PETSC_MIN_REAL, sum = 0, sum2 = 0;
  PetscInt  *anc;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(M, &logw, M, &w, M, &anc));
  for (PetscInt m = 0; m < M; m++) {
    logw[m] = 0;
    for (PetscInt s = 0; s < nsets; s++) {
      PetscReal l = 0;
      for (PetscInt o = 0; o < sets[s]->nobs; o++) {
        const PetscInt gi = (sets[s]->lev[o] * g->ny + sets[s]->iy[o]) * g->nx + sets[s]->ix[o];
        PetscReal      h, r;
        PetscCall(DaisiObsOperatorApply(sets[s]->op, 1, &all[m * n + gi], &h));
        r = (sets[s]->value[o] - h) / sets[s]->sigma[o];
        l += r * r;
      }
      logw[m] -= 0.5 * l;
    }
    lmax = PetscMax(lmax, logw[m]);
  }
  for (PetscInt m = 0; m < M; m++) sum += (w[m] = PetscExpReal(logw[m] - lmax));
  for (PetscInt m = 0; m < M; m++) {
    w[m] /= sum;
    sum2 += w[m] * w[m];
  }
  *ess = 1.0 / sum2;
  {
    /* ancestor k = number of particles i < M-1 whose cumulative weight lies below (u + k) / M */
    const DaisiRng rr = DaisiRngMake((uint64_t)seed, DAISI_RNG_PARTICLE_FILTER, (uint64_t)sets[nsets - 1]->cycle, 0, 0);
    const PetscReal u = DaisiRngUniform(&rr, 0);
    for (PetscInt k = 0; k < M; k++) {
      PetscReal C = 0;
      anc[k]      = 0;
      for (PetscInt i = 0; i < M - 1; i++) {
        C += w[i];
        if (C < (u + k) / M) anc[k] = i + 1;
      }
    }
  }
  for (PetscInt k = 0; k < M; k++) {
    const DaisiRng rj = DaisiRngMake((uint64_t)seed, DAISI_RNG_PARTICLE_FILTER, (uint64_t)sets[nsets - 1]->cycle, (uint64_t)k, 1);
    for (PetscInt gi = 0; gi < n; gi++) out[k * n + gi] = all[anc[k] * n + gi] + (jitter > 0 ? jitter * DaisiRngNormal(&rj, (uint64_t)gi) : 0);
  }
  PetscCall(PetscFree3(logw, w, anc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestExact(PetscInt G)
{
  const PetscInt   M = 11;
  const PetscInt64 seed = 23;
  const PetscReal  jitter = 0.4;
  DaisiEnsemble    e;
  DaisiFilter      f;
  DaisiGrid        g;
  DaisiObsSet      obs1, obs2;
  DaisiFilterStats st;
  PetscReal       *truth, *all, *res, *ref, ess = 0;
  PetscInt         n;
  PetscMPIInt      rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, G, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  n = DaisiGridGlobalSize(&g);
  PetscCall(PetscMalloc4(n, &truth, M * n, &all, M * n, &res, M * n, &ref));
  SyntheticTruth(&g, 3, truth);
  SyntheticEnsemble(&g, M, 4, truth, all);
  PetscCall(DaisiEnsembleSetGlobal(e, all));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_PF));
  PetscCall(DaisiFilterSetSeed(f, seed));
  PetscCall(DaisiFilterPFSetJitter(f, jitter));
  PetscCall(DaisiFilterSetUp(f));

  /* 1. one cycle, squared h, resampling (threshold 1) */
  PetscCall(SyntheticObs(&g, 0.1, DAISI_OBS_OPERATOR_SQUARED, 2.0, truth, 31, 1, &obs1));
  PetscCall(DaisiFilterAnalysis(f, e, &obs1));
  PetscCall(DaisiFilterGetStats(f, &st));
  PetscCall(DaisiEnsembleGatherGlobal(e, res));
  if (!rank) {
    const DaisiObsSet *sets[1] = {&obs1};
    PetscReal          d;
    PetscCall(Reference(M, n, all, 1, sets, &g, seed, jitter, ref, &ess));
    d = MaxAbsDiff(M * n, ref, res);
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "G=%" PetscInt_FMT " exact: %" PetscInt_FMT " obs, ESS %.4f (reference %.4f) of %" PetscInt_FMT ", max |analysis - reference| %.1e\n", G, obs1.nobs, (double)st.ess, (double)ess, M, (double)d));
    EXPECT(d <= 1e-12 * MaxAbs(M * n, all), "pf analysis differs from the independent reference by %g", (double)d);
    EXPECT(PetscAbsReal(st.ess - ess) <= 1e-12 * ess && st.resampled, "ESS %g (reference %g), resampled %d", (double)st.ess, (double)ess, (int)st.resampled);
    EXPECT(ess > 1.5 && ess < M - 0.5, "the test needs non-degenerate, non-uniform weights: ESS %g", (double)ess);
  }

  /* 2. carried weights: threshold 0 keeps the ensemble, threshold 1 then resamples with the
   *    product of the two cycles' likelihoods */
  PetscCall(DaisiEnsembleSetGlobal(e, all));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_PF));
  PetscCall(DaisiFilterSetSeed(f, seed));
  PetscCall(DaisiFilterPFSetResampleThreshold(f, 0.0));
  PetscCall(DaisiFilterSetUp(f));
  PetscCall(DaisiFilterAnalysis(f, e, &obs1));
  PetscCall(DaisiFilterGetStats(f, &st));
  PetscCall(DaisiEnsembleGatherGlobal(e, res));
  if (!rank) EXPECT(CountDifferent(M * n, all, res) == 0 && !st.resampled, "threshold 0: the ensemble changed (resampled %d)", (int)st.resampled);
  PetscCall(SyntheticObs(&g, 0.1, DAISI_OBS_OPERATOR_LINEAR, 6.0, truth, 32, 2, &obs2));
  PetscCall(DaisiFilterPFSetResampleThreshold(f, 1.0));
  PetscCall(DaisiFilterAnalysis(f, e, &obs2));
  PetscCall(DaisiFilterGetStats(f, &st));
  PetscCall(DaisiEnsembleGatherGlobal(e, res));
  if (!rank) {
    const DaisiObsSet *sets[2] = {&obs1, &obs2};
    PetscReal          d;
    PetscCall(Reference(M, n, all, 2, sets, &g, seed, 0.0, ref, &ess));
    d = MaxAbsDiff(M * n, ref, res);
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "G=%" PetscInt_FMT " carried weights: ESS %.4f (reference %.4f), max |analysis - reference| %.1e\n", G, (double)st.ess, (double)ess, (double)d));
    EXPECT(d <= 1e-12 * MaxAbs(M * n, all) && PetscAbsReal(st.ess - ess) <= 1e-12 * ess && st.resampled, "carried weights: analysis differs by %g, ESS %g vs %g", (double)d, (double)st.ess, (double)ess);
  }
  PetscCall(DaisiObsSetDestroy(&obs1));
  PetscCall(DaisiObsSetDestroy(&obs2));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(PetscFree4(truth, all, res, ref));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* sample mean and variance of component c over the members */
static void Moments(PetscInt M, const PetscReal all[], PetscInt c, PetscReal *mean, PetscReal *var)
{
  PetscReal s = 0, v = 0;
  for (PetscInt m = 0; m < M; m++) s += all[3 * m + c];
  s /= M;
  for (PetscInt m = 0; m < M; m++) v += (all[3 * m + c] - s) * (all[3 * m + c] - s);
  *mean = s;
  *var  = v / (M - 1);
}

static PetscErrorCode TestBayes(void)
{
  const PetscInt  M = 20000;
  const PetscReal truth[3] = {1.0, 2.0, 20.0}, sig0 = 2.0;
  DaisiEnsemble   e;
  DaisiFilter     f;
  DaisiGrid       g;
  DaisiObsSet     obs;
  DaisiFilterStats st;
  PetscReal       *all, tloc[3], mu[3], var[3], mua[3], vara[3];
  PetscMPIInt     rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &e));
  PetscCall(DaisiEnsembleSetSize(e, M));
  PetscCall(DaisiEnsembleSetModelType(e, DAISI_MODEL_L63));
  PetscCall(DaisiEnsembleSetInitSigma(e, sig0));
  PetscCall(DaisiEnsembleSetSeed(e, 5));
  PetscCall(DaisiEnsembleSetUp(e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  ExtractSlab(&g, truth, tloc);
  PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
  PetscCall(PetscMalloc1(3 * M, &all));
  PetscCall(DaisiEnsembleGatherGlobal(e, all));
  if (!rank)
    for (PetscInt c = 0; c < 3; c++) Moments(M, all, c, &mu[c], &var[c]);
  PetscCallMPI(MPI_Bcast(mu, 3, MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Bcast(var, 3, MPIU_REAL, 0, PETSC_COMM_WORLD));
  /* one observation of x, 1.5 prior std above the prior mean, with the prior's std as error */
  PetscCall(DaisiObsSetCreate(PETSC_COMM_WORLD, 1, DAISI_OBS_OPERATOR_LINEAR, &obs));
  obs.lev[0] = obs.iy[0] = obs.ix[0] = 0;
  obs.sigma[0] = PetscSqrtReal(var[0]);
  obs.value[0] = mu[0] + 1.5 * PetscSqrtReal(var[0]);
  obs.cycle    = 1;
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_PF));
  PetscCall(DaisiFilterSetFromOptions(f));
  PetscCall(DaisiFilterAnalysis(f, e, &obs));
  PetscCall(DaisiFilterGetStats(f, &st));
  PetscCall(DaisiEnsembleGatherGlobal(e, all));
  if (!rank) {
    /* Kalman: gain 1/2, posterior mean mu + 0.75 s, variance s^2 / 2. Monte-Carlo std of the
     * resampled mean about sqrt(v/ESS + v/M), of the variance about v sqrt(2/ESS + 2/M). */
    const PetscReal km = mu[0] + 0.75 * PetscSqrtReal(var[0]), kv = 0.5 * var[0];
    const PetscReal sm = PetscSqrtReal(kv / st.ess + kv / M), sv = kv * PetscSqrtReal(2.0 / st.ess + 2.0 / M);
    for (PetscInt c = 0; c < 3; c++) Moments(M, all, c, &mua[c], &vara[c]);
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "Bayes: ESS %.0f of %" PetscInt_FMT "; x mean %.4f (Kalman %.4f, %.1f MC std), var %.4f (Kalman %.4f, %.1f MC std); y, z means moved %.1f, %.1f MC std\n", (double)st.ess, M, (double)mua[0], (double)km, (double)((mua[0] - km) / sm), (double)vara[0], (double)kv, (double)((vara[0] - kv) / sv),
                          (double)((mua[1] - mu[1]) / PetscSqrtReal(var[1] / st.ess + var[1] / M)), (double)((mua[2] - mu[2]) / PetscSqrtReal(var[2] / st.ess + var[2] / M))));
    EXPECT(PetscAbsReal(mua[0] - km) < 5 * sm, "posterior mean of x %g, Kalman %g (MC std %g)", (double)mua[0], (double)km, (double)sm);
    EXPECT(PetscAbsReal(vara[0] - kv) < 5 * sv, "posterior variance of x %g, Kalman %g (MC std %g)", (double)vara[0], (double)kv, (double)sv);
    for (PetscInt c = 1; c < 3; c++) EXPECT(PetscAbsReal(mua[c] - mu[c]) < 5 * PetscSqrtReal(var[c] / st.ess + var[c] / M), "unobserved component %" PetscInt_FMT " moved from %g to %g", c, (double)mu[c], (double)mua[c]);
  }
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(PetscFree(all));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestBadInput(void)
{
  DaisiFilter    f;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = DaisiFilterPFSetResampleThreshold(f, 1.5);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "-pf_resample_threshold 1.5 accepted (%d)", (int)ierr);
  ierr = DaisiFilterPFSetResampleThreshold(f, -0.1);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "-pf_resample_threshold -0.1 accepted (%d)", (int)ierr);
  ierr = DaisiFilterPFSetJitter(f, -1.0);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "-pf_jitter -1 accepted (%d)", (int)ierr);
  ierr = DaisiFilterPFSetJitter(f, (PetscReal)INFINITY);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "-pf_jitter inf accepted (%d)", (int)ierr);
  PetscCall(PetscPopErrorHandler());
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscMPIInt size;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  for (PetscInt G = 1; G <= size; G++)
    if (size % G == 0) PetscCall(TestExact(G));
  PetscCall(TestBayes());
  PetscCall(TestBadInput());
  PetscCall(FinishTest("test_pf"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
