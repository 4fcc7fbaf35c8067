/* Helpers shared by the latent filter tests (test_l3dvar.c, test_losda.c): small random-weight
 * networks written to weight files (the halves of a variational autoencoder, with per-level
 * normalisation as daisi-train stores it), the pair loaded on a group, the encoder's means, and
 * the observation term of a global state. */
#ifndef DAISI_LATENTTEST_H
#define DAISI_LATENTTEST_H

#include "filtertest.h"
#include <daisi/nn.h>
#include <daisi/var3d.h>
#include <unistd.h>

/* The test's file names made unique to this run, "t<pid of rank 0>_<name>" (ctest runs the
 * rank counts of a test side by side in one directory); LatentTestFreeNames releases them. */
static inline PetscErrorCode LatentTestUniqueNames(PetscInt n, const char **name[])
{
  long pid = (long)getpid();

  PetscFunctionBegin;
  PetscCallMPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, PETSC_COMM_WORLD));
  for (PetscInt i = 0; i < n; i++) {
    size_t len = strlen(*name[i]) + 32;
    char  *s;
    PetscCall(PetscMalloc1(len, &s));
    PetscCall(PetscSNPrintf(s, len, "t%ld_%s", pid, *name[i]));
    *name[i] = s;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* removes the files and frees the names of LatentTestUniqueNames */
static inline PetscErrorCode LatentTestFreeNames(PetscInt n, const char **name[])
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < n; i++) {
    PetscCall(DaisiFileRemove(PETSC_COMM_WORLD, *name[i]));
    PetscCall(PetscFree(*name[i]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the -lt_nn_* options of the test networks (base width 4, 3 levels, 2 groups), or their removal */
static inline PetscErrorCode LatentTestNetOptions(PetscBool set, const char mult[])
{
  PetscFunctionBegin;
  if (set) {
    PetscCall(PetscOptionsSetValue(NULL, "-lt_nn_base_width", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-lt_nn_channel_mult", mult));
    PetscCall(PetscOptionsSetValue(NULL, "-lt_nn_groups", "2"));
    PetscCall(PetscOptionsSetValue(NULL, "-lt_nn_time_features", "4"));
    PetscCall(PetscOptionsSetValue(NULL, "-lt_nn_time_dim", "8"));
  } else {
    PetscCall(PetscOptionsClearValue(NULL, "-lt_nn_base_width"));
    PetscCall(PetscOptionsClearValue(NULL, "-lt_nn_channel_mult"));
    PetscCall(PetscOptionsClearValue(NULL, "-lt_nn_groups"));
    PetscCall(PetscOptionsClearValue(NULL, "-lt_nn_time_features"));
    PetscCall(PetscOptionsClearValue(NULL, "-lt_nn_time_dim"));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a random-weight encoder or decoder (latent channels nc) on grid g, per-level normalisation
 * like daisi-train's (shifted by shift), optional training signature, saved to path */
static inline PetscErrorCode LatentTestMakeVAENet(MPI_Comm comm, const DaisiGrid *g, const char type[], PetscInt nc, PetscInt64 seed, PetscReal shift, const char *sig, const char path[])
{
  DaisiNet   net;
  PetscInt   nn;
  PetscReal *mean, *sd, *zero, *one;
  char       buf[16];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "%" PetscInt_FMT, nc));
  PetscCall(PetscOptionsSetValue(NULL, "-lt_nn_latent_channels", buf));
  PetscCall(LatentTestNetOptions(PETSC_TRUE, "1,2,2"));
  PetscCall(DaisiNetCreate(comm, &net));
  PetscCall(DaisiNetSetOptionsPrefix(net, "lt_"));
  PetscCall(DaisiNetSetFromOptions(net));
  PetscCall(DaisiNetSetType(net, type));
  PetscCall(DaisiNetSetUp(net, g));
  PetscCall(DaisiNetInitializeWeights(net, seed));
  PetscCall(DaisiNetGetNormalizationSize(net, &nn));
  PetscCall(PetscMalloc4(nn, &mean, nn, &sd, nn, &zero, nn, &one));
  for (PetscInt i = 0; i < nn; i++) {
    zero[i] = mean[i] = 0;
    one[i] = sd[i] = 1;
  }
  for (PetscInt l = 0; l < g->nlev; l++) {
    mean[l] = 1.5 - l + shift;
    sd[l]   = 5 + 2 * l;
  }
  if (!strcmp(type, "encoder")) PetscCall(DaisiNetSetNormalization(net, mean, sd, zero, one));
  else PetscCall(DaisiNetSetNormalization(net, zero, one, mean, sd));
  if (sig) PetscCall(DaisiNetSetMetadata(net, "train_signature", sig));
  PetscCall(DaisiNetSave(net, path));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(PetscFree4(mean, sd, zero, one));
  PetscCall(PetscOptionsClearValue(NULL, "-lt_nn_latent_channels"));
  PetscCall(LatentTestNetOptions(PETSC_FALSE, NULL));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The latent filters' set-up shared by their tests: the type's parameter setter (a wrapper taking
 * the type's parameter struct), a filter of that type on ensemble e with the 3dvar core's
 * parameters vp, and the errors of a refused set-up or parameter check (the filter destroyed). */
typedef PetscErrorCode (*LatentTestSetParams)(DaisiFilter, const void *);

static inline PetscErrorCode LatentTestMakeFilter(DaisiEnsemble e, DaisiFilterType type, PetscInt64 seed, const DaisiFilterVar3dParams *vp, LatentTestSetParams set, const void *p, DaisiFilter *f)
{
  MPI_Comm comm;

  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetComm(e, &comm));
  PetscCall(DaisiFilterCreate(comm, f));
  PetscCall(DaisiFilterSetType(*f, type));
  PetscCall(DaisiFilterSetSeed(*f, seed));
  PetscCall(DaisiFilterVar3dSetParams(*f, vp));
  PetscCall(set(*f, p));
  PetscCall(DaisiFilterSetEnsemble(*f, e));
  PetscCall(DaisiFilterSetUp(*f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscErrorCode LatentTestTrySetUp(DaisiEnsemble e, DaisiFilterType type, PetscInt64 seed, const DaisiFilterVar3dParams *vp, LatentTestSetParams set, const void *p)
{
  DaisiFilter    f = NULL;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  ierr = LatentTestMakeFilter(e, type, seed, vp, set, p, &f);
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(ierr);
}

static inline PetscErrorCode LatentTestTrySetParams(DaisiFilterType type, LatentTestSetParams set, const void *p)
{
  DaisiFilter    f = NULL;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(DaisiFilterCreate(PETSC_COMM_WORLD, &f));
  PetscCall(DaisiFilterSetType(f, type));
  ierr = set(f, p);
  PetscCall(DaisiFilterDestroy(&f));
  PetscFunctionReturn(ierr);
}

/* the pair of weight files loaded on the group of ensemble e */
typedef struct {
  DaisiNet  enc, dec;
  DaisiGrid g, z;
  MPI_Comm  group;
  PetscInt  n, nz;
} LatentTestVAE;

static inline PetscErrorCode LatentTestVAELoad(DaisiEnsemble e, const char encfile[], const char decfile[], LatentTestVAE *v)
{
  PetscFunctionBegin;
  PetscCall(DaisiEnsembleGetGrid(e, &v->g));
  PetscCall(DaisiEnsembleGetGroupComm(e, &v->group));
  PetscCall(DaisiNetLoad(v->group, encfile, &v->g, &v->enc));
  PetscCall(DaisiNetLoad(v->group, decfile, &v->g, &v->dec));
  PetscCall(DaisiNetGetLatentGrid(v->dec, &v->z));
  v->n  = DaisiGridLocalSize(&v->g);
  v->nz = DaisiGridLocalSize(&v->z);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscErrorCode LatentTestVAEDestroy(LatentTestVAE *v)
{
  PetscFunctionBegin;
  PetscCall(DaisiNetDestroy(&v->enc));
  PetscCall(DaisiNetDestroy(&v->dec));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the latent means of B slab states (batch B, as the filters encode) */
static inline PetscErrorCode LatentTestVAEEncode(LatentTestVAE *v, PetscInt B, const PetscReal x[], PetscReal z[])
{
  PetscReal *h;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(2 * B * v->nz + 1, &h));
  PetscCall(DaisiNetForward(v->enc, B, NULL, x, h));
  for (PetscInt b = 0; b < B; b++) PetscCall(PetscArraycpy(z + b * v->nz, h + 2 * b * v->nz, v->nz));
  PetscCall(PetscFree(h));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the observation term 1/2 sum ((y - h(x)) / sigma)^2 of a global state */
static inline PetscErrorCode LatentTestObsTerm(const DaisiGrid *g, const DaisiObsSet *obs, const PetscReal x[], PetscReal *J)
{
  PetscFunctionBegin;
  *J = 0;
  for (PetscInt o = 0; o < obs->nobs; o++) {
    const PetscInt gi = (obs->lev[o] * g->ny + obs->iy[o]) * g->nx + obs->ix[o];
    PetscReal      h;
    PetscCall(DaisiObsOperatorApply(obs->op, 1, &x[gi], &h));
    *J += 0.5 * (obs->value[o] - h) * (obs->value[o] - h) / (obs->sigma[o] * obs->sigma[o]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

#endif
