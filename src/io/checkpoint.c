/* Checkpoints: a batch of native model states plus the run's counters, written atomically.
 * The layout is documented in docs/file-formats.md; keep the two in step. */
#include <daisi/checkpoint.h>
#include "h5util.h"

#define DAISI_NATIVE_VAR  "native"
#define DAISI_PARAM_GROUP "parameters"

struct _p_DaisiCheckpoint {
  MPI_Comm          comm;
  DaisiNativeLayout layout;
  PetscInt          nmember;
  PetscBool         haslayout;
  PetscInt          nmine, *mine; /* the members whose rows this rank holds (default: all) */
  DaisiNamedList    params, strings, ints, reals;
  char              path[PETSC_MAX_PATH_LEN]; /* last file read or written, for messages */
};

/* root attributes written by DAISI itself */
static const char *const ckpt_reserved[] = {"daisi_file", "daisi_version", NULL};

PetscErrorCode DaisiCheckpointCreate(MPI_Comm comm, DaisiCheckpoint *c)
{
  DaisiCheckpoint k;

  PetscFunctionBegin;
  PetscCall(DaisiIOInitializePackage());
  PetscCall(PetscNew(&k));
  k->comm         = comm;
  k->params.kind  = DAISI_NAMED_REAL;
  k->reals.kind   = DAISI_NAMED_REAL;
  k->ints.kind    = DAISI_NAMED_INT64;
  k->strings.kind = DAISI_NAMED_STRING;
  *c              = k;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointSetLayout(DaisiCheckpoint c, const DaisiNativeLayout *layout, PetscInt nmember)
{
  PetscFunctionBegin;
  PetscCheck(layout->nrows > 0 && layout->rowlen > 0 && nmember > 0, c->comm, PETSC_ERR_ARG_OUTOFRANGE, "checkpoint: layout %" PetscInt_FMT " members x %" PetscInt_FMT " rows x %" PetscInt_FMT " must have positive sizes", nmember, layout->nrows, layout->rowlen);
  PetscCheck(layout->row0 >= 0 && layout->nrowl >= 0 && layout->row0 + layout->nrowl <= layout->nrows, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "checkpoint: rows [%" PetscInt_FMT ", %" PetscInt_FMT ") outside 0..%" PetscInt_FMT, layout->row0, layout->row0 + layout->nrowl, layout->nrows);
  c->layout    = *layout;
  c->nmember   = nmember;
  c->haslayout = PETSC_TRUE;
  PetscCall(PetscFree(c->mine));
  PetscCall(PetscMalloc1(nmember, &c->mine));
  for (PetscInt b = 0; b < nmember; b++) c->mine[b] = b;
  c->nmine = nmember;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointSetMembers(DaisiCheckpoint c, PetscInt n, const PetscInt members[])
{
  PetscFunctionBegin;
  PetscCheck(c->haslayout, c->comm, PETSC_ERR_ORDER, "checkpoint: set the layout before the members");
  PetscCheck(n >= 0 && n <= c->nmember, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "checkpoint: %" PetscInt_FMT " members held on a rank, the file has %" PetscInt_FMT, n, c->nmember);
  for (PetscInt b = 0; b < n; b++) PetscCheck(members[b] >= 0 && members[b] < c->nmember, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "checkpoint: member %" PetscInt_FMT " outside 0..%" PetscInt_FMT, members[b], c->nmember - 1);
  PetscCall(PetscFree(c->mine));
  PetscCall(PetscMalloc1(n + 1, &c->mine));
  PetscCall(PetscArraycpy(c->mine, members, n));
  c->nmine = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective transfers go member by member; ranks that hold fewer members than others take
 * part in the extra rounds with empty selections. */
static PetscErrorCode DaisiCheckpointRounds(DaisiCheckpoint c, PetscInt *rounds)
{
  PetscFunctionBegin;
  PetscCall(MPIU_Allreduce(&c->nmine, rounds, 1, MPIU_INT, MPI_MAX, c->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the root group holds counters, reals and strings side by side: one name, one meaning */
static PetscErrorCode DaisiCheckpointCheckName(DaisiCheckpoint c, const char name[], const DaisiNamedList *own)
{
  const DaisiNamedList *lists[] = {&c->strings, &c->ints, &c->reals};

  PetscFunctionBegin;
  for (const char *const *r = ckpt_reserved; *r; r++) {
    PetscBool same;
    PetscCall(PetscStrcmp(*r, name, &same));
    PetscCheck(!same, c->comm, PETSC_ERR_ARG_WRONG, "checkpoint: attribute name %s is reserved by DAISI", name);
  }
  for (int i = 0; i < 3; i++) {
    PetscInt j;
    if (lists[i] == own) continue;
    PetscCall(DaisiNamedListFind(lists[i], name, &j));
    PetscCheck(j < 0, c->comm, PETSC_ERR_ARG_WRONG, "checkpoint: %s is already used for a value of another kind", name);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointSetParams(DaisiCheckpoint c, PetscInt n, const DaisiModelParam params[])
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < n; i++) PetscCall(DaisiNamedListSetReal(&c->params, params[i].name, params[i].value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointSetString(DaisiCheckpoint c, const char name[], const char value[])
{
  PetscFunctionBegin;
  PetscCall(DaisiCheckpointCheckName(c, name, &c->strings));
  PetscCall(DaisiNamedListSetString(&c->strings, name, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointSetInt(DaisiCheckpoint c, const char name[], PetscInt64 value)
{
  PetscFunctionBegin;
  PetscCall(DaisiCheckpointCheckName(c, name, &c->ints));
  PetscCall(DaisiNamedListSetInt64(&c->ints, name, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointSetReal(DaisiCheckpoint c, const char name[], PetscReal value)
{
  PetscFunctionBegin;
  PetscCall(DaisiCheckpointCheckName(c, name, &c->reals));
  PetscCall(DaisiNamedListSetReal(&c->reals, name, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointGetInt(DaisiCheckpoint c, const char name[], PetscInt64 *value)
{
  PetscInt i;

  PetscFunctionBegin;
  PetscCall(DaisiNamedListFind(&c->ints, name, &i));
  PetscCheck(i >= 0, c->comm, PETSC_ERR_ARG_WRONG, "checkpoint %s has no integer %s", c->path[0] ? c->path : "(not read)", name);
  *value = c->ints.int64[i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointGetReal(DaisiCheckpoint c, const char name[], PetscReal *value)
{
  PetscInt i;

  PetscFunctionBegin;
  PetscCall(DaisiNamedListFind(&c->reals, name, &i));
  PetscCheck(i >= 0, c->comm, PETSC_ERR_ARG_WRONG, "checkpoint %s has no real %s", c->path[0] ? c->path : "(not read)", name);
  *value = c->reals.real[i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* this rank's rows of its b-th member in the file (none if b >= its count), and the matching
 * memory space */
static PetscErrorCode DaisiCheckpointSelect(DaisiCheckpoint c, hid_t dset, PetscInt b, hid_t *mspace, hid_t *fspace)
{
  const DaisiNativeLayout *l        = &c->layout;
  hsize_t                  start[3] = {(hsize_t)(b < c->nmine ? c->mine[b] : 0), (hsize_t)l->row0, 0};
  hsize_t                  count[3] = {1, (hsize_t)l->nrowl, (hsize_t)l->rowlen};
  hsize_t                  mdims[2] = {(hsize_t)PetscMax(l->nrowl, 1), (hsize_t)l->rowlen};

  PetscFunctionBegin;
  *mspace = H5Screate_simple(2, mdims, NULL);
  *fspace = H5Dget_space(dset);
  DaisiH5Check(*mspace < 0 || *fspace < 0 ? -1 : 0, c->comm, "checkpoint %s: cannot create dataspaces", c->path);
  if (l->nrowl > 0 && b < c->nmine) DaisiH5Check(H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, start, NULL, count, NULL), c->comm, "checkpoint %s: cannot select member %" PetscInt_FMT " rows [%" PetscInt_FMT ", %" PetscInt_FMT ")", c->path, c->mine[b], l->row0, l->row0 + l->nrowl);
  else {
    H5Sselect_none(*mspace);
    H5Sselect_none(*fspace);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* all of the file's content; ids are left for the caller to close, also on error */
static PetscErrorCode DaisiCheckpointWriteContent(DaisiCheckpoint c, hid_t file, hid_t *group, hid_t *dset, hid_t *dxpl, const PetscReal *const x[])
{
  hsize_t  shape[3] = {(hsize_t)c->nmember, (hsize_t)c->layout.nrows, (hsize_t)c->layout.rowlen};
  hid_t    space, plist;
  PetscInt rounds;

  PetscFunctionBegin;
  PetscCall(DaisiH5WriteAttrString(c->comm, file, "daisi_file", "checkpoint", c->path));
  PetscCall(DaisiH5WriteAttrString(c->comm, file, "daisi_version", DAISI_VERSION, c->path));
  for (PetscInt i = 0; i < c->strings.n; i++) PetscCall(DaisiH5WriteAttrString(c->comm, file, c->strings.name[i], c->strings.string[i], c->path));
  for (PetscInt i = 0; i < c->ints.n; i++) PetscCall(DaisiH5WriteAttrInt64(c->comm, file, c->ints.name[i], c->ints.int64[i], c->path));
  for (PetscInt i = 0; i < c->reals.n; i++) PetscCall(DaisiH5WriteAttrReal(c->comm, file, c->reals.name[i], c->reals.real[i], c->path));

  plist = H5Pcreate(H5P_GROUP_CREATE);
  DaisiH5Check(plist, c->comm, "HDF5: cannot create a group creation property list");
  (void)H5Pset_attr_creation_order(plist, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  (void)H5Pset_obj_track_times(plist, 0);
  *group = H5Gcreate2(file, DAISI_PARAM_GROUP, H5P_DEFAULT, plist, H5P_DEFAULT);
  DaisiH5Close(&plist);
  DaisiH5Check(*group, c->comm, "checkpoint %s: cannot create group " DAISI_PARAM_GROUP, c->path);
  for (PetscInt i = 0; i < c->params.n; i++) PetscCall(DaisiH5WriteAttrReal(c->comm, *group, c->params.name[i], c->params.real[i], c->path));

  plist = H5Pcreate(H5P_DATASET_CREATE);
  DaisiH5Check(plist, c->comm, "HDF5: cannot create a dataset creation property list");
  (void)H5Pset_obj_track_times(plist, 0);
  (void)H5Pset_alloc_time(plist, H5D_ALLOC_TIME_EARLY);
  (void)H5Pset_fill_time(plist, H5D_FILL_TIME_NEVER); /* every value is written right away */
  space = H5Screate_simple(3, shape, NULL);
  *dset = space >= 0 ? H5Dcreate2(file, DAISI_NATIVE_VAR, H5T_IEEE_F64LE, space, H5P_DEFAULT, plist, H5P_DEFAULT) : H5I_INVALID_HID;
  DaisiH5Close(&space);
  DaisiH5Close(&plist);
  DaisiH5Check(*dset, c->comm, "checkpoint %s: cannot create dataset " DAISI_NATIVE_VAR " of %llux%llux%llu", c->path, (unsigned long long)shape[0], (unsigned long long)shape[1], (unsigned long long)shape[2]);
  PetscCall(DaisiH5CreateCollectiveTransfer(c->comm, dxpl));
  PetscCall(DaisiCheckpointRounds(c, &rounds));
  for (PetscInt b = 0; b < rounds; b++) {
    hid_t  mspace, fspace;
    herr_t status;
    PetscCall(DaisiCheckpointSelect(c, *dset, b, &mspace, &fspace));
    status = H5Dwrite(*dset, H5T_NATIVE_DOUBLE, mspace, fspace, *dxpl, b < c->nmine ? x[b] : NULL);
    DaisiH5Close(&mspace);
    DaisiH5Close(&fspace);
    DaisiH5Check(status, c->comm, "checkpoint %s: cannot write member %" PetscInt_FMT, c->path, b < c->nmine ? c->mine[b] : -1);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointWrite(DaisiCheckpoint c, const char path[], const PetscReal *const x[])
{
  DaisiOutputName out;
  hid_t           file = H5I_INVALID_HID, group = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  PetscErrorCode  ierr;
  herr_t          status;
  PetscInt        nlocal;

  PetscFunctionBegin;
  PetscCheck(c->haslayout, c->comm, PETSC_ERR_ORDER, "checkpoint %s: set the layout before writing", path);
  PetscCall(DaisiOutputNameInit(c->comm, path, &out));
  PetscCall(PetscStrncpy(c->path, path, sizeof(c->path)));
  nlocal = c->layout.nrowl * c->layout.rowlen;
  { /* a diverged state is reported, never saved */
    PetscInt bad = -1, worst;
    for (PetscInt b = 0; b < c->nmine && bad < 0; b++)
      for (PetscInt i = 0; i < nlocal; i++)
        if (PetscIsInfOrNanReal(x[b][i])) {
          bad = c->mine[b];
          break;
        }
    PetscCall(MPIU_Allreduce(&bad, &worst, 1, MPIU_INT, MPI_MAX, c->comm));
    PetscCheck(worst < 0, c->comm, PETSC_ERR_FP, "checkpoint %s: native state of member %" PetscInt_FMT " contains NaN or Inf (nothing was written)", path, worst);
  }
  PetscCall(PetscLogEventBegin(DAISI_CheckpointWrite, 0, 0, 0, 0));
  ierr = DaisiH5FileCreate(c->comm, out.tmp, &file);
  if (!ierr) ierr = DaisiCheckpointWriteContent(c, file, &group, &dset, &dxpl, x);
  DaisiH5Close(&dxpl);
  DaisiH5Close(&dset);
  DaisiH5Close(&group);
  status = file >= 0 ? H5Fclose(file) : 0;
  if (!ierr && status < 0) ierr = PetscError(c->comm, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_LIB, PETSC_ERROR_INITIAL, "checkpoint %s: cannot close %s (disk full?)", path, out.tmp);
  if (!ierr) ierr = DaisiOutputNameCommit(&out);
  if (ierr) (void)DaisiOutputNameDiscard(&out); /* the previous checkpoint, if any, stays intact */
  PetscCall(PetscLogEventEnd(DAISI_CheckpointWrite, 0, 0, 0, 0));
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* every integer and real attribute of the root group, for the getters */
static PetscErrorCode DaisiCheckpointReadCounters(DaisiCheckpoint c, hid_t file)
{
  H5O_info_t info;

  PetscFunctionBegin;
  DaisiH5Check(H5Oget_info2(file, &info, H5O_INFO_NUM_ATTRS), c->comm, "checkpoint %s: cannot list the attributes", c->path);
  PetscCall(DaisiNamedListDestroy(&c->ints));
  PetscCall(DaisiNamedListDestroy(&c->reals));
  for (hsize_t i = 0; i < info.num_attrs; i++) {
    char        name[256];
    hid_t       attr = H5Aopen_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
    hid_t       type = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
    H5T_class_t cls  = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    ssize_t     len  = attr >= 0 ? H5Aget_name(attr, sizeof(name), name) : -1;
    PetscBool   found;
    DaisiH5Close(&type);
    DaisiH5Close(&attr);
    DaisiH5Check(len < 0 || len >= (ssize_t)sizeof(name) ? -1 : 0, c->comm, "checkpoint %s: cannot read the name of attribute %llu", c->path, (unsigned long long)i);
    if (cls == H5T_INTEGER) {
      PetscInt64 v;
      PetscCall(DaisiH5ReadAttrInt64(c->comm, file, name, &v, &found, c->path));
      PetscCall(DaisiNamedListSetInt64(&c->ints, name, v));
    } else if (cls == H5T_FLOAT) {
      PetscReal v;
      PetscCall(DaisiH5ReadAttrReal(c->comm, file, name, &v, &found, c->path));
      PetscCall(DaisiNamedListSetReal(&c->reals, name, v));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiCheckpointReadContent(DaisiCheckpoint c, hid_t file, hid_t *group, hid_t *dset, hid_t *dxpl, PetscReal *const x[])
{
  hsize_t  dims[3];
  int      rank;
  PetscInt rounds;
  char      shape[128], kind[64];
  PetscBool has;
  htri_t    exists;

  PetscFunctionBegin;
  PetscCall(DaisiH5ReadAttrString(c->comm, file, "daisi_file", kind, sizeof(kind), &has, c->path));
  PetscCheck(has && !strcmp(kind, "checkpoint"), c->comm, PETSC_ERR_FILE_UNEXPECTED, "file %s is not a DAISI checkpoint (attribute daisi_file is %s)", c->path, has ? kind : "missing");
  PetscCall(DaisiH5OpenDataset(c->comm, file, DAISI_NATIVE_VAR, c->path, dset, &rank, dims, 3));
  PetscCall(DaisiH5ShapeString(rank, dims, shape, sizeof(shape)));
  PetscCheck(rank == 3 && dims[0] == (hsize_t)c->nmember && dims[1] == (hsize_t)c->layout.nrows && dims[2] == (hsize_t)c->layout.rowlen, c->comm, PETSC_ERR_FILE_UNEXPECTED,
             "checkpoint %s: dataset " DAISI_NATIVE_VAR " has shape %s, expected %" PetscInt_FMT "x%" PetscInt_FMT "x%" PetscInt_FMT " (members x native rows x row length)", c->path, shape, c->nmember, c->layout.nrows, c->layout.rowlen);
  for (PetscInt i = 0; i < c->strings.n; i++) {
    char      value[PETSC_MAX_PATH_LEN];
    PetscBool found, same = PETSC_FALSE;
    PetscCall(DaisiH5ReadAttrString(c->comm, file, c->strings.name[i], value, sizeof(value), &found, c->path));
    if (found) PetscCall(PetscStrcmp(value, c->strings.string[i], &same));
    PetscCheck(same, c->comm, PETSC_ERR_ARG_INCOMP, "checkpoint %s: attribute %s is \"%s\" in the file, \"%s\" in this run", c->path, c->strings.name[i], found ? value : "(missing)", c->strings.string[i]);
  }
  exists = H5Lexists(file, DAISI_PARAM_GROUP, H5P_DEFAULT);
  PetscCheck(exists > 0, c->comm, PETSC_ERR_FILE_UNEXPECTED, "checkpoint %s has no group " DAISI_PARAM_GROUP, c->path);
  *group = H5Gopen2(file, DAISI_PARAM_GROUP, H5P_DEFAULT);
  DaisiH5Check(*group, c->comm, "checkpoint %s: cannot open group " DAISI_PARAM_GROUP, c->path);
  PetscCall(DaisiH5CheckParams(c->comm, *group, &c->params, NULL, c->path));
  PetscCall(DaisiCheckpointReadCounters(c, file));
  PetscCall(DaisiH5CreateCollectiveTransfer(c->comm, dxpl));
  PetscCall(DaisiCheckpointRounds(c, &rounds));
  for (PetscInt b = 0; b < rounds; b++) {
    hid_t  mspace, fspace;
    herr_t status;
    char   what[PETSC_MAX_PATH_LEN + 64];
    PetscCall(DaisiCheckpointSelect(c, *dset, b, &mspace, &fspace));
    status = H5Dread(*dset, H5T_NATIVE_DOUBLE, mspace, fspace, *dxpl, b < c->nmine ? x[b] : NULL);
    DaisiH5Close(&mspace);
    DaisiH5Close(&fspace);
    DaisiH5Check(status, c->comm, "checkpoint %s: cannot read member %" PetscInt_FMT, c->path, b < c->nmine ? c->mine[b] : -1);
    PetscCall(PetscSNPrintf(what, sizeof(what), "checkpoint %s: native state of member %" PetscInt_FMT, c->path, b < c->nmine ? c->mine[b] : b));
    PetscCall(DaisiCheckFinite(c->comm, b < c->nmine ? c->layout.nrowl * c->layout.rowlen : 0, b < c->nmine ? x[b] : NULL, what));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointRead(DaisiCheckpoint c, const char path[], PetscReal *const x[])
{
  hid_t          file = H5I_INVALID_HID, group = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCheck(c->haslayout, c->comm, PETSC_ERR_ORDER, "checkpoint %s: set the layout before reading", path);
  PetscCall(PetscStrncpy(c->path, path, sizeof(c->path)));
  PetscCall(PetscLogEventBegin(DAISI_CheckpointRead, 0, 0, 0, 0));
  ierr = DaisiH5FileOpen(c->comm, path, PETSC_FALSE, &file);
  if (!ierr) ierr = DaisiCheckpointReadContent(c, file, &group, &dset, &dxpl, x);
  DaisiH5Close(&dxpl);
  DaisiH5Close(&dset);
  DaisiH5Close(&group);
  DaisiH5Close(&file);
  PetscCall(PetscLogEventEnd(DAISI_CheckpointRead, 0, 0, 0, 0));
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointView(DaisiCheckpoint c, PetscViewer viewer)
{
  PetscBool iascii;

  PetscFunctionBegin;
  if (!viewer) PetscCall(PetscViewerASCIIGetStdout(c->comm, &viewer));
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &iascii));
  if (!iascii) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiCheckpoint: %s\n", c->path[0] ? c->path : "(no file yet)"));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (c->haslayout) PetscCall(PetscViewerASCIIPrintf(viewer, "%" PetscInt_FMT " members x %" PetscInt_FMT " native rows x %" PetscInt_FMT "\n", c->nmember, c->layout.nrows, c->layout.rowlen));
  for (PetscInt i = 0; i < c->strings.n; i++) PetscCall(PetscViewerASCIIPrintf(viewer, "%s = %s\n", c->strings.name[i], c->strings.string[i]));
  for (PetscInt i = 0; i < c->ints.n; i++) PetscCall(PetscViewerASCIIPrintf(viewer, "%s = %" PetscInt64_FMT "\n", c->ints.name[i], c->ints.int64[i]));
  for (PetscInt i = 0; i < c->reals.n; i++) PetscCall(PetscViewerASCIIPrintf(viewer, "%s = %.17g\n", c->reals.name[i], (double)c->reals.real[i]));
  PetscCall(PetscViewerASCIIPrintf(viewer, "%" PetscInt_FMT " model parameters\n", c->params.n));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckpointDestroy(DaisiCheckpoint *c)
{
  PetscFunctionBegin;
  if (!*c) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(DaisiNamedListDestroy(&(*c)->params));
  PetscCall(DaisiNamedListDestroy(&(*c)->strings));
  PetscCall(DaisiNamedListDestroy(&(*c)->ints));
  PetscCall(DaisiNamedListDestroy(&(*c)->reals));
  PetscCall(PetscFree((*c)->mine));
  PetscCall(PetscFree(*c));
  PetscFunctionReturn(PETSC_SUCCESS);
}
