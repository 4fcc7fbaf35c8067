/* Private: the filter object, its ops table and the analysis context shared by the types. */
#ifndef DAISI_FILTERIMPL_H
#define DAISI_FILTERIMPL_H

#include <daisi/filter.h>
#include <daisi/var3d.h>  /* the 3dvar type: its parameters, options and constructor */
#include <daisi/l3dvar.h> /* the l3dvar type: likewise */
#include <daisi/losda.h>  /* the losda type: likewise */

/* What every analysis kernel sees, in the analysis layout of the ensemble (this rank's
 * points, all members), with the observation-space ensemble already formed globally. */
typedef struct {
  PetscInt           M, npts, nobs;
  PetscInt           rank, size; /* world: point j of this rank has global index j*size + rank */
  MPI_Comm           comm;       /* the ensemble's world (the global filters' process grid spans it) */
  DaisiGrid          grid;
  const DaisiObsSet *obs;
  PetscReal         *x;     /* point-major prior (inflated) and, on return, analysis: x[j*M + m] */
  const PetscReal   *Yb;    /* obs-major perturbations H x_m - mean: Yb[o*M + m] */
  const PetscReal   *HX;    /* obs-major H x_m */
  const PetscReal   *d;     /* innovations y - mean(H x) */
} DaisiFilterContext;

typedef struct {
  PetscErrorCode (*setfromoptions)(DaisiFilter, PetscOptionItems *);
  PetscErrorCode (*setup)(DaisiFilter);
  PetscErrorCode (*view)(DaisiFilter, PetscViewer);
  PetscErrorCode (*destroy)(DaisiFilter);
  /* updates ctx->x in place (NULL: no update, type none) */
  PetscErrorCode (*analysis)(DaisiFilter, DaisiFilterContext *);
  /* Types that work on whole members (daisi) instead: called by DaisiFilterAnalysis after the
   * observations are validated, in place of the transposed path, with the ensemble in its
   * member (slab) layout. */
  PetscErrorCode (*ensemble_analysis)(DaisiFilter, DaisiEnsemble, const DaisiObsSet *);
} DaisiFilterOps;

struct _p_DaisiFilter {
  MPI_Comm         comm;
  char             type[32];
  char            *prefix;
  PetscBool        setupcalled;
  PetscReal        inflation;
  PetscInt64       seed;
  PetscReal        cutoff, lr, rtps, rtpp;
  PetscBool        ensspace;
  PetscInt         eigsolver; /* DAISI_FILTER_EIG_* */
  DaisiFilterStats stats;
  DaisiFilterOps   ops;
  /* the DAISI parameters live here, not in the type, so that every type reads -daisi_* (one
   * scenario file serves every filter, and an unused option is an error) */
  DaisiFilterDAISIParams daisi;
  /* the particle-filter parameters, likewise read by every type (-pf_*) */
  PetscReal              pf_threshold, pf_jitter;
  PetscBool              pf_monitor;
  /* the ensemble-space solver of the global types (etkf, enkf), likewise read by every type
   * (global.c): -filter_ensspace_solver, -filter_scalapack_{threshold,block,grid} */
  PetscInt               enssolver, sca_threshold, sca_block, sca_grid[2];
  /* the 3DVar parameters, likewise read by every type (-var3d_*; var3d.c) */
  DaisiFilterVar3dParams var3d;
  /* the latent 3DVar parameters, likewise read by every type (-l3dvar_*; l3dvar.c) */
  DaisiFilterL3dvarParams l3dvar;
  /* the LO-SDA parameters, likewise read by every type (-losda_*; losda.c) */
  DaisiFilterLOSDAParams losda;
  DaisiEnsemble          ens;  /* optional, DaisiFilterSetEnsemble (not owned) */
  void                  *data; /* type-specific */
};

/* -daisi_* options into f->daisi, for every filter type (src/filter/daisi.c) */
PETSC_INTERN PetscErrorCode DaisiFilterDAISIParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject);
/* -pf_* options, for every filter type (src/filter/pf.c) */
PETSC_INTERN PetscErrorCode DaisiFilterPFParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject);
/* a choice among the names list[] (NULL-terminated) for option opt (man: the setter named in
 * -help); *val is the default and the result; an unknown name is an error listing the choices */
