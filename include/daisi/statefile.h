/* DaisiStateFile: model states on the grid in a netCDF-4 compatible HDF5 file (nature runs,
 * initial conditions, ensembles), written and read collectively through parallel HDF5.
 * Layout (docs/file-formats.md): dataset theta(time, level, y, x) in K, float64, or
 * theta(time, member, level, y, x) for an ensemble file; coordinate variables time (s),
 * [member,] level, y, x (m) attached as dimension scales; every model parameter and any
 * string (model type, ...) as global attributes.
 *
 * Writing, collective over comm:
 *   DaisiStateFileCreate(comm, &f);  DaisiStateFileSetGrid(f, &grid);
 *   DaisiStateFileSetNumTimes(f, ntime);  [DaisiStateFileSetNumMembers(f, nmember);]
 *   DaisiStateFileSetParams(f, nparam, params);  DaisiStateFileSetString(f, "model", "sqg");
 *   DaisiStateFileOpen(f, path, DAISI_FILE_WRITE);
 *   for k: DaisiStateFileWrite(f, k, t, x);        (or ...WriteMember(f, k, member, t, x))
 *   DaisiStateFileClose(f);     -> the file appears under `path`, complete
 *   DaisiStateFileDestroy(&f);
 * Until Close the data go to the partial file "<path>.partial" (DaisiStateFilePartialName).
 * A failed run calls DaisiStateFileDiscard() to remove it. A run that stops to be restarted
 * calls DaisiStateFileFlush() before writing its checkpoint and then just destroys the object:
 * the restarted run opens with DAISI_FILE_APPEND (same grid, sizes and parameters, which are
 * checked) and continues writing into the same partial file. Since all space is allocated when
 * the file is created, the restarted run's final file equals an uninterrupted run's bit for bit.
 *
 * Reading: DaisiStateFileOpen(f, path, DAISI_FILE_READ) checks the file; set the grid (before
 * or after opening) to give the local slab and the expected shape; DaisiStateFileRead(f, k,
 * &t, x) with k < 0 counting from the end (-1 = last time). */
#ifndef DAISI_STATEFILE_H
#define DAISI_STATEFILE_H

#include <daisi/sys.h>
#include <daisi/grid.h>
#include <daisi/model.h>
#include <petscviewer.h>

typedef struct _p_DaisiStateFile *DaisiStateFile;

typedef enum {
  DAISI_FILE_READ,  /* existing complete file */
  DAISI_FILE_WRITE, /* new file: written to "<path>.partial", renamed by Close */
  DAISI_FILE_APPEND /* continue writing an existing "<path>.partial" after a restart */
} DaisiFileMode;

PETSC_EXTERN PetscErrorCode DaisiStateFileCreate(MPI_Comm comm, DaisiStateFile *f);
/* Writing: the shape to write and this rank's slab. Reading: this rank's slab and the expected
 * shape (nlev, ny, nx), checked against the file. */
PETSC_EXTERN PetscErrorCode DaisiStateFileSetGrid(DaisiStateFile f, const DaisiGrid *grid);
PETSC_EXTERN PetscErrorCode DaisiStateFileSetNumTimes(DaisiStateFile f, PetscInt ntime);
/* 0 (default): state file (time, level, y, x); > 0: ensemble file (time, member, level, y, x) */
PETSC_EXTERN PetscErrorCode DaisiStateFileSetNumMembers(DaisiStateFile f, PetscInt nmember);
/* Model parameters, written as global double attributes (APPEND: checked bit for bit). */
PETSC_EXTERN PetscErrorCode DaisiStateFileSetParams(DaisiStateFile f, PetscInt n, const DaisiModelParam params[]);
/* A global text attribute such as the model type (APPEND: checked). */
PETSC_EXTERN PetscErrorCode DaisiStateFileSetString(DaisiStateFile f, const char name[], const char value[]);
PETSC_EXTERN PetscErrorCode DaisiStateFileOpen(DaisiStateFile f, const char path[], DaisiFileMode mode);

