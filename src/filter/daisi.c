/* The DAISI filter (type daisi): data assimilation with inverse sampling through an
 * unconditional stochastic-interpolant prior (Andrae et al., arXiv 2512.00252; docs/daisi.md).
 *
 * Per cycle and per member group, the group's members go through the prior as one batch, on
 * the group communicator, in normalised space x_n = x / s_data:
 *   1. start at t_min: invert the forecast with the backward SDE/ODE (variant invert), or draw
 *      z ~ N(0, I) at t = 0 (noise), or forward-noise the forecast t_min x_f + (1 - t_min) z
 *      (sdedit);
 *   2. guided forward SDE from t_min to 1 (DaisiInterpolantForward with the guidance hook):
 *      drift b + lam(t) c(t) g + eps(t) (s + lam(t) g), g from DPS, DPS-scale or MMPS;
 *   3. de-normalise: the members at t = 1 are the analysis.
 * Observations live at grid points; a rank owns those on its rows. Every observation-space
 * sum (misfit norm, CG/GMRES inner products) is formed per grid row, summed over the group with
 * one MPI_Allreduce in which every entry has a single nonzero contribution (exact), then added in
 * row order: the result does not depend on the rank count, and a member's result does not
 * depend on which other members share its batch. A state that turns non-finite or exceeds
 * -daisi_divergence_bound stops the integration; the error, raised on the whole world, names
 * the cycle and the member, and nothing is written back. */
#include "filterimpl.h"
#include "../io/h5util.h"
#include <daisi/sys.h>

/* root attributes that identify the two kinds of prior file (src/prior/gaussian.c, src/nn/io.c) */
#define DAISI_GAUSSIAN_PRIOR_FORMAT "daisi-prior-gaussian"
#define DAISI_NET_FORMAT            "daisi-nn"

PetscLogEvent DAISI_FilterDAISIInversion = 0, DAISI_FilterDAISIGuidedSteps = 0, DAISI_FilterDAISIGuidance = 0, DAISI_FilterDAISIMMPSSolve = 0;
static PetscLogEvent DAISI_FilterDAISIReduce = 0; /* the group reductions of the guidance (ObsSum) */

const char *const DaisiFilterDAISIVariants[]  = {"invert", "noise", "sdedit", NULL};
const char *const DaisiFilterDAISIGuidances[] = {"dps", "dps_scale", "mmps", "none", NULL};
const char *const DaisiFilterDAISISchedules[] = {"constant", "linear", NULL};
const char *const DaisiFilterDAISISolvers[]   = {"cg", "gmres", NULL};

/* what stopped an integration (the monitor's record) */
enum { PHASE_INVERSION = 1, PHASE_GUIDED = 2 };

typedef struct {
  DaisiPrior    prior;
  PetscBool     own_prior;
  DaisiEnsemble ens; /* the ensemble the work space was made for */
  MPI_Comm      world, group, slab;
  DaisiGrid     grid; /* this rank's slab of the group's members */
  PetscReal     scale;
  PetscInt      n, B, M;
  PetscInt     *member; /* global member of batch entry b */
  /* work: t of B entries, sb of n (the forecast's spread per point, kept for RTPS), the rest B * n */
  PetscReal *t, *xn, *x1, *fw, *fj, *g, *bt, *sb;
  /* the cycle being analysed: the observations on this rank's rows */
  const DaisiObsSet *obs;
  PetscInt           cycle, nown, *own, *site, *row;
  PetscReal         *y, *sig2;
  PetscReal         *theta, *hp, *res, *u, *ones, *part; /* B * nown (part: B * ny) */
  /* the monitor's record */
  PetscInt  phase;
  PetscInt  div_member;
  PetscReal div_t, div_max;
} Filter_DAISI;

