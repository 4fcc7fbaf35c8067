/* LO-SDA (filter type "losda", src/filter/losda.c; docs/filters.md, section LO-SDA): latent
 * diffusion data assimilation with latent optimisation. A variational autoencoder (encoder E,
 * decoder D; daisi-train -train_model vae) compresses the state; a latent interpolant model
 * b(z_t, t | z_b) conditioned on the encoded background (daisi-train -train_model latent)
 * samples the analysis latent from noise, and every -losda_opt_every steps from t >=
 * -losda_opt_tmin its denoised estimate z1 = z_t + (1 - t) b is replaced by
 *
 *   argmin_u  1/2 |u - z1|^2 / gamma^2 + 1/2 sum_o ((y_o - h(D(u))_o) / sigma_o)^2
 *
 * (latent 3DVar with background z1 and B_z = gamma^2 I in the model's normalised latent
 * units, TAO as 3dvar's, at most -losda_opt_max_it iterations), after which the deterministic
 * interpolant step continues from the optimised estimate: z_t' = (1 - t') z0 + t' z1 with
 * z0 = (z_t - t z1) / (1 - t). The member's analysis is D(z) at t = 1. Members differ only in
 * their noise, keyed by (-filter_seed, cycle, member; latent index): layout independent.
 *
 * This header is the type's whole interface: its parameters (held by every filter, so that
 * every type reads the -losda_* options) and the statistics of the last analysis. */
#ifndef DAISI_LOSDA_H
#define DAISI_LOSDA_H

#include <daisi/var3d.h>

#define DAISI_FILTER_LOSDA "losda"

typedef struct {
  char      model[PETSC_MAX_PATH_LEN];                               /* -losda_model FILE: the conditional latent model */
  char      encoder[PETSC_MAX_PATH_LEN], decoder[PETSC_MAX_PATH_LEN]; /* -losda_encoder, -losda_decoder: the VAE */
  PetscInt  steps;                                                   /* -losda_steps K >= 1 (20) */
  PetscInt  opt_every;                                               /* -losda_opt_every k >= 0 (1; 0: no latent optimisation) */
  PetscReal opt_tmin;                                                /* -losda_opt_tmin in [0, 1) (0.5): optimise at steps with t >= it */
  PetscReal gamma;                                                   /* -losda_gamma > 0 (0.5): the prior width of the optimisation */
  PetscInt  opt_max_it;                                              /* -losda_opt_max_it >= 1 (20): TAO iterations per optimisation */
} DaisiFilterLOSDAParams;

PETSC_EXTERN PetscErrorCode DaisiFilterLOSDAParamsDefault(DaisiFilterLOSDAParams *p);
PETSC_EXTERN PetscErrorCode DaisiFilterLOSDAGetParams(DaisiFilter f, DaisiFilterLOSDAParams *p);
PETSC_EXTERN PetscErrorCode DaisiFilterLOSDASetParams(DaisiFilter f, const DaisiFilterLOSDAParams *p);

/* what the last analysis did on this rank's group (summed over its members) */
typedef struct {
  PetscInt  members, optimisations, iterations; /* members sampled, latent optimisations, TAO iterations */
  PetscReal jo_before, jo_after;                /* observation term of the last optimisation, before and after */
} DaisiFilterLOSDAStats;
PETSC_EXTERN PetscErrorCode DaisiFilterLOSDAGetStats(DaisiFilter f, DaisiFilterLOSDAStats *s);

/* private to the filter package: the -losda_* options (read by every type) and the constructor */
PETSC_INTERN PetscErrorCode DaisiFilterLOSDAParamsSetFromOptions(DaisiFilter f, PetscOptionItems *PetscOptionsObject);
PETSC_INTERN PetscErrorCode DaisiFilterCreate_LOSDA(DaisiFilter f);

PETSC_EXTERN PetscLogEvent DAISI_FilterLOSDASample, DAISI_FilterLOSDAOptimise;

#endif
