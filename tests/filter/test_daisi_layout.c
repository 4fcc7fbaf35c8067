/* The DAISI filter gives bit-identical analyses for every (G, P) grouping of the world and for
 * any rank count, including groups with different numbers of members (M = 7): each layout's
 * gathered analysis after two cycles is compared bitwise with a serial run on rank 0 alone
 * (PETSC_COMM_SELF, one batch of all members). This covers the counter-based noise (inversion,
 * guided steps, correctors, starting noise), the exact observation-space sums over the group,
 * the ensemble mean of the inflation and of RTPS, and batch independence (a member's result does not depend
 * on which members share its batch). The Gaussian prior is read from a prior file through
 * -daisi_prior (format detection) in one case and given as an object in the others; a small
 * random network prior is compared to float32 accuracy (the network engine promises layout
 * independence up to float32 rounding only). RTPS (-daisi_rtps) is checked against its formula
 * at every point: the analysis mean is kept and the spread moves from the analysis's to the
 * forecast's by the fraction alpha. */
#include "daisitest.h"
#include <daisi/nn.h>

static const char help[] = "Tests that DAISI analyses are bit-identical for every (G, P) layout.\n";

typedef struct {
  const char            *name;
  DaisiObsOperatorType   op;
  PetscReal              sigma, inflation;
  PetscInt               prior; /* 0 object, 1 Gaussian prior file, 2 network file */
  DaisiFilterDAISIParams par;
} Case;

static char gaussfile[PETSC_MAX_PATH_LEN], netfile[PETSC_MAX_PATH_LEN];

