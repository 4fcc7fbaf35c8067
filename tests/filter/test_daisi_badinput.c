/* Bad input to the DAISI filter ends in clear errors that name the option (or file) at fault:
 * unknown -daisi_guidance / -daisi_variant / -daisi_lambda_schedule / -daisi_mmps_solver /
 * -daisi_method, t_min outside [0, 1), other out-of-range parameters (options and API), a
 * missing prior file, a file that is not HDF5, an HDF5 file that is no prior, Gaussian and
 * network prior files for another grid, no prior at all, two priors named at once, a prior on
 * the wrong communicator. A diverging analysis (far too strong DPS guidance) errors naming the
 * cycle and the member and leaves the ensemble untouched. The -daisi_* and -letkf_* options are
 * read by every filter type, so one scenario file serves letkf and daisi. */
#include "daisitest.h"
#include <daisi/nn.h>
#include <hdf5.h>

static const char help[] = "Tests that bad DAISI filter input is rejected with clear errors.\n";

/* DaisiFilterSetFromOptions with one option set (cleared afterwards) */
static PetscErrorCode FromOptionsWith(const char name[], const char value[])
{
  DaisiFilter    f;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscOptionsSetValue(NULL, "-filter_type", "daisi"));
  PetscCall(PetscOptionsSetValue(NULL, name, value));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  ierr = DaisiFilterSetFromOptions(f);
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(PetscOptionsClearValue(NULL, name));
  PetscCall(PetscOptionsClearValue(NULL, "-filter_type"));
  PetscFunctionReturn(ierr);
}

/* a daisi filter set up for e with the prior file (or none) and extra options */
static PetscErrorCode SetUpWith(DaisiEnsemble e, const char priorfile[], const char opt[], const char val[], DaisiPrior prior)
{
  DaisiFilter            f;
  DaisiFilterDAISIParams par;
  PetscErrorCode         ierr;

  PetscFunctionBegin;
  if (opt) PetscCall(PetscOptionsSetValue(NULL, opt, val));
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_DAISI));
  PetscCall(DaisiFilterDAISIParamsDefault(&par));
  if (priorfile) PetscCall(PetscStrncpy(par.prior_file, priorfile, sizeof(par.prior_file)));
  PetscCall(DaisiFilterDAISISetParams(f, &par));
  if (prior) PetscCall(DaisiFilterDAISISetPrior(f, prior));
  PetscCall(DaisiFilterSetEnsemble(f, e));
  ierr = DaisiFilterSetUp(f);
  PetscCall(DaisiFilterDestroy(&f));
  if (opt) PetscCall(PetscOptionsClearValue(NULL, opt));
  PetscFunctionReturn(ierr);
}

