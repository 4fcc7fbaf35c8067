/* Bad inputs to the prior and the samplers give errors that name the culprit: missing or foreign
 * prior files, grid and scale mismatches, a row split that is not FFTW's, times outside [0, 1],
 * step counts <= 0, bad options, a covariance that is not positive semidefinite, and a
 * diverging integration (NaN is reported, never returned). */
#include <daisi/statefile.h>
#include "priortest.h"

static const char help[] = "Refusals of bad prior and sampler inputs.\n";

static PetscErrorCode GaussianFromFile(MPI_Comm comm, const DaisiGrid *g, const char path[], PetscReal scale)
{
  DaisiPrior     p;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiPriorCreate(comm, &p));
  PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
  if (scale > 0) PetscCall(DaisiPriorSetScale(p, scale));
  PetscCall(DaisiPriorGaussianSetFile(p, path));
  ierr = DaisiPriorSetUp(p, g);
  PetscCall(DaisiPriorDestroy(&p));
  return ierr;
}

static PetscErrorCode GaussianFromTruth(MPI_Comm comm, const DaisiGrid *g, const char path[], PetscInt first, PetscInt stride, PetscInt count)
{
  DaisiPrior     p;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiPriorCreate(comm, &p));
  PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
  ierr = DaisiPriorGaussianSetTruthFile(p, path, first, stride, count);
  if (!ierr) ierr = DaisiPriorSetUp(p, g);
  PetscCall(DaisiPriorDestroy(&p));
  return ierr;
}

static PetscErrorCode NoSource(MPI_Comm comm, const DaisiGrid *g, const char type[])
{
  DaisiPrior     p;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiPriorCreate(comm, &p));
  ierr = DaisiPriorSetType(p, type);
  if (!ierr) ierr = DaisiPriorSetUp(p, g);
  PetscCall(DaisiPriorDestroy(&p));
  return ierr;
}