/* ---------------------------------------------------------------------------------------
 * Parameters (read by every filter type)
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiFilterDAISIParamsDefault(DaisiFilterDAISIParams *p)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(p, sizeof(*p)));
  p->variant          = DAISI_FILTER_DAISI_INVERT;
  p->tmin             = 0.3;
  p->inversion_steps  = 100;
  p->steps            = 100;
  p->method           = DAISI_INTERPOLANT_EULER;
  p->time_power       = 1;
  p->eps              = 0.03;
  p->guidance         = DAISI_FILTER_DAISI_MMPS;
  p->lambda           = 1;
  p->schedule         = DAISI_FILTER_DAISI_LAMBDA_CONSTANT;
  p->mmps_solver      = DAISI_FILTER_DAISI_CG;
  p->mmps_iterations  = 1;
  p->mmps_rtol        = 1e-6;
  p->correctors       = 0;
  p->corrector_tau    = 1e-4;
  p->seed             = 0;
  p->divergence_bound = 1000;
  p->rtps             = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckParams(MPI_Comm comm, const DaisiFilterDAISIParams *p)
{
  PetscFunctionBegin;
  PetscCheck(p->variant >= DAISI_FILTER_DAISI_INVERT && p->variant <= DAISI_FILTER_DAISI_SDEDIT, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_variant: unknown variant %d (invert, noise, sdedit)", (int)p->variant);
  PetscCheck(p->tmin >= 0 && p->tmin < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_tmin must be in [0, 1), got %g", (double)p->tmin);
  PetscCheck(p->inversion_steps >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_inversion_steps must be >= 1, got %" PetscInt_FMT, p->inversion_steps);
  PetscCheck(p->steps >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_steps must be >= 1, got %" PetscInt_FMT, p->steps);
  PetscCheck(p->method == DAISI_INTERPOLANT_EULER || p->method == DAISI_INTERPOLANT_HEUN, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_method: unknown method %d (euler, heun)", (int)p->method);
  PetscCheck(p->time_power >= 1 && p->time_power <= 10, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_time_power must be in [1, 10], got %g", (double)p->time_power);
  PetscCheck(p->eps >= 0 && PetscIsNormalReal(p->eps + 1), comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_eps must be finite and >= 0, got %g", (double)p->eps);
  PetscCheck(p->guidance >= DAISI_FILTER_DAISI_DPS && p->guidance <= DAISI_FILTER_DAISI_GUIDANCE_NONE, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_guidance: unknown guidance %d (dps, dps_scale, mmps, none)", (int)p->guidance);
  PetscCheck(p->lambda >= 0 && PetscIsNormalReal(p->lambda + 1), comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_lambda must be finite and >= 0, got %g", (double)p->lambda);
  PetscCheck(p->schedule == DAISI_FILTER_DAISI_LAMBDA_CONSTANT || p->schedule == DAISI_FILTER_DAISI_LAMBDA_LINEAR, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_lambda_schedule: unknown schedule %d (constant, linear)", (int)p->schedule);
  PetscCheck(p->mmps_solver == DAISI_FILTER_DAISI_CG || p->mmps_solver == DAISI_FILTER_DAISI_GMRES, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_mmps_solver: unknown solver %d (cg, gmres)", (int)p->mmps_solver);
  PetscCheck(p->mmps_iterations >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_mmps_iterations must be >= 1, got %" PetscInt_FMT, p->mmps_iterations);
  PetscCheck(p->mmps_rtol >= 0 && p->mmps_rtol < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_mmps_rtol must be in [0, 1), got %g", (double)p->mmps_rtol);
  PetscCheck(p->correctors >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_correctors must be >= 0, got %" PetscInt_FMT, p->correctors);
  PetscCheck(p->corrector_tau > 0 && PetscIsNormalReal(p->corrector_tau), comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_corrector_tau must be finite and > 0, got %g", (double)p->corrector_tau);
  PetscCheck(p->divergence_bound > 0 && !PetscIsNanReal(p->divergence_bound), comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_divergence_bound must be > 0 (state units), got %g", (double)p->divergence_bound);
  PetscCheck(p->rtps >= 0 && p->rtps <= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-daisi_rtps must be in [0, 1], got %g", (double)p->rtps);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterDAISIGetParams(DaisiFilter f, DaisiFilterDAISIParams *p)
{
  PetscFunctionBegin;
  *p = f->daisi;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterDAISISetParams(DaisiFilter f, const DaisiFilterDAISIParams *p)
{
  Filter_DAISI *d = (Filter_DAISI *)f->data;
  PetscBool     same;

  PetscFunctionBegin;
  PetscCall(CheckParams(f->comm, p));
  PetscCall(PetscStrcmp(p->prior_file, f->daisi.prior_file, &same));
  PetscCheck(same || !d || !d->prior, f->comm, PETSC_ERR_ORDER, "-daisi_prior cannot change once the daisi filter has created its prior");
  f->daisi = *p;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterDAISIParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject)
{
  DaisiFilterDAISIParams p       = f->daisi;
  const char *const      meth[]  = {DaisiInterpolantMethods[0], DaisiInterpolantMethods[1], NULL};
  PetscInt               variant = p.variant, guid = p.guidance, sched = p.schedule, solver = p.mmps_solver, method = p.method, seed = (PetscInt)p.seed;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "DAISI filter options (used by -filter_type daisi)");
  PetscCall(DaisiFilterReadChoice(PetscOptionsObject, "DaisiFilterDAISISetParams", "-daisi_variant", "Start of the guided SDE: invert (the forecast, to t_min), noise (t = 0, N(0,I)), sdedit (t_min x_f + (1 - t_min) z)", DaisiFilterDAISIVariants, &variant));
  PetscCall(PetscOptionsReal("-daisi_tmin", "Inversion target / start of the guided SDE, in [0, 1)", "DaisiFilterDAISISetParams", p.tmin, &p.tmin, NULL));
  PetscCall(PetscOptionsInt("-daisi_inversion_steps", "Steps of the backward SDE/ODE (inversion)", "DaisiFilterDAISISetParams", p.inversion_steps, &p.inversion_steps, NULL));
  PetscCall(PetscOptionsInt("-daisi_steps", "Steps of the guided forward SDE", "DaisiFilterDAISISetParams", p.steps, &p.steps, NULL));
  PetscCall(DaisiFilterReadChoice(PetscOptionsObject, "DaisiFilterDAISISetParams", "-daisi_method", "Time stepping of both SDEs (euler, heun)", meth, &method));
  PetscCall(PetscOptionsReal("-daisi_time_power", "Time nodes lo + (hi - lo) u^p, u uniform (1: uniform)", "DaisiFilterDAISISetParams", p.time_power, &p.time_power, NULL));
  PetscCall(PetscOptionsReal("-daisi_eps", "Diffusion eps of eps(t) = eps (1 - t), both SDEs; 0 = ODEs", "DaisiFilterDAISISetParams", p.eps, &p.eps, NULL));
  PetscCall(DaisiFilterReadChoice(PetscOptionsObject, "DaisiFilterDAISISetParams", "-daisi_guidance", "Observation guidance (dps, dps_scale, mmps, none)", DaisiFilterDAISIGuidances, &guid));
  PetscCall(PetscOptionsReal("-daisi_lambda", "Guidance strength lam", "DaisiFilterDAISISetParams", p.lambda, &p.lambda, NULL));
  PetscCall(DaisiFilterReadChoice(PetscOptionsObject, "DaisiFilterDAISISetParams", "-daisi_lambda_schedule", "lam(t): constant (lam) or linear (lam (1 - t))", DaisiFilterDAISISchedules, &sched));
  PetscCall(DaisiFilterReadChoice(PetscOptionsObject, "DaisiFilterDAISISetParams", "-daisi_mmps_solver", "Matrix-free solver of the MMPS system (cg, gmres)", DaisiFilterDAISISolvers, &solver));
  PetscCall(PetscOptionsInt("-daisi_mmps_iterations", "Maximum iterations of the MMPS solver", "DaisiFilterDAISISetParams", p.mmps_iterations, &p.mmps_iterations, NULL));
  PetscCall(PetscOptionsReal("-daisi_mmps_rtol", "Relative residual at which the MMPS solver stops early", "DaisiFilterDAISISetParams", p.mmps_rtol, &p.mmps_rtol, NULL));
  PetscCall(PetscOptionsInt("-daisi_correctors", "Langevin corrector steps after each guided step", "DaisiFilterDAISISetParams", p.correctors, &p.correctors, NULL));
  PetscCall(PetscOptionsReal("-daisi_corrector_tau", "Step size of the Langevin corrector steps (normalised units)", "DaisiFilterDAISISetParams", p.corrector_tau, &p.corrector_tau, NULL));
  PetscCall(PetscOptionsInt("-daisi_seed", "Seed of the SDE noise", "DaisiFilterDAISISetParams", seed, &seed, NULL));
  PetscCall(PetscOptionsReal("-daisi_divergence_bound", "Largest |x| (state units) before an integration is declared diverged", "DaisiFilterDAISISetParams", p.divergence_bound, &p.divergence_bound, NULL));
  PetscCall(PetscOptionsReal("-daisi_rtps", "Relaxation of the analysis spread to the forecast spread, alpha in [0, 1] (RTPS, per grid point)", "DaisiFilterDAISISetParams", p.rtps, &p.rtps, NULL));
  PetscCall(PetscOptionsString("-daisi_prior", "Prior file: a Gaussian prior file (daisi-sample -sample_estimate) or a trained network file", "DaisiFilterDAISISetParams", p.prior_file, p.prior_file, sizeof(p.prior_file), NULL));
  PetscOptionsHeadEnd();
  p.variant     = (DaisiFilterDAISIVariant)variant;
  p.guidance    = (DaisiFilterDAISIGuidance)guid;
  p.schedule    = (DaisiFilterDAISISchedule)sched;
  p.mmps_solver = (DaisiFilterDAISIMMPSSolver)solver;
  p.method      = (DaisiInterpolantMethod)method;
  p.seed        = seed;
  PetscCall(DaisiFilterDAISISetParams(f, &p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The prior: from -daisi_prior FILE (kind detected from the file) or the -prior_* options
 * ------------------------------------------------------------------------------------- */
enum { PRIOR_FILE_GAUSSIAN = 1, PRIOR_FILE_NET = 2 };

typedef struct {
  int       kind;
  PetscReal scale; /* Gaussian: the s_data the covariance is normalised by */
  PetscInt  nlev, ny, nx;
  char      msg[PETSC_MAX_PATH_LEN + 512];
} PriorFileInfo;

