/* Private: the ensemble-space solvers of the global filters (etkf, enkf) and the Fortran/C
 * prototypes of the BLAS, PBLAS, ScaLAPACK and BLACS routines they call (Debian's
 * libscalapack-openmpi, LP64: every integer is a C int; Fortran character lengths are not
 * passed, as usual for single-character flags). */
#ifndef DAISI_FILTER_SCALAPACK_H
#define DAISI_FILTER_SCALAPACK_H

#include "filterimpl.h"

/* BLAS */
extern void dgemm_(const char *, const char *, const int *, const int *, const int *, const double *, const double *, const int *, const double *, const int *, const double *, double *, const int *);
extern void dsyrk_(const char *, const char *, const int *, const int *, const double *, const double *, const int *, const double *, double *, const int *);

/* BLACS (C interface) */
extern void Cblacs_pinfo(int *mypnum, int *nprocs);
extern int  Csys2blacs_handle(MPI_Comm comm);
extern void Cfree_blacs_system_handle(int handle);
extern void Cblacs_gridinit(int *context, const char *order, int nprow, int npcol);
extern void Cblacs_gridinfo(int context, int *nprow, int *npcol, int *myrow, int *mycol);
extern void Cblacs_gridexit(int context);

/* ScaLAPACK tools, PBLAS, eigensolver */
extern int  numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
extern void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb, const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);
extern void pdgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k, const double *alpha, const double *a, const int *ia, const int *ja, const int *desca, const double *b, const int *ib, const int *jb, const int *descb, const double *beta, double *c, const int *ic, const int *jc, const int *descc);
extern void pdsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha, const double *a, const int *ia, const int *ja, const int *desca, const double *beta, double *c, const int *ic, const int *jc, const int *descc);
extern void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca, double *w, double *z, const int *iz, const int *jz, const int *descz, double *work, const int *lwork, int *iwork, const int *liwork, int *info);

/* -filter_ensspace_solver */
enum { DAISI_FILTER_ENSSPACE_AUTO, DAISI_FILTER_ENSSPACE_LAPACK, DAISI_FILTER_ENSSPACE_SCALAPACK };
PETSC_INTERN const char *const DaisiFilterEnsSpaceSolvers[];

/* The M x M weights of the global filters, on every rank of c->comm, column-major:
 * analysis perturbation (etkf) or increment (enkf) of member i at a point is
 * sum_k z_k W[i*M + k], z the prior perturbations there.
 *   etkf: W = sqrt(M-1) A^-1/2 (symmetric), enkf: W = A^-1 Ys Ds^T,
 *   A = (M-1) I + Ys Ys^T,  Ys = Yb^T R^-1/2 (M x nobs),  Ds the member's perturbed innovations
 *   R^-1/2 (y + eps_i - H x_i) as rows. */
typedef enum {
  DAISI_FILTER_WEIGHTS_ETKF,
  DAISI_FILTER_WEIGHTS_ENKF
} DaisiFilterWeightsKind;

/* Perturbed innovation of member i at observation o, scaled by 1/sigma_o (enkf; the same
 * numbers wherever they are drawn) */
PETSC_INTERN PetscReal DaisiFilterEnKFScaledInnovation(DaisiFilter f, const DaisiFilterContext *c, PetscInt o, PetscInt i);

/* The distributed solver: A and Ys Ds^T formed with PBLAS on a pr x pc BLACS grid over c->comm
 * (each grid rank takes its block-cyclic share of Ys from the replicated Yb), pdsyevd, the
 * weights with PBLAS, then W replicated to every rank. Collective over c->comm. */
PETSC_INTERN PetscErrorCode DaisiFilterScaLAPACKWeights(DaisiFilter f, const DaisiFilterContext *c, DaisiFilterWeightsKind kind, PetscReal W[]);
/* the grid used for R ranks: -filter_scalapack_grid, or the most square pr x pc = R, pr <= pc */
PETSC_INTERN PetscErrorCode DaisiFilterScaLAPACKGrid(DaisiFilter f, PetscInt R, PetscInt *pr, PetscInt *pc);

PETSC_INTERN PetscLogEvent DAISI_FilterScaLAPACK, DAISI_FilterWeightsReplicate;

#endif
