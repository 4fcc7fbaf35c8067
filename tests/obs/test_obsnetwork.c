/* Observation networks: exactly round(fraction * ny * nx) distinct sites inside the grid,
 * the same sites on every observed level, identical on the test's communicator (1-4 ranks)
 * and on one rank alone, dependence on seed and cycle (-obs_new_sites_each_cycle) only, the
 * -obs_levels option, explicit site files (text and HDF5), and the scenario table. */
#include <daisi/obsnetwork.h>
#include <daisi/sys.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>

static const char help[] = "Tests DaisiObsNetwork and DaisiObsScenario.\n";

static PetscInt nfail = 0;

#define EXPECT(cond, ...) \
  do { \
    if (!(cond)) { \
      nfail++; \
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL %s:%d: ", __FILE__, __LINE__)); \
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, __VA_ARGS__)); \
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n")); \
    } \
  } while (0)

static PetscErrorCode MakeNetwork(MPI_Comm comm, PetscInt nlev, PetscInt ny, PetscInt nx, PetscReal fraction, PetscInt64 seed, PetscBool newsites, DaisiObsNetwork *net)
{
  DaisiGrid g = {nlev, ny, nx, 0, ny, 0, 0, 0};

  PetscFunctionBegin;
  PetscCall(DaisiObsNetworkCreate(comm, net));
  PetscCall(DaisiObsNetworkSetGrid(*net, &g));
  PetscCall(DaisiObsNetworkSetFraction(*net, fraction));
  PetscCall(DaisiObsNetworkSetSeed(*net, seed));
  PetscCall(DaisiObsNetworkSetNewSitesEachCycle(*net, newsites));
  PetscCall(DaisiObsNetworkSetUp(*net));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* count, distinctness, bounds and level structure of cycle c of net; the sites of level 0
 * are copied to site[] (horizontal indices) */
static PetscErrorCode CheckStructure(DaisiObsNetwork net, PetscInt c, PetscInt nlev, PetscInt ny, PetscInt nx, PetscInt expect, PetscInt site[])
{
  PetscInt        nobs, nsite, nlevobs;
  const PetscInt *lev, *iy, *ix;

  PetscFunctionBegin;
  PetscCall(DaisiObsNetworkGetSites(net, c, &nobs, &lev, &iy, &ix));
  PetscCall(DaisiObsNetworkGetSizes(net, NULL, &nsite, &nlevobs));
  EXPECT(nsite == expect, "%" PetscInt_FMT "x%" PetscInt_FMT ": %" PetscInt_FMT " sites, expected %" PetscInt_FMT, ny, nx, nsite, expect);
  EXPECT(nlevobs == nlev && nobs == nlev * nsite, "%" PetscInt_FMT " observations on %" PetscInt_FMT " levels for %" PetscInt_FMT " sites", nobs, nlevobs, nsite);
  for (PetscInt i = 0; i < nobs; i++) {
    const PetscInt l = i / nsite, s = i % nsite;
    EXPECT(lev[i] == l, "observation %" PetscInt_FMT " on level %" PetscInt_FMT ", expected %" PetscInt_FMT, i, lev[i], l);
    EXPECT(iy[i] >= 0 && iy[i] < ny && ix[i] >= 0 && ix[i] < nx, "site (%" PetscInt_FMT ", %" PetscInt_FMT ") outside the grid", iy[i], ix[i]);
    EXPECT(iy[i] == iy[s] && ix[i] == ix[s], "observation %" PetscInt_FMT " is not at the site of level 0", i);
    if (l == 0) {
      site[s] = iy[i] * nx + ix[i];
      EXPECT(s == 0 || site[s] > site[s - 1], "sites not strictly increasing (distinct, sorted) at %" PetscInt_FMT, s);
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestRandom(void)
{
  const PetscInt  shapes[][2] = {
    {32, 32},
    {64, 64},
    {24, 40},
    {1,  7 }
  };
  const PetscReal fractions[] = {0.25, 0.05, 0.0123, 1.0, 0.5};

  PetscFunctionBegin;
  for (size_t a = 0; a < sizeof(shapes) / sizeof(shapes[0]); a++)
    for (size_t b = 0; b < sizeof(fractions) / sizeof(fractions[0]); b++) {
      const PetscInt  ny = shapes[a][0], nx = shapes[a][1];
      const PetscReal f      = fractions[b];
      const PetscInt  expect = (PetscInt)floor(f * (double)(ny * nx) + 0.5);
      DaisiObsNetwork world, self;
      PetscInt       *sw, *ss;
      if (expect < 1) continue;
      PetscCall(PetscMalloc2(expect, &sw, expect, &ss));
      PetscCall(MakeNetwork(PETSC_COMM_WORLD, 2, ny, nx, f, 11, PETSC_FALSE, &world));
      PetscCall(MakeNetwork(PETSC_COMM_SELF, 2, ny, nx, f, 11, PETSC_FALSE, &self));
      PetscCall(CheckStructure(world, 1, 2, ny, nx, expect, sw));
      PetscCall(CheckStructure(self, 5, 2, ny, nx, expect, ss));
      for (PetscInt s = 0; s < expect; s++) EXPECT(sw[s] == ss[s], "%" PetscInt_FMT "x%" PetscInt_FMT " f=%g: site %" PetscInt_FMT " differs between the communicator and one rank", ny, nx, (double)f, s);
      /* the sites are spread: each quarter of the rows holds about a quarter of them */
      if (expect >= 200) {
        PetscInt q[4] = {0, 0, 0, 0};
        for (PetscInt s = 0; s < expect; s++) q[4 * (sw[s] / nx) / ny]++;
        for (int k = 0; k < 4; k++) EXPECT(fabs(q[k] - expect / 4.0) < 5 * sqrt(expect / 4.0) + 1, "quarter %d holds %" PetscInt_FMT " of %" PetscInt_FMT " sites", k, q[k], expect);
      }
      PetscCall(DaisiObsNetworkDestroy(&world));
      PetscCall(DaisiObsNetworkDestroy(&self));
      PetscCall(PetscFree2(sw, ss));
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* seed and cycle change the sites; a fixed network ignores the cycle */
static PetscErrorCode TestSeedAndCycle(void)
{
  DaisiObsNetwork a, b, c;
  PetscInt        s1[256], s2[256], s3[256], s4[256], same12 = 0, same13 = 0, same14 = 0;

  PetscFunctionBegin;
  PetscCall(MakeNetwork(PETSC_COMM_WORLD, 2, 32, 32, 0.25, 1, PETSC_FALSE, &a));
  PetscCall(MakeNetwork(PETSC_COMM_WORLD, 2, 32, 32, 0.25, 2, PETSC_FALSE, &b));
  PetscCall(MakeNetwork(PETSC_COMM_WORLD, 2, 32, 32, 0.25, 1, PETSC_TRUE, &c));
  PetscCall(CheckStructure(a, 1, 2, 32, 32, 256, s1));
  PetscCall(CheckStructure(a, 7, 2, 32, 32, 256, s4));
  for (PetscInt s = 0; s < 256; s++) same14 += s1[s] == s4[s];
  EXPECT(same14 == 256, "a fixed network changed with the cycle");
  PetscCall(CheckStructure(b, 1, 2, 32, 32, 256, s2));
  PetscCall(CheckStructure(c, 2, 2, 32, 32, 256, s3));
  for (PetscInt s = 0; s < 256; s++) {
    same12 += s1[s] == s2[s];
    same13 += s1[s] == s3[s];
  }
  EXPECT(same12 < 128 && same13 < 128, "sites barely change with seed (%" PetscInt_FMT "/256 equal) or cycle (%" PetscInt_FMT "/256)", same12, same13);
  PetscCall(CheckStructure(c, 3, 2, 32, 32, 256, s4));
  PetscCall(CheckStructure(c, 2, 2, 32, 32, 256, s2));
  for (PetscInt s = 0; s < 256; s++) EXPECT(s2[s] == s3[s], "cycle 2 sites not reproduced after visiting cycle 3");
  {
    DaisiObsNetwork self;
    PetscCall(MakeNetwork(PETSC_COMM_SELF, 2, 32, 32, 0.25, 1, PETSC_TRUE, &self));
    PetscCall(CheckStructure(self, 3, 2, 32, 32, 256, s1));
    for (PetscInt s = 0; s < 256; s++) EXPECT(s1[s] == s4[s], "cycle 3 sites differ between the communicator and one rank");
    PetscCall(DaisiObsNetworkDestroy(&self));
  }
  PetscCall(DaisiObsNetworkDestroy(&a));
  PetscCall(DaisiObsNetworkDestroy(&b));
  PetscCall(DaisiObsNetworkDestroy(&c));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -obs_levels 1 -obs_fraction 0.5 -obs_seed 3 from the options database */
static PetscErrorCode TestOptions(void)
{
  DaisiObsNetwork net;
  DaisiGrid       g = {2, 16, 16, 0, 16, 0, 0, 0};
  PetscInt        nobs, nsite, nlevobs;
  PetscInt64      seed;
  const PetscInt *lev;

  PetscFunctionBegin;
  PetscCall(PetscOptionsSetValue(NULL, "-t_obs_levels", "1"));
  PetscCall(PetscOptionsSetValue(NULL, "-t_obs_fraction", "0.5"));
  PetscCall(PetscOptionsSetValue(NULL, "-t_obs_seed", "3"));
  PetscCall(DaisiObsNetworkCreate(PETSC_COMM_WORLD, &net));
  PetscCall(DaisiObsNetworkSetOptionsPrefix(net, "t_"));
  PetscCall(DaisiObsNetworkSetGrid(net, &g));
  PetscCall(DaisiObsNetworkSetFromOptions(net));
  PetscCall(DaisiObsNetworkSetUp(net));
  PetscCall(DaisiObsNetworkGetSizes(net, &nobs, &nsite, &nlevobs));
  PetscCall(DaisiObsNetworkGetSeed(net, &seed));
  PetscCall(DaisiObsNetworkGetSites(net, 1, NULL, &lev, NULL, NULL));
  EXPECT(nsite == 128 && nlevobs == 1 && nobs == 128 && seed == 3, "options: %" PetscInt_FMT " sites, %" PetscInt_FMT " levels, seed %" PetscInt64_FMT, nsite, nlevobs, seed);
  for (PetscInt i = 0; i < nobs; i++) EXPECT(lev[i] == 1, "observation %" PetscInt_FMT " on level %" PetscInt_FMT " with -obs_levels 1", i, lev[i]);
  PetscCall(DaisiObsNetworkDestroy(&net));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* site files: text with comments, and HDF5, give the listed sites on both levels */
static PetscErrorCode TestSiteFiles(void)
{
  const long long sites[5][2] = {
    {3,  4 },
    {0,  0 },
    {31, 31},
    {3,  5 },
    {17, 2 }
  };
  PetscMPIInt rank, size;
  char        names[2][64], *paths[2] = {names[0], names[1]};

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  /* tests at different rank counts may run at once in the same directory */
  PetscCall(PetscSNPrintf(names[0], sizeof(names[0]), "test_obsnetwork_sites_np%d.txt", size));
  PetscCall(PetscSNPrintf(names[1], sizeof(names[1]), "test_obsnetwork_sites_np%d.h5", size));
  if (rank == 0) {
    FILE   *fp = fopen(paths[0], "w");
    hid_t   file, space, dset;
    hsize_t dims[2] = {5, 2};
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", paths[0]);
    fprintf(fp, "# iy ix\n\n");
    for (int k = 0; k < 5; k++) fprintf(fp, "  %lld %lld %s\n", sites[k][0], sites[k][1], k == 2 ? "# a corner" : "");
    fclose(fp);
    file  = H5Fcreate(paths[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    space = H5Screate_simple(2, dims, NULL);
    dset  = H5Dcreate2(file, "sites", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    PetscCheck(dset >= 0 && H5Dwrite(dset, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, sites) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot write %s", paths[1]);
    H5Dclose(dset);
    H5Sclose(space);
    H5Fclose(file);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  for (int p = 0; p < 2; p++) {
    DaisiObsNetwork net;
    DaisiGrid       g = {2, 32, 32, 0, 32, 0, 0, 0};
    PetscInt        nobs;
    const PetscInt *lev, *iy, *ix;
    const PetscInt  expect[5] = {0, 3 * 32 + 4, 3 * 32 + 5, 17 * 32 + 2, 31 * 32 + 31};
    PetscCall(DaisiObsNetworkCreate(PETSC_COMM_WORLD, &net));
    PetscCall(DaisiObsNetworkSetGrid(net, &g));
    PetscCall(DaisiObsNetworkSetSitesFile(net, paths[p]));
    PetscCall(DaisiObsNetworkSetUp(net));
    PetscCall(DaisiObsNetworkGetSites(net, 4, &nobs, &lev, &iy, &ix));
    EXPECT(nobs == 10, "%s: %" PetscInt_FMT " observations, expected 10", paths[p], nobs);
    for (PetscInt i = 0; i < nobs && nobs == 10; i++) EXPECT(lev[i] == i / 5 && iy[i] * 32 + ix[i] == expect[i % 5], "%s: observation %" PetscInt_FMT " at (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT ")", paths[p], i, lev[i], iy[i], ix[i]);
    PetscCall(DaisiObsNetworkDestroy(&net));
  }
  if (rank == 0) {
    (void)remove(paths[0]);
    (void)remove(paths[1]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* bad settings end in errors (the messages are checked by tests/obs/obs_driver.sh) */
static PetscErrorCode TestErrors(void)
{
  DaisiObsNetwork  net;
  DaisiGrid        g = {2, 8, 8, 0, 8, 0, 0, 0};
  DaisiObsScenario s;
  PetscErrorCode   ierr;
  PetscInt         lev3 = 2;

  PetscFunctionBegin;
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  PetscCall(DaisiObsNetworkCreate(PETSC_COMM_WORLD, &net));
  PetscCall(DaisiObsNetworkSetGrid(net, &g));
  ierr = DaisiObsNetworkSetFraction(net, 0.0);
  EXPECT(ierr, "fraction 0 accepted");
  ierr = DaisiObsNetworkSetFraction(net, 1.5);
  EXPECT(ierr, "fraction 1.5 accepted");
  PetscCall(DaisiObsNetworkSetFraction(net, 0.001)); /* 0.064 sites -> none */
  ierr = DaisiObsNetworkSetUp(net);
  EXPECT(ierr, "a network without sites accepted");
  PetscCall(DaisiObsNetworkSetFraction(net, 0.5));
  PetscCall(DaisiObsNetworkSetLevels(net, 1, &lev3));
  ierr = DaisiObsNetworkSetUp(net);
  EXPECT(ierr, "level 2 of a 2-level grid accepted");
  PetscCall(DaisiObsNetworkDestroy(&net));
  ierr = DaisiObsScenarioFind(PETSC_COMM_WORLD, "foggy", &s);
  EXPECT(ierr == PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown scenario accepted");
  PetscCall(PetscPopErrorHandler());
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestScenarios(void)
{
  DaisiObsScenario s;

  PetscFunctionBegin;
  PetscCall(DaisiObsScenarioFind(PETSC_COMM_WORLD, "noisy", &s));
  EXPECT(!strcmp(s.op, "linear") && s.fraction == 0.25 && s.sigma == 5.0 && s.letkf_cutoff == 2500e3 && s.letkf_rtps == 0.5, "noisy scenario");
  PetscCall(DaisiObsScenarioFind(PETSC_COMM_WORLD, "sparse", &s));
  EXPECT(!strcmp(s.op, "linear") && s.fraction == 0.05 && s.sigma == 1.0 && s.letkf_cutoff == 1500e3 && s.letkf_rtps == 0.5, "sparse scenario");
  PetscCall(DaisiObsScenarioFind(PETSC_COMM_WORLD, "multimodal", &s));
  EXPECT(!strcmp(s.op, "squared") && s.squared_scale == 7.0 && s.fraction == 0.25 && s.sigma == 1.0 && s.letkf_cutoff == 2500e3 && s.letkf_rtps == 0.5, "multimodal scenario");
  PetscCall(DaisiObsScenarioFind(PETSC_COMM_WORLD, "saturating", &s));
  EXPECT(!strcmp(s.op, "arctan") && s.fraction == 0.25 && s.sigma == 0.01 && s.letkf_cutoff == 4500e3 && s.letkf_rtps == 0.9 && s.ens_size == 20 && s.ens_init_sigma == 3.06, "saturating scenario");
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(TestRandom());
  PetscCall(TestSeedAndCycle());
  PetscCall(TestOptions());
  PetscCall(TestSiteFiles());
  PetscCall(TestErrors());
  PetscCall(TestScenarios());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s: %" PetscInt_FMT " failure(s)\n", nfail ? "FAIL" : "ok", nfail));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
