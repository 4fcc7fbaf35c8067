/* Private: distributed 2-D real transforms on slabs for the SQG model.
 *
 * Physical fields are stored [y_local][x][F] (F fields interleaved), spectral fields
 * [kx_local][ly][F] ("transposed" layout: kx columns split over the ranks). A transform of
 * size R (R = N for the state, R = 3N/2 for the dealiasing grid) is done as 1-D FFTW
 * transforms along x, an FFTW-MPI transpose, and 1-D transforms along y. Only the
 * kx = 0 .. N/2 columns are carried through the transpose: on the padded grid the others
 * are zero, so the 3/2-rule padding and truncation are local copies and no zeros travel
 * over MPI. Transforms are unnormalised (like numpy's rfft2; the inverse needs 1/R^2). */
#ifndef DAISI_SQGFFT_H
#define DAISI_SQGFFT_H

#include <petscsys.h>
/* fftw_complex as double[2] even though PETSc pulls in <complex.h> */
#define FFTW_NO_Complex
#include <fftw3-mpi.h>

typedef struct {
  MPI_Comm  comm;
  ptrdiff_t R;          /* rows = columns of the real grid */
  ptrdiff_t nk;         /* kx columns carried: N/2 + 1 */
  ptrdiff_t F;          /* fields per transform */
  ptrdiff_t nyl, y0;    /* this rank's real rows */
  ptrdiff_t nkl, k0;    /* this rank's kx columns */
  ptrdiff_t blky, blkk; /* FFTW-MPI block sizes */
  /* buffers: spec [nkl][R][F] complex, tr [nyl][nk][F] complex, xs [nyl][R/2+1][F]
   * complex, real [nyl][R][F] */
  fftw_complex *spec, *tr, *xs;
  double       *real;
  fftw_plan     xr2c, xc2r, yfwd, ybwd, t_fwd, t_bwd;
} SqgTransform;

PETSC_INTERN PetscErrorCode SqgTransformCreate(MPI_Comm comm, PetscInt R, PetscInt nk, PetscInt F, unsigned flags, SqgTransform *t);
PETSC_INTERN PetscErrorCode SqgTransformDestroy(SqgTransform *t);
/* t->real -> t->spec (columns kx < nk), unnormalised */
PETSC_INTERN PetscErrorCode SqgTransformForward(SqgTransform *t);
/* t->spec (columns kx < nk; higher columns are zero) -> t->real, unnormalised */
PETSC_INTERN PetscErrorCode SqgTransformBackward(SqgTransform *t);
/* FFTW-MPI distribution of R rows and nk columns over comm */
PETSC_INTERN PetscErrorCode SqgTransformLayout(MPI_Comm comm, PetscInt R, PetscInt nk, ptrdiff_t *nyl, ptrdiff_t *y0, ptrdiff_t *nkl, ptrdiff_t *k0, ptrdiff_t *blky, ptrdiff_t *blkk);

#endif
