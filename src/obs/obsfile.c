/* Observation files: writer (rank 0, temporary name + rename) and reader (rank 0 reads,
 * every rank receives). The layout is documented in docs/observations.md. */
#include <daisi/obsfile.h>
#include <daisi/sys.h>
#include "../io/h5util.h"
#include <hdf5_hl.h>

PetscLogEvent DAISI_ObsFileWrite = 0, DAISI_ObsFileRead = 0;

/* the per-observation variables, in file order */
enum {
  OBS_VALUE,
  OBS_SIGMA,
  OBS_LEVEL,
  OBS_IY,
  OBS_IX,
  OBS_NVAR
};
static const char *const obs_var_name[OBS_NVAR] = {"value", "sigma", "level", "iy", "ix"};

struct _p_DaisiObsFile {
  MPI_Comm        comm;
  PetscMPIInt     rank;
  DaisiFileMode   mode;
  PetscBool       isopen, haswritten;
  char            path[PETSC_MAX_PATH_LEN];
  DaisiOutputName out;
  /* grid: writing, the file's; reading, the caller's (checked) */
  PetscInt        nlev, ny, nx;
  PetscBool       hasgrid;
  PetscInt        ncycle, nobs;
  char            op[32];
  PetscReal       scale;
  PetscBool       hasop;
  DaisiNamedList  strings, reals;
  /* rank 0: the open HDF5 file and its datasets */
  hid_t           file, dset[OBS_NVAR], dtime, dcycle;
  /* reading: what the file holds, on every rank */
  PetscInt        fnlev, fny, fnx;
  PetscInt       *cycles;
  PetscReal      *times;
};

/* An error found by rank 0 alone, raised collectively with its message. */
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
  SETERRQ(comm, e->code, "%s", e->msg);
}

/* rank 0 ran code that may have failed with a PETSc error (already printed there): every
 * rank returns an error */