/* a spectrum whose cross-level correlation exceeds 1 */
static PetscErrorCode BadSpectrum(void *ctx, PetscInt ky, PetscInt kx, PetscInt nlev, PetscReal re[], PetscReal im[])
{
  PetscFunctionBegin;
  (void)ctx;
  (void)ky;
  (void)kx;
  for (PetscInt a = 0; a < nlev; a++)
    for (PetscInt b = 0; b < nlev; b++) {
      re[a * nlev + b] = a == b ? 1.0 : 2.0;
      im[a * nlev + b] = 0;
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NotPSD(MPI_Comm comm, const DaisiGrid *g)
{
  DaisiPrior     p;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiPriorCreate(comm, &p));
  PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
  PetscCall(DaisiPriorGaussianSetSpectrumFunction(p, BadSpectrum, NULL));
  ierr = DaisiPriorSetUp(p, g);
  PetscCall(DaisiPriorDestroy(&p));
  return ierr;
}

static PetscErrorCode OnGrid(MPI_Comm comm, const DaisiGrid *g)
{
  DaisiPrior     p;
  SynthClimate   c;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  SynthInit(&c, g->ny, g->nx);
  PetscCall(DaisiPriorCreate(comm, &p));
  PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
  PetscCall(DaisiPriorGaussianSetSpectrumFunction(p, SynthSpectrum, &c));
  ierr = DaisiPriorSetUp(p, g);
  PetscCall(DaisiPriorDestroy(&p));
  return ierr;
}

static PetscErrorCode NaNGuidance(void *ctx, PetscInt B, PetscReal t, PetscReal eps_t, const PetscReal x[], const PetscReal b[], PetscReal drift[])
{
  const PetscInt n = *(const PetscInt *)ctx;

  PetscFunctionBegin;
  (void)x;
  (void)b;
  (void)eps_t;
  if (t > 0.5 && n > 0) drift[0] = (PetscReal)NAN;
  (void)B;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetFromOptionsWith(MPI_Comm comm, const char name[], const char value[])
{
  DaisiInterpolantParams ip;
  PetscErrorCode         ierr;

  PetscFunctionBegin;
  PetscCall(DaisiInterpolantParamsDefault(&ip));
  PetscCall(PetscOptionsSetValue(NULL, name, value));
  ierr = DaisiInterpolantParamsSetFromOptions(comm, "sample_", &ip);
  PetscCall(PetscOptionsClearValue(NULL, name));
  return ierr;
}

int main(int argc, char **argv)
{
  MPI_Comm       comm;
  PetscMPIInt    size, rank;
  DaisiGrid      g, g8, gbad;
  DaisiPrior     p;
  SynthClimate   c;
  char           good[64], state[64];
  PetscReal     *x, t;
  PetscInt       n;
  DaisiInterpolantParams ip;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PriorTestGrid(comm, 2, 16, 16, &g));
  PetscCall(PriorTestGrid(comm, 2, 8, 8, &g8));
  PetscCall(PetscSNPrintf(good, sizeof(good), "prior_errors_np%d.h5", size));
  PetscCall(PetscSNPrintf(state, sizeof(state), "prior_errors_state_np%d.h5", size));
  n = DaisiGridLocalSize(&g);
  PetscCall(PetscMalloc1(4 * n + 1, &x));

  /* a good prior file and a state file (not a prior file) */
  PetscCall(SynthPrior(comm, &g, &c, &p));
  PetscCall(DaisiPriorGaussianSave(p, good));
  {
    DaisiStateFile f;
    TestField(&g, 1, 1, x);
    PetscCall(DaisiStateFileCreate(comm, &f));
    PetscCall(DaisiStateFileSetGrid(f, &g));
    PetscCall(DaisiStateFileSetNumTimes(f, 2));
    PetscCall(DaisiStateFileOpen(f, state, DAISI_FILE_WRITE));
    PetscCall(DaisiStateFileWrite(f, 0, 0.0, x));
    PetscCall(DaisiStateFileWrite(f, 1, 1.0, x));
    PetscCall(DaisiStateFileClose(f));
    PetscCall(DaisiStateFileDestroy(&f));
  }
  PetscCall(GaussianFromFile(comm, &g, good, 0)); /* reads */

  /* files */
  EXPECT_ERROR_MSG(GaussianFromFile(comm, &g, "no_such_prior.h5", 0), "no_such_prior.h5", "does not exist");
  EXPECT_ERROR_MSG(GaussianFromFile(comm, &g, state, 0), state, "is not a Gaussian prior file");
  EXPECT_ERROR_MSG(GaussianFromFile(comm, &g8, good, 0), good, "does not fit the prior's grid");
  EXPECT_ERROR_MSG(GaussianFromFile(comm, &g, good, 3.0), good, "-prior_scale");
  EXPECT_ERROR_MSG(GaussianFromTruth(comm, &g8, state, 0, 1, 0), state, "the prior's grid");
  EXPECT_ERROR_MSG(GaussianFromTruth(comm, &g, state, 2, 1, 0), state, "-prior_gaussian_truth_first 2");
  EXPECT_ERROR_MSG(GaussianFromTruth(comm, &g, state, 0, 1, 3), state, "-prior_gaussian_truth_count");
  EXPECT_ERROR_MSG(GaussianFromTruth(comm, &g, state, 0, 0, 0), state, "stride >= 1");
  EXPECT_ERROR_MSG(GaussianFromTruth(comm, &g, "no_such_truth.h5", 0, 1, 0), "no_such_truth.h5", NULL);
  EXPECT_ERROR_MSG(NoSource(comm, &g, DAISI_PRIOR_GAUSSIAN), "-prior_gaussian_file", "-prior_gaussian_truth");
  EXPECT_ERROR_MSG(NoSource(comm, &g, DAISI_PRIOR_NET), "-prior_file", NULL);
  EXPECT_ERROR_MSG(NoSource(comm, &g, "bogus"), "unknown prior type 'bogus'", NULL);
  EXPECT_ERROR_MSG(NotPSD(comm, &g), "not positive semidefinite", NULL);

  /* a row split that is not FFTW's */
  gbad = g;
  if (rank == 0) gbad.nyl = g.nyl - 1;
  EXPECT_ERROR_MSG(OnGrid(comm, &gbad), "row split is not FFTW-MPI's", NULL);

  /* times and steps */
  TestField(&g, 1, 2, x);
  t = 1.5;
  EXPECT_ERROR_MSG(DaisiPriorVelocity(p, 1, &t, x, x + n), "t = 1.5", "outside [0, 1]");
  t = -0.25;
  EXPECT_ERROR_MSG(DaisiPriorVelocityVJP(p, 1, &t, x, x, NULL, x + n), "t = -0.25", "outside [0, 1]");
  EXPECT_ERROR_MSG(DaisiPriorVelocityJVP(p, 1, &t, x, x, NULL, x + n), "t = -0.25", "outside [0, 1]");
  PetscCall(DaisiInterpolantParamsDefault(&ip));
  ip.steps = 0;
  EXPECT_ERROR_MSG(DaisiInterpolantForward(p, &ip, 1, NULL, 0.0, x), "steps must be >= 1", NULL);
  ip.steps = -3;
  EXPECT_ERROR_MSG(DaisiInterpolantInvert(p, &ip, 1, NULL, 0.3, x), "steps must be >= 1", "-3");
  ip.steps = 4;
  EXPECT_ERROR_MSG(DaisiInterpolantForward(p, &ip, 1, NULL, 1.0, x), "t0 = 1", "[0, 1)");
  EXPECT_ERROR_MSG(DaisiInterpolantInvert(p, &ip, 1, NULL, -0.2, x), "t_min = -0.2", "[0, 1)");
  EXPECT_ERROR_MSG(DaisiInterpolantInvert(p, &ip, 1, NULL, 1.0, x), "t_min = 1", "[0, 1)");
  ip.eps = -0.1;
  EXPECT_ERROR_MSG(DaisiInterpolantForward(p, &ip, 1, NULL, 0.0, x), "eps must be >= 0", NULL);

  /* options */
  EXPECT_ERROR_MSG(SetFromOptionsWith(comm, "-sample_steps", "0"), "-sample_steps must be >= 1", NULL);
  EXPECT_ERROR_MSG(SetFromOptionsWith(comm, "-sample_eps", "-1"), "-sample_eps must be >= 0", NULL);
  EXPECT_ERROR_MSG(SetFromOptionsWith(comm, "-sample_method", "rk4"), "rk4", NULL);

  /* a diverging (guided) integration is reported */
  {
    PetscInt nloc = n;
    PetscCall(DaisiInterpolantParamsDefault(&ip));
    ip.steps        = 4;
    ip.guidance     = NaNGuidance;
    ip.guidance_ctx = &nloc;
    TestField(&g, 1, 3, x);
    EXPECT_ERROR_MSG(DaisiInterpolantForward(p, &ip, 1, NULL, 0.0, x), "forward interpolant integration", "NaN or Inf");
  }

  /* order: use before set-up */
  {
    DaisiPrior q;
    PetscCall(DaisiPriorCreate(comm, &q));
    t = 0.5;
    EXPECT_ERROR_MSG(DaisiPriorVelocity(q, 1, &t, x, x + n), "DaisiPriorSetUp", NULL);
    PetscCall(DaisiPriorDestroy(&q));
  }

  PetscCall(DaisiPriorDestroy(&p));
  PetscCall(PetscFree(x));
  PetscCall(FinishTest("prior_errors"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
