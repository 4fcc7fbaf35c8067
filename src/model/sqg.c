/* Surface quasi-geostrophic turbulence: a distributed port of the community reference
 * model (J. Whitaker's sqgturb), see ../shared/reference/SQG.md and docs/sqg.md.
 *
 * State: boundary PV q (m/s) at z = 0 and z = H, kept as spectral coefficients
 * q[member][kx_local][ly][level] (complex), which is also the native (checkpoint) state.
 * The public state is theta = s q in K on the grid, s = f theta0 / g. */
#include "modelimpl.h"
#include "sqgfft.h"
#include <daisi/rng.h>
#include <daisi/sys.h>
#include <float.h>

typedef struct {
  /* parameters (options -sqg_*) */
  PetscInt  N;
  PetscReal dt, diff_efold, diff_order, U, f, nsq, g, theta0, H, L, r, tdiab;
  PetscReal advection_scale, blowup_rms;
  PetscBool symmetric, dealias, f32_wavenumbers;
  PetscInt  chunk;
  char      planner[16];
  /* derived */
  PetscInt     M, nk, cb;     /* padded grid, kx columns, members per transform batch */
  PetscReal    s;             /* theta = s q */
  PetscReal    jscale;        /* Jacobian normalisation, see SqgTendency */
  ptrdiff_t    nkl, k0;       /* this rank's kx columns */
  SqgTransform tstate;        /* R = N, 2 fields: state <-> spectral */
  SqgTransform tinv, tfwd;    /* R = M: 8 derivative fields and 2 Jacobians per member */
  PetscReal   *ik, *il, *ksq, *invt, *invs, *hyper; /* [nkl][N]; invt = (H/mu)/tanh mu, invs = (H/mu)/sinh mu */
  fftw_complex *qeq;          /* relaxation target, [nkl][N][2] */
  fftw_complex *q;            /* state, [nbatch][nkl][N][2] */
  fftw_complex *stage, *kcur, *acc; /* RK4 work, [cb][nkl][N][2] */
  PetscInt      nsteps_total;
} SQG;

/* Time step and hyperdiffusion e-folding time of SQG.md's resolution table. */
static PetscBool SqgResolutionDefaults(PetscInt N, PetscReal *dt, PetscReal *efold)
{
  static const struct {
    PetscInt  N;
    PetscReal dt, efold;
  } table[] = {
    {32,   2400, 3 * 86400.     },
    {64,   1200, 86400.         },
    {96,   900,  86400. / 3.    },
    {128,  600,  86400. / 3.    },
    {192,  300,  86400. / 8.    },
    {256,  90,   86400. / 16.   },
    {512,  90,   1800.          },
    {1024, 40,   900.           }
  };
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    if (table[i].N == N) {
      *dt    = table[i].dt;
      *efold = table[i].efold;
      return PETSC_TRUE;
    }
  }
  return PETSC_FALSE;
}