static PetscErrorCode RootCheck(MPI_Comm comm, PetscErrorCode ierr, const char what[], const char path[])
{
  int failed = ierr ? 1 : 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Bcast(&failed, 1, MPI_INT, 0, comm));
  PetscCheck(!failed, comm, PETSC_ERR_FILE_UNEXPECTED, "%s observation file %s failed (see the message of rank 0 above)", what, path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ObsFileInitializePackage(void)
{
  PetscFunctionBegin;
  if (DAISI_ObsFileWrite) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscLogEventRegister("ObsFileWrite", DAISI_CLASSID, &DAISI_ObsFileWrite));
  PetscCall(PetscLogEventRegister("ObsFileRead", DAISI_CLASSID, &DAISI_ObsFileRead));
  PetscCall(DaisiIOInitializePackage()); /* silences HDF5's own error stack */
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileCreate(MPI_Comm comm, DaisiObsFile *f)
{
  PetscFunctionBegin;
  PetscCheck(f, comm, PETSC_ERR_ARG_NULL, "DaisiObsFileCreate: output pointer is NULL");
  PetscCall(ObsFileInitializePackage());
  PetscCall(PetscNew(f));
  (*f)->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &(*f)->rank));
  (*f)->file   = H5I_INVALID_HID;
  (*f)->dtime  = H5I_INVALID_HID;
  (*f)->dcycle = H5I_INVALID_HID;
  for (int v = 0; v < OBS_NVAR; v++) (*f)->dset[v] = H5I_INVALID_HID;
  (*f)->strings.kind = DAISI_NAMED_STRING;
  (*f)->reals.kind   = DAISI_NAMED_REAL;
  PetscCall(PetscStrncpy((*f)->op, DAISI_OBS_OPERATOR_LINEAR, sizeof((*f)->op)));
  (*f)->scale = DAISI_OBS_SQUARED_SCALE_DEFAULT;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileSetGrid(DaisiObsFile f, const DaisiGrid *grid)
{
  PetscFunctionBegin;
  PetscCheck(grid->nlev >= 1 && grid->ny >= 1 && grid->nx >= 1, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file: invalid grid %" PetscInt_FMT " level(s) x %" PetscInt_FMT " x %" PetscInt_FMT, grid->nlev, grid->ny, grid->nx);
  f->nlev    = grid->nlev;
  f->ny      = grid->ny;
  f->nx      = grid->nx;
  f->hasgrid = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileSetSizes(DaisiObsFile f, PetscInt ncycle, PetscInt nobs)
{
  PetscFunctionBegin;
  PetscCheck(ncycle >= 1 && nobs >= 1, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file needs >= 1 cycle and >= 1 observation per cycle, got %" PetscInt_FMT " and %" PetscInt_FMT, ncycle, nobs);
  f->ncycle = ncycle;
  f->nobs   = nobs;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileSetOperator(DaisiObsFile f, DaisiObsOperator op)
{
  DaisiObsOperatorType type;

  PetscFunctionBegin;
  PetscCall(DaisiObsOperatorGetType(op, &type));
  PetscCheck(type, f->comm, PETSC_ERR_ORDER, "observation file: the operator has no type");
  PetscCall(PetscStrncpy(f->op, type, sizeof(f->op)));
  PetscCall(DaisiObsOperatorGetSquaredScale(op, &f->scale));
  f->hasop = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileSetString(DaisiObsFile f, const char name[], const char value[])
{
  PetscFunctionBegin;
  PetscCall(DaisiNamedListSetString(&f->strings, name, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileSetReal(DaisiObsFile f, const char name[], PetscReal value)
{
  PetscFunctionBegin;
  PetscCall(DaisiNamedListSetReal(&f->reals, name, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void ObsFileCloseIds(DaisiObsFile f)
{
  for (int v = 0; v < OBS_NVAR; v++) DaisiH5Close(&f->dset[v]);
  DaisiH5Close(&f->dtime);
  DaisiH5Close(&f->dcycle);
}

/* ---------------------------------------------------------------------------------------- */
/* writing                                                                                  */

/* contiguous, allocated now, attributes in creation order, no time stamps, optional fill */
static PetscErrorCode ObsDatasetList(hid_t memtype, const void *fill, hid_t *dcpl)
{
  PetscFunctionBegin;
  *dcpl = H5Pcreate(H5P_DATASET_CREATE);
  DaisiH5Check(*dcpl, PETSC_COMM_SELF, "HDF5: cannot create a dataset creation property list");
  DaisiH5Check(H5Pset_attr_creation_order(*dcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), PETSC_COMM_SELF, "HDF5: cannot track attribute order");
  DaisiH5Check(H5Pset_obj_track_times(*dcpl, 0), PETSC_COMM_SELF, "HDF5: cannot disable time tracking");
  DaisiH5Check(H5Pset_alloc_time(*dcpl, H5D_ALLOC_TIME_EARLY), PETSC_COMM_SELF, "HDF5: cannot set early allocation");
  if (fill) {
    DaisiH5Check(H5Pset_fill_value(*dcpl, memtype, fill), PETSC_COMM_SELF, "HDF5: cannot set the fill value");
    DaisiH5Check(H5Pset_fill_time(*dcpl, H5D_FILL_TIME_ALLOC), PETSC_COMM_SELF, "HDF5: cannot set the fill time");
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* creates variable `name` of the given shape, attaches the dimension scales and writes its
 * text attributes (NULL-terminated name/value pairs) */
static PetscErrorCode ObsCreateVariable(hid_t file, const char name[], hid_t filetype, hid_t memtype, const void *fill, int rank, const hsize_t shape[], const hid_t scales[], const char *const attrs[], const char where[], hid_t *dset)
{
  hid_t space, dcpl;

  PetscFunctionBegin;
  space = H5Screate_simple(rank, shape, NULL);
  DaisiH5Check(space, PETSC_COMM_SELF, "%s: cannot create the dataspace of %s", where, name);
  PetscCall(ObsDatasetList(memtype, fill, &dcpl));
  *dset = H5Dcreate2(file, name, filetype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  DaisiH5Close(&space);
  DaisiH5Close(&dcpl);
  DaisiH5Check(*dset, PETSC_COMM_SELF, "%s: cannot create variable %s", where, name);
  if (!scales) DaisiH5Check(H5DSset_scale(*dset, name), PETSC_COMM_SELF, "%s: cannot make %s a dimension scale", where, name);
  for (const char *const *a = attrs; a && a[0]; a += 2) PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, *dset, a[0], a[1], where));
  for (int d = 0; scales && d < rank; d++) DaisiH5Check(H5DSattach_scale(*dset, scales[d], (unsigned)d), PETSC_COMM_SELF, "%s: cannot attach dimension %d to %s", where, d, name);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* rank 0: the whole file but the per-cycle data */
static PetscErrorCode ObsFileCreateLayout(DaisiObsFile f)
{
  char          where[PETSC_MAX_PATH_LEN + 16];
  hid_t         fcpl, obsdim;
  const double  nan   = (double)NAN;
  const int     nofill = -1;
  hsize_t       shape[2] = {(hsize_t)f->ncycle, (hsize_t)f->nobs};
  int          *index;
  hid_t         scales[2];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(where, sizeof(where), "file %s", f->out.final));
  PetscCall(DaisiH5CreateFileCreation(PETSC_COMM_SELF, &fcpl));
  f->file = H5Fcreate(f->out.tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  DaisiH5Close(&fcpl);
  DaisiH5Check(f->file, PETSC_COMM_SELF, "cannot create observation file %s (as %s; does the directory exist and is it writable?)", f->out.final, f->out.tmp);
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, f->file, "Conventions", "CF-1.8", where));
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, f->file, "daisi_file", "observations", where));
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, f->file, "daisi_version", DAISI_VERSION, where));
  PetscCall(DaisiH5WriteAttrInt64(PETSC_COMM_SELF, f->file, "nlev", f->nlev, where));
  PetscCall(DaisiH5WriteAttrInt64(PETSC_COMM_SELF, f->file, "ny", f->ny, where));
  PetscCall(DaisiH5WriteAttrInt64(PETSC_COMM_SELF, f->file, "nx", f->nx, where));
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, f->file, "obs_operator", f->op, where));
  PetscCall(DaisiH5WriteAttrReal(PETSC_COMM_SELF, f->file, "obs_squared_scale", f->scale, where));
  for (PetscInt i = 0; i < f->strings.n; i++) PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, f->file, f->strings.name[i], f->strings.string[i], where));
  for (PetscInt i = 0; i < f->reals.n; i++) PetscCall(DaisiH5WriteAttrReal(PETSC_COMM_SELF, f->file, f->reals.name[i], f->reals.real[i], where));

  {
    const char *const cattrs[] = {"long_name", "assimilation cycle number (1 = first observed cycle; the truth's time index)", NULL};
    PetscCall(ObsCreateVariable(f->file, "cycle", H5T_STD_I32LE, H5T_NATIVE_INT, &nofill, 1, &shape[0], NULL, cattrs, where, &f->dcycle));
  }
  {
    const char *const oattrs[] = {"long_name", "observation index within a cycle", NULL};
    PetscCall(ObsCreateVariable(f->file, "obs", H5T_STD_I32LE, H5T_NATIVE_INT, NULL, 1, &shape[1], NULL, oattrs, where, &obsdim));
    PetscCall(PetscMalloc1(f->nobs, &index));
    for (PetscInt i = 0; i < f->nobs; i++) index[i] = (int)i;
    if (H5Dwrite(obsdim, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, index) < 0) {
      DaisiH5Close(&obsdim);
      PetscCall(PetscFree(index));
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "%s: cannot write variable obs", where);
    }
    PetscCall(PetscFree(index));
  }
  scales[0] = f->dcycle;
  scales[1] = obsdim;
  {
    const char *const tattrs[] = {"units", "s", "long_name", "model time of the observations", NULL};
    PetscCall(ObsCreateVariable(f->file, "time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, 1, &shape[0], scales, tattrs, where, &f->dtime));
  }
  {
    /* h(theta in K): K for the linear operator, dimensionless for squared and arctan */
    const char       *units    = strcmp(f->op, DAISI_OBS_OPERATOR_LINEAR) ? "1" : "K";
    const char *const vattrs[] = {"units", units, "long_name", "observed value y = h(theta) + noise (NaN: missing)", NULL};
    const char *const sattrs[] = {"units", units, "long_name", "observation error standard deviation", NULL};
    const char *const lattrs[] = {"long_name", "model level observed (0 surface, 1 lid)", NULL};
    const char *const yattrs[] = {"long_name", "grid row (y index) observed", NULL};
    const char *const xattrs[] = {"long_name", "grid column (x index) observed", NULL};
    PetscCall(ObsCreateVariable(f->file, "value", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, 2, shape, scales, vattrs, where, &f->dset[OBS_VALUE]));
    PetscCall(ObsCreateVariable(f->file, "sigma", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, 2, shape, scales, sattrs, where, &f->dset[OBS_SIGMA]));
    PetscCall(ObsCreateVariable(f->file, "level", H5T_STD_I32LE, H5T_NATIVE_INT, &nofill, 2, shape, scales, lattrs, where, &f->dset[OBS_LEVEL]));
    PetscCall(ObsCreateVariable(f->file, "iy", H5T_STD_I32LE, H5T_NATIVE_INT, &nofill, 2, shape, scales, yattrs, where, &f->dset[OBS_IY]));
    PetscCall(ObsCreateVariable(f->file, "ix", H5T_STD_I32LE, H5T_NATIVE_INT, &nofill, 2, shape, scales, xattrs, where, &f->dset[OBS_IX]));
  }
  DaisiH5Close(&obsdim);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ObsFileOpenWrite(DaisiObsFile f, const char path[])
{
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBegin;
  PetscCheck(f->hasgrid, f->comm, PETSC_ERR_ORDER, "observation file %s: call DaisiObsFileSetGrid() before opening it for writing", path);
  PetscCheck(f->ncycle >= 1, f->comm, PETSC_ERR_ORDER, "observation file %s: call DaisiObsFileSetSizes() before opening it for writing", path);
  PetscCheck(f->hasop, f->comm, PETSC_ERR_ORDER, "observation file %s: call DaisiObsFileSetOperator() before opening it for writing", path);
  PetscCall(DaisiOutputNameInit(f->comm, path, &f->out));
  PetscCall(PetscLogEventBegin(DAISI_ObsFileWrite, 0, 0, 0, 0));
  if (f->rank == 0) {
    ierr = ObsFileCreateLayout(f);
    if (ierr) {
      ObsFileCloseIds(f);
      DaisiH5Close(&f->file);
      (void)remove(f->out.tmp);
    }
  }
  PetscCall(PetscLogEventEnd(DAISI_ObsFileWrite, 0, 0, 0, 0));
  PetscCall(RootCheck(f->comm, ierr, "creating", path));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* rank 0: writes row k of every variable */
static PetscErrorCode ObsFileWriteRow(DaisiObsFile f, PetscInt k, const DaisiObsSet *set)
{
  hsize_t  start[2] = {(hsize_t)k, 0}, count[2] = {1, (hsize_t)f->nobs}, one = 1, n = (hsize_t)f->nobs;
  hid_t    fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  int     *buf;
  int      c   = (int)set->cycle;
  double   t   = (double)set->time;
  herr_t   err = 0;
  const PetscInt *ints[3] = {set->lev, set->iy, set->ix};

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(f->nobs, &buf));
  mspace = H5Screate_simple(1, &n, NULL);
  for (int v = 0; v < OBS_NVAR && err >= 0; v++) {
    fspace = H5Dget_space(f->dset[v]);
    err    = fspace < 0 ? -1 : H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (err >= 0) {
      if (v == OBS_VALUE || v == OBS_SIGMA) err = H5Dwrite(f->dset[v], H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, v == OBS_VALUE ? set->value : set->sigma);
      else {
        for (PetscInt i = 0; i < f->nobs; i++) buf[i] = (int)ints[v - OBS_LEVEL][i];
        err = H5Dwrite(f->dset[v], H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, buf);
      }
    }
    DaisiH5Close(&fspace);
    if (err < 0) {
      DaisiH5Close(&mspace);
      PetscCall(PetscFree(buf));
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "file %s: cannot write variable %s of cycle index %" PetscInt_FMT " (disk full?)", f->out.tmp, obs_var_name[v], k);
    }
  }
  DaisiH5Close(&mspace);
  PetscCall(PetscFree(buf));
  /* the time and cycle number last: a cycle whose time is set is complete */
  mspace = H5Screate_simple(1, &one, NULL);
  for (int v = 0; v < 2 && err >= 0; v++) {
    hid_t d = v ? f->dtime : f->dcycle;
    fspace  = H5Dget_space(d);
    err     = fspace < 0 ? -1 : H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, &one, NULL);
    if (err >= 0) err = v ? H5Dwrite(d, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, &t) : H5Dwrite(d, H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, &c);
    DaisiH5Close(&fspace);
  }
  DaisiH5Close(&mspace);
  DaisiH5Check(err, PETSC_COMM_SELF, "file %s: cannot write the time of cycle index %" PetscInt_FMT " (disk full?)", f->out.tmp, k);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileWrite(DaisiObsFile f, PetscInt k, const DaisiObsSet *set)
{
  PetscErrorCode ierr = PETSC_SUCCESS;
  const char    *path = f->out.final;

  PetscFunctionBegin;
  PetscCheck(f->isopen && f->mode == DAISI_FILE_WRITE, f->comm, PETSC_ERR_ORDER, "observation file %s is not open for writing", f->isopen ? f->path : "(none)");
  PetscCheck(k >= 0 && k < f->ncycle, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s: cycle index %" PetscInt_FMT " is outside 0..%" PetscInt_FMT, path, k, f->ncycle - 1);
  PetscCheck(set->nobs == f->nobs, f->comm, PETSC_ERR_ARG_SIZ, "observation file %s holds %" PetscInt_FMT " observations per cycle, the set of cycle %" PetscInt_FMT " has %" PetscInt_FMT, path, f->nobs, set->cycle, set->nobs);
  PetscCheck(set->cycle >= 1 && (PetscInt64)set->cycle <= 2147483647, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s: cycle numbers start at 1, got %" PetscInt_FMT, path, set->cycle);
  PetscCheck(!PetscIsInfOrNanReal(set->time), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s: the time of cycle %" PetscInt_FMT " is not finite", path, set->cycle);
  for (PetscInt i = 0; i < set->nobs; i++) {
    PetscCheck(set->lev[i] >= 0 && set->lev[i] < f->nlev && set->iy[i] >= 0 && set->iy[i] < f->ny && set->ix[i] >= 0 && set->ix[i] < f->nx, f->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "observation file %s, cycle %" PetscInt_FMT ": observation %" PetscInt_FMT " at (level, iy, ix) = (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT ") is outside the %" PetscInt_FMT "x%" PetscInt_FMT " grid with %" PetscInt_FMT " level(s)", path, set->cycle, i, set->lev[i], set->iy[i], set->ix[i], f->ny, f->nx, f->nlev);
    PetscCheck(!PetscIsInfOrNanReal(set->sigma[i]) && set->sigma[i] > 0, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s, cycle %" PetscInt_FMT ": observation %" PetscInt_FMT " has sigma = %g; it must be > 0 and finite", path, set->cycle, i, (double)set->sigma[i]);
    PetscCheck(!PetscIsInfReal(set->value[i]), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s, cycle %" PetscInt_FMT ": observation %" PetscInt_FMT " is infinite (use NaN for a missing value)", path, set->cycle, i);
  }
  PetscCall(PetscLogEventBegin(DAISI_ObsFileWrite, 0, 0, 0, 0));
  if (f->rank == 0) ierr = ObsFileWriteRow(f, k, set);
  PetscCall(PetscLogEventEnd(DAISI_ObsFileWrite, 0, 0, 0, 0));
  PetscCall(RootCheck(f->comm, ierr, "writing", path));
  f->haswritten = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------- */
/* reading                                                                                  */

/* rank 0: opens the file, checks what it is and reads the sizes, grid, operator and cycles */
static PetscErrorCode ObsFileOpenReadRoot(DaisiObsFile f, RootError *e, PetscInt64 meta[6], char op[32], PetscReal *scale, int **cycles, double **times)
{
  char      kind[64] = "", where[PETSC_MAX_PATH_LEN + 16];
  PetscBool found;
  hsize_t   dims[2];
  int       rank;
  hid_t     space;

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(where, sizeof(where), "file %s", f->path));
  {
    PetscBool exists;
    PetscCall(PetscTestFile(f->path, 'r', &exists));
    if (!exists) {
      e->code = PETSC_ERR_FILE_OPEN;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s does not exist or is not readable", f->path));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    if (H5Fis_hdf5(f->path) <= 0) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s is not an HDF5 file (or is corrupted)", f->path));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  f->file = H5Fopen(f->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  DaisiH5Check(f->file, PETSC_COMM_SELF, "cannot open observation file %s", f->path);
  PetscCall(DaisiH5ReadAttrString(PETSC_COMM_SELF, f->file, "daisi_file", kind, sizeof(kind), &found, where));
  if (!found || strcmp(kind, "observations")) {
    e->code = PETSC_ERR_FILE_UNEXPECTED;
    PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "file %s is not a DAISI observation file (attribute daisi_file is '%s', expected 'observations')", f->path, found ? kind : "(missing)"));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  {
    const char *names[3] = {"nlev", "ny", "nx"};
    for (int i = 0; i < 3; i++) {
      PetscCall(DaisiH5ReadAttrInt64(PETSC_COMM_SELF, f->file, names[i], &meta[2 + i], &found, where));
      if (!found || meta[2 + i] < 1) {
        e->code = PETSC_ERR_FILE_UNEXPECTED;
        PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s: grid attribute %s is missing or not positive", f->path, names[i]));
        PetscFunctionReturn(PETSC_SUCCESS);
      }
    }
  }
  PetscCall(DaisiH5ReadAttrString(PETSC_COMM_SELF, f->file, "obs_operator", op, 32, &found, where));
  if (!found) {
    e->code = PETSC_ERR_FILE_UNEXPECTED;
    PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s has no attribute obs_operator", f->path));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(DaisiH5ReadAttrReal(PETSC_COMM_SELF, f->file, "obs_squared_scale", scale, &found, where));
  if (!found) *scale = DAISI_OBS_SQUARED_SCALE_DEFAULT;
  for (int v = 0; v < OBS_NVAR; v++) {
    if (H5Lexists(f->file, obs_var_name[v], H5P_DEFAULT) <= 0 || (f->dset[v] = H5Dopen2(f->file, obs_var_name[v], H5P_DEFAULT)) < 0) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s has no variable %s", f->path, obs_var_name[v]));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    space = H5Dget_space(f->dset[v]);
    rank  = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank == 2) (void)H5Sget_simple_extent_dims(space, dims, NULL);
    DaisiH5Close(&space);
    if (rank != 2 || (v > 0 && (dims[0] != (hsize_t)meta[0] || dims[1] != (hsize_t)meta[1])) || dims[0] < 1) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s: variable %s must have shape (cycle, obs) like value", f->path, obs_var_name[v]));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    meta[0] = (PetscInt64)dims[0];
    meta[1] = (PetscInt64)dims[1];
  }
  for (int v = 0; v < 2; v++) {
    const char *name = v ? "time" : "cycle";
    hid_t      *d    = v ? &f->dtime : &f->dcycle;
    if (H5Lexists(f->file, name, H5P_DEFAULT) <= 0 || (*d = H5Dopen2(f->file, name, H5P_DEFAULT)) < 0) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s has no variable %s", f->path, name));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    space = H5Dget_space(*d);
    rank  = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank == 1) (void)H5Sget_simple_extent_dims(space, dims, NULL);
    DaisiH5Close(&space);
    if (rank != 1 || dims[0] != (hsize_t)meta[0]) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s: variable %s must have shape (cycle) with %" PetscInt64_FMT " entries", f->path, name, meta[0]));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  PetscCall(PetscMalloc2(meta[0], cycles, meta[0], times));
  DaisiH5Check(H5Dread(f->dcycle, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *cycles), PETSC_COMM_SELF, "observation file %s: cannot read variable cycle", f->path);
  DaisiH5Check(H5Dread(f->dtime, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *times), PETSC_COMM_SELF, "observation file %s: cannot read variable time", f->path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ObsFileOpenRead(DaisiObsFile f)
{
  RootError      e        = {0, ""};
  PetscInt64     meta[6]  = {0, 0, 0, 0, 0, 0};
  char           op[32]   = "";
  PetscReal      scale    = 0;
  int           *cycles   = NULL;
  double        *times    = NULL;
  PetscErrorCode ierr     = PETSC_SUCCESS;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_ObsFileRead, 0, 0, 0, 0));
  if (f->rank == 0) {
    ierr = ObsFileOpenReadRoot(f, &e, meta, op, &scale, &cycles, &times);
    if (ierr || e.code) {
      ObsFileCloseIds(f);
      DaisiH5Close(&f->file);
    }
  }
  PetscCall(RootCheck(f->comm, ierr, "opening", f->path));
  PetscCall(RootErrorRaise(f->comm, &e));
  PetscCallMPI(MPI_Bcast(meta, 6, MPIU_INT64, 0, f->comm));
  PetscCallMPI(MPI_Bcast(op, 32, MPI_CHAR, 0, f->comm));
  PetscCallMPI(MPI_Bcast(&scale, 1, MPIU_REAL, 0, f->comm));
  if (f->rank != 0) PetscCall(PetscMalloc2(meta[0], &cycles, meta[0], &times));
  PetscCallMPI(MPI_Bcast(cycles, (PetscMPIInt)meta[0], MPI_INT, 0, f->comm));
  PetscCallMPI(MPI_Bcast(times, (PetscMPIInt)meta[0], MPI_DOUBLE, 0, f->comm));
  PetscCall(PetscLogEventEnd(DAISI_ObsFileRead, 0, 0, 0, 0));
  f->ncycle = (PetscInt)meta[0];
  f->nobs   = (PetscInt)meta[1];
  f->fnlev  = (PetscInt)meta[2];
  f->fny    = (PetscInt)meta[3];
  f->fnx    = (PetscInt)meta[4];
  PetscCall(PetscStrncpy(f->op, op, sizeof(f->op)));
  f->scale = scale;
  PetscCall(PetscMalloc2(f->ncycle, &f->cycles, f->ncycle, &f->times));
  for (PetscInt k = 0; k < f->ncycle; k++) {
    f->cycles[k] = cycles[k];
    f->times[k]  = times[k];
  }
  PetscCall(PetscFree2(cycles, times));
  f->isopen = PETSC_TRUE; /* from here on Close releases the ids */
  if (f->hasgrid) {
    PetscCheck(f->fny == f->ny && f->fnx == f->nx && f->fnlev == f->nlev, f->comm, PETSC_ERR_ARG_INCOMP,
               "observation file %s is for a %" PetscInt_FMT "x%" PetscInt_FMT " grid with %" PetscInt_FMT " level(s), the model has N=%" PetscInt_FMT " (%" PetscInt_FMT "x%" PetscInt_FMT ", %" PetscInt_FMT " level(s))", f->path, f->fny, f->fnx, f->fnlev, f->nx, f->ny, f->nx, f->nlev);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileOpen(DaisiObsFile f, const char path[], DaisiFileMode mode)
{
  PetscFunctionBegin;
  PetscCheck(!f->isopen, f->comm, PETSC_ERR_ORDER, "observation file object already has %s open", f->path);
  PetscCheck(path && path[0], f->comm, PETSC_ERR_ARG_WRONG, "empty observation file name");
  PetscCheck(mode == DAISI_FILE_READ || mode == DAISI_FILE_WRITE, f->comm, PETSC_ERR_SUP, "observation file %s: only DAISI_FILE_READ and DAISI_FILE_WRITE are supported", path);
  PetscCall(PetscStrncpy(f->path, path, sizeof(f->path)));
  f->mode = mode;
  if (mode == DAISI_FILE_WRITE) {
    PetscCall(ObsFileOpenWrite(f, path));
    f->isopen = PETSC_TRUE;
  } else PetscCall(ObsFileOpenRead(f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* rank 0: row k of every variable, checked; NaN values dropped */
static PetscErrorCode ObsFileReadRow(DaisiObsFile f, PetscInt k, RootError *e, PetscInt *nkeep, PetscInt *nskip, PetscReal *value, PetscReal *sigma, PetscInt *lev, PetscInt *iy, PetscInt *ix)
{
  hsize_t   start[2] = {(hsize_t)k, 0}, count[2] = {1, (hsize_t)f->nobs}, n = (hsize_t)f->nobs;
  hid_t     fspace, mspace;
  herr_t    err = 0;
  double   *dv;
  int      *iv;
  const PetscInt cycle = f->cycles[k];

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(2 * f->nobs, &dv, 3 * f->nobs, &iv));
  mspace = H5Screate_simple(1, &n, NULL);
  for (int v = 0; v < OBS_NVAR && err >= 0; v++) {
    fspace = H5Dget_space(f->dset[v]);
    err    = fspace < 0 ? -1 : H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (err >= 0) {
      if (v == OBS_VALUE || v == OBS_SIGMA) err = H5Dread(f->dset[v], H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, dv + v * f->nobs);
      else err = H5Dread(f->dset[v], H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, iv + (v - OBS_LEVEL) * f->nobs);
    }
    DaisiH5Close(&fspace);
    if (err < 0) {
      e->code = PETSC_ERR_FILE_READ;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s: cannot read variable %s of cycle %" PetscInt_FMT, f->path, obs_var_name[v], cycle));
    }
  }
  DaisiH5Close(&mspace);
  *nkeep = *nskip = 0;
  for (PetscInt i = 0; i < f->nobs && !e->code; i++) {
    const double y = dv[i], s = dv[f->nobs + i];
    const int    l = iv[i], jy = iv[f->nobs + i], jx = iv[2 * f->nobs + i];
    if (l < 0 || l >= f->fnlev || jy < 0 || jy >= f->fny || jx < 0 || jx >= f->fnx) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s, cycle %" PetscInt_FMT ": observation %" PetscInt_FMT " at (level, iy, ix) = (%d, %d, %d) is outside the %" PetscInt_FMT "x%" PetscInt_FMT " grid with %" PetscInt_FMT " level(s)", f->path, cycle, i, l, jy, jx, f->fny, f->fnx, f->fnlev));
    } else if (PetscIsNanReal(y)) {
      (*nskip)++;
    } else if (PetscIsInfReal(y)) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s, cycle %" PetscInt_FMT ": observation %" PetscInt_FMT " is infinite", f->path, cycle, i));
    } else if (!(s > 0) || PetscIsInfReal(s)) {
      e->code = PETSC_ERR_FILE_UNEXPECTED;
      PetscCall(PetscSNPrintf(e->msg, sizeof(e->msg), "observation file %s, cycle %" PetscInt_FMT ": observation %" PetscInt_FMT " has sigma = %g; sigma must be > 0 and finite", f->path, cycle, i, s));
    } else {
      value[*nkeep] = y;
      sigma[*nkeep] = s;
      lev[*nkeep]   = l;
      iy[*nkeep]    = jy;
      ix[*nkeep]    = jx;
      (*nkeep)++;
    }
  }
  PetscCall(PetscFree2(dv, iv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileRead(DaisiObsFile f, PetscInt cycle, DaisiObsSet *set, PetscInt *nskipped)
{
  PetscInt       k = -1, nkeep = 0, nskip = 0, *lev, *iy, *ix;
  PetscReal     *value, *sigma;
  RootError      e    = {0, ""};
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBegin;
  PetscCheck(f->isopen && f->mode == DAISI_FILE_READ, f->comm, PETSC_ERR_ORDER, "observation file %s is not open for reading", f->isopen ? f->path : "(none)");
  for (PetscInt j = 0; j < f->ncycle; j++)
    if (f->cycles[j] == cycle && !PetscIsNanReal(f->times[j])) {
      k = j;
      break;
    }
  if (k < 0) {
    PetscInt lo = PETSC_MAX_INT, hi = PETSC_MIN_INT, nc = 0;
    for (PetscInt j = 0; j < f->ncycle; j++)
      if (!PetscIsNanReal(f->times[j])) {
        lo = PetscMin(lo, f->cycles[j]);
        hi = PetscMax(hi, f->cycles[j]);
        nc++;
      }
    if (nc) SETERRQ(f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s has no cycle %" PetscInt_FMT " (it holds %" PetscInt_FMT " cycle(s), numbers %" PetscInt_FMT "..%" PetscInt_FMT ")", f->path, cycle, nc, lo, hi);
    SETERRQ(f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s has no cycle %" PetscInt_FMT " (no cycle was ever written to it)", f->path, cycle);
  }
  PetscCall(PetscLogEventBegin(DAISI_ObsFileRead, 0, 0, 0, 0));
  PetscCall(PetscMalloc5(f->nobs, &value, f->nobs, &sigma, f->nobs, &lev, f->nobs, &iy, f->nobs, &ix));
  if (f->rank == 0) ierr = ObsFileReadRow(f, k, &e, &nkeep, &nskip, value, sigma, lev, iy, ix);
  {
    int failed = ierr || e.code ? 1 : 0;
    PetscCallMPI(MPI_Bcast(&failed, 1, MPI_INT, 0, f->comm));
    if (failed) PetscCall(PetscFree5(value, sigma, lev, iy, ix));
  }
  PetscCall(RootCheck(f->comm, ierr, "reading", f->path));
  PetscCall(RootErrorRaise(f->comm, &e));
  PetscCallMPI(MPI_Bcast(&nkeep, 1, MPIU_INT, 0, f->comm));
  PetscCallMPI(MPI_Bcast(&nskip, 1, MPIU_INT, 0, f->comm));
  PetscCall(DaisiObsSetCreate(f->comm, nkeep, f->op, set));
  PetscCall(DaisiObsOperatorSetSquaredScale(set->op, f->scale));
  if (f->rank == 0) {
    PetscCall(PetscArraycpy(set->value, value, nkeep));
    PetscCall(PetscArraycpy(set->sigma, sigma, nkeep));
    PetscCall(PetscArraycpy(set->lev, lev, nkeep));
    PetscCall(PetscArraycpy(set->iy, iy, nkeep));
    PetscCall(PetscArraycpy(set->ix, ix, nkeep));
  }
  PetscCall(PetscFree5(value, sigma, lev, iy, ix));
  PetscCallMPI(MPI_Bcast(set->value, (PetscMPIInt)nkeep, MPIU_REAL, 0, f->comm));
  PetscCallMPI(MPI_Bcast(set->sigma, (PetscMPIInt)nkeep, MPIU_REAL, 0, f->comm));
  PetscCallMPI(MPI_Bcast(set->lev, (PetscMPIInt)nkeep, MPIU_INT, 0, f->comm));
  PetscCallMPI(MPI_Bcast(set->iy, (PetscMPIInt)nkeep, MPIU_INT, 0, f->comm));
  PetscCallMPI(MPI_Bcast(set->ix, (PetscMPIInt)nkeep, MPIU_INT, 0, f->comm));
  PetscCall(PetscLogEventEnd(DAISI_ObsFileRead, 0, 0, 0, 0));
  set->cycle = cycle;
  set->time  = f->times[k];
  if (nskip) PetscCall(PetscFPrintf(f->comm, PETSC_STDERR, "warning: observation file %s, cycle %" PetscInt_FMT ": skipped %" PetscInt_FMT " NaN observation(s) of %" PetscInt_FMT "\n", f->path, cycle, nskip, f->nobs));
  if (nskipped) *nskipped = nskip;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileGetSizes(DaisiObsFile f, PetscInt *ncycle, PetscInt *nobs, PetscInt *nlev, PetscInt *ny, PetscInt *nx)
{
  const PetscBool rd = (PetscBool)(f->mode == DAISI_FILE_READ);

  PetscFunctionBegin;
  PetscCheck(f->isopen, f->comm, PETSC_ERR_ORDER, "observation file: open it first");
  if (ncycle) *ncycle = f->ncycle;
  if (nobs) *nobs = f->nobs;
  if (nlev) *nlev = rd ? f->fnlev : f->nlev;
  if (ny) *ny = rd ? f->fny : f->ny;
  if (nx) *nx = rd ? f->fnx : f->nx;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileGetCycle(DaisiObsFile f, PetscInt k, PetscInt *cycle, PetscReal *time)
{
  PetscFunctionBegin;
  PetscCheck(f->isopen && f->mode == DAISI_FILE_READ, f->comm, PETSC_ERR_ORDER, "observation file %s is not open for reading", f->path);
  PetscCheck(k >= 0 && k < f->ncycle, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation file %s: cycle index %" PetscInt_FMT " is outside 0..%" PetscInt_FMT, f->path, k, f->ncycle - 1);
  if (cycle) *cycle = f->cycles[k];
  if (time) *time = f->times[k];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileGetString(DaisiObsFile f, const char name[], char value[], size_t len, PetscBool *found)
{
  PetscErrorCode ierr = PETSC_SUCCESS;
  int            fnd  = 0;
  char           where[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  PetscCheck(f->isopen && f->mode == DAISI_FILE_READ, f->comm, PETSC_ERR_ORDER, "observation file %s is not open for reading", f->path);
  PetscCall(PetscSNPrintf(where, sizeof(where), "file %s", f->path));
  value[0] = 0;
  if (f->rank == 0) {
    PetscBool b = PETSC_FALSE;
    ierr        = DaisiH5ReadAttrString(PETSC_COMM_SELF, f->file, name, value, len, &b, where);
    fnd         = b ? 1 : 0;
  }
  PetscCall(RootCheck(f->comm, ierr, "reading an attribute of", f->path));
  PetscCallMPI(MPI_Bcast(&fnd, 1, MPI_INT, 0, f->comm));
  PetscCallMPI(MPI_Bcast(value, (PetscMPIInt)len, MPI_CHAR, 0, f->comm));
  PetscCheck(fnd || found, f->comm, PETSC_ERR_FILE_UNEXPECTED, "observation file %s has no attribute %s", f->path, name);
  if (found) *found = fnd ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileGetReal(DaisiObsFile f, const char name[], PetscReal *value, PetscBool *found)
{
  PetscErrorCode ierr = PETSC_SUCCESS;
  int            fnd  = 0;
  PetscReal      v    = 0;
  char           where[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBegin;
  PetscCheck(f->isopen && f->mode == DAISI_FILE_READ, f->comm, PETSC_ERR_ORDER, "observation file %s is not open for reading", f->path);
  PetscCall(PetscSNPrintf(where, sizeof(where), "file %s", f->path));
  if (f->rank == 0) {
    PetscBool b = PETSC_FALSE;
    ierr        = DaisiH5ReadAttrReal(PETSC_COMM_SELF, f->file, name, &v, &b, where);
    fnd         = b ? 1 : 0;
  }
  PetscCall(RootCheck(f->comm, ierr, "reading an attribute of", f->path));
  PetscCallMPI(MPI_Bcast(&fnd, 1, MPI_INT, 0, f->comm));
  PetscCallMPI(MPI_Bcast(&v, 1, MPIU_REAL, 0, f->comm));
  PetscCheck(fnd || found, f->comm, PETSC_ERR_FILE_UNEXPECTED, "observation file %s has no attribute %s", f->path, name);
  if (fnd) *value = v;
  if (found) *found = fnd ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------- */
/* closing                                                                                  */

static PetscErrorCode ObsFileCloseAll(DaisiObsFile f, PetscBool commit)
{
  int status = 0;

  PetscFunctionBegin;
  if (!f->isopen) PetscFunctionReturn(PETSC_SUCCESS);
  f->isopen = PETSC_FALSE;
  if (f->rank == 0) {
    ObsFileCloseIds(f);
    if (f->file >= 0) status = H5Fclose(f->file) < 0 ? 1 : 0;
    f->file = H5I_INVALID_HID;
  }
  PetscCall(PetscFree2(f->cycles, f->times));
  if (f->mode != DAISI_FILE_WRITE) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCallMPI(MPI_Bcast(&status, 1, MPI_INT, 0, f->comm));
  if (!commit || status) {
    PetscCall(DaisiOutputNameDiscard(&f->out));
    PetscCheck(!status || !commit, f->comm, PETSC_ERR_FILE_WRITE, "cannot close observation file %s (disk full?); nothing was written under that name", f->out.final);
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(DaisiOutputNameCommit(&f->out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileClose(DaisiObsFile f)
{
  PetscFunctionBegin;
  PetscCall(ObsFileCloseAll(f, PETSC_TRUE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileDiscard(DaisiObsFile f)
{
  PetscFunctionBegin;
  PetscCall(ObsFileCloseAll(f, PETSC_FALSE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileView(DaisiObsFile f, PetscViewer viewer)
{
  PetscBool isascii;

  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(f->comm);
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(PETSC_SUCCESS);
  if (!f->isopen) PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsFile: not open\n"));
  else if (f->mode == DAISI_FILE_READ) PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsFile %s: %" PetscInt_FMT " cycle(s) of %" PetscInt_FMT " observations, operator %s, %" PetscInt_FMT "x%" PetscInt_FMT " grid, %" PetscInt_FMT " level(s)\n", f->path, f->ncycle, f->nobs, f->op, f->fny, f->fnx, f->fnlev));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiObsFile %s (writing): %" PetscInt_FMT " cycle(s) of %" PetscInt_FMT " observations, operator %s\n", f->out.final, f->ncycle, f->nobs, f->op));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiObsFileDestroy(DaisiObsFile *f)
{
  PetscFunctionBegin;
  if (!f || !*f) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ObsFileCloseAll(*f, PETSC_FALSE));
  PetscCall(DaisiNamedListDestroy(&(*f)->strings));
  PetscCall(DaisiNamedListDestroy(&(*f)->reals));
  PetscCall(PetscFree(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}
