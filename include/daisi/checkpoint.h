/* DaisiCheckpoint: a model's native state for a batch of members plus the run's counters, in
 * one HDF5 file written collectively and atomically (temporary name, then rename), from which
 * a run continues bit for bit on any number of ranks. Layout in docs/file-formats.md: dataset
 * native(member, row, col) float64, the caller's integers, reals and strings as attributes of
 * the root group, the model parameters as attributes of the group /parameters.
 *
 *   DaisiCheckpointCreate(comm, &c);
 *   DaisiCheckpointSetLayout(c, &layout, nmember);     (from DaisiModelGetNativeLayout)
 *   DaisiCheckpointSetParams(c, nparam, params);        (DaisiModelGetParams)
 *   DaisiCheckpointSetString(c, "model", "sqg");
 *   writing: DaisiCheckpointSetInt(c, "step", step); DaisiCheckpointSetReal(c, "time", t);
 *            DaisiCheckpointWrite(c, path, x);          x[b]: member b's local native rows
 *   reading: DaisiCheckpointRead(c, path, x);           checks layout, parameters, strings
 *            DaisiCheckpointGetInt(c, "step", &step); DaisiCheckpointGetReal(c, "time", &t);
 *   DaisiCheckpointDestroy(&c);
 * All calls are collective over comm. */
#ifndef DAISI_CHECKPOINT_H
#define DAISI_CHECKPOINT_H

#include <daisi/sys.h>
#include <daisi/model.h>
#include <petscviewer.h>

typedef struct _p_DaisiCheckpoint *DaisiCheckpoint;

PETSC_EXTERN PetscErrorCode DaisiCheckpointCreate(MPI_Comm comm, DaisiCheckpoint *c);
/* global native shape (nrows x rowlen per member) and this rank's rows; nmember >= 1 */
PETSC_EXTERN PetscErrorCode DaisiCheckpointSetLayout(DaisiCheckpoint c, const DaisiNativeLayout *layout, PetscInt nmember);
/* Only when ranks hold different members (an ensemble in member groups): this rank holds the
 * rows of members[b] (b < n) in x[b] of Write and Read, instead of every member. Each member's
 * rows must be held by exactly one rank per row. Members go to the file in rounds, one
 * collective transfer per member held (no rank gathers the ensemble). */
PETSC_EXTERN PetscErrorCode DaisiCheckpointSetMembers(DaisiCheckpoint c, PetscInt n, const PetscInt members[]);
/* written on Write; on Read each must be in the file with the same value (bit for bit) and the
 * file may have no other parameter */
PETSC_EXTERN PetscErrorCode DaisiCheckpointSetParams(DaisiCheckpoint c, PetscInt n, const DaisiModelParam params[]);
/* written on Write; on Read it must be in the file with the same value */
PETSC_EXTERN PetscErrorCode DaisiCheckpointSetString(DaisiCheckpoint c, const char name[], const char value[]);
/* run counters to write (step, output index, seed, ...) and model times; after Read, the
 * values in the file are returned by the getters */
PETSC_EXTERN PetscErrorCode DaisiCheckpointSetInt(DaisiCheckpoint c, const char name[], PetscInt64 value);
PETSC_EXTERN PetscErrorCode DaisiCheckpointSetReal(DaisiCheckpoint c, const char name[], PetscReal value);
PETSC_EXTERN PetscErrorCode DaisiCheckpointGetInt(DaisiCheckpoint c, const char name[], PetscInt64 *value);
PETSC_EXTERN PetscErrorCode DaisiCheckpointGetReal(DaisiCheckpoint c, const char name[], PetscReal *value);

/* Writes x[b] (nrowl x rowlen values, b < nmember) to path atomically; NaN/Inf are refused and
 * a failure leaves neither a temporary file nor a changed file under path. */
PETSC_EXTERN PetscErrorCode DaisiCheckpointWrite(DaisiCheckpoint c, const char path[], const PetscReal *const x[]);
/* Reads into x[b] after checking the layout, parameters and strings; errors name the file and
 * the first mismatch. Reads every integer and real attribute of the file for the getters. */
PETSC_EXTERN PetscErrorCode DaisiCheckpointRead(DaisiCheckpoint c, const char path[], PetscReal *const x[]);
PETSC_EXTERN PetscErrorCode DaisiCheckpointView(DaisiCheckpoint c, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiCheckpointDestroy(DaisiCheckpoint *c);

#endif
