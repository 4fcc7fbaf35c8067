/* Lorenz '63 behind the model interface: the small system for analytic and particle-filter
 * checks. The state (x, y, z) is one row of three values held by the first rank of the
 * model's communicator (the others hold no rows), so the same ensemble, observation and
 * filter code drives it as drives SQG. RK4 with dt = 0.01 by default. */
#include "modelimpl.h"
#include <daisi/rng.h>

typedef struct {
  PetscReal sigma, rho, beta, dt;
  PetscReal *x; /* [nbatch][3] on the owning rank */
} L63;

static PetscErrorCode DaisiModelSetFromOptions_L63(DaisiModel m, PetscOptionItems *PetscOptionsObject)
{
  L63 *l = (L63 *)m->data;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "Lorenz '63 options");
  PetscCall(PetscOptionsReal("-l63_sigma", "sigma", "", l->sigma, &l->sigma, NULL));
  PetscCall(PetscOptionsReal("-l63_rho", "rho", "", l->rho, &l->rho, NULL));
  PetscCall(PetscOptionsReal("-l63_beta", "beta", "", l->beta, &l->beta, NULL));
  PetscCall(PetscOptionsReal("-l63_dt", "Time step", "", l->dt, &l->dt, NULL));
  PetscOptionsHeadEnd();
  PetscCheck(l->dt > 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-l63_dt must be positive, got %g", (double)l->dt);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelSetUp_L63(DaisiModel m)
{
  L63        *l = (L63 *)m->data;
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(m->comm, &rank));
  m->grid.nlev = 1;
  m->grid.ny   = 1;
  m->grid.nx   = 3;
  m->grid.y0   = 0;
  m->grid.nyl  = rank == 0 ? 1 : 0;
  m->grid.Lx = m->grid.Ly = 0;
  m->grid.dt       = l->dt;
  m->native.nrows  = 1;
  m->native.rowlen = 3;
  m->native.row0   = 0;
  m->native.nrowl  = m->grid.nyl;
  PetscCall(PetscCalloc1(3 * m->nbatch, &l->x));
  {
    const DaisiModelParam p[] = {
      {"sigma", l->sigma},
      {"rho",   l->rho  },
      {"beta",  l->beta },
      {"dt",    l->dt   }
    };
    PetscCall(DaisiModelSetParams(m, 4, p));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline void L63Rhs(const L63 *l, const PetscReal u[3], PetscReal f[3])
{
  f[0] = l->sigma * (u[1] - u[0]);
  f[1] = u[0] * (l->rho - u[2]) - u[1];
  f[2] = u[0] * u[1] - l->beta * u[2];
}

static PetscErrorCode DaisiModelAdvance_L63(DaisiModel m, PetscInt nsteps)
{
  L63      *l = (L63 *)m->data;
  PetscBool bad = PETSC_FALSE, anybad;

  PetscFunctionBegin;
  if (m->grid.nyl) {
    for (PetscInt b = 0; b < m->nbatch; b++) {
      PetscReal *u = l->x + 3 * b;
      for (PetscInt s = 0; s < nsteps; s++) {
        PetscReal k1[3], k2[3], k3[3], k4[3], w[3];
        L63Rhs(l, u, k1);
        for (int i = 0; i < 3; i++) w[i] = u[i] + 0.5 * l->dt * k1[i];
        L63Rhs(l, w, k2);
        for (int i = 0; i < 3; i++) w[i] = u[i] + 0.5 * l->dt * k2[i];
        L63Rhs(l, w, k3);
        for (int i = 0; i < 3; i++) w[i] = u[i] + l->dt * k3[i];
        L63Rhs(l, w, k4);
        for (int i = 0; i < 3; i++) u[i] += l->dt * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) / 6.0;
      }
      for (int i = 0; i < 3; i++)
        if (PetscIsInfOrNanReal(u[i]) || PetscAbsReal(u[i]) > 1e6) bad = PETSC_TRUE;
    }
  }
  m->time += nsteps * l->dt;
  PetscCall(MPIU_Allreduce(&bad, &anybad, 1, MPIU_BOOL, MPI_LOR, m->comm));
  PetscCheck(!anybad, m->comm, PETSC_ERR_NOT_CONVERGED, "Lorenz '63 blew up by time %g: -l63_dt %g is too large", (double)m->time, (double)l->dt);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelSetState_L63(DaisiModel m, PetscInt b, const PetscReal x[])
{
  L63 *l = (L63 *)m->data;

  PetscFunctionBegin;
  if (m->grid.nyl) PetscCall(PetscArraycpy(l->x + 3 * b, x, 3));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelGetState_L63(DaisiModel m, PetscInt b, PetscReal x[])
{
  L63 *l = (L63 *)m->data;

  PetscFunctionBegin;
  if (m->grid.nyl) PetscCall(PetscArraycpy(x, l->x + 3 * b, 3));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* a point near the attractor, perturbed by N(0, 1) per component */
static PetscErrorCode DaisiModelInitialCondition_L63(DaisiModel m, PetscInt b, PetscInt64 seed)
{
  L63           *l   = (L63 *)m->data;
  const DaisiRng rng = DaisiRngMake((uint64_t)seed, DAISI_RNG_INITIAL_CONDITION, 0, (uint64_t)b, 0);
  const PetscReal base[3] = {1.508870, -1.531271, 25.46091};

  PetscFunctionBegin;
  if (m->grid.nyl)
    for (int i = 0; i < 3; i++) l->x[3 * b + i] = base[i] + DaisiRngNormal(&rng, (uint64_t)i);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelView_L63(DaisiModel m, PetscViewer v)
{
  L63 *l = (L63 *)m->data;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(v, "Lorenz '63 sigma=%g rho=%g beta=%g dt=%g\n", (double)l->sigma, (double)l->rho, (double)l->beta, (double)l->dt));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelDestroy_L63(DaisiModel m)
{
  L63 *l = (L63 *)m->data;

  PetscFunctionBegin;
  PetscCall(PetscFree(l->x));
  PetscCall(PetscFree(m->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelCreate_L63(DaisiModel m)
{
  L63 *l;

  PetscFunctionBegin;
  PetscCall(PetscNew(&l));
  l->sigma = 10;
  l->rho   = 28;
  l->beta  = 8.0 / 3.0;
  l->dt    = 0.01;
  m->data                 = l;
  m->ops.setfromoptions   = DaisiModelSetFromOptions_L63;
  m->ops.setup            = DaisiModelSetUp_L63;
  m->ops.view             = DaisiModelView_L63;
  m->ops.destroy          = DaisiModelDestroy_L63;
  m->ops.setstate         = DaisiModelSetState_L63;
  m->ops.getstate         = DaisiModelGetState_L63;
  m->ops.advance          = DaisiModelAdvance_L63;
  m->ops.initialcondition = DaisiModelInitialCondition_L63;
  m->ops.getnative        = DaisiModelGetState_L63;
  m->ops.setnative        = DaisiModelSetState_L63;
  PetscFunctionReturn(PETSC_SUCCESS);
}
