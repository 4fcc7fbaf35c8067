/* Observation networks (random or listed sites) and the SQG observation scenarios. */
#include <daisi/obsnetwork.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include "../io/h5util.h"

PetscLogEvent DAISI_ObsNetworkSetUp = 0;

struct _p_DaisiObsNetwork {
  MPI_Comm  comm;
  char     *prefix;
  PetscInt  nlev, ny, nx;
  PetscReal fraction;
  PetscInt64 seed;
  char      sitesfile[PETSC_MAX_PATH_LEN];
  PetscBool newsites;
  PetscInt  nlevobs, *levels; /* observed levels; nlevobs = 0 before set-up: all */
  PetscBool setup;
  PetscInt  nsite, *site;     /* sorted horizontal indices iy * nx + ix */
  PetscInt  sitecycle;        /* cycle the current random sites were drawn for (0: fixed) */
  PetscInt  nobs, *lev, *iy, *ix;
};

/* Errors found by rank 0 alone (site files) travel to all ranks as a message, so that the
 * error is raised collectively, once, with the culprit named. */
typedef struct {
  PetscErrorCode code;
  char           msg[PETSC_MAX_PATH_LEN + 256];
} RootError;

static PetscErrorCode RootErrorRaise(MPI_Comm comm, RootError *e)
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Bcast(&e->code, 1, MPI_INT, 0, comm));
  if (!e->code) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCallMPI(MPI_Bcast(e->msg, (PetscMPIInt)sizeof(e->msg), MPI_CHAR, 0, comm));
  PetscCheck(!e->code, comm, e->code, "%s", e->msg);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkCreate(MPI_Comm comm, DaisiObsNetwork *net)
{
  PetscFunctionBegin;
  PetscCheck(net, comm, PETSC_ERR_ARG_NULL, "DaisiObsNetworkCreate: output pointer is NULL");
  if (!DAISI_ObsNetworkSetUp) PetscCall(PetscLogEventRegister("ObsNetworkSetUp", DAISI_CLASSID, &DAISI_ObsNetworkSetUp));
  PetscCall(PetscNew(net));
  (*net)->comm     = comm;
  (*net)->fraction = DAISI_OBS_FRACTION_DEFAULT;
  (*net)->seed     = DAISI_OBS_SEED_DEFAULT;
  (*net)->sitecycle = -1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetOptionsPrefix(DaisiObsNetwork net, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(net->prefix));
  PetscCall(PetscStrallocpy(prefix, &net->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetGrid(DaisiObsNetwork net, const DaisiGrid *grid)
{
  PetscFunctionBegin;
  PetscCheck(grid->nlev >= 1 && grid->ny >= 1 && grid->nx >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation network: invalid grid %" PetscInt_FMT " level(s) x %" PetscInt_FMT " x %" PetscInt_FMT, grid->nlev, grid->ny, grid->nx);
  net->nlev  = grid->nlev;
  net->ny    = grid->ny;
  net->nx    = grid->nx;
  net->setup = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetFraction(DaisiObsNetwork net, PetscReal fraction)
{
  PetscFunctionBegin;
  PetscCheck(fraction > 0 && fraction <= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "observed fraction of the grid (option -%sobs_fraction) must be in (0, 1], got %g", net->prefix ? net->prefix : "", (double)fraction);
  net->fraction = fraction;
  net->setup    = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetSeed(DaisiObsNetwork net, PetscInt64 seed)
{
  PetscFunctionBegin;
  PetscCheck(seed >= 0, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation seed (option -%sobs_seed) must be >= 0, got %" PetscInt64_FMT, net->prefix ? net->prefix : "", seed);
  net->seed  = seed;
  net->setup = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkGetSeed(DaisiObsNetwork net, PetscInt64 *seed)
{
  PetscFunctionBegin;
  *seed = net->seed;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetSitesFile(DaisiObsNetwork net, const char path[])
{
  PetscFunctionBegin;
  PetscCall(PetscStrncpy(net->sitesfile, path ? path : "", sizeof(net->sitesfile)));
  net->setup = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetNewSitesEachCycle(DaisiObsNetwork net, PetscBool flg)
{
  PetscFunctionBegin;
  net->newsites = flg;
  net->setup    = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetLevels(DaisiObsNetwork net, PetscInt n, const PetscInt levels[])
{
  PetscFunctionBegin;
  PetscCheck(n >= 0, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "number of observed levels must be >= 0");
  PetscCall(PetscFree(net->levels));
  net->nlevobs = n;
  PetscCall(PetscMalloc1(n + 1, &net->levels));
  for (PetscInt i = 0; i < n; i++) net->levels[i] = levels[i];
  net->setup = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetFromOptions(DaisiObsNetwork net)
{
  PetscReal fraction = net->fraction;
  PetscInt  seed     = (PetscInt)net->seed, levels[64] = {0}, nlev = 64;
  char      sites[PETSC_MAX_PATH_LEN];
  PetscBool setfrac, setseed, setsites, setlev, newsites = net->newsites;

  PetscFunctionBegin;
  PetscOptionsBegin(net->comm, net->prefix, "Observation network options", "DaisiObsNetwork");
  PetscCall(PetscOptionsReal("-obs_fraction", "Fraction of the grid points observed (random sites)", "DaisiObsNetworkSetFraction", fraction, &fraction, &setfrac));
  PetscCall(PetscOptionsInt("-obs_seed", "Seed of the observation sites and noise", "DaisiObsNetworkSetSeed", seed, &seed, &setseed));
  PetscCall(PetscOptionsString("-obs_sites", "Site file (text 'iy ix' lines or HDF5 dataset 'sites') instead of random sites", "DaisiObsNetworkSetSitesFile", net->sitesfile, sites, sizeof(sites), &setsites));
  PetscCall(PetscOptionsBool("-obs_new_sites_each_cycle", "Draw new random sites every cycle", "DaisiObsNetworkSetNewSitesEachCycle", newsites, &newsites, NULL));
  PetscCall(PetscOptionsIntArray("-obs_levels", "Observed levels (default: all)", "DaisiObsNetworkSetLevels", levels, &nlev, &setlev));
  PetscOptionsEnd();
  if (setfrac) PetscCall(DaisiObsNetworkSetFraction(net, fraction));
  if (setseed) PetscCall(DaisiObsNetworkSetSeed(net, (PetscInt64)seed));
  if (setsites) PetscCall(DaisiObsNetworkSetSitesFile(net, sites));
  PetscCall(DaisiObsNetworkSetNewSitesEachCycle(net, newsites));
  if (setlev) {
    PetscCheck(nlev > 0, net->comm, PETSC_ERR_ARG_WRONG, "option -%sobs_levels needs a list of levels, e.g. 0,1", net->prefix ? net->prefix : "");
    PetscCall(DaisiObsNetworkSetLevels(net, nlev, levels));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- random sites ---- */

typedef struct {
  uint64_t key, index;
} SiteKey;

static int SiteKeyCompare(const void *a, const void *b)
{
  const SiteKey *p = (const SiteKey *)a, *q = (const SiteKey *)b;
  if (p->key != q->key) return p->key < q->key ? -1 : 1;
  return p->index < q->index ? -1 : (p->index > q->index ? 1 : 0);
}

/* The m grid points with the smallest keys. Each rank ranks a contiguous share of the
 * points and offers its m best; the union of the offers holds the m best overall. The
 * result depends on the keys alone (ties broken by index), not on the rank count. */
static PetscErrorCode ChooseRandomSites(DaisiObsNetwork net, PetscInt cycle)
{
  const PetscInt64 npoint = (PetscInt64)net->ny * net->nx;
  const PetscInt   m      = (PetscInt)PetscFloorReal(net->fraction * (PetscReal)npoint + 0.5);
  const DaisiRng   rng    = DaisiRngMake((uint64_t)net->seed, DAISI_RNG_OBS_SITES, (uint64_t)cycle, 0, 0);
  PetscMPIInt      rank, size, nmine, *counts, *displs;
  PetscInt64       i0, i1;
  SiteKey         *mine, *all;
  PetscInt         ntotal = 0;

  PetscFunctionBegin;
  PetscCheck(m >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "observed fraction %g (option -%sobs_fraction) of a %" PetscInt_FMT "x%" PetscInt_FMT " grid gives no observation site", (double)net->fraction, net->prefix ? net->prefix : "", net->ny, net->nx);
  PetscCallMPI(MPI_Comm_rank(net->comm, &rank));
  PetscCallMPI(MPI_Comm_size(net->comm, &size));
  i0 = npoint * rank / size;
  i1 = npoint * (rank + 1) / size;
  PetscCall(PetscMalloc1(i1 - i0 + 1, &mine));
  for (PetscInt64 i = i0; i < i1; i++) {
    uint64_t bits[4];
    DaisiRngBits(&rng, (uint64_t)i, bits);
    mine[i - i0].key   = bits[0];
    mine[i - i0].index = (uint64_t)i;
  }
  qsort(mine, (size_t)(i1 - i0), sizeof(SiteKey), SiteKeyCompare);
  nmine = (PetscMPIInt)PetscMin((PetscInt64)m, i1 - i0);
  PetscCall(PetscMalloc2(size, &counts, size, &displs));
  nmine *= 2; /* two uint64 per key */
  PetscCallMPI(MPI_Allgather(&nmine, 1, MPI_INT, counts, 1, MPI_INT, net->comm));
  for (PetscMPIInt r = 0; r < size; r++) {
    displs[r] = (PetscMPIInt)ntotal;
    ntotal += counts[r];
  }
  PetscCall(PetscMalloc1(ntotal / 2 + 1, &all));
  PetscCallMPI(MPI_Allgatherv(mine, nmine, MPI_UINT64_T, all, counts, displs, MPI_UINT64_T, net->comm));
  qsort(all, (size_t)(ntotal / 2), sizeof(SiteKey), SiteKeyCompare);
  PetscCall(PetscFree(net->site));
  PetscCall(PetscMalloc1(m, &net->site));
  for (PetscInt k = 0; k < m; k++) net->site[k] = (PetscInt)all[k].index;
  PetscCall(PetscSortInt(m, net->site));
  net->nsite     = m;
  net->sitecycle = cycle;
  PetscCall(PetscFree(all));
  PetscCall(PetscFree2(counts, displs));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- site files (read by rank 0) ---- */

/* Text: one site per line, "iy ix" (0-based row and column); '#' starts a comment. */
static PetscErrorCode ReadSitesText(DaisiObsNetwork net, PetscInt *n, PetscInt **site, PetscInt **line, RootError *e)
{
  FILE    *fp;
  char     buf[4096];
  PetscInt cap = 0, lineno = 0;

  PetscFunctionBegin;
  *n = 0;
  fp = fopen(net->sitesfile, "r");
  if (!fp) {
    e->code = PETSC_ERR_FILE_OPEN;
    PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "cannot open site file %s (option -%sobs_sites)", net->sitesfile, net->prefix ? net->prefix : ""));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  while (fgets(buf, sizeof(buf), fp)) {
    char     *p = buf, *end, *hash = strchr(buf, '#');
    long long v[2] = {0, 0};
    int       got = 0;
    lineno++;
    if (hash) *hash = 0;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (!*p) continue;
    for (int k = 0; k < 2; k++, got++) {
      v[k] = strtoll(p, &end, 10);
      if (end == p) break;
      p = end;
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (got < 2 || *p) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      buf[strcspn(buf, "\r\n")] = 0;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "site file %s, line %" PetscInt_FMT ": expected two integers 'iy ix', got '%s'", net->sitesfile, lineno, buf));
      break;
    }
    if (*n == cap) {
      cap = 2 * cap + 64;
      PetscCall(PetscRealloc(sizeof(PetscInt) * (size_t)cap, site));
      PetscCall(PetscRealloc(sizeof(PetscInt) * (size_t)cap, line));
    }
    if (v[0] < 0 || v[0] >= net->ny || v[1] < 0 || v[1] >= net->nx) {
      e->code = PETSC_ERR_ARG_OUTOFRANGE;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "site file %s, line %" PetscInt_FMT ": site %" PetscInt_FMT " at (iy, ix) = (%lld, %lld) is outside the %" PetscInt_FMT "x%" PetscInt_FMT " grid", net->sitesfile, lineno, *n, v[0], v[1], net->ny, net->nx));
      break;
    }
    (*site)[*n] = (PetscInt)(v[0] * net->nx + v[1]);
    (*line)[*n] = lineno;
    (*n)++;
  }
  fclose(fp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* HDF5: an integer dataset "sites" of shape (nsite, 2), columns iy, ix. */
static PetscErrorCode ReadSitesHDF5(DaisiObsNetwork net, PetscInt *n, PetscInt **site, PetscInt **line, RootError *e)
{
  hid_t     file = H5I_INVALID_HID, dset = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  hsize_t   dims[2];
  long long *v = NULL;

  PetscFunctionBegin;
  *n   = 0;
  file = H5Fopen(net->sitesfile, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    char why[512];
    DaisiH5ErrorReason(why, sizeof(why));
    e->code = PETSC_ERR_FILE_OPEN;
    PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "cannot open site file %s: %s", net->sitesfile, why));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (H5Lexists(file, "sites", H5P_DEFAULT) > 0) dset = H5Dopen2(file, "sites", H5P_DEFAULT);
  if (dset >= 0) {
    space = H5Dget_space(dset);
    type  = H5Dget_type(dset);
  }
  if (dset < 0 || space < 0 || type < 0 || H5Tget_class(type) != H5T_INTEGER || H5Sget_simple_extent_ndims(space) != 2 || H5Sget_simple_extent_dims(space, dims, NULL) < 0 || dims[1] != 2) {
    e->code = PETSC_ERR_FILE_UNEXPECTED;
    PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "site file %s: expected an integer dataset 'sites' of shape (nsite, 2) holding iy, ix", net->sitesfile));
  } else {
    PetscCall(PetscMalloc1(2 * dims[0] + 1, &v));
    if (H5Dread(dset, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
      e->code = PETSC_ERR_FILE_READ;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "site file %s: cannot read dataset 'sites'", net->sitesfile));
    } else {
      PetscCall(PetscMalloc1(dims[0] + 1, site));
      PetscCall(PetscMalloc1(dims[0] + 1, line));
      for (hsize_t k = 0; k < dims[0]; k++) {
        if (v[2 * k] < 0 || v[2 * k] >= net->ny || v[2 * k + 1] < 0 || v[2 * k + 1] >= net->nx) {
          e->code = PETSC_ERR_ARG_OUTOFRANGE;
          PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "site file %s: site %llu at (iy, ix) = (%lld, %lld) is outside the %" PetscInt_FMT "x%" PetscInt_FMT " grid", net->sitesfile, (unsigned long long)k, v[2 * k], v[2 * k + 1], net->ny, net->nx));
          break;
        }
        (*site)[k] = (PetscInt)(v[2 * k] * net->nx + v[2 * k + 1]);
        (*line)[k] = -1;
        (*n)++;
      }
    }
    PetscCall(PetscFree(v));
  }
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (dset >= 0) H5Dclose(dset);
  if (file >= 0) H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReadSites(DaisiObsNetwork net)
{
  PetscMPIInt rank;
  RootError   e = {0, ""};
  PetscInt    n = 0, *site = NULL, *line = NULL;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(net->comm, &rank));
  if (rank == 0) {
    PetscBool exists;
    PetscCall(PetscTestFile(net->sitesfile, 'r', &exists));
    if (!exists) {
      e.code = PETSC_ERR_FILE_OPEN;
      PetscCall(PetscSNPrintf(e.msg, sizeof(e.msg), "site file %s (option -%sobs_sites) does not exist or is not readable", net->sitesfile, net->prefix ? net->prefix : ""));
    } else {
      H5E_auto2_t func;
      void       *data;
      htri_t      ishdf5;
      /* a text file is not HDF5: no error stack for the probe */
      H5Eget_auto2(H5E_DEFAULT, &func, &data);
      H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
      ishdf5 = H5Fis_hdf5(net->sitesfile);
      if (ishdf5 > 0) PetscCall(ReadSitesHDF5(net, &n, &site, &line, &e));
      else PetscCall(ReadSitesText(net, &n, &site, &line, &e));
      H5Eset_auto2(H5E_DEFAULT, func, data);
    }
    if (!e.code && n == 0) {
      e.code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e.msg, sizeof(e.msg), "site file %s holds no site", net->sitesfile));
    }
    if (!e.code) { /* sites must be distinct: one observation per grid point and level */
      PetscInt *order;
      PetscCall(PetscMalloc1(n, &order));
      for (PetscInt k = 0; k < n; k++) order[k] = k;
      PetscCall(PetscSortIntWithArray(n, site, order));
      for (PetscInt k = 1; k < n && !e.code; k++)
        if (site[k] == site[k - 1]) {
          PetscInt a = PetscMin(order[k], order[k - 1]), b = PetscMax(order[k], order[k - 1]);
          char     where[64] = "";
          if (line[0] >= 0) PetscCall(PetscSNPrintf(where, sizeof(where), " (lines %" PetscInt_FMT " and %" PetscInt_FMT ")", line[a], line[b]));
          e.code = PETSC_ERR_ARG_WRONG;
          PetscCall(PetscSNPrintf(e.msg, sizeof(e.msg), "site file %s: site %" PetscInt_FMT " at (iy, ix) = (%" PetscInt_FMT ", %" PetscInt_FMT ") repeats site %" PetscInt_FMT "%s", net->sitesfile, b, site[k] / net->nx, site[k] % net->nx, a, where));
        }
      PetscCall(PetscFree(order));
    }
  }
  PetscCall(PetscFree(line));
  PetscCallMPI(MPI_Bcast(&e.code, 1, MPI_INT, 0, net->comm));
  if (e.code) PetscCall(PetscFree(site));
  PetscCall(RootErrorRaise(net->comm, &e));
  PetscCallMPI(MPI_Bcast(&n, 1, MPIU_INT, 0, net->comm));
  if (rank != 0) PetscCall(PetscMalloc1(n, &site));
  PetscCallMPI(MPI_Bcast(site, (PetscMPIInt)n, MPIU_INT, 0, net->comm));
  PetscCall(PetscFree(net->site));
  net->site      = site;
  net->nsite     = n;
  net->sitecycle = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the observation list: every observed level at every site */
static PetscErrorCode BuildObservations(DaisiObsNetwork net)
{
  PetscFunctionBegin;
  PetscCall(PetscFree3(net->lev, net->iy, net->ix));
  net->nobs = net->nsite * net->nlevobs;
  PetscCall(PetscMalloc3(net->nobs + 1, &net->lev, net->nobs + 1, &net->iy, net->nobs + 1, &net->ix));
  for (PetscInt l = 0; l < net->nlevobs; l++)
    for (PetscInt s = 0; s < net->nsite; s++) {
      const PetscInt i = l * net->nsite + s;
      net->lev[i]      = net->levels[l];
      net->iy[i]       = net->site[s] / net->nx;
      net->ix[i]       = net->site[s] % net->nx;
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkSetUp(DaisiObsNetwork net)
{
  const char *pre = net->prefix ? net->prefix : "";

  PetscFunctionBegin;
  if (net->setup) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(net->ny > 0, net->comm, PETSC_ERR_ORDER, "observation network: call DaisiObsNetworkSetGrid() before DaisiObsNetworkSetUp()");
  PetscCheck(!(net->newsites && net->sitesfile[0]), net->comm, PETSC_ERR_ARG_INCOMP, "-%sobs_new_sites_each_cycle draws random sites and cannot be combined with the site file -%sobs_sites %s", pre, pre, net->sitesfile);
  if (net->nlevobs == 0) { /* default: all levels */
    PetscCall(PetscFree(net->levels));
    PetscCall(PetscMalloc1(net->nlev, &net->levels));
    for (PetscInt l = 0; l < net->nlev; l++) net->levels[l] = l;
    net->nlevobs = net->nlev;
  }
  for (PetscInt l = 0; l < net->nlevobs; l++) PetscCheck(net->levels[l] >= 0 && net->levels[l] < net->nlev, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "observed level %" PetscInt_FMT " (option -%sobs_levels) does not exist: the model has levels 0..%" PetscInt_FMT, net->levels[l], pre, net->nlev - 1);
  PetscCall(PetscSortInt(net->nlevobs, net->levels));
  for (PetscInt l = 1; l < net->nlevobs; l++) PetscCheck(net->levels[l] != net->levels[l - 1], net->comm, PETSC_ERR_ARG_WRONG, "observed level %" PetscInt_FMT " is listed twice in -%sobs_levels", net->levels[l], pre);
  PetscCall(PetscLogEventBegin(DAISI_ObsNetworkSetUp, 0, 0, 0, 0));
  if (net->sitesfile[0]) PetscCall(ReadSites(net));
  else PetscCall(ChooseRandomSites(net, net->newsites ? 1 : 0));
  PetscCall(BuildObservations(net));
  PetscCall(PetscLogEventEnd(DAISI_ObsNetworkSetUp, 0, 0, 0, 0));
  net->setup = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkGetSizes(DaisiObsNetwork net, PetscInt *nobs, PetscInt *nsite, PetscInt *nlevobs)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiObsNetworkSetUp() first");
  if (nobs) *nobs = net->nobs;
  if (nsite) *nsite = net->nsite;
  if (nlevobs) *nlevobs = net->nlevobs;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkGetSites(DaisiObsNetwork net, PetscInt cycle, PetscInt *nobs, const PetscInt **lev, const PetscInt **iy, const PetscInt **ix)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiObsNetworkSetUp() first");
  PetscCheck(cycle >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation cycles are numbered from 1, got %" PetscInt_FMT, cycle);
  if (net->newsites && net->sitecycle != cycle) {
    PetscCall(PetscLogEventBegin(DAISI_ObsNetworkSetUp, 0, 0, 0, 0));
    PetscCall(ChooseRandomSites(net, cycle));
    PetscCall(BuildObservations(net));
    PetscCall(PetscLogEventEnd(DAISI_ObsNetworkSetUp, 0, 0, 0, 0));
  }
  if (nobs) *nobs = net->nobs;
  if (lev) *lev = net->lev;
  if (iy) *iy = net->iy;
  if (ix) *ix = net->ix;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkView(DaisiObsNetwork net, PetscViewer viewer)
{
  PetscBool isascii;

  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(net->comm);
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(PETSC_SUCCESS);
  if (net->sitesfile[0]) PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsNetwork: sites from %s", net->sitesfile));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsNetwork: random sites, fraction %g, seed %" PetscInt64_FMT "%s", (double)net->fraction, net->seed, net->newsites ? ", new sites each cycle" : ""));
  if (net->setup) {
    PetscCall(PetscViewerASCIIPrintf(viewer, ": %" PetscInt_FMT " site(s) on %" PetscInt_FMT " level(s) =", net->nsite, net->nlevobs));
    PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_FALSE));
    for (PetscInt l = 0; l < net->nlevobs; l++) PetscCall(PetscViewerASCIIPrintf(viewer, " %" PetscInt_FMT, net->levels[l]));
    PetscCall(PetscViewerASCIIPrintf(viewer, " -> %" PetscInt_FMT " observations per cycle", net->nobs));
    PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_TRUE));
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "\n"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsNetworkDestroy(DaisiObsNetwork *net)
{
  PetscFunctionBegin;
  if (!net || !*net) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree((*net)->prefix));
  PetscCall(PetscFree((*net)->levels));
  PetscCall(PetscFree((*net)->site));
  PetscCall(PetscFree3((*net)->lev, (*net)->iy, (*net)->ix));
  PetscCall(PetscFree(*net));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- scenarios ---- */

/* the shipped networks of latent 3DVar and LO-SDA: l3dvar's VAE, LO-SDA's VAE and latent model */
#define SHIPPED_LATENT "priors/sqg64/vae_encoder.h5", "priors/sqg64/vae_decoder.h5", "priors/sqg64/vae_encoder.h5", "priors/sqg64/vae_decoder.h5", "priors/sqg64/losda_latent.h5"

static const DaisiObsScenario scenarios[] = {
  /* name, h, c, fraction, sigma, seed, GC cutoff (m), RTPS alpha, members, initial spread (K),
   * DAISI: guidance, t_min, lam, lam(t), eps, inversion steps, guided steps, method, prior file;
   * 3DVar: B scale; the latent filters' networks */
  {"noisy",      DAISI_OBS_OPERATOR_LINEAR,  DAISI_OBS_SQUARED_SCALE_DEFAULT, 0.25, 5.0,  DAISI_OBS_SEED_DEFAULT, 2500e3, 0.5, 20, 3.06, "dps_scale", 0.4, 10, "constant", 0.03, 100, 100, "euler", "priors/sqg64/prior.h5", 0.3, SHIPPED_LATENT},
  {"sparse",     DAISI_OBS_OPERATOR_LINEAR,  DAISI_OBS_SQUARED_SCALE_DEFAULT, 0.05, 1.0,  DAISI_OBS_SEED_DEFAULT, 1500e3, 0.5, 20, 3.06, "mmps",      0.3, 1,  "constant", 0.03, 100, 100, "euler", "priors/sqg64/prior.h5", 0.02, SHIPPED_LATENT},
  {"multimodal", DAISI_OBS_OPERATOR_SQUARED, DAISI_OBS_SQUARED_SCALE_DEFAULT, 0.25, 1.0,  DAISI_OBS_SEED_DEFAULT, 2500e3, 0.5, 20, 3.06, "mmps",      0.3, 1,  "constant", 0.03, 100, 100, "euler", "priors/sqg64/prior.h5", 0.02, SHIPPED_LATENT},
  {"saturating", DAISI_OBS_OPERATOR_ARCTAN,  DAISI_OBS_SQUARED_SCALE_DEFAULT, 0.25, 0.01, DAISI_OBS_SEED_DEFAULT, 4500e3, 0.9, 20, 3.06, "mmps",      0.3, 20, "linear",   0.03, 100, 100, "euler", "priors/sqg64/prior.h5", 0.02, SHIPPED_LATENT},
};

PetscErrorCode DaisiObsScenarioFind(MPI_Comm comm, const char name[], DaisiObsScenario *s)
{
  PetscBool same;

  PetscFunctionBegin;
  for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
    PetscCall(PetscStrcmp(scenarios[k].name, name, &same));
    if (same) {
      *s = scenarios[k];
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  SETERRQ(comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown observation scenario '%s' (option -scenario; known: noisy, sparse, multimodal, saturating)", name ? name : "(null)");
}

PetscErrorCode DaisiObsScenarioGetFromOptions(MPI_Comm comm, const char prefix[], DaisiObsScenario *s)
{
  char      name[64] = "", op[32];
  PetscBool set;
  PetscInt  seed;
  const char *pre = prefix ? prefix : "";

  PetscFunctionBegin;
  PetscCall(PetscOptionsGetString(NULL, prefix, "-scenario", name, sizeof(name), &set));
  if (!set) { /* -help without a scenario: show the options with the first scenario's values */
    PetscBool help;
    PetscCall(PetscOptionsHasHelp(NULL, &help));
    if (help) PetscCall(PetscStrncpy(name, scenarios[0].name, sizeof(name)));
    set = help;
  }
  PetscCheck(set && name[0], comm, PETSC_ERR_ARG_WRONG, "give the observation scenario with -%sscenario NAME (known: noisy, sparse, multimodal, saturating)", pre);
  PetscCall(DaisiObsScenarioFind(comm, name, s));
  PetscCall(PetscStrncpy(op, s->op, sizeof(op)));
  PetscOptionsBegin(comm, prefix, "Observation scenario (defaults from -scenario; see configs/sqg_*.yaml)", "DaisiObsScenario");
  PetscCall(PetscOptionsString("-scenario", "Observation scenario (noisy, sparse, multimodal, saturating)", "DaisiObsScenarioGetFromOptions", name, name, sizeof(name), NULL));
  PetscCall(PetscOptionsString("-obs_operator", "Observation operator h (linear, squared, arctan)", "DaisiObsOperatorSetType", op, op, sizeof(op), NULL));
  PetscCall(PetscOptionsReal("-obs_squared_scale", "Scale c (K) of the squared operator", "DaisiObsOperatorSetSquaredScale", s->squared_scale, &s->squared_scale, NULL));
  PetscCall(PetscOptionsReal("-obs_fraction", "Fraction of the grid points observed", "DaisiObsNetworkSetFraction", s->fraction, &s->fraction, NULL));
  PetscCall(PetscOptionsReal("-obs_sigma", "Observation error standard deviation (units of h)", "DaisiObsScenarioGetFromOptions", s->sigma, &s->sigma, NULL));
  seed = (PetscInt)s->seed;
  PetscCall(PetscOptionsInt("-obs_seed", "Seed of the observation sites and noise", "DaisiObsNetworkSetSeed", seed, &seed, NULL));
  s->seed = seed;
  PetscCall(PetscOptionsReal("-letkf_cutoff", "LETKF Gaspari-Cohn localisation cutoff (m)", "DaisiObsScenarioGetFromOptions", s->letkf_cutoff, &s->letkf_cutoff, NULL));
  PetscCall(PetscOptionsReal("-letkf_rtps", "LETKF relaxation to prior spread alpha", "DaisiObsScenarioGetFromOptions", s->letkf_rtps, &s->letkf_rtps, NULL));
  PetscCall(PetscOptionsInt("-ens_size", "Ensemble members", "DaisiObsScenarioGetFromOptions", s->ens_size, &s->ens_size, NULL));
  PetscCall(PetscOptionsReal("-ens_init_sigma", "Initial ensemble perturbation std (K)", "DaisiObsScenarioGetFromOptions", s->ens_init_sigma, &s->ens_init_sigma, NULL));
  /* the published DAISI settings (checked by the filter, which reads them itself) */
  PetscCall(PetscOptionsString("-daisi_guidance", "DAISI guidance (dps, dps_scale, mmps)", "DaisiObsScenarioGetFromOptions", s->daisi_guidance, s->daisi_guidance, sizeof(s->daisi_guidance), NULL));
  PetscCall(PetscOptionsReal("-daisi_tmin", "DAISI start time t_min of the guided SDE", "DaisiObsScenarioGetFromOptions", s->daisi_tmin, &s->daisi_tmin, NULL));
  PetscCall(PetscOptionsReal("-daisi_lambda", "DAISI guidance strength lam", "DaisiObsScenarioGetFromOptions", s->daisi_lambda, &s->daisi_lambda, NULL));
  PetscCall(PetscOptionsString("-daisi_lambda_schedule", "DAISI lam(t): constant or linear", "DaisiObsScenarioGetFromOptions", s->daisi_schedule, s->daisi_schedule, sizeof(s->daisi_schedule), NULL));
  PetscCall(PetscOptionsReal("-daisi_eps", "DAISI diffusion eps of both SDEs", "DaisiObsScenarioGetFromOptions", s->daisi_eps, &s->daisi_eps, NULL));
  PetscCall(PetscOptionsInt("-daisi_inversion_steps", "DAISI inversion steps", "DaisiObsScenarioGetFromOptions", s->daisi_inversion_steps, &s->daisi_inversion_steps, NULL));
  PetscCall(PetscOptionsInt("-daisi_steps", "DAISI guided steps", "DaisiObsScenarioGetFromOptions", s->daisi_steps, &s->daisi_steps, NULL));
  PetscCall(PetscOptionsString("-daisi_method", "DAISI time stepping (euler, heun)", "DaisiObsScenarioGetFromOptions", s->daisi_method, s->daisi_method, sizeof(s->daisi_method), NULL));
  PetscCall(PetscOptionsString("-daisi_prior", "DAISI prior file (the scenario configs name the shipped SQG-64 prior)", "DaisiObsScenarioGetFromOptions", s->daisi_prior, s->daisi_prior, sizeof(s->daisi_prior), NULL));
  /* the 3DVar B scale of the scenario (the 3dvar filter reads it itself) */
  PetscCall(PetscOptionsReal("-var3d_b_scale", "3DVar B scale s (B = s x climatology)", "DaisiObsScenarioGetFromOptions", s->var3d_b_scale, &s->var3d_b_scale, NULL));
  /* the latent filters' networks (l3dvar and losda read them themselves) */
  PetscCall(PetscOptionsString("-l3dvar_encoder", "latent 3DVar's VAE encoder (the scenario configs name the shipped one)", "DaisiObsScenarioGetFromOptions", s->l3dvar_encoder, s->l3dvar_encoder, sizeof(s->l3dvar_encoder), NULL));
  PetscCall(PetscOptionsString("-l3dvar_decoder", "latent 3DVar's VAE decoder", "DaisiObsScenarioGetFromOptions", s->l3dvar_decoder, s->l3dvar_decoder, sizeof(s->l3dvar_decoder), NULL));
  PetscCall(PetscOptionsString("-losda_encoder", "LO-SDA's VAE encoder", "DaisiObsScenarioGetFromOptions", s->losda_encoder, s->losda_encoder, sizeof(s->losda_encoder), NULL));
  PetscCall(PetscOptionsString("-losda_decoder", "LO-SDA's VAE decoder", "DaisiObsScenarioGetFromOptions", s->losda_decoder, s->losda_decoder, sizeof(s->losda_decoder), NULL));
  PetscCall(PetscOptionsString("-losda_model", "LO-SDA's conditional latent model", "DaisiObsScenarioGetFromOptions", s->losda_model, s->losda_model, sizeof(s->losda_model), NULL));
  PetscOptionsEnd();
  PetscCall(PetscStrncpy(s->op, op, sizeof(s->op)));
  PetscCall(PetscStrncpy(s->name, name, sizeof(s->name)));
  PetscCheck(!PetscIsInfOrNanReal(s->sigma) && s->sigma > 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "observation error -%sobs_sigma must be a positive finite number, got %g", pre, (double)s->sigma);
  PetscCheck(s->seed >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-%sobs_seed must be >= 0, got %" PetscInt64_FMT, pre, s->seed);
  PetscCheck(s->fraction > 0 && s->fraction <= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "observed fraction -%sobs_fraction must be in (0, 1], got %g", pre, (double)s->fraction);
  PetscCheck(!PetscIsInfOrNanReal(s->squared_scale) && s->squared_scale > 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-%sobs_squared_scale must be a positive finite number of K, got %g", pre, (double)s->squared_scale);
  PetscCheck(s->letkf_cutoff > 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-%sletkf_cutoff must be > 0 (m), got %g", pre, (double)s->letkf_cutoff);
  PetscCheck(s->letkf_rtps >= 0 && s->letkf_rtps <= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "-%sletkf_rtps must be in [0, 1], got %g", pre, (double)s->letkf_rtps);
  PetscCheck(s->ens_size >= 2, comm, PETSC_ERR_ARG_OUTOFRANGE, "-%sens_size must be >= 2, got %" PetscInt_FMT, pre, s->ens_size);
  PetscCheck(s->ens_init_sigma >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "-%sens_init_sigma must be >= 0, got %g", pre, (double)s->ens_init_sigma);
  PetscFunctionReturn(PETSC_SUCCESS);
}
