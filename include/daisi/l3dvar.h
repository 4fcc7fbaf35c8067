/* The latent 3DVar baseline (filter type "l3dvar", src/filter/l3dvar.c; docs/filters.md, section
 * Latent 3DVar): 3DVar in the latent space of a variational autoencoder (encoder E, decoder D,
 * DaisiNet types encoder / decoder, trained by daisi-train -train_model vae):
 *
 *   J(v) = 1/2 v^T v + 1/2 sum_o ((y_o - h(D(z))_o) / sigma_o)^2,   z = z_b + B_z^1/2 v,
 *   z_b = mean of E(x_b),   grad J(v) = v + B_z^1/2 J_D^T H^T R^-1 (h(D(z)) - y),
 *
 * B_z diagonal with one variance per latent channel, x_a = D(z_a). The minimisation (TAO), the
 * mean / members modes and their parameters are 3dvar's (-var3d_mode, -var3d_tao, ...; var3d.h).
 *
 * This header is the type's whole interface: its parameters (held by every filter, so that every
 * type reads the -l3dvar_* options) and a few entry points for tests and diagnostics. */
#ifndef DAISI_L3DVAR_H
#define DAISI_L3DVAR_H

#include <daisi/var3d.h>

#define DAISI_FILTER_L3DVAR "l3dvar"
#define DAISI_L3DVAR_MAX_CHANNELS 64 /* latent channels of -l3dvar_bz_variances */

typedef struct {
  char      encoder[PETSC_MAX_PATH_LEN], decoder[PETSC_MAX_PATH_LEN]; /* -l3dvar_encoder, -l3dvar_decoder: weight files */
  PetscInt  nvar;                                    /* -l3dvar_bz_variances v1,v2,...: explicit B_z (nvar values; 0: not given) */
  PetscReal var[DAISI_L3DVAR_MAX_CHANNELS];
  char      climatology[PETSC_MAX_PATH_LEN];         /* -l3dvar_bz_climatology FILE: NMC-style lagged differences of a nature run (or of every trajectory of an ensemble file) */
  PetscInt  first, lag, stride, count;               /* -l3dvar_bz_first (0), _lag (1), _stride (1), _count (0: as many as fit) */
  char      errors[PETSC_MAX_PATH_LEN], truth[PETSC_MAX_PATH_LEN]; /* -l3dvar_bz_errors DIAG.h5 -l3dvar_bz_truth TRUTH.h5: encoded background errors */
  PetscInt  first_cycle;                             /* -l3dvar_bz_first_cycle (21): cycles used from the diagnostics file */
  PetscReal scale;                                   /* -l3dvar_bz_scale s > 0 (1): estimated variances times s */
} DaisiFilterL3dvarParams;

PETSC_EXTERN PetscErrorCode DaisiFilterL3dvarParamsDefault(DaisiFilterL3dvarParams *p);
/* Any filter holds them; Set checks them, naming the option. */
PETSC_EXTERN PetscErrorCode DaisiFilterL3dvarGetParams(DaisiFilter f, DaisiFilterL3dvarParams *p);
PETSC_EXTERN PetscErrorCode DaisiFilterL3dvarSetParams(DaisiFilter f, const DaisiFilterL3dvarParams *p);

/* Tests and diagnostics (type l3dvar; the filter is set up for e on first use; collective over
 * e's world). The control vector of this rank's group is the latent field in the decoder's
 * latent layout (DaisiNetGetLatentGrid): nv values on this rank. Objective: J and its gradient g
 * (NULL on every rank or on none) at v for the background xb (this rank's slab) and the
 * observations as given. */
PETSC_EXTERN PetscErrorCode DaisiFilterL3dvarGetControlSize(DaisiFilter f, DaisiEnsemble e, PetscInt *nv);
PETSC_EXTERN PetscErrorCode DaisiFilterL3dvarObjective(DaisiFilter f, DaisiEnsemble e, const DaisiObsSet *obs, const PetscReal xb[], const PetscReal v[], PetscReal *J, PetscReal g[]);
/* the B_z variances (nc = latent channels; var may be NULL), identical on every rank */
PETSC_EXTERN PetscErrorCode DaisiFilterL3dvarGetVariances(DaisiFilter f, DaisiEnsemble e, PetscInt *nc, PetscReal var[]);
/* what the last analysis did (on this rank's group), as 3dvar's */
PETSC_EXTERN PetscErrorCode DaisiFilterL3dvarGetStats(DaisiFilter f, DaisiFilterVar3dStats *s);

/* private to the filter package: the -l3dvar_* options (read by every type) and the constructor */
PETSC_INTERN PetscErrorCode DaisiFilterL3dvarParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_L3dvar(DaisiFilter f);

PETSC_EXTERN PetscLogEvent DAISI_FilterL3dvarSetUp, DAISI_FilterL3dvarSolve, DAISI_FilterL3dvarObjective;

#endif
