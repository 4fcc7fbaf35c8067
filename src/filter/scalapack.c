/* The distributed ensemble-space solver of the global filters (etkf, enkf) for large
 * ensembles: ScaLAPACK on a BLACS grid over the ensemble's world.
 *
 * Every rank holds the obs-space ensemble Yb (nobs x M) and its share of the analysis points.
 * Each grid rank copies its 2-D block-cyclic share of Ys = Yb^T R^-1/2 (M x nobs) out of Yb (no
 * communication), so the O(M^2 nobs) product A = (M-1) I + Ys Ys^T (pdsyrk), the O(M^3)
 * eigensolve (pdsyevd) and the weights (pdsyrk / pdgemm) are split over the grid. The M x M
 * weights are then replicated to every rank, which applies them to its own points: M^2
 * doubles per rank (200 MB at M = 5000), against M x (points per rank) for the ensemble
 * itself, and no redistribution of the member-distributed ensemble is needed. */
#include "scalapack.h"
#include <daisi/sys.h>

PetscLogEvent DAISI_FilterScaLAPACK = 0, DAISI_FilterWeightsReplicate = 0;

PetscErrorCode DaisiFilterScaLAPACKGrid(DaisiFilter f, PetscInt R, PetscInt *pr, PetscInt *pc)
{
  PetscFunctionBegin;
  if (f->sca_grid[0] > 0) {
    PetscCheck(f->sca_grid[0] * f->sca_grid[1] <= R, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-filter_scalapack_grid %" PetscInt_FMT ",%" PetscInt_FMT " needs %" PetscInt_FMT " ranks, the ensemble has %" PetscInt_FMT, f->sca_grid[0], f->sca_grid[1], f->sca_grid[0] * f->sca_grid[1], R);
    *pr = f->sca_grid[0];
    *pc = f->sca_grid[1];
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  *pr = 1;
  for (PetscInt p = 1; p * p <= R; p++)
    if (R % p == 0) *pr = p;
  *pc = R / *pr;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* global index (0-based) of local index l of a block-cyclic dimension: block nb, this
 * process p of np, distribution starting on process 0 */
static inline PetscInt LocalToGlobal(PetscInt l, PetscInt nb, PetscInt p, PetscInt np)
{
  return (l / nb) * nb * np + p * nb + l % nb;
}

/* The grid part: this rank's local pieces of W (lower triangle only for etkf) written into
 * the zeroed full W. */
static PetscErrorCode GridWeights(DaisiFilter f, const DaisiFilterContext *c, DaisiFilterWeightsKind kind, int ctxt, int nprow, int npcol, int myrow, int mycol, PetscReal W[])
{
  const PetscBool enkf = (PetscBool)(kind == DAISI_FILTER_WEIGHTS_ENKF);
  const int       izero = 0, ione = 1;
  const double    one = 1, zero = 0, sk = PetscSqrtReal((PetscReal)(c->M - 1));
  int             M, nobs, nb, mloc, nloc, oloc, lld, info, descA[9], descY[9], lwork = -1, liwork = -1, iwq = 0;
  PetscReal      *A, *E, *T, *Ys, *Ds, *l, *work, wq = 0;
  int            *iwork;

  PetscFunctionBegin;
  PetscCall(PetscMPIIntCast(c->M, &M));
  PetscCall(PetscMPIIntCast(c->nobs, &nobs));
  PetscCall(PetscMPIIntCast(f->sca_block, &nb));
  mloc = numroc_(&M, &nb, &myrow, &izero, &nprow);
  nloc = numroc_(&M, &nb, &mycol, &izero, &npcol);
  oloc = numroc_(&nobs, &nb, &mycol, &izero, &npcol);
  lld  = PetscMax(1, mloc);
  descinit_(descA, &M, &M, &nb, &nb, &izero, &izero, &ctxt, &lld, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "ScaLAPACK descinit failed for the %d x %d ensemble-space matrix (block %d), info %d", M, M, nb, info);
  descinit_(descY, &M, &nobs, &nb, &nb, &izero, &izero, &ctxt, &lld, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "ScaLAPACK descinit failed for the %d x %d observation-space ensemble (block %d), info %d", M, nobs, nb, info);
  PetscCall(PetscMalloc4((size_t)lld * PetscMax(1, nloc), &A, (size_t)lld * PetscMax(1, nloc), &E, (size_t)lld * PetscMax(1, nloc), &T, (size_t)M, &l));
  PetscCall(PetscMalloc2((size_t)lld * PetscMax(1, oloc), &Ys, enkf ? (size_t)lld * PetscMax(1, oloc) : 1, &Ds));

  /* this rank's share of Ys (and of the scaled perturbed innovations Ds, drawn here) */
  for (PetscInt jl = 0; jl < oloc; jl++) {
    const PetscInt  o = LocalToGlobal(jl, nb, mycol, npcol);
    const PetscReal s = 1.0 / c->obs->sigma[o];
    for (PetscInt il = 0; il < mloc; il++) {
      const PetscInt a  = LocalToGlobal(il, nb, myrow, nprow);
      Ys[jl * lld + il] = s * c->Yb[o * c->M + a];
      if (enkf) Ds[jl * lld + il] = DaisiFilterEnKFScaledInnovation(f, c, o, a);
    }
  }
  /* A = (M-1) I + Ys Ys^T (lower), T = Q = Ys Ds^T (enkf) */
  PetscCall(PetscArrayzero(A, (size_t)lld * nloc));
  PetscCall(PetscArrayzero(T, (size_t)lld * nloc));
  if (nobs > 0) {
    pdsyrk_("L", "N", &M, &nobs, &one, Ys, &ione, &ione, descY, &one, A, &ione, &ione, descA);
    if (enkf) pdgemm_("N", "T", &M, &M, &nobs, &one, Ys, &ione, &ione, descY, Ds, &ione, &ione, descY, &zero, T, &ione, &ione, descA);
  }
  PetscCall(PetscFree2(Ys, Ds));
  for (PetscInt jl = 0; jl < nloc; jl++)
    for (PetscInt il = 0; il < mloc; il++)
      if (LocalToGlobal(il, nb, myrow, nprow) == LocalToGlobal(jl, nb, mycol, npcol)) A[jl * lld + il] += (PetscReal)(M - 1);

  /* A = E L E^T */
  pdsyevd_("V", "L", &M, A, &ione, &ione, descA, l, E, &ione, &ione, descA, &wq, &lwork, &iwq, &liwork, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "ScaLAPACK pdsyevd workspace query failed for M = %d, info %d", M, info);
  /* the query under-reports for small matrices (M < block: PDORMTR then refuses the work
   * space), so also take the documented bound plus what PDORMTR asks for */
  lwork  = PetscMax((int)wq, PetscMax(1 + 6 * M + 2 * mloc * nloc, 3 * M + PetscMax(nb * (mloc + 1), 3 * nb)) + 2 * M);
  lwork += (nb * (nb - 1)) / 2 + (mloc + nloc) * nb + nb * nb;
  liwork = PetscMax(iwq, 7 * M + 8 * npcol + 2);
  PetscCall(PetscMalloc2((size_t)lwork, &work, (size_t)liwork, &iwork));
  pdsyevd_("V", "L", &M, A, &ione, &ione, descA, l, E, &ione, &ione, descA, work, &lwork, iwork, &liwork, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "ScaLAPACK pdsyevd failed on the %d x %d ensemble-space matrix (%d x %d grid, block %d), info %d", M, M, nprow, npcol, nb, info);
  PetscCall(PetscFree2(work, iwork));

  if (!enkf) { /* T = sqrt(M-1) F F^T, F = E L^-1/4 (lower triangle) */
    for (PetscInt jl = 0; jl < nloc; jl++) {
      const PetscReal s = PetscPowReal(l[LocalToGlobal(jl, nb, mycol, npcol)], -0.25);
      for (PetscInt il = 0; il < mloc; il++) E[jl * lld + il] *= s;
    }
    pdsyrk_("L", "N", &M, &M, &sk, E, &ione, &ione, descA, &zero, T, &ione, &ione, descA);
  } else { /* G = E (L^-1 (E^T Q)), Q in T, G in T */
    pdgemm_("T", "N", &M, &M, &M, &one, E, &ione, &ione, descA, T, &ione, &ione, descA, &zero, A, &ione, &ione, descA);
    for (PetscInt il = 0; il < mloc; il++) {
      const PetscReal s = 1.0 / l[LocalToGlobal(il, nb, myrow, nprow)];
      for (PetscInt jl = 0; jl < nloc; jl++) A[jl * lld + il] *= s;
    }
    pdgemm_("N", "N", &M, &M, &M, &one, E, &ione, &ione, descA, A, &ione, &ione, descA, &zero, T, &ione, &ione, descA);
  }
  for (PetscInt jl = 0; jl < nloc; jl++) {
    const PetscInt k = LocalToGlobal(jl, nb, mycol, npcol);
    for (PetscInt il = 0; il < mloc; il++) {
      const PetscInt i = LocalToGlobal(il, nb, myrow, nprow);
      if (enkf || i >= k) W[k * c->M + i] = T[jl * lld + il];
    }
  }
  PetscCall(PetscFree4(A, E, T, l));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterScaLAPACKWeights(DaisiFilter f, const DaisiFilterContext *c, DaisiFilterWeightsKind kind, PetscReal W[])
{
  const size_t chunk = (size_t)1 << 22; /* doubles per reduction: bounds MPI's scratch (32 MB) */
  const size_t n     = (size_t)c->M * (size_t)c->M;
  PetscInt     pr, pc;
  int          me, np, handle, ctxt, nprow = -1, npcol = -1, myrow = -1, mycol = -1;

  PetscFunctionBegin;
  PetscCall(DaisiFilterScaLAPACKGrid(f, c->size, &pr, &pc));
  PetscCall(PetscLogEventBegin(DAISI_FilterScaLAPACK, 0, 0, 0, 0));
  PetscCall(PetscArrayzero(W, n));
  Cblacs_pinfo(&me, &np); /* sets BLACS up on first use */
  handle = Csys2blacs_handle(c->comm);
  ctxt   = handle;
  Cblacs_gridinit(&ctxt, "Row", (int)pr, (int)pc);
  /* ranks beyond pr*pc are not in the grid (context -1): they only receive W */
  if (ctxt >= 0) Cblacs_gridinfo(ctxt, &nprow, &npcol, &myrow, &mycol);
  if (myrow >= 0 && mycol >= 0) {
    PetscCall(GridWeights(f, c, kind, ctxt, nprow, npcol, myrow, mycol, W));
    Cblacs_gridexit(ctxt);
  }
  Cfree_blacs_system_handle(handle);
  PetscCall(PetscLogEventEnd(DAISI_FilterScaLAPACK, 0, 0, 0, 0));

  /* every entry has exactly one nonzero contribution, so the sum is exact and every rank gets
   * the same W bit for bit */
  PetscCall(PetscLogEventBegin(DAISI_FilterWeightsReplicate, 0, 0, 0, 0));
  for (size_t s = 0; s < n; s += chunk) PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, W + s, (PetscMPIInt)PetscMin(chunk, n - s), MPIU_REAL, MPI_SUM, c->comm));
  PetscCall(PetscLogEventEnd(DAISI_FilterWeightsReplicate, 0, 0, 0, 0));
  if (kind == DAISI_FILTER_WEIGHTS_ETKF) /* the lower triangle was formed: mirror it */
    for (PetscInt i = 0; i < c->M; i++)
      for (PetscInt k = i + 1; k < c->M; k++) W[k * c->M + i] = W[i * c->M + k];
  PetscFunctionReturn(PETSC_SUCCESS);
}
