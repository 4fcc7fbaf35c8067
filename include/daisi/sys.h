/* System layer: start-up, BLAS core detection, logging classes, safe output files. */
#ifndef DAISI_SYS_H
#define DAISI_SYS_H

#include <petscsys.h>

/* Start-up for every DAISI executable. Before MPI starts it makes sure OpenBLAS runs
 * the kernels this CPU supports (see docs/performance.md: OpenBLAS misdetects AVX-512
 * cores and runs GEMM about 4x slower), then initialises PETSc and prints a one-line
 * banner (version, ranks, BLAS core) unless -daisi_quiet is given. */
PETSC_EXTERN PetscErrorCode DaisiInitialize(int *argc, char ***argv, const char help[]);
PETSC_EXTERN PetscErrorCode DaisiFinalize(void);

/* The OpenBLAS core in use and how it was chosen ("detected", "OPENBLAS_CORETYPE", ...). */
PETSC_EXTERN PetscErrorCode DaisiBlasCoreName(const char **core, const char **how);

/* PETSc class id under which all DAISI log events are registered. */
PETSC_EXTERN PetscClassId DAISI_CLASSID;

/* Output files are written to "<path>.tmp.<pid-of-rank-0>" and renamed to "<path>" when
 * complete, so an interrupted or failed run never leaves a half-written file under the
 * final name. All functions are collective over comm. */
typedef struct {
  char     final[PETSC_MAX_PATH_LEN];
  char     tmp[PETSC_MAX_PATH_LEN];
  MPI_Comm comm;
} DaisiOutputName;
PETSC_EXTERN PetscErrorCode DaisiOutputNameInit(MPI_Comm comm, const char path[], DaisiOutputName *out);
PETSC_EXTERN PetscErrorCode DaisiOutputNameCommit(DaisiOutputName *out);
PETSC_EXTERN PetscErrorCode DaisiOutputNameDiscard(DaisiOutputName *out);

/* Whether a file exists (checked by rank 0 of comm, answer shared). */
PETSC_EXTERN PetscErrorCode DaisiFileExists(MPI_Comm comm, const char path[], PetscBool *exists);
/* A relative path that does not exist from the working directory but does in the source tree
 * becomes the source-tree path, so that configs can name shipped files (priors/sqg64/prior.h5)
 * and work from any directory; otherwise out = in (the caller reports a missing file). */
PETSC_EXTERN PetscErrorCode DaisiResolveSourcePath(MPI_Comm comm, const char in[], char out[], size_t len);
/* Removes a file if it exists (rank 0 of comm), after every rank of comm has called it. */
PETSC_EXTERN PetscErrorCode DaisiFileRemove(MPI_Comm comm, const char path[]);

/* Collective check that a local array holds only finite numbers; errors with `what` named. */
PETSC_EXTERN PetscErrorCode DaisiCheckFinite(MPI_Comm comm, PetscInt n, const PetscReal a[], const char what[]);

/* SIGTERM (sent by SLURM before a time limit) sets a flag; DaisiStopRequested() returns
 * the flag reduced over comm so that all ranks agree on the step at which they stop. */
PETSC_EXTERN PetscErrorCode DaisiInstallStopHandler(void);
PETSC_EXTERN PetscErrorCode DaisiStopRequested(MPI_Comm comm, PetscBool *stop);

/* Errors if an option given on the command line or in an options file was never read by the
 * program: a misspelt option must not silently fall back to a default. Call it once every
 * object has read its options. */
PETSC_EXTERN PetscErrorCode DaisiCheckOptionsUsed(MPI_Comm comm);

/* Exit status of a run that stopped early on request after writing its checkpoint. Not 75
 * (EX_TEMPFAIL): a PETSc error returned from main is its error code, 55 to 99, and 75 is
 * PETSC_ERR_ARG_INCOMP, so a job script would requeue a failed run. */
#define DAISI_EXIT_CHECKPOINTED 3

#endif
