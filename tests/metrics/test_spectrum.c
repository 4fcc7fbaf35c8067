/* Power spectra: single Fourier modes land in the right bin with the right power,
 * Parseval holds, the error and spread spectra sum to MSE and variance, results agree
 * with the whole field on one rank for any row split, and the log-spectral distance
 * matches hand values. */
#include "metricstest.h"

static const char help[] = "Tests isotropic power spectra and the log-spectral distance.\n";

/* Level 0: A cos(2 pi (3 x/nx - 5 y/ny) + 0.3): total wavenumber round(sqrt(34)) = 6,
 *          power A^2/2 (two coefficients (3,-5), (-3,5) of |F|/(nx ny) = A/2 each).
 * Level 1: c + B cos(2 pi 4 y/ny) + D (-1)^x: bin 0 power c^2, bin 4 B^2/2, and the
 *          x-Nyquist mode kx = nx/2 (its own conjugate) in bin nx/2 with power D^2. */
static void ModeField(const DaisiGrid *G, PetscReal f[])
{
  const PetscReal A = 1.7, B = 0.8, c = -0.4, D = 0.25;
  for (PetscInt y = 0; y < G->ny; y++)
    for (PetscInt x = 0; x < G->nx; x++) {
      f[(0 * G->ny + y) * G->nx + x] = A * PetscCosReal(2 * PETSC_PI * (3.0 * x / G->nx - 5.0 * y / G->ny) + 0.3);
      f[(1 * G->ny + y) * G->nx + x] = c + B * PetscCosReal(2 * PETSC_PI * 4.0 * y / G->ny) + D * (x % 2 ? -1 : 1);
    }
}