/* rank 0 of comm reads the root attributes; every rank gets the answer (or the message) */
static PetscErrorCode PriorFileDetect(MPI_Comm comm, const char path[], PriorFileInfo *info)
{
  PetscMPIInt rank;
  PetscBool   exists;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(info, sizeof(*info)));
  PetscCall(DaisiFileExists(comm, path, &exists));
  PetscCheck(exists, comm, PETSC_ERR_FILE_OPEN, "-daisi_prior %s: no such file", path);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    H5E_auto2_t    efn;
    void          *edata;
    hid_t          file = H5I_INVALID_HID;
    char           fmt[64];
    PetscBool      found, found2;
    PetscInt64     v[3] = {0, 0, 0};
    PetscErrorCode ierr = PETSC_SUCCESS;

    H5Eget_auto2(H5E_DEFAULT, &efn, &edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Fis_hdf5(path) > 0) file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
      (void)PetscSNPrintf(info->msg, sizeof(info->msg), "-daisi_prior %s is not an HDF5 file (a Gaussian prior file from daisi-sample -sample_estimate or a trained network file is expected)", path);
    } else {
      ierr = DaisiH5ReadAttrString(PETSC_COMM_SELF, file, "format", fmt, sizeof(fmt), &found, path);
      if (!ierr && found && !strcmp(fmt, DAISI_NET_FORMAT)) {
        info->kind = PRIOR_FILE_NET;
        if (!ierr) ierr = DaisiH5ReadAttrInt64(PETSC_COMM_SELF, file, "grid_nlev", &v[0], &found, path);
        if (!ierr) ierr = DaisiH5ReadAttrInt64(PETSC_COMM_SELF, file, "grid_ny", &v[1], &found2, path);
        found = (PetscBool)(found && found2);
        if (!ierr) ierr = DaisiH5ReadAttrInt64(PETSC_COMM_SELF, file, "grid_nx", &v[2], &found2, path);
        found = (PetscBool)(found && found2);
      } else if (!ierr) {
        ierr = DaisiH5ReadAttrString(PETSC_COMM_SELF, file, "daisi_format", fmt, sizeof(fmt), &found, path);
        if (!ierr && found && !strcmp(fmt, DAISI_GAUSSIAN_PRIOR_FORMAT)) {
          info->kind = PRIOR_FILE_GAUSSIAN;
          if (!ierr) ierr = DaisiH5ReadAttrReal(PETSC_COMM_SELF, file, "scale", &info->scale, &found, path);
          if (!ierr) ierr = DaisiH5ReadAttrInt64(PETSC_COMM_SELF, file, "nlev", &v[0], &found2, path);
          found = (PetscBool)(found && found2);
          if (!ierr) ierr = DaisiH5ReadAttrInt64(PETSC_COMM_SELF, file, "ny", &v[1], &found2, path);
          found = (PetscBool)(found && found2);
          if (!ierr) ierr = DaisiH5ReadAttrInt64(PETSC_COMM_SELF, file, "nx", &v[2], &found2, path);
          found = (PetscBool)(found && found2);
        } else if (!ierr) {
          (void)PetscSNPrintf(info->msg, sizeof(info->msg), "-daisi_prior %s is neither a network file (root attribute format = \"%s\") nor a Gaussian prior file (root attribute daisi_format = \"%s\")", path, DAISI_NET_FORMAT, DAISI_GAUSSIAN_PRIOR_FORMAT);
        }
      }
      if (ierr || (info->kind && !found)) (void)PetscSNPrintf(info->msg, sizeof(info->msg), "-daisi_prior %s: cannot read the grid attributes of this %s file", path, info->kind == PRIOR_FILE_NET ? "network" : "Gaussian prior");
      H5Fclose(file);
    }
    H5Eset_auto2(H5E_DEFAULT, efn, edata);
    info->nlev = (PetscInt)v[0];
    info->ny   = (PetscInt)v[1];
    info->nx   = (PetscInt)v[2];
  }
  PetscCallMPI(MPI_Bcast(info, (PetscMPIInt)sizeof(*info), MPI_BYTE, 0, comm));
  PetscCheck(!info->msg[0], comm, PETSC_ERR_FILE_UNEXPECTED, "%s", info->msg);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode HasPriorOption(const char prefix[], const char name[], PetscBool *has)
{
  PetscFunctionBegin;
  PetscCall(PetscOptionsHasName(NULL, prefix, name, has));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CreatePrior(DaisiFilter f, Filter_DAISI *d)
{
  char        path[PETSC_MAX_PATH_LEN];
  DaisiPrior  p;

  PetscFunctionBegin;
  PetscCall(DaisiResolveSourcePath(d->world, f->daisi.prior_file, path, sizeof(path)));
  PetscCall(DaisiPriorCreate(d->group, &p));
  d->prior     = p;
  d->own_prior = PETSC_TRUE;
  if (f->prefix) PetscCall(DaisiPriorSetOptionsPrefix(p, f->prefix));
  if (path[0]) {
    PriorFileInfo info;
    PetscBool     has;
    const char   *clash[] = {"-prior_type", "-prior_file", "-prior_gaussian_file", "-prior_gaussian_truth"};
    PetscCall(PriorFileDetect(d->world, path, &info));
    for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
      PetscCall(HasPriorOption(f->prefix, clash[i], &has));
      PetscCheck(!has, d->world, PETSC_ERR_ARG_INCOMP, "-daisi_prior %s and %s both name a prior: give one of them (the scenario configs name the shipped prior; -daisi_prior \"\" clears it)", path, clash[i]);
    }
    PetscCheck(info.nlev == d->grid.nlev && info.ny == d->grid.ny && info.nx == d->grid.nx, d->world, PETSC_ERR_ARG_INCOMP, "-daisi_prior %s holds a %s prior for %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT ", the model grid is %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT, path,
               info.kind == PRIOR_FILE_NET ? "network" : "Gaussian", info.nlev, info.ny, info.nx, d->grid.nlev, d->grid.ny, d->grid.nx);
    if (info.kind == PRIOR_FILE_NET) {
      PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_NET));
      PetscCall(DaisiPriorNetSetFile(p, path));
      PetscCall(DaisiPriorSetFromOptions(p));
    } else {
      PetscCall(DaisiPriorSetType(p, DAISI_PRIOR_GAUSSIAN));
      PetscCall(DaisiPriorSetFromOptions(p));
      /* the file's normalisation unless -prior_scale says otherwise (then the prior checks that they agree) */
      PetscCall(HasPriorOption(f->prefix, "-prior_scale", &has));
      if (!has) PetscCall(DaisiPriorSetScale(p, info.scale));
      PetscCall(DaisiPriorGaussianSetFile(p, path));
    }
  } else {
    const char *src[] = {"-prior_type", "-prior_file", "-prior_gaussian_file", "-prior_gaussian_truth"};
    PetscBool   any   = PETSC_FALSE, has;
    for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
      PetscCall(HasPriorOption(f->prefix, src[i], &has));
      any = (PetscBool)(any || has);
    }
    PetscCheck(any, d->world, PETSC_ERR_USER_INPUT, "the daisi filter needs a prior: -daisi_prior FILE (a Gaussian prior file from daisi-sample -sample_estimate, or a trained network file), or the -prior_* options (docs/prior.md)");
    PetscCall(DaisiPriorSetFromOptions(p));
  }
  PetscCall(DaisiPriorSetUp(p, &d->grid));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* makes the prior and the work space for ensemble e (once) */
