/* Helpers shared by the metrics tests: failure counting and row splits of a grid. */
#ifndef DAISI_METRICSTEST_H
#define DAISI_METRICSTEST_H

#include <daisi/grid.h>
#include <daisi/metrics.h>
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <daisitest.h>
#include <math.h>

/* |a - b| <= tol * scale */
#define EXPECT_CLOSE(a, b, tol, scale, what) \
  EXPECT(PetscAbsReal((a) - (b)) <= (tol) * (scale), "%s: %.17g vs %.17g (diff %.3g, allowed %.3g)", what, (double)(a), (double)(b), (double)PetscAbsReal((a) - (b)), (double)((tol) * (scale)))

/* Row splits of ny rows over size ranks:
 *   0: FFTW-like blocks of ceil(ny/size) rows in rank order;
 *   1: uneven, rows proportional to r^2 (rank 0 empty when size > 1);
 *   2: FFTW-like blocks in reverse rank order (rank 0 holds the last rows). */
#define NSPLITS 3
static inline void RowSplit(PetscInt mode, PetscInt ny, PetscMPIInt size, PetscMPIInt rank, PetscInt *y0, PetscInt *nyl)
{
  if (mode == 1 && size > 1) {
    PetscInt64 W = 0, Wr = 0;
    for (PetscInt q = 0; q < size; q++) W += (PetscInt64)q * q;
    for (PetscInt q = 0; q < rank; q++) Wr += (PetscInt64)q * q;
    *y0  = (PetscInt)(ny * Wr / W);
    *nyl = (PetscInt)(ny * (Wr + (PetscInt64)rank * rank) / W) - *y0;
    return;
  }
  {
    const PetscInt    block = (ny + size - 1) / size;
    const PetscMPIInt b     = mode == 2 ? size - 1 - rank : rank;
    *y0                     = PetscMin((PetscInt)b * block, ny);
    *nyl                    = PetscMin(block, ny - *y0);
  }
}

/* copy the rows of grid g (this rank's slab) out of a global nlev x ny x nx field */
static inline void ExtractSlab(const DaisiGrid *g, const PetscReal global[], PetscReal local[])
{
  for (PetscInt lev = 0; lev < g->nlev; lev++)
    for (PetscInt r = 0; r < g->nyl; r++)
      for (PetscInt x = 0; x < g->nx; x++) local[(lev * g->nyl + r) * g->nx + x] = global[(lev * g->ny + g->y0 + r) * g->nx + x];
}

#endif
