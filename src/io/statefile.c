/* State and ensemble files: netCDF-4 compatible HDF5 written collectively. The layout is
 * documented in docs/file-formats.md; keep the two in step. */
#include <daisi/statefile.h>
#include <hdf5_hl.h>
#include "h5util.h"

#define DAISI_STATE_VAR "theta"
#define DAISI_MAXDIM    5

struct _p_DaisiStateFile {
  MPI_Comm        comm;
  DaisiGrid       grid;
  PetscBool       hasgrid;
  PetscInt        ntime, nmember; /* writing: requested; reading: found in the file */
  DaisiNamedList  params, strings;
  DaisiFileMode   mode;
  PetscBool       isopen;
  DaisiOutputName out;                     /* write/append: partial and final names */
  char            path[PETSC_MAX_PATH_LEN]; /* the file actually open, for messages */
  PetscInt        fnlev, fny, fnx;          /* shape of one state in the open file */
  PetscReal       fLx, fLy;                 /* domain lengths recorded in the file (0: none) */
  hid_t           file, theta, time, dxpl;
};

/* global attributes written by DAISI itself; callers may not reuse these names */
static const char *const reserved_names[] = {"Conventions", "daisi_file", "daisi_version", NULL};

PetscErrorCode DaisiStateFilePartialName(MPI_Comm comm, const char path[], DaisiOutputName *out)
{
  PetscFunctionBegin;
  PetscCheck(path && path[0], comm, PETSC_ERR_ARG_WRONG, "empty output file name");
  PetscCheck(strlen(path) + 16 < PETSC_MAX_PATH_LEN, comm, PETSC_ERR_ARG_SIZ, "output file name too long: %s", path);
  PetscCall(PetscStrncpy(out->final, path, sizeof(out->final)));
  PetscCall(PetscSNPrintf(out->tmp, sizeof(out->tmp), "%s.partial", path));
  out->comm = comm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileCreate(MPI_Comm comm, DaisiStateFile *f)
{
  DaisiStateFile s;

  PetscFunctionBegin;
  PetscCall(DaisiIOInitializePackage());
  PetscCall(PetscNew(&s));
  s->comm         = comm;
  s->params.kind  = DAISI_NAMED_REAL;
  s->strings.kind = DAISI_NAMED_STRING;
  s->file = s->theta = s->time = s->dxpl = H5I_INVALID_HID;
  *f                                    = s;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileSetGrid(DaisiStateFile f, const DaisiGrid *grid)
{
  PetscFunctionBegin;
  PetscCheck(grid->nlev > 0 && grid->ny > 0 && grid->nx > 0, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "state file grid must have positive sizes, got nlev %" PetscInt_FMT " ny %" PetscInt_FMT " nx %" PetscInt_FMT, grid->nlev, grid->ny, grid->nx);
  PetscCheck(grid->y0 >= 0 && grid->nyl >= 0 && grid->y0 + grid->nyl <= grid->ny, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "state file grid: rows [%" PetscInt_FMT ", %" PetscInt_FMT ") outside 0..%" PetscInt_FMT, grid->y0, grid->y0 + grid->nyl, grid->ny);
  PetscCheck(!(f->isopen && f->mode != DAISI_FILE_READ), f->comm, PETSC_ERR_ORDER, "file %s: set the grid before opening it for writing", f->path);
  f->grid    = *grid;
  f->hasgrid = PETSC_TRUE;
  if (f->isopen) {
    PetscCheck(f->fnlev == grid->nlev && f->fny == grid->ny && f->fnx == grid->nx, f->comm, PETSC_ERR_FILE_UNEXPECTED,
               "file %s: dataset " DAISI_STATE_VAR " holds %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " (level x y x x) states, expected %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " (N=%" PetscInt_FMT ")", f->path, f->fnlev, f->fny, f->fnx, grid->nlev, grid->ny, grid->nx, grid->ny);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileSetNumTimes(DaisiStateFile f, PetscInt ntime)
{
  PetscFunctionBegin;
  PetscCheck(ntime > 0, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "state file: number of times must be positive, got %" PetscInt_FMT, ntime);
  PetscCheck(!f->isopen, f->comm, PETSC_ERR_ORDER, "file %s: set the number of times before opening", f->path);
  f->ntime = ntime;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileSetNumMembers(DaisiStateFile f, PetscInt nmember)
{
  PetscFunctionBegin;
  PetscCheck(nmember >= 0, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "state file: number of members must be >= 0, got %" PetscInt_FMT, nmember);
  PetscCheck(!f->isopen, f->comm, PETSC_ERR_ORDER, "file %s: set the number of members before opening", f->path);
  f->nmember = nmember;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiCheckAttributeName(MPI_Comm comm, const char name[])
{
  PetscFunctionBegin;
  for (const char *const *r = reserved_names; *r; r++) {
    PetscBool same;
    PetscCall(PetscStrcmp(*r, name, &same));
    PetscCheck(!same, comm, PETSC_ERR_ARG_WRONG, "state file: attribute name %s is reserved by DAISI", name);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileSetParams(DaisiStateFile f, PetscInt n, const DaisiModelParam params[])
{
  PetscFunctionBegin;
  PetscCheck(!f->isopen, f->comm, PETSC_ERR_ORDER, "file %s: set the parameters before opening", f->path);
  for (PetscInt i = 0; i < n; i++) {
    PetscInt j;
    PetscCall(DaisiCheckAttributeName(f->comm, params[i].name));
    PetscCall(DaisiNamedListFind(&f->strings, params[i].name, &j));
    PetscCheck(j < 0, f->comm, PETSC_ERR_ARG_WRONG, "state file: parameter %s has the name of a string attribute", params[i].name);
    PetscCall(DaisiNamedListSetReal(&f->params, params[i].name, params[i].value));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileSetString(DaisiStateFile f, const char name[], const char value[])
{
  PetscInt j;

  PetscFunctionBegin;
  PetscCheck(!f->isopen, f->comm, PETSC_ERR_ORDER, "file %s: set string attributes before opening", f->path);
  PetscCall(DaisiCheckAttributeName(f->comm, name));
  PetscCall(DaisiNamedListFind(&f->params, name, &j));
  PetscCheck(j < 0, f->comm, PETSC_ERR_ARG_WRONG, "state file: string attribute %s has the name of a parameter", name);
  PetscCall(DaisiNamedListSetString(&f->strings, name, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void DaisiStateFileCloseIds(DaisiStateFile f)
{
  DaisiH5Close(&f->theta);
  DaisiH5Close(&f->time);
  DaisiH5Close(&f->dxpl);
  DaisiH5Close(&f->file);
}

/* ---------------------------------------------------------------------------------------- */
/* writing                                                                                  */

/* writes a whole small 1-D dataset (the layout is made by one process) */
static PetscErrorCode DaisiH5WriteWhole(hid_t dset, hid_t memtype, const void *data, const char where[])
{
  PetscFunctionBegin;
  DaisiH5Check(H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), PETSC_COMM_SELF, "%s: cannot write its values", where);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a dataset creation list: attributes in creation order, no time stamps, and
 * (when fill is not NULL) every value preset to *fill, so unwritten times read as NaN */
static PetscErrorCode DaisiStateFileCreateDatasetList(const double *fill, hid_t *dcpl)
{
  PetscFunctionBegin;
  *dcpl = H5Pcreate(H5P_DATASET_CREATE);
  DaisiH5Check(*dcpl, PETSC_COMM_SELF, "HDF5: cannot create a dataset creation property list");
  DaisiH5Check(H5Pset_attr_creation_order(*dcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), PETSC_COMM_SELF, "HDF5: cannot track attribute order");
  DaisiH5Check(H5Pset_obj_track_times(*dcpl, 0), PETSC_COMM_SELF, "HDF5: cannot disable time tracking");
  DaisiH5Check(H5Pset_alloc_time(*dcpl, H5D_ALLOC_TIME_EARLY), PETSC_COMM_SELF, "HDF5: cannot set early allocation");
  if (fill) {
    DaisiH5Check(H5Pset_fill_value(*dcpl, H5T_NATIVE_DOUBLE, fill), PETSC_COMM_SELF, "HDF5: cannot set the fill value");
    DaisiH5Check(H5Pset_fill_time(*dcpl, H5D_FILL_TIME_ALLOC), PETSC_COMM_SELF, "HDF5: cannot set the fill time");
  } else DaisiH5Check(H5Pset_fill_time(*dcpl, H5D_FILL_TIME_NEVER), PETSC_COMM_SELF, "HDF5: cannot set the fill time");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* creates a 1-D coordinate variable `name` of n values, marks it as the dimension scale of
 * the same name, and writes its values and attributes (NULL-terminated name/value pairs) */
static PetscErrorCode DaisiStateFileCreateCoordinate(DaisiStateFile f, hid_t file, const char name[], hid_t filetype, hid_t memtype, hsize_t n, const void *values, const double *fill, const char *const attrs[], hid_t *dset)
{
  hid_t space, dcpl;
  char  where[PETSC_MAX_PATH_LEN + 64];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(where, sizeof(where), "file %s, variable %s", f->path, name));
  space = H5Screate_simple(1, &n, NULL);
  DaisiH5Check(space, PETSC_COMM_SELF, "%s: cannot create its dataspace", where);
  PetscCall(DaisiStateFileCreateDatasetList(fill, &dcpl));
  *dset = H5Dcreate2(file, name, filetype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  DaisiH5Close(&space);
  DaisiH5Close(&dcpl);
  DaisiH5Check(*dset, PETSC_COMM_SELF, "%s: cannot create the dataset", where);
  DaisiH5Check(H5DSset_scale(*dset, name), PETSC_COMM_SELF, "%s: cannot make it a dimension scale", where);
  for (const char *const *a = attrs; a && a[0]; a += 2) PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, *dset, a[0], a[1], where));
  if (values) PetscCall(DaisiH5WriteWhole(*dset, memtype, values, where));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Makes the whole file but the state values, on one process. Metadata written by a single
 * process in a fixed order gives the same bytes whatever the rank count and whenever a run is
 * restarted; the ranks then only write raw data into space allocated here. All ids opened here
 * are in ids[] so that the caller can close them also after an error. */
static PetscErrorCode DaisiStateFileCreateLayout(DaisiStateFile f, hid_t file, hid_t ids[])
{
  const DaisiGrid *g   = &f->grid;
  const double     nan = (double)NAN;
  hid_t            space, dcpl, *dims = ids, theta;
  hsize_t          shape[DAISI_MAXDIM];
  int              rank = 0;
  double          *coord;
  int             *index;
  PetscInt         nmax = PetscMax(PetscMax(g->nx, g->ny), PetscMax(g->nlev, f->nmember));
  char             where[PETSC_MAX_PATH_LEN + 64];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(where, sizeof(where), "file %s", f->path));
  /* global attributes: what the file is, then the caller's strings and the model parameters */
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, file, "Conventions", "CF-1.8", where));
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, file, "daisi_file", f->nmember > 0 ? "ensemble" : "state", where));
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, file, "daisi_version", DAISI_VERSION, where));
  for (PetscInt i = 0; i < f->strings.n; i++) PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, file, f->strings.name[i], f->strings.string[i], where));
  for (PetscInt i = 0; i < f->params.n; i++) PetscCall(DaisiH5WriteAttrReal(PETSC_COMM_SELF, file, f->params.name[i], f->params.real[i], where));

  /* coordinate variables in netCDF order; a time reads NaN until the run writes it */
  PetscCall(PetscMalloc2(nmax, &coord, nmax, &index));
  for (PetscInt i = 0; i < nmax; i++) index[i] = (int)i;
  {
    const char *const tattrs[] = {"units", "s", "long_name", "model time", "axis", "T", NULL};
    PetscCall(DaisiStateFileCreateCoordinate(f, file, "time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)f->ntime, NULL, &nan, tattrs, &dims[rank]));
    shape[rank++] = (hsize_t)f->ntime;
  }
  if (f->nmember > 0) {
    const char *const mattrs[] = {"long_name", "ensemble member", NULL};
    PetscCall(DaisiStateFileCreateCoordinate(f, file, "member", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)f->nmember, index, NULL, mattrs, &dims[rank]));
    shape[rank++] = (hsize_t)f->nmember;
  }
  {
    const char *const lattrs[] = {"long_name", "boundary level (0 surface, 1 lid)", "units", "1", NULL};
    PetscCall(DaisiStateFileCreateCoordinate(f, file, "level", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)g->nlev, index, NULL, lattrs, &dims[rank]));
    shape[rank++] = (hsize_t)g->nlev;
  }
  for (int axis = 0; axis < 2; axis++) { /* y then x: grid positions, or indices if non-spatial */
    PetscInt          n        = axis ? g->nx : g->ny;
    PetscReal         L        = axis ? g->Lx : g->Ly;
    const char       *name     = axis ? "x" : "y";
    const char *const sattrs[] = {"units", "m", "long_name", axis ? "x position (periodic)" : "y position (periodic)", "axis", axis ? "X" : "Y", NULL};
    const char *const iattrs[] = {"units", "1", "long_name", axis ? "x index" : "y index", NULL};
    for (PetscInt i = 0; i < n; i++) coord[i] = L > 0 ? (double)(L * (PetscReal)i / (PetscReal)n) : (double)i;
    PetscCall(DaisiStateFileCreateCoordinate(f, file, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)n, coord, NULL, L > 0 ? sattrs : iattrs, &dims[rank]));
    /* the exact period, which the spacing of the positions only approximates */
    if (L > 0) PetscCall(DaisiH5WriteAttrReal(PETSC_COMM_SELF, dims[rank], "domain_length", L, where));
    shape[rank++] = (hsize_t)n;
  }
  PetscCall(PetscFree2(coord, index));

  /* the states: space allocated now, values written later by all ranks; a time never written
   * is recognised by its NaN time value */
  space = H5Screate_simple(rank, shape, NULL);
  DaisiH5Check(space, PETSC_COMM_SELF, "%s: cannot create the dataspace of " DAISI_STATE_VAR, where);
  PetscCall(DaisiStateFileCreateDatasetList(NULL, &dcpl));
  {
    /* one chunk per state (time [, member]): a random minibatch read of training states is
     * one contiguous read per state, and writing a time touches only its own chunks */
    hsize_t chunk[DAISI_MAXDIM];
    for (int d = 0; d < rank; d++) chunk[d] = d < (f->nmember > 0 ? 2 : 1) ? 1 : shape[d];
    DaisiH5Check(H5Pset_chunk(dcpl, rank, chunk), PETSC_COMM_SELF, "%s: cannot set the chunks of " DAISI_STATE_VAR, where);
  }
  theta = H5Dcreate2(file, DAISI_STATE_VAR, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  DaisiH5Close(&space);
  DaisiH5Close(&dcpl);
  ids[DAISI_MAXDIM] = theta;
  DaisiH5Check(theta, PETSC_COMM_SELF, "%s: cannot create dataset " DAISI_STATE_VAR " of %d dimensions", where, rank);
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, theta, "units", "K", where));
  PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, theta, "long_name", "potential temperature", where));
  for (int d = 0; d < rank; d++) DaisiH5Check(H5DSattach_scale(theta, dims[d], (unsigned)d), PETSC_COMM_SELF, "%s: cannot attach dimension scale %d to " DAISI_STATE_VAR, where, d);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiStateFileCheckSlabs(DaisiStateFile f)
{
  PetscInt total;

  PetscFunctionBegin;
  PetscCall(MPIU_Allreduce(&f->grid.nyl, &total, 1, MPIU_INT, MPI_SUM, f->comm));
  PetscCheck(total == f->grid.ny, f->comm, PETSC_ERR_ARG_WRONG, "file %s: the ranks' slabs hold %" PetscInt_FMT " rows in total, the grid has %" PetscInt_FMT ": every row must be written by exactly one rank", f->out.final, total, f->grid.ny);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* rank 0 makes the file (DaisiStateFileCreateLayout); every rank learns whether it worked */
static PetscErrorCode DaisiStateFileMake(DaisiStateFile f)
{
  PetscMPIInt    rank;
  PetscErrorCode ierr     = PETSC_SUCCESS;
  char           why[512] = ""; /* HDF5's reason for a failed create, told to every rank */

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(f->comm, &rank));
  if (rank == 0) {
    hid_t  fcpl = H5I_INVALID_HID, file = H5I_INVALID_HID, ids[DAISI_MAXDIM + 1];
    herr_t status;
    for (int i = 0; i <= DAISI_MAXDIM; i++) ids[i] = H5I_INVALID_HID;
    ierr = DaisiH5CreateFileCreation(PETSC_COMM_SELF, &fcpl);
    if (!ierr) {
      file = H5Fcreate(f->path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
      if (file < 0) {
        DaisiH5ErrorReason(why, sizeof(why));
        ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_FILE_OPEN, PETSC_ERROR_INITIAL, "cannot create HDF5 file %s (does the directory exist and is it writable?): %s", f->path, why);
      }
    }
    DaisiH5Close(&fcpl);
    if (!ierr) ierr = DaisiStateFileCreateLayout(f, file, ids);
    for (int i = 0; i <= DAISI_MAXDIM; i++) DaisiH5Close(&ids[i]);
    status = file >= 0 ? H5Fclose(file) : 0;
    if (!ierr && status < 0) ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_FILE_WRITE, PETSC_ERROR_INITIAL, "cannot close HDF5 file %s (disk full?)", f->path);
  }
  {
    int failed = ierr ? 1 : 0;
    PetscCallMPI(MPI_Bcast(&failed, 1, MPI_INT, 0, f->comm));
    if (failed) PetscCallMPI(MPI_Bcast(why, sizeof(why), MPI_CHAR, 0, f->comm));
    if (rank == 0) PetscCall(ierr);
    PetscCheck(!failed, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot create HDF5 file %s (see the message of rank 0)%s%s", f->path, why[0] ? ": " : "", why);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------- */
/* reading (and reopening for append)                                                       */

static PetscErrorCode DaisiStateFileOpenExisting(DaisiStateFile f, PetscBool write)
{
  hsize_t dims[DAISI_MAXDIM], tdims[DAISI_MAXDIM];
  int     rank, trank;
  char    shape[128];

  PetscFunctionBegin;
  PetscCall(DaisiH5FileOpen(f->comm, f->path, write, &f->file));
  PetscCall(DaisiH5CreateCollectiveTransfer(f->comm, &f->dxpl));
  PetscCall(DaisiH5OpenDataset(f->comm, f->file, DAISI_STATE_VAR, f->path, &f->theta, &rank, dims, DAISI_MAXDIM));
  PetscCall(DaisiH5ShapeString(rank, dims, shape, sizeof(shape)));
  PetscCheck(rank == 4 || rank == 5, f->comm, PETSC_ERR_FILE_UNEXPECTED, "file %s: dataset " DAISI_STATE_VAR " has shape %s, expected (time, level, y, x) or (time, member, level, y, x)", f->path, shape);
  f->ntime   = (PetscInt)dims[0];
  f->nmember = rank == 5 ? (PetscInt)dims[1] : 0;
  f->fnlev   = (PetscInt)dims[rank - 3];
  f->fny     = (PetscInt)dims[rank - 2];
  f->fnx     = (PetscInt)dims[rank - 1];
  PetscCall(DaisiH5OpenDataset(f->comm, f->file, "time", f->path, &f->time, &trank, tdims, DAISI_MAXDIM));
  PetscCheck(trank == 1 && tdims[0] == dims[0], f->comm, PETSC_ERR_FILE_UNEXPECTED, "file %s: coordinate time has %d dimensions and %llu values, dataset " DAISI_STATE_VAR " has %llu times", f->path, trank, (unsigned long long)tdims[0], (unsigned long long)dims[0]);
  if (f->hasgrid) {
    const DaisiGrid *g = &f->grid;
    PetscCheck(f->fnlev == g->nlev && f->fny == g->ny && f->fnx == g->nx, f->comm, PETSC_ERR_FILE_UNEXPECTED,
               "file %s: dataset " DAISI_STATE_VAR " has shape %s, expected %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT " states (level x y x x, N=%" PetscInt_FMT ")", f->path, shape, g->nlev, g->ny, g->nx, g->ny);
  }
  /* the exact domain lengths, if the file has them */
  f->fLx = f->fLy = 0;
  for (int axis = 0; axis < 2; axis++) {
    const char *name = axis ? "x" : "y";
    htri_t      has  = H5Lexists(f->file, name, H5P_DEFAULT);
    if (has > 0) {
      hid_t     d = H5Dopen2(f->file, name, H5P_DEFAULT);
      PetscReal L = 0;
      PetscBool found;
      DaisiH5Check(d, f->comm, "file %s: cannot open coordinate %s", f->path, name);
      PetscCall(DaisiH5ReadAttrReal(f->comm, d, "domain_length", &L, &found, f->path));
      DaisiH5Close(&d);
      if (found) *(axis ? &f->fLx : &f->fLy) = L;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a restarted run must continue the same run: same shape, sizes, strings and parameters */
static PetscErrorCode DaisiStateFileCheckAppend(DaisiStateFile f, PetscInt ntime, PetscInt nmember)
{
  PetscFunctionBegin;
  PetscCheck(f->ntime == ntime && f->nmember == nmember, f->comm, PETSC_ERR_FILE_UNEXPECTED, "file %s: has %" PetscInt_FMT " times and %" PetscInt_FMT " members, this run writes %" PetscInt_FMT " times and %" PetscInt_FMT " members", f->path, f->ntime, f->nmember, ntime, nmember);
  PetscCall(DaisiH5CheckParams(f->comm, f->file, &f->params, NULL, f->path));
  for (PetscInt i = 0; i < f->strings.n; i++) {
    char      value[PETSC_MAX_PATH_LEN];
    PetscBool found, same = PETSC_FALSE;
    PetscCall(DaisiH5ReadAttrString(f->comm, f->file, f->strings.name[i], value, sizeof(value), &found, f->path));
    if (found) PetscCall(PetscStrcmp(value, f->strings.string[i], &same));
    PetscCheck(same, f->comm, PETSC_ERR_ARG_INCOMP, "file %s: attribute %s is \"%s\" in the file, \"%s\" in this run", f->path, f->strings.name[i], found ? value : "(missing)", f->strings.string[i]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileOpen(DaisiStateFile f, const char path[], DaisiFileMode mode)
{
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCheck(!f->isopen, f->comm, PETSC_ERR_ORDER, "state file object already has %s open", f->path);
  PetscCheck(path && path[0], f->comm, PETSC_ERR_ARG_WRONG, "empty state file name");
  f->mode = mode;
  if (mode == DAISI_FILE_READ) {
    PetscCall(PetscStrncpy(f->path, path, sizeof(f->path)));
    PetscCall(PetscLogEventBegin(DAISI_StateFileRead, 0, 0, 0, 0));
    ierr = DaisiStateFileOpenExisting(f, PETSC_FALSE);
    PetscCall(PetscLogEventEnd(DAISI_StateFileRead, 0, 0, 0, 0));
    if (ierr) DaisiStateFileCloseIds(f);
    PetscCall(ierr);
  } else {
    PetscCheck(f->hasgrid, f->comm, PETSC_ERR_ORDER, "state file %s: set the grid before opening it for writing", path);
    PetscCheck(f->ntime > 0, f->comm, PETSC_ERR_ORDER, "state file %s: set the number of times before opening it for writing", path);
    PetscCall(DaisiStateFilePartialName(f->comm, path, &f->out));
    PetscCall(PetscStrncpy(f->path, f->out.tmp, sizeof(f->path)));
    PetscCall(DaisiStateFileCheckSlabs(f));
    PetscCall(PetscLogEventBegin(DAISI_StateFileWrite, 0, 0, 0, 0));
    if (mode == DAISI_FILE_WRITE) {
      ierr = DaisiStateFileMake(f);
      if (!ierr) ierr = DaisiStateFileOpenExisting(f, PETSC_TRUE);
      if (ierr) { /* never leave a half-made file behind */
        DaisiStateFileCloseIds(f);
        (void)DaisiOutputNameDiscard(&f->out);
      }
    } else {
      PetscInt ntime = f->ntime, nmember = f->nmember;
      ierr = DaisiStateFileOpenExisting(f, PETSC_TRUE);
      if (!ierr) ierr = DaisiStateFileCheckAppend(f, ntime, nmember);
      /* the partial file belongs to the interrupted run: keep it whatever went wrong */
      if (ierr) {
        DaisiStateFileCloseIds(f);
        f->ntime   = ntime;
        f->nmember = nmember;
      }
    }
    PetscCall(PetscLogEventEnd(DAISI_StateFileWrite, 0, 0, 0, 0));
    PetscCall(ierr);
  }
  f->isopen = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiStateFileCheckIndex(DaisiStateFile f, PetscInt *k, PetscInt member, PetscBool want_member)
{
  PetscInt k0 = *k;

  PetscFunctionBegin;
  PetscCheck(f->isopen, f->comm, PETSC_ERR_ORDER, "state file: not open");
  if (*k < 0) *k += f->ntime;
  PetscCheck(*k >= 0 && *k < f->ntime, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "file %s: time index %" PetscInt_FMT " out of range (the file has %" PetscInt_FMT " times)", f->path, k0, f->ntime);
  if (want_member) {
    PetscCheck(f->nmember > 0, f->comm, PETSC_ERR_ARG_WRONG, "file %s: not an ensemble file (no member dimension)", f->path);
    PetscCheck(member >= 0 && member < f->nmember, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "file %s: member %" PetscInt_FMT " out of range (the file has %" PetscInt_FMT " members)", f->path, member, f->nmember);
  } else PetscCheck(f->nmember == 0, f->comm, PETSC_ERR_ARG_WRONG, "file %s: an ensemble file of %" PetscInt_FMT " members: give the member", f->path, f->nmember);
  PetscCheck(f->hasgrid, f->comm, PETSC_ERR_ORDER, "file %s: set the grid (this rank's rows) before reading or writing states", f->path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* selects this rank's slab of state (k, member) in the file, and the matching memory space */
static PetscErrorCode DaisiStateFileSelectSlab(DaisiStateFile f, PetscInt k, PetscInt member, hid_t *mspace, hid_t *fspace)
{
  const DaisiGrid *g = &f->grid;
  hsize_t          start[DAISI_MAXDIM], count[DAISI_MAXDIM], mdims[3];
  int              r = 0;

  PetscFunctionBegin;
  start[r]   = (hsize_t)k;
  count[r++] = 1;
  if (f->nmember > 0) {
    start[r]   = (hsize_t)member;
    count[r++] = 1;
  }
  start[r]   = 0;
  count[r++] = (hsize_t)g->nlev;
  start[r]   = (hsize_t)g->y0;
  count[r++] = (hsize_t)g->nyl;
  start[r]   = 0;
  count[r++] = (hsize_t)g->nx;
  mdims[0]   = (hsize_t)g->nlev;
  mdims[1]   = (hsize_t)PetscMax(g->nyl, 1);
  mdims[2]   = (hsize_t)g->nx;
  *mspace    = H5Screate_simple(3, mdims, NULL);
  *fspace    = H5Dget_space(f->theta);
  DaisiH5Check(*mspace < 0 || *fspace < 0 ? -1 : 0, f->comm, "file %s: cannot create dataspaces", f->path);
  if (g->nyl > 0) DaisiH5Check(H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, start, NULL, count, NULL), f->comm, "file %s: cannot select rows [%" PetscInt_FMT ", %" PetscInt_FMT ")", f->path, g->y0, g->y0 + g->nyl);
  else { /* a rank without rows still takes part in the collective transfer */
    H5Sselect_none(*mspace);
    H5Sselect_none(*fspace);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* time value k: rank 0 writes it, or every rank reads it */
static PetscErrorCode DaisiStateFileTransferTime(DaisiStateFile f, PetscInt k, PetscReal *t, PetscBool write)
{
  PetscMPIInt rank;
  hsize_t     one = 1, start = (hsize_t)k;
  hid_t       mspace, fspace;
  double      v = write ? (double)*t : 0;
  herr_t      status;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(f->comm, &rank));
  mspace = H5Screate_simple(1, &one, NULL);
  fspace = H5Dget_space(f->time);
  DaisiH5Check(mspace < 0 || fspace < 0 ? -1 : 0, f->comm, "file %s: cannot create dataspaces for time", f->path);
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &one, NULL);
  if (write && rank != 0) {
    H5Sselect_none(mspace);
    H5Sselect_none(fspace);
  }
  status = write ? H5Dwrite(f->time, H5T_NATIVE_DOUBLE, mspace, fspace, f->dxpl, &v) : H5Dread(f->time, H5T_NATIVE_DOUBLE, mspace, fspace, f->dxpl, &v);
  DaisiH5Close(&mspace);
  DaisiH5Close(&fspace);
  DaisiH5Check(status, f->comm, "file %s: cannot %s time index %" PetscInt_FMT, f->path, write ? "write" : "read", k);
  if (!write) *t = (PetscReal)v;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiStateFileWrite_Private(DaisiStateFile f, PetscInt k, PetscInt member, PetscReal t, const PetscReal x[], PetscBool want_member)
{
  hid_t  mspace, fspace;
  herr_t status;
  char   what[PETSC_MAX_PATH_LEN + 128];

  PetscFunctionBegin;
  PetscCall(DaisiStateFileCheckIndex(f, &k, member, want_member));
  PetscCheck(f->mode != DAISI_FILE_READ, f->comm, PETSC_ERR_ORDER, "file %s: opened for reading", f->path);
  if (want_member) PetscCall(PetscSNPrintf(what, sizeof(what), "state for file %s, time index %" PetscInt_FMT ", member %" PetscInt_FMT, f->out.final, k, member));
  else PetscCall(PetscSNPrintf(what, sizeof(what), "state for file %s, time index %" PetscInt_FMT, f->out.final, k));
  /* a diverged state is reported, never written */
  PetscCall(DaisiCheckFinite(f->comm, DaisiGridLocalSize(&f->grid), x, what));
  PetscCheck(!PetscIsInfOrNanReal(t), f->comm, PETSC_ERR_FP, "time of %s is not finite", what);
  PetscCall(PetscLogEventBegin(DAISI_StateFileWrite, 0, 0, 0, 0));
  PetscCall(DaisiStateFileTransferTime(f, k, &t, PETSC_TRUE));
  PetscCall(DaisiStateFileSelectSlab(f, k, member, &mspace, &fspace));
  status = H5Dwrite(f->theta, H5T_NATIVE_DOUBLE, mspace, fspace, f->dxpl, x);
  DaisiH5Close(&mspace);
  DaisiH5Close(&fspace);
  DaisiH5Check(status, f->comm, "file %s: cannot write %s", f->path, what);
  PetscCall(PetscLogEventEnd(DAISI_StateFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileWrite(DaisiStateFile f, PetscInt k, PetscReal t, const PetscReal x[])
{
  PetscFunctionBegin;
  PetscCall(DaisiStateFileWrite_Private(f, k, 0, t, x, PETSC_FALSE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileWriteMember(DaisiStateFile f, PetscInt k, PetscInt member, PetscReal t, const PetscReal x[])
{
  PetscFunctionBegin;
  PetscCall(DaisiStateFileWrite_Private(f, k, member, t, x, PETSC_TRUE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileFlush(DaisiStateFile f)
{
  PetscFunctionBegin;
  PetscCheck(f->isopen, f->comm, PETSC_ERR_ORDER, "state file: not open");
  if (f->mode == DAISI_FILE_READ) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscLogEventBegin(DAISI_StateFileWrite, 0, 0, 0, 0));
  DaisiH5Check(H5Fflush(f->file, H5F_SCOPE_GLOBAL), f->comm, "file %s: cannot flush", f->path);
  PetscCall(PetscLogEventEnd(DAISI_StateFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiStateFileRead_Private(DaisiStateFile f, PetscInt k, PetscInt member, PetscReal *t, PetscReal x[], PetscBool want_member)
{
  hid_t     mspace, fspace;
  herr_t    status;
  PetscReal tk;
  char      what[PETSC_MAX_PATH_LEN + 128];

  PetscFunctionBegin;
  PetscCall(DaisiStateFileCheckIndex(f, &k, member, want_member));
  if (want_member) PetscCall(PetscSNPrintf(what, sizeof(what), "file %s, dataset " DAISI_STATE_VAR ", time index %" PetscInt_FMT ", member %" PetscInt_FMT, f->path, k, member));
  else PetscCall(PetscSNPrintf(what, sizeof(what), "file %s, dataset " DAISI_STATE_VAR ", time index %" PetscInt_FMT, f->path, k));
  PetscCall(PetscLogEventBegin(DAISI_StateFileRead, 0, 0, 0, 0));
  PetscCall(DaisiStateFileTransferTime(f, k, &tk, PETSC_FALSE));
  PetscCall(DaisiStateFileSelectSlab(f, k, member, &mspace, &fspace));
  status = H5Dread(f->theta, H5T_NATIVE_DOUBLE, mspace, fspace, f->dxpl, x);
  DaisiH5Close(&mspace);
  DaisiH5Close(&fspace);
  DaisiH5Check(status, f->comm, "cannot read %s", what);
  PetscCall(PetscLogEventEnd(DAISI_StateFileRead, 0, 0, 0, 0));
  /* NaN is also what a time never written reads as */
  PetscCall(DaisiCheckFinite(f->comm, DaisiGridLocalSize(&f->grid), x, what));
  PetscCheck(!PetscIsInfOrNanReal(tk), f->comm, PETSC_ERR_FP, "%s: the time value is not finite (never written?)", what);
  if (t) *t = tk;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileRead(DaisiStateFile f, PetscInt k, PetscReal *t, PetscReal x[])
{
  PetscFunctionBegin;
  PetscCall(DaisiStateFileRead_Private(f, k, 0, t, x, PETSC_FALSE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileReadMember(DaisiStateFile f, PetscInt k, PetscInt member, PetscReal *t, PetscReal x[])
{
  PetscFunctionBegin;
  PetscCall(DaisiStateFileRead_Private(f, k, member, t, x, PETSC_TRUE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileReadTime(DaisiStateFile f, PetscInt k, PetscReal *t)
{
  PetscInt k0 = k;

  PetscFunctionBegin;
  PetscCheck(f->isopen, f->comm, PETSC_ERR_ORDER, "state file: not open");
  if (k < 0) k += f->ntime;
  PetscCheck(k >= 0 && k < f->ntime, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "file %s: time index %" PetscInt_FMT " out of range (the file has %" PetscInt_FMT " times)", f->path, k0, f->ntime);
  PetscCall(DaisiStateFileTransferTime(f, k, t, PETSC_FALSE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileGetSizes(DaisiStateFile f, PetscInt *ntime, PetscInt *nmember, PetscInt *nlev, PetscInt *ny, PetscInt *nx)
{
  PetscFunctionBegin;
  PetscCheck(f->isopen, f->comm, PETSC_ERR_ORDER, "state file: not open");
  if (ntime) *ntime = f->ntime;
  if (nmember) *nmember = f->nmember;
  if (nlev) *nlev = f->fnlev;
  if (ny) *ny = f->fny;
  if (nx) *nx = f->fnx;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileGetParam(DaisiStateFile f, const char name[], PetscReal *value, PetscBool *found)
{
  PetscBool has;

  PetscFunctionBegin;
  PetscCheck(f->isopen, f->comm, PETSC_ERR_ORDER, "state file: not open");
  PetscCall(DaisiH5ReadAttrReal(f->comm, f->file, name, value, &has, f->path));
  PetscCheck(has || found, f->comm, PETSC_ERR_FILE_UNEXPECTED, "file %s has no parameter %s", f->path, name);
  if (found) *found = has;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileGetString(DaisiStateFile f, const char name[], char value[], size_t len, PetscBool *found)
{
  PetscBool has;

  PetscFunctionBegin;
  PetscCheck(f->isopen, f->comm, PETSC_ERR_ORDER, "state file: not open");
  PetscCall(DaisiH5ReadAttrString(f->comm, f->file, name, value, len, &has, f->path));
  PetscCheck(has || found, f->comm, PETSC_ERR_FILE_UNEXPECTED, "file %s has no attribute %s", f->path, name);
  if (found) *found = has;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* closes every id; the file itself last, so HDF5 can finish writing it */
static PetscErrorCode DaisiStateFileCloseFile(DaisiStateFile f)
{
  herr_t status;

  PetscFunctionBegin;
  DaisiH5Close(&f->theta);
  DaisiH5Close(&f->time);
  DaisiH5Close(&f->dxpl);
  status  = f->file >= 0 ? H5Fclose(f->file) : 0;
  f->file = H5I_INVALID_HID;
  DaisiH5Check(status, f->comm, "file %s: cannot close (disk full?)", f->path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileClose(DaisiStateFile f)
{
  PetscErrorCode ierr;

  PetscFunctionBegin;
  if (!f->isopen) PetscFunctionReturn(PETSC_SUCCESS);
  f->isopen = PETSC_FALSE;
  if (f->mode == DAISI_FILE_READ) {
    PetscCall(DaisiStateFileCloseFile(f));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscLogEventBegin(DAISI_StateFileWrite, 0, 0, 0, 0));
  ierr = DaisiStateFileCloseFile(f);
  if (!ierr) ierr = DaisiOutputNameCommit(&f->out);
  if (ierr) (void)DaisiOutputNameDiscard(&f->out); /* an incomplete file never gets the final name */
  PetscCall(PetscLogEventEnd(DAISI_StateFileWrite, 0, 0, 0, 0));
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileDiscard(DaisiStateFile f)
{
  PetscFunctionBegin;
  if (!f->isopen) PetscFunctionReturn(PETSC_SUCCESS);
  f->isopen = PETSC_FALSE;
  DaisiStateFileCloseIds(f);
  if (f->mode != DAISI_FILE_READ) PetscCall(DaisiOutputNameDiscard(&f->out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileView(DaisiStateFile f, PetscViewer viewer)
{
  static const char *modes[] = {"read", "write", "append"};
  PetscBool          iascii;

  PetscFunctionBegin;
  if (!viewer) PetscCall(PetscViewerASCIIGetStdout(f->comm, &viewer));
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &iascii));
  if (!iascii) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiStateFile: %s\n", f->isopen ? f->path : "(not open)"));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (f->isopen) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "mode %s, %" PetscInt_FMT " times, %" PetscInt_FMT " members (0: state file)\n", modes[f->mode], f->ntime, f->nmember));
    PetscCall(PetscViewerASCIIPrintf(viewer, "states %" PetscInt_FMT " levels x %" PetscInt_FMT " x %" PetscInt_FMT ", domain %g x %g m\n", f->fnlev, f->fny, f->fnx, (double)f->fLy, (double)f->fLx));
  }
  for (PetscInt i = 0; i < f->strings.n; i++) PetscCall(PetscViewerASCIIPrintf(viewer, "%s = %s\n", f->strings.name[i], f->strings.string[i]));
  for (PetscInt i = 0; i < f->params.n; i++) PetscCall(PetscViewerASCIIPrintf(viewer, "%s = %.17g\n", f->params.name[i], (double)f->params.real[i]));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileDestroy(DaisiStateFile *f)
{
  PetscFunctionBegin;
  if (!*f) PetscFunctionReturn(PETSC_SUCCESS);
  /* a file open for writing stays under its partial name: the run may be restarted */
  DaisiStateFileCloseIds(*f);
  PetscCall(DaisiNamedListDestroy(&(*f)->params));
  PetscCall(DaisiNamedListDestroy(&(*f)->strings));
  PetscCall(PetscFree(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileQuery(MPI_Comm comm, const char path[], DaisiGrid *grid, PetscInt *ntime, PetscInt *nmember)
{
  DaisiStateFile f;

  PetscFunctionBegin;
  PetscCall(DaisiStateFileCreate(comm, &f));
  PetscCall(DaisiStateFileOpen(f, path, DAISI_FILE_READ));
  PetscCall(PetscMemzero(grid, sizeof(*grid)));
  grid->nlev = f->fnlev;
  grid->ny   = f->fny;
  grid->nx   = f->fnx;
  grid->nyl  = f->fny;
  grid->Lx   = f->fLx;
  grid->Ly   = f->fLy;
  if (ntime) *ntime = f->ntime;
  if (nmember) *nmember = f->nmember;
  PetscCall(DaisiStateFileClose(f));
  PetscCall(DaisiStateFileDestroy(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStateFileLoad(MPI_Comm comm, const char path[], const DaisiGrid *grid, PetscInt k, PetscReal *t, PetscReal x[])
{
  DaisiStateFile f;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiStateFileCreate(comm, &f));
  ierr = DaisiStateFileSetGrid(f, grid);
  if (!ierr) ierr = DaisiStateFileOpen(f, path, DAISI_FILE_READ);
  if (!ierr) ierr = DaisiStateFileRead(f, k, t, x);
  if (!ierr) ierr = DaisiStateFileClose(f);
  PetscCall(DaisiStateFileDestroy(&f)); /* closes the file after an error too */
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}