/* ncycle analyses of the same ensemble; background (optional): the ensemble before the first */
static PetscErrorCode RunCase(MPI_Comm comm, const Case *c, PetscInt M, PetscInt G, PetscInt ncycle, PetscReal background[], PetscReal result[])
{
  DaisiEnsemble          e;
  DaisiFilter            f;
  DaisiGrid              g;
  DaisiPrior             prior = NULL;
  DaisiTestClimate       clim;
  DaisiFilterDAISIParams par = c->par;
  PetscReal             *truth, *tloc;

  PetscFunctionBegin;
  PetscCall(MakeEnsemble(comm, M, G, &e));
  PetscCall(DaisiEnsembleSetSeed(e, 17));
  PetscCall(DaisiEnsembleGetGrid(e, &g));
  PetscCall(PetscMalloc2(DaisiGridGlobalSize(&g), &truth, PetscMax(1, DaisiGridLocalSize(&g)), &tloc));
  SyntheticTruth(&g, 9, truth);
  ExtractSlab(&g, truth, tloc);
  PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
  if (c->prior == 0) PetscCall(DaisiTestGaussianPrior(e, &clim, &prior));
  if (c->prior == 1) PetscCall(PetscStrncpy(par.prior_file, gaussfile, sizeof(par.prior_file)));
  if (c->prior == 2) PetscCall(PetscStrncpy(par.prior_file, netfile, sizeof(par.prior_file)));
  PetscCall(DaisiFilterCreate(comm, &f));
  PetscCall(DaisiFilterSetType(f, DAISI_FILTER_DAISI));
  PetscCall(DaisiFilterSetInflation(f, c->inflation));
  PetscCall(DaisiFilterDAISISetParams(f, &par));
  if (prior) PetscCall(DaisiFilterDAISISetPrior(f, prior));
  PetscCall(DaisiFilterSetEnsemble(f, e));
  PetscCall(DaisiFilterSetUp(f));
  if (background) PetscCall(DaisiEnsembleGatherGlobal(e, background));
  for (PetscInt cycle = 1; cycle <= ncycle; cycle++) {
    DaisiObsSet obs;
    PetscCall(SyntheticObs(&g, 0.2, c->op, c->sigma, truth, 70 + cycle, cycle, &obs));
    PetscCall(DaisiFilterAnalysis(f, e, &obs));
    PetscCall(DaisiObsSetDestroy(&obs));
  }
  PetscCall(DaisiEnsembleGatherGlobal(e, result));
  PetscCall(PetscFree2(truth, tloc));
  PetscCall(DaisiFilterDestroy(&f));
  PetscCall(DaisiPriorDestroy(&prior));
  PetscCall(DaisiEnsembleDestroy(&e));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* RTPS: with alpha the analysis keeps its mean and its spread becomes s_a + alpha (s_b - s_a) at
 * every point (s_a without RTPS, s_b the forecast's), on a layout of G groups */
static PetscErrorCode CheckRTPS(const Case *c0, PetscInt M, PetscInt G, PetscInt n)
{
  const PetscReal alpha[2] = {1, 0.5};
  PetscReal      *bg, *a0, *a;
  Case            c = *c0;
  PetscMPIInt     rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscMalloc3(M * n, &bg, M * n, &a0, M * n, &a));
  c.par.rtps = 0;
  PetscCall(RunCase(PETSC_COMM_WORLD, &c, M, G, 1, bg, a0));
  for (PetscInt k = 0; k < 2; k++) {
    PetscReal errmean = 0, errstd = 0, moved = 0;
    c.par.rtps = alpha[k];
    PetscCall(RunCase(PETSC_COMM_WORLD, &c, M, G, 1, NULL, a));
    if (rank) continue; /* the gathered ensembles are on rank 0 */
    for (PetscInt i = 0; i < n; i++) {
      const PetscReal *set[3] = {bg, a0, a};
      PetscReal        m[3], sd[3];
      for (PetscInt j = 0; j < 3; j++) {
        PetscReal s = 0, v = 0;
        for (PetscInt q = 0; q < M; q++) s += set[j][q * n + i];
        s /= M;
        for (PetscInt q = 0; q < M; q++) v += (set[j][q * n + i] - s) * (set[j][q * n + i] - s);
        m[j]  = s;
        sd[j] = PetscSqrtReal(v / (M - 1));
      }
      errmean = PetscMax(errmean, PetscAbsReal(m[2] - m[1]));
      errstd  = PetscMax(errstd, PetscAbsReal(sd[2] - (sd[1] + alpha[k] * (sd[0] - sd[1]))));
      moved   = PetscMax(moved, PetscAbsReal(sd[2] - sd[1]));
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "rtps %.1f, G=%" PetscInt_FMT ": max |mean change| %.1e K, max |spread - (s_a + alpha (s_b - s_a))| %.1e K, largest spread change %.2f K\n", (double)alpha[k], G, (double)errmean, (double)errstd, (double)moved));
    EXPECT(errmean < 1e-10 && errstd < 1e-10, "RTPS %g (G=%" PetscInt_FMT "): mean moved by %g or spread off the formula by %g", (double)alpha[k], G, (double)errmean, (double)errstd);
    EXPECT(moved > 0.1, "RTPS %g: the spread did not change (largest change %g K): the test cannot see RTPS", (double)alpha[k], (double)moved);
  }
  PetscCall(PetscFree3(bg, a0, a));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  const PetscInt         M = 7; /* not divisible by 2, 3 or 4 */
  Case                   cases[5];
  DaisiFilterDAISIParams def;
  PetscMPIInt            size, rank;
  PetscInt               n;
  DaisiGrid              g;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(DaisiFilterDAISIParamsDefault(&def));
  PetscCall(PetscSNPrintf(gaussfile, sizeof(gaussfile), "daisi_layout_gauss_np%d.h5", size));
  PetscCall(PetscSNPrintf(netfile, sizeof(netfile), "daisi_layout_net_np%d.h5", size));
  {
    /* the prior files on the test grid */
    DaisiEnsemble    e;
    DaisiPrior       p;
    DaisiTestClimate clim;
    DaisiNet         net;
    MPI_Comm         group;
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, 1, &e));
    PetscCall(DaisiEnsembleGetGrid(e, &g));
    PetscCall(DaisiEnsembleGetGroupComm(e, &group));
    n = DaisiGridGlobalSize(&g);
    PetscCall(DaisiTestGaussianPrior(e, &clim, &p));
    PetscCall(DaisiPriorGaussianSave(p, gaussfile));
    PetscCall(DaisiPriorDestroy(&p));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_type", "unet"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_base_width", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_channel_mult", "1,2"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_groups", "2"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_time_features", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-nn_time_dim", "8"));
    PetscCall(DaisiNetCreate(group, &net));
    PetscCall(DaisiNetSetFromOptions(net));
    PetscCall(DaisiNetSetUp(net, &g));
    PetscCall(DaisiNetSave(net, netfile));
    PetscCall(DaisiNetDestroy(&net));
    PetscCall(DaisiEnsembleDestroy(&e));
  }
  /* mmps/invert, published shape (Euler, CG 1 iteration), prior from the Gaussian prior file */
  cases[0]                     = (Case){"mmps invert, file", DAISI_OBS_OPERATOR_LINEAR, 1.0, 1.0, 1, def};
  cases[0].par.inversion_steps = 8;
  cases[0].par.steps           = 8;
  /* dps_scale/sdedit, Heun, lam 10, squared h, prior inflation, RTPS */
  cases[1]                     = (Case){"dps_scale sdedit", DAISI_OBS_OPERATOR_SQUARED, 1.0, 1.1, 0, def};
  cases[1].par.variant         = DAISI_FILTER_DAISI_SDEDIT;
  cases[1].par.guidance        = DAISI_FILTER_DAISI_DPS_SCALE;
  cases[1].par.lambda          = 10;
  cases[1].par.eps             = 0.1;
  cases[1].par.method          = DAISI_INTERPOLANT_HEUN;
  cases[1].par.steps           = 6;
  cases[1].par.seed            = 4;
  cases[1].par.rtps            = 0.5;
  /* dps/noise with Langevin correctors, arctan h, linear lam schedule */
  cases[2]                     = (Case){"dps noise, correctors", DAISI_OBS_OPERATOR_ARCTAN, 0.5, 1.0, 0, def};
  cases[2].par.variant         = DAISI_FILTER_DAISI_NOISE;
  cases[2].par.guidance        = DAISI_FILTER_DAISI_DPS;
  cases[2].par.lambda          = 2;
  cases[2].par.schedule        = DAISI_FILTER_DAISI_LAMBDA_LINEAR;
  cases[2].par.eps             = 0.2;
  cases[2].par.steps           = 10;
  cases[2].par.time_power      = 2;
  cases[2].par.correctors      = 2;
  cases[2].par.corrector_tau   = 1e-3;
  /* mmps with GMRES (3 iterations), SDE inversion, Heun */
  cases[3]                     = (Case){"mmps gmres invert", DAISI_OBS_OPERATOR_SQUARED, 1.0, 1.0, 0, def};
  cases[3].par.tmin            = 0.5;
  cases[3].par.method          = DAISI_INTERPOLANT_HEUN;
  cases[3].par.inversion_steps = 5;
  cases[3].par.steps           = 5;
  cases[3].par.mmps_solver     = DAISI_FILTER_DAISI_GMRES;
  cases[3].par.mmps_iterations = 3;
  cases[3].par.mmps_rtol       = 0;
  /* the network prior (float32) */
  cases[4]                     = (Case){"mmps invert, net", DAISI_OBS_OPERATOR_LINEAR, 1.0, 1.0, 2, def};
  cases[4].par.inversion_steps = 4;
  cases[4].par.steps           = 4;
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    PetscReal *ref = NULL, *res;
    PetscCall(PetscMalloc1(M * n, &res));
    if (!rank) {
      PetscCall(PetscMalloc1(M * n, &ref));
      PetscCall(RunCase(PETSC_COMM_SELF, &cases[k], M, 1, 2, NULL, ref));
    }
    for (PetscInt G = 1; G <= size; G++) {
      if (size % G) continue;
      PetscCall(RunCase(PETSC_COMM_WORLD, &cases[k], M, G, 2, NULL, res));
      if (!rank) {
        const PetscInt  nd  = CountDifferent(M * n, ref, res);
        const PetscReal dif = MaxAbsDiff(M * n, ref, res), mx = MaxAbs(M * n, ref);
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "%-22s G=%" PetscInt_FMT " P=%" PetscInt_FMT ": %" PetscInt_FMT " of %" PetscInt_FMT " values differ from the serial run (max diff %.1e of max |x| %.1f K)\n", cases[k].name, G, (PetscInt)size / G, nd, M * n, (double)dif, (double)mx));
        if (cases[k].prior == 2) EXPECT(dif <= 1e-4 * mx, "%s, G=%" PetscInt_FMT ", P=%" PetscInt_FMT ": analysis differs from the serial run by %g (float32 network)", cases[k].name, G, (PetscInt)size / G, (double)dif);
        else EXPECT(nd == 0, "%s, G=%" PetscInt_FMT ", P=%" PetscInt_FMT ": analysis not bit-identical to the serial run", cases[k].name, G, (PetscInt)size / G);
        EXPECT(mx > 1 && mx < 100, "%s: implausible analysis, max |x| = %g K", cases[k].name, (double)mx);
      }
    }
    PetscCall(PetscFree(ref));
    PetscCall(PetscFree(res));
  }
  PetscCall(CheckRTPS(&cases[0], M, size, n));
  PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, gaussfile));
  PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, netfile));
  PetscCall(FinishTest("test_daisi_layout"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
