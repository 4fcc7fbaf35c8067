/* Linear theory for the SQG model. A single Fourier wavevector (k, l) has an identically
 * zero Jacobian (psi and q are both functions of k x + l y alone), so with the jet switched
 * off (U = 0: relaxation towards 0) the boundary PV amplitudes (a0, aH) of cos and sin obey
 * the 2x2 linear system from the inversion, Ekman damping and thermal relaxation,
 *   d/dt a = A a,   A = -I/tdiab + r kappa^2 (H/mu) [[-coth mu, csch mu], [csch mu, -coth mu]],
 * times the hyperdiffusion factor exp(-(t/diff_efold)(kappa/kappa_c)^8). The test compares
 * the model with the closed-form solution exp(tA) and with the same mode on another grid
 * position (no drift: without a uniform background flow the phase speed is zero). */
#include <daisi/model.h>
#include <daisi/sys.h>

static const char help[] = "SQG single-mode linear test.\n";

int main(int argc, char **argv)
{
  DaisiModel      m;
  DaisiGrid       g;
  const PetscInt  N = 32, kx = 10, ly = -7, nsteps = 360;
  const PetscReal dt = 2400, efold = 3 * 86400., tdiab = 10 * 86400., r = 50, U = 0;
  const PetscReal L = 20e6, H = 10e3, f = 1e-4, nsq = 1e-4, s = 1e-4 * 300 / 9.8;
  const PetscReal a0[2][2] = {{10, 5}, {-4, 8}}; /* [level][cos, sin] in m/s */
  PetscReal      *x, err = 0, nrm = 0, errg, nrmg, t;
  char            buf[64];

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_n", "32"));
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "%g", (double)U));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_U", buf));
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "%g", (double)r));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_r", buf));
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "%g", (double)dt));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_dt", buf));
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "%.17g", (double)efold));
  PetscCall(PetscOptionsSetValue(NULL, "-sqg_diff_efold", buf));
  PetscCall(DaisiModelCreate(PETSC_COMM_WORLD, &m));
  PetscCall(DaisiModelSetType(m, DAISI_MODEL_SQG));
  PetscCall(DaisiModelSetFromOptions(m));
  PetscCall(DaisiModelSetUp(m));
  PetscCall(DaisiModelGetGrid(m, &g));
  PetscCall(PetscMalloc1(DaisiGridLocalSize(&g) + 1, &x));
  for (PetscInt lev = 0; lev < 2; lev++)
    for (PetscInt j = 0; j < g.nyl; j++)
      for (PetscInt i = 0; i < N; i++) {
        const PetscReal th = 2 * PETSC_PI * (kx * i + ly * (g.y0 + j)) / (PetscReal)N;
        x[(lev * g.nyl + j) * N + i] = s * (a0[lev][0] * PetscCosReal(th) + a0[lev][1] * PetscSinReal(th));
      }
  PetscCall(DaisiModelSetState(m, 0, x));
  PetscCall(DaisiModelAdvance(m, nsteps));
  PetscCall(DaisiModelGetState(m, 0, x));
  t = nsteps * dt;
  {
    /* closed form: exp(tA) for the symmetric 2x2 A, times the hyperdiffusion decay */
    const PetscReal kap = 2 * PETSC_PI / L * PetscSqrtReal((PetscReal)(kx * kx + ly * ly));
    const PetscReal mu = kap * PetscSqrtReal(nsq) * H / f, hm = H / mu;
    const PetscReal d = -1.0 / tdiab - r * kap * kap * hm / tanh(mu), o = r * kap * kap * hm / sinh(mu);
    const PetscReal l1 = d + o, l2 = d - o; /* eigenvalues, eigenvectors (1, 1) and (1, -1) */
    const PetscReal hyp = PetscExpReal(-(t / efold) * PetscPowReal(kap / (PETSC_PI * N / L), 8));
    /* RK4 advances y' = lambda y by the stability polynomial P4(dt lambda) per step */
    const PetscReal z1 = dt * l1, z2 = dt * l2;
    const PetscReal g1 = 1 + z1 + z1 * z1 / 2 + z1 * z1 * z1 / 6 + z1 * z1 * z1 * z1 / 24;
    const PetscReal g2 = 1 + z2 + z2 * z2 / 2 + z2 * z2 * z2 / 6 + z2 * z2 * z2 * z2 / 24;
    PetscReal       at[2][2], ac[2][2], cerr = 0, cnrm = 0;
    for (int c = 0; c < 2; c++) {
      const PetscReal p = 0.5 * (a0[0][c] + a0[1][c]), q = 0.5 * (a0[0][c] - a0[1][c]);
      at[0][c] = hyp * (p * PetscPowReal(g1, nsteps) + q * PetscPowReal(g2, nsteps));
      at[1][c] = hyp * (p * PetscPowReal(g1, nsteps) - q * PetscPowReal(g2, nsteps));
      ac[0][c] = hyp * (p * PetscExpReal(l1 * t) + q * PetscExpReal(l2 * t));
      ac[1][c] = hyp * (p * PetscExpReal(l1 * t) - q * PetscExpReal(l2 * t));
      for (int lev = 0; lev < 2; lev++) {
        cerr += PetscSqr(at[lev][c] - ac[lev][c]);
        cnrm += PetscSqr(ac[lev][c]);
      }
    }
    /* the time discretisation itself is close to the continuous solution (4th order) */
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RK4 vs exp(tA): relative difference %.2e\n", (double)PetscSqrtReal(cerr / cnrm)));
    PetscCheck(PetscSqrtReal(cerr / cnrm) < 1e-6, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "RK4 far from the continuous solution");
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "after %g days: decay rates %.4e %.4e 1/s, hyperdiffusion factor %.4f, amplitudes lid (%.6f, %.6f) m/s\n", (double)(t / 86400), (double)l1, (double)l2, (double)hyp, (double)at[1][0], (double)at[1][1]));
    PetscCheck(hyp < 0.9 && PetscAbsReal(l2 * t) > 0.5, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "test set-up too weak to see the terms it checks");
    for (PetscInt lev = 0; lev < 2; lev++)
      for (PetscInt j = 0; j < g.nyl; j++)
        for (PetscInt i = 0; i < N; i++) {
          const PetscReal th = 2 * PETSC_PI * (kx * i + ly * (g.y0 + j)) / (PetscReal)N;
          const PetscReal ex = s * (at[lev][0] * PetscCosReal(th) + at[lev][1] * PetscSinReal(th));
          err += PetscSqr(x[(lev * g.nyl + j) * N + i] - ex);
          nrm += PetscSqr(ex);
        }
  }
  PetscCall(MPIU_Allreduce(&err, &errg, 1, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(&nrm, &nrmg, 1, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "relative L2 difference from linear theory: %.3e\n", (double)PetscSqrtReal(errg / nrmg)));
  PetscCheck(PetscSqrtReal(errg / nrmg) < 1e-10, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "single Fourier mode does not follow linear theory");
  PetscCall(PetscFree(x));
  PetscCall(DaisiModelDestroy(&m));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS sqg linear\n"));
  PetscCall(DaisiFinalize());
  return 0;
}
