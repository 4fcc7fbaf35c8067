/* The `net` prior type wraps a DaisiNet: a network saved to a weight file and loaded through
 * -prior_type net -prior_file gives the network's velocity bit for bit, its VJP and JVP
 * satisfy the adjoint identity to float32 accuracy, and the samplers run on it. */
#include <daisi/nn.h>
#include "priortest.h"

static const char help[] = "The net prior type (a DaisiNet behind the prior interface).\n";

int main(int argc, char **argv)
{
  MPI_Comm        comm;
  PetscMPIInt     size;
  DaisiGrid       g;
  DaisiNet        net;
  DaisiPrior      p;
  DaisiPriorType  type;
  char            path[64];
  const PetscInt  B = 3;
  const PetscReal t[3] = {0.0, 0.4, 1.0};
  PetscReal      *x, *v, *w, *b1, *b2, *jv, *jtw, d1, d2;
  PetscInt        n, bad = 0;
  DaisiInterpolantParams ip;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  comm = PETSC_COMM_WORLD;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PriorTestGrid(comm, 2, 16, 16, &g));
  n = DaisiGridLocalSize(&g);
  PetscCall(PetscMalloc6(B * n + 1, &x, B * n + 1, &v, B * n + 1, &w, B * n + 1, &b1, B * n + 1, &b2, B * n + 1, &jv));
  PetscCall(PetscMalloc1(B * n + 1, &jtw));

  /* a randomly initialised network, saved */
  PetscCall(PetscSNPrintf(path, sizeof(path), "prior_net_np%d.h5", size));
  PetscCall(DaisiNetCreate(comm, &net));
  PetscCall(DaisiNetSetFromOptions(net));
  PetscCall(DaisiNetSetUp(net, &g));
  PetscCall(DaisiNetSave(net, path));

  /* the prior reads it */
  PetscCall(PetscOptionsSetValue(NULL, "-prior_type", "net"));
  PetscCall(PetscOptionsSetValue(NULL, "-prior_file", path));
  PetscCall(DaisiPriorCreate(comm, &p));
  PetscCall(DaisiPriorSetFromOptions(p));
  PetscCall(DaisiPriorSetUp(p, &g));
  PetscCall(DaisiPriorGetType(p, &type));
  EXPECT(!strcmp(type, DAISI_PRIOR_NET), "prior type %s, expected net", type);

  TestField(&g, B, 1, x);
  TestField(&g, B, 2, v);
  TestField(&g, B, 3, w);
  PetscCall(DaisiNetForward(net, B, t, x, b1));
  PetscCall(DaisiPriorVelocity(p, B, t, x, b2));
  for (PetscInt i = 0; i < B * n; i++) bad += b1[i] != b2[i];
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &bad, 1, MPIU_INT, MPI_SUM, comm));
  EXPECT(bad == 0, "net prior velocity differs from DaisiNetForward at %" PetscInt_FMT " values", bad);

  PetscCall(DaisiPriorVelocityJVP(p, B, t, x, v, NULL, jv));
  PetscCall(DaisiPriorVelocityVJP(p, B, t, x, w, NULL, jtw));
  PetscCall(Dot(comm, B * n, jv, w, &d1));
  PetscCall(Dot(comm, B * n, v, jtw, &d2));
  EXPECT(PetscAbsReal(d1 - d2) <= 1e-4 * (PetscAbsReal(d1) + PetscAbsReal(d2)), "net prior adjoint identity: <Jv, w> = %g, <v, J^T w> = %g", (double)d1, (double)d2);
  EXPECT(PetscAbsReal(d1) > 0, "net prior JVP is zero");

  /* the samplers run on it (and the result is finite; the sampler checks that) */
  PetscCall(DaisiInterpolantParamsDefault(&ip));
  ip.steps  = 4;
  ip.method = DAISI_INTERPOLANT_HEUN;
  PetscCall(DaisiInterpolantSample(p, &ip, B, NULL, x));
  PetscCall(DaisiInterpolantInvert(p, &ip, B, NULL, 0.3, x));

  PetscCall(DaisiPriorDestroy(&p));
  PetscCall(DaisiNetDestroy(&net));
  PetscCall(PetscFree6(x, v, w, b1, b2, jv));
  PetscCall(PetscFree(jtw));
  PetscCall(FinishTest("prior_net"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
