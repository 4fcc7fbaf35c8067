/* The symmetric eigensolvers of the ensemble-space problems (src/filter/filter.c), every kind
 * (auto, LAPACK syev/syevr/syevd, built-in qr), on random and on degenerate matrices: zero,
 * identity, diagonal, tridiagonal, rank one, clustered and repeated eigenvalues, Gram matrices
 * Z Z^T with more rows than columns (exact zero eigenvalues), sizes 1-70 (auto switches solver
 * above 64). Checked: the residual |A V - V diag(w)|, the orthogonality |V^T V - I|, the
 * eigenvalues against LAPACK dsyev's, ToBasis/FromBasis as V^T and V, and that a batch factored
 * together gives bit-for-bit the results of its problems factored one at a time. */
#include "daisitest.h"
#include <daisi/rng.h>
#include <daisi/sys.h>
#include "filterimpl.h"

static const char help[] = "Symmetric eigensolver tests\n";

typedef enum { MAT_RANDOM, MAT_ZERO, MAT_IDENTITY, MAT_DIAGONAL, MAT_TRIDIAGONAL, MAT_RANK1, MAT_CLUSTERED, MAT_GRAM, MAT_NKIND } MatKind;
static const char *const matnames[] = {"random", "zero", "identity", "diagonal", "tridiagonal", "rank one", "clustered", "gram (rank < n)"};

/* a symmetric n x n matrix (full storage) of the given kind, entries O(1) */
static void MakeMatrix(MatKind kind, PetscInt n, uint64_t seed, PetscReal A[])
{
  const DaisiRng r = DaisiRngMake(seed, DAISI_RNG_TEST, 0, 0, 0);
  PetscReal      v[80];
  uint64_t       c = 0;

  for (PetscInt i = 0; i < n * n; i++) A[i] = 0;
  switch (kind) {
  case MAT_RANDOM:
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = i; j < n; j++) A[i * n + j] = A[j * n + i] = DaisiRngNormal(&r, c++);
    break;
  case MAT_ZERO:
    break;
  case MAT_IDENTITY:
    for (PetscInt i = 0; i < n; i++) A[i * n + i] = 1;
    break;
  case MAT_DIAGONAL: /* with a repeated value */
    for (PetscInt i = 0; i < n; i++) A[i * n + i] = i % 3 ? DaisiRngNormal(&r, c++) : 2.0;
    break;
  case MAT_TRIDIAGONAL: /* with an exact zero on the off-diagonal (already split) */
    for (PetscInt i = 0; i < n; i++) A[i * n + i] = DaisiRngNormal(&r, c++);
    for (PetscInt i = 0; i + 1 < n; i++) A[i * n + i + 1] = A[(i + 1) * n + i] = i == n / 2 ? 0.0 : DaisiRngNormal(&r, c++);
    break;
  case MAT_RANK1:
    for (PetscInt i = 0; i < n; i++) v[i] = DaisiRngNormal(&r, c++);
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) A[i * n + j] = v[i] * v[j];
    break;
  case MAT_CLUSTERED: /* 19 I + (1e-9 scaled random): eigenvalues in a cluster of width ~1e-8 */
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = i; j < n; j++) A[i * n + j] = A[j * n + i] = (i == j ? 19.0 : 0.0) + 1e-9 * DaisiRngNormal(&r, c++);
    break;
  case MAT_GRAM: { /* Z Z^T, Z n x k with k = n/2 + 1: n - k exact zero eigenvalues */
    const PetscInt k = n / 2 + 1;
    PetscReal      Z[80 * 41];
    for (PetscInt i = 0; i < n * k; i++) Z[i] = DaisiRngNormal(&r, c++);
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) {
        PetscReal s = 0;
        for (PetscInt a = 0; a < k; a++) s += Z[i * k + a] * Z[j * k + a];
        A[i * n + j] = s;
      }
  } break;
  default:
    break;
  }
}

