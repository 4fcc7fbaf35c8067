/* The filter object: lifecycle, options, and the analysis driver shared by every type
 * (validation, transposes, prior inflation, the observation-space ensemble). */
#include "filterimpl.h"
#include <daisi/sys.h>

PetscLogEvent DAISI_FilterAnalysis = 0, DAISI_FilterObsOperator = 0, DAISI_FilterLocalAnalyses = 0, DAISI_FilterTransform = 0;

/* the registered types: name -> constructor, PETSc's function list */
static PetscFunctionList filter_types = NULL;
static PetscBool         filter_registered_defaults = PETSC_FALSE;

PetscErrorCode DaisiFilterRegister(const char name[], PetscErrorCode (*create)(DaisiFilter))
{
  PetscFunctionBegin;
  PetscCall(PetscFunctionListAdd(&filter_types, name, create));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiFilterRegisterAll(void)
{
  PetscFunctionBegin;
  if (filter_registered_defaults) PetscFunctionReturn(PETSC_SUCCESS);
  filter_registered_defaults = PETSC_TRUE;
  PetscCall(DaisiFilterRegister(DAISI_FILTER_LETKF, DaisiFilterCreate_LETKF));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_ETKF, DaisiFilterCreate_ETKF));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_ENKF, DaisiFilterCreate_EnKF));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_NONE, DaisiFilterCreate_None));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_DAISI, DaisiFilterCreate_DAISI));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_PF, DaisiFilterCreate_PF));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_VAR3D, DaisiFilterCreate_Var3d));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_L3DVAR, DaisiFilterCreate_L3dvar));
  PetscCall(DaisiFilterRegister(DAISI_FILTER_LOSDA, DaisiFilterCreate_LOSDA));
  PetscCall(PetscLogEventRegister("FilterAnalysis", DAISI_CLASSID, &DAISI_FilterAnalysis));
  PetscCall(PetscLogEventRegister("FilterObsOp", DAISI_CLASSID, &DAISI_FilterObsOperator));
  PetscCall(PetscLogEventRegister("FilterLocal", DAISI_CLASSID, &DAISI_FilterLocalAnalyses));
  PetscCall(PetscLogEventRegister("FilterTransform", DAISI_CLASSID, &DAISI_FilterTransform));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscReal DaisiGaspariCohn(PetscReal r)
{
  /* the fifth-order piecewise rational function of Gaspari & Cohn (1999), eq. 4.10, with
   * half-width c = cutoff / 2, written in z = 2 r = d / c */
  const PetscReal z = 2.0 * PetscAbsReal(r);
  if (z >= 2.0) return 0.0;
  if (z <= 1.0) return (((-0.25 * z + 0.5) * z + 0.625) * z - 5.0 / 3.0) * z * z + 1.0;
  return ((((z / 12.0 - 0.5) * z + 0.625) * z + 5.0 / 3.0) * z - 5.0) * z + 4.0 - 2.0 / (3.0 * z);
}

