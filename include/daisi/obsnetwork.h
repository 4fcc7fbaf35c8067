/* DaisiObsNetwork: where observations are taken (the sites), and DaisiObsScenario: the
 * published SQG observation scenarios.
 *
 * A network is a set of nsite distinct horizontal grid points (iy, ix), observed on every
 * level listed in -obs_levels (default: all levels), so a cycle has nsite * nlevobs
 * observations. Observation i is level levels[i / nsite] at site i % nsite; sites are sorted
 * by global horizontal index iy * nx + ix. The sites are either
 *   - random: exactly round(fraction * ny * nx) grid points, the ones with the smallest
 *     Philox keys DaisiRngBits(seed, DAISI_RNG_OBS_SITES, cycle, 0, 0; index iy * nx + ix),
 *     so the network depends only on (seed, fraction, grid), never on the rank count;
 *     cycle = 0 for a fixed network, or the cycle number with -obs_new_sites_each_cycle;
 *   - or read from a site file (-obs_sites FILE), text or HDF5 (docs/observations.md).
 *
 * Lifecycle, in the PETSc manner:
 *   DaisiObsNetworkCreate(comm, &net);  DaisiObsNetworkSetGrid(net, &grid);
 *   [DaisiObsNetworkSetFraction(net, 0.25); ...]  DaisiObsNetworkSetFromOptions(net);
 *   DaisiObsNetworkSetUp(net);
 *   DaisiObsNetworkGetSites(net, cycle, &n, &lev, &iy, &ix);   (every rank gets all sites)
 *   DaisiObsNetworkDestroy(&net);
 * Options: -obs_fraction F (0 < F <= 1), -obs_seed S, -obs_sites FILE,
 * -obs_new_sites_each_cycle, -obs_levels l0,l1,... */
#ifndef DAISI_OBSNETWORK_H
#define DAISI_OBSNETWORK_H

#include <daisi/grid.h>
#include <daisi/obsop.h>
#include <petscviewer.h>

typedef struct _p_DaisiObsNetwork *DaisiObsNetwork;

#define DAISI_OBS_FRACTION_DEFAULT 0.25
#define DAISI_OBS_SEED_DEFAULT     1

PETSC_EXTERN PetscErrorCode DaisiObsNetworkCreate(MPI_Comm comm, DaisiObsNetwork *net);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetOptionsPrefix(DaisiObsNetwork net, const char prefix[]);
/* only nlev, ny, nx are used */
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetGrid(DaisiObsNetwork net, const DaisiGrid *grid);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetFraction(DaisiObsNetwork net, PetscReal fraction);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetSeed(DaisiObsNetwork net, PetscInt64 seed);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkGetSeed(DaisiObsNetwork net, PetscInt64 *seed);
/* explicit sites from a file instead of random ones (NULL or "": random) */
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetSitesFile(DaisiObsNetwork net, const char path[]);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetNewSitesEachCycle(DaisiObsNetwork net, PetscBool flg);
/* observed levels (distinct, 0 <= l < nlev); n = 0 means all levels */
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetLevels(DaisiObsNetwork net, PetscInt n, const PetscInt levels[]);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetFromOptions(DaisiObsNetwork net);
/* Chooses (or reads) the sites; collective. Errors name the option or file at fault. */
PETSC_EXTERN PetscErrorCode DaisiObsNetworkSetUp(DaisiObsNetwork net);
/* Number of observations per cycle (nsite * number of observed levels) and of sites. */
PETSC_EXTERN PetscErrorCode DaisiObsNetworkGetSizes(DaisiObsNetwork net, PetscInt *nobs, PetscInt *nsite, PetscInt *nlevobs);
/* The observations of a cycle (cycle >= 1): level and grid point of each, arrays of length
 * *nobs owned by the network, valid until the next call. Collective when the sites change
 * with the cycle; the same on every rank. */
