/* Bootstrap particle filter (type pf): the forecast members are the particles; the analysis
 * weights them by the Gaussian likelihood of the cycle's observations and, when the effective
 * sample size is low, replaces them by a systematic resample, optionally jittered.
 *
 *   log w_m = log w_m^prev - 1/2 sum_o ((y_o - h_o(x_m)) / sigma_o)^2   (normalised by log-sum-exp)
 *   ESS     = 1 / sum_m w_m^2
 *   resample when -pf_resample_threshold >= 1 (every cycle with observations) or ESS < thr * M:
 *     u ~ U(0, 1) once per cycle, member k takes particle a_k = min { i : C_i >= (u + k) / M },
 *     C_i = w_0 + ... + w_i; then x_k += jitter * N(0, 1) per value, and the weights are reset.
 *
 * The whole ensemble is needed at every point, which the analysis layout of DaisiFilterAnalysis
 * provides: every rank holds all M members at its points, and H x_m for every member and
 * observation (HX) is identical on every rank. So the weights, the ESS and the ancestors are
 * computed redundantly on every rank from identical inputs in a fixed order, and every point is
 * resampled with the same ancestors: no further communication, and bit-identical results for
 * every (G, P) layout. The resampling uniform is keyed by (-filter_seed, DAISI_RNG_PARTICLE_FILTER,
 * cycle, member 0, step 0; index 0), the jitter of member k at global index gi by
 * (-filter_seed, DAISI_RNG_PARTICLE_FILTER, cycle, k, step 1; gi).
 *
 * Weights of cycles without resampling (-pf_resample_threshold < 1) are carried in the filter
 * object to the next analysis; the ensemble itself holds unweighted particles. */
#include "filterimpl.h"
#include <daisi/rng.h>

typedef struct {
  PetscInt   M;        /* size the carried weights belong to (0: none yet) */
  PetscReal *logw;     /* carried log weights (0 after a resampling) */
  PetscReal *w;        /* normalised weights of the last analysis */
  PetscInt  *ancestor; /* ancestors of the last resampling */
  PetscReal *tmp;      /* one point's members */
} Filter_PF;

