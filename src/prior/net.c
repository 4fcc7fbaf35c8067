/* The `net` prior: a trained velocity network (DaisiNet) read from -prior_file WEIGHTS.
 * A thin wrapper: the network is trained on normalised states x / s_data and returns b in the
 * same normalised space, so Velocity/VJP/JVP are DaisiNetForward/VJP/JVP unchanged. */
#include "priorimpl.h"
#include <daisi/nn.h>

typedef struct {
  char     file[PETSC_MAX_PATH_LEN];
  DaisiNet net;
} Prior_Net;

static PetscErrorCode SetFromOptions_Net(DaisiPrior p, PetscOptionItems *PetscOptionsObject)
{
  Prior_Net *pn = (Prior_Net *)p->data;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "Network prior options");
  PetscCall(PetscOptionsString("-prior_file", "Trained velocity network (DaisiNet weight file, docs/nn.md)", "", pn->file, pn->file, sizeof(pn->file), NULL));
  PetscOptionsHeadEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorNetSetFile(DaisiPrior p, const char path[])
{
  PetscBool  isnet;
  Prior_Net *pn;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(p->type, DAISI_PRIOR_NET, &isnet));
  PetscCheck(isnet, p->comm, PETSC_ERR_ARG_WRONGSTATE, "DaisiPriorNetSetFile: the prior is of type '%s', not net", p->type);
  pn = (Prior_Net *)p->data;
  PetscCall(PetscStrncpy(pn->file, path, sizeof(pn->file)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetUp_Net(DaisiPrior p)
{
  Prior_Net *pn = (Prior_Net *)p->data;

  PetscFunctionBegin;
  PetscCheck(pn->file[0], p->comm, PETSC_ERR_USER_INPUT, "the net prior needs its weights: -prior_file WEIGHTS.h5");
  PetscCall(DaisiNetLoad(p->comm, pn->file, &p->grid, &pn->net));
  {
    /* a network trained by daisi-train records the data scale it was trained with */
    const char *meta;
    PetscCall(DaisiNetGetMetadata(pn->net, "data_scale", &meta));
    if (meta) {
      char     *end;
      PetscReal s = (PetscReal)strtod(meta, &end);
      PetscCheck(end != meta && s > 0 && PetscIsNormalReal(s), p->comm, PETSC_ERR_FILE_UNEXPECTED, "network file %s: metadata data_scale '%s' is not a positive number", pn->file, meta);
      PetscCheck(!p->scale_set || PetscAbsReal(p->scale - s) <= 1e-12 * s, p->comm, PETSC_ERR_ARG_INCOMP, "-prior_scale %g differs from the data scale %g the network in %s was trained with", (double)p->scale, (double)s, pn->file);
      p->scale = s;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Velocity_Net(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal b[])
{
  Prior_Net *pn = (Prior_Net *)p->data;

  PetscFunctionBegin;
  PetscCall(DaisiNetForward(pn->net, B, t, x, b));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode VJP_Net(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal w[], PetscReal b[], PetscReal gx[])
{
  Prior_Net *pn = (Prior_Net *)p->data;

  PetscFunctionBegin;
  PetscCall(DaisiNetVJP(pn->net, B, t, x, w, b, gx, PETSC_FALSE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode JVP_Net(DaisiPrior p, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal v[], PetscReal b[], PetscReal jv[])
{
  Prior_Net *pn = (Prior_Net *)p->data;

  PetscFunctionBegin;
  PetscCall(DaisiNetJVP(pn->net, B, t, x, v, b, jv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode View_Net(DaisiPrior p, PetscViewer viewer)
{
  Prior_Net *pn = (Prior_Net *)p->data;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "weights: %s\n", pn->file[0] ? pn->file : "(not set)"));
  if (pn->net) PetscCall(DaisiNetView(pn->net, viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Destroy_Net(DaisiPrior p)
{
  Prior_Net *pn = (Prior_Net *)p->data;

  PetscFunctionBegin;
  if (!pn) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(DaisiNetDestroy(&pn->net));
  PetscCall(PetscFree(p->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiPriorCreate_Net(DaisiPrior p)
{
  Prior_Net *pn;

  PetscFunctionBegin;
  PetscCall(PetscNew(&pn));
  p->data               = pn;
  p->ops.setfromoptions = SetFromOptions_Net;
  p->ops.setup          = SetUp_Net;
  p->ops.view           = View_Net;
  p->ops.destroy        = Destroy_Net;
  p->ops.velocity       = Velocity_Net;
  p->ops.vjp            = VJP_Net;
  p->ops.jvp            = JVP_Net;
  PetscFunctionReturn(PETSC_SUCCESS);
}