PETSC_EXTERN PetscErrorCode DaisiObsNetworkGetSites(DaisiObsNetwork net, PetscInt cycle, PetscInt *nobs, const PetscInt **lev, const PetscInt **iy, const PetscInt **ix);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkView(DaisiObsNetwork net, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiObsNetworkDestroy(DaisiObsNetwork *net);

/* Log event around site selection and site-file reading. */
PETSC_EXTERN PetscLogEvent DAISI_ObsNetworkSetUp;

/* The observation scenarios of EXPERIMENTS.md with the published LETKF and DAISI settings for
 * each. DaisiObsScenarioGetFromOptions reads -scenario NAME (required; known: noisy, sparse,
 * multimodal, saturating) and then lets every field be overridden one by one:
 * -obs_operator, -obs_squared_scale, -obs_fraction, -obs_sigma, -obs_seed, -letkf_cutoff (m),
 * -letkf_rtps, -ens_size, -ens_init_sigma (K), -daisi_guidance, -daisi_tmin, -daisi_lambda,
 * -daisi_lambda_schedule, -daisi_eps, -daisi_inversion_steps, -daisi_steps, -daisi_method,
 * -daisi_prior, -var3d_b_scale, -l3dvar_encoder, -l3dvar_decoder, -losda_encoder, -losda_decoder,
 * -losda_model.
 * Programs that do not use some of these fields (daisi-obs uses neither the LETKF nor the DAISI
 * ones; the filter reads and checks its own options) still read them through this call, so that
 * one scenario YAML file serves every program (see configs/). */
typedef struct {
  char      name[32];
  char      op[32];         /* DaisiObsOperatorType */
  PetscReal squared_scale;  /* c of the squared operator (K) */
  PetscReal fraction;       /* fraction of grid points observed */
  PetscReal sigma;          /* observation error std, units of h */
  PetscInt64 seed;          /* seed of the sites and the noise */
  PetscReal letkf_cutoff;   /* Gaspari-Cohn cutoff (m) */
  PetscReal letkf_rtps;     /* RTPS alpha */
  PetscInt  ens_size;       /* members */
  PetscReal ens_init_sigma; /* initial perturbation std (K) */
  /* DAISI (-filter_type daisi, docs/daisi.md) as published */
  char      daisi_guidance[16];    /* dps, dps_scale, mmps */
  PetscReal daisi_tmin;            /* start of the guided SDE */
  PetscReal daisi_lambda;          /* guidance strength lam */
  char      daisi_schedule[16];    /* lam(t): constant, linear (lam (1 - t)) */
  PetscReal daisi_eps;             /* eps of both SDEs */
  PetscInt  daisi_inversion_steps; /* steps of the inversion */
  PetscInt  daisi_steps;           /* steps of the guided SDE */
  char      daisi_method[16];      /* euler, heun */
  char      daisi_prior[PETSC_MAX_PATH_LEN]; /* prior file (the shipped SQG-64 prior) */
  PetscReal var3d_b_scale;                  /* 3DVar: B = s x climatology (tuned per scenario, docs/results.md) */
  /* latent 3DVar and LO-SDA (docs/filters.md): the shipped VAE and LO-SDA's latent model */
  char      l3dvar_encoder[PETSC_MAX_PATH_LEN];
  char      l3dvar_decoder[PETSC_MAX_PATH_LEN];
  char      losda_encoder[PETSC_MAX_PATH_LEN];
  char      losda_decoder[PETSC_MAX_PATH_LEN];
  char      losda_model[PETSC_MAX_PATH_LEN];
} DaisiObsScenario;

/* The table entry for `name`; errors (PETSC_ERR_ARG_UNKNOWN_TYPE) naming it if unknown. */
PETSC_EXTERN PetscErrorCode DaisiObsScenarioFind(MPI_Comm comm, const char name[], DaisiObsScenario *s);
PETSC_EXTERN PetscErrorCode DaisiObsScenarioGetFromOptions(MPI_Comm comm, const char prefix[], DaisiObsScenario *s);

#endif