static PetscErrorCode DaisiModelSetFromOptions_SQG(DaisiModel m, PetscOptionItems *PetscOptionsObject)
{
  SQG      *sq = (SQG *)m->data;
  PetscBool dtset, efset, advset, set;
  PetscReal dt0 = 0, ef0 = 0;
  PetscBool known;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "SQG model options (defaults: SQG.md)");
  PetscCall(PetscOptionsInt("-sqg_n", "Grid points in each direction (even, >= 8)", "", sq->N, &sq->N, NULL));
  PetscCheck(sq->N >= 8 && sq->N % 2 == 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-sqg_n %" PetscInt_FMT ": N must be even and at least 8", sq->N);
  known = SqgResolutionDefaults(sq->N, &dt0, &ef0);
  if (!known) {
    dt0 = sq->dt;
    ef0 = sq->diff_efold;
  }
  PetscCall(PetscOptionsReal("-sqg_dt", "Time step (s); default from the resolution table", "", dt0, &sq->dt, &dtset));
  PetscCall(PetscOptionsReal("-sqg_diff_efold", "Hyperdiffusion e-folding time of the shortest wave (s)", "", ef0, &sq->diff_efold, &efset));
  if (!dtset) sq->dt = dt0;
  if (!efset) sq->diff_efold = ef0;
  PetscCheck(known || (dtset && efset), m->comm, PETSC_ERR_ARG_WRONG, "N=%" PetscInt_FMT " is not in the resolution table (32, 64, 96, 128, 192, 256, 512, 1024): give -sqg_dt and -sqg_diff_efold", sq->N);
  PetscCall(PetscOptionsReal("-sqg_diff_order", "Order of the hyperdiffusion", "", sq->diff_order, &sq->diff_order, NULL));
  PetscCall(PetscOptionsReal("-sqg_U", "Jet speed (m/s)", "", sq->U, &sq->U, NULL));
  PetscCall(PetscOptionsReal("-sqg_f", "Coriolis parameter (1/s)", "", sq->f, &sq->f, NULL));
  PetscCall(PetscOptionsReal("-sqg_nsq", "Brunt-Vaisala frequency squared (1/s^2)", "", sq->nsq, &sq->nsq, NULL));
  PetscCall(PetscOptionsReal("-sqg_g", "Gravity (m/s^2)", "", sq->g, &sq->g, NULL));
  PetscCall(PetscOptionsReal("-sqg_theta0", "Reference potential temperature (K)", "", sq->theta0, &sq->theta0, NULL));
  PetscCall(PetscOptionsReal("-sqg_H", "Lid height (m)", "", sq->H, &sq->H, NULL));
  PetscCall(PetscOptionsReal("-sqg_L", "Domain size (m)", "", sq->L, &sq->L, NULL));
  PetscCall(PetscOptionsReal("-sqg_r", "Ekman damping coefficient (m/s); 0 turns it off", "", sq->r, &sq->r, NULL));
  PetscCall(PetscOptionsReal("-sqg_tdiab", "Thermal relaxation time (s)", "", sq->tdiab, &sq->tdiab, NULL));
  PetscCall(PetscOptionsBool("-sqg_symmetric", "Symmetric jet (else U = 0 at the surface)", "", sq->symmetric, &sq->symmetric, NULL));
  PetscCall(PetscOptionsBool("-sqg_dealias", "Dealias the Jacobian with the 3/2 rule", "", sq->dealias, &sq->dealias, NULL));
  PetscCall(PetscOptionsReal("-sqg_advection_scale", "Factor on the Jacobian relative to the normalised one (reference: 2.25 with dealiasing)", "", sq->dealias ? 2.25 : 1.0, &sq->advection_scale, &advset));
  if (!advset) sq->advection_scale = sq->dealias ? 2.25 : 1.0;
  PetscCall(PetscOptionsBool("-sqg_f32_wavenumbers", "Round the derivative factors i k, i l to single precision as the reference does", "", sq->f32_wavenumbers, &sq->f32_wavenumbers, NULL));
  PetscCall(PetscOptionsReal("-sqg_blowup_rms", "Stop with an error when the rms of theta exceeds this (K)", "", sq->blowup_rms, &sq->blowup_rms, NULL));
  PetscCall(PetscOptionsInt("-sqg_fft_batch", "Members transformed together (0: the whole batch)", "", sq->chunk, &sq->chunk, NULL));
  PetscCall(PetscOptionsString("-sqg_fftw_planner", "FFTW planner: estimate (deterministic: bitwise restarts), measure, patient", "", sq->planner, sq->planner, sizeof(sq->planner), &set));
  PetscOptionsHeadEnd();
  PetscCheck(sq->dt > 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-sqg_dt must be positive, got %g", (double)sq->dt);
  PetscCheck(sq->diff_efold > 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-sqg_diff_efold must be positive, got %g", (double)sq->diff_efold);
  PetscCheck(sq->tdiab > 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-sqg_tdiab must be positive, got %g", (double)sq->tdiab);
  PetscCheck(sq->H > 0 && sq->L > 0 && sq->f != 0 && sq->nsq > 0 && sq->g > 0 && sq->theta0 > 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "SQG parameters need H, L, nsq, g, theta0 > 0 and f != 0");
  PetscCheck(sq->r >= 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-sqg_r must be >= 0, got %g", (double)sq->r);
  PetscCheck(sq->chunk >= 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-sqg_fft_batch must be >= 0");
  PetscCheck(sq->blowup_rms > 0, m->comm, PETSC_ERR_ARG_OUTOFRANGE, "-sqg_blowup_rms must be positive");
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SqgPlannerFlags(DaisiModel m, unsigned *flags)
{
  SQG      *sq = (SQG *)m->data;
  PetscBool e, me, p;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(sq->planner, "estimate", &e));
  PetscCall(PetscStrcmp(sq->planner, "measure", &me));
  PetscCall(PetscStrcmp(sq->planner, "patient", &p));
  PetscCheck(e || me || p, m->comm, PETSC_ERR_ARG_WRONG, "-sqg_fftw_planner %s: expected estimate, measure or patient", sq->planner);
  *flags = e ? FFTW_ESTIMATE : (me ? FFTW_MEASURE : FFTW_PATIENT);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* signed wavenumber index of row ly of an n-point transform */
static inline PetscInt SqgFreq(PetscInt ly, PetscInt n)
{
  return ly < (n + 1) / 2 ? ly : ly - n;
}

static PetscErrorCode DaisiModelSetUp_SQG(DaisiModel m)
{
  SQG            *sq = (SQG *)m->data;
  const PetscInt  N  = sq->N;
  unsigned        flags;
  static PetscBool fftw_mpi_ready = PETSC_FALSE;
  PetscReal       twopi_L, kcut, mu_eps = DBL_EPSILON;
  size_t          nspec;

  PetscFunctionBegin;
  if (!fftw_mpi_ready) {
    fftw_mpi_init();
    fftw_mpi_ready = PETSC_TRUE;
  }
  PetscCall(SqgPlannerFlags(m, &flags));
  sq->M  = sq->dealias ? 3 * N / 2 : N;
  sq->nk = N / 2 + 1;
  sq->cb = sq->chunk > 0 ? PetscMin(sq->chunk, m->nbatch) : m->nbatch;
  sq->s  = sq->f * sq->theta0 / sq->g;
  /* The reference forms the padded fields as irfft2(2.25 * spec * ik) on the M x M grid,
   * i.e. the physical derivatives, and then takes rfft2 of their product without the
   * (N/M)^2 normalisation: its Jacobian is 2.25 times the normalised one. jscale applies
   * advection_scale relative to the normalised Jacobian (1 for the reference defaults). */
  sq->jscale = sq->advection_scale * (PetscReal)N * (PetscReal)N / ((PetscReal)sq->M * (PetscReal)sq->M);

  PetscCall(SqgTransformCreate(m->comm, N, sq->nk, 2, flags, &sq->tstate));
  PetscCall(SqgTransformCreate(m->comm, sq->M, sq->nk, 8 * sq->cb, flags, &sq->tinv));
  PetscCall(SqgTransformCreate(m->comm, sq->M, sq->nk, 2 * sq->cb, flags, &sq->tfwd));
  sq->nkl = sq->tstate.nkl;
  sq->k0  = sq->tstate.k0;
  PetscCheck(sq->tinv.nkl == sq->nkl && sq->tfwd.k0 == sq->k0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "inconsistent spectral distributions");

  /* spectral coefficients, as in the reference (double precision) */
  nspec = (size_t)PetscMax(1, sq->nkl * N);
  PetscCall(PetscMalloc6(nspec, &sq->ik, nspec, &sq->il, nspec, &sq->ksq, nspec, &sq->invt, nspec, &sq->invs, nspec, &sq->hyper));
  twopi_L = 2.0 * PETSC_PI / sq->L;
  kcut    = PETSC_PI * N / sq->L;
  for (ptrdiff_t kl = 0; kl < sq->nkl; kl++) {
    for (PetscInt ly = 0; ly < N; ly++) {
      const size_t    i  = (size_t)(kl * N + ly);
      const PetscReal kx = twopi_L * (PetscReal)(sq->k0 + kl), ky = twopi_L * (PetscReal)SqgFreq(ly, N);
      PetscReal       mu;

      sq->ksq[i] = kx * kx + ky * ky;
      /* the reference stores i k and i l as complex64 */
      sq->ik[i] = sq->f32_wavenumbers ? (PetscReal)(float)kx : kx;
      sq->il[i] = sq->f32_wavenumbers ? (PetscReal)(float)ky : ky;
      mu        = PetscSqrtReal(sq->ksq[i]) * PetscSqrtReal(sq->nsq) * sq->H / sq->f;
      mu        = PetscMax(mu, mu_eps);
      /* inversion coefficients; sinh overflows only for mu > 710, i.e. N > 30000 */
      sq->invt[i] = (sq->H / mu) / tanh(mu);
      sq->invs[i] = (sq->H / mu) / sinh(mu);
      sq->hyper[i]   = PetscExpReal((-sq->dt / sq->diff_efold) * PetscPowReal(PetscSqrtReal(sq->ksq[i]) / kcut, sq->diff_order));
    }
  }

  PetscCall(PetscMalloc1((size_t)PetscMax(1, m->nbatch * sq->nkl * N * 2), &sq->q));
  PetscCall(PetscMalloc3((size_t)PetscMax(1, sq->cb * sq->nkl * N * 2), &sq->stage, (size_t)PetscMax(1, sq->cb * sq->nkl * N * 2), &sq->kcur, (size_t)PetscMax(1, sq->cb * sq->nkl * N * 2), &sq->acc));
  PetscCall(PetscMemzero(sq->q, sizeof(fftw_complex) * (size_t)PetscMax(1, m->nbatch * sq->nkl * N * 2)));

  /* relaxation target: the equilibrium jet, depends on y only, transformed like the reference */
  {
    SqgTransform   *t = &sq->tstate;
    const PetscReal l1 = 2.0 * PETSC_PI / sq->L, muL = l1 * PetscSqrtReal(sq->nsq) * sq->H / sq->f;
    for (ptrdiff_t j = 0; j < t->nyl; j++) {
      const PetscReal y = (PetscReal)(t->y0 + j) * (sq->L / N);
      PetscReal       q0, qH;
      if (sq->symmetric) {
        q0 = qH = -(muL * 0.5 * sq->U / (l1 * sq->H)) * cosh(0.5 * muL) * PetscCosReal(l1 * y) / sinh(0.5 * muL);
      } else {
        q0 = -(muL * sq->U / (l1 * sq->H)) * PetscCosReal(l1 * y) / sinh(muL);
        qH = q0 * cosh(muL);
      }
      for (PetscInt x = 0; x < N; x++) {
        t->real[(j * N + x) * 2 + 0] = q0;
        t->real[(j * N + x) * 2 + 1] = qH;
      }
    }
    PetscCall(SqgTransformForward(t));
    PetscCall(PetscMalloc1((size_t)PetscMax(1, sq->nkl * N * 2), &sq->qeq));
    PetscCall(PetscArraycpy((PetscReal *)sq->qeq, (PetscReal *)t->spec, (size_t)(sq->nkl * N * 2 * 2)));
  }

  m->grid.nlev = 2;
  m->grid.ny   = N;
  m->grid.nx   = N;
  m->grid.y0   = sq->tstate.y0;
  m->grid.nyl  = sq->tstate.nyl;
  m->grid.Lx   = sq->L;
  m->grid.Ly   = sq->L;
  m->grid.dt   = sq->dt;
  m->native.nrows  = sq->nk;
  m->native.rowlen = N * 2 * 2;
  m->native.row0   = sq->k0;
  m->native.nrowl  = sq->nkl;
  {
    const DaisiModelParam p[] = {
      {"N",               (PetscReal)N          },
      {"dt",              sq->dt                },
      {"diff_efold",      sq->diff_efold        },
      {"diff_order",      sq->diff_order        },
      {"U",               sq->U                 },
      {"f",               sq->f                 },
      {"nsq",             sq->nsq               },
      {"g",               sq->g                 },
      {"theta0",          sq->theta0            },
      {"H",               sq->H                 },
      {"L",               sq->L                 },
      {"r",               sq->r                 },
      {"tdiab",           sq->tdiab             },
      {"symmetric",       (PetscReal)sq->symmetric},
      {"dealias",         (PetscReal)sq->dealias},
      {"advection_scale", sq->advection_scale   },
      {"f32_wavenumbers", (PetscReal)sq->f32_wavenumbers},
      {"theta_scale",     sq->s                 }
    };
    PetscCall(DaisiModelSetParams(m, (PetscInt)(sizeof(p) / sizeof(p[0])), p));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* streamfunction at both boundaries from boundary PV (the SQG inversion) */
static inline void SqgInvert(const SQG *sq, size_t i, const double *q0, const double *qH, double *psi0, double *psiH)
{
  const double ct = sq->invt[i], cs = sq->invs[i];
  for (int c = 0; c < 2; c++) {
    psi0[c] = cs * qH[c] - ct * q0[c];
    psiH[c] = ct * qH[c] - cs * q0[c];
  }
}

/* out[b] = dt * dq/dt(in[b]) for the nb <= cb members in[0..nb) (each [nkl][N][2]) */
static PetscErrorCode SqgTendency(DaisiModel m, PetscInt nb, const fftw_complex *in, fftw_complex *out)
{
  SQG            *sq = (SQG *)m->data;
  const PetscInt  N = sq->N, M = sq->M, F8 = 8 * sq->cb, F2 = 2 * sq->cb;
  const PetscReal sc = 1.0 / ((PetscReal)N * (PetscReal)N), rtd = 1.0 / sq->tdiab;
  const PetscReal rlev[2] = {sq->r, sq->symmetric ? -sq->r : 0.0};
  const size_t    mstride = (size_t)(sq->nkl * N * 2);
  fftw_complex   *pad = sq->tinv.spec;

  PetscFunctionBegin;
  /* padded spectra of psi_x, psi_y, q_x, q_y (rows |ly| < N/2 kept at their wavenumber,
   * the rest zero); the kx = N/2 column enters conjugated, as in the reference */
  for (ptrdiff_t kl = 0; kl < sq->nkl; kl++) {
    const PetscBool conjcol = (PetscBool)(sq->dealias && sq->k0 + kl == N / 2);
    for (PetscInt yp = N / 2; yp < M - N / 2; yp++) memset(pad[(kl * M + yp) * F8], 0, sizeof(fftw_complex) * (size_t)F8);
    if (nb < sq->cb) {
      for (PetscInt ly = 0; ly < N; ly++) {
        const PetscInt yp = ly < N / 2 ? ly : ly + (M - N);
        memset(pad[(kl * M + yp) * F8 + 8 * nb], 0, sizeof(fftw_complex) * (size_t)(8 * (sq->cb - nb)));
      }
    }
    for (PetscInt ly = 0; ly < N; ly++) {
      const size_t   i  = (size_t)(kl * N + ly);
      const PetscInt yp = ly < N / 2 ? ly : ly + (M - N);
      const double   k = sq->ik[i] * sc, l = sq->il[i] * sc;
      for (PetscInt b = 0; b < nb; b++) {
        const double *q = in[b * mstride + i * 2];
        double        qv[2][2], psi[2][2];
        SqgInvert(sq, i, q, q + 2, psi[0], psi[1]);
        for (int j = 0; j < 2; j++) {
          qv[j][0] = q[2 * j];
          qv[j][1] = conjcol ? -q[2 * j + 1] : q[2 * j + 1];
          if (conjcol) psi[j][1] = -psi[j][1];
        }
        for (int j = 0; j < 2; j++) {
          fftw_complex *o = &pad[(kl * M + yp) * F8 + (b * 2 + j) * 4];
          /* i k z = (-k Im z, k Re z) */
          o[0][0] = -k * psi[j][1];
          o[0][1] = k * psi[j][0];
          o[1][0] = -l * psi[j][1];
          o[1][1] = l * psi[j][0];
          o[2][0] = -k * qv[j][1];
          o[2][1] = k * qv[j][0];
          o[3][0] = -l * qv[j][1];
          o[3][1] = l * qv[j][0];
        }
      }
    }
  }
  PetscCall(SqgTransformBackward(&sq->tinv));
  /* Jacobian J(psi, q) = psi_x q_y - psi_y q_x on the padded grid */
  {
    const double *d  = sq->tinv.real;
    double       *jr = sq->tfwd.real;
    const size_t  npts = (size_t)(sq->tinv.nyl * M);
    for (size_t p = 0; p < npts; p++) {
      const double *dp = d + p * F8;
      double       *jp = jr + p * F2;
      for (PetscInt f = 0; f < F2; f++) jp[f] = dp[4 * f] * dp[4 * f + 3] - dp[4 * f + 1] * dp[4 * f + 2];
    }
  }
  PetscCall(SqgTransformForward(&sq->tfwd));
  /* truncate to the N grid (the kx = N/2 column is dropped when dealiasing) and assemble */
  for (ptrdiff_t kl = 0; kl < sq->nkl; kl++) {
    const PetscBool dropcol = (PetscBool)(sq->dealias && sq->k0 + kl == N / 2);
    for (PetscInt ly = 0; ly < N; ly++) {
      const size_t   i  = (size_t)(kl * N + ly);
      const PetscInt yp = ly < N / 2 ? ly : ly + (M - N);
      for (PetscInt b = 0; b < nb; b++) {
        const double *q  = in[b * mstride + i * 2];
        const double *qe = sq->qeq[i * 2];
        double       *o  = out[b * mstride + i * 2];
        double        psi[2][2] = {{0, 0}, {0, 0}};
        if (sq->r != 0) SqgInvert(sq, i, q, q + 2, psi[0], psi[1]);
        for (int j = 0; j < 2; j++) {
          const double *jac = sq->tfwd.spec[(kl * M + yp) * F2 + b * 2 + j];
          for (int c = 0; c < 2; c++) {
            double tend = rtd * (qe[2 * j + c] - q[2 * j + c]) - (dropcol ? 0.0 : sq->jscale * jac[c]);
            if (sq->r != 0 && i + sq->k0 * N != 0) tend += rlev[j] * sq->ksq[i] * psi[j][c];
            o[2 * j + c] = sq->dt * tend;
          }
        }
      }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* classical RK4, then the hyperdiffusion factor, on members [b0, b0 + nb) */
static PetscErrorCode SqgStep(DaisiModel m, PetscInt b0, PetscInt nb)
{
  SQG          *sq = (SQG *)m->data;
  const size_t  n  = (size_t)(nb * sq->nkl * sq->N * 2) * 2, per = (size_t)(sq->nkl * sq->N * 2);
  double       *q  = (double *)(sq->q + b0 * per), *st = (double *)sq->stage, *k = (double *)sq->kcur, *acc = (double *)sq->acc;

  PetscFunctionBegin;
  PetscCall(SqgTendency(m, nb, (const fftw_complex *)q, sq->kcur)); /* k1 */
  for (size_t i = 0; i < n; i++) {
    acc[i] = k[i];
    st[i]  = q[i] + 0.5 * k[i];
  }
  PetscCall(SqgTendency(m, nb, sq->stage, sq->kcur)); /* k2 */
  for (size_t i = 0; i < n; i++) {
    acc[i] = acc[i] + 2.0 * k[i];
    st[i]  = q[i] + 0.5 * k[i];
  }
  PetscCall(SqgTendency(m, nb, sq->stage, sq->kcur)); /* k3 */
  for (size_t i = 0; i < n; i++) {
    acc[i] = acc[i] + 2.0 * k[i];
    st[i]  = q[i] + k[i];
  }
  PetscCall(SqgTendency(m, nb, sq->stage, sq->kcur)); /* k4 */
  for (size_t i = 0; i < n; i++) acc[i] = acc[i] + k[i];
  for (PetscInt b = 0; b < nb; b++) {
    for (size_t i = 0; i < per; i++) {
      const size_t c  = (b * per + i) * 2;
      const double hd = sq->hyper[i / 2];
      q[c]     = hd * (q[c] + acc[c] / 6.0);
      q[c + 1] = hd * (q[c + 1] + acc[c + 1] / 6.0);
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* rms of theta over the grid (K), from the spectrum by Parseval */
static PetscErrorCode SqgRms(DaisiModel m, PetscInt b, PetscReal *rms)
{
  SQG           *sq = (SQG *)m->data;
  const PetscInt N  = sq->N;
  PetscReal      loc = 0, tot;

  PetscFunctionBegin;
  for (ptrdiff_t kl = 0; kl < sq->nkl; kl++) {
    const PetscInt  kx = (PetscInt)(sq->k0 + kl);
    const PetscReal w  = (kx == 0 || kx == N / 2) ? 1.0 : 2.0;
    for (PetscInt i = 0; i < N * 2; i++) {
      const double *c = sq->q[(size_t)b * sq->nkl * N * 2 + (size_t)kl * N * 2 + i];
      loc += w * (c[0] * c[0] + c[1] * c[1]);
    }
  }
  PetscCall(MPIU_Allreduce(&loc, &tot, 1, MPIU_REAL, MPIU_SUM, m->comm));
  *rms = sq->s * PetscSqrtReal(tot / (2.0 * (PetscReal)N * N * (PetscReal)N * N));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelAdvance_SQG(DaisiModel m, PetscInt nsteps)
{
  SQG *sq = (SQG *)m->data;

  PetscFunctionBegin;
  for (PetscInt s = 0; s < nsteps; s++) {
    for (PetscInt b0 = 0; b0 < m->nbatch; b0 += sq->cb) PetscCall(SqgStep(m, b0, PetscMin(sq->cb, m->nbatch - b0)));
    m->time += sq->dt;
    sq->nsteps_total++;
  }
  /* blow-up (NaN/Inf or runaway growth) persists, so checking at the end of the call is enough */
  for (PetscInt b = 0; b < m->nbatch; b++) {
    PetscReal rms;
    PetscCall(SqgRms(m, b, &rms));
    PetscCheck(!PetscIsInfOrNanReal(rms) && rms <= sq->blowup_rms, m->comm, PETSC_ERR_NOT_CONVERGED,
               "SQG model blew up in member %" PetscInt_FMT " by model time %g s (%g days): rms theta = %g K (limit -sqg_blowup_rms %g K). Either the time step -sqg_dt %g s is too large for N = %" PetscInt_FMT " or the state it started from was not physical (in a filter: a diverged analysis)",
               b, (double)m->time, (double)(m->time / 86400.), (double)rms, (double)sq->blowup_rms, (double)sq->dt, sq->N);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelSetState_SQG(DaisiModel m, PetscInt b, const PetscReal x[])
{
  SQG          *sq = (SQG *)m->data;
  SqgTransform *t  = &sq->tstate;
  const PetscInt N = sq->N;

  PetscFunctionBegin;
  for (PetscInt lev = 0; lev < 2; lev++)
    for (ptrdiff_t j = 0; j < t->nyl; j++)
      for (PetscInt i = 0; i < N; i++) t->real[(j * N + i) * 2 + lev] = x[(lev * t->nyl + j) * N + i] / sq->s;
  PetscCall(SqgTransformForward(t));
  PetscCall(PetscArraycpy((PetscReal *)(sq->q + (size_t)b * sq->nkl * N * 2), (PetscReal *)t->spec, (size_t)(sq->nkl * N * 2 * 2)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelGetState_SQG(DaisiModel m, PetscInt b, PetscReal x[])
{
  SQG            *sq = (SQG *)m->data;
  SqgTransform   *t  = &sq->tstate;
  const PetscInt  N  = sq->N;
  const PetscReal sc = 1.0 / ((PetscReal)N * (PetscReal)N);

  PetscFunctionBegin;
  PetscCall(PetscArraycpy((PetscReal *)t->spec, (PetscReal *)(sq->q + (size_t)b * sq->nkl * N * 2), (size_t)(sq->nkl * N * 2 * 2)));
  PetscCall(SqgTransformBackward(t));
  for (PetscInt lev = 0; lev < 2; lev++)
    for (ptrdiff_t j = 0; j < t->nyl; j++)
      for (PetscInt i = 0; i < N; i++) x[(lev * t->nyl + j) * N + i] = sq->s * (t->real[(j * N + i) * 2 + lev] * sc);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelGetNative_SQG(DaisiModel m, PetscInt b, PetscReal x[])
{
  SQG *sq = (SQG *)m->data;

  PetscFunctionBegin;
  PetscCall(PetscArraycpy(x, (PetscReal *)(sq->q + (size_t)b * sq->nkl * sq->N * 2), (size_t)(sq->nkl * sq->N * 2 * 2)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelSetNative_SQG(DaisiModel m, PetscInt b, const PetscReal x[])
{
  SQG *sq = (SQG *)m->data;

  PetscFunctionBegin;
  PetscCall(PetscArraycpy((PetscReal *)(sq->q + (size_t)b * sq->nkl * sq->N * 2), x, (size_t)(sq->nkl * sq->N * 2 * 2)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The references' initial condition: q ~ N(0, (100 m/s)^2) iid on both levels, plus a blob
 * 2000 sin(x/2)^40 sin(y)^20 on the lid (x, y in [0, 2 pi)), minus each level's mean. The
 * noise comes from the counter-based generator keyed by the global grid index, so the
 * field does not depend on the rank count. */
static PetscErrorCode DaisiModelInitialCondition_SQG(DaisiModel m, PetscInt b, PetscInt64 seed)
{
  SQG           *sq = (SQG *)m->data;
  const DaisiGrid *g = &m->grid;
  const PetscInt N  = sq->N;
  const DaisiRng rng = DaisiRngMake((uint64_t)seed, DAISI_RNG_INITIAL_CONDITION, 0, (uint64_t)b, 0);
  PetscReal     *x, sum[2] = {0, 0}, mean[2];

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)PetscMax(1, DaisiGridLocalSize(g)), &x));
  for (PetscInt lev = 0; lev < 2; lev++) {
    for (PetscInt j = 0; j < g->nyl; j++) {
      const PetscReal yy = 2.0 * PETSC_PI * (PetscReal)(g->y0 + j) / N;
      for (PetscInt i = 0; i < N; i++) {
        const PetscReal xx  = 2.0 * PETSC_PI * (PetscReal)i / N;
        const uint64_t  gid = (uint64_t)((lev * N + g->y0 + j) * N + i);
        PetscReal       q   = 100.0 * DaisiRngNormal(&rng, gid);
        if (lev == 1) q += 2000.0 * PetscPowReal(PetscSinReal(xx / 2), 40) * PetscPowReal(PetscSinReal(yy), 20);
        x[(lev * g->nyl + j) * N + i] = q;
        sum[lev] += q;
      }
    }
  }
  PetscCall(MPIU_Allreduce(sum, mean, 2, MPIU_REAL, MPIU_SUM, m->comm));
  for (PetscInt lev = 0; lev < 2; lev++)
    for (PetscInt p = 0; p < g->nyl * N; p++) x[lev * g->nyl * N + p] = sq->s * (x[lev * g->nyl * N + p] - mean[lev] / ((PetscReal)N * N));
  PetscCall(DaisiModelSetState_SQG(m, b, x));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelView_SQG(DaisiModel m, PetscViewer v)
{
  SQG *sq = (SQG *)m->data;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(v, "SQG N=%" PetscInt_FMT " L=%g m H=%g m U=%g m/s dt=%g s diff_efold=%g s diff_order=%g tdiab=%g s r=%g\n", sq->N, (double)sq->L, (double)sq->H, (double)sq->U, (double)sq->dt, (double)sq->diff_efold, (double)sq->diff_order, (double)sq->tdiab, (double)sq->r));
  PetscCall(PetscViewerASCIIPrintf(v, "f=%g nsq=%g g=%g theta0=%g (theta = %.10g q) symmetric=%d dealias=%d advection_scale=%g f32_wavenumbers=%d planner=%s fft batch=%" PetscInt_FMT "\n", (double)sq->f, (double)sq->nsq, (double)sq->g, (double)sq->theta0, (double)sq->s, (int)sq->symmetric, (int)sq->dealias, (double)sq->advection_scale, (int)sq->f32_wavenumbers, sq->planner, sq->cb));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode DaisiModelDestroy_SQG(DaisiModel m)
{
  SQG *sq = (SQG *)m->data;

  PetscFunctionBegin;
  if (m->setupcalled) {
    PetscCall(SqgTransformDestroy(&sq->tstate));
    PetscCall(SqgTransformDestroy(&sq->tinv));
    PetscCall(SqgTransformDestroy(&sq->tfwd));
    PetscCall(PetscFree6(sq->ik, sq->il, sq->ksq, sq->invt, sq->invs, sq->hyper));
    PetscCall(PetscFree(sq->q));
    PetscCall(PetscFree(sq->qeq));
    PetscCall(PetscFree3(sq->stage, sq->kcur, sq->acc));
  }
  PetscCall(PetscFree(m->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiModelCreate_SQG(DaisiModel m)
{
  SQG *sq;

  PetscFunctionBegin;
  PetscCall(PetscNew(&sq));
  sq->N               = 64;
  sq->dt              = 1200;
  sq->diff_efold      = 86400;
  sq->diff_order      = 8;
  sq->U               = 30;
  sq->f               = 1e-4;
  sq->nsq             = 1e-4;
  sq->g               = 9.8;
  sq->theta0          = 300;
  sq->H               = 10e3;
  sq->L               = 20e6;
  sq->r               = 0;
  sq->tdiab           = 10 * 86400.;
  sq->symmetric       = PETSC_TRUE;
  sq->dealias         = PETSC_TRUE;
  sq->advection_scale = 2.25;
  sq->f32_wavenumbers = PETSC_TRUE;
  sq->blowup_rms      = 1000;
  sq->chunk           = 0;
  PetscCall(PetscStrncpy(sq->planner, "estimate", sizeof(sq->planner)));
  m->data                  = sq;
  m->ops.setfromoptions    = DaisiModelSetFromOptions_SQG;
  m->ops.setup             = DaisiModelSetUp_SQG;
  m->ops.view              = DaisiModelView_SQG;
  m->ops.destroy           = DaisiModelDestroy_SQG;
  m->ops.setstate          = DaisiModelSetState_SQG;
  m->ops.getstate          = DaisiModelGetState_SQG;
  m->ops.advance           = DaisiModelAdvance_SQG;
  m->ops.initialcondition  = DaisiModelInitialCondition_SQG;
  m->ops.getnative         = DaisiModelGetNative_SQG;
  m->ops.setnative         = DaisiModelSetNative_SQG;
  PetscFunctionReturn(PETSC_SUCCESS);
}
