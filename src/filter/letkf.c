/* LETKF (Hunt et al. 2007) as EXPERIMENTS.md runs it: one local analysis per grid point and
 * level of this rank's share of the analysis layout. */
#include "filterimpl.h"

typedef struct {
  PetscInt  dy, dx;
  PetscReal rho;
} LocalOffset;

/* Horizontal offsets (in grid cells) within the cutoff on the doubly periodic plane, with
 * their Gaspari-Cohn weight. Each periodic image is listed once, so an "infinite" cutoff
 * visits every column exactly once. Distances use the grid spacing L/N. */
static PetscErrorCode LetkfOffsets(const DaisiGrid *g, PetscReal cutoff, PetscInt *noff, LocalOffset **off)
{
  const PetscReal Dy = g->Ly / g->ny, Dx = g->Lx / g->nx;
  PetscBool       fully = (PetscBool)(Dy <= 0 || cutoff / Dy >= 0.5 * g->ny), fullx = (PetscBool)(Dx <= 0 || cutoff / Dx >= 0.5 * g->nx);
  PetscInt        ylo, yhi, xlo, xhi, n = 0;

  PetscFunctionBegin;
  ylo = fully ? 0 : -(PetscInt)PetscFloorReal(cutoff / Dy);
  yhi = fully ? g->ny - 1 : -ylo;
  xlo = fullx ? 0 : -(PetscInt)PetscFloorReal(cutoff / Dx);
  xhi = fullx ? g->nx - 1 : -xlo;
  PetscCall(PetscMalloc1((yhi - ylo + 1) * (xhi - xlo + 1), off));
  for (PetscInt dy = ylo; dy <= yhi; dy++)
    for (PetscInt dx = xlo; dx <= xhi; dx++) {
      const PetscInt  ay = fully ? PetscMin(dy, g->ny - dy) : PetscAbsInt(dy), ax = fullx ? PetscMin(dx, g->nx - dx) : PetscAbsInt(dx);
      const PetscReal dist = PetscSqrtReal((ay * Dy) * (ay * Dy) + (ax * Dx) * (ax * Dx));
      const PetscReal rho  = DaisiGaspariCohn(dist / cutoff);
      if (rho > 0) {
        (*off)[n].dy  = dy;
        (*off)[n].dx  = dx;
        (*off)[n].rho = rho;
        n++;
      }
    }
  *noff = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One point's problem: built by LetkfPrepare*, factored in a batch, finished by LetkfFinish*. */
typedef struct {
  PetscReal *A, *w, *Z, *z, *xp, *bvec, *u; /* A: the M x M (or p x p) matrix; z: x'_b */
  PetscReal *xj, mean;                      /* the point's members, their prior mean */
  PetscInt   n;                             /* size of the eigenproblem (p or M) */
  PetscBool  obsspace;
} LetkfPoint;

/* Ensemble space, as the formulas read: A = (k-1) I + Yb R^-1 Yb^T = E L E^T,
 * x'_a = sqrt(k-1) z E L^-1/2 E^T, mean increment z E L^-1 E^T Yb R^-1 d (z = X'_b). */
static PetscErrorCode LetkfPrepareEnsembleSpace(PetscInt M, PetscInt p, const PetscInt lo[], const PetscReal lw[], const PetscReal Yb[], const PetscReal d[], LetkfPoint *pt)
{
  PetscReal *A = pt->A, *b = pt->bvec;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(A, M * M));
  PetscCall(PetscArrayzero(b, M));
  for (PetscInt k = 0; k < p; k++) {
    const PetscReal *y = Yb + lo[k] * M, wd = lw[k] * d[lo[k]];
    /* the full square (vectorises better than the triangle; the solvers read one triangle) */
    for (PetscInt a = 0; a < M; a++) {
      const PetscReal fa  = lw[k] * y[a];
      PetscReal      *row = A + a * M;
      for (PetscInt c = 0; c < M; c++) row[c] += fa * y[c];
      b[a] += wd * y[a];
    }
  }
  for (PetscInt a = 0; a < M; a++) A[a * M + a] += (PetscReal)(M - 1);
  pt->n        = M;
  pt->obsspace = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LetkfFinishEnsembleSpace(DaisiFilterEig *eig, PetscInt M, LetkfPoint *pt, PetscReal *delta)
{
  const PetscReal k1 = (PetscReal)(M - 1);

  PetscFunctionBegin;
  PetscCall(PetscArraycpy(pt->xp, pt->z, M));
  DaisiFilterEigToBasis(eig, pt->xp);   /* E^T z */
  DaisiFilterEigToBasis(eig, pt->bvec); /* E^T b */
  *delta = 0;
  for (PetscInt q = 0; q < M; q++) {
    *delta += pt->xp[q] * pt->bvec[q] / pt->w[q];
    pt->xp[q] *= PetscSqrtReal(k1 / pt->w[q]);
  }
  DaisiFilterEigFromBasis(eig, pt->xp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The same transform through the p x p problem B = Z Z^T = U S U^T, Z = R^-1/2 Yb^T (p < M).
 * A = (k-1) I + Z^T Z, so functions of A act on the row space of Z through B:
 *   sqrt(k-1) A^-1/2 z = z + Z^T U gamma(S) U^T Z z,
 *     gamma(s) = (sqrt((k-1)/(k-1+s)) - 1) / s = -1 / (sqrt(k-1+s) (sqrt(k-1) + sqrt(k-1+s))),
 *   z A^-1 Yb R^-1 d   = sum_q (U^T Z z)_q (U^T R^-1/2 d)_q / (k-1+s_q).
 * Zz is kept in u, R^-1/2 d in bvec. */
static PetscErrorCode LetkfPrepareObsSpace(PetscInt M, PetscInt p, const PetscInt lo[], const PetscReal lw[], const PetscReal Yb[], const PetscReal d[], LetkfPoint *pt)
{
  PetscReal *Z = pt->Z, *B = pt->A;

  PetscFunctionBegin;
  for (PetscInt k = 0; k < p; k++) {
    const PetscReal  sw = PetscSqrtReal(lw[k]), *y = Yb + lo[k] * M;
    PetscReal        zz = 0;
    for (PetscInt a = 0; a < M; a++) {
      Z[k * M + a] = sw * y[a];
      zz += Z[k * M + a] * pt->z[a];
    }
    pt->u[k]    = zz;
    pt->bvec[k] = sw * d[lo[k]];
  }
  for (PetscInt k = 0; k < p; k++)
    for (PetscInt l = k; l < p; l++) {
      PetscReal s = 0;
      for (PetscInt a = 0; a < M; a++) s += Z[k * M + a] * Z[l * M + a];
      B[k * p + l] = s;
    }
  pt->n        = p;
  pt->obsspace = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LetkfFinishObsSpace(DaisiFilterEig *eig, PetscInt M, LetkfPoint *pt, PetscReal *delta)
{
  const PetscInt  p  = pt->n;
  const PetscReal k1 = (PetscReal)(M - 1), sk1 = PetscSqrtReal(k1);
  PetscReal      *Zz = pt->u, *c = pt->bvec;

  PetscFunctionBegin;
  DaisiFilterEigToBasis(eig, Zz); /* U^T Z z */
  DaisiFilterEigToBasis(eig, c);  /* U^T R^-1/2 d */
  *delta = 0;
  for (PetscInt q = 0; q < p; q++) {
    const PetscReal r = PetscSqrtReal(k1 + pt->w[q]);
    *delta += Zz[q] * c[q] / (k1 + pt->w[q]);
    Zz[q] *= -1.0 / (r * (sk1 + r)); /* gamma(s_q), finite at s_q = 0 */
  }
  DaisiFilterEigFromBasis(eig, Zz);
  PetscCall(PetscArraycpy(pt->xp, pt->z, M));
  for (PetscInt k = 0; k < p; k++) {
    const PetscReal  y = Zz[k], *zk = pt->Z + k * M;
    for (PetscInt a = 0; a < M; a++) pt->xp[a] += y * zk[a];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Factor the prepared problems of nb points together, then finish each: analysis members
 * mean + delta + x'_a (after RTPP/RTPS) written back in place. */
static PetscErrorCode LetkfFlush(DaisiFilter f, PetscInt M, PetscInt nb, LetkfPoint pt[], DaisiFilterEig eig[])
{
  PetscInt         n[DAISI_FILTER_EIG_BATCH] = {0};
  const PetscReal *A[DAISI_FILTER_EIG_BATCH] = {NULL};
  PetscReal       *w[DAISI_FILTER_EIG_BATCH] = {NULL};

  PetscFunctionBegin;
  if (!nb) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt b = 0; b < nb; b++) {
    n[b] = pt[b].n;
    A[b] = pt[b].A;
    w[b] = pt[b].w;
  }
  PetscCall(DaisiFilterEigFactor(nb, eig, n, A, w));
  for (PetscInt b = 0; b < nb; b++) {
    PetscReal delta;
    if (pt[b].obsspace) PetscCall(LetkfFinishObsSpace(&eig[b], M, &pt[b], &delta));
    else PetscCall(LetkfFinishEnsembleSpace(&eig[b], M, &pt[b], &delta));
    DaisiFilterRelax(M, f->rtpp, f->rtps, pt[b].z, pt[b].xp);
    for (PetscInt m = 0; m < M; m++) pt[b].xj[m] = pt[b].mean + delta + pt[b].xp[m];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiFilterAnalysis_LETKF(DaisiFilter f, DaisiFilterContext *c)
{
  const DaisiGrid   *g = &c->grid;
  const DaisiObsSet *obs = c->obs;
  const PetscInt     M = c->M, ncell = g->ny * g->nx;
  PetscInt           noff, *cstart, *cobs, *lo, *colo, *ywrap, *xwrap, maxp = 0;
  PetscInt64         sump = 0;
  PetscReal         *fv, *lw, *colw, *base;
  LocalOffset       *off;
  LetkfPoint         pts[DAISI_FILTER_EIG_BATCH];
  DaisiFilterEig     eig[DAISI_FILTER_EIG_BATCH];
  PetscInt           nlanes, nb = 0;
  void              *mem;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(LetkfOffsets(g, f->cutoff, &noff, &off));
  /* observation lookup: the observations of every grid column, in index order */
  PetscCall(PetscCalloc1(ncell + 1, &cstart));
  PetscCall(PetscMalloc5(PetscMax(1, c->nobs), &cobs, PetscMax(1, c->nobs), &lo, PetscMax(1, c->nobs), &lw, PetscMax(1, c->nobs), &colo, PetscMax(1, c->nobs), &colw));
  /* periodic wrap of y + dy, x + dx (offsets are within (-n, n)) without a division */
  PetscCall(PetscMalloc2(3 * g->ny, &ywrap, 3 * g->nx, &xwrap));
  for (PetscInt i = 0; i < 3 * g->ny; i++) ywrap[i] = i % g->ny;
  for (PetscInt i = 0; i < 3 * g->nx; i++) xwrap[i] = i % g->nx;
  for (PetscInt o = 0; o < c->nobs; o++) cstart[obs->iy[o] * g->nx + obs->ix[o] + 1]++;
  for (PetscInt i = 0; i < ncell; i++) cstart[i + 1] += cstart[i];
  {
    PetscInt *fill;
    PetscCall(PetscMalloc1(ncell, &fill));
    PetscCall(PetscArraycpy(fill, cstart, ncell));
    for (PetscInt o = 0; o < c->nobs; o++) cobs[fill[obs->iy[o] * g->nx + obs->ix[o]]++] = o;
    PetscCall(PetscFree(fill));
  }
  /* vertical factor by level distance */
  PetscCall(PetscMalloc1(g->nlev, &fv));
  for (PetscInt dl = 0; dl < g->nlev; dl++) fv[dl] = dl ? DaisiGaspariCohn(dl * f->lr / f->cutoff) : 1.0;

  /* Up to DAISI_FILTER_EIG_BATCH points are factored together (the built-in solver overlaps
   * their latency-bound rotations); for large M one at a time, to bound the memory. Per point,
   * every array 64-byte aligned: A M x M, Z p x M (p < M), five vectors of M. */
  nlanes = M <= 64 ? DAISI_FILTER_EIG_BATCH : 1;
  PetscCall(DaisiFilterAlignedMalloc((size_t)nlanes * (2 * M * M + 5 * M + 64), &mem, &base));
  for (PetscInt b = 0; b < nlanes; b++) {
    LetkfPoint *pt = &pts[b];
    pt->A    = base + b * (2 * M * M + 5 * M + 64);
    pt->Z    = pt->A + M * M + 8 - (M * M) % 8;
    pt->w    = pt->Z + M * M + 8 - (M * M) % 8;
    pt->z    = pt->w + M + 8 - M % 8;
    pt->xp   = pt->z + M + 8 - M % 8;
    pt->bvec = pt->xp + M + 8 - M % 8;
    pt->u    = pt->bvec + M + 8 - M % 8;
    PetscCall(DaisiFilterEigCreate(M, f->eigsolver, &eig[b]));
  }

  /* Column by column: the local observations of a column (offset order, then index order; a
   * function of the column only, so every layout sums in the same order) are gathered once and
   * serve every level of the column held by this rank, each with its vertical factor. */
  for (PetscInt cell = 0; cell < ncell; cell++) {
    const PetscInt y = cell / g->nx, x = cell % g->nx;
    PetscInt       pc = 0;
    PetscBool      mine = PETSC_FALSE;

    for (PetscInt lev = 0; lev < g->nlev; lev++) mine = (PetscBool)(mine || (lev * ncell + cell) % c->size == c->rank);
    if (!mine) continue;
    for (PetscInt t = 0; t < noff; t++) {
      const PetscInt cc = ywrap[y + off[t].dy + g->ny] * g->nx + xwrap[x + off[t].dx + g->nx];
      for (PetscInt k = cstart[cc]; k < cstart[cc + 1]; k++) {
        colo[pc]   = cobs[k];
        colw[pc++] = off[t].rho / (obs->sigma[cobs[k]] * obs->sigma[cobs[k]]);
      }
    }
    for (PetscInt lev = 0; lev < g->nlev; lev++) {
      const PetscInt gi = lev * ncell + cell;
      PetscReal     *xj;
      PetscInt       p = 0;
      LetkfPoint    *pt;

      if (gi % c->size != c->rank) continue;
      xj = c->x + (gi / c->size) * M;
      for (PetscInt k = 0; k < pc; k++) {
        const PetscReal w = colw[k] * fv[PetscAbsInt(obs->lev[colo[k]] - lev)];
        if (w > 0) {
          lo[p] = colo[k];
          lw[p] = w;
          p++;
        }
      }
      sump += p;
      maxp = PetscMax(maxp, p);
      if (!p) continue; /* no local observation: the prior stands (relaxation is the identity) */
      pt = &pts[nb++];
      pt->xj   = xj;
      pt->mean = 0;
      for (PetscInt m = 0; m < M; m++) pt->mean += xj[m];
      pt->mean /= M;
      for (PetscInt m = 0; m < M; m++) pt->z[m] = xj[m] - pt->mean;
      if (f->ensspace || p >= M) PetscCall(LetkfPrepareEnsembleSpace(M, p, lo, lw, c->Yb, c->d, pt));
      else PetscCall(LetkfPrepareObsSpace(M, p, lo, lw, c->Yb, c->d, pt));
      if (nb == nlanes) {
        PetscCall(LetkfFlush(f, M, nb, pts, eig));
        nb = 0;
      }
    }
  }
  PetscCall(LetkfFlush(f, M, nb, pts, eig));
  f->stats.npoints     = c->npts;
  f->stats.nlocalobs   = sump;
  f->stats.maxlocalobs = maxp;
  for (PetscInt b = 0; b < nlanes; b++) PetscCall(DaisiFilterEigDestroy(&eig[b]));
  PetscCall(PetscFree(mem));
  PetscCall(PetscFree(fv));
  PetscCall(PetscFree5(cobs, lo, lw, colo, colw));
  PetscCall(PetscFree2(ywrap, xwrap));
  PetscCall(PetscFree(cstart));
  PetscCall(PetscFree(off));
  PetscCall(PetscLogEventEnd(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiFilterSetFromOptions_LETKF(DaisiFilter f, PetscOptionItems *PetscOptionsObject)
{
  PetscReal r;
  PetscBool set, b = f->ensspace;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "LETKF options");
  r = f->cutoff;
  PetscCall(PetscOptionsReal("-letkf_cutoff", "Gaspari-Cohn cutoff distance (m; GC reaches 0 there; huge = no localisation)", "DaisiFilterLETKFSetCutoff", r, &r, &set));
  if (set) PetscCall(DaisiFilterLETKFSetCutoff(f, r));
  r = f->lr;
  PetscCall(PetscOptionsReal("-letkf_lr", "Vertical localisation length (m): factor GC(Lr/cutoff) between levels", "DaisiFilterLETKFSetVerticalScale", r, &r, &set));
  if (set) PetscCall(DaisiFilterLETKFSetVerticalScale(f, r));
  PetscCall(PetscOptionsBool("-letkf_ensemble_space", "Always solve the M x M ensemble-space eigenproblem (else p x p when p < M)", "DaisiFilterLETKFSetEnsembleSpace", b, &b, &set));
  if (set) PetscCall(DaisiFilterLETKFSetEnsembleSpace(f, b));
  PetscOptionsHeadEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiFilterView_LETKF(DaisiFilter f, PetscViewer viewer)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "GC cutoff %g m, vertical Lr %g m, eigensolver %s, %s\n", (double)f->cutoff, (double)f->lr, DaisiFilterEigNames[f->eigsolver], f->ensspace ? "ensemble space always" : "observation space when p < M"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterCreate_LETKF(DaisiFilter f)
{
  PetscFunctionBegin;
  f->ops.setfromoptions = DaisiFilterSetFromOptions_LETKF;
  f->ops.view           = DaisiFilterView_LETKF;
  f->ops.analysis       = DaisiFilterAnalysis_LETKF;
  PetscFunctionReturn(PETSC_SUCCESS);
}
