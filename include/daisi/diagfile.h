/* DaisiDiagFile: the diagnostics of a cycling run (daisi-filter), one netCDF-4 compatible
 * HDF5 file (layout in docs/file-formats.md, "Diagnostics files"):
 *   1-D series over cycles  (cycle): cycle, time and the named scores (rmse_b, rmse_a, ...);
 *   fields                  (cycle, level, y, x): ens_mean_b, ens_spread_b, ens_mean_a, ens_spread_a (K);
 *   members, optional       (cycle, member, level, y, x): members_a;
 *   rank_histogram          (bin): counts accumulated over the run;
 *   spectrum_error, spectrum_spread (level, wavenumber): time-mean isotropic spectra, K^2.
 * Rank 0 writes (fields are gathered to it by the caller); all calls are collective. The file
 * is "<path>.partial" until DaisiDiagFileClose renames it, so a checkpointed run can reopen it
 * (append) and finish it; all space is allocated when it is created. */
#ifndef DAISI_DIAGFILE_H
#define DAISI_DIAGFILE_H

#include <daisi/grid.h>

typedef struct _p_DaisiDiagFile *DaisiDiagFile;

/* Creates (append = false) or reopens the partial file of path (append = true). series[] are
 * the names of the per-cycle scores; nmember > 0 adds members_a; nbins > 0 adds the histogram;
 * nk > 0 adds the spectra (nk wavenumber bins). */
PETSC_EXTERN PetscErrorCode DaisiDiagFileOpen(MPI_Comm comm, const char path[], const DaisiGrid *grid, PetscInt ncycle, PetscInt nseries, const char *const series[], PetscInt nmember, PetscInt nbins, PetscInt nk, PetscBool append, DaisiDiagFile *d);
/* global text / number attributes (ignored when appending: the file has them) */
PETSC_EXTERN PetscErrorCode DaisiDiagFileSetString(DaisiDiagFile d, const char name[], const char value[]);
PETSC_EXTERN PetscErrorCode DaisiDiagFileSetReal(DaisiDiagFile d, const char name[], PetscReal value);
/* cycle index k: cycle number, time (s) and values[nseries] (rank 0's values are written) */
PETSC_EXTERN PetscErrorCode DaisiDiagFileWriteSeries(DaisiDiagFile d, PetscInt k, PetscInt cycle, PetscReal time, const PetscReal values[]);
/* field `name` (ens_mean_b, ens_spread_b, ens_mean_a, ens_spread_a) at cycle index k; full[nlev*ny*nx] on rank 0 */
PETSC_EXTERN PetscErrorCode DaisiDiagFileWriteField(DaisiDiagFile d, const char name[], PetscInt k, const PetscReal full[]);
/* member m of members_a at cycle index k; full on rank 0 */
PETSC_EXTERN PetscErrorCode DaisiDiagFileWriteMember(DaisiDiagFile d, PetscInt k, PetscInt m, const PetscReal full[]);
PETSC_EXTERN PetscErrorCode DaisiDiagFileWriteHistogram(DaisiDiagFile d, const PetscInt64 counts[]);
/* err[lev * nk + k], spread[lev * nk + k] on rank 0 */
PETSC_EXTERN PetscErrorCode DaisiDiagFileWriteSpectra(DaisiDiagFile d, const PetscReal err[], const PetscReal spread[]);
PETSC_EXTERN PetscErrorCode DaisiDiagFileFlush(DaisiDiagFile d);
/* close and rename to the final name */
PETSC_EXTERN PetscErrorCode DaisiDiagFileClose(DaisiDiagFile *d);
/* close and remove the partial file (after a failure) */
PETSC_EXTERN PetscErrorCode DaisiDiagFileDiscard(DaisiDiagFile *d);
/* close, keeping the partial file (the run stopped to be restarted) */
PETSC_EXTERN PetscErrorCode DaisiDiagFileDestroy(DaisiDiagFile *d);

/* Reading a finished file back (collective over comm; errors name `what`, e.g. the path or
 * "-option PATH"): the cycle numbers of its fields (*cycle: *ncycle values, PetscFree them),
 * after checking that the fields are fields of grid (nlev x ny x nx); and field `name` at
 * cycle index k, this rank's rows [grid->y0, grid->y0 + grid->nyl) of every level, into x. */
PETSC_EXTERN PetscErrorCode DaisiDiagFileReadCycles(MPI_Comm comm, const char path[], const char what[], const DaisiGrid *grid, PetscInt *ncycle, PetscInt64 **cycle);
PETSC_EXTERN PetscErrorCode DaisiDiagFileReadField(MPI_Comm comm, const char path[], const char what[], const char name[], const DaisiGrid *grid, PetscInt k, PetscReal x[]);

#endif
