/* CRPS: the O(M log M) sorted formula against the brute-force O(M^2) double sum, and
 * both variants against the closed form for Gaussian ensembles (points spread over the
 * ranks: the same numbers on any rank count). */
#include "metricstest.h"

static const char help[] = "Tests the ensemble CRPS (standard and fair) against brute force and the Gaussian closed form.\n";

/* brute force: mean |x_i - y| and the full double sum */
static void CRPSBruteForce(PetscInt M, const PetscReal x[], PetscReal y, PetscReal *crps, PetscReal *fair, PetscReal *scale)
{
  PetscReal mae = 0, pairs = 0;
  for (PetscInt i = 0; i < M; i++) {
    mae += PetscAbsReal(x[i] - y);
    for (PetscInt j = 0; j < M; j++) pairs += PetscAbsReal(x[i] - x[j]);
  }
  mae /= M;
  *crps  = mae - pairs / (2.0 * M * M);
  *fair  = M > 1 ? mae - pairs / (2.0 * M * (M - 1)) : mae;
  *scale = mae + pairs / (2.0 * M * PetscMax(M - 1, 1)) + 1e-300;
}

/* CRPS of N(mu, s^2) for the value y */
static PetscReal CRPSGaussian(PetscReal mu, PetscReal s, PetscReal y)
{
  const PetscReal z = (y - mu) / s, Phi = 0.5 * erfc(-z / PetscSqrtReal(2.0)), phi = PetscExpReal(-0.5 * z * z) / PetscSqrtReal(2 * PETSC_PI);
  return s * (z * (2 * Phi - 1) + 2 * phi - 1 / PetscSqrtReal(PETSC_PI));
}

