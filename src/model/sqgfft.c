#include "sqgfft.h"
#include <daisi/model.h>

PetscErrorCode SqgTransformLayout(MPI_Comm comm, PetscInt R, PetscInt nk, ptrdiff_t *nyl, ptrdiff_t *y0, ptrdiff_t *nkl, ptrdiff_t *k0, ptrdiff_t *blky, ptrdiff_t *blkk)
{
  ptrdiff_t   n[2] = {R, nk};
  PetscMPIInt size;

  PetscFunctionBegin;
  /* the slabs FFTW-MPI hands out for an R x nk transposed transform */
  (void)fftw_mpi_local_size_many_transposed(2, n, 1, FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK, comm, nyl, y0, nkl, k0);
  PetscCallMPI(MPI_Comm_size(comm, &size));
  *blky = (R + size - 1) / size;
  *blkk = (nk + size - 1) / size;
  /* our transposes use these block sizes: make sure they describe the same slabs */
  PetscCheck(*nyl == 0 || *y0 % *blky == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "unexpected FFTW-MPI row distribution");
  PetscCheck(*nkl == 0 || *k0 % *blkk == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "unexpected FFTW-MPI column distribution");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SqgTransformCreate(MPI_Comm comm, PetscInt R, PetscInt nk, PetscInt F, unsigned flags, SqgTransform *t)
{
  ptrdiff_t    nxc = R / 2 + 1;
  fftw_iodim   dim, hm[2];
  size_t       nspec, ntr, nxs, nreal;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(t, sizeof(*t)));
  t->comm = comm;
  t->R    = R;
  t->nk   = nk;
  t->F    = F;
  PetscCall(SqgTransformLayout(comm, R, nk, &t->nyl, &t->y0, &t->nkl, &t->k0, &t->blky, &t->blkk));
  {
    /* FFTW-MPI may need more room than the local data for its transposes */
    ptrdiff_t n[2] = {R, nk}, a, b, c, d;
    ptrdiff_t need = fftw_mpi_local_size_many_transposed(2, n, 2 * F, t->blky, t->blkk, comm, &a, &b, &c, &d);
    nspec = (size_t)PetscMax(PetscMax(1, t->nkl * R * F), (need + 1) / 2);
    ntr   = (size_t)PetscMax(PetscMax(1, t->nyl * nk * F), (need + 1) / 2);
  }
  nxs   = (size_t)PetscMax(1, t->nyl * nxc * F);
  nreal = (size_t)PetscMax(1, t->nyl * R * F);
  t->spec = fftw_alloc_complex(nspec);
  t->tr   = fftw_alloc_complex(ntr);
  t->xs   = fftw_alloc_complex(nxs);
  t->real = fftw_alloc_real(nreal);
  PetscCheck(t->spec && t->tr && t->xs && t->real, PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate FFT buffers for R=%" PetscInt_FMT ", F=%" PetscInt_FMT, R, F);
  memset(t->spec, 0, nspec * sizeof(fftw_complex));
  memset(t->tr, 0, ntr * sizeof(fftw_complex));
  memset(t->xs, 0, nxs * sizeof(fftw_complex));
  memset(t->real, 0, nreal * sizeof(double));

  if (t->nyl > 0) {
    /* along x: F fields interleaved, nyl rows */
    dim.n    = (int)R;
    dim.is   = (int)F;
    dim.os   = (int)F;
    hm[0].n  = (int)t->nyl;
    hm[0].is = (int)(R * F);
    hm[0].os = (int)(nxc * F);
    hm[1].n  = (int)F;
    hm[1].is = 1;
    hm[1].os = 1;
    t->xr2c  = fftw_plan_guru_dft_r2c(1, &dim, 2, hm, t->real, t->xs, flags);
    hm[0].is = (int)(nxc * F);
    hm[0].os = (int)(R * F);
    t->xc2r  = fftw_plan_guru_dft_c2r(1, &dim, 2, hm, t->xs, t->real, flags | FFTW_DESTROY_INPUT);
    PetscCheck(t->xr2c && t->xc2r, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan the x transforms");
  }
  if (t->nkl > 0) {
    /* along y, in place: F fields interleaved, nkl columns */
    dim.n    = (int)R;
    dim.is   = (int)F;
    dim.os   = (int)F;
    hm[0].n  = (int)t->nkl;
    hm[0].is = (int)(R * F);
    hm[0].os = (int)(R * F);
    hm[1].n  = (int)F;
    hm[1].is = 1;
    hm[1].os = 1;
    t->yfwd  = fftw_plan_guru_dft(1, &dim, 2, hm, t->spec, t->spec, FFTW_FORWARD, flags);
    t->ybwd  = fftw_plan_guru_dft(1, &dim, 2, hm, t->spec, t->spec, FFTW_BACKWARD, flags);
    PetscCheck(t->yfwd && t->ybwd, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan the y transforms");
  }
  /* [y][kx][F] <-> [kx][y][F]; elements are F complex numbers = 2F doubles */
  t->t_fwd = fftw_mpi_plan_many_transpose(R, nk, 2 * F, t->blky, t->blkk, (double *)t->tr, (double *)t->spec, comm, flags);
  t->t_bwd = fftw_mpi_plan_many_transpose(nk, R, 2 * F, t->blkk, t->blky, (double *)t->spec, (double *)t->tr, comm, flags);
  PetscCheck(t->t_fwd && t->t_bwd, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW-MPI could not plan the transposes");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SqgTransformDestroy(SqgTransform *t)
{
  PetscFunctionBegin;
  if (t->xr2c) fftw_destroy_plan(t->xr2c);
  if (t->xc2r) fftw_destroy_plan(t->xc2r);
  if (t->yfwd) fftw_destroy_plan(t->yfwd);
  if (t->ybwd) fftw_destroy_plan(t->ybwd);
  if (t->t_fwd) fftw_destroy_plan(t->t_fwd);
  if (t->t_bwd) fftw_destroy_plan(t->t_bwd);
  fftw_free(t->spec);
  fftw_free(t->tr);
  fftw_free(t->xs);
  fftw_free(t->real);
  PetscCall(PetscMemzero(t, sizeof(*t)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SqgTransformForward(SqgTransform *t)
{
  const ptrdiff_t nxc = t->R / 2 + 1, F = t->F, nk = t->nk;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_ModelFFT, 0, 0, 0, 0));
  if (t->xr2c) fftw_execute(t->xr2c);
  /* keep the kx < nk columns */
  for (ptrdiff_t j = 0; j < t->nyl; j++) memcpy(t->tr[j * nk * F], t->xs[j * nxc * F], (size_t)(nk * F) * sizeof(fftw_complex));
  PetscCall(PetscLogEventEnd(DAISI_ModelFFT, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_ModelTranspose, 0, 0, 0, 0));
  fftw_execute(t->t_fwd);
  PetscCall(PetscLogEventEnd(DAISI_ModelTranspose, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_ModelFFT, 0, 0, 0, 0));
  if (t->yfwd) fftw_execute(t->yfwd);
  PetscCall(PetscLogEventEnd(DAISI_ModelFFT, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SqgTransformBackward(SqgTransform *t)
{
  const ptrdiff_t nxc = t->R / 2 + 1, F = t->F, nk = t->nk;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_ModelFFT, 0, 0, 0, 0));
  if (t->ybwd) fftw_execute(t->ybwd);
  PetscCall(PetscLogEventEnd(DAISI_ModelFFT, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_ModelTranspose, 0, 0, 0, 0));
  fftw_execute(t->t_bwd);
  PetscCall(PetscLogEventEnd(DAISI_ModelTranspose, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_ModelFFT, 0, 0, 0, 0));
  /* columns kx >= nk are zero (3/2-rule padding); c2r destroys its input so refill each time */
  for (ptrdiff_t j = 0; j < t->nyl; j++) {
    memcpy(t->xs[j * nxc * F], t->tr[j * nk * F], (size_t)(nk * F) * sizeof(fftw_complex));
    memset(t->xs[(j * nxc + nk) * F], 0, (size_t)((nxc - nk) * F) * sizeof(fftw_complex));
  }
  if (t->xc2r) fftw_execute(t->xc2r);
  PetscCall(PetscLogEventEnd(DAISI_ModelFFT, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}
