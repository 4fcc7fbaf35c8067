/* Global ensemble-space filters (ETKF, stochastic EnKF) and the free-running "none".
 *
 * Both global filters reduce to one M x M problem, A = (k-1) I + Yb R^-1 Yb^T = E L E^T,
 * whose solution, an M x M weight matrix W, is then applied at every analysis point of every
 * rank. GlobalEnsembleSpaceSolve computes W with one of two solvers (-filter_ensspace_solver):
 *   lapack     redundantly on every rank from identical inputs (BLAS-3 formation, LAPACK
 *              eigensolver): every rank has the same W bit for bit and no rank waits;
 *   scalapack  distributed over a BLACS grid spanning the ensemble's world (scalapack.c), for
 *              thousands of members, W then replicated to every rank;
 *   auto       scalapack on more than one rank from -filter_scalapack_threshold members.
 * The weights are applied with dgemm on fixed-size batches of points, so that every point
 * goes through the same code path on every layout. */
#include "scalapack.h"
#include <daisi/rng.h>
#include <daisi/sys.h>

/* points per dgemm when applying W; observations per BLAS-3 update when forming A */
#define ENSSPACE_BATCH 64

const char *const DaisiFilterEnsSpaceSolvers[] = {"auto", "lapack", "scalapack"};

PetscErrorCode DaisiFilterEnsSpaceParamsDefault(DaisiFilter f)
{
  PetscFunctionBegin;
  if (!DAISI_FilterScaLAPACK) {
    PetscCall(PetscLogEventRegister("FilterScaLAPACK", DAISI_CLASSID, &DAISI_FilterScaLAPACK));
    PetscCall(PetscLogEventRegister("FilterWeightsRepl", DAISI_CLASSID, &DAISI_FilterWeightsReplicate));
  }
  f->enssolver = DAISI_FILTER_ENSSPACE_AUTO;
  /* measured on the 2-core CI machine class (docs/performance.md): ScaLAPACK on 2 ranks
   * overtakes the redundant LAPACK solve from about this many members */
  f->sca_threshold = 1000;
  f->sca_block     = 64;
  f->sca_grid[0] = f->sca_grid[1] = 0; /* automatic */
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterEnsSpaceParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject)
{
  PetscInt    solver = f->enssolver, v, grid[2] = {f->sca_grid[0], f->sca_grid[1]}, ng = 2;
  PetscBool   set;
  PetscMPIInt size;

  PetscFunctionBegin;
  PetscCall(PetscOptionsEList("-filter_ensspace_solver", "M x M solver of etkf and enkf: auto, lapack (redundant on every rank), scalapack (distributed)", "", DaisiFilterEnsSpaceSolvers, 3, DaisiFilterEnsSpaceSolvers[solver], &solver, NULL));
  f->enssolver = solver;
  v            = f->sca_threshold;
  PetscCall(PetscOptionsInt("-filter_scalapack_threshold", "auto: ScaLAPACK from this many members (on more than one rank)", "", v, &v, &set));
  PetscCheck(v >= 0, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-filter_scalapack_threshold must be >= 0 (members), got %" PetscInt_FMT, v);
  f->sca_threshold = v;
  v                = f->sca_block;
  PetscCall(PetscOptionsInt("-filter_scalapack_block", "ScaLAPACK block size (rows = columns)", "", v, &v, &set));
  PetscCheck(v >= 1 && v <= 1 << 20, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-filter_scalapack_block must be in [1, 2^20], got %" PetscInt_FMT, v);
  f->sca_block = v;
  PetscCall(PetscOptionsIntArray("-filter_scalapack_grid", "ScaLAPACK process grid pr,pc (pr*pc <= ranks; default: the most square grid over all ranks)", "", grid, &ng, &set));
  if (set) {
    PetscCallMPI(MPI_Comm_size(f->comm, &size));
    PetscCheck(ng == 2 && grid[0] >= 1 && grid[1] >= 1, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-filter_scalapack_grid takes two values pr,pc >= 1 (rows, columns of the process grid)");
    PetscCheck(grid[0] * grid[1] <= size, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-filter_scalapack_grid %" PetscInt_FMT ",%" PetscInt_FMT " needs %" PetscInt_FMT " ranks, the filter has %d", grid[0], grid[1], grid[0] * grid[1], (int)size);
    f->sca_grid[0] = grid[0];
    f->sca_grid[1] = grid[1];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscBool UseScaLAPACK(DaisiFilter f, const DaisiFilterContext *c)
{
  if (f->enssolver == DAISI_FILTER_ENSSPACE_LAPACK) return PETSC_FALSE;
  if (f->enssolver == DAISI_FILTER_ENSSPACE_SCALAPACK) return PETSC_TRUE;
  /* on one rank the distributed solver only adds overhead (measured) */
  return (PetscBool)(c->size > 1 && c->M >= f->sca_threshold);
}

PetscReal DaisiFilterEnKFScaledInnovation(DaisiFilter f, const DaisiFilterContext *c, PetscInt o, PetscInt i)
{
  const DaisiRng r = DaisiRngMake((uint64_t)f->seed, DAISI_RNG_ENKF_PERTURBED_OBS, (uint64_t)c->obs->cycle, (uint64_t)i, 0);
  return (c->obs->value[o] + c->obs->sigma[o] * DaisiRngNormal(&r, (uint64_t)o) - c->HX[o * c->M + i]) / c->obs->sigma[o];
}

/* The serial solver, run redundantly on every rank: A lower = (M-1) I + Ys Ys^T (and
 * Q = Ys Ds^T for the EnKF) accumulated over batches of observations with dsyrk/dgemm, the
 * LAPACK eigensolver of -letkf_eigensolver, then the weights with BLAS-3. */
static PetscErrorCode SerialWeights(DaisiFilter f, const DaisiFilterContext *c, DaisiFilterWeightsKind kind, PetscReal W[])
{
  const PetscInt  M = c->M, B = ENSSPACE_BATCH;
  const PetscBool enkf = (PetscBool)(kind == DAISI_FILTER_WEIGHTS_ENKF);
  const double    one = 1, zero = 0, sk = PetscSqrtReal((PetscReal)(M - 1));
  int             m, nb;
  PetscReal      *A, *E, *Q, *l, *Ys, *Ds;
  void           *mem;
  DaisiFilterEig  eig;

  PetscFunctionBegin;
  PetscCall(PetscMPIIntCast(M, &m));
  PetscCall(DaisiFilterAlignedMalloc((size_t)M * M * 3 + (size_t)M * (2 * B + 1) + 64, &mem, &A));
  E  = A + (size_t)M * M + 8 - (M * M) % 8; /* every array 64-byte aligned */
  Q  = E + (size_t)M * M + 8 - (M * M) % 8;
  Ys = Q + (size_t)M * M + 8 - (M * M) % 8;
  Ds = Ys + (size_t)M * B;
  l  = Ds + (size_t)M * B;
  PetscCall(PetscArrayzero(A, (size_t)M * M));
  if (enkf) PetscCall(PetscArrayzero(Q, (size_t)M * M)); /* untouched (not resident) for the etkf */
  for (PetscInt a = 0; a < M; a++) A[a * M + a] = (PetscReal)(M - 1);
  for (PetscInt o0 = 0; o0 < c->nobs; o0 += B) {
    nb = (int)PetscMin(B, c->nobs - o0);
    for (PetscInt k = 0; k < nb; k++) {
      const PetscInt   o = o0 + k;
      const PetscReal  s = 1.0 / c->obs->sigma[o], *y = c->Yb + o * M;
      for (PetscInt a = 0; a < M; a++) Ys[k * M + a] = s * y[a];
      if (enkf)
        for (PetscInt i = 0; i < M; i++) Ds[k * M + i] = DaisiFilterEnKFScaledInnovation(f, c, o, i);
    }
    dsyrk_("L", "N", &m, &nb, &one, Ys, &m, &one, A, &m);
    if (enkf) dgemm_("N", "T", &m, &m, &nb, &one, Ys, &m, Ds, &m, &one, Q, &m);
  }
  PetscCall(DaisiFilterEigCreate(M, f->eigsolver, &eig));
  PetscCall(DaisiFilterEigSolve(&eig, M, A, l, E));
  PetscCall(DaisiFilterEigDestroy(&eig));
  if (!enkf) { /* T = sqrt(M-1) F F^T, F = E L^-1/4: lower triangle, then mirrored */
    for (PetscInt q = 0; q < M; q++) {
      const PetscReal s = PetscPowReal(l[q], -0.25);
      for (PetscInt i = 0; i < M; i++) E[q * M + i] *= s;
    }
    dsyrk_("L", "N", &m, &m, &sk, E, &m, &zero, W, &m);
    for (PetscInt i = 0; i < M; i++)
      for (PetscInt k = i + 1; k < M; k++) W[k * M + i] = W[i * M + k];
  } else { /* G = E (L^-1 (E^T Q)) */
    dgemm_("T", "N", &m, &m, &m, &one, E, &m, Q, &m, &zero, A, &m);
    for (PetscInt i = 0; i < M; i++)
      for (PetscInt q = 0; q < M; q++) A[i * M + q] /= l[q];
    dgemm_("N", "N", &m, &m, &m, &one, E, &m, A, &m, &zero, W, &m);
  }
  PetscCall(PetscFree(mem));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The hook of the distributed solver: W on every rank of c->comm (layout in scalapack.h). */
static PetscErrorCode GlobalEnsembleSpaceSolve(DaisiFilter f, const DaisiFilterContext *c, DaisiFilterWeightsKind kind, PetscReal W[])
{
  PetscFunctionBegin;
  if (UseScaLAPACK(f, c)) PetscCall(DaisiFilterScaLAPACKWeights(f, c, kind, W));
  else PetscCall(SerialWeights(f, c, kind, W));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* x'_a = z W at every point, batches of ENSSPACE_BATCH points per dgemm (the last one padded
 * with zero rows so that every call has the same shape), then
 *   etkf: x_a = mean + z.wbar + x'_a,  enkf: x_a = x_b + x'_a,
 * and RTPP/RTPS on the analysis perturbations. */
static PetscErrorCode ApplyWeights(DaisiFilter f, DaisiFilterContext *c, DaisiFilterWeightsKind kind, const PetscReal W[], const PetscReal wbar[])
{
  const PetscInt M = c->M, B = ENSSPACE_BATCH;
  const double   one = 1, zero = 0;
  const int      b = (int)B;
  int            m;
  PetscReal     *Z, *Xp, *mean;
  void          *mem;

  PetscFunctionBegin;
  PetscCall(PetscMPIIntCast(M, &m));
  PetscCall(DaisiFilterAlignedMalloc((size_t)M * B * 2 + B + 16, &mem, &Z));
  Xp   = Z + (size_t)M * B;
  mean = Xp + (size_t)M * B;
  for (PetscInt j0 = 0; j0 < c->npts; j0 += B) {
    const PetscInt nb = PetscMin(B, c->npts - j0);
    for (PetscInt jj = 0; jj < B; jj++) {
      const PetscReal *xj = c->x + (j0 + jj) * M;
      PetscReal       *z  = Z + jj * M, s = 0;
      if (jj >= nb) {
        PetscCall(PetscArrayzero(z, M));
        continue;
      }
      for (PetscInt i = 0; i < M; i++) s += xj[i];
      mean[jj] = s / M;
      for (PetscInt i = 0; i < M; i++) z[i] = xj[i] - mean[jj];
    }
    dgemm_("T", "N", &m, &b, &m, &one, W, &m, Z, &m, &zero, Xp, &m);
    for (PetscInt jj = 0; jj < nb; jj++) {
      PetscReal *xj = c->x + (j0 + jj) * M, *z = Z + jj * M, *xp = Xp + jj * M;
      if (kind == DAISI_FILTER_WEIGHTS_ETKF) {
        PetscReal delta = 0;
        for (PetscInt k = 0; k < M; k++) delta += z[k] * wbar[k];
        DaisiFilterRelax(M, f->rtpp, f->rtps, z, xp);
        for (PetscInt i = 0; i < M; i++) xj[i] = mean[jj] + delta + xp[i];
      } else if (f->rtps > 0 || f->rtpp > 0) {
        PetscReal meana = 0;
        for (PetscInt i = 0; i < M; i++) meana += xj[i] + xp[i];
        meana /= M;
        for (PetscInt i = 0; i < M; i++) xp[i] = xj[i] + xp[i] - meana;
        DaisiFilterRelax(M, f->rtpp, f->rtps, z, xp);
        for (PetscInt i = 0; i < M; i++) xj[i] = meana + xp[i];
      } else
        for (PetscInt i = 0; i < M; i++) xj[i] += xp[i];
    }
  }
  f->stats.npoints     = c->npts;
  f->stats.nlocalobs   = (PetscInt64)c->npts * c->nobs;
  f->stats.maxlocalobs = c->nobs;
  PetscCall(PetscFree(mem));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ETKF: W = T = sqrt(k-1) A^-1/2 and mean weights wbar = A^-1 b = T (T b) / (k-1),
 * b = Yb R^-1 d, applied at every point. */
static PetscErrorCode DaisiFilterAnalysis_ETKF(DaisiFilter f, DaisiFilterContext *c)
{
  const PetscInt M = c->M;
  PetscReal     *T, *b, *t, *wbar;
  void          *mem;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(DaisiFilterAlignedMalloc((size_t)M * M + 3 * (size_t)M + 32, &mem, &T));
  b    = T + (size_t)M * M + 8 - (M * M) % 8;
  t    = b + M + 8 - M % 8;
  wbar = t + M + 8 - M % 8;
  PetscCall(GlobalEnsembleSpaceSolve(f, c, DAISI_FILTER_WEIGHTS_ETKF, T));
  PetscCall(PetscArrayzero(b, M));
  for (PetscInt o = 0; o < c->nobs; o++) {
    const PetscReal *y = c->Yb + o * M, w = c->d[o] / (c->obs->sigma[o] * c->obs->sigma[o]);
    for (PetscInt a = 0; a < M; a++) b[a] += w * y[a];
  }
  for (PetscInt i = 0; i < M; i++) {
    PetscReal s = 0;
    for (PetscInt k = 0; k < M; k++) s += T[i * M + k] * b[k];
    t[i] = s;
  }
  for (PetscInt i = 0; i < M; i++) {
    PetscReal s = 0;
    for (PetscInt k = 0; k < M; k++) s += T[i * M + k] * t[k];
    wbar[i] = s / (M - 1);
  }
  PetscCall(PetscLogEventEnd(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(ApplyWeights(f, c, DAISI_FILTER_WEIGHTS_ETKF, T, wbar));
  PetscCall(PetscLogEventEnd(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(PetscFree(mem));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Stochastic EnKF with perturbed observations y + eps_i, eps_i ~ N(0, R):
 *   x_a^(i) = x_b^(i) + X'_b Yb^T S^-1 (y + eps_i - H x_b^(i)) / (k-1),  S = Yb^T Yb / (k-1) + R,
 * computed in ensemble space: Yb S^-1 = (k-1) A^-1 Yb R^-1, so x_a = X_b + X'_b G with
 * G = A^-1 Yb R^-1 D (M x M), D the perturbed innovations of every member. */
static PetscErrorCode DaisiFilterAnalysis_EnKF(DaisiFilter f, DaisiFilterContext *c)
{
  const PetscInt M = c->M;
  PetscReal     *G;
  void          *mem;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(DaisiFilterAlignedMalloc((size_t)M * M, &mem, &G));
  PetscCall(GlobalEnsembleSpaceSolve(f, c, DAISI_FILTER_WEIGHTS_ENKF, G));
  PetscCall(PetscLogEventEnd(DAISI_FilterTransform, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(ApplyWeights(f, c, DAISI_FILTER_WEIGHTS_ENKF, G, NULL));
  PetscCall(PetscLogEventEnd(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(PetscFree(mem));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiFilterView_Global(DaisiFilter f, PetscViewer v)
{
  PetscMPIInt size;
  PetscInt    pr, pc;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(f->comm, &size));
  PetscCall(DaisiFilterScaLAPACKGrid(f, size, &pr, &pc));
  if (f->enssolver == DAISI_FILTER_ENSSPACE_LAPACK) PetscCall(PetscViewerASCIIPrintf(v, "ensemble-space solver: lapack (redundant on every rank)\n"));
  else if (f->enssolver == DAISI_FILTER_ENSSPACE_SCALAPACK) PetscCall(PetscViewerASCIIPrintf(v, "ensemble-space solver: scalapack (%" PetscInt_FMT " x %" PetscInt_FMT " grid, block %" PetscInt_FMT ")\n", pr, pc, f->sca_block));
  else PetscCall(PetscViewerASCIIPrintf(v, "ensemble-space solver: auto (scalapack on a %" PetscInt_FMT " x %" PetscInt_FMT " grid, block %" PetscInt_FMT ", from %" PetscInt_FMT " members on more than one rank; lapack below)\n", pr, pc, f->sca_block, f->sca_threshold));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_ETKF(DaisiFilter f)
{
  PetscFunctionBegin;
  f->ops.analysis = DaisiFilterAnalysis_ETKF;
  f->ops.view     = DaisiFilterView_Global;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_EnKF(DaisiFilter f)
{
  PetscFunctionBegin;
  f->ops.analysis = DaisiFilterAnalysis_EnKF;
  f->ops.view     = DaisiFilterView_Global;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_None(DaisiFilter f)
{
  PetscFunctionBegin;
  f->ops.analysis = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}