PETSC_INTERN PetscErrorCode DaisiFilterReadChoice(PetscOptionItems *PetscOptionsObject, const char man[], const char opt[], const char text[], const char *const list[], PetscInt *val);
/* -filter_ensspace_solver and -filter_scalapack_* (defaults, then options), for every type (src/filter/global.c) */
PETSC_INTERN PetscErrorCode DaisiFilterEnsSpaceParamsDefault(DaisiFilter f);
PETSC_INTERN PetscErrorCode DaisiFilterEnsSpaceParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject);

/* Eigen-decomposition A = E diag(w) E^T of a symmetric n x n matrix (lower triangle of the
 * column-major A, i.e. the upper triangle of a row-major one, is read). E is returned in E
 * column-major (eigenvector q = E + q*n); eigenvalues ascending from LAPACK, unsorted from qr.
 * Workspace from DaisiFilterEigCreate(nmax). Deterministic: same inputs, same outputs.
 * Exported (not public API) for the unit test tests/filter/test_eig.c. */
/* Solvers: LAPACK's dsyev, dsyevr, dsyevd, or the built-in Householder + implicit QR (qr).
 * auto picks qr for n <= 64 (LAPACK's drivers spend most of their time in bookkeeping on such
 * small problems) and dsyevd above; by n only, so the choice is layout independent. */
enum { DAISI_FILTER_EIG_AUTO, DAISI_FILTER_EIG_SYEV, DAISI_FILTER_EIG_SYEVR, DAISI_FILTER_EIG_SYEVD, DAISI_FILTER_EIG_QR };
PETSC_EXTERN const char *const DaisiFilterEigNames[];
typedef struct {
  PetscInt      nmax;
  PetscInt      kind;
  PetscBLASInt  lwork, liwork;
  PetscReal    *work, *Q, *T, *hv; /* Q: n x ld, T: n x n, hv: 3 ld scratch (ld: n rounded up to 8) */
  PetscBLASInt *iwork;
  void         *mem;
  PetscInt      n, ld; /* the last DaisiFilterEigFactor: its vectors are the rows of Q, stride ld */
} DaisiFilterEig;
PETSC_EXTERN PetscErrorCode DaisiFilterEigCreate(PetscInt nmax, PetscInt kind, DaisiFilterEig *eig);
PETSC_EXTERN PetscErrorCode DaisiFilterEigDestroy(DaisiFilterEig *eig);
PETSC_EXTERN PetscErrorCode DaisiFilterEigSolve(DaisiFilterEig *eig, PetscInt n, PetscReal A[], PetscReal w[], PetscReal E[]);
/* A = V diag(w) V^T with V kept in the object, for transforms that need V^T v and V a of a few
 * vectors (two of each per LETKF point). A batch of nb <= DAISI_FILTER_EIG_BATCH independent
 * problems (problem b in eig[b], size n[b]) is factored at once: the built-in QR solver
 * interleaves them (same results as one at a time). A is read as in DaisiFilterEigSolve and left
 * unchanged. ToBasis: v <- V^T v; FromBasis: a <- V a (n = the size of the last factorisation). */
#define DAISI_FILTER_EIG_BATCH 4
PETSC_EXTERN PetscErrorCode DaisiFilterEigFactor(PetscInt nb, DaisiFilterEig eig[], const PetscInt n[], const PetscReal *const A[], PetscReal *const w[]);
PETSC_EXTERN void           DaisiFilterEigToBasis(DaisiFilterEig *eig, PetscReal v[]);
PETSC_EXTERN void           DaisiFilterEigFromBasis(DaisiFilterEig *eig, PetscReal a[]);

/* RTPP then RTPS on one point: z prior perturbations, xp analysis perturbations (in place) */
PETSC_INTERN void DaisiFilterRelax(PetscInt M, PetscReal rtpp, PetscReal rtps, const PetscReal z[], PetscReal xp[]);

/* 64-byte aligned allocation of n doubles (the same alignment on every rank keeps BLAS and
 * LAPACK on the same code paths, hence bit-identical results across layouts) */
PETSC_INTERN PetscErrorCode DaisiFilterAlignedMalloc(size_t n, void **mem, PetscReal **p);

PETSC_INTERN PetscErrorCode DaisiFilterCreate_LETKF(DaisiFilter);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_ETKF(DaisiFilter);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_EnKF(DaisiFilter);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_None(DaisiFilter);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_DAISI(DaisiFilter);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_PF(DaisiFilter);

#endif