PetscErrorCode DaisiFilterPFSetResampleThreshold(DaisiFilter f, PetscReal threshold)
{
  PetscFunctionBegin;
  PetscCheck(threshold >= 0 && threshold <= 1, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-pf_resample_threshold must be in [0, 1] (fraction of the ensemble size), got %g", (double)threshold);
  f->pf_threshold = threshold;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterPFSetJitter(DaisiFilter f, PetscReal sigma)
{
  PetscFunctionBegin;
  PetscCheck(sigma >= 0 && !PetscIsInfOrNanReal(sigma), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-pf_jitter must be finite and >= 0 (state units), got %g", (double)sigma);
  f->pf_jitter = sigma;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterPFSetMonitor(DaisiFilter f, PetscBool flg)
{
  PetscFunctionBegin;
  f->pf_monitor = flg;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* read by every filter type (one scenario file serves every filter), used by pf */
PetscErrorCode DaisiFilterPFParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject)
{
  PetscReal r;
  PetscBool set, flg = f->pf_monitor;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "Particle filter options (used by -filter_type pf)");
  r = f->pf_threshold;
  PetscCall(PetscOptionsReal("-pf_resample_threshold", "Resample when ESS < threshold * M (1: every cycle, 0: never)", "DaisiFilterPFSetResampleThreshold", r, &r, &set));
  if (set) PetscCall(DaisiFilterPFSetResampleThreshold(f, r));
  r = f->pf_jitter;
  PetscCall(PetscOptionsReal("-pf_jitter", "Std of the Gaussian jitter added after resampling (state units)", "DaisiFilterPFSetJitter", r, &r, &set));
  if (set) PetscCall(DaisiFilterPFSetJitter(f, r));
  PetscCall(PetscOptionsBool("-pf_monitor", "Print the effective sample size of every analysis", "DaisiFilterPFSetMonitor", flg, &flg, &set));
  if (set) PetscCall(DaisiFilterPFSetMonitor(f, flg));
  PetscOptionsHeadEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* systematic resampling: ancestor[k] = min { i : C_i >= (u + k) / M } (C_{M-1} = 1 up to
 * rounding, so the last particle closes the search) */
static void SystematicResample(PetscInt M, const PetscReal w[], PetscReal u, PetscInt ancestor[])
{
  PetscInt  i = 0;
  PetscReal C = w[0];

  for (PetscInt k = 0; k < M; k++) {
    const PetscReal pos = (u + (PetscReal)k) / (PetscReal)M;
    while (C < pos && i < M - 1) C += w[++i];
    ancestor[k] = i;
  }
}

static PetscErrorCode DaisiFilterAnalysis_PF(DaisiFilter f, DaisiFilterContext *c)
{
  Filter_PF      *pf = (Filter_PF *)f->data;
  const PetscInt  M  = c->M;
  const DaisiRng  rr = DaisiRngMake((uint64_t)f->seed, DAISI_RNG_PARTICLE_FILTER, (uint64_t)c->obs->cycle, 0, 0);
  PetscReal       lmax = PETSC_MIN_REAL, sum = 0, sum2 = 0, ess;
  PetscBool       resample;

  PetscFunctionBegin;
  if (pf->M != M) { /* first analysis (or another ensemble size): uniform weights */
    PetscCall(PetscFree4(pf->logw, pf->w, pf->ancestor, pf->tmp));
    PetscCall(PetscCalloc4(M, &pf->logw, M, &pf->w, M, &pf->ancestor, M, &pf->tmp));
    pf->M = M;
  }
  PetscCall(PetscLogEventBegin(DAISI_FilterTransform, 0, 0, 0, 0));
  /* weights: every rank computes them from the same HX in the same order */
  for (PetscInt m = 0; m < M; m++) {
    PetscReal l = 0;
    for (PetscInt o = 0; o < c->nobs; o++) {
      const PetscReal r = (c->obs->value[o] - c->HX[o * M + m]) / c->obs->sigma[o];
      l += r * r;
    }
    pf->logw[m] -= 0.5 * l;
    lmax = PetscMax(lmax, pf->logw[m]);
  }
  for (PetscInt m = 0; m < M; m++) {
    pf->w[m] = PetscExpReal(pf->logw[m] - lmax); /* log-sum-exp: the largest weight is 1 here */
    sum += pf->w[m];
  }
  for (PetscInt m = 0; m < M; m++) {
    pf->w[m] /= sum;
    pf->logw[m] = PetscLogReal(pf->w[m]); /* carried normalised (-inf for an underflown weight) */
    sum2 += pf->w[m] * pf->w[m];
  }
  ess      = 1.0 / sum2;
  resample = (PetscBool)(c->nobs > 0 && (f->pf_threshold >= 1 || ess < f->pf_threshold * M));
  if (resample) SystematicResample(M, pf->w, DaisiRngUniform(&rr, 0), pf->ancestor);
  PetscCall(PetscLogEventEnd(DAISI_FilterTransform, 0, 0, 0, 0));

  PetscCall(PetscLogEventBegin(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  if (resample) {
    for (PetscInt j = 0; j < c->npts; j++) {
      PetscReal     *xj = c->x + j * M;
      const uint64_t gi = (uint64_t)j * (uint64_t)c->size + (uint64_t)c->rank;
      for (PetscInt k = 0; k < M; k++) pf->tmp[k] = xj[pf->ancestor[k]];
      for (PetscInt k = 0; k < M; k++) {
        xj[k] = pf->tmp[k];
        if (f->pf_jitter > 0) {
          const DaisiRng rj = DaisiRngMake((uint64_t)f->seed, DAISI_RNG_PARTICLE_FILTER, (uint64_t)c->obs->cycle, (uint64_t)k, 1);
          xj[k] += f->pf_jitter * DaisiRngNormal(&rj, gi);
        }
      }
    }
    PetscCall(PetscArrayzero(pf->logw, M));
  }
  PetscCall(PetscLogEventEnd(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  f->stats.npoints     = c->npts;
  f->stats.nlocalobs   = (PetscInt64)c->npts * c->nobs;
  f->stats.maxlocalobs = c->nobs;
  f->stats.ess         = ess;
  f->stats.resampled   = resample;
  if (f->pf_monitor) {
    PetscReal wmax = 0;
    PetscInt  ndistinct = 0;
    for (PetscInt m = 0; m < M; m++) wmax = PetscMax(wmax, pf->w[m]);
    if (resample)
      for (PetscInt k = 0; k < M; k++) ndistinct += (k == 0 || pf->ancestor[k] != pf->ancestor[k - 1]); /* ancestors are sorted */
    if (resample) PetscCall(PetscPrintf(f->comm, "pf | cycle %" PetscInt_FMT ": ESS %.1f of %" PetscInt_FMT " (%.3f M), max weight %.3g, resampled: %" PetscInt_FMT " distinct ancestors\n", c->obs->cycle, (double)ess, M, (double)(ess / M), (double)wmax, ndistinct));
    else PetscCall(PetscPrintf(f->comm, "pf | cycle %" PetscInt_FMT ": ESS %.1f of %" PetscInt_FMT " (%.3f M), max weight %.3g, not resampled (weights carried)\n", c->obs->cycle, (double)ess, M, (double)(ess / M), (double)wmax));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode View_PF(DaisiFilter f, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (f->pf_threshold >= 1) PetscCall(PetscViewerASCIIPrintf(viewer, "bootstrap particle filter: Gaussian likelihood weights, systematic resampling every cycle with observations\n"));
  else if (f->pf_threshold > 0) PetscCall(PetscViewerASCIIPrintf(viewer, "bootstrap particle filter: Gaussian likelihood weights, systematic resampling when ESS < %g M (weights carried otherwise)\n", (double)f->pf_threshold));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "bootstrap particle filter: Gaussian likelihood weights carried, never resampled\n"));
  PetscCall(PetscViewerASCIIPrintf(viewer, "jitter after resampling %g (state units), seed %" PetscInt64_FMT "; RTPS/RTPP are not used by pf\n", (double)f->pf_jitter, f->seed));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Destroy_PF(DaisiFilter f)
{
  Filter_PF *pf = (Filter_PF *)f->data;

  PetscFunctionBegin;
  if (!pf) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree4(pf->logw, pf->w, pf->ancestor, pf->tmp));
  PetscCall(PetscFree(f->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_PF(DaisiFilter f)
{
  Filter_PF *pf;

  PetscFunctionBegin;
  PetscCall(PetscNew(&pf));
  f->data         = pf;
  f->ops.analysis = DaisiFilterAnalysis_PF;
  f->ops.view     = View_PF;
  f->ops.destroy  = Destroy_PF;
  PetscFunctionReturn(PETSC_SUCCESS);
}
