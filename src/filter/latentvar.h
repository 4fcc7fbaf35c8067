/* Private: the latent variational core shared by latent 3DVar (l3dvar.c, which implements it)
 * and LO-SDA (losda.c): a variational autoencoder loaded on the member group and checked to be
 * a pair, the encoder's means, and the minimisation over the latent z = z_b + diag(sd) v of
 *   J(v) = 1/2 v^T v + 1/2 sum_o ((y_o - h(D(z))_o) / sigma_o)^2
 * (one decoder forward and reverse pass per evaluation, sums exact per row; varimpl.h). */
#ifndef DAISI_LATENTVAR_H
#define DAISI_LATENTVAR_H

#include "varimpl.h"
#include <daisi/nn.h>

typedef struct {
  DaisiVarCore c;        /* work space, observations, statistics (varimpl.h); first */
  DaisiNet     enc, dec; /* on the group communicator */
  DaisiGrid    zg;       /* the latent layout on this rank */
  PetscInt     nc, nz;   /* latent channels; latent values on this rank */
  PetscReal    sd[DAISI_L3DVAR_MAX_CHANNELS];  /* the background's standard deviation per channel */
  PetscReal    var[DAISI_L3DVAR_MAX_CHANNELS]; /* l3dvar: B_z, where it came from (losda: unused) */
  PetscInt64   nsamples;
  char         source[PETSC_MAX_PATH_LEN + 64];
  PetscReal   *xb, *x, *gx, *zb, *z, *gz, *h, *part;
  Vec          v;
} DaisiLatentVar;

/* the core for ensemble e (collective over its world): DaisiVarCoreSetUp, the encoder and
 * decoder from their files (option names for the messages), the pair check, the work space */
PETSC_INTERN PetscErrorCode DaisiLatentVarSetUp(DaisiLatentVar *d, const char name[], DaisiEnsemble e, DaisiVarSolveFn solve, const char encopt[], const char encoder[], const char decopt[], const char decoder[]);
PETSC_INTERN PetscErrorCode DaisiLatentVarDestroy(DaisiLatentVar *d);
/* z (B latent fields) = the mean part of E(x) for B states (this rank's slabs) */
PETSC_INTERN PetscErrorCode DaisiLatentVarEncode(DaisiLatentVar *d, PetscInt B, const PetscReal x[], PetscReal z[]);
/* J(v) and its gradient for z_b = d->zb, sd = d->sd (ctx: the DaisiLatentVar); D(z) left in d->x */
PETSC_INTERN PetscErrorCode DaisiLatentVarObjective(void *ctx, const PetscReal v[], PetscReal *J, PetscReal g[]);
/* argmin J from v = 0 for d->zb, d->sd and the observations d->c.ob (TAO, -var3d_* parameters;
 * at most max_it iterations if max_it > 0): the analysis latent into d->z */
PETSC_INTERN PetscErrorCode DaisiLatentVarMinimize(DaisiFilter f, DaisiLatentVar *d, PetscInt member, PetscInt max_it);

#endif
