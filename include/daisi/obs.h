/* DaisiObsSet: the observations of one assimilation cycle.
 *
 * Observations sit at grid points: observation i sees level lev[i] at row iy[i], column ix[i]
 * of the model grid, through the pointwise operator `op` (theta in K -> units of h), with
 * Gaussian error of standard deviation sigma[i] in the units of h. Every rank of a
 * communicator holds the whole set (the sets are small next to the state: 2 x 25 % of the
 * grid at most), so local analyses and guidance terms can pick the ones they need.
 * The global grid index of observation i is (lev[i] * ny + iy[i]) * nx + ix[i].
 * Observations whose value is NaN in a file are skipped on reading (counted, see
 * docs/observations.md), so a set never holds NaN. */
#ifndef DAISI_OBS_H
#define DAISI_OBS_H

#include <daisi/grid.h>
#include <daisi/obsop.h>

typedef struct {
  PetscInt         nobs;
  PetscInt        *lev, *iy, *ix; /* where (grid indices) */
  PetscReal       *value;         /* y */
  PetscReal       *sigma;         /* error std, > 0 */
  PetscReal        time;          /* model time (s) of the observations */
  PetscInt         cycle;         /* cycle number (1 = the first observed cycle) */
  DaisiObsOperator op;            /* h; owned by the set */
} DaisiObsSet;

/* allocate room for n observations (arrays), op created on comm with the given type */
PETSC_EXTERN PetscErrorCode DaisiObsSetCreate(MPI_Comm comm, PetscInt n, DaisiObsOperatorType type, DaisiObsSet *set);
PETSC_EXTERN PetscErrorCode DaisiObsSetDestroy(DaisiObsSet *set);

#endif
