/* The state layout shared by models, files, observations, filters and networks. */
#ifndef DAISI_GRID_H
#define DAISI_GRID_H

#include <petscsys.h>

/* A model state is nlev fields on an ny x nx grid (doubly periodic for SQG; a single
 * row of nx values for small systems such as Lorenz '63). Rows (y) are split in slabs
 * over the ranks of the model's communicator exactly as FFTW-MPI hands them out: this
 * rank holds rows [y0, y0 + nyl), possibly none. Locally a member's state is stored
 * level-major: x[(lev * nyl + (y - y0)) * nx + xi]. Global index of a value:
 * (lev * ny + y) * nx + xi. Units are the model's state units (SQG: theta in K). */
typedef struct {
  PetscInt  nlev, ny, nx; /* global shape */
  PetscInt  y0, nyl;      /* this rank's rows */
  PetscReal Lx, Ly;       /* domain size (m); 0 for non-spatial systems */
  PetscReal dt;           /* model time step (s, or model time units) */
} DaisiGrid;

/* number of values of one member held by this rank */
static inline PetscInt DaisiGridLocalSize(const DaisiGrid *g)
{
  return g->nlev * g->nyl * g->nx;
}
static inline PetscInt DaisiGridGlobalSize(const DaisiGrid *g)
{
  return g->nlev * g->ny * g->nx;
}

#endif