PetscErrorCode DaisiFilterCreate(MPI_Comm comm, DaisiFilter *f)
{
  PetscFunctionBegin;
  PetscCheck(f, comm, PETSC_ERR_ARG_NULL, "DaisiFilterCreate: output pointer is NULL");
  PetscCall(DaisiFilterRegisterAll());
  PetscCall(PetscNew(f));
  (*f)->comm      = comm;
  (*f)->inflation = 1.0;
  (*f)->cutoff    = 2500e3;
  (*f)->lr        = 1000e3;
  (*f)->eigsolver = DAISI_FILTER_EIG_AUTO;
  (*f)->pf_threshold = 1.0;
  PetscCall(DaisiFilterEnsSpaceParamsDefault(*f));
  PetscCall(DaisiFilterDAISIParamsDefault(&(*f)->daisi));
  PetscCall(DaisiFilterVar3dParamsDefault(&(*f)->var3d));
  PetscCall(DaisiFilterL3dvarParamsDefault(&(*f)->l3dvar));
  PetscCall(DaisiFilterLOSDAParamsDefault(&(*f)->losda));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterSetType(DaisiFilter f, DaisiFilterType type)
{
  PetscErrorCode (*create)(DaisiFilter) = NULL;

  PetscFunctionBegin;
  PetscCheck(type, f->comm, PETSC_ERR_ARG_NULL, "filter type is NULL");
  PetscCall(PetscFunctionListFind(filter_types, type, &create));
  PetscCheck(create, f->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown filter type '%s' (-filter_type; known: letkf, etkf, enkf, none, daisi, pf, 3dvar, l3dvar, losda, and any added with DaisiFilterRegister)", type);
  PetscCheck(!f->setupcalled, f->comm, PETSC_ERR_ORDER, "cannot change the filter type after DaisiFilterSetUp()");
  if (f->ops.destroy) PetscCall(f->ops.destroy(f));
  f->data = NULL;
  PetscCall(PetscMemzero(&f->ops, sizeof(f->ops)));
  PetscCall(PetscStrncpy(f->type, type, sizeof(f->type)));
  PetscCall(create(f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterGetType(DaisiFilter f, DaisiFilterType *type)
{
  PetscFunctionBegin;
  *type = f->type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterSetOptionsPrefix(DaisiFilter f, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(f->prefix));
  PetscCall(PetscStrallocpy(prefix, &f->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterSetInflation(DaisiFilter f, PetscReal factor)
{
  PetscFunctionBegin;
  PetscCheck(factor > 0 && PetscIsNormalReal(factor), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-filter_inflation must be finite and > 0, got %g", (double)factor);
  f->inflation = factor;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterSetSeed(DaisiFilter f, PetscInt64 seed)
{
  PetscFunctionBegin;
  f->seed = seed;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLETKFSetCutoff(DaisiFilter f, PetscReal cutoff)
{
  PetscFunctionBegin;
  PetscCheck(cutoff > 0 && !PetscIsNanReal(cutoff), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-letkf_cutoff must be > 0 (m; a huge value means no localisation), got %g", (double)cutoff);
  f->cutoff = cutoff;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLETKFSetVerticalScale(DaisiFilter f, PetscReal lr)
{
  PetscFunctionBegin;
  PetscCheck(lr >= 0 && PetscIsNormalReal(lr + 1.0), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-letkf_lr must be finite and >= 0 (m), got %g", (double)lr);
  f->lr = lr;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLETKFSetRTPS(DaisiFilter f, PetscReal alpha)
{
  PetscFunctionBegin;
  PetscCheck(alpha >= 0 && alpha <= 1, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-letkf_rtps must be in [0, 1], got %g", (double)alpha);
  f->rtps = alpha;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLETKFSetRTPP(DaisiFilter f, PetscReal alpha)
{
  PetscFunctionBegin;
  PetscCheck(alpha >= 0 && alpha <= 1, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "-letkf_rtpp must be in [0, 1], got %g", (double)alpha);
  f->rtpp = alpha;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterLETKFSetEnsembleSpace(DaisiFilter f, PetscBool always)
{
  PetscFunctionBegin;
  f->ensspace = always;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterSetFromOptions(DaisiFilter f)
{
  char      type[32];
  PetscInt  eig = f->eigsolver;
  PetscBool set;
  PetscReal r;
  PetscInt  seed = (PetscInt)f->seed;

  PetscFunctionBegin;
  PetscOptionsBegin(f->comm, f->prefix, "Filter options", "DaisiFilter");
  PetscCall(PetscOptionsString("-filter_type", "Filter type (letkf, etkf, enkf, none, daisi, pf, 3dvar, l3dvar, losda)", "DaisiFilterSetType", f->type[0] ? f->type : DAISI_FILTER_LETKF, type, sizeof(type), &set));
  if (set || !f->type[0]) PetscCall(DaisiFilterSetType(f, set ? type : DAISI_FILTER_LETKF));
  r = f->inflation;
  PetscCall(PetscOptionsReal("-filter_inflation", "Multiplicative prior inflation factor on the perturbations", "DaisiFilterSetInflation", r, &r, &set));
  if (set) PetscCall(DaisiFilterSetInflation(f, r));
  PetscCall(PetscOptionsInt("-filter_seed", "Seed of the perturbed observations (enkf) and of the resampling and jitter (pf)", "DaisiFilterSetSeed", seed, &seed, &set));
  if (set) PetscCall(DaisiFilterSetSeed(f, seed));
  r = f->rtps;
  PetscCall(PetscOptionsReal("-letkf_rtps", "Relaxation to prior spread alpha (letkf, etkf, enkf)", "DaisiFilterLETKFSetRTPS", r, &r, &set));
  if (set) PetscCall(DaisiFilterLETKFSetRTPS(f, r));
  r = f->rtpp;
  PetscCall(PetscOptionsReal("-letkf_rtpp", "Relaxation to prior perturbations alpha (letkf, etkf, enkf)", "DaisiFilterLETKFSetRTPP", r, &r, &set));
  if (set) PetscCall(DaisiFilterLETKFSetRTPP(f, r));
  PetscCall(PetscOptionsEList("-letkf_eigensolver", "Symmetric eigensolver of the ensemble-space problems: auto (built-in qr up to 64 wide, LAPACK syevd above), LAPACK syev, syevr, syevd, or the built-in qr", "", DaisiFilterEigNames, 5, DaisiFilterEigNames[eig], &eig, NULL));
  f->eigsolver = eig;
  if (f->ops.setfromoptions) PetscCall(f->ops.setfromoptions(f, PetscOptionsObject));
  {
    /* one scenario file serves every filter: the localisation options are read (and checked)
     * by every type, used by letkf */
    PetscBool isletkf;
    PetscCall(PetscStrcmp(f->type, DAISI_FILTER_LETKF, &isletkf));
    if (!isletkf) {
      PetscBool b = f->ensspace;
      r           = f->cutoff;
      PetscCall(PetscOptionsReal("-letkf_cutoff", "Gaspari-Cohn cutoff distance (m), letkf only", "DaisiFilterLETKFSetCutoff", r, &r, &set));
      if (set) PetscCall(DaisiFilterLETKFSetCutoff(f, r));
      r = f->lr;
      PetscCall(PetscOptionsReal("-letkf_lr", "Vertical localisation length (m), letkf only", "DaisiFilterLETKFSetVerticalScale", r, &r, &set));
      if (set) PetscCall(DaisiFilterLETKFSetVerticalScale(f, r));
      PetscCall(PetscOptionsBool("-letkf_ensemble_space", "Always solve the M x M ensemble-space eigenproblem, letkf only", "DaisiFilterLETKFSetEnsembleSpace", b, &b, &set));
      if (set) PetscCall(DaisiFilterLETKFSetEnsembleSpace(f, b));
    }
  }
  /* and the DAISI options, read by every type for the same reason, used by daisi */
  PetscCall(DaisiFilterDAISIParamsSetFromOptions(f, PetscOptionsObject));
  PetscCall(DaisiFilterPFParamsSetFromOptions(f, PetscOptionsObject)); /* and the -pf_* ones */
  PetscCall(DaisiFilterVar3dParamsSetFromOptions(f, PetscOptionsObject)); /* and the -var3d_* ones (var3d.c) */
  PetscCall(DaisiFilterL3dvarParamsSetFromOptions(f, PetscOptionsObject)); /* and the -l3dvar_* ones (l3dvar.c) */
  PetscCall(DaisiFilterLOSDAParamsSetFromOptions(f, PetscOptionsObject));  /* and the -losda_* ones (losda.c) */
  PetscCall(DaisiFilterEnsSpaceParamsSetFromOptions(f, PetscOptionsObject)); /* and -filter_ensspace_solver, -filter_scalapack_* */
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterSetEnsemble(DaisiFilter f, DaisiEnsemble e)
{
  PetscFunctionBegin;
  PetscCheck(!f->setupcalled, f->comm, PETSC_ERR_ORDER, "DaisiFilterSetEnsemble() must come before DaisiFilterSetUp()");
  f->ens = e;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterSetUp(DaisiFilter f)
{
  PetscFunctionBegin;
  if (f->setupcalled) PetscFunctionReturn(PETSC_SUCCESS);
  if (!f->type[0]) PetscCall(DaisiFilterSetType(f, DAISI_FILTER_LETKF));
  if (f->ops.setup) PetscCall(f->ops.setup(f));
  f->setupcalled = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterView(DaisiFilter f, PetscViewer viewer)
{
  PetscFunctionBegin;
  if (!viewer) viewer = PETSC_VIEWER_STDOUT_(f->comm);
  if (f->ops.ensemble_analysis) PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiFilter %s: prior inflation %g\n", f->type, (double)f->inflation));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiFilter %s: prior inflation %g, RTPS %g, RTPP %g\n", f->type, (double)f->inflation, (double)f->rtps, (double)f->rtpp));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (f->ops.view) PetscCall(f->ops.view(f, viewer));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterDestroy(DaisiFilter *f)
{
  PetscFunctionBegin;
  if (!*f) PetscFunctionReturn(PETSC_SUCCESS);
  if ((*f)->ops.destroy) PetscCall((*f)->ops.destroy(*f));
  PetscCall(PetscFree((*f)->prefix));
  PetscCall(PetscFree(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterGetStats(DaisiFilter f, DaisiFilterStats *stats)
{
  PetscFunctionBegin;
  *stats = f->stats;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * Helpers shared by the types
 * ------------------------------------------------------------------------------------- */
PetscErrorCode DaisiFilterAlignedMalloc(size_t n, void **mem, PetscReal **p)
{
  PetscFunctionBegin;
  PetscCall(PetscMalloc(sizeof(PetscReal) * (n + 8), mem));
  *p = (PetscReal *)(((uintptr_t)*mem + 63) & ~(uintptr_t)63);
  PetscFunctionReturn(PETSC_SUCCESS);
}

const char *const DaisiFilterEigNames[] = {"auto", "syev", "syevr", "syevd", "qr"};

extern void dsyev_(const char *, const char *, const PetscBLASInt *, PetscReal *, const PetscBLASInt *, PetscReal *, PetscReal *, const PetscBLASInt *, PetscBLASInt *);
extern void dsyevd_(const char *, const char *, const PetscBLASInt *, PetscReal *, const PetscBLASInt *, PetscReal *, PetscReal *, const PetscBLASInt *, PetscBLASInt *, const PetscBLASInt *, PetscBLASInt *);
extern void dsyevr_(const char *, const char *, const char *, const PetscBLASInt *, PetscReal *, const PetscBLASInt *, const PetscReal *, const PetscReal *, const PetscBLASInt *, const PetscBLASInt *, const PetscReal *, PetscBLASInt *, PetscReal *, PetscReal *, const PetscBLASInt *, PetscBLASInt *, PetscReal *, const PetscBLASInt *, PetscBLASInt *, const PetscBLASInt *, PetscBLASInt *);

static PetscInt EigKindFor(PetscInt kind, PetscInt n)
{
  if (kind != DAISI_FILTER_EIG_AUTO) return kind;
  return n <= 64 ? DAISI_FILTER_EIG_QR : DAISI_FILTER_EIG_SYEVD;
}

/* A small symmetric eigensolver without library call overhead (the per-point problems are
 * 5..40 wide, where LAPACK's drivers spend most of their time in bookkeeping): Householder
 * tridiagonalisation, then implicit symmetric QR steps with the Wilkinson shift (Golub & Van
 * Loan, Algorithm 8.3.2) on the diagonal d and off-diagonal e of the unreduced blocks, the
 * orthogonal factor accumulated as it goes (Q stored by rows: row q = eigenvector q, so every
 * update is a contiguous, vectorised row operation).
 *
 * Tridiagonalise: A (the upper triangle of a row-major = lower of a column-major symmetric
 * matrix is read) -> d, e (e[i] couples i and i+1), Q (rows of stride ld >= n). T: n x n,
 * hv: 2 ld scratch. */
static void SymTridiagonalize(PetscInt n, PetscInt ld, const PetscReal A[], PetscReal d[], PetscReal e[], PetscReal Q[], PetscReal T[], PetscReal hv[])
{
  PetscReal *p = hv, *v = hv + ld;

  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = i; j < n; j++) T[i * n + j] = T[j * n + i] = A[i * n + j];
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < ld; j++) Q[i * ld + j] = i == j ? 1.0 : 0.0;
  /* T <- H T H, H = I - 2 v v^T zeroing column k below the subdiagonal; Q <- Q H */
  for (PetscInt k = 0; k + 2 < n; k++) {
    const PetscInt m = n - k - 1;
    PetscReal     *Ts = T + (k + 1) * n + k + 1, sig = 0, alpha, vn = 0, c = 0;
    for (PetscInt j = 0; j < m; j++) sig += T[k * n + k + 1 + j] * T[k * n + k + 1 + j]; /* row k = column k */
    sig = PetscSqrtReal(sig);
    if (sig == 0) continue;
    alpha = T[k * n + k + 1] >= 0 ? -sig : sig;
    for (PetscInt j = 0; j < m; j++) v[j] = T[k * n + k + 1 + j];
    v[0] -= alpha;
    for (PetscInt j = 0; j < m; j++) vn += v[j] * v[j];
    vn = PetscSqrtReal(vn);
    if (vn == 0) continue;
    for (PetscInt j = 0; j < m; j++) v[j] /= vn;
    for (PetscInt i = 0; i < m; i++) {
      PetscReal s = 0;
      for (PetscInt j = 0; j < m; j++) s += Ts[i * n + j] * v[j];
      p[i] = s;
      c += v[i] * s;
    }
    for (PetscInt i = 0; i < m; i++) p[i] -= c * v[i];
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) Ts[i * n + j] -= 2.0 * (v[i] * p[j] + p[i] * v[j]);
    for (PetscInt j = 0; j < m; j++) T[(k + 1 + j) * n + k] = T[k * n + k + 1 + j] = 0;
    T[(k + 1) * n + k] = T[k * n + k + 1] = alpha;
    for (PetscInt i = 0; i < ld; i++) p[i] = 0; /* p = 2 Q v (Q^T stored) */
    for (PetscInt j = 0; j < m; j++) {
      const PetscReal *qj = Q + (k + 1 + j) * ld, vj = 2.0 * v[j];
      for (PetscInt i = 0; i < ld; i++) p[i] += qj[i] * vj;
    }
    for (PetscInt j = 0; j < m; j++) {
      PetscReal *qj = Q + (k + 1 + j) * ld, vj = v[j];
      for (PetscInt i = 0; i < ld; i++) qj[i] -= p[i] * vj;
    }
  }
  for (PetscInt i = 0; i < n; i++) {
    d[i] = T[i * n + i];
    e[i] = i + 1 < n ? T[(i + 1) * n + i] : 0;
  }
}

/* Implicit QR steps on nb <= DAISI_FILTER_EIG_BATCH independent tridiagonal problems at once.
 * A rotation is a chain of dependent operations (square root, division, the 2 x 2 update that
 * feeds the next rotation), so one problem leaves the core mostly waiting; the problems take
 * turns rotation by rotation, and their chains overlap. Each problem performs exactly the
 * operations it would alone. Rotation k acts on rows/columns k, k+1: T <- G^T T G,
 * G^T = [c -s; s c]; Q <- G^T Q. On return d holds the eigenvalues (unsorted). */
static PetscErrorCode TridiagonalQR(PetscInt nb, const PetscInt n[], const PetscInt ld[], PetscReal *const d[], PetscReal *const e[], PetscReal *const Q[])
{
  PetscInt  l[DAISI_FILTER_EIG_BATCH], m[DAISI_FILTER_EIG_BATCH], k[DAISI_FILTER_EIG_BATCH], steps[DAISI_FILTER_EIG_BATCH], active = nb;
  PetscReal x[DAISI_FILTER_EIG_BATCH], z[DAISI_FILTER_EIG_BATCH];

  PetscFunctionBegin;
  for (PetscInt b = 0; b < nb; b++) l[b] = m[b] = k[b] = steps[b] = 0; /* k == m: a new step is due */
  while (active) {
    for (PetscInt b = 0; b < nb; b++) {
      PetscReal     *db = d[b], *eb = e[b];
      const PetscInt nn = n[b];
      if (k[b] < 0) continue; /* converged */
      if (k[b] >= m[b]) {     /* deflate; the trailing unreduced block l..m; its Wilkinson shift */
        PetscInt mm, ll;
        for (PetscInt i = 0; i + 1 < nn; i++)
          if (PetscAbsReal(eb[i]) <= PETSC_MACHINE_EPSILON * (PetscAbsReal(db[i]) + PetscAbsReal(db[i + 1]))) eb[i] = 0;
        for (mm = nn - 1; mm > 0 && eb[mm - 1] == 0; mm--) { }
        if (mm <= 0) {
          k[b] = -1;
          active--;
          continue;
        }
        PetscCheck(steps[b]++ < 60 * nn, PETSC_COMM_SELF, PETSC_ERR_NOT_CONVERGED, "symmetric QR eigensolver did not converge on a %" PetscInt_FMT " x %" PetscInt_FMT " problem", nn, nn);
        for (ll = mm - 1; ll > 0 && eb[ll - 1] != 0; ll--) { }
        {
          const PetscReal dd = 0.5 * (db[mm - 1] - db[mm]), ee = eb[mm - 1], hyp = PetscSqrtReal(dd * dd + ee * ee);
          const PetscReal mu = db[mm] - ee * ee / (dd + (dd >= 0 ? hyp : -hyp));
          x[b] = db[ll] - mu;
          z[b] = eb[ll];
        }
        l[b] = k[b] = ll;
        m[b]        = mm;
      }
      {
        const PetscInt  kk = k[b];
        const PetscReal r = PetscSqrtReal(x[b] * x[b] + z[b] * z[b]), ri = r > 0 ? 1.0 / r : 0.0, c = r > 0 ? x[b] * ri : 1.0, s = -z[b] * ri;
        const PetscReal a = db[kk], bb = eb[kk], f = db[kk + 1], cs = c * s;
        PetscReal      *qk = Q[b] + kk * ld[b], *qk1 = qk + ld[b];
        if (kk > l[b]) eb[kk - 1] = r; /* the bulge chased into the off-diagonal */
        db[kk]     = c * c * a - 2 * cs * bb + s * s * f;
        db[kk + 1] = s * s * a + 2 * cs * bb + c * c * f;
        eb[kk]     = cs * (a - f) + (c * c - s * s) * bb;
        for (PetscInt i = 0; i < ld[b]; i++) {
          const PetscReal u = qk[i], t = qk1[i];
          qk[i]                = c * u - s * t;
          qk1[i]               = s * u + c * t;
        }
        if (kk + 1 < m[b]) { /* the new bulge at (k+2, k) */
          x[b] = eb[kk];
          z[b] = -s * eb[kk + 1];
          eb[kk + 1] *= c;
        }
        k[b] = kk + 1;
      }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterEigCreate(PetscInt nmax, PetscInt kind, DaisiFilterEig *eig)
{
  PetscBLASInt n, info, lw = -1, liw = -1, m, il = 1, iu, isz[2], iwq = 0, lwork = 1, liwork = 1, ldmax;
  PetscReal    wq = 0, dummy[2] = {0, 0}, vl = 0, vu = 0, tol = 0;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(eig, sizeof(*eig)));
  PetscCall(PetscBLASIntCast(PetscMax(1, nmax), &n));
  iu        = n;
  eig->nmax = nmax;
  eig->kind = kind;
  /* workspace for every driver that may be used (sizes grow with n) */
  dsyev_("V", "L", &n, dummy, &n, dummy, &wq, &lw, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "dsyev workspace query failed, info %d", (int)info);
  lwork = PetscMax(lwork, (PetscBLASInt)wq + 1);
  dsyevd_("V", "L", &n, dummy, &n, dummy, &wq, &lw, &iwq, &liw, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "dsyevd workspace query failed, info %d", (int)info);
  lwork  = PetscMax(lwork, (PetscBLASInt)wq + 1);
  liwork = PetscMax(liwork, iwq + 1);
  dsyevr_("V", "A", "L", &n, dummy, &n, &vl, &vu, &il, &iu, &tol, &m, dummy, dummy, &n, isz, &wq, &lw, &iwq, &liw, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "dsyevr workspace query failed, info %d", (int)info);
  lwork       = PetscMax(lwork, (PetscBLASInt)wq + 1);
  liwork      = PetscMax(liwork, iwq + 1);
  eig->lwork  = PetscMax(lwork, 3 * n);
  eig->liwork = liwork + 2 * n; /* + isuppz of dsyevr */
  ldmax = (n + 7) / 8 * 8;
  PetscCall(DaisiFilterAlignedMalloc((size_t)eig->lwork + (size_t)n * ldmax + (size_t)n * n + 3 * (size_t)ldmax + 32, &eig->mem, &eig->work));
  eig->Q  = eig->work + eig->lwork + 8 - eig->lwork % 8;
  eig->T  = eig->Q + (size_t)n * ldmax; /* a multiple of 8 */
  eig->hv = eig->T + (size_t)n * n + 8 - (n * n) % 8;
  PetscCall(PetscMalloc1(eig->liwork, &eig->iwork));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterEigDestroy(DaisiFilterEig *eig)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(eig->mem));
  PetscCall(PetscFree(eig->iwork));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterEigSolve(DaisiFilterEig *eig, PetscInt n_, PetscReal A[], PetscReal w[], PetscReal E[])
{
  const PetscInt kind = EigKindFor(eig->kind, n_);
  PetscBLASInt   n = (PetscBLASInt)n_, info = 0, m, il = 1, iu = (PetscBLASInt)n_, liw = eig->liwork - 2 * (PetscBLASInt)n_;
  PetscReal      vl = 0, vu = 0, tol = 0;

  PetscFunctionBegin;
  PetscCheck(n_ <= eig->nmax, PETSC_COMM_SELF, PETSC_ERR_PLIB, "eigenproblem of size %" PetscInt_FMT " exceeds the workspace (%" PetscInt_FMT ")", n_, eig->nmax);
  if (kind == DAISI_FILTER_EIG_QR) { /* A is copied first, so E may be A */
    PetscReal *e = eig->hv + 2 * n_;
    SymTridiagonalize(n_, n_, A, w, e, E, eig->T, eig->hv);
    PetscCall(TridiagonalQR(1, &n_, &n_, &w, &e, &E));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (kind == DAISI_FILTER_EIG_SYEVR) {
    /* abstol 0: LAPACK's default accuracy */
    dsyevr_("V", "A", "L", &n, A, &n, &vl, &vu, &il, &iu, &tol, &m, w, E, &n, eig->iwork, eig->work, &eig->lwork, eig->iwork + 2 * n, &liw, &info);
  } else {
    if (kind == DAISI_FILTER_EIG_SYEVD) dsyevd_("V", "L", &n, A, &n, w, eig->work, &eig->lwork, eig->iwork, &liw, &info);
    else dsyev_("V", "L", &n, A, &n, w, eig->work, &eig->lwork, &info);
    if (E != A) PetscCall(PetscArraycpy(E, A, (size_t)n * n));
  }
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK symmetric eigensolver (d%s) failed on a %d x %d problem, info %d", DaisiFilterEigNames[kind], (int)n, (int)n, (int)info);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterEigFactor(PetscInt nb, DaisiFilterEig eig[], const PetscInt n[], const PetscReal *const A[], PetscReal *const w[])
{
  PetscInt   nq = 0;
  PetscInt   qn[DAISI_FILTER_EIG_BATCH], qld[DAISI_FILTER_EIG_BATCH];
  PetscReal *qd[DAISI_FILTER_EIG_BATCH], *qe[DAISI_FILTER_EIG_BATCH], *qQ[DAISI_FILTER_EIG_BATCH];

  PetscFunctionBegin;
  PetscCheck(nb <= DAISI_FILTER_EIG_BATCH, PETSC_COMM_SELF, PETSC_ERR_PLIB, "batch of %" PetscInt_FMT " eigenproblems exceeds %d", nb, DAISI_FILTER_EIG_BATCH);
  for (PetscInt b = 0; b < nb; b++) {
    DaisiFilterEig *eg = &eig[b];
    PetscCheck(n[b] <= eg->nmax, PETSC_COMM_SELF, PETSC_ERR_PLIB, "eigenproblem of size %" PetscInt_FMT " exceeds the workspace (%" PetscInt_FMT ")", n[b], eg->nmax);
    eg->n  = n[b];
    eg->ld = n[b];
    if (EigKindFor(eg->kind, n[b]) == DAISI_FILTER_EIG_QR) {
      eg->ld = (n[b] + 7) / 8 * 8; /* whole vector registers per row */
      SymTridiagonalize(n[b], eg->ld, A[b], w[b], eg->hv + 2 * eg->ld, eg->Q, eg->T, eg->hv);
      qn[nq]  = n[b];
      qld[nq] = eg->ld;
      qd[nq]  = w[b];
      qe[nq]  = eg->hv + 2 * eg->ld;
      qQ[nq] = eg->Q;
      nq++;
    } else {
      PetscCall(PetscArraycpy(eg->T, A[b], (size_t)n[b] * n[b])); /* the LAPACK drivers overwrite their input */
      PetscCall(DaisiFilterEigSolve(eg, n[b], eg->T, w[b], eg->Q));
    }
  }
  PetscCall(TridiagonalQR(nq, qn, qld, qd, qe, qQ));
  PetscFunctionReturn(PETSC_SUCCESS);
}

void DaisiFilterEigToBasis(DaisiFilterEig *eig, PetscReal v[])
{
  const PetscInt n = eig->n;
  for (PetscInt q = 0; q < n; q++) {
    const PetscReal *e = eig->Q + q * eig->ld;
    PetscReal        s = 0;
    for (PetscInt i = 0; i < n; i++) s += e[i] * v[i];
    eig->hv[q] = s;
  }
  for (PetscInt q = 0; q < n; q++) v[q] = eig->hv[q];
}

void DaisiFilterEigFromBasis(DaisiFilterEig *eig, PetscReal a[])
{
  const PetscInt n = eig->n;
  for (PetscInt i = 0; i < n; i++) eig->hv[i] = 0;
  for (PetscInt q = 0; q < n; q++) {
    const PetscReal *e = eig->Q + q * eig->ld, s = a[q];
    for (PetscInt i = 0; i < n; i++) eig->hv[i] += s * e[i];
  }
  for (PetscInt i = 0; i < n; i++) a[i] = eig->hv[i];
}

void DaisiFilterRelax(PetscInt M, PetscReal rtpp, PetscReal rtps, const PetscReal z[], PetscReal xp[])
{
  if (rtpp > 0)
    for (PetscInt m = 0; m < M; m++) xp[m] = (1.0 - rtpp) * xp[m] + rtpp * z[m];
  if (rtps > 0) {
    PetscReal sb = 0, sa = 0;
    for (PetscInt m = 0; m < M; m++) {
      sb += z[m] * z[m];
      sa += xp[m] * xp[m];
    }
    sb = PetscSqrtReal(sb / (M - 1));
    sa = PetscSqrtReal(sa / (M - 1));
    if (sa > 0) {
      const PetscReal fac = 1.0 + rtps * (sb - sa) / sa;
      for (PetscInt m = 0; m < M; m++) xp[m] *= fac;
    }
  }
}

/* ---------------------------------------------------------------------------------------
 * The analysis driver
 * ------------------------------------------------------------------------------------- */
static PetscErrorCode DaisiFilterCheckObs(DaisiFilter f, const DaisiGrid *g, const DaisiObsSet *obs)
{
  PetscFunctionBegin;
  PetscCheck(obs, f->comm, PETSC_ERR_ARG_NULL, "DaisiFilterAnalysis: observation set is NULL");
  PetscCheck(obs->nobs >= 0, f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation count %" PetscInt_FMT " < 0", obs->nobs);
  PetscCheck(obs->nobs == 0 || obs->op, f->comm, PETSC_ERR_ARG_NULL, "observation set has no operator");
  for (PetscInt o = 0; o < obs->nobs; o++) {
    PetscCheck(obs->sigma[o] > 0 && PetscIsNormalReal(obs->sigma[o]), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation %" PetscInt_FMT " (cycle %" PetscInt_FMT "): error std sigma = %g must be finite and > 0", o, obs->cycle, (double)obs->sigma[o]);
    PetscCheck(obs->lev[o] >= 0 && obs->lev[o] < g->nlev && obs->iy[o] >= 0 && obs->iy[o] < g->ny && obs->ix[o] >= 0 && obs->ix[o] < g->nx, f->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "observation %" PetscInt_FMT " at (lev %" PetscInt_FMT ", y %" PetscInt_FMT ", x %" PetscInt_FMT ") lies outside the %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " grid", o, obs->lev[o], obs->iy[o], obs->ix[o], g->nlev, g->ny, g->nx);
    PetscCheck(!PetscIsInfOrNanReal(obs->value[o]), f->comm, PETSC_ERR_ARG_OUTOFRANGE, "observation %" PetscInt_FMT " has a non-finite value", o);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFilterAnalysis(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs)
{
  DaisiEnsembleInfo  info;
  DaisiFilterContext ctx;
  PetscReal         *xa, *x, *HX, *Yb, *d, *v;
  PetscInt           M, npts, nobs, nown = 0, *own;
  MPI_Comm           world;

  PetscFunctionBegin;
  if (!f->setupcalled) PetscCall(DaisiFilterSetUp(f));
  PetscCall(DaisiEnsembleGetInfo(e, &info));
  PetscCall(DaisiEnsembleGetComm(e, &world));
  PetscCall(DaisiEnsembleGetGrid(e, &ctx.grid));
  PetscCall(DaisiFilterCheckObs(f, &ctx.grid, obs));
  PetscCall(PetscMemzero(&f->stats, sizeof(f->stats)));
  if (f->ops.ensemble_analysis) { /* whole members in the slab layout (daisi) */
    PetscCall(PetscLogEventBegin(DAISI_FilterAnalysis, 0, 0, 0, 0));
    PetscCall(f->ops.ensemble_analysis(f, e, obs));
    PetscCall(PetscLogEventEnd(DAISI_FilterAnalysis, 0, 0, 0, 0));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (!f->ops.analysis) PetscFunctionReturn(PETSC_SUCCESS); /* none */
  PetscCall(PetscLogEventBegin(DAISI_FilterAnalysis, 0, 0, 0, 0));
  M    = info.M;
  npts = info.npts;
  nobs = obs->nobs;
  PetscCall(PetscMalloc2((size_t)PetscMax(1, M * npts), &xa, (size_t)PetscMax(1, M * npts), &x));
  PetscCall(PetscMalloc4((size_t)PetscMax(1, M * nobs), &HX, (size_t)PetscMax(1, M * nobs), &Yb, PetscMax(1, nobs), &d, PetscMax(1, nobs), &own));
  PetscCall(DaisiEnsembleToAnalysis(e, xa));
  /* point-major for the per-point kernels, with multiplicative prior inflation */
  for (PetscInt j = 0; j < npts; j++) {
    PetscReal mean = 0;
    for (PetscInt m = 0; m < M; m++) x[j * M + m] = xa[m * npts + j];
    if (f->inflation != 1.0) {
      for (PetscInt m = 0; m < M; m++) mean += x[j * M + m];
      mean /= M;
      for (PetscInt m = 0; m < M; m++) x[j * M + m] = mean + f->inflation * (x[j * M + m] - mean);
    }
  }

  /* h through the ensemble: each rank applies h at the observation sites among its points;
   * the M x nobs result is summed to every rank (every entry has exactly one nonzero source,
   * so the sum is exact and layout independent). */
  PetscCall(PetscLogEventBegin(DAISI_FilterObsOperator, 0, 0, 0, 0));
  PetscCall(PetscArrayzero(HX, M * nobs));
  for (PetscInt o = 0; o < nobs; o++) {
    const PetscInt gi = (obs->lev[o] * ctx.grid.ny + obs->iy[o]) * ctx.grid.nx + obs->ix[o];
    if (gi % info.size == info.rank) own[nown++] = o;
  }
  PetscCall(PetscMalloc1(PetscMax(1, nown * M), &v));
  for (PetscInt k = 0; k < nown; k++) {
    const PetscInt o = own[k], gi = (obs->lev[o] * ctx.grid.ny + obs->iy[o]) * ctx.grid.nx + obs->ix[o];
    PetscCall(PetscArraycpy(v + k * M, x + (gi / info.size) * M, M));
  }
  if (nown) PetscCall(DaisiObsOperatorApply(obs->op, nown * M, v, v));
  for (PetscInt k = 0; k < nown; k++) PetscCall(PetscArraycpy(HX + own[k] * M, v + k * M, M));
  PetscCall(PetscFree(v));
  if (nobs) PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, HX, (PetscMPIInt)(M * nobs), MPIU_REAL, MPI_SUM, world));
  for (PetscInt o = 0; o < nobs; o++) {
    PetscReal mean = 0;
    for (PetscInt m = 0; m < M; m++) mean += HX[o * M + m];
    mean /= M;
    for (PetscInt m = 0; m < M; m++) Yb[o * M + m] = HX[o * M + m] - mean;
    d[o] = obs->value[o] - mean;
  }
  PetscCall(PetscLogEventEnd(DAISI_FilterObsOperator, 0, 0, 0, 0));
  PetscCall(DaisiCheckFinite(world, M * nobs, HX, "h applied to the prior ensemble"));

  ctx.M    = M;
  ctx.npts = npts;
  ctx.nobs = nobs;
  ctx.rank = info.rank;
  ctx.size = info.size;
  ctx.comm = world;
  ctx.obs  = obs;
  ctx.x    = x;
  ctx.Yb   = Yb;
  ctx.HX   = HX;
  ctx.d    = d;
  PetscCall(f->ops.analysis(f, &ctx));

  for (PetscInt j = 0; j < npts; j++)
    for (PetscInt m = 0; m < M; m++) xa[m * npts + j] = x[j * M + m];
  PetscCall(DaisiCheckFinite(world, M * npts, xa, "the analysis ensemble"));
  PetscCall(DaisiEnsembleFromAnalysis(e, xa));
  PetscCall(PetscFree2(xa, x));
  PetscCall(PetscFree4(HX, Yb, d, own));
  PetscCall(PetscLogEventEnd(DAISI_FilterAnalysis, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a choice among names, with an error that names the option and lists the choices */
PetscErrorCode DaisiFilterReadChoice(PetscOptionItems *PetscOptionsObject, const char man[], const char opt[], const char text[], const char *const list[], PetscInt *val)
{
  char      buf[64], known[256] = "";
  PetscBool set, same;

  PetscFunctionBegin;
  PetscCall(PetscOptionsString(opt, text, man, list[*val], buf, sizeof(buf), &set));
  if (!set) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt i = 0; list[i]; i++) {
    PetscCall(PetscStrcmp(buf, list[i], &same));
    if (same) {
      *val = i;
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    PetscCall(PetscStrlcat(known, i ? ", " : "", sizeof(known)));
    PetscCall(PetscStrlcat(known, list[i], sizeof(known)));
  }
  SETERRQ(PetscOptionsObject->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown %s '%s' (known: %s)", opt, buf, known);
}