/* Writes time index k: the time t (s) and this rank's slab (DaisiGridLocalSize values in the
 * DaisiGrid layout). Collective; ranks holding no rows take part. NaN/Inf are refused. */
PETSC_EXTERN PetscErrorCode DaisiStateFileWrite(DaisiStateFile f, PetscInt k, PetscReal t, const PetscReal x[]);
PETSC_EXTERN PetscErrorCode DaisiStateFileWriteMember(DaisiStateFile f, PetscInt k, PetscInt member, PetscReal t, const PetscReal x[]);
/* Makes everything written so far durable (call before writing a checkpoint). */
PETSC_EXTERN PetscErrorCode DaisiStateFileFlush(DaisiStateFile f);

/* Reads time index k (k < 0: ntime + k) into this rank's slab; t (may be NULL) gets its time.
 * Errors name the file and time index if the values are not finite. */
PETSC_EXTERN PetscErrorCode DaisiStateFileRead(DaisiStateFile f, PetscInt k, PetscReal *t, PetscReal x[]);
PETSC_EXTERN PetscErrorCode DaisiStateFileReadMember(DaisiStateFile f, PetscInt k, PetscInt member, PetscReal *t, PetscReal x[]);
PETSC_EXTERN PetscErrorCode DaisiStateFileReadTime(DaisiStateFile f, PetscInt k, PetscReal *t);
/* Shape of the open file. */
PETSC_EXTERN PetscErrorCode DaisiStateFileGetSizes(DaisiStateFile f, PetscInt *ntime, PetscInt *nmember, PetscInt *nlev, PetscInt *ny, PetscInt *nx);
/* Attributes of the open file; *found = PETSC_FALSE if absent (found may be NULL: then absent is an error). */
PETSC_EXTERN PetscErrorCode DaisiStateFileGetParam(DaisiStateFile f, const char name[], PetscReal *value, PetscBool *found);
PETSC_EXTERN PetscErrorCode DaisiStateFileGetString(DaisiStateFile f, const char name[], char value[], size_t len, PetscBool *found);

/* Write/append: flush, close, rename the partial file to the final name. Read: close. */
PETSC_EXTERN PetscErrorCode DaisiStateFileClose(DaisiStateFile f);
/* Write/append: close and remove the partial file (after a failure). Read: close. */
PETSC_EXTERN PetscErrorCode DaisiStateFileDiscard(DaisiStateFile f);
PETSC_EXTERN PetscErrorCode DaisiStateFileView(DaisiStateFile f, PetscViewer viewer);
/* Closes the HDF5 file if still open; a partial file is kept for a restart. */
PETSC_EXTERN PetscErrorCode DaisiStateFileDestroy(DaisiStateFile *f);

/* Shape of a state file before any model exists: nlev, ny, nx, Lx, Ly of grid are filled
 * (y0 = 0, nyl = ny, dt = 0); ntime and nmember may be NULL. Collective. */
PETSC_EXTERN PetscErrorCode DaisiStateFileQuery(MPI_Comm comm, const char path[], DaisiGrid *grid, PetscInt *ntime, PetscInt *nmember);

/* Reads time index k (k < 0 from the end, -1 = last) of a state file into this rank's slab of
 * grid, checking the shape and the values: the initial-condition reader (-sqg_ic FILE). t may
 * be NULL. Collective. */
PETSC_EXTERN PetscErrorCode DaisiStateFileLoad(MPI_Comm comm, const char path[], const DaisiGrid *grid, PetscInt k, PetscReal *t, PetscReal x[]);

/* The temporary name of a restartable output, derived from the final name alone
 * ("<path>.partial"), so that a restarted run finds the file its predecessor was writing. */
PETSC_EXTERN PetscErrorCode DaisiStateFilePartialName(MPI_Comm comm, const char path[], DaisiOutputName *out);

#endif
