/* Every layer of the engine on its own, on a distributed 4-channel 16 x 16 field: the
 * adjoint identity, the JVP against central differences and the parameter gradient
 * against central differences (NNTestDerivatives). Layers that change the width or the
 * level are followed by the layer that restores it (1x1 convolution, up-sampling), each of
 * which is also tested alone first. */
#include "nntest.h"
#include "nnimpl.h"

static const char help[] = "DaisiNet single-layer tests\n";

static PetscErrorCode BuildLayer(DaisiNet net, void *ctx)
{
  const char *name = (const char *)ctx;
  PetscInt    C    = net->in_channels, x, h, e;

  PetscFunctionBegin;
  PetscCall(NNAddOp(net, NN_OP_INPUT_FIELD, -1, -1, C, &x));
  net->input = x;
  if (!strcmp(name, "conv3x3")) PetscCall(NNAddOp(net, NN_OP_CONV3, x, -1, C, &h));
  else if (!strcmp(name, "conv1x1")) PetscCall(NNAddOp(net, NN_OP_CONV1, x, -1, C, &h));
  else if (!strcmp(name, "groupnorm")) PetscCall(NNAddOp(net, NN_OP_GROUPNORM, x, -1, 0, &h));
  else if (!strcmp(name, "silu")) PetscCall(NNAddOp(net, NN_OP_SILU, x, -1, 0, &h));
  else if (!strcmp(name, "add")) {
    PetscCall(NNAddOp(net, NN_OP_SILU, x, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_ADD, x, h, 0, &h));
  } else if (!strcmp(name, "concat")) {
    PetscCall(NNAddOp(net, NN_OP_SILU, x, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_CONCAT, x, h, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_CONV1, h, -1, C, &h));
  } else if (!strcmp(name, "film+linear+fourier")) {
    PetscCall(NNAddOp(net, NN_OP_FOURIER, -1, -1, 4, &e));
    PetscCall(NNAddOp(net, NN_OP_LINEAR, e, -1, 6, &e));
    PetscCall(NNAddOp(net, NN_OP_FILM, x, e, 0, &h));
  } else if (!strcmp(name, "upsample")) {
    /* input at level 0, so a fixed pooling feeds the up-sampling under test: pooling is
     * linear and its own adjoint is checked by the next case */
    PetscCall(NNAddOp(net, NN_OP_POOL, x, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_UP, h, -1, 0, &h));
  } else if (!strcmp(name, "upsample transposed")) {
    PetscCall(NNAddOp(net, NN_OP_POOL, x, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_UPT, h, -1, C, &h));
  } else if (!strcmp(name, "avgpool x2")) {
    PetscCall(NNAddOp(net, NN_OP_POOL, x, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_CONV3, h, -1, C, &h));
    PetscCall(NNAddOp(net, NN_OP_POOL, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_SILU, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_UP, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_UP, h, -1, 0, &h));
  } else SETERRQ(PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "unknown layer %s", name);
  net->output = h;
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  const char *layers[] = {"conv1x1", "conv3x3", "groupnorm", "silu", "add", "concat", "film+linear+fourier", "upsample", "upsample transposed", "avgpool x2"};
  PetscInt    fails    = 0, ny = 16, nx = 16;
  DaisiGrid   grid;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_ny", &ny, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_nx", &nx, NULL));
  PetscCall(NNTestGrid(PETSC_COMM_WORLD, 4, ny, nx, &grid));
  for (size_t k = 0; k < sizeof(layers) / sizeof(layers[0]); k++) {
    DaisiNet net;
    PetscCall(DaisiNetCreate(PETSC_COMM_WORLD, &net));
    PetscCall(DaisiNetSetFromOptions(net));
    PetscCall(NNSetUpGraph(net, &grid, BuildLayer, (void *)layers[k]));
    PetscCall(PerturbWeights(net));
    /* tolerances as in test_nn_network.c: one layer has even less float32 rounding */
    PetscCall(NNTestDerivatives(net, &grid, &grid, 2, 1e-2, 1e-5, 2e-3, layers[k], &fails));
    PetscCall(DaisiNetDestroy(&net));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", fails ? "FAILED" : "passed"));
  PetscCall(DaisiFinalize());
  return fails ? 1 : 0;
}
