/* DaisiObsFile: the observations of many cycles in one netCDF-4 compatible HDF5 file
 * (layout in docs/observations.md): per cycle the values, sites (level, iy, ix), sigma and
 * time; as global attributes the operator and its parameter, the grid (nlev, ny, nx), the
 * scenario and the truth file's name.
 *
 * Writing (collective over comm; every rank passes the same sets; rank 0 writes the file,
 * under "<path>.tmp.<pid>" until DaisiObsFileClose renames it):
 *   DaisiObsFileCreate(comm, &f);  DaisiObsFileSetGrid(f, &grid);
 *   DaisiObsFileSetSizes(f, ncycle, nobs);  DaisiObsFileSetOperator(f, op);
 *   DaisiObsFileSetString(f, "scenario", "sparse");  DaisiObsFileSetReal(f, "obs_fraction", 0.05);
 *   DaisiObsFileOpen(f, path, DAISI_FILE_WRITE);
 *   for k < ncycle: DaisiObsFileWrite(f, k, &set);   (set.cycle, set.time are stored)
 *   DaisiObsFileClose(f);  (or DaisiObsFileDiscard(f) after a failure)  DaisiObsFileDestroy(&f);
 * A NaN value marks a missing observation; sites must lie in the grid and sigma be > 0.
 *
 * Reading (collective; rank 0 reads and broadcasts, every rank gets the whole set):
 *   DaisiObsFileCreate(comm, &f);  [DaisiObsFileSetGrid(f, &grid);  (checked against the file)]
 *   DaisiObsFileOpen(f, path, DAISI_FILE_READ);
 *   DaisiObsFileRead(f, cycle, &set, &nskipped);  ...  DaisiObsSetDestroy(&set);
 *   DaisiObsFileClose(f);  DaisiObsFileDestroy(&f);
 * Reading checks, with errors naming the file (and cycle, observation): the grid, sites inside
 * the grid, sigma > 0 and finite, values not infinite, the cycle present. Observations whose
 * value is NaN (missing) are skipped; their number is returned and reported once per cycle
 * as a warning on stderr (docs/observations.md). */
#ifndef DAISI_OBSFILE_H
#define DAISI_OBSFILE_H

#include <daisi/obs.h>
#include <daisi/statefile.h>

typedef struct _p_DaisiObsFile *DaisiObsFile;

PETSC_EXTERN PetscErrorCode DaisiObsFileCreate(MPI_Comm comm, DaisiObsFile *f);
/* Writing: the grid stored in the file. Reading: the model's grid, checked against the file.
 * Only nlev, ny, nx are used. */
PETSC_EXTERN PetscErrorCode DaisiObsFileSetGrid(DaisiObsFile f, const DaisiGrid *grid);
/* Writing: number of cycles and of observations per cycle (>= 1 each). */
PETSC_EXTERN PetscErrorCode DaisiObsFileSetSizes(DaisiObsFile f, PetscInt ncycle, PetscInt nobs);
/* Writing: the operator's type and parameter become attributes obs_operator, obs_squared_scale. */
PETSC_EXTERN PetscErrorCode DaisiObsFileSetOperator(DaisiObsFile f, DaisiObsOperator op);
/* Writing: further global attributes (text or float64). */
PETSC_EXTERN PetscErrorCode DaisiObsFileSetString(DaisiObsFile f, const char name[], const char value[]);
PETSC_EXTERN PetscErrorCode DaisiObsFileSetReal(DaisiObsFile f, const char name[], PetscReal value);
PETSC_EXTERN PetscErrorCode DaisiObsFileOpen(DaisiObsFile f, const char path[], DaisiFileMode mode);

/* Writes set as cycle index k (0 <= k < ncycle) of the file. Collective. */
PETSC_EXTERN PetscErrorCode DaisiObsFileWrite(DaisiObsFile f, PetscInt k, const DaisiObsSet *set);

/* Reads the observations of cycle number `cycle` (as stored with the set, 1 = the first
 * observed cycle) into a new set (destroy with DaisiObsSetDestroy); nskipped (may be NULL)
 * gets the number of NaN values skipped. */
PETSC_EXTERN PetscErrorCode DaisiObsFileRead(DaisiObsFile f, PetscInt cycle, DaisiObsSet *set, PetscInt *nskipped);
/* The file's sizes and grid (after opening). */
PETSC_EXTERN PetscErrorCode DaisiObsFileGetSizes(DaisiObsFile f, PetscInt *ncycle, PetscInt *nobs, PetscInt *nlev, PetscInt *ny, PetscInt *nx);
/* Cycle number and time of cycle index k of the open file. */
PETSC_EXTERN PetscErrorCode DaisiObsFileGetCycle(DaisiObsFile f, PetscInt k, PetscInt *cycle, PetscReal *time);
/* Global attributes of the open file; *found = PETSC_FALSE if absent (found NULL: error). */
PETSC_EXTERN PetscErrorCode DaisiObsFileGetString(DaisiObsFile f, const char name[], char value[], size_t len, PetscBool *found);
PETSC_EXTERN PetscErrorCode DaisiObsFileGetReal(DaisiObsFile f, const char name[], PetscReal *value, PetscBool *found);

/* Write: close and rename to the final name. Read: close. */
PETSC_EXTERN PetscErrorCode DaisiObsFileClose(DaisiObsFile f);
/* Write: close and remove the temporary file. Read: close. */
PETSC_EXTERN PetscErrorCode DaisiObsFileDiscard(DaisiObsFile f);
PETSC_EXTERN PetscErrorCode DaisiObsFileView(DaisiObsFile f, PetscViewer viewer);
/* Discards an unfinished written file. */
PETSC_EXTERN PetscErrorCode DaisiObsFileDestroy(DaisiObsFile *f);

/* Log events around observation file I/O. */
PETSC_EXTERN PetscLogEvent DAISI_ObsFileWrite, DAISI_ObsFileRead;

#endif
