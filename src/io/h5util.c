#include "h5util.h"

PetscLogEvent DAISI_StateFileWrite = 0, DAISI_StateFileRead = 0, DAISI_CheckpointWrite = 0, DAISI_CheckpointRead = 0, DAISI_DiagFileWrite = 0;
static PetscBool io_package_initialized = PETSC_FALSE;

static PetscErrorCode DaisiIOFinalizePackage(void)
{
  PetscFunctionBegin;
  io_package_initialized = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiIOInitializePackage(void)
{
  PetscFunctionBegin;
  if (io_package_initialized) PetscFunctionReturn(PETSC_SUCCESS);
  io_package_initialized = PETSC_TRUE;
  PetscCall(PetscLogEventRegister("StateFileWrite", DAISI_CLASSID, &DAISI_StateFileWrite));
  PetscCall(PetscLogEventRegister("StateFileRead", DAISI_CLASSID, &DAISI_StateFileRead));
  PetscCall(PetscLogEventRegister("CheckpointWrite", DAISI_CLASSID, &DAISI_CheckpointWrite));
  PetscCall(PetscLogEventRegister("CheckpointRead", DAISI_CLASSID, &DAISI_CheckpointRead));
  PetscCall(PetscLogEventRegister("DiagFileWrite", DAISI_CLASSID, &DAISI_DiagFileWrite));
  PetscCall(PetscRegisterFinalize(DaisiIOFinalizePackage));
  /* we report HDF5 failures ourselves, naming the file; HDF5's stack dump would only add noise */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static herr_t DaisiH5ErrorInnermost(unsigned n, const H5E_error2_t *err, void *ctx)
{
  char **buf = (char **)ctx;
  if (n == 0 && err->desc) snprintf(buf[0], (size_t)(buf[1] - buf[0]), "%s (in %s)", err->desc, err->func_name ? err->func_name : "HDF5");
  return 0;
}

void DaisiH5ErrorReason(char buf[], size_t len)
{
  char *ctx[2] = {buf, buf + len};
  if (!len) return;
  buf[0] = 0;
  (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, DaisiH5ErrorInnermost, ctx);
  if (!buf[0]) snprintf(buf, len, "no reason given by HDF5");
}

void DaisiH5Close(hid_t *id)
{
  hid_t stack;

  if (*id < 0) return;
  stack = H5Eget_current_stack(); /* a copy; the live stack is cleared by every API call */
  switch (H5Iget_type(*id)) {
  case H5I_FILE:
    (void)H5Fclose(*id);
    break;
  case H5I_GROUP:
    (void)H5Gclose(*id);
    break;
  case H5I_DATASET:
    (void)H5Dclose(*id);
    break;
  case H5I_DATASPACE:
    (void)H5Sclose(*id);
    break;
  case H5I_DATATYPE:
    (void)H5Tclose(*id);
    break;
  case H5I_ATTR:
    (void)H5Aclose(*id);
    break;
  case H5I_GENPROP_LST:
    (void)H5Pclose(*id);
    break;
  default:
    break;
  }
  if (stack >= 0) (void)H5Eset_current_stack(stack); /* restores it and releases the copy */
  *id = H5I_INVALID_HID;
}

PetscErrorCode DaisiH5CreateFileAccess(MPI_Comm comm, hid_t *fapl)
{
  PetscFunctionBegin;
  *fapl = H5Pcreate(H5P_FILE_ACCESS);
  DaisiH5Check(*fapl, comm, "HDF5: cannot create a file access property list");
  DaisiH5Check(H5Pset_fapl_mpio(*fapl, comm, MPI_INFO_NULL), comm, "HDF5: cannot select the MPI-IO file driver");
  /* metadata reads by all ranks go through rank 0 and writes are collective: same calls everywhere */
  DaisiH5Check(H5Pset_all_coll_metadata_ops(*fapl, 1), comm, "HDF5: cannot set collective metadata reads");
  DaisiH5Check(H5Pset_coll_metadata_write(*fapl, 1), comm, "HDF5: cannot set collective metadata writes");
  /* cluster file systems mounted without flock support would refuse every open otherwise */
  DaisiH5Check(H5Pset_file_locking(*fapl, 1, 1), comm, "HDF5: cannot set file locking");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5CreateCollectiveTransfer(MPI_Comm comm, hid_t *dxpl)
{
  PetscFunctionBegin;
  *dxpl = H5Pcreate(H5P_DATASET_XFER);
  DaisiH5Check(*dxpl, comm, "HDF5: cannot create a transfer property list");
  DaisiH5Check(H5Pset_dxpl_mpio(*dxpl, H5FD_MPIO_COLLECTIVE), comm, "HDF5: cannot select collective transfers");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5CreateFileCreation(MPI_Comm comm, hid_t *fcpl)
{
  PetscFunctionBegin;
  *fcpl = H5Pcreate(H5P_FILE_CREATE);
  DaisiH5Check(*fcpl, comm, "HDF5: cannot create a file creation property list");
  /* netCDF-4 lists variables and attributes in creation order and needs it tracked */
  DaisiH5Check(H5Pset_link_creation_order(*fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), comm, "HDF5: cannot track link creation order");
  DaisiH5Check(H5Pset_attr_creation_order(*fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), comm, "HDF5: cannot track attribute creation order");
  /* no time stamps in object headers: the same run writes the same bytes */
  DaisiH5Check(H5Pset_obj_track_times(*fcpl, 0), comm, "HDF5: cannot disable object time tracking");
  /* Same bytes also means no relocated metadata: a root group whose attributes outgrow its
   * header moves them to dense storage and leaves a freed chunk whose stale content depends
   * on which rank flushed what. So the root keeps its (many) attributes in dense storage from
   * the start, and its header has room for all links of a DAISI file. */
  DaisiH5Check(H5Pset_attr_phase_change(*fcpl, 0, 0), comm, "HDF5: cannot set dense attribute storage");
  DaisiH5Check(H5Pset_est_link_info(*fcpl, 8, 8), comm, "HDF5: cannot size the root group");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5FileCreate(MPI_Comm comm, const char path[], hid_t *file)
{
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;

  PetscFunctionBegin;
  PetscCall(DaisiIOInitializePackage());
  PetscCall(DaisiH5CreateFileAccess(comm, &fapl));
  PetscCall(DaisiH5CreateFileCreation(comm, &fcpl));
  *file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  DaisiH5Close(&fapl);
  DaisiH5Close(&fcpl);
  DaisiH5Check(*file, comm, "cannot create HDF5 file %s (does the directory exist and is it writable?)", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5FileOpen(MPI_Comm comm, const char path[], PetscBool write, hid_t *file)
{
  PetscMPIInt rank;
  int         status = 0; /* 0 ok, 1 missing, 2 not HDF5 */
  hid_t       fapl   = H5I_INVALID_HID;

  PetscFunctionBegin;
  PetscCall(DaisiIOInitializePackage());
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    PetscBool exists;
    PetscCall(PetscTestFile(path, write ? 'w' : 'r', &exists));
    if (!exists) status = 1;
    else if (H5Fis_hdf5(path) <= 0) status = 2;
  }
  PetscCallMPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
  PetscCheck(status != 1, comm, PETSC_ERR_FILE_OPEN, "file %s does not exist or is not %s", path, write ? "writable" : "readable");
  PetscCheck(status != 2, comm, PETSC_ERR_FILE_UNEXPECTED, "file %s is not an HDF5 file (or is corrupted)", path);
  PetscCall(DaisiH5CreateFileAccess(comm, &fapl));
  *file = H5Fopen(path, write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
  DaisiH5Close(&fapl);
  DaisiH5Check(*file, comm, "cannot open HDF5 file %s (corrupted, or locked by another process?)", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiH5WriteAttr(MPI_Comm comm, hid_t obj, const char name[], hid_t type, const void *value, const char where[])
{
  hid_t space, attr;

  PetscFunctionBegin;
  space = H5Screate(H5S_SCALAR);
  DaisiH5Check(space, comm, "%s: cannot create a dataspace for attribute %s", where, name);
  attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  DaisiH5Close(&space);
  DaisiH5Check(attr, comm, "%s: cannot create attribute %s (duplicate name?)", where, name);
  if (H5Awrite(attr, type, value) < 0) {
    DaisiH5Close(&attr);
    SETERRQ(comm, PETSC_ERR_LIB, "%s: cannot write attribute %s", where, name);
  }
  DaisiH5Close(&attr);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5WriteAttrReal(MPI_Comm comm, hid_t obj, const char name[], PetscReal value, const char where[])
{
  double v = (double)value;

  PetscFunctionBegin;
  PetscCall(DaisiH5WriteAttr(comm, obj, name, H5T_NATIVE_DOUBLE, &v, where));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5WriteAttrInt64(MPI_Comm comm, hid_t obj, const char name[], PetscInt64 value, const char where[])
{
  int64_t v = (int64_t)value;

  PetscFunctionBegin;
  PetscCall(DaisiH5WriteAttr(comm, obj, name, H5T_NATIVE_INT64, &v, where));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5WriteAttrString(MPI_Comm comm, hid_t obj, const char name[], const char value[], const char where[])
{
  hid_t  type;
  size_t len = strlen(value);

  PetscFunctionBegin;
  /* fixed-length, NUL-terminated ASCII: netCDF reads it as a text (NC_CHAR) attribute */
  type = H5Tcopy(H5T_C_S1);
  DaisiH5Check(type, comm, "%s: cannot create a string type for attribute %s", where, name);
  if (H5Tset_size(type, len > 0 ? len : 1) < 0 || H5Tset_strpad(type, H5T_STR_NULLTERM) < 0 || H5Tset_cset(type, H5T_CSET_ASCII) < 0) {
    DaisiH5Close(&type);
    SETERRQ(comm, PETSC_ERR_LIB, "%s: cannot set up the string type of attribute %s", where, name);
  }
  {
    PetscErrorCode ierr = DaisiH5WriteAttr(comm, obj, name, type, len > 0 ? value : "", where);
    DaisiH5Close(&type);
    PetscCall(ierr);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiH5OpenAttr(MPI_Comm comm, hid_t obj, const char name[], hid_t *attr, PetscBool *found, const char where[])
{
  htri_t exists;

  PetscFunctionBegin;
  *attr  = H5I_INVALID_HID;
  exists = H5Aexists(obj, name);
  DaisiH5Check(exists, comm, "%s: cannot query attribute %s", where, name);
  *found = exists > 0 ? PETSC_TRUE : PETSC_FALSE;
  if (!*found) PetscFunctionReturn(PETSC_SUCCESS);
  *attr = H5Aopen(obj, name, H5P_DEFAULT);
  DaisiH5Check(*attr, comm, "%s: cannot open attribute %s", where, name);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* reads a numeric scalar attribute, converting to the memory type */
static PetscErrorCode DaisiH5ReadAttrNumber(MPI_Comm comm, hid_t obj, const char name[], hid_t memtype, void *value, PetscBool *found, const char where[])
{
  hid_t    attr, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  hssize_t npoints;
  herr_t   status;

  PetscFunctionBegin;
  PetscCall(DaisiH5OpenAttr(comm, obj, name, &attr, found, where));
  if (!*found) PetscFunctionReturn(PETSC_SUCCESS);
  space   = H5Aget_space(attr);
  type    = H5Aget_type(attr);
  npoints = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (type < 0 || npoints != 1 || (H5Tget_class(type) != H5T_INTEGER && H5Tget_class(type) != H5T_FLOAT)) {
    DaisiH5Close(&space);
    DaisiH5Close(&type);
    DaisiH5Close(&attr);
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s: attribute %s is not a single number", where, name);
  }
  status = H5Aread(attr, memtype, value);
  DaisiH5Close(&space);
  DaisiH5Close(&type);
  DaisiH5Close(&attr);
  DaisiH5Check(status, comm, "%s: cannot read attribute %s", where, name);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5ReadAttrReal(MPI_Comm comm, hid_t obj, const char name[], PetscReal *value, PetscBool *found, const char where[])
{
  double v = 0;

  PetscFunctionBegin;
  PetscCall(DaisiH5ReadAttrNumber(comm, obj, name, H5T_NATIVE_DOUBLE, &v, found, where));
  if (*found) *value = (PetscReal)v;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5ReadAttrInt64(MPI_Comm comm, hid_t obj, const char name[], PetscInt64 *value, PetscBool *found, const char where[])
{
  int64_t v = 0;

  PetscFunctionBegin;
  PetscCall(DaisiH5ReadAttrNumber(comm, obj, name, H5T_NATIVE_INT64, &v, found, where));
  if (*found) *value = (PetscInt64)v;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5ReadAttrString(MPI_Comm comm, hid_t obj, const char name[], char value[], size_t len, PetscBool *found, const char where[])
{
  hid_t  attr, type, memtype = H5I_INVALID_HID;
  herr_t status = -1;

  PetscFunctionBegin;
  PetscCall(DaisiH5OpenAttr(comm, obj, name, &attr, found, where));
  if (!*found) PetscFunctionReturn(PETSC_SUCCESS);
  type = H5Aget_type(attr);
  if (type < 0 || H5Tget_class(type) != H5T_STRING) {
    DaisiH5Close(&type);
    DaisiH5Close(&attr);
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s: attribute %s is not a string", where, name);
  }
  value[0] = 0;
  if (H5Tis_variable_str(type) > 0) { /* as written by h5py and netCDF string attributes */
    char *s  = NULL;
    memtype = H5Tcopy(H5T_C_S1);
    if (memtype >= 0 && H5Tset_size(memtype, H5T_VARIABLE) >= 0) status = H5Aread(attr, memtype, &s);
    if (status >= 0 && s) {
      (void)PetscStrncpy(value, s, len);
      H5free_memory(s);
    }
  } else {
    size_t size = H5Tget_size(type);
    char  *buf;
    PetscCall(PetscCalloc1(size + 1, &buf));
    memtype = H5Tcopy(H5T_C_S1);
    if (memtype >= 0 && H5Tset_size(memtype, size + 1) >= 0 && H5Tset_strpad(memtype, H5T_STR_NULLTERM) >= 0) status = H5Aread(attr, memtype, buf);
    if (status >= 0) (void)PetscStrncpy(value, buf, len);
    PetscCall(PetscFree(buf));
  }
  DaisiH5Close(&memtype);
  DaisiH5Close(&type);
  DaisiH5Close(&attr);
  DaisiH5Check(status, comm, "%s: cannot read string attribute %s", where, name);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5ShapeString(int rank, const hsize_t dims[], char buf[], size_t len)
{
  size_t used = 0;

  PetscFunctionBegin;
  buf[0] = 0;
  if (rank == 0) PetscCall(PetscStrncpy(buf, "scalar", len));
  for (int i = 0; i < rank && used + 1 < len; i++) {
    PetscCall(PetscSNPrintf(buf + used, len - used, i ? "x%llu" : "%llu", (unsigned long long)dims[i]));
    PetscCall(PetscStrlen(buf, &used));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiH5OpenDataset(MPI_Comm comm, hid_t file, const char name[], const char path[], hid_t *dset, int *rank, hsize_t dims[], int maxrank)
{
  htri_t exists;
  hid_t  space, type;
  int    r;

  PetscFunctionBegin;
  exists = H5Lexists(file, name, H5P_DEFAULT);
  DaisiH5Check(exists, comm, "file %s: cannot look up dataset %s", path, name);
  PetscCheck(exists > 0, comm, PETSC_ERR_FILE_UNEXPECTED, "file %s has no dataset %s (not a DAISI file of this kind?)", path, name);
  *dset = H5Dopen2(file, name, H5P_DEFAULT);
  DaisiH5Check(*dset, comm, "file %s: %s is not a dataset", path, name);
  type = H5Dget_type(*dset);
  if (type < 0 || H5Tget_class(type) != H5T_FLOAT) {
    DaisiH5Close(&type);
    DaisiH5Close(dset);
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "file %s: dataset %s is not floating point", path, name);
  }
  DaisiH5Close(&type);
  space = H5Dget_space(*dset);
  r     = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (r < 0 || r > maxrank) {
    DaisiH5Close(&space);
    DaisiH5Close(dset);
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "file %s: dataset %s has %d dimensions, at most %d expected", path, name, r, maxrank);
  }
  (void)H5Sget_simple_extent_dims(space, dims, NULL);
  DaisiH5Close(&space);
  *rank = r;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- named lists ---- */

PetscErrorCode DaisiNamedListFind(const DaisiNamedList *l, const char name[], PetscInt *index)
{
  PetscFunctionBegin;
  *index = -1;
  for (PetscInt i = 0; i < l->n; i++) {
    PetscBool same;
    PetscCall(PetscStrcmp(l->name[i], name, &same));
    if (same) {
      *index = i;
      break;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiNamedListSlot(DaisiNamedList *l, DaisiNamedKind kind, const char name[], PetscInt *index)
{
  PetscFunctionBegin;
  PetscCheck(name && name[0], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "empty attribute name");
  PetscCheck(l->n == 0 || l->kind == kind, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "attribute %s: wrong kind for this list", name);
  l->kind = kind;
  PetscCall(DaisiNamedListFind(l, name, index));
  if (*index >= 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscRealloc(sizeof(char *) * (size_t)(l->n + 1), &l->name));
  PetscCall(PetscRealloc(sizeof(PetscReal) * (size_t)(l->n + 1), &l->real));
  PetscCall(PetscRealloc(sizeof(PetscInt64) * (size_t)(l->n + 1), &l->int64));
  PetscCall(PetscRealloc(sizeof(char *) * (size_t)(l->n + 1), &l->string));
  PetscCall(PetscStrallocpy(name, &l->name[l->n]));
  l->real[l->n]   = 0;
  l->int64[l->n]  = 0;
  l->string[l->n] = NULL;
  *index          = l->n++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNamedListSetReal(DaisiNamedList *l, const char name[], PetscReal v)
{
  PetscInt i;

  PetscFunctionBegin;
  PetscCall(DaisiNamedListSlot(l, DAISI_NAMED_REAL, name, &i));
  l->real[i] = v;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNamedListSetInt64(DaisiNamedList *l, const char name[], PetscInt64 v)
{
  PetscInt i;

  PetscFunctionBegin;
  PetscCall(DaisiNamedListSlot(l, DAISI_NAMED_INT64, name, &i));
  l->int64[i] = v;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNamedListSetString(DaisiNamedList *l, const char name[], const char v[])
{
  PetscInt i;

  PetscFunctionBegin;
  PetscCall(DaisiNamedListSlot(l, DAISI_NAMED_STRING, name, &i));
  PetscCall(PetscFree(l->string[i]));
  PetscCall(PetscStrallocpy(v ? v : "", &l->string[i]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNamedListDestroy(DaisiNamedList *l)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < l->n; i++) {
    PetscCall(PetscFree(l->name[i]));
    PetscCall(PetscFree(l->string[i]));
  }
  PetscCall(PetscFree(l->name));
  PetscCall(PetscFree(l->real));
  PetscCall(PetscFree(l->int64));
  PetscCall(PetscFree(l->string));
  l->n = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- parameter check ---- */

typedef struct {
  const DaisiNamedList *params;
  const char *const    *skip;
  char                  extra[256]; /* first double attribute in the file that the caller lacks */
} DaisiParamScan;

static herr_t DaisiParamScanOne(hid_t obj, const char *name, const H5A_info_t *info, void *ctx)
{
  DaisiParamScan *scan = (DaisiParamScan *)ctx;
  hid_t           attr, type;
  PetscBool       isfloat;

  (void)info;
  if (scan->extra[0]) return 0;
  for (const char *const *s = scan->skip; s && *s; s++)
    if (!strcmp(*s, name)) return 0;
  for (PetscInt i = 0; i < scan->params->n; i++)
    if (!strcmp(scan->params->name[i], name)) return 0;
  attr = H5Aopen(obj, name, H5P_DEFAULT);
  if (attr < 0) return -1;
  type    = H5Aget_type(attr);
  isfloat = (type >= 0 && H5Tget_class(type) == H5T_FLOAT) ? PETSC_TRUE : PETSC_FALSE;
  DaisiH5Close(&type);
  DaisiH5Close(&attr);
  if (isfloat) (void)PetscStrncpy(scan->extra, name, sizeof(scan->extra));
  return 0;
}

PetscErrorCode DaisiH5CheckParams(MPI_Comm comm, hid_t obj, const DaisiNamedList *params, const char *const skip[], const char path[])
{
  DaisiParamScan scan;
  hsize_t        idx = 0;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < params->n; i++) {
    PetscReal v;
    PetscBool found;
    PetscCall(DaisiH5ReadAttrReal(comm, obj, params->name[i], &v, &found, path));
    PetscCheck(found, comm, PETSC_ERR_FILE_UNEXPECTED, "file %s: model parameter %s is missing (this run has %s = %.17g)", path, params->name[i], params->name[i], (double)params->real[i]);
    /* bit-for-bit: a restart must continue the very same run */
    PetscCheck(v == params->real[i] || (PetscIsNanReal(v) && PetscIsNanReal(params->real[i])), comm, PETSC_ERR_ARG_INCOMP, "file %s: model parameter %s = %.17g in the file but %.17g in this run", path, params->name[i], (double)v, (double)params->real[i]);
  }
  scan.params   = params;
  scan.skip     = skip;
  scan.extra[0] = 0;
  DaisiH5Check(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, DaisiParamScanOne, &scan), comm, "file %s: cannot list the attributes", path);
  PetscCheck(!scan.extra[0], comm, PETSC_ERR_ARG_INCOMP, "file %s has model parameter %s which this run does not have", path, scan.extra);
  PetscFunctionReturn(PETSC_SUCCESS);
}