static PetscErrorCode TestModes(void)
{
  DaisiGrid   G = {2, 24, 32, 0, 24, 0, 0, 0}, g = G;
  PetscMPIInt size, rank;
  PetscInt    nk, n = DaisiGridGlobalSize(&G);
  PetscReal  *gf, *f, *spec, expect[2][64] = {{0}};

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(DaisiMetricsSpectrumSize(&G, &nk));
  EXPECT(nk == 21, "%" PetscInt_FMT " bins for 24 x 32, expected round(sqrt(16^2 + 12^2)) + 1 = 21", nk);
  expect[0][6]  = 1.7 * 1.7 / 2;
  expect[1][0]  = 0.4 * 0.4;
  expect[1][4]  = 0.8 * 0.8 / 2;
  expect[1][16] = 0.25 * 0.25;
  PetscCall(PetscMalloc2(n, &gf, 2 * nk, &spec));
  ModeField(&G, gf);
  for (PetscInt mode = 0; mode < NSPLITS; mode++) {
    RowSplit(mode, G.ny, size, rank, &g.y0, &g.nyl);
    PetscCall(PetscMalloc1(DaisiGridLocalSize(&g), &f));
    ExtractSlab(&g, gf, f);
    PetscCall(DaisiMetricsPowerSpectrum(PETSC_COMM_WORLD, &g, f, spec));
    for (PetscInt lev = 0; lev < 2; lev++)
      for (PetscInt k = 0; k < nk; k++) EXPECT_CLOSE(spec[lev * nk + k], expect[lev][k], 1e-14, 1.0, "single-mode power");
    PetscCall(PetscFree(f));
  }
  PetscCall(PetscFree2(gf, spec));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* random global field of grid G (seeded by `seed`, member m) */
static void RandomField(const DaisiGrid *G, uint64_t seed, uint64_t m, PetscReal offset, PetscReal f[])
{
  DaisiRng r = DaisiRngMake(seed, DAISI_RNG_TEST, 0, m, 0);
  for (PetscInt i = 0; i < DaisiGridGlobalSize(G); i++) f[i] = offset + DaisiRngNormal(&r, (uint64_t)i);
}

/* Parseval and layout independence on an even and an odd grid, for P, the error and
 * the spread spectra; sums against RMSE^2 and spread^2 of DaisiMetricsScores. */
static PetscErrorCode TestParsevalAndLayout(PetscInt ny, PetscInt nx)
{
  const PetscInt      M = 4;
  DaisiGrid           G = {2, ny, nx, 0, ny, 0, 0, 0}, g = G;
  PetscMPIInt         size, rank;
  PetscInt            nk, n = DaisiGridGlobalSize(&G);
  PetscReal          *gens, *gtruth, *ens, *truth, *ref[3], *spec[3];
  DaisiEnsembleScores s;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(DaisiMetricsSpectrumSize(&G, &nk));
  PetscCall(PetscMalloc2(M * n, &gens, n, &gtruth));
  RandomField(&G, 31, 0, 0.5, gtruth);
  for (PetscInt m = 0; m < M; m++) RandomField(&G, 31, (uint64_t)m + 1, 0.2, gens + m * n);
  for (PetscInt t = 0; t < 3; t++) PetscCall(PetscMalloc2(2 * nk, &ref[t], 2 * nk, &spec[t]));

  /* reference: whole grid on this rank alone */
  PetscCall(DaisiMetricsPowerSpectrum(PETSC_COMM_SELF, &G, gtruth, ref[0]));
  PetscCall(DaisiMetricsErrorSpectrum(PETSC_COMM_SELF, &G, M, gens, gtruth, ref[1]));
  PetscCall(DaisiMetricsSpreadSpectrum(PETSC_COMM_SELF, &G, M, gens, ref[2]));
  PetscCall(DaisiMetricsScores(PETSC_COMM_SELF, M, n, gens, gtruth, &s));
  {
    PetscReal sum[3] = {0, 0, 0}, ms[2] = {0, 0};
    for (PetscInt lev = 0; lev < 2; lev++)
      for (PetscInt i = 0; i < ny * nx; i++) ms[lev] += gtruth[lev * ny * nx + i] * gtruth[lev * ny * nx + i] / (ny * nx);
    for (PetscInt lev = 0; lev < 2; lev++) {
      PetscReal p = 0;
      for (PetscInt k = 0; k < nk; k++) p += ref[0][lev * nk + k];
      EXPECT_CLOSE(p, ms[lev], 1e-13, ms[lev], "Parseval: sum of P(k) vs mean square");
      for (PetscInt t = 0; t < 3; t++)
        for (PetscInt k = 0; k < nk; k++) sum[t] += ref[t][lev * nk + k] / 2; /* mean over the two levels */
    }
    EXPECT_CLOSE(sum[1], s.rmse * s.rmse, 1e-13, s.rmse * s.rmse, "error spectrum sums to RMSE^2");
    EXPECT_CLOSE(sum[2], s.spread * s.spread, 1e-13, s.spread * s.spread, "spread spectrum sums to spread^2");
  }
  /* every row split over all ranks gives the single-rank spectra */
  for (PetscInt mode = 0; mode < NSPLITS; mode++) {
    PetscInt nloc;
    RowSplit(mode, G.ny, size, rank, &g.y0, &g.nyl);
    nloc = DaisiGridLocalSize(&g);
    PetscCall(PetscMalloc2(M * nloc, &ens, nloc, &truth));
    ExtractSlab(&g, gtruth, truth);
    for (PetscInt m = 0; m < M; m++) ExtractSlab(&g, gens + m * n, ens + m * nloc);
    PetscCall(DaisiMetricsPowerSpectrum(PETSC_COMM_WORLD, &g, truth, spec[0]));
    PetscCall(DaisiMetricsErrorSpectrum(PETSC_COMM_WORLD, &g, M, ens, truth, spec[1]));
    PetscCall(DaisiMetricsSpreadSpectrum(PETSC_COMM_WORLD, &g, M, ens, spec[2]));
    for (PetscInt t = 0; t < 3; t++) {
      PetscReal total = 0;
      for (PetscInt k = 0; k < 2 * nk; k++) total += ref[t][k];
      for (PetscInt k = 0; k < 2 * nk; k++) EXPECT_CLOSE(spec[t][k], ref[t][k], 1e-13, total, "spectrum on all ranks vs one rank");
    }
    PetscCall(PetscFree2(ens, truth));
  }
  for (PetscInt t = 0; t < 3; t++) PetscCall(PetscFree2(ref[t], spec[t]));
  PetscCall(PetscFree2(gens, gtruth));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestLogSpectralDistanceAndErrors(void)
{
  PetscReal      p[6], q[6], lsd;
  PetscErrorCode ierr;
  PetscMPIInt    size;
  DaisiGrid      g = {1, 8, 8, 0, 8, 0, 0, 0};
  PetscReal      f[64] = {0}, spec[8];

  PetscFunctionBegin;
  /* p = 10 q: 10 dB everywhere; ratios of +-3 dB alternating: 3 dB */
  for (PetscInt k = 0; k < 6; k++) {
    q[k] = 1.0 / (1 + k * k);
    p[k] = 10 * q[k];
  }
  PetscCall(DaisiMetricsLogSpectralDistance(1, 5, p, q, &lsd));
  EXPECT_CLOSE(lsd, 10.0, 1e-14, 10.0, "LSD of a factor 10");
  for (PetscInt k = 0; k < 6; k++) p[k] = q[k] * PetscPowReal(10.0, k % 2 ? 0.3 : -0.3);
  PetscCall(DaisiMetricsLogSpectralDistance(0, 5, p, q, &lsd));
  EXPECT_CLOSE(lsd, 3.0, 1e-14, 3.0, "LSD of +-3 dB");
  PetscCall(DaisiMetricsLogSpectralDistance(2, 2, q, q, &lsd));
  EXPECT(lsd == 0, "LSD of a spectrum to itself is %g", (double)lsd);

  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  p[3] = 0;
  ierr = DaisiMetricsLogSpectralDistance(0, 5, p, q, &lsd);
  EXPECT(ierr == PETSC_ERR_ARG_WRONG, "LSD with zero power returned %d, expected PETSC_ERR_ARG_WRONG", (int)ierr);
  ierr = DaisiMetricsLogSpectralDistance(4, 2, p, q, &lsd);
  EXPECT(ierr == PETSC_ERR_ARG_OUTOFRANGE, "LSD with kmin > kmax returned %d, expected PETSC_ERR_ARG_OUTOFRANGE", (int)ierr);
  /* row slabs that do not tile the grid: every rank claims all rows (or, alone, misses one) */
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (size == 1) g.nyl = 7;
  ierr = DaisiMetricsPowerSpectrum(PETSC_COMM_WORLD, &g, f, spec);
  EXPECT(ierr == PETSC_ERR_ARG_INCOMP, "spectrum of overlapping/incomplete slabs returned %d, expected PETSC_ERR_ARG_INCOMP", (int)ierr);
  PetscCall(PetscPopErrorHandler());
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(TestModes());
  PetscCall(TestParsevalAndLayout(24, 32));
  PetscCall(TestParsevalAndLayout(9, 15));
  PetscCall(TestLogSpectralDistanceAndErrors());
  PetscCall(FinishTest("test_spectrum"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
