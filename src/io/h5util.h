/* Private: helpers shared by the HDF5 writers and readers of src/io. Every helper names the
 * file (and object) in its error messages, because HDF5's own error stack is silenced. */
#ifndef DAISI_H5UTIL_H
#define DAISI_H5UTIL_H

#include <daisi/sys.h>
#include <hdf5.h>

/* Turns a failed HDF5 call (negative hid_t or herr_t) into a PETSc error with our message,
 * followed by HDF5's reason (DaisiH5ErrorReason). */
#define DaisiH5Check(status, comm, ...) \
  do { \
    if (PetscUnlikely((status) < 0)) { \
      char daisi_h5msg_[2 * PETSC_MAX_PATH_LEN], daisi_h5why_[512]; \
      DaisiH5ErrorReason(daisi_h5why_, sizeof(daisi_h5why_)); \
      PetscCall(PetscSNPrintf(daisi_h5msg_, sizeof(daisi_h5msg_), __VA_ARGS__)); \
      SETERRQ(comm, PETSC_ERR_LIB, "%s: %s", daisi_h5msg_, daisi_h5why_); \
    } \
  } while (0)

/* The innermost entry of HDF5's (silenced) error stack of this thread: the reason behind a
 * failed call, e.g. "unable to lock file, errno = 11, ..." for an H5Fopen; "no reason given by
 * HDF5" if the stack is empty. */
PETSC_INTERN void DaisiH5ErrorReason(char buf[], size_t len);

/* closes an id if it is open and marks it closed, so that cleanup after errors is safe; HDF5's
 * error stack is kept, so a failure's reason survives the cleanup between call and check */
PETSC_INTERN void DaisiH5Close(hid_t *id);

/* log events of the io subsystem (registered on first use) */
PETSC_INTERN PetscLogEvent DAISI_StateFileWrite, DAISI_StateFileRead, DAISI_CheckpointWrite, DAISI_CheckpointRead, DAISI_DiagFileWrite;
PETSC_INTERN PetscErrorCode DaisiIOInitializePackage(void);

/* File access through MPI-IO on comm, and a collective transfer list. */
PETSC_INTERN PetscErrorCode DaisiH5CreateFileAccess(MPI_Comm comm, hid_t *fapl);
PETSC_INTERN PetscErrorCode DaisiH5CreateCollectiveTransfer(MPI_Comm comm, hid_t *dxpl);
/* File creation list for netCDF-4 readable, reproducible files: creation order of links and
 * attributes tracked and indexed, no object modification times. */
PETSC_INTERN PetscErrorCode DaisiH5CreateFileCreation(MPI_Comm comm, hid_t *fcpl);

/* Creates (truncating) or opens a file collectively. Opening checks first, on rank 0, that the
 * file exists and is HDF5, so that a missing or foreign file gets a clear message. */
PETSC_INTERN PetscErrorCode DaisiH5FileCreate(MPI_Comm comm, const char path[], hid_t *file);
PETSC_INTERN PetscErrorCode DaisiH5FileOpen(MPI_Comm comm, const char path[], PetscBool write, hid_t *file);

/* Scalar attributes on obj; `where` names file/object in messages. */
PETSC_INTERN PetscErrorCode DaisiH5WriteAttrReal(MPI_Comm comm, hid_t obj, const char name[], PetscReal value, const char where[]);
PETSC_INTERN PetscErrorCode DaisiH5WriteAttrInt64(MPI_Comm comm, hid_t obj, const char name[], PetscInt64 value, const char where[]);
PETSC_INTERN PetscErrorCode DaisiH5WriteAttrString(MPI_Comm comm, hid_t obj, const char name[], const char value[], const char where[]);
/* Reading: *found is false (and nothing is read) if the attribute does not exist. */
PETSC_INTERN PetscErrorCode DaisiH5ReadAttrReal(MPI_Comm comm, hid_t obj, const char name[], PetscReal *value, PetscBool *found, const char where[]);
PETSC_INTERN PetscErrorCode DaisiH5ReadAttrInt64(MPI_Comm comm, hid_t obj, const char name[], PetscInt64 *value, PetscBool *found, const char where[]);
PETSC_INTERN PetscErrorCode DaisiH5ReadAttrString(MPI_Comm comm, hid_t obj, const char name[], char value[], size_t len, PetscBool *found, const char where[]);

/* Opens dataset `name` and returns its shape; errors name the file if it is missing. */
PETSC_INTERN PetscErrorCode DaisiH5OpenDataset(MPI_Comm comm, hid_t file, const char name[], const char path[], hid_t *dset, int *rank, hsize_t dims[], int maxrank);

/* "5x2x32x32" */
PETSC_INTERN PetscErrorCode DaisiH5ShapeString(int rank, const hsize_t dims[], char buf[], size_t len);

/* A list of named values of one kind (model parameters, counters, string attributes) kept
 * by an object until it writes them; setting an existing name replaces its value. */
typedef enum {
  DAISI_NAMED_REAL,
  DAISI_NAMED_INT64,
  DAISI_NAMED_STRING
} DaisiNamedKind;
typedef struct {
  DaisiNamedKind kind;
  PetscInt       n;
  char         **name;
  PetscReal     *real;
  PetscInt64    *int64;
  char         **string;
} DaisiNamedList;
PETSC_INTERN PetscErrorCode DaisiNamedListSetReal(DaisiNamedList *l, const char name[], PetscReal v);
PETSC_INTERN PetscErrorCode DaisiNamedListSetInt64(DaisiNamedList *l, const char name[], PetscInt64 v);
PETSC_INTERN PetscErrorCode DaisiNamedListSetString(DaisiNamedList *l, const char name[], const char v[]);
PETSC_INTERN PetscErrorCode DaisiNamedListFind(const DaisiNamedList *l, const char name[], PetscInt *index);
PETSC_INTERN PetscErrorCode DaisiNamedListDestroy(DaisiNamedList *l);

/* Checks, in the caller's order, that every parameter is in the file's group/object `obj`
 * with the same value (bit for bit), then that the file has no parameter the caller lacks
 * (only attributes of type double are counted). `skip` lists attribute names that are not
 * parameters (NULL-terminated). */
PETSC_INTERN PetscErrorCode DaisiH5CheckParams(MPI_Comm comm, hid_t obj, const DaisiNamedList *params, const char *const skip[], const char path[]);

#endif
