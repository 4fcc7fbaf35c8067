/* DaisiFilter: the analysis step of an ensemble filter behind one interface.
 *
 * Types (option -filter_type):
 *   letkf  local ensemble transform Kalman filter (Hunt et al. 2007) as EXPERIMENTS.md runs it:
 *          one local analysis per grid point and level, Gaspari-Cohn R-localisation on the
 *          doubly periodic plane (cutoff -letkf_cutoff m, GC reaches 0 there), vertical factor
 *          GC(|dlev| Lr / cutoff) (Lr: -letkf_lr m, default 1000 km), LAPACK symmetric
 *          eigensolver; RTPS (-letkf_rtps alpha) and RTPP (-letkf_rtpp alpha) relaxation.
 *   etkf   the same transform, global: all observations, no localisation (RTPS/RTPP as letkf).
 *   enkf   stochastic EnKF with perturbed observations (noise from the counter-based
 *          generator keyed by (-filter_seed, DAISI_RNG_ENKF_PERTURBED_OBS, cycle, member,
 *          observation index)), global.
 *   none   no update (free-running ensemble).
 * All types: multiplicative prior inflation -filter_inflation (factor on the prior
 * perturbations, default 1, applied before h). Eigensolver of the ensemble-space problems:
 * -letkf_eigensolver auto (LAPACK dsyev for n <= 32, dsyevd above) | syev | syevr | syevd |
 * qr (built-in Householder + implicit QR, about twice as fast on these tiny problems).
 * See docs/filters.md for the formulas, the parallel layout and the tests.
 *
 * Every result is bit-identical for every (G, P) layout and rank count: each analysis value
 * is computed from the same inputs in the same order wherever it lands (see docs/filters.md).
 *
 * Lifecycle:
 *   DaisiFilterCreate(comm, &f);  DaisiFilterSetType(f, DAISI_FILTER_LETKF);
 *   DaisiFilterSetFromOptions(f);  DaisiFilterSetUp(f);
 *   DaisiFilterAnalysis(f, ens, &obs);  ...  DaisiFilterDestroy(&f); */
#ifndef DAISI_FILTER_H
#define DAISI_FILTER_H

#include <daisi/ensemble.h>
#include <daisi/obs.h>

typedef struct _p_DaisiFilter *DaisiFilter;
typedef const char            *DaisiFilterType;
#define DAISI_FILTER_LETKF "letkf"
#define DAISI_FILTER_ETKF  "etkf"
#define DAISI_FILTER_ENKF  "enkf"
#define DAISI_FILTER_NONE  "none"

PETSC_EXTERN PetscErrorCode DaisiFilterCreate(MPI_Comm comm, DaisiFilter *f);
/* errors with PETSC_ERR_ARG_UNKNOWN_TYPE naming the type for an unknown type */
PETSC_EXTERN PetscErrorCode DaisiFilterSetType(DaisiFilter f, DaisiFilterType type);
PETSC_EXTERN PetscErrorCode DaisiFilterGetType(DaisiFilter f, DaisiFilterType *type);
PETSC_EXTERN PetscErrorCode DaisiFilterSetOptionsPrefix(DaisiFilter f, const char prefix[]);
PETSC_EXTERN PetscErrorCode DaisiFilterSetFromOptions(DaisiFilter f);
PETSC_EXTERN PetscErrorCode DaisiFilterSetUp(DaisiFilter f);
PETSC_EXTERN PetscErrorCode DaisiFilterView(DaisiFilter f, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiFilterDestroy(DaisiFilter *f);

/* Parameters (also options). Each errors naming the option if the value is out of range. */
PETSC_EXTERN PetscErrorCode DaisiFilterSetInflation(DaisiFilter f, PetscReal factor);         /* -filter_inflation > 0 */
PETSC_EXTERN PetscErrorCode DaisiFilterSetSeed(DaisiFilter f, PetscInt64 seed);               /* -filter_seed */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetCutoff(DaisiFilter f, PetscReal cutoff);       /* -letkf_cutoff (m) > 0 */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetVerticalScale(DaisiFilter f, PetscReal lr);    /* -letkf_lr (m) >= 0 */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetRTPS(DaisiFilter f, PetscReal alpha);          /* -letkf_rtps in [0, 1] */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetRTPP(DaisiFilter f, PetscReal alpha);          /* -letkf_rtpp in [0, 1] */
/* -letkf_ensemble_space: always solve in ensemble space (M x M eigenproblem) as the formulas
 * read; by default a local problem with fewer observations than members is solved with the
 * equivalent p x p eigenproblem in observation space (same result to round-off, faster). */
PETSC_EXTERN PetscErrorCode DaisiFilterLETKFSetEnsembleSpace(DaisiFilter f, PetscBool always);

/* The analysis: updates the ensemble in place with the observations of one cycle (every
 * rank holds the whole set). Collective over the ensemble's world communicator. Errors if an
 * observation has sigma <= 0, lies outside the grid or has a non-finite value. */
PETSC_EXTERN PetscErrorCode DaisiFilterAnalysis(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs);

/* Statistics of the last analysis on this rank (for load balance reports). */
typedef struct {
  PetscInt64 npoints;    /* local analyses done by this rank */
  PetscInt64 nlocalobs;  /* sum of local observation counts */
  PetscInt   maxlocalobs;
} DaisiFilterStats;
PETSC_EXTERN PetscErrorCode DaisiFilterGetStats(DaisiFilter f, DaisiFilterStats *stats);

/* Gaspari-Cohn taper as used for localisation: 1 at r = 0, 0 for r >= 1 (r = d / cutoff). */
PETSC_EXTERN PetscReal DaisiGaspariCohn(PetscReal r);

PETSC_EXTERN PetscLogEvent DAISI_FilterAnalysis, DAISI_FilterObsOperator, DAISI_FilterLocalAnalyses, DAISI_FilterTransform;

#endif
