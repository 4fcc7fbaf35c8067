/* Checker for observation files written by daisi-obs (run by tests/obs/obs_driver.sh).
 *
 *   obs_check -truth T -obs O [-obs_new_sites_each_cycle] [-sigma_expect S]
 *     recomputes every value exactly: y = h(truth at the site) + sigma * z with h from the
 *     closed forms and z from the counter RNG (seed from the file, cycle, observation index),
 *     checks the sites against a network rebuilt from the file's seed and fraction, the
 *     times against the truth's, and the noise z = (y - h) / sigma: mean and std within
 *     4 standard errors of 0 and 1.
 *   obs_check -read O -n N [-cycle C]
 *     reads cycle C of O for an N x N model with 2 levels through DaisiObsFileRead (for the
 *     bad-input cases: the error messages are checked by the script).
 *   obs_check -options_file_yaml configs/sqg_X.yaml
 *     reads a scenario the way a filter would (DaisiObsScenarioGetFromOptions), prints it, and
 *     errors if any option of the file is left unread. */
#include <daisi/obsfile.h>
#include <daisi/obsnetwork.h>
#include <daisi/rng.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>
#include <math.h>

static const char help[] = "Checks observation files against their truth.\n";

static PetscErrorCode ReadOnly(const char path[], PetscInt n, PetscInt cycle)
{
  DaisiGrid    g = {2, n, n, 0, n, 0, 0, 0};
  DaisiObsFile f;
  DaisiObsSet  set;
  PetscInt     nskip;

  PetscFunctionBegin;
  PetscCall(DaisiObsFileCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiObsFileSetGrid(f, &g));
  PetscCall(DaisiObsFileOpen(f, path, DAISI_FILE_READ));
  PetscCall(DaisiObsFileRead(f, cycle, &set, &nskip));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "read cycle %" PetscInt_FMT ": %" PetscInt_FMT " observations, %" PetscInt_FMT " skipped\n", cycle, set.nobs, nskip));
  PetscCall(DaisiObsSetDestroy(&set));
  PetscCall(DaisiObsFileClose(f));
  PetscCall(DaisiObsFileDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Check(const char truthpath[], const char obspath[], PetscBool newsites, PetscReal sigma_expect, PetscInt *nfail)
{
  DaisiGrid       g;
  DaisiStateFile  truth;
  DaisiObsFile    f;
  DaisiObsNetwork net;
  PetscInt        ntime, ncycle, nobs, nlev, ny, nx, nbad = 0, nsitebad = 0;
  PetscReal       seedr, fraction, c, *x, t, sum = 0, sumsq = 0, count = 0;
  char            op[32];

  PetscFunctionBegin;
  PetscCall(DaisiStateFileQuery(PETSC_COMM_WORLD, truthpath, &g, &ntime, NULL));
  PetscCall(DaisiStateFileCreate(PETSC_COMM_WORLD, &truth));
  PetscCall(DaisiStateFileSetGrid(truth, &g));
  PetscCall(DaisiStateFileOpen(truth, truthpath, DAISI_FILE_READ));
  PetscCall(DaisiObsFileCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiObsFileSetGrid(f, &g));
  PetscCall(DaisiObsFileOpen(f, obspath, DAISI_FILE_READ));
  PetscCall(DaisiObsFileGetSizes(f, &ncycle, &nobs, &nlev, &ny, &nx));
  PetscCall(DaisiObsFileGetString(f, "obs_operator", op, sizeof(op), NULL));
  PetscCall(DaisiObsFileGetReal(f, "obs_squared_scale", &c, NULL));
  PetscCall(DaisiObsFileGetReal(f, "obs_seed", &seedr, NULL));
  PetscCall(DaisiObsFileGetReal(f, "obs_fraction", &fraction, NULL));
  if (ncycle > ntime - 1) {
    (*nfail)++;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL %" PetscInt_FMT " cycles for %" PetscInt_FMT " truth times\n", ncycle, ntime));
  }
  PetscCall(DaisiObsNetworkCreate(PETSC_COMM_WORLD, &net));
  PetscCall(DaisiObsNetworkSetGrid(net, &g));
  PetscCall(DaisiObsNetworkSetFraction(net, fraction));
  PetscCall(DaisiObsNetworkSetSeed(net, (PetscInt64)seedr));
  PetscCall(DaisiObsNetworkSetNewSitesEachCycle(net, newsites));
  PetscCall(DaisiObsNetworkSetUp(net));
  PetscCall(PetscMalloc1(DaisiGridLocalSize(&g), &x));
  for (PetscInt cyc = 1; cyc <= ncycle; cyc++) {
    DaisiObsSet     set;
    const DaisiRng  rng = DaisiRngMake((uint64_t)seedr, DAISI_RNG_OBS_NOISE, (uint64_t)cyc, 0, 0);
    const PetscInt *lev, *iy, *ix;
    PetscInt        n;
    PetscCall(DaisiStateFileRead(truth, cyc, &t, x));
    PetscCall(DaisiObsFileRead(f, cyc, &set, NULL));
    PetscCall(DaisiObsNetworkGetSites(net, cyc, &n, &lev, &iy, &ix));
    if (set.time != t || set.nobs != n) {
      (*nfail)++;
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL cycle %" PetscInt_FMT ": time %g (truth %g), %" PetscInt_FMT " observations (network %" PetscInt_FMT ")\n", cyc, (double)set.time, (double)t, set.nobs, n));
      PetscCall(DaisiObsSetDestroy(&set));
      continue;
    }
    for (PetscInt i = 0; i < n; i++) {
      const PetscReal xt = x[(set.lev[i] * g.ny + set.iy[i]) * g.nx + set.ix[i]];
      PetscReal       h, s, y, z;
      if (!strcmp(op, "linear")) h = xt;
      else if (!strcmp(op, "squared")) {
        s = xt / c;
        h = s * s;
      } else h = atan(xt);
      z = (PetscReal)DaisiRngNormal(&rng, (uint64_t)i);
      y = h + set.sigma[i] * z;
      if (set.value[i] != y) nbad++;
      if (set.lev[i] != lev[i] || set.iy[i] != iy[i] || set.ix[i] != ix[i]) nsitebad++;
      if (sigma_expect > 0 && set.sigma[i] != sigma_expect) nbad++;
      z = (set.value[i] - h) / set.sigma[i];
      sum += z;
      sumsq += z * z;
      count += 1;
    }
    PetscCall(DaisiObsSetDestroy(&set));
  }
  {
    const PetscReal mean = sum / count, sd = PetscSqrtReal(sumsq / count - mean * mean);
    const PetscReal mtol = 4 / PetscSqrtReal(count), stol = 4 / PetscSqrtReal(2 * count);
    PetscBool       ok   = (PetscBool)(PetscAbsReal(mean) < mtol && PetscAbsReal(sd - 1) < stol);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s noise/sigma over %g values: mean %+.4f (|.| < %.4f), std %.4f (1 +- %.4f)\n", ok ? "ok  " : "FAIL", (double)count, (double)mean, (double)mtol, (double)sd, (double)stol));
    if (!ok) (*nfail)++;
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s %" PetscInt_FMT " cycle(s) x %" PetscInt_FMT " values recomputed (h = %s): %" PetscInt_FMT " differ, %" PetscInt_FMT " sites differ from the network\n", nbad || nsitebad ? "FAIL" : "ok  ", ncycle, nobs, op, nbad, nsitebad));
  if (nbad || nsitebad) (*nfail)++;
  PetscCall(PetscFree(x));
  PetscCall(DaisiObsNetworkDestroy(&net));
  PetscCall(DaisiObsFileClose(f));
  PetscCall(DaisiObsFileDestroy(&f));
  PetscCall(DaisiStateFileClose(truth));
  PetscCall(DaisiStateFileDestroy(&truth));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  char        truth[PETSC_MAX_PATH_LEN] = "", obs[PETSC_MAX_PATH_LEN] = "", rd[PETSC_MAX_PATH_LEN] = "";
  PetscInt    n = 32, cycle = 1, nfail = 0;
  PetscReal   sigma = 0;
  PetscBool   newsites = PETSC_FALSE, scenario;
  PetscMPIInt size;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-truth", truth, sizeof(truth), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-obs", obs, sizeof(obs), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-read", rd, sizeof(rd), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &n, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-cycle", &cycle, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-sigma_expect", &sigma, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-obs_new_sites_each_cycle", &newsites, NULL));
  PetscCall(PetscOptionsHasName(NULL, NULL, "-scenario", &scenario));
  if (scenario) {
    DaisiObsScenario s;
    PetscCall(DaisiObsScenarioGetFromOptions(PETSC_COMM_WORLD, NULL, &s));
    PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "scenario %s: h %s c %g, fraction %g, sigma %g, seed %" PetscInt64_FMT ", cutoff %g m, rtps %g, %" PetscInt_FMT " members, init %g K\n", s.name, s.op, (double)s.squared_scale, (double)s.fraction, (double)s.sigma, s.seed, (double)s.letkf_cutoff, (double)s.letkf_rtps, s.ens_size, (double)s.ens_init_sigma));
    PetscCall(DaisiFinalize());
    return 0;
  }
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  if (rd[0]) PetscCall(ReadOnly(rd, n, cycle));
  else {
    PetscCheck(truth[0] && obs[0], PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "give -truth T -obs O, or -read O -n N -cycle C");
    PetscCheck(size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "the checker reads the whole truth: run it on one rank");
    PetscCall(Check(truth, obs, newsites, sigma, &nfail));
  }
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