static PetscErrorCode ParamsWith(DaisiFilter f, PetscInt which)
{
  DaisiFilterDAISIParams p;

  PetscFunctionBegin;
  PetscCall(DaisiFilterDAISIParamsDefault(&p));
  switch (which) {
  case 0:
    p.tmin = 1.0;
    break;
  case 1:
    p.tmin = -0.2;
    break;
  case 2:
    p.steps = 0;
    break;
  case 3:
    p.lambda = -1;
    break;
  case 4:
    p.mmps_iterations = 0;
    break;
  case 5:
    p.corrector_tau = 0;
    break;
  case 6:
    p.guidance = (DaisiFilterDAISIGuidance)7;
    break;
  }
  PetscCall(DaisiFilterDAISISetParams(f, &p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a diverging analysis: the error names cycle and member, the ensemble keeps its forecast */
static PetscErrorCode Diverge(DaisiEnsemble e, DaisiPrior prior, const DaisiObsSet *obs, PetscReal lambda, PetscReal bound)
{
  DaisiFilter            f;
  DaisiFilterDAISIParams par;

  PetscFunctionBegin;
  PetscCall(DaisiFilterDAISIParamsDefault(&par));
  par.guidance         = DAISI_FILTER_DAISI_DPS;
  par.lambda           = lambda;
  par.divergence_bound = bound;
  par.steps           = 5;
  par.inversion_steps = 5;
  PetscCall(DaisiTestFilter(e, &par, prior, &f));
  PetscCall(DaisiFilterAnalysis(f, e, obs));
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  DaisiEnsemble    e, e16;
  DaisiGrid        g, g16;
  DaisiPrior       prior, p16, pself;
  DaisiTestClimate clim, clim16;
  DaisiFilter      f;
  DaisiObsSet      obs;
  PetscMPIInt      size, rank;
  char             gauss16[64], net16[64], textfile[64], foreign[64];
  PetscReal       *before, *after, *truth, *tloc;
  const PetscInt   M = 4;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));

  /* options: unknown choices and out-of-range values name the option */
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_guidance", "dpss"), "-daisi_guidance", "dpss");
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_variant", "reverse"), "-daisi_variant", "reverse");
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_lambda_schedule", "cosine"), "-daisi_lambda_schedule", "cosine");
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_mmps_solver", "lsqr"), "-daisi_mmps_solver", "lsqr");
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_method", "rk4"), "-daisi_method", "rk4");
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_tmin", "1"), "-daisi_tmin", "[0, 1)");
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_tmin", "-0.1"), "-daisi_tmin", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_steps", "0"), "-daisi_steps", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_inversion_steps", "-3"), "-daisi_inversion_steps", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_eps", "-0.5"), "-daisi_eps", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_mmps_rtol", "2"), "-daisi_mmps_rtol", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_correctors", "-1"), "-daisi_correctors", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_divergence_bound", "0"), "-daisi_divergence_bound", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_time_power", "0.5"), "-daisi_time_power", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_rtps", "1.5"), "-daisi_rtps", "[0, 1]");
  EXPECT_ERROR_MSG(FromOptionsWith("-daisi_rtps", "-0.1"), "-daisi_rtps", NULL);
  EXPECT_ERROR_MSG(FromOptionsWith("-filter_type", "daisy"), "daisy", "daisi");
  /* the API */
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_DAISI));
  EXPECT_ERROR_MSG(ParamsWith(f, 0), "-daisi_tmin", "[0, 1)");
  EXPECT_ERROR_MSG(ParamsWith(f, 1), "-daisi_tmin", NULL);
  EXPECT_ERROR_MSG(ParamsWith(f, 2), "-daisi_steps", NULL);
  EXPECT_ERROR_MSG(ParamsWith(f, 3), "-daisi_lambda", NULL);
  EXPECT_ERROR_MSG(ParamsWith(f, 4), "-daisi_mmps_iterations", NULL);
  EXPECT_ERROR_MSG(ParamsWith(f, 5), "-daisi_corrector_tau", NULL);
  EXPECT_ERROR_MSG(ParamsWith(f, 6), "-daisi_guidance", NULL);
  PetscCall(DaisiFilterDestroy(&f));

  /* one option file for every filter: letkf reads (and ignores) -daisi_*, daisi -letkf_* */
  {
    const char *names[] = {"-daisi_guidance", "-daisi_lambda", "-daisi_lambda_schedule", "-daisi_tmin", "-letkf_cutoff", "-letkf_rtps", "-letkf_lr", "-letkf_ensemble_space", "-filter_type"};
    const char *vals[]  = {"dps_scale", "10", "linear", "0.4", "1500e3", "0.5", "1e6", "false", NULL};
    for (PetscInt k = 0; k < 4; k++) {
      DaisiFilterDAISIParams p;
      const char            *types[] = {"letkf", "etkf", "none", "daisi"};
      vals[8]                        = types[k];
      for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) PetscCall(PetscOptionsSetValue(NULL, names[i], vals[i]));
      PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
      PetscCall(DaisiFilterSetFromOptions(f));
      for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        PetscBool used;
        PetscCall(PetscOptionsUsed(NULL, names[i] + 1, &used)); /* stored without the dash */
        EXPECT(used, "filter type %s does not read %s (a scenario file with it would be refused)", types[k], names[i]);
      }
      PetscCall(DaisiFilterDAISIGetParams(f, &p));
      EXPECT(p.guidance == DAISI_FILTER_DAISI_DPS_SCALE && p.lambda == 10 && p.tmin == 0.4 && p.schedule == DAISI_FILTER_DAISI_LAMBDA_LINEAR, "%s filter: -daisi_* options not read", types[k]);
      PetscCall(DaisiFilterDestroy(&f));
      for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) PetscCall(PetscOptionsClearValue(NULL, names[i]));
    }
  }

  /* prior files */
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, 1, &e));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(DaisiTestGaussianPrior(e, &clim, &prior));
  PetscCall(PetscSNPrintf(gauss16, sizeof(gauss16), "daisi_bad_gauss16_np%d.h5", size));
  PetscCall(PetscSNPrintf(net16, sizeof(net16), "daisi_bad_net16_np%d.h5", size));
  PetscCall(PetscSNPrintf(textfile, sizeof(textfile), "daisi_bad_text_np%d.h5", size));
  PetscCall(PetscSNPrintf(foreign, sizeof(foreign), "daisi_bad_foreign_np%d.h5", size));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_n", "16"));
  PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, 1, &e16));
  PetscCall(DaisiEnsembleGetGrid(e16, &g16));
  PetscCall(DaisiTestGaussianPrior(e16, &clim16, &p16));
  PetscCall(DaisiPriorGaussianSave(p16, gauss16));
  {
    DaisiNet net;
    MPI_Comm group;
    PetscCall(DaisiEnsembleGetGroupComm(e16, &group));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_base_width", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_channel_mult", "1,2"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_groups", "2"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_time_features", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_time_dim", "8"));
    PetscCall(DaisiNetCreate(group, &net));
    PetscCall(DaisiNetSetFromOptions(net));
    PetscCall(DaisiNetSetUp(net, &g16));
    PetscCall(DaisiNetSave(net, net16));
    PetscCall(DaisiNetDestroy(&net));
  }
  PetscCall(PetscOptionsClearValue(NULL, "-sqg_n"));
  if (!rank) {
    FILE *fp = fopen(textfile, "w");
    hid_t h, sp, a, ty;
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", textfile);
    fprintf(fp, "not a prior\n");
    fclose(fp);
    h  = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    sp = H5Screate(H5S_SCALAR);
    ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, 8);
    a = H5Acreate2(h, "format", ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, ty, "netcdf4");
    H5Aclose(a);
    H5Tclose(ty);
    H5Sclose(sp);
    H5Fclose(h);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  EXPECT_ERROR_MSG(SetUpWith(e, "no_such_prior.h5", NULL, NULL, NULL), "-daisi_prior", "no_such_prior.h5");
  EXPECT_ERROR_MSG(SetUpWith(e, textfile, NULL, NULL, NULL), "-daisi_prior", "not an HDF5 file");
  EXPECT_ERROR_MSG(SetUpWith(e, foreign, NULL, NULL, NULL), "-daisi_prior", "neither a network file");
  EXPECT_ERROR_MSG(SetUpWith(e, gauss16, NULL, NULL, NULL), "-daisi_prior", "16 x 16, the model grid is 2 level(s) on 8 x 8");
  EXPECT_ERROR_MSG(SetUpWith(e, net16, NULL, NULL, NULL), "-daisi_prior", "network prior for 2 level(s) on 16 x 16");
  EXPECT_ERROR_MSG(SetUpWith(e, NULL, NULL, NULL, NULL), "-daisi_prior FILE", NULL);
  EXPECT_ERROR_MSG(SetUpWith(e, gauss16, "-prior_type", "gaussian", NULL), "-daisi_prior", "-prior_type");
  EXPECT_ERROR_MSG(SetUpWith(e, NULL, NULL, NULL, p16), "prior is set up for 2 level(s) on 16 x 16", NULL);
  /* the right file works (and the Gaussian file's scale is adopted) */
  PetscCall(SetUpWith(e16, gauss16, NULL, NULL, NULL));
  PetscCall(SetUpWith(e16, net16, NULL, NULL, NULL));
  if (size > 1) { /* a prior on a communicator that is not the group's */
    PetscCall(DaisiPriorCreate(PETSC_COMM_SELF, &pself));
    PetscCall(DaisiPriorSetType(pself, DAISI_PRIOR_GAUSSIAN));
    PetscCall(DaisiPriorGaussianSetSpectrumFunction(pself, DaisiTestSpectrum, &clim));
    {
      DaisiGrid gs = g;
      gs.y0        = 0;
      gs.nyl       = g.ny;
      PetscCall(DaisiPriorSetUp(pself, &gs));
    }
    EXPECT_ERROR_MSG(SetUpWith(e, NULL, NULL, NULL, pself), "group communicator", NULL);
    PetscCall(DaisiPriorDestroy(&pself));
  }

  /* divergence: error naming cycle and member, nothing written back */
  PetscCall(PetscMalloc4(M * DaisiGridGlobalSize(&g), &before, M * DaisiGridGlobalSize(&g), &after, DaisiGridGlobalSize(&g), &truth, DaisiGridLocalSize(&g) + 1, &tloc));
  SyntheticTruth(&g, 3, truth);
  ExtractSlab(&g, truth, tloc);
  PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
  PetscCall(SyntheticObs(&g, 0.5, DAISI_OBS_OPERATOR_LINEAR, 0.01, truth, 5, 3, &obs));
  PetscCall(DaisiEnsembleGatherGlobal(e, before));
  EXPECT_ERROR_MSG(Diverge(e, prior, &obs, 1e7, 1000), "diverged in cycle 3: member ", "> -daisi_divergence_bound 1000");
  EXPECT_ERROR_MSG(Diverge(e, prior, &obs, 1e200, PETSC_MAX_REAL), "diverged in cycle 3: member ", "became non-finite in the guided SDE");
  PetscCall(DaisiEnsembleGatherGlobal(e, after));
  if (!rank) EXPECT(CountDifferent(M * DaisiGridGlobalSize(&g), before, after) == 0, "a diverged analysis changed the ensemble");
  PetscCall(DaisiObsSetDestroy(&obs));
  PetscCall(PetscFree4(before, after, truth, tloc));

  PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, gauss16));
  PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, net16));
  PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, textfile));
  PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, foreign));
  PetscCall(DaisiPriorDestroy(&prior));
  PetscCall(DaisiPriorDestroy(&p16));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscCall(DaisiEnsembleDestroy(&e16));
  PetscCall(FinishTest("test_daisi_badinput"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