static PetscErrorCode SetUpForEnsemble(DaisiFilter f, DaisiEnsemble e)
{
  Filter_DAISI     *d = (Filter_DAISI *)f->data;
  DaisiEnsembleInfo info;
  DaisiGrid         pg;
  MPI_Comm          pcomm;
  PetscMPIInt       cmp;
  PetscInt          bad = 0;

  PetscFunctionBegin;
  if (d->ens == e) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!d->ens, f->comm, PETSC_ERR_ARG_WRONG, "this daisi filter was set up for another ensemble");
  PetscCall(DaisiEnsembleGetInfo(e, &info));
  PetscCall(DaisiEnsembleGetComm(e, &d->world));
  PetscCall(DaisiEnsembleGetGroupComm(e, &d->group));
  PetscCall(DaisiEnsembleGetSlabComm(e, &d->slab));
  PetscCall(DaisiEnsembleGetGrid(e, &d->grid));
  PetscCheck(d->grid.nx >= 1 && d->grid.ny >= 1, d->world, PETSC_ERR_ARG_WRONG, "the daisi filter needs a gridded model");
  if (!d->prior) PetscCall(CreatePrior(f, d));
  /* a prior given by the caller must live on the group and hold its grid */
  PetscCall(DaisiPriorGetComm(d->prior, &pcomm));
  PetscCallMPI(MPI_Comm_compare(pcomm, d->group, &cmp));
  if (cmp != MPI_IDENT && cmp != MPI_CONGRUENT) bad = 1;
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_MAX, d->world));
  PetscCheck(!bad, d->world, PETSC_ERR_ARG_INCOMP, "the daisi filter's prior must be created on the ensemble's group communicator (DaisiEnsembleGetGroupComm)");
  PetscCall(DaisiPriorGetGrid(d->prior, &pg));
  if (pg.nlev != d->grid.nlev || pg.ny != d->grid.ny || pg.nx != d->grid.nx || pg.y0 != d->grid.y0 || pg.nyl != d->grid.nyl) bad = 1;
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_MAX, d->world));
  PetscCheck(!bad, d->world, PETSC_ERR_ARG_INCOMP, "the daisi filter's prior is set up for %" PetscInt_FMT " level(s) on %" PetscInt_FMT " x %" PetscInt_FMT " (rows %" PetscInt_FMT " + %" PetscInt_FMT " here), the ensemble's grid is %" PetscInt_FMT " on %" PetscInt_FMT " x %" PetscInt_FMT " (rows %" PetscInt_FMT " + %" PetscInt_FMT ")",
             pg.nlev, pg.ny, pg.nx, pg.y0, pg.nyl, d->grid.nlev, d->grid.ny, d->grid.nx, d->grid.y0, d->grid.nyl);
  PetscCall(DaisiPriorGetScale(d->prior, &d->scale));
  d->n = DaisiGridLocalSize(&d->grid);
  d->B = info.nlocal;
  d->M = info.M;
  PetscCall(PetscMalloc1(d->B, &d->member));
  for (PetscInt b = 0; b < d->B; b++) PetscCall(DaisiEnsembleGetMemberIndex(e, b, &d->member[b]));
  {
    const size_t N = (size_t)(d->B * d->n + 1);
    PetscCall(PetscMalloc1(d->B + 1, &d->t));
    PetscCall(PetscMalloc7(N, &d->xn, N, &d->x1, N, &d->fw, N, &d->fj, N, &d->g, N, &d->bt, (size_t)d->n + 1, &d->sb));
  }
  d->ens = e;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Observations of the cycle: those on this rank's rows, and exact group sums over them
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode ObsFree(Filter_DAISI *d)
{
  PetscFunctionBegin;
  PetscCall(PetscFree6(d->own, d->site, d->row, d->y, d->sig2, d->ones));
  PetscCall(PetscFree5(d->theta, d->hp, d->res, d->u, d->part));
  d->obs  = NULL;
  d->nown = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ObsTake(Filter_DAISI *d, const DaisiObsSet *obs)
{
  const DaisiGrid *g = &d->grid;
  PetscInt         k = 0;
  size_t           nb;

  PetscFunctionBegin;
  d->obs   = obs;
  d->cycle = obs->cycle;
  d->nown  = 0;
  for (PetscInt o = 0; o < obs->nobs; o++)
    if (obs->iy[o] >= g->y0 && obs->iy[o] < g->y0 + g->nyl) d->nown++;
  nb = (size_t)(d->B * d->nown + 1);
  PetscCall(PetscMalloc6(d->nown + 1, &d->own, d->nown + 1, &d->site, d->nown + 1, &d->row, d->nown + 1, &d->y, d->nown + 1, &d->sig2, nb, &d->ones));
  PetscCall(PetscMalloc5(nb, &d->theta, nb, &d->hp, nb, &d->res, nb, &d->u, (size_t)(d->B * g->ny + 1), &d->part));
  for (PetscInt o = 0; o < obs->nobs; o++) {
    if (obs->iy[o] < g->y0 || obs->iy[o] >= g->y0 + g->nyl) continue;
    d->own[k]  = o;
    d->row[k]  = obs->iy[o];
    d->site[k] = (obs->lev[o] * g->nyl + obs->iy[o] - g->y0) * g->nx + obs->ix[o];
    d->y[k]    = obs->value[o];
    d->sig2[k] = obs->sigma[o] * obs->sigma[o];
    k++;
  }
  for (PetscInt i = 0; i < d->B * d->nown; i++) d->ones[i] = 1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* out[b] = sum over the member's observations of a[b, k] c[b, k] (c = NULL: a^2). Formed per
 * grid row (each row on exactly one rank of the group, its observations in index order), the
 * rows summed over the group exactly and then added in row order: independent of the layout. */
static PetscErrorCode ObsSum(Filter_DAISI *d, PetscInt B, const PetscReal a[], const PetscReal c[], PetscReal out[])
{
  const PetscInt ny = d->grid.ny, no = d->nown;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(d->part, B * ny));
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt k = 0; k < no; k++) d->part[b * ny + d->row[k]] += a[b * no + k] * (c ? c[b * no + k] : a[b * no + k]);
  PetscCall(PetscLogEventBegin(DAISI_FilterDAISIReduce, 0, 0, 0, 0));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, d->part, (PetscMPIInt)(B * ny), MPIU_REAL, MPI_SUM, d->group));
  PetscCall(PetscLogEventEnd(DAISI_FilterDAISIReduce, 0, 0, 0, 0));
  for (PetscInt b = 0; b < B; b++) {
    PetscReal s = 0;
    for (PetscInt r = 0; r < ny; r++) s += d->part[b * ny + r];
    out[b] = s;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* field f = A^T v: s_data h'(theta_o) v_o at the sites (zero elsewhere) */
static PetscErrorCode ScatterObs(Filter_DAISI *d, PetscInt B, const PetscReal v[], PetscReal f[])
{
  const PetscInt no = d->nown, n = d->n;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(f, B * n));
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt k = 0; k < no; k++) f[b * n + d->site[k]] += d->scale * d->hp[b * no + k] * v[b * no + k];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* theta = s_data x1_hat at the sites of x1_hat = x + (1 - t) b; h, h' there; res = y - h */
static PetscErrorCode ObsAtDenoised(Filter_DAISI *d, PetscInt B, PetscReal t, const PetscReal x[], const PetscReal b[])
{
  const PetscInt no = d->nown, n = d->n;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < B; i++) d->t[i] = t;
  PetscCall(DaisiPriorDenoiserFromVelocity(n, B, d->t, x, b, d->x1));
  for (PetscInt s = 0; s < B; s++)
    for (PetscInt k = 0; k < no; k++) d->theta[s * no + k] = d->scale * d->x1[s * n + d->site[k]];
  if (B * no > 0) {
    PetscCall(DaisiObsOperatorApply(d->obs->op, B * no, d->theta, d->res));
    PetscCall(DaisiObsOperatorJacobianApply(d->obs->op, B * no, d->theta, d->ones, d->hp));
  }
  for (PetscInt s = 0; s < B; s++)
    for (PetscInt k = 0; k < no; k++) d->res[s * no + k] = d->y[k] - d->res[s * no + k];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * MMPS: (R + A Sigma A^T) u = r, Sigma = ((1 - t)^2 / t) J, J = I + (1 - t) db/dx, matrix-free
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode ApplyK(Filter_DAISI *d, PetscInt B, PetscReal t, const PetscReal x[], const PetscReal v[], PetscReal out[])
{
  const PetscInt  no = d->nown, n = d->n;
  const PetscReal a  = (1 - t) * (1 - t) / t;

  PetscFunctionBegin;
  PetscCall(ScatterObs(d, B, v, d->fw));
  PetscCall(DaisiPriorVelocityJVP(d->prior, B, d->t, x, d->fw, NULL, d->fj));
  for (PetscInt s = 0; s < B; s++)
    for (PetscInt k = 0; k < no; k++) {
      const PetscInt  i  = s * n + d->site[k];
      const PetscReal sj = a * (d->fw[i] + (1 - t) * d->fj[i]); /* (Sigma A^T v) at the site */
      out[s * no + k]    = d->sig2[k] * v[s * no + k] + d->scale * d->hp[s * no + k] * sj;
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Conjugate gradients from u = 0, per member; a member stops at its own tolerance (or at a
 * breakdown), so that it does not depend on the others in the batch. */
static PetscErrorCode SolveCG(Filter_DAISI *d, const DaisiFilterDAISIParams *p, PetscInt B, PetscReal t, const PetscReal x[], const PetscReal r[], PetscReal u[])
{
  const PetscInt no = d->nown, N = B * no;
  PetscReal     *rr, *pp, *q, *rho, *rho0, *pq, *rhon;
  PetscBool     *active;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(N + 1, &rr, N + 1, &pp, N + 1, &q));
  PetscCall(PetscMalloc5(B, &rho, B, &rho0, B, &pq, B, &rhon, B, &active));
  PetscCall(PetscArrayzero(u, N));
  PetscCall(PetscArraycpy(rr, r, N));
  PetscCall(PetscArraycpy(pp, r, N));
  PetscCall(ObsSum(d, B, rr, NULL, rho));
  for (PetscInt b = 0; b < B; b++) {
    rho0[b]   = rho[b];
    active[b] = (PetscBool)(rho[b] > 0 && PetscIsNormalReal(rho[b]));
  }
  for (PetscInt it = 0; it < p->mmps_iterations; it++) {
    PetscBool any = PETSC_FALSE;
    for (PetscInt b = 0; b < B; b++) any = (PetscBool)(any || active[b]);
    if (!any) break; /* the same on every rank of the group: the sums are */
    PetscCall(ApplyK(d, B, t, x, pp, q));
    PetscCall(ObsSum(d, B, pp, q, pq));
    for (PetscInt b = 0; b < B; b++) {
      PetscReal alpha;
      if (!active[b]) continue;
      if (!(pq[b] > 0) || !PetscIsNormalReal(pq[b])) { /* breakdown (not positive definite) */
        active[b] = PETSC_FALSE;
        continue;
      }
      alpha = rho[b] / pq[b];
      for (PetscInt k = 0; k < no; k++) {
        u[b * no + k] += alpha * pp[b * no + k];
        rr[b * no + k] -= alpha * q[b * no + k];
      }
    }
    PetscCall(ObsSum(d, B, rr, NULL, rhon));
    for (PetscInt b = 0; b < B; b++) {
      PetscReal beta;
      if (!active[b]) continue;
      if (rhon[b] <= p->mmps_rtol * p->mmps_rtol * rho0[b]) {
        active[b] = PETSC_FALSE;
        continue;
      }
      beta = rhon[b] / rho[b];
      for (PetscInt k = 0; k < no; k++) pp[b * no + k] = rr[b * no + k] + beta * pp[b * no + k];
      rho[b] = rhon[b];
    }
  }
  PetscCall(PetscFree3(rr, pp, q));
  PetscCall(PetscFree5(rho, rho0, pq, rhon, active));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* GMRES without restart from u = 0 (modified Gram-Schmidt, Givens rotations), per member */
static PetscErrorCode SolveGMRES(Filter_DAISI *d, const DaisiFilterDAISIParams *p, PetscInt B, PetscReal t, const PetscReal x[], const PetscReal r[], PetscReal u[])
{
  const PetscInt m = p->mmps_iterations, no = d->nown, N = B * no;
  PetscReal     *V, *w, *H, *cs, *sn, *gv, *beta, *dot, *y;
  PetscInt      *kdim;
  PetscBool     *active;

  PetscFunctionBegin;
  /* V zeroed: a member that stopped keeps feeding finite (zero) vectors to the batched JVP */
  PetscCall(PetscCalloc1((size_t)(m + 1) * N + 1, &V));
  PetscCall(PetscMalloc2(N + 1, &w, (size_t)B * (m + 1) * m, &H));
  PetscCall(PetscMalloc5((size_t)B * m, &cs, (size_t)B * m, &sn, (size_t)B * (m + 1), &gv, B, &beta, B, &dot));
  PetscCall(PetscMalloc3(m + 1, &y, B, &kdim, B, &active));
  PetscCall(PetscArrayzero(u, N));
  PetscCall(PetscArrayzero(H, (size_t)B * (m + 1) * m));
  PetscCall(ObsSum(d, B, r, NULL, beta));
  for (PetscInt b = 0; b < B; b++) {
    beta[b]   = PetscSqrtReal(beta[b]);
    kdim[b]   = 0;
    active[b] = (PetscBool)(beta[b] > 0 && PetscIsNormalReal(beta[b]));
    for (PetscInt k = 0; k < no; k++) V[b * no + k] = active[b] ? r[b * no + k] / beta[b] : 0;
    gv[b * (m + 1)] = beta[b];
  }
#define HH(b, i, j) H[((size_t)(b) * (m + 1) + (i)) * m + (j)]
  for (PetscInt j = 0; j < m; j++) {
    PetscBool any = PETSC_FALSE;
    for (PetscInt b = 0; b < B; b++) any = (PetscBool)(any || active[b]);
    if (!any) break;
    PetscCall(ApplyK(d, B, t, x, V + (size_t)j * N, w));
    for (PetscInt i = 0; i <= j; i++) {
      PetscCall(ObsSum(d, B, w, V + (size_t)i * N, dot));
      for (PetscInt b = 0; b < B; b++) {
        if (!active[b]) continue;
        HH(b, i, j) = dot[b];
        for (PetscInt k = 0; k < no; k++) w[b * no + k] -= dot[b] * V[(size_t)i * N + b * no + k];
      }
    }
    PetscCall(ObsSum(d, B, w, NULL, dot));
    for (PetscInt b = 0; b < B; b++) {
      PetscReal hn, a, c, rr;
      if (!active[b]) continue;
      hn              = PetscSqrtReal(dot[b]);
      HH(b, j + 1, j) = hn;
      for (PetscInt i = 0; i < j; i++) { /* earlier rotations on the new column */
        const PetscReal h0 = HH(b, i, j), h1 = HH(b, i + 1, j);
        HH(b, i, j)     = cs[b * m + i] * h0 + sn[b * m + i] * h1;
        HH(b, i + 1, j) = -sn[b * m + i] * h0 + cs[b * m + i] * h1;
      }
      a  = HH(b, j, j);
      rr = PetscSqrtReal(a * a + hn * hn);
      if (!(rr > 0) || !PetscIsNormalReal(rr)) { /* breakdown: keep the solution so far */
        active[b] = PETSC_FALSE;
        continue;
      }
      c                       = a / rr;
      cs[b * m + j]           = c;
      sn[b * m + j]           = hn / rr;
      HH(b, j, j)             = rr;
      HH(b, j + 1, j)         = 0;
      gv[b * (m + 1) + j + 1] = -sn[b * m + j] * gv[b * (m + 1) + j];
      gv[b * (m + 1) + j]     = c * gv[b * (m + 1) + j];
      kdim[b]                 = j + 1;
      if (PetscAbsReal(gv[b * (m + 1) + j + 1]) <= p->mmps_rtol * beta[b] || hn == 0) active[b] = PETSC_FALSE;
      else
        for (PetscInt k = 0; k < no; k++) V[(size_t)(j + 1) * N + b * no + k] = w[b * no + k] / hn;
    }
  }
  /* u = V y, H y = g (upper triangular, kdim[b] x kdim[b]) */
  for (PetscInt b = 0; b < B; b++) {
    const PetscInt kd = kdim[b];
    for (PetscInt i = kd - 1; i >= 0; i--) {
      PetscReal s = gv[b * (m + 1) + i];
      for (PetscInt l = i + 1; l < kd; l++) s -= HH(b, i, l) * y[l];
      y[i] = s / HH(b, i, i);
    }
    for (PetscInt i = 0; i < kd; i++)
      for (PetscInt k = 0; k < no; k++) u[b * no + k] += y[i] * V[(size_t)i * N + b * no + k];
  }
#undef HH
  PetscCall(PetscFree(V));
  PetscCall(PetscFree2(w, H));
  PetscCall(PetscFree5(cs, sn, gv, beta, dot));
  PetscCall(PetscFree3(y, kdim, active));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * The guidance gradient g at (x, t) given b = b(x, t), normalised units:
 *   x1_hat = x + (1 - t) b, theta = s_data x1_hat, r = y - h(theta);
 *   g = J^T A^T u with A = s_data diag(h'(theta)) at the sites, J = I + (1 - t) db/dx and
 *   dps: u = r / sigma^2;  dps_scale: u = r / |r|;  mmps: (R + A Sigma A^T) u = r.
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode GuidanceGradient(DaisiFilter f, PetscInt B, PetscReal t, const PetscReal x[], const PetscReal b[], PetscReal g[])
{
  Filter_DAISI                 *d  = (Filter_DAISI *)f->data;
  const DaisiFilterDAISIParams *p  = &f->daisi;
  const PetscInt                no = d->nown, n = d->n;

  PetscFunctionBegin;
  if (p->guidance == DAISI_FILTER_DAISI_GUIDANCE_NONE) {
    PetscCall(PetscArrayzero(g, B * n));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscLogEventBegin(DAISI_FilterDAISIGuidance, 0, 0, 0, 0));
  PetscCall(ObsAtDenoised(d, B, t, x, b));
  switch (p->guidance) {
  case DAISI_FILTER_DAISI_DPS:
    for (PetscInt s = 0; s < B; s++)
      for (PetscInt k = 0; k < no; k++) d->u[s * no + k] = d->res[s * no + k] / d->sig2[k];
    break;
  case DAISI_FILTER_DAISI_DPS_SCALE: {
    PetscReal *nrm;
    PetscCall(PetscMalloc1(B, &nrm));
    PetscCall(ObsSum(d, B, d->res, NULL, nrm));
    for (PetscInt s = 0; s < B; s++) {
      const PetscReal r = PetscSqrtReal(nrm[s]);
      for (PetscInt k = 0; k < no; k++) d->u[s * no + k] = r > 0 ? d->res[s * no + k] / r : 0;
    }
    PetscCall(PetscFree(nrm));
  } break;
  case DAISI_FILTER_DAISI_MMPS:
    PetscCall(PetscLogEventBegin(DAISI_FilterDAISIMMPSSolve, 0, 0, 0, 0));
    if (p->mmps_solver == DAISI_FILTER_DAISI_CG) PetscCall(SolveCG(d, p, B, t, x, d->res, d->u));
    else PetscCall(SolveGMRES(d, p, B, t, x, d->res, d->u));
    PetscCall(PetscLogEventEnd(DAISI_FilterDAISIMMPSSolve, 0, 0, 0, 0));
    break;
  default:
    break;
  }
  PetscCall(ScatterObs(d, B, d->u, d->fw));
  PetscCall(DaisiPriorVelocityVJP(d->prior, B, d->t, x, d->fw, NULL, d->fj));
  for (PetscInt i = 0; i < B * n; i++) g[i] = d->fw[i] + (1 - t) * d->fj[i];
  PetscCall(PetscLogFlops(4.0 * B * n + 10.0 * B * no));
  PetscCall(PetscLogEventEnd(DAISI_FilterDAISIGuidance, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscReal LambdaAt(const DaisiFilterDAISIParams *p, PetscReal t)
{
  return p->schedule == DAISI_FILTER_DAISI_LAMBDA_LINEAR ? p->lambda * (1 - t) : p->lambda;
}

/* sampler hook: drift += lam(t) (c(t) + eps(t)) g; none at t = 0 (nor at t = 1, where it vanishes) */
static PetscErrorCode GuidedDrift(void *ctx, PetscInt B, PetscReal t, PetscReal eps_t, const PetscReal x[], const PetscReal b[], PetscReal drift[])
{
  DaisiFilter                   f = (DaisiFilter)ctx;
  Filter_DAISI                 *d = (Filter_DAISI *)f->data;
  const DaisiFilterDAISIParams *p = &f->daisi;
  PetscReal                     c, coef;

  PetscFunctionBegin;
  if (p->guidance == DAISI_FILTER_DAISI_GUIDANCE_NONE || t <= 0 || t >= 1) PetscFunctionReturn(PETSC_SUCCESS);
  c    = p->guidance == DAISI_FILTER_DAISI_MMPS ? (1 - t) / t : 1 - t;
  coef = LambdaAt(p, t) * (c + eps_t);
  if (coef == 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(GuidanceGradient(f, B, t, x, b, d->g));
  for (PetscInt i = 0; i < B * d->n; i++) drift[i] += coef * d->g[i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* sampler hook of the Langevin corrector: score += lam(t) g (the conditional score) */
static PetscErrorCode GuidedScore(void *ctx, PetscInt B, PetscReal t, const PetscReal x[], const PetscReal b[], PetscReal score[])
{
  DaisiFilter                   f = (DaisiFilter)ctx;
  Filter_DAISI                 *d = (Filter_DAISI *)f->data;
  const DaisiFilterDAISIParams *p = &f->daisi;
  const PetscReal               lam = LambdaAt(p, t);

  PetscFunctionBegin;
  if (p->guidance == DAISI_FILTER_DAISI_GUIDANCE_NONE || t <= 0 || t >= 1 || lam == 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(GuidanceGradient(f, B, t, x, b, d->g));
  for (PetscInt i = 0; i < B * d->n; i++) score[i] += lam * d->g[i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* sampler hook after every step: a member whose state is non-finite or beyond the bound stops
 * the integration (collective over the group: the largest |x| of each member is reduced) */
static PetscErrorCode DivergenceMonitor(void *ctx, PetscInt B, PetscInt k, PetscReal t, const PetscReal x[], PetscBool *stop)
{
  DaisiFilter     f     = (DaisiFilter)ctx;
  Filter_DAISI   *d     = (Filter_DAISI *)f->data;
  const PetscReal bound = f->daisi.divergence_bound / d->scale;
  PetscReal      *mx;

  PetscFunctionBegin;
  (void)k;
  PetscCall(PetscMalloc1(B + 1, &mx));
  for (PetscInt b = 0; b < B; b++) {
    PetscReal m = 0;
    for (PetscInt i = 0; i < d->n; i++) {
      const PetscReal a = PetscAbsReal(x[b * d->n + i]);
      if (!(a <= PETSC_MAX_REAL)) { /* NaN or Inf */
        m = PETSC_INFINITY;
        break;
      }
      m = PetscMax(m, a);
    }
    mx[b] = m;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, mx, (PetscMPIInt)B, MPIU_REAL, MPI_MAX, d->group));
  for (PetscInt b = 0; b < B; b++) {
    if (mx[b] > bound && (d->div_member < 0 || d->member[b] < d->div_member)) {
      d->div_member = d->member[b];
      d->div_t      = t;
      d->div_max    = mx[b] * d->scale;
    }
  }
  if (d->div_member >= 0) *stop = PETSC_TRUE;
  PetscCall(PetscFree(mx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* every member's slab on every rank of the slab communicator, member-major: each member is held
 * by one group, so the sum over the groups is exact and the same for every layout */
static PetscErrorCode GatherMembers(Filter_DAISI *d, const PetscReal x[], PetscReal all[])
{
  const PetscInt n = d->n, M = d->M;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(all, (size_t)M * n));
  for (PetscInt b = 0; b < d->B; b++) PetscCall(PetscArraycpy(all + (size_t)d->member[b] * n, x + b * n, n));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, all, (PetscMPIInt)(M * n), MPIU_REAL, MPI_SUM, d->slab));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* mean and (if std is not NULL) standard deviation (1/(M-1)) over the members at point i of the
 * gathered slabs */
static void PointMoments(PetscInt M, PetscInt n, const PetscReal all[], PetscInt i, PetscReal *mean, PetscReal *std)
{
  PetscReal s = 0, v = 0;
  for (PetscInt m = 0; m < M; m++) s += all[(size_t)m * n + i];
  s /= M;
  *mean = s;
  if (!std) return;
  for (PetscInt m = 0; m < M; m++) v += (all[(size_t)m * n + i] - s) * (all[(size_t)m * n + i] - s);
  *std = PetscSqrtReal(v / (M - 1));
}

/* the forecast members x: inflated about their mean, x <- mean + r (x - mean) (r != 1), and, if
 * sb is not NULL, their spread after the inflation per point (r times the forecast's) in sb;
 * means and spreads over all members and groups, from one gather */
static PetscErrorCode PrepareForecast(Filter_DAISI *d, PetscReal r, PetscReal sb[], PetscReal x[])
{
  const PetscInt n = d->n, M = d->M;
  PetscReal     *all;

  PetscFunctionBegin;
  if (r == 1 && !sb) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscMalloc1((size_t)M * n + 1, &all));
  PetscCall(GatherMembers(d, x, all));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal mean, std;
    PointMoments(M, n, all, i, &mean, sb ? &std : NULL);
    if (sb) sb[i] = r * std;
    if (r != 1)
      for (PetscInt b = 0; b < d->B; b++) x[b * n + i] = mean + r * (x[b * n + i] - mean);
  }
  PetscCall(PetscFree(all));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* RTPS (Whitaker and Hamill 2012) at every grid point: the analysis perturbations x - mean_a
 * scaled by 1 + alpha (s_b - s_a) / s_a, s_b (sb) and s_a the forecast's and the analysis's
 * spread */
static PetscErrorCode RelaxToPriorSpread(Filter_DAISI *d, PetscReal alpha, const PetscReal sb[], PetscReal x[])
{
  const PetscInt n = d->n, M = d->M;
  PetscReal     *all;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)M * n + 1, &all));
  PetscCall(GatherMembers(d, x, all));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal ma, sa;
    PointMoments(M, n, all, i, &ma, &sa);
    if (sa > 0) {
      const PetscReal fac = 1 + alpha * (sb[i] - sa) / sa;
      for (PetscInt b = 0; b < d->B; b++) x[b * n + i] = ma + fac * (x[b * n + i] - ma);
    }
  }
  PetscCall(PetscFree(all));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the group's members (normalised, in place): start at t_min, then the guided forward SDE */
static PetscErrorCode GroupAnalysis(DaisiFilter f, PetscReal x[])
{
  Filter_DAISI                 *d = (Filter_DAISI *)f->data;
  const DaisiFilterDAISIParams *p = &f->daisi;
  DaisiInterpolantParams        ip;
  PetscReal                     t0 = p->tmin;

  PetscFunctionBegin;
  PetscCall(DaisiInterpolantParamsDefault(&ip));
  ip.steps       = p->inversion_steps;
  ip.method      = p->method;
  ip.eps         = p->eps;
  ip.time_power  = p->time_power;
  ip.seed        = p->seed;
  ip.cycle       = d->cycle;
  ip.monitor     = DivergenceMonitor;
  ip.monitor_ctx = f;
  switch (p->variant) {
  case DAISI_FILTER_DAISI_INVERT:
    d->phase = PHASE_INVERSION;
    PetscCall(PetscLogEventBegin(DAISI_FilterDAISIInversion, 0, 0, 0, 0));
    PetscCall(DaisiInterpolantInvert(d->prior, &ip, d->B, d->member, t0, x));
    PetscCall(PetscLogEventEnd(DAISI_FilterDAISIInversion, 0, 0, 0, 0));
    if (d->div_member >= 0) PetscFunctionReturn(PETSC_SUCCESS);
    break;
  case DAISI_FILTER_DAISI_NOISE:
    t0 = 0;
    PetscCall(DaisiInterpolantNoise(d->prior, &ip, d->B, d->member, x));
    break;
  case DAISI_FILTER_DAISI_SDEDIT:
    PetscCall(DaisiInterpolantNoise(d->prior, &ip, d->B, d->member, d->fj));
    for (PetscInt i = 0; i < d->B * d->n; i++) x[i] = t0 * x[i] + (1 - t0) * d->fj[i];
    break;
  }
  ip.steps          = p->steps;
  ip.guidance       = GuidedDrift;
  ip.guidance_ctx   = f;
  ip.correctors     = p->correctors;
  ip.corrector_tau  = p->corrector_tau;
  ip.score_guidance = GuidedScore;
  d->phase          = PHASE_GUIDED;
  PetscCall(PetscLogEventBegin(DAISI_FilterDAISIGuidedSteps, 0, 0, 0, 0));
  PetscCall(DaisiInterpolantForward(d->prior, &ip, d->B, d->member, t0, x));
  PetscCall(PetscLogEventEnd(DAISI_FilterDAISIGuidedSteps, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode EnsembleAnalysis_DAISI(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs)
{
  Filter_DAISI  *d = (Filter_DAISI *)f->data;
  PetscReal     *xs;
  PetscErrorCode ierr;
  PetscInt       status[2], nbad;
  PetscReal      what[3];

  PetscFunctionBegin;
  PetscCall(SetUpForEnsemble(f, e));
  PetscCall(ObsTake(d, obs));
  PetscCall(DaisiEnsembleGetLocalStates(e, &xs));
  for (PetscInt i = 0; i < d->B * d->n; i++) d->xn[i] = xs[i] / d->scale;
  PetscCall(PrepareForecast(d, f->inflation, f->daisi.rtps > 0 ? d->sb : NULL, d->xn));
  d->div_member = -1;
  d->phase      = 0;
  /* every group on its own; then the whole world learns whether any failed or diverged, so
   * that the error is raised everywhere and no state is written back */
  ierr      = GroupAnalysis(f, d->xn);
  status[0] = ierr ? 1 : 0;
  status[1] = d->div_member >= 0 ? -d->div_member : -PETSC_MAX_INT;
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, status, 2, MPIU_INT, MPI_MAX, d->world));
  if (status[0]) {
    PetscCall(ObsFree(d));
    SETERRQ(d->world, ierr ? ierr : PETSC_ERR_LIB, "DAISI analysis of cycle %" PetscInt_FMT " failed in a member group (see the first error above); nothing is written", obs->cycle);
  }
  nbad = -status[1];
  if (nbad != PETSC_MAX_INT) {
    const PetscBool mine = (PetscBool)(d->div_member == nbad);
    what[0]              = mine ? (PetscReal)d->phase : 0;
    what[1]              = mine ? d->div_t : 0;
    what[2]              = mine ? (PetscIsInfOrNanReal(d->div_max) ? -1 : d->div_max) : -2;
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, what, 3, MPIU_REAL, MPI_MAX, d->world));
    PetscCall(ObsFree(d));
    if (what[2] < 0)
      SETERRQ(d->world, PETSC_ERR_NOT_CONVERGED, "DAISI analysis diverged in cycle %" PetscInt_FMT ": member %" PetscInt_FMT " became non-finite in the %s at t = %.4g; nothing is written (try a smaller -daisi_lambda, -daisi_lambda_schedule linear, more -daisi_mmps_iterations or more steps)", obs->cycle, nbad, (PetscInt)what[0] == PHASE_INVERSION ? "inversion" : "guided SDE", (double)what[1]);
    SETERRQ(d->world, PETSC_ERR_NOT_CONVERGED, "DAISI analysis diverged in cycle %" PetscInt_FMT ": member %" PetscInt_FMT " reached max |x| = %g (state units) > -daisi_divergence_bound %g in the %s at t = %.4g; nothing is written (try a smaller -daisi_lambda, -daisi_lambda_schedule linear, more -daisi_mmps_iterations or more steps)", obs->cycle, nbad, (double)what[2], (double)f->daisi.divergence_bound,
            (PetscInt)what[0] == PHASE_INVERSION ? "inversion" : "guided SDE", (double)what[1]);
  }
  if (f->daisi.rtps > 0) PetscCall(RelaxToPriorSpread(d, f->daisi.rtps, d->sb, d->xn));
  for (PetscInt i = 0; i < d->B * d->n; i++) xs[i] = d->xn[i] * d->scale;
  PetscCall(DaisiEnsembleRestoreLocalStates(e, &xs));
  PetscCall(ObsFree(d));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Public extras, lifecycle
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode CheckIsDAISI(DaisiFilter f)
{
  PetscBool same;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(f->type, DAISI_FILTER_DAISI, &same));
  PetscCheck(same, f->comm, PETSC_ERR_ARG_WRONG, "this needs a filter of type daisi, not '%s'", f->type);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterDAISISetPrior(DaisiFilter f, DaisiPrior p)
{
  Filter_DAISI *d;

  PetscFunctionBegin;
  PetscCall(CheckIsDAISI(f));
  d = (Filter_DAISI *)f->data;
  PetscCheck(!d->prior, f->comm, PETSC_ERR_ORDER, "the daisi filter already has its prior");
  d->prior     = p;
  d->own_prior = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterDAISIGetPrior(DaisiFilter f, DaisiPrior *p)
{
  PetscFunctionBegin;
  PetscCall(CheckIsDAISI(f));
  *p = ((Filter_DAISI *)f->data)->prior;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterDAISIGuidanceGradient(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs, PetscReal t, const PetscReal x[], PetscReal g[])
{
  Filter_DAISI *d;

  PetscFunctionBegin;
  PetscCall(CheckIsDAISI(f));
  PetscCheck(t > 0 && t < 1, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "the guidance gradient is defined for t in (0, 1), got %g", (double)t);
  if (!f->setupcalled) PetscCall(DaisiFilterSetUp(f));
  PetscCall(SetUpForEnsemble(f, e));
  d = (Filter_DAISI *)f->data;
  PetscCall(ObsTake(d, obs));
  for (PetscInt i = 0; i < d->B; i++) d->t[i] = t;
  PetscCall(DaisiPriorVelocity(d->prior, d->B, d->t, x, d->bt));
  PetscCall(GuidanceGradient(f, d->B, t, x, d->bt, g));
  PetscCall(ObsFree(d));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetUp_DAISI(DaisiFilter f)
{
  PetscFunctionBegin;
  if (f->ens) PetscCall(SetUpForEnsemble(f, f->ens));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode View_DAISI(DaisiFilter f, PetscViewer viewer)
{
  Filter_DAISI                 *d = (Filter_DAISI *)f->data;
  const DaisiFilterDAISIParams *p = &f->daisi;
  const char                   *c = p->guidance == DAISI_FILTER_DAISI_MMPS ? "(1 - t)/t" : (p->guidance == DAISI_FILTER_DAISI_GUIDANCE_NONE ? "-" : "1 - t");

  PetscFunctionBegin;
  if (p->variant == DAISI_FILTER_DAISI_INVERT)
    PetscCall(PetscViewerASCIIPrintf(viewer, "variant invert: backward %s (eps %g) from t = 1 to t_min = %g in %" PetscInt_FMT " %s steps\n", p->eps > 0 ? "SDE" : "ODE", (double)p->eps, (double)p->tmin, p->inversion_steps, DaisiInterpolantMethods[p->method]));
  else if (p->variant == DAISI_FILTER_DAISI_NOISE) PetscCall(PetscViewerASCIIPrintf(viewer, "variant noise: start from z ~ N(0, I) at t = 0 (the forecast is not used; -daisi_tmin %g ignored)\n", (double)p->tmin));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "variant sdedit: start from t_min x_f + (1 - t_min) z at t_min = %g\n", (double)p->tmin));
  PetscCall(PetscViewerASCIIPrintf(viewer, "guided forward %s (eps %g): %" PetscInt_FMT " %s steps, time power %g, %" PetscInt_FMT " Langevin corrector step(s) per step (tau %g)\n", p->eps > 0 ? "SDE" : "ODE", (double)p->eps, p->steps, DaisiInterpolantMethods[p->method], (double)p->time_power, p->correctors, (double)p->corrector_tau));
  PetscCall(PetscViewerASCIIPrintf(viewer, "guidance %s, lam %g (%s schedule%s), c(t) = %s\n", DaisiFilterDAISIGuidances[p->guidance], (double)p->lambda, DaisiFilterDAISISchedules[p->schedule], p->schedule == DAISI_FILTER_DAISI_LAMBDA_LINEAR ? ": lam (1 - t)" : "", c));
  if (p->guidance == DAISI_FILTER_DAISI_MMPS) PetscCall(PetscViewerASCIIPrintf(viewer, "MMPS solver %s, at most %" PetscInt_FMT " iteration(s), rtol %g\n", DaisiFilterDAISISolvers[p->mmps_solver], p->mmps_iterations, (double)p->mmps_rtol));
  PetscCall(PetscViewerASCIIPrintf(viewer, "seed %" PetscInt64_FMT ", divergence bound %g (state units), RTPS %g (-daisi_rtps; -letkf_rtps/-letkf_rtpp are not used by daisi)\n", p->seed, (double)p->divergence_bound, (double)p->rtps));
  PetscCall(PetscViewerASCIIPrintf(viewer, "prior: %s\n", p->prior_file[0] ? p->prior_file : (d->prior && !d->own_prior ? "given by the caller" : "the -prior_* options")));
  if (d->prior && d->ens) {
    PetscCall(PetscViewerASCIIPushTab(viewer));
    PetscCall(DaisiPriorView(d->prior, viewer));
    PetscCall(PetscViewerASCIIPopTab(viewer));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Destroy_DAISI(DaisiFilter f)
{
  Filter_DAISI *d = (Filter_DAISI *)f->data;

  PetscFunctionBegin;
  if (!d) PetscFunctionReturn(PETSC_SUCCESS);
  if (d->own_prior) PetscCall(DaisiPriorDestroy(&d->prior));
  PetscCall(PetscFree(d->member));
  PetscCall(PetscFree(d->t));
  PetscCall(PetscFree7(d->xn, d->x1, d->fw, d->fj, d->g, d->bt, d->sb));
  PetscCall(PetscFree(f->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_DAISI(DaisiFilter f)
{
  Filter_DAISI *d;

  PetscFunctionBegin;
  if (!DAISI_FilterDAISIInversion) {
    PetscCall(PetscLogEventRegister("DaisiInversion", DAISI_CLASSID, &DAISI_FilterDAISIInversion));
    PetscCall(PetscLogEventRegister("DaisiGuidedSteps", DAISI_CLASSID, &DAISI_FilterDAISIGuidedSteps));
    PetscCall(PetscLogEventRegister("DaisiGuidance", DAISI_CLASSID, &DAISI_FilterDAISIGuidance));
    PetscCall(PetscLogEventRegister("DaisiMMPSSolve", DAISI_CLASSID, &DAISI_FilterDAISIMMPSSolve));
    PetscCall(PetscLogEventRegister("DaisiGuidanceReduce", DAISI_CLASSID, &DAISI_FilterDAISIReduce));
  }
  PetscCall(PetscNew(&d));
  d->div_member            = -1;
  f->data                  = d;
  f->ops.setup             = SetUp_DAISI;
  f->ops.view              = View_DAISI;
  f->ops.destroy           = Destroy_DAISI;
  f->ops.ensemble_analysis = EnsembleAnalysis_DAISI;
  PetscFunctionReturn(PETSC_SUCCESS);
}