static int CompareReal(const void *a, const void *b)
{
  const PetscReal x = *(const PetscReal *)a, y = *(const PetscReal *)b;
  return x < y ? -1 : x > y ? 1 : 0;
}

/* residual and orthogonality of the explicit decomposition E (column-major) */
static void Check(PetscInt n, const PetscReal A[], const PetscReal w[], const PetscReal E[], PetscReal *res, PetscReal *orth)
{
  *res = *orth = 0;
  for (PetscInt q = 0; q < n; q++)
    for (PetscInt i = 0; i < n; i++) {
      PetscReal s = 0, o = 0;
      for (PetscInt j = 0; j < n; j++) s += A[i * n + j] * E[q * n + j];
      *res = PetscMax(*res, PetscAbsReal(s - w[q] * E[q * n + i]));
      for (PetscInt j = 0; j < n; j++) o += E[q * n + j] * E[i * n + j];
      *orth = PetscMax(*orth, PetscAbsReal(o - (i == q ? 1.0 : 0.0)));
    }
}

int main(int argc, char **argv)
{
  const PetscInt sizes[] = {1, 2, 3, 4, 7, 8, 9, 16, 20, 33, 64, 65, 70};
  const PetscInt ns = (PetscInt)(sizeof(sizes) / sizeof(sizes[0])), nmax = 70;
  PetscReal     *A, *B, *E, *E0, *w, *w0, *v, *u;
  PetscInt       ncase = 0;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(PetscMalloc4(nmax * nmax, &A, nmax * nmax, &B, nmax * nmax, &E, nmax * nmax, &E0));
  PetscCall(PetscMalloc4(nmax, &w, nmax, &w0, nmax, &v, nmax, &u));
  for (PetscInt kind = DAISI_FILTER_EIG_AUTO; kind <= DAISI_FILTER_EIG_QR; kind++)
    for (PetscInt mk = 0; mk < MAT_NKIND; mk++)
      for (PetscInt is = 0; is < ns; is++) {
        const PetscInt n = sizes[is];
        PetscReal      res, orth, scale = 1, dw = 0, dv = 0;
        DaisiFilterEig eig, ref;
        const PetscReal *Ab[1];
        PetscReal      *wb[1];

        MakeMatrix((MatKind)mk, n, 100 + is, A);
        for (PetscInt i = 0; i < n * n; i++) scale = PetscMax(scale, PetscAbsReal(A[i]));
        /* DaisiFilterEigSolve */
        PetscCall(DaisiFilterEigCreate(nmax, kind, &eig));
        PetscCall(PetscArraycpy(B, A, n * n));
        PetscCall(DaisiFilterEigSolve(&eig, n, B, w, E));
        Check(n, A, w, E, &res, &orth);
        EXPECT(res <= 1e-13 * n * scale && orth <= 1e-13 * n, "%s %s n = %d: residual %g, orthogonality %g", DaisiFilterEigNames[kind], matnames[mk], (int)n, (double)res, (double)orth);
        /* eigenvalues against LAPACK dsyev */
        PetscCall(DaisiFilterEigCreate(nmax, DAISI_FILTER_EIG_SYEV, &ref));
        PetscCall(PetscArraycpy(B, A, n * n));
        PetscCall(DaisiFilterEigSolve(&ref, n, B, w0, E0));
        PetscCall(DaisiFilterEigDestroy(&ref));
        PetscCall(PetscArraycpy(u, w, n));
        qsort(u, (size_t)n, sizeof(PetscReal), CompareReal);
        for (PetscInt q = 0; q < n; q++) dw = PetscMax(dw, PetscAbsReal(u[q] - w0[q]));
        EXPECT(dw <= 1e-13 * n * scale, "%s %s n = %d: eigenvalues differ from dsyev's by %g", DaisiFilterEigNames[kind], matnames[mk], (int)n, (double)dw);
        /* the factored form: V^T and V of the same decomposition as DaisiFilterEigSolve */
        Ab[0] = A;
        wb[0] = w0;
        PetscCall(DaisiFilterEigFactor(1, &eig, &n, Ab, wb));
        for (PetscInt q = 0; q < n; q++) dv = PetscMax(dv, PetscAbsReal(w0[q] - w[q]));
        for (PetscInt i = 0; i < n; i++) v[i] = PetscSinReal(1.0 + i);
        PetscCall(PetscArraycpy(u, v, n));
        DaisiFilterEigToBasis(&eig, u);
        for (PetscInt q = 0; q < n; q++) {
          PetscReal s = 0;
          for (PetscInt i = 0; i < n; i++) s += E[q * n + i] * v[i];
          dv = PetscMax(dv, PetscAbsReal(s - u[q]));
        }
        DaisiFilterEigFromBasis(&eig, u);
        for (PetscInt i = 0; i < n; i++) dv = PetscMax(dv, PetscAbsReal(u[i] - v[i]));
        EXPECT(dv <= 1e-12 * n * scale, "%s %s n = %d: factored form differs from the explicit one by %g", DaisiFilterEigNames[kind], matnames[mk], (int)n, (double)dv);
        PetscCall(DaisiFilterEigDestroy(&eig));
        ncase++;
      }

  /* a batch of problems of different sizes and kinds factored together equals one at a time */
  for (PetscInt kind = DAISI_FILTER_EIG_AUTO; kind <= DAISI_FILTER_EIG_QR; kind++) {
    const PetscInt   nb = DAISI_FILTER_EIG_BATCH, bn[DAISI_FILTER_EIG_BATCH] = {7, 1, 20, 12};
    DaisiFilterEig   be[DAISI_FILTER_EIG_BATCH], one;
    PetscReal       *bA[DAISI_FILTER_EIG_BATCH], *bw[DAISI_FILTER_EIG_BATCH];
    const PetscReal *cA[DAISI_FILTER_EIG_BATCH];
    PetscInt         differ = 0;

    for (PetscInt b = 0; b < nb; b++) {
      PetscCall(PetscMalloc2(bn[b] * bn[b], &bA[b], bn[b], &bw[b]));
      MakeMatrix(b % 2 ? MAT_GRAM : MAT_RANDOM, bn[b], 200 + b, bA[b]);
      cA[b] = bA[b];
      PetscCall(DaisiFilterEigCreate(nmax, kind, &be[b]));
    }
    PetscCall(DaisiFilterEigFactor(nb, be, bn, cA, bw));
    PetscCall(DaisiFilterEigCreate(nmax, kind, &one));
    for (PetscInt b = 0; b < nb; b++) {
      const PetscInt n = bn[b];
      PetscCall(DaisiFilterEigFactor(1, &one, &n, &cA[b], &w));
      for (PetscInt i = 0; i < n; i++) u[i] = v[i] = PetscCosReal(0.3 * i);
      DaisiFilterEigToBasis(&one, u);
      DaisiFilterEigToBasis(&be[b], v);
      for (PetscInt i = 0; i < n; i++) differ += (u[i] != v[i]) + (w[i] != bw[b][i]);
      DaisiFilterEigFromBasis(&one, u);
      DaisiFilterEigFromBasis(&be[b], v);
      for (PetscInt i = 0; i < n; i++) differ += u[i] != v[i];
    }
    EXPECT(differ == 0, "%s: a batch differs from its problems factored one at a time in %d values", DaisiFilterEigNames[kind], (int)differ);
    PetscCall(DaisiFilterEigDestroy(&one));
    for (PetscInt b = 0; b < nb; b++) {
      PetscCall(DaisiFilterEigDestroy(&be[b]));
      PetscCall(PetscFree2(bA[b], bw[b]));
    }
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d solver x matrix x size cases and %d batches checked\n", (int)ncase, (int)(DAISI_FILTER_EIG_QR + 1)));
  PetscCall(PetscFree4(A, B, E, E0));
  PetscCall(PetscFree4(w, w0, v, u));
  PetscCall(FinishTest("test_eig"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
