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

typedef struct {
  PetscReal *A, *E, *w, *Z, *z, *xp, *bvec, *s, *u;
  void      *mem;
} LetkfWork;

/* Ensemble space, as the formulas read: A = (k-1) I + Yb R^-1 Yb^T = E L E^T,
 * x'_a = sqrt(k-1) z E L^-1/2 E^T, mean increment z E L^-1 E^T Yb R^-1 d (z = X'_b). */
static PetscErrorCode LetkfSolveEnsembleSpace(DaisiFilterEig *eig, PetscInt M, PetscInt p, const PetscInt lo[], const PetscReal lw[], const PetscReal Yb[], const PetscReal d[], LetkfWork *wk, PetscReal *delta)
{
  const PetscReal k1 = (PetscReal)(M - 1);
  PetscReal      *A = wk->A, *b = wk->bvec;

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
  for (PetscInt a = 0; a < M; a++) A[a * M + a] += k1;
  PetscCall(DaisiFilterEigSolve(eig, M, A, wk->w, wk->E));
  *delta = 0;
  for (PetscInt q = 0; q < M; q++) {
    const PetscReal *e = wk->E + q * M;
    PetscReal        u = 0, c = 0;
    for (PetscInt a = 0; a < M; a++) {
      u += e[a] * wk->z[a];
      c += e[a] * b[a];
    }
    *delta += u * c / wk->w[q];
    wk->s[q] = PetscSqrtReal(k1 / wk->w[q]) * u;
  }
  PetscCall(PetscArrayzero(wk->xp, M));
  for (PetscInt q = 0; q < M; q++) {
    const PetscReal *e = wk->E + q * M, s = wk->s[q];
    for (PetscInt a = 0; a < M; a++) wk->xp[a] += s * e[a];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The same transform through the p x p problem Z Z^T = U S U^T, Z = R^-1/2 Yb^T (p < M):
 * A = (k-1) I + sum_q s_q v_q v_q^T with v_q = Z^T u_q / sqrt(s_q), hence
 *   sqrt(k-1) z A^-1/2 = z + sqrt(k-1) sum_q g_q (z.v_q) v_q,  g_q = (k-1+s_q)^-1/2 - (k-1)^-1/2,
 *   z A^-1 Yb R^-1 d   = sum_q (Z z . u_q)(u_q . R^-1/2 d) / (k-1+s_q). */
static PetscErrorCode LetkfSolveObsSpace(DaisiFilterEig *eig, PetscInt M, PetscInt p, const PetscInt lo[], const PetscReal lw[], const PetscReal Yb[], const PetscReal d[], LetkfWork *wk, PetscReal *delta)
{
  const PetscReal k1 = (PetscReal)(M - 1), sk1 = PetscSqrtReal(k1);
  PetscReal      *Z = wk->Z, *B = wk->A, *c = wk->bvec, *Zz = wk->u;

  PetscFunctionBegin;
  for (PetscInt k = 0; k < p; k++) {
    const PetscReal  sw = PetscSqrtReal(lw[k]), *y = Yb + lo[k] * M;
    PetscReal        zz = 0;
    for (PetscInt a = 0; a < M; a++) {
      Z[k * M + a] = sw * y[a];
      zz += Z[k * M + a] * wk->z[a];
    }
    Zz[k] = zz;
    c[k]  = sw * d[lo[k]];
  }
  for (PetscInt k = 0; k < p; k++)
    for (PetscInt l = k; l < p; l++) {
      PetscReal s = 0;
      for (PetscInt a = 0; a < M; a++) s += Z[k * M + a] * Z[l * M + a];
      B[k * p + l] = s;
    }
  PetscCall(DaisiFilterEigSolve(eig, p, B, wk->w, wk->E));
  PetscCall(PetscArraycpy(wk->xp, wk->z, M));
  *delta = 0;
  for (PetscInt q = 0; q < p; q++) {
    const PetscReal  sq = wk->w[q], *uq = wk->E + q * p;
    PetscReal        uz = 0, uc = 0, g, coef;
    if (!(sq > 1e-12 * k1)) continue; /* null direction: contributes O(s_q / (k-1)) only */
    for (PetscInt k = 0; k < p; k++) {
      uz += uq[k] * Zz[k];
      uc += uq[k] * c[k];
    }
    *delta += uz * uc / (k1 + sq);
    g    = -sq / (sk1 * PetscSqrtReal(k1 + sq) * (sk1 + PetscSqrtReal(k1 + sq)));
    coef = sk1 * g * uz / sq;
    for (PetscInt k = 0; k < p; k++) {
      const PetscReal cu = coef * uq[k], *zk = Z + k * M;
      for (PetscInt a = 0; a < M; a++) wk->xp[a] += cu * zk[a];
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiFilterAnalysis_LETKF(DaisiFilter f, DaisiFilterContext *c)
{
  const DaisiGrid   *g = &c->grid;
  const DaisiObsSet *obs = c->obs;
  const PetscInt     M = c->M, ncell = g->ny * g->nx;
  PetscInt           noff, *cstart, *cobs, *lo, maxp = 0;
  PetscInt64         sump = 0;
  PetscReal         *fv, *lw, *base;
  LocalOffset       *off;
  LetkfWork          wk;
  DaisiFilterEig     eig;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(DAISI_FilterLocalAnalyses, 0, 0, 0, 0));
  PetscCall(LetkfOffsets(g, f->cutoff, &noff, &off));
  /* observation lookup: the observations of every grid column, in index order */
  PetscCall(PetscCalloc1(ncell + 1, &cstart));
  PetscCall(PetscMalloc3(PetscMax(1, c->nobs), &cobs, PetscMax(1, c->nobs), &lo, PetscMax(1, c->nobs), &lw));
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

  PetscCall(DaisiFilterAlignedMalloc((size_t)(4 * M * M + 6 * M + 64), &wk.mem, &base));
  wk.A    = base;
  wk.E    = wk.A + M * M;
  wk.Z    = wk.E + M * M;
  wk.w    = wk.Z + 2 * M * M;
  wk.z    = wk.w + M + 8 - M % 8;
  wk.xp   = wk.z + M + 8 - M % 8;
  wk.bvec = wk.xp + M + 8 - M % 8;
  wk.s    = wk.bvec + M + 8 - M % 8;
  wk.u    = wk.s + M + 8 - M % 8;
  PetscCall(DaisiFilterEigCreate(M, f->eigsolver, &eig));

  for (PetscInt j = 0; j < c->npts; j++) {
    const PetscInt gi = j * c->size + c->rank, lev = gi / ncell, y = (gi % ncell) / g->nx, x = gi % g->nx;
    PetscReal     *xj = c->x + j * M, mean = 0, delta = 0;
    PetscInt       p  = 0;

    for (PetscInt t = 0; t < noff; t++) {
      PetscInt cy = (y + off[t].dy) % g->ny, cx = (x + off[t].dx) % g->nx, cell;
      if (cy < 0) cy += g->ny;
      if (cx < 0) cx += g->nx;
      cell = cy * g->nx + cx;
      for (PetscInt k = cstart[cell]; k < cstart[cell + 1]; k++) {
        const PetscInt  o = cobs[k];
        const PetscReal w = off[t].rho * fv[PetscAbsInt(obs->lev[o] - lev)] / (obs->sigma[o] * obs->sigma[o]);
        if (w > 0) {
          lo[p] = o;
          lw[p] = w;
          p++;
        }
      }
    }
    sump += p;
    maxp = PetscMax(maxp, p);
    if (!p) continue; /* no local observation: the prior stands (relaxation is the identity) */
    for (PetscInt m = 0; m < M; m++) mean += xj[m];
    mean /= M;
    for (PetscInt m = 0; m < M; m++) wk.z[m] = xj[m] - mean;
    if (f->ensspace || p >= M) PetscCall(LetkfSolveEnsembleSpace(&eig, M, p, lo, lw, c->Yb, c->d, &wk, &delta));
    else PetscCall(LetkfSolveObsSpace(&eig, M, p, lo, lw, c->Yb, c->d, &wk, &delta));
    DaisiFilterRelax(M, f->rtpp, f->rtps, wk.z, wk.xp);
    for (PetscInt m = 0; m < M; m++) xj[m] = mean + delta + wk.xp[m];
  }
  f->stats.npoints     = c->npts;
  f->stats.nlocalobs   = sump;
  f->stats.maxlocalobs = maxp;
  PetscCall(DaisiFilterEigDestroy(&eig));
  PetscCall(PetscFree(wk.mem));
  PetscCall(PetscFree(fv));
  PetscCall(PetscFree3(cobs, lo, lw));
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