static PetscErrorCode TestBruteForce(void)
{
  const PetscInt Ms[] = {1, 2, 3, 4, 7, 20, 64}, npts = 40;
  PetscReal     *ens, *truth, *xs;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(64 * npts, &ens, npts, &truth, 64, &xs));
  for (size_t t = 0; t < sizeof(Ms) / sizeof(Ms[0]); t++) {
    const PetscInt M = Ms[t];
    PetscReal      sum = 0, sumfair = 0, crps, fair, scale, bc, bf;
    for (PetscInt i = 0; i < npts; i++) {
      DaisiRng rng = DaisiRngMake(5, DAISI_RNG_TEST, (uint64_t)M, 0, (uint64_t)i);
      /* every third point quantised to 0.5 K so that members tie with each other and
       * with the truth */
      const PetscBool quantise = (i % 3 == 0) ? PETSC_TRUE : PETSC_FALSE;
      truth[i]                 = 1 + 2 * DaisiRngNormal(&rng, 1000);
      if (quantise) truth[i] = 0.5 * round(2 * truth[i]);
      for (PetscInt m = 0; m < M; m++) {
        PetscReal x = 2 * DaisiRngNormal(&rng, (uint64_t)m) + (i % 2 ? 0 : 3);
        ens[m * npts + i] = quantise ? 0.5 * round(2 * x) : x;
      }
      for (PetscInt m = 0; m < M; m++) xs[m] = ens[m * npts + i];
      CRPSBruteForce(M, xs, truth[i], &bc, &bf, &scale);
      PetscCall(PetscSortReal(M, xs));
      PetscCall(DaisiMetricsCRPSSorted(M, xs, truth[i], &crps, M > 1 ? &fair : NULL));
      if (M == 1) fair = crps;
      EXPECT_CLOSE(crps, bc, 1e-13, scale, "sorted CRPS vs brute force");
      EXPECT_CLOSE(fair, bf, 1e-13, scale, "sorted fair CRPS vs brute force");
      sum += bc;
      sumfair += bf;
    }
    /* the averaged version on unsorted member-major data */
    PetscCall(DaisiMetricsCRPS(PETSC_COMM_SELF, M, npts, ens, truth, &crps, M > 1 ? &fair : NULL));
    EXPECT_CLOSE(crps, sum / npts, 1e-13, PetscAbsReal(sum / npts) + 1, "averaged CRPS vs brute force");
    if (M > 1) EXPECT_CLOSE(fair, sumfair / npts, 1e-13, PetscAbsReal(sumfair / npts) + 1, "averaged fair CRPS vs brute force");
  }
  PetscCall(PetscFree3(ens, truth, xs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Many points, M = 5 members each, drawn from N(mu_p, s_p^2), truth y_p ~ N(mu_p, s_p^2).
 * The fair CRPS is an unbiased estimate of the Gaussian CRPS; the standard CRPS exceeds
 * it on average by E|X - X'| / (2M) = s / (M sqrt(pi)). Tolerances are 5 standard errors
 * measured from the same data, and the test requires the standard error to be small
 * enough that the two variants are told apart by more than 10 standard errors. */
static PetscErrorCode TestGaussianMany(void)
{
  const PetscInt   M = 5, N = 20000;
  PetscMPIInt      size, rank;
  PetscInt         p0, p1, nloc;
  PetscReal       *ens, *truth, xs[5], loc[7] = {0}, glob[7], crps, fair;
  const PetscReal  c = 1.0 / (M * PetscSqrtReal(PETSC_PI));

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  p0   = (PetscInt)((PetscInt64)N * rank / size);
  p1   = (PetscInt)((PetscInt64)N * (rank + 1) / size);
  nloc = p1 - p0;
  PetscCall(PetscMalloc2(M * nloc, &ens, nloc, &truth));
  for (PetscInt i = 0; i < nloc; i++) {
    const uint64_t  p  = (uint64_t)(p0 + i);
    DaisiRng        r0 = DaisiRngMake(11, DAISI_RNG_TEST, 0, 0, 0);
    const PetscReal mu = 3 * DaisiRngNormal(&r0, p), s = 0.5 + 2 * DaisiRngUniform(&r0, p + (uint64_t)N);
    PetscReal       closed, pc, pf, dc, df;
    truth[i] = mu + s * DaisiRngNormal(&r0, p + 2 * (uint64_t)N);
    for (PetscInt m = 0; m < M; m++) {
      DaisiRng rm       = DaisiRngMake(11, DAISI_RNG_TEST, 0, (uint64_t)m + 1, 1);
      ens[m * nloc + i] = xs[m] = mu + s * DaisiRngNormal(&rm, p);
    }
    PetscCall(PetscSortReal(M, xs));
    PetscCall(DaisiMetricsCRPSSorted(M, xs, truth[i], &pc, &pf));
    closed = CRPSGaussian(mu, s, truth[i]);
    df     = pf - closed;
    dc     = pc - closed - c * s;
    loc[0] += pc;
    loc[1] += pf;
    loc[2] += closed;
    loc[3] += c * s;
    loc[4] += df;
    loc[5] += df * df;
    loc[6] += dc * dc;
  }
  PetscCallMPI(MPI_Allreduce(loc, glob, 7, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  PetscCall(DaisiMetricsCRPS(PETSC_COMM_WORLD, M, nloc, ens, truth, &crps, &fair));
  {
    const PetscReal mc = glob[0] / N, mf = glob[1] / N, mclosed = glob[2] / N, mbias = glob[3] / N;
    const PetscReal sef = PetscSqrtReal((glob[5] / N - PetscSqr(glob[4] / N)) / (N - 1));
    const PetscReal sec = PetscSqrtReal(glob[6] / N / (N - 1)); /* upper bound of its standard error */
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "Gaussian, M = %" PetscInt_FMT ", %" PetscInt_FMT " points: closed form %.5f, fair CRPS %.5f (se %.5f), CRPS %.5f = closed + bias %.5f (se %.5f)\n", M, N, (double)mclosed, (double)mf, (double)sef, (double)mc, (double)mbias, (double)sec));
    EXPECT_CLOSE(crps, mc, 1e-12, mc, "DaisiMetricsCRPS vs mean of per-point values");
    EXPECT_CLOSE(fair, mf, 1e-12, mf, "DaisiMetricsCRPS fair vs mean of per-point values");
    EXPECT_CLOSE(mf, mclosed, 5 * sef, 1.0, "fair CRPS vs Gaussian closed form");
    EXPECT_CLOSE(mc, mclosed + mbias, 5 * sec, 1.0, "CRPS vs Gaussian closed form + s/(M sqrt(pi))");
    EXPECT(PetscAbsReal(mc - mclosed) > 10 * sec && sef < 0.01 * mclosed, "test not sharp: bias %.4g vs standard errors %.4g %.4g", (double)(mc - mclosed), (double)sec, (double)sef);
  }
  PetscCall(PetscFree2(ens, truth));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One point, a large ensemble: both variants tend to the closed form, for truths from the
 * centre to the far tails of the distribution. */
static PetscErrorCode TestGaussianLarge(void)
{
  const PetscInt  M = 40000;
  const PetscReal mu = 1.0, s = 2.0, zs[] = {-2.5, -1.0, 0.0, 0.7, 3.0};
  PetscReal      *ens, crps, fair;
  DaisiRng        rng = DaisiRngMake(13, DAISI_RNG_TEST, 0, 0, 0);

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(M, &ens));
  for (PetscInt m = 0; m < M; m++) ens[m] = mu + s * DaisiRngNormal(&rng, (uint64_t)m);
  for (size_t t = 0; t < sizeof(zs) / sizeof(zs[0]); t++) {
    const PetscReal y = mu + zs[t] * s, closed = CRPSGaussian(mu, s, y);
    PetscCall(DaisiMetricsCRPS(PETSC_COMM_SELF, M, 1, ens, &y, &crps, &fair));
    /* sampling error of a U-statistic ~ s / sqrt(M) = 0.01 s; the variants differ by
     * s / (M sqrt(pi)), far below it */
    EXPECT_CLOSE(fair, closed, 0.03, s, "large-ensemble fair CRPS vs closed form");
    EXPECT_CLOSE(crps, closed, 0.03, s, "large-ensemble CRPS vs closed form");
    EXPECT_CLOSE(crps - fair, s / ((M - 1) * PetscSqrtReal(PETSC_PI)), 0.05, s / (M * PetscSqrtReal(PETSC_PI)), "large-ensemble difference of the variants");
  }
  PetscCall(PetscFree(ens));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(TestBruteForce());
  PetscCall(TestGaussianMany());
  PetscCall(TestGaussianLarge());
  PetscCall(FinishTest("test_crps"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
