#include <daisi/diagfile.h>
#include <daisi/statefile.h>
#include "h5util.h"
#include <hdf5_hl.h>

#define DIAG_MAX_SERIES 64
static const char *const diag_fields[] = {"ens_mean_b", "ens_spread_b", "ens_mean_a", "ens_spread_a"};
#define DIAG_NFIELDS 4

struct _p_DaisiDiagFile {
  MPI_Comm        comm;
  PetscMPIInt     rank;
  DaisiOutputName name;
  hid_t           file;
  PetscInt        nlev, ny, nx, ncycle, nseries, nmember, nbins, nk;
  char           *series[DIAG_MAX_SERIES];
  hid_t           dcycle, dtime, dseries[DIAG_MAX_SERIES], dfield[DIAG_NFIELDS], dmembers, dhist, dspec[2];
};

/* creates a dataset of doubles (or int64) with the given dims on rank 0's file */
static PetscErrorCode DiagCreate(DaisiDiagFile d, const char name[], int rank, const hsize_t dims[], hid_t type, const char units[], hid_t *ds)
{
  hid_t sp, dcpl;

  PetscFunctionBegin;
  sp = H5Screate_simple(rank, dims, NULL);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  DaisiH5Check(sp, PETSC_COMM_SELF, "file %s: cannot create the dataspace of %s", d->name.tmp, name);
  /* reproducible files: no modification times; space allocated now */
  (void)H5Pset_obj_track_times(dcpl, 0);
  (void)H5Pset_attr_creation_order(dcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  (void)H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  *ds = H5Dcreate2(d->file, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  DaisiH5Close(&sp);
  DaisiH5Close(&dcpl);
  DaisiH5Check(*ds, PETSC_COMM_SELF, "file %s: cannot create dataset %s", d->name.tmp, name);
  if (units) PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, *ds, "units", units, d->name.tmp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DiagCoordinate(DaisiDiagFile d, const char name[], PetscInt n, PetscReal step, const char units[], hid_t *ds)
{
  hsize_t    dims[1] = {(hsize_t)n};
  PetscReal *v;

  PetscFunctionBegin;
  PetscCall(DiagCreate(d, name, 1, dims, H5T_IEEE_F64LE, units, ds));
  PetscCall(PetscMalloc1(n + 1, &v));
  for (PetscInt i = 0; i < n; i++) v[i] = step * i;
  DaisiH5Check(H5Dwrite(*ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), PETSC_COMM_SELF, "file %s: cannot write %s", d->name.tmp, name);
  PetscCall(PetscFree(v));
  DaisiH5Check(H5DSset_scale(*ds, name), PETSC_COMM_SELF, "file %s: cannot make %s a dimension scale", d->name.tmp, name);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DiagAttach(DaisiDiagFile d, hid_t ds, int n, const hid_t scales[])
{
  PetscFunctionBegin;
  for (int i = 0; i < n; i++) DaisiH5Check(H5DSattach_scale(ds, scales[i], (unsigned)i), PETSC_COMM_SELF, "file %s: cannot attach a dimension scale", d->name.tmp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DiagBuild(DaisiDiagFile d, const DaisiGrid *g)
{
  hid_t   dlev, dy, dx, dmem = H5I_INVALID_HID, dbin = H5I_INVALID_HID, s4[4], s5[5];
  hsize_t dims[5];

  PetscFunctionBegin;
  dims[0] = (hsize_t)d->ncycle;
  PetscCall(DiagCreate(d, "cycle", 1, dims, H5T_STD_I64LE, NULL, &d->dcycle));
  DaisiH5Check(H5DSset_scale(d->dcycle, "cycle"), PETSC_COMM_SELF, "file %s: cycle scale", d->name.tmp);
  PetscCall(DiagCreate(d, "time", 1, dims, H5T_IEEE_F64LE, "s", &d->dtime));
  PetscCall(DiagAttach(d, d->dtime, 1, &d->dcycle));
  for (PetscInt s = 0; s < d->nseries; s++) {
    PetscCall(DiagCreate(d, d->series[s], 1, dims, H5T_IEEE_F64LE, NULL, &d->dseries[s]));
    PetscCall(DiagAttach(d, d->dseries[s], 1, &d->dcycle));
  }
  PetscCall(DiagCoordinate(d, "level", d->nlev, 1.0, NULL, &dlev));
  PetscCall(DiagCoordinate(d, "y", d->ny, g->Ly > 0 ? g->Ly / d->ny : 1.0, "m", &dy));
  PetscCall(DiagCoordinate(d, "x", d->nx, g->Lx > 0 ? g->Lx / d->nx : 1.0, "m", &dx));
  dims[1] = (hsize_t)d->nlev;
  dims[2] = (hsize_t)d->ny;
  dims[3] = (hsize_t)d->nx;
  s4[0]   = d->dcycle;
  s4[1]   = dlev;
  s4[2]   = dy;
  s4[3]   = dx;
  for (int f = 0; f < DIAG_NFIELDS; f++) {
    PetscCall(DiagCreate(d, diag_fields[f], 4, dims, H5T_IEEE_F64LE, "K", &d->dfield[f]));
    PetscCall(DiagAttach(d, d->dfield[f], 4, s4));
  }
  if (d->nmember > 0) {
    PetscCall(DiagCoordinate(d, "member", d->nmember, 1.0, NULL, &dmem));
    dims[1] = (hsize_t)d->nmember;
    dims[2] = (hsize_t)d->nlev;
    dims[3] = (hsize_t)d->ny;
    dims[4] = (hsize_t)d->nx;
    s5[0]   = d->dcycle;
    s5[1]   = dmem;
    s5[2]   = dlev;
    s5[3]   = dy;
    s5[4]   = dx;
    PetscCall(DiagCreate(d, "members_a", 5, dims, H5T_IEEE_F64LE, "K", &d->dmembers));
    PetscCall(DiagAttach(d, d->dmembers, 5, s5));
  }
  if (d->nbins > 0) {
    PetscCall(DiagCoordinate(d, "bin", d->nbins, 1.0, NULL, &dbin));
    dims[0] = (hsize_t)d->nbins;
    PetscCall(DiagCreate(d, "rank_histogram", 1, dims, H5T_STD_I64LE, NULL, &d->dhist));
    PetscCall(DiagAttach(d, d->dhist, 1, &dbin));
  }
  if (d->nk > 0) {
    hid_t dk, s2[2] = {dlev, H5I_INVALID_HID};
    PetscCall(DiagCoordinate(d, "wavenumber", d->nk, 1.0, NULL, &dk));
    s2[1]   = dk;
    dims[0] = (hsize_t)d->nlev;
    dims[1] = (hsize_t)d->nk;
    PetscCall(DiagCreate(d, "spectrum_error", 2, dims, H5T_IEEE_F64LE, "K2", &d->dspec[0]));
    PetscCall(DiagCreate(d, "spectrum_spread", 2, dims, H5T_IEEE_F64LE, "K2", &d->dspec[1]));
    PetscCall(DiagAttach(d, d->dspec[0], 2, s2));
    PetscCall(DiagAttach(d, d->dspec[1], 2, s2));
    DaisiH5Close(&dk);
  }
  DaisiH5Close(&dlev);
  DaisiH5Close(&dy);
  DaisiH5Close(&dx);
  DaisiH5Close(&dmem);
  DaisiH5Close(&dbin);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DiagReopen(DaisiDiagFile d)
{
  PetscFunctionBegin;
  d->dcycle = H5Dopen2(d->file, "cycle", H5P_DEFAULT);
  d->dtime  = H5Dopen2(d->file, "time", H5P_DEFAULT);
  DaisiH5Check(d->dcycle < 0 || d->dtime < 0 ? -1 : 0, PETSC_COMM_SELF, "file %s is not a diagnostics file of this run", d->name.tmp);
  for (PetscInt s = 0; s < d->nseries; s++) {
    d->dseries[s] = H5Dopen2(d->file, d->series[s], H5P_DEFAULT);
    DaisiH5Check(d->dseries[s], PETSC_COMM_SELF, "file %s has no series %s: not a diagnostics file of this run", d->name.tmp, d->series[s]);
  }
  for (int f = 0; f < DIAG_NFIELDS; f++) {
    d->dfield[f] = H5Dopen2(d->file, diag_fields[f], H5P_DEFAULT);
    DaisiH5Check(d->dfield[f], PETSC_COMM_SELF, "file %s has no field %s", d->name.tmp, diag_fields[f]);
  }
  if (d->nmember > 0) {
    d->dmembers = H5Dopen2(d->file, "members_a", H5P_DEFAULT);
    DaisiH5Check(d->dmembers, PETSC_COMM_SELF, "file %s has no members_a", d->name.tmp);
  }
  if (d->nbins > 0) {
    d->dhist = H5Dopen2(d->file, "rank_histogram", H5P_DEFAULT);
    DaisiH5Check(d->dhist, PETSC_COMM_SELF, "file %s has no rank_histogram", d->name.tmp);
  }
  if (d->nk > 0) {
    d->dspec[0] = H5Dopen2(d->file, "spectrum_error", H5P_DEFAULT);
    d->dspec[1] = H5Dopen2(d->file, "spectrum_spread", H5P_DEFAULT);
    DaisiH5Check(d->dspec[0] < 0 || d->dspec[1] < 0 ? -1 : 0, PETSC_COMM_SELF, "file %s has no spectra", d->name.tmp);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileOpen(MPI_Comm comm, const char path[], const DaisiGrid *grid, PetscInt ncycle, PetscInt nseries, const char *const series[], PetscInt nmember, PetscInt nbins, PetscInt nk, PetscBool append, DaisiDiagFile *dout)
{
  DaisiDiagFile  d;
  PetscErrorCode ierr = PETSC_SUCCESS;
  int            ok;

  PetscFunctionBegin;
  PetscCheck(nseries <= DIAG_MAX_SERIES, comm, PETSC_ERR_ARG_OUTOFRANGE, "too many diagnostic series");
  PetscCheck(ncycle >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "a diagnostics file needs at least one cycle");
  PetscCall(DaisiIOInitializePackage());
  PetscCall(PetscNew(&d));
  d->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &d->rank));
  d->nlev    = grid->nlev;
  d->ny      = grid->ny;
  d->nx      = grid->nx;
  d->ncycle  = ncycle;
  d->nseries = nseries;
  d->nmember = nmember;
  d->nbins   = nbins;
  d->nk      = nk;
  d->file = d->dcycle = d->dtime = d->dmembers = d->dhist = d->dspec[0] = d->dspec[1] = H5I_INVALID_HID;
  for (PetscInt s = 0; s < DIAG_MAX_SERIES; s++) d->dseries[s] = H5I_INVALID_HID;
  for (int f = 0; f < DIAG_NFIELDS; f++) d->dfield[f] = H5I_INVALID_HID;
  for (PetscInt s = 0; s < nseries; s++) PetscCall(PetscStrallocpy(series[s], &d->series[s]));
  PetscCall(DaisiStateFilePartialName(comm, path, &d->name));
  if (d->rank == 0) {
    /* rank 0 alone writes the (small) diagnostics; errors are collected and shared below */
    if (append) {
      ierr = DaisiH5FileOpen(PETSC_COMM_SELF, d->name.tmp, PETSC_TRUE, &d->file);
      if (!ierr) ierr = DiagReopen(d);
    } else {
      ierr = DaisiH5FileCreate(PETSC_COMM_SELF, d->name.tmp, &d->file);
      if (!ierr) ierr = DiagBuild(d, grid);
    }
  }
  ok = ierr ? 0 : 1;
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  if (!ok) {
    PetscCall(DaisiDiagFileDestroy(&d));
    SETERRQ(comm, PETSC_ERR_FILE_WRITE, "cannot %s the diagnostics file %s", append ? "reopen" : "create", append ? "partial file to continue" : path);
  }
  *dout = d;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileSetString(DaisiDiagFile d, const char name[], const char value[])
{
  PetscFunctionBegin;
  if (d->rank == 0) PetscCall(DaisiH5WriteAttrString(PETSC_COMM_SELF, d->file, name, value, d->name.tmp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileSetReal(DaisiDiagFile d, const char name[], PetscReal value)
{
  PetscFunctionBegin;
  if (d->rank == 0) PetscCall(DaisiH5WriteAttrReal(PETSC_COMM_SELF, d->file, name, value, d->name.tmp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* writes count values at offset k of a 1-D or the k-th slab of an n-D dataset */
static PetscErrorCode DiagWriteSlab(DaisiDiagFile d, hid_t ds, hid_t memtype, int rank, const hsize_t start[], const hsize_t count[], const void *buf)
{
  hid_t fs, ms;

  PetscFunctionBegin;
  fs = H5Dget_space(ds);
  DaisiH5Check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), PETSC_COMM_SELF, "file %s: bad selection", d->name.tmp);
  ms = H5Screate_simple(rank, count, NULL);
  DaisiH5Check(H5Dwrite(ds, memtype, ms, fs, H5P_DEFAULT, buf), PETSC_COMM_SELF, "file %s: write failed", d->name.tmp);
  H5Sclose(ms);
  H5Sclose(fs);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileWriteSeries(DaisiDiagFile d, PetscInt k, PetscInt cycle, PetscReal time, const PetscReal values[])
{
  hsize_t    start[1] = {(hsize_t)k}, count[1] = {1};
  PetscInt64 c = cycle;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscCheck(k >= 0 && k < d->ncycle, d->comm, PETSC_ERR_ARG_OUTOFRANGE, "cycle index %" PetscInt_FMT " outside the diagnostics file (%" PetscInt_FMT " cycles)", k, d->ncycle);
  if (d->rank == 0) {
    PetscCall(DiagWriteSlab(d, d->dcycle, H5T_NATIVE_INT64, 1, start, count, &c));
    PetscCall(DiagWriteSlab(d, d->dtime, H5T_NATIVE_DOUBLE, 1, start, count, &time));
    for (PetscInt s = 0; s < d->nseries; s++) PetscCall(DiagWriteSlab(d, d->dseries[s], H5T_NATIVE_DOUBLE, 1, start, count, &values[s]));
  }
  PetscCall(PetscLogEventEnd(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileWriteField(DaisiDiagFile d, const char name[], PetscInt k, const PetscReal full[])
{
  hsize_t start[4] = {(hsize_t)k, 0, 0, 0}, count[4] = {1, (hsize_t)d->nlev, (hsize_t)d->ny, (hsize_t)d->nx};
  int     f = -1;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_DiagFileWrite, 0, 0, 0, 0));
  for (int i = 0; i < DIAG_NFIELDS; i++) {
    PetscBool same;
    PetscCall(PetscStrcmp(name, diag_fields[i], &same));
    if (same) f = i;
  }
  PetscCheck(f >= 0, d->comm, PETSC_ERR_ARG_WRONG, "unknown diagnostics field %s", name);
  PetscCheck(k >= 0 && k < d->ncycle, d->comm, PETSC_ERR_ARG_OUTOFRANGE, "cycle index %" PetscInt_FMT " outside the diagnostics file", k);
  if (d->rank == 0) PetscCall(DiagWriteSlab(d, d->dfield[f], H5T_NATIVE_DOUBLE, 4, start, count, full));
  PetscCall(PetscLogEventEnd(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileWriteMember(DaisiDiagFile d, PetscInt k, PetscInt m, const PetscReal full[])
{
  hsize_t start[5] = {(hsize_t)k, (hsize_t)m, 0, 0, 0}, count[5] = {1, 1, (hsize_t)d->nlev, (hsize_t)d->ny, (hsize_t)d->nx};

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscCheck(d->nmember > 0 && m >= 0 && m < d->nmember, d->comm, PETSC_ERR_ARG_OUTOFRANGE, "member %" PetscInt_FMT " is not saved in this diagnostics file", m);
  if (d->rank == 0) PetscCall(DiagWriteSlab(d, d->dmembers, H5T_NATIVE_DOUBLE, 5, start, count, full));
  PetscCall(PetscLogEventEnd(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileWriteHistogram(DaisiDiagFile d, const PetscInt64 counts[])
{
  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscCheck(d->nbins > 0, d->comm, PETSC_ERR_ORDER, "this diagnostics file has no rank histogram");
  if (d->rank == 0) DaisiH5Check(H5Dwrite(d->dhist, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, counts), PETSC_COMM_SELF, "file %s: cannot write the rank histogram", d->name.tmp);
  PetscCall(PetscLogEventEnd(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileWriteSpectra(DaisiDiagFile d, const PetscReal err[], const PetscReal spread[])
{
  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscCheck(d->nk > 0, d->comm, PETSC_ERR_ORDER, "this diagnostics file has no spectra");
  if (d->rank == 0) {
    DaisiH5Check(H5Dwrite(d->dspec[0], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, err), PETSC_COMM_SELF, "file %s: cannot write spectrum_error", d->name.tmp);
    DaisiH5Check(H5Dwrite(d->dspec[1], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, spread), PETSC_COMM_SELF, "file %s: cannot write spectrum_spread", d->name.tmp);
  }
  PetscCall(PetscLogEventEnd(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileFlush(DaisiDiagFile d)
{
  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_DiagFileWrite, 0, 0, 0, 0));
  if (d->rank == 0) DaisiH5Check(H5Fflush(d->file, H5F_SCOPE_GLOBAL), PETSC_COMM_SELF, "file %s: flush failed", d->name.tmp);
  PetscCallMPI(MPI_Barrier(d->comm));
  PetscCall(PetscLogEventEnd(DAISI_DiagFileWrite, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void DiagCloseIds(DaisiDiagFile d)
{
  DaisiH5Close(&d->dcycle);
  DaisiH5Close(&d->dtime);
  for (PetscInt s = 0; s < DIAG_MAX_SERIES; s++) DaisiH5Close(&d->dseries[s]);
  for (int f = 0; f < DIAG_NFIELDS; f++) DaisiH5Close(&d->dfield[f]);
  DaisiH5Close(&d->dmembers);
  DaisiH5Close(&d->dhist);
  DaisiH5Close(&d->dspec[0]);
  DaisiH5Close(&d->dspec[1]);
  DaisiH5Close(&d->file);
}

PetscErrorCode DaisiDiagFileDestroy(DaisiDiagFile *d)
{
  PetscFunctionBegin;
  if (!*d) PetscFunctionReturn(PETSC_SUCCESS);
  DiagCloseIds(*d);
  for (PetscInt s = 0; s < (*d)->nseries; s++) PetscCall(PetscFree((*d)->series[s]));
  PetscCall(PetscFree(*d));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileClose(DaisiDiagFile *d)
{
  DaisiOutputName name;

  PetscFunctionBegin;
  if (!*d) PetscFunctionReturn(PETSC_SUCCESS);
  name = (*d)->name;
  PetscCall(DaisiDiagFileDestroy(d));
  PetscCallMPI(MPI_Barrier(name.comm));
  PetscCall(DaisiOutputNameCommit(&name));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileDiscard(DaisiDiagFile *d)
{
  DaisiOutputName name;

  PetscFunctionBegin;
  if (!*d) PetscFunctionReturn(PETSC_SUCCESS);
  name = (*d)->name;
  PetscCall(DaisiDiagFileDestroy(d));
  PetscCallMPI(MPI_Barrier(name.comm));
  PetscCall(DaisiOutputNameDiscard(&name));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Reading back (daisi-train -train_model latent, the l3dvar filter's B_z)
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiDiagFileReadCycles(MPI_Comm comm, const char path[], const char what[], const DaisiGrid *grid, PetscInt *ncycle, PetscInt64 **cycle)
{
  PetscMPIInt rank;
  int         status = 0, r = -1; /* 0 ok, 1 missing or not HDF5 */
  hid_t       file = H5I_INVALID_HID, dset = H5I_INVALID_HID, space = H5I_INVALID_HID;
  hsize_t     dims[4] = {0, 0, 0, 0}, nc[1] = {0};
  herr_t      st;
  char        shape[64];

  PetscFunctionBegin;
  PetscCall(DaisiIOInitializePackage());
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    PetscBool exists;
    PetscCall(PetscTestFile(path, 'r', &exists));
    if (!exists || H5Fis_hdf5(path) <= 0) status = 1;
  }
  PetscCallMPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
  PetscCheck(!status, comm, PETSC_ERR_FILE_OPEN, "cannot open %s (missing, or not an HDF5 diagnostics file of daisi-filter)", what);
  PetscCall(DaisiH5FileOpen(comm, path, PETSC_FALSE, &file));
  if (H5Lexists(file, "ens_mean_b", H5P_DEFAULT) <= 0 || H5Lexists(file, "cycle", H5P_DEFAULT) <= 0) {
    DaisiH5Close(&file);
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s has no 'cycle' or 'ens_mean_b' dataset: not a daisi-filter diagnostics file", what);
  }
  dset  = H5Dopen2(file, "ens_mean_b", H5P_DEFAULT);
  space = dset >= 0 ? H5Dget_space(dset) : H5I_INVALID_HID;
  r     = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (r == 4) (void)H5Sget_simple_extent_dims(space, dims, NULL);
  DaisiH5Close(&space);
  DaisiH5Close(&dset);
  if (r != 4 || dims[1] != (hsize_t)grid->nlev || dims[2] != (hsize_t)grid->ny || dims[3] != (hsize_t)grid->nx) {
    DaisiH5Close(&file);
    PetscCall(DaisiH5ShapeString(r, dims, shape, sizeof(shape)));
    SETERRQ(comm, PETSC_ERR_ARG_SIZ, "%s: ens_mean_b is %s, (cycles x %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT ") expected (a daisi-filter diagnostics file of a run on this grid)", what, shape, grid->nlev, grid->ny, grid->nx);
  }
  dset  = H5Dopen2(file, "cycle", H5P_DEFAULT);
  space = dset >= 0 ? H5Dget_space(dset) : H5I_INVALID_HID;
  r     = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (r == 1) (void)H5Sget_simple_extent_dims(space, nc, NULL);
  DaisiH5Close(&space);
  if (r != 1 || nc[0] != dims[0]) {
    DaisiH5Close(&dset);
    DaisiH5Close(&file);
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s: dataset cycle does not match ens_mean_b (%d dimension(s), %llu cycles)", what, r, (unsigned long long)dims[0]);
  }
  PetscCall(PetscMalloc1(dims[0] + 1, cycle));
  st = H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *cycle);
  DaisiH5Close(&dset);
  DaisiH5Close(&file);
  if (st < 0) PetscCall(PetscFree(*cycle));
  DaisiH5Check(st, comm, "%s: cannot read dataset cycle", what);
  *ncycle = (PetscInt)dims[0];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiDiagFileReadField(MPI_Comm comm, const char path[], const char what[], const char name[], const DaisiGrid *grid, PetscInt k, PetscReal x[])
{
  hid_t   file = H5I_INVALID_HID, dset, fspace, mspace, dxpl = H5I_INVALID_HID;
  hsize_t n1 = (hsize_t)PetscMax(DaisiGridLocalSize(grid), 1), start[4] = {(hsize_t)k, 0, (hsize_t)grid->y0, 0}, cnt[4] = {1, (hsize_t)grid->nlev, (hsize_t)grid->nyl, (hsize_t)grid->nx};
  int     st = 0;

  PetscFunctionBegin;
  PetscCall(DaisiH5FileOpen(comm, path, PETSC_FALSE, &file));
  dset   = H5Dopen2(file, name, H5P_DEFAULT);
  fspace = dset >= 0 ? H5Dget_space(dset) : H5I_INVALID_HID;
  mspace = H5Screate_simple(1, &n1, NULL);
  if (dset < 0 || fspace < 0 || mspace < 0) st = -1;
  if (st >= 0) st = grid->nyl > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) : H5Sselect_none(fspace);
  if (st >= 0 && grid->nyl == 0) st = H5Sselect_none(mspace);
  if (st >= 0) PetscCall(DaisiH5CreateCollectiveTransfer(comm, &dxpl));
  if (st >= 0) st = H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, x);
  DaisiH5Close(&dxpl);
  DaisiH5Close(&mspace);
  DaisiH5Close(&fspace);
  DaisiH5Close(&dset);
  DaisiH5Close(&file);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &st, 1, MPI_INT, MPI_MIN, comm)); /* every rank stops together */
  DaisiH5Check(st, comm, "%s: cannot read %s of cycle index %" PetscInt_FMT, what, name, k);
  PetscFunctionReturn(PETSC_SUCCESS);
}
