/* DaisiNet: options, architecture (U-Net or MLP built as a graph), public passes. */
#include "nnimpl.h"
#include <ctype.h>

static PetscLogEvent NN_EV_FORWARD, NN_EV_VJP, NN_EV_JVP;

PetscErrorCode DaisiNetCreate(MPI_Comm comm, DaisiNet *net)
{
  DaisiNet n;

  PetscFunctionBegin;
  PetscCall(NNRegisterEvents());
  if (!NN_EV_FORWARD) {
    PetscCall(PetscLogEventRegister("DaisiNetForward", DAISI_CLASSID, &NN_EV_FORWARD));
    PetscCall(PetscLogEventRegister("DaisiNetVJP", DAISI_CLASSID, &NN_EV_VJP));
    PetscCall(PetscLogEventRegister("DaisiNetJVP", DAISI_CLASSID, &NN_EV_JVP));
  }
  PetscCall(PetscNew(&n));
  PetscCallMPI(MPI_Comm_dup(comm, &n->comm));
  PetscCallMPI(MPI_Comm_rank(n->comm, &n->rank));
  PetscCallMPI(MPI_Comm_size(n->comm, &n->size));
  PetscCall(PetscStrncpy(n->type, "unet", sizeof(n->type)));
  n->in_channels      = 0; /* 0: the grid's number of levels */
  n->base_width       = 32;
  n->nmult            = 3;
  n->mult[0]          = 1;
  n->mult[1]          = 2;
  n->mult[2]          = 2;
  n->blocks_per_level = 1;
  n->groups           = 8;
  n->time_features    = 16;
  n->time_dim         = 128;
  n->time_max_freq    = 16.0;
  n->mlp_width        = 64;
  n->mlp_depth        = 3;
  n->latent_channels  = 4;
  n->gn_eps           = 1e-5;
  n->seed             = 1;
  n->backend          = NN_CONV_DNNL;
  n->threads          = 1;
  n->chunk            = 4;
  *net                = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetSetOptionsPrefix(DaisiNet net, const char prefix[])
{
  PetscFunctionBegin;
  PetscCall(PetscFree(net->prefix));
  if (prefix) PetscCall(PetscStrallocpy(prefix, &net->prefix));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetSetType(DaisiNet net, const char type[])
{
  PetscFunctionBegin;
  PetscCheck(!net->setup, net->comm, PETSC_ERR_ORDER, "DaisiNetSetType() after DaisiNetSetUp()");
  PetscCheck(!strcmp(type, "unet") || !strcmp(type, "mlp") || !strcmp(type, "encoder") || !strcmp(type, "decoder"), net->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown network type '%s' (unet, mlp, encoder, decoder)", type);
  PetscCall(PetscStrncpy(net->type, type, sizeof(net->type)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetSetConditionChannels(DaisiNet net, PetscInt K)
{
  PetscFunctionBegin;
  PetscCheck(!net->setup, net->comm, PETSC_ERR_ORDER, "DaisiNetSetConditionChannels() after DaisiNetSetUp()");
  PetscCheck(K >= 0 && (K == 0 || !strcmp(net->type, "unet")), net->comm, PETSC_ERR_ARG_OUTOFRANGE, "condition channels %" PetscInt_FMT ": only a unet takes them (this is a %s), and not a negative number", K, net->type);
  net->cond_channels = K;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetConditionChannels(DaisiNet net, PetscInt *K)
{
  PetscFunctionBegin;
  *K = net->cond_channels;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetType(DaisiNet net, const char **type)
{
  PetscFunctionBegin;
  *type = net->type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetSetFromOptions(DaisiNet net)
{
  const char *types[] = {"unet", "mlp", "encoder", "decoder"};
  PetscInt    itype   = 0, nmult = NN_MAX_LEVELS;
  PetscBool   set;

  PetscFunctionBegin;
  PetscCheck(!net->setup, net->comm, PETSC_ERR_ORDER, "DaisiNetSetFromOptions() after DaisiNetSetUp()");
  for (PetscInt i = 0; i < 4; i++)
    if (!strcmp(net->type, types[i])) itype = i;
  PetscOptionsBegin(net->comm, net->prefix, "Neural network (DaisiNet) options", "DaisiNet");
  PetscCall(PetscOptionsEList("-nn_type", "network family: unet, mlp, or the encoder / decoder of a variational autoencoder", "DaisiNetSetFromOptions", types, 4, types[itype], &itype, NULL));
  PetscCall(PetscOptionsInt("-nn_cond_channels", "unet: extra input channels that condition the output (x and the condition are passed together, condition last)", "", net->cond_channels, &net->cond_channels, NULL));
  PetscCall(PetscOptionsInt("-nn_latent_channels", "encoder / decoder: channels of the latent field at the coarsest level", "", net->latent_channels, &net->latent_channels, NULL));
  PetscCall(PetscOptionsInt("-nn_in_channels", "state channels (levels) the unet sees; 0: from the grid", "", net->in_channels, &net->in_channels, NULL));
  PetscCall(PetscOptionsInt("-nn_base_width", "channels at the finest unet level before multipliers", "", net->base_width, &net->base_width, NULL));
  PetscCall(PetscOptionsIntArray("-nn_channel_mult", "channel multiplier of each unet level (finest first)", "", net->mult, &nmult, &set));
  if (set) net->nmult = nmult;
  PetscCall(PetscOptionsInt("-nn_blocks_per_level", "residual blocks per unet level (encoder and decoder)", "", net->blocks_per_level, &net->blocks_per_level, NULL));
  {
    const char *ups[] = {"nearest", "transposed"};
    PetscInt    iu    = net->up_transposed ? 1 : 0;
    PetscCall(PetscOptionsEList("-nn_upsample", "up-sampling in the decoder: nearest or transposed 2x2 convolution", "", ups, 2, ups[iu], &iu, NULL));
    net->up_transposed = iu ? PETSC_TRUE : PETSC_FALSE;
  }
  PetscCall(PetscOptionsInt("-nn_groups", "group-norm groups", "", net->groups, &net->groups, NULL));
  PetscCall(PetscOptionsInt("-nn_time_features", "Fourier features of the time (even)", "", net->time_features, &net->time_features, NULL));
  PetscCall(PetscOptionsReal("-nn_time_max_frequency", "highest Fourier frequency of the time features", "", net->time_max_freq, &net->time_max_freq, NULL));
  PetscCall(PetscOptionsInt("-nn_time_dim", "width of the time embedding feeding scale/shift", "", net->time_dim, &net->time_dim, NULL));
  PetscCall(PetscOptionsInt("-nn_mlp_width", "hidden width of the mlp", "", net->mlp_width, &net->mlp_width, NULL));
  PetscCall(PetscOptionsInt("-nn_mlp_depth", "hidden layers of the mlp", "", net->mlp_depth, &net->mlp_depth, NULL));
  PetscCall(PetscOptionsReal("-nn_gn_eps", "group-norm epsilon", "", net->gn_eps, &net->gn_eps, NULL));
  {
    PetscInt seed = (PetscInt)net->seed;
    PetscCall(PetscOptionsInt("-nn_seed", "seed of the weight initialisation", "", seed, &seed, NULL));
    net->seed = seed;
  }
  PetscOptionsEnd();
  PetscCall(NNSetRuntimeFromOptions(net));
  PetscCall(PetscStrncpy(net->type, types[itype], sizeof(net->type)));
  PetscCheck(net->nmult >= 1 && net->nmult <= NN_MAX_LEVELS, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_channel_mult needs 1 to %d values", NN_MAX_LEVELS);
  for (PetscInt l = 0; l < net->nmult; l++) PetscCheck(net->mult[l] > 0, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_channel_mult value %" PetscInt_FMT " must be positive", net->mult[l]);
  PetscCheck(net->base_width > 0, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_base_width %" PetscInt_FMT " must be positive", net->base_width);
  PetscCheck(net->blocks_per_level >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_blocks_per_level %" PetscInt_FMT " must be at least 1", net->blocks_per_level);
  PetscCheck(net->groups >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_groups %" PetscInt_FMT " must be at least 1", net->groups);
  PetscCheck(net->time_features >= 2 && net->time_features % 2 == 0, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_time_features %" PetscInt_FMT " must be even and at least 2", net->time_features);
  PetscCheck(net->time_dim >= 1 && net->mlp_width >= 1 && net->mlp_depth >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_time_dim, -nn_mlp_width and -nn_mlp_depth must be positive");
  PetscCheck(net->cond_channels >= 0 && (net->cond_channels == 0 || !strcmp(net->type, "unet")), net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_cond_channels %" PetscInt_FMT ": only a unet takes condition channels, and not a negative number", net->cond_channels);
  PetscCheck(net->latent_channels >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_latent_channels %" PetscInt_FMT " must be at least 1", net->latent_channels);
  PetscCheck(net->gn_eps > 0, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_gn_eps %g must be positive", (double)net->gn_eps);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Options that do not change the network (kernels, threads): also read for a network
 * loaded from a file, whose architecture comes from the file. */
PetscErrorCode NNSetRuntimeFromOptions(DaisiNet net)
{
  const char *backends[] = {"dnnl", "blas"};
  PetscInt    ib         = net->backend == NN_CONV_BLAS ? 1 : 0;

  PetscFunctionBegin;
  PetscOptionsBegin(net->comm, net->prefix, "Neural network (DaisiNet) kernel options", "DaisiNet");
  PetscCall(PetscOptionsEList("-nn_conv_backend", "local 3x3 convolution kernels: oneDNN JIT or OpenBLAS im2col+sgemm", "", backends, 2, backends[ib], &ib, NULL));
  PetscCall(PetscOptionsInt("-nn_threads", "OpenMP threads of oneDNN per rank (process-wide)", "", net->threads, &net->threads, NULL));
  PetscCall(PetscOptionsInt("-nn_batch_chunk", "samples processed together inside one call (smaller keeps activations in cache)", "", net->chunk, &net->chunk, NULL));
  PetscOptionsEnd();
  net->backend = ib ? NN_CONV_BLAS : NN_CONV_DNNL;
  PetscCheck(net->threads >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_threads %" PetscInt_FMT " must be at least 1", net->threads);
  PetscCheck(net->chunk >= 1, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "-nn_batch_chunk %" PetscInt_FMT " must be at least 1", net->chunk);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* GN -> SiLU -> conv3x3 -> GN -> FiLM(t) -> SiLU -> conv3x3, plus a skip (1x1 conv when
 * the width changes); without a time embedding (emb < 0) there is no FiLM */
static PetscErrorCode NNResBlock(DaisiNet net, PetscInt x, PetscInt cout, PetscInt emb, PetscInt *out)
{
  PetscInt h, skip;

  PetscFunctionBegin;
  PetscCall(NNAddOp(net, NN_OP_GROUPNORM, x, -1, 0, &h));
  PetscCall(NNAddOp(net, NN_OP_SILU, h, -1, 0, &h));
  PetscCall(NNAddOp(net, NN_OP_CONV3, h, -1, cout, &h));
  PetscCall(NNAddOp(net, NN_OP_GROUPNORM, h, -1, 0, &h));
  if (emb >= 0) PetscCall(NNAddOp(net, NN_OP_FILM, h, emb, 0, &h));
  PetscCall(NNAddOp(net, NN_OP_SILU, h, -1, 0, &h));
  PetscCall(NNAddOp(net, NN_OP_CONV3, h, -1, cout, &h));
  skip = x;
  if (net->tensor[x].C != cout) PetscCall(NNAddOp(net, NN_OP_CONV1, x, -1, cout, &skip));
  PetscCall(NNAddOp(net, NN_OP_ADD, skip, h, 0, out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNBuildUNet(DaisiNet net)
{
  PetscInt L = net->nmult, h, e, skip[NN_MAX_LEVELS];

  PetscFunctionBegin;
  PetscCall(NNAddOp(net, NN_OP_INPUT_FIELD, -1, -1, net->in_channels + net->cond_channels, &net->input));
  PetscCall(NNAddOp(net, NN_OP_FOURIER, -1, -1, net->time_features, &e));
  PetscCall(NNAddOp(net, NN_OP_LINEAR, e, -1, net->time_dim, &e));
  PetscCall(NNAddOp(net, NN_OP_SILU, e, -1, 0, &e));
  PetscCall(NNAddOp(net, NN_OP_LINEAR, e, -1, net->time_dim, &e));
  PetscCall(NNAddOp(net, NN_OP_SILU, e, -1, 0, &e));
  PetscCall(NNAddOp(net, NN_OP_CONV3, net->input, -1, net->base_width * net->mult[0], &h));
  for (PetscInt l = 0; l < L; l++) {
    if (l > 0) PetscCall(NNAddOp(net, NN_OP_POOL, h, -1, 0, &h));
    for (PetscInt k = 0; k < net->blocks_per_level; k++) PetscCall(NNResBlock(net, h, net->base_width * net->mult[l], e, &h));
    skip[l] = h;
  }
  for (PetscInt l = L - 2; l >= 0; l--) {
    if (net->up_transposed) PetscCall(NNAddOp(net, NN_OP_UPT, h, -1, net->tensor[h].C, &h));
    else PetscCall(NNAddOp(net, NN_OP_UP, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_CONCAT, h, skip[l], 0, &h));
    for (PetscInt k = 0; k < net->blocks_per_level; k++) PetscCall(NNResBlock(net, h, net->base_width * net->mult[l], e, &h));
  }
  PetscCall(NNAddOp(net, NN_OP_GROUPNORM, h, -1, 0, &h));
  PetscCall(NNAddOp(net, NN_OP_SILU, h, -1, 0, &h));
  PetscCall(NNAddOp(net, NN_OP_CONV3, h, -1, net->in_channels, &net->output));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Encoder: the state -> [mean; log-variance] of the latent, 2 * latent_channels at the
 * coarsest level (conv, per level pool + residual blocks, GN, SiLU, conv). Decoder: the
 * latent -> the state (conv, per level residual blocks + up-sampling, GN, SiLU, conv).
 * Neither depends on time. */
static PetscErrorCode NNBuildVAE(DaisiNet net, PetscBool decoder)
{
  PetscInt L = net->nmult, h;

  PetscFunctionBegin;
  if (!decoder) {
    PetscCall(NNAddOp(net, NN_OP_INPUT_FIELD, -1, -1, net->in_channels, &net->input));
    PetscCall(NNAddOp(net, NN_OP_CONV3, net->input, -1, net->base_width * net->mult[0], &h));
    for (PetscInt l = 0; l < L; l++) {
      if (l > 0) PetscCall(NNAddOp(net, NN_OP_POOL, h, -1, 0, &h));
      for (PetscInt k = 0; k < net->blocks_per_level; k++) PetscCall(NNResBlock(net, h, net->base_width * net->mult[l], -1, &h));
    }
    PetscCall(NNAddOp(net, NN_OP_GROUPNORM, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_SILU, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_CONV3, h, -1, 2 * net->latent_channels, &net->output));
  } else {
    PetscCall(NNAddOp(net, NN_OP_INPUT_FIELD, -1, -1, net->latent_channels, &net->input));
    PetscCall(NNAddOp(net, NN_OP_CONV3, net->input, -1, net->base_width * net->mult[L - 1], &h));
    for (PetscInt l = L - 1; l >= 0; l--) {
      if (l < L - 1) {
        if (net->up_transposed) PetscCall(NNAddOp(net, NN_OP_UPT, h, -1, net->tensor[h].C, &h));
        else PetscCall(NNAddOp(net, NN_OP_UP, h, -1, 0, &h));
      }
      for (PetscInt k = 0; k < net->blocks_per_level; k++) PetscCall(NNResBlock(net, h, net->base_width * net->mult[l], -1, &h));
    }
    PetscCall(NNAddOp(net, NN_OP_GROUPNORM, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_SILU, h, -1, 0, &h));
    PetscCall(NNAddOp(net, NN_OP_CONV3, h, -1, net->in_channels, &net->output));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNBuildMLP(DaisiNet net)
{
  PetscInt n = DaisiGridGlobalSize(&net->grid), h, f;

  PetscFunctionBegin;
  PetscCall(NNAddOp(net, NN_OP_INPUT_VECTOR, -1, -1, n, &net->input));
  PetscCall(NNAddOp(net, NN_OP_FOURIER, -1, -1, net->time_features, &f));
  PetscCall(NNAddOp(net, NN_OP_CONCAT, net->input, f, 0, &h));
  for (PetscInt d = 0; d < net->mlp_depth; d++) {
    PetscCall(NNAddOp(net, NN_OP_LINEAR, h, -1, net->mlp_width, &h));
    PetscCall(NNAddOp(net, NN_OP_SILU, h, -1, 0, &h));
  }
  PetscCall(NNAddOp(net, NN_OP_LINEAR, h, -1, n, &net->output));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetSetUp(DaisiNet net, const DaisiGrid *grid)
{
  PetscFunctionBegin;
  PetscCall(NNSetUpGraph(net, grid, NULL, NULL));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* build: NULL for the architecture named by the type, else a custom graph (layer tests) */
PetscErrorCode NNSetUpGraph(DaisiNet net, const DaisiGrid *grid, PetscErrorCode (*build)(DaisiNet, void *), void *ctx)
{
  PetscBool mlp = (PetscBool)!strcmp(net->type, "mlp"), enc = (PetscBool)!strcmp(net->type, "encoder"), dec = (PetscBool)!strcmp(net->type, "decoder");

  PetscFunctionBegin;
  if (net->setup) PetscFunctionReturn(PETSC_SUCCESS);
  net->grid = *grid;
  if (!net->in_channels) net->in_channels = mlp ? DaisiGridGlobalSize(grid) : grid->nlev;
  if (mlp) {
    PetscCheck(net->in_channels == DaisiGridGlobalSize(grid), net->comm, PETSC_ERR_ARG_INCOMP, "mlp network has %" PetscInt_FMT " inputs but the model state has %" PetscInt_FMT " values", net->in_channels, DaisiGridGlobalSize(grid));
    net->nlevels    = 1;
    net->replicated = PETSC_TRUE;
  } else {
    PetscInt f = 1 << (net->nmult - 1);
    PetscCheck(net->in_channels == grid->nlev, net->comm, PETSC_ERR_ARG_INCOMP, "%s network has %" PetscInt_FMT " channels (-nn_in_channels) but the model state has %" PetscInt_FMT " levels", net->type, net->in_channels, grid->nlev);
    PetscCheck(grid->ny % f == 0 && grid->nx % f == 0, net->comm, PETSC_ERR_ARG_INCOMP, "grid %" PetscInt_FMT " x %" PetscInt_FMT " is not divisible by 2^%" PetscInt_FMT " as the %" PetscInt_FMT " unet levels (-nn_channel_mult) need", grid->ny, grid->nx, net->nmult - 1, net->nmult);
    net->nlevels = net->nmult;
  }
  net->in_level = dec ? net->nmult - 1 : 0;
  if (net->trained_ny || net->trained_nx) PetscCheck(net->trained_ny == grid->ny && net->trained_nx == grid->nx, net->comm, PETSC_ERR_ARG_INCOMP, "network weights belong to a %" PetscInt_FMT " x %" PetscInt_FMT " grid, the model grid is %" PetscInt_FMT " x %" PetscInt_FMT, net->trained_ny, net->trained_nx, grid->ny, grid->nx);
  net->trained_ny = grid->ny;
  net->trained_nx = grid->nx;
  for (PetscInt l = 0; l < net->nlevels; l++) PetscCall(NNLevelCreate(net->comm, grid->ny >> l, grid->nx >> l, grid->y0, grid->nyl, (PetscBool)(l > 0), &net->lev[l]));
  PetscCall(NNGraphSetUpComm(net));
  net->nparam = 0;
  net->flops  = 0;
  if (build) PetscCall((*build)(net, ctx));
  else if (mlp) PetscCall(NNBuildMLP(net));
  else if (enc || dec) PetscCall(NNBuildVAE(net, dec));
  else PetscCall(NNBuildUNet(net));
  PetscCall(PetscCalloc3(net->nparam, &net->theta, net->nparam, &net->grad, net->nparam, &net->gradlocal));
  /* local sizes of one sample's input and output; the mlp's replicated vectors enter and
   * leave in the grid's layout */
  net->nin   = mlp ? DaisiGridLocalSize(grid) : net->tensor[net->input].C * NNTensorRows(net, net->input) * NNTensorNx(net, net->input);
  net->nout  = mlp ? DaisiGridLocalSize(grid) : net->tensor[net->output].C * NNTensorRows(net, net->output) * NNTensorNx(net, net->output);
  net->nnorm = mlp ? net->in_channels : PetscMax(net->tensor[net->input].C, net->tensor[net->output].C);
  if (!net->in_mean) {
    PetscCall(PetscMalloc4(net->nnorm, &net->in_mean, net->nnorm, &net->in_std, net->nnorm, &net->out_mean, net->nnorm, &net->out_std));
    for (PetscInt i = 0; i < net->nnorm; i++) {
      net->in_mean[i] = net->out_mean[i] = 0;
      net->in_std[i] = net->out_std[i] = 1;
    }
  }
  PetscCall(NNGraphInitWeights(net, net->seed));
  net->setup = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetDestroy(DaisiNet *net)
{
  DaisiNet n = *net;

  PetscFunctionBegin;
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  if (n->setup || n->nlevels || n->ntensor) PetscCall(NNGraphFree(n));
  PetscCall(NNDnnlDestroy(n));
  PetscCall(PetscFree3(n->theta, n->grad, n->gradlocal));
  if (n->in_mean) PetscCall(PetscFree4(n->in_mean, n->in_std, n->out_mean, n->out_std));
  for (PetscInt i = 0; i < n->nmeta; i++) PetscCall(PetscFree2(n->meta_name[i], n->meta_value[i]));
  PetscCall(PetscFree(n->prefix));
  PetscCallMPI(MPI_Comm_free(&n->comm));
  PetscCall(PetscFree(n));
  *net = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetView(DaisiNet net, PetscViewer viewer)
{
  PetscBool ascii;

  PetscFunctionBegin;
  if (!viewer) PetscCall(PetscViewerASCIIGetStdout(net->comm, &viewer));
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &ascii));
  if (!ascii) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscViewerASCIIPrintf(viewer, "DaisiNet %s on %d rank(s)\n", net->type, net->size));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  if (!strcmp(net->type, "mlp")) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "inputs %" PetscInt_FMT ", hidden %" PetscInt_FMT " x %" PetscInt_FMT ", time features %" PetscInt_FMT "\n", net->in_channels, net->mlp_depth, net->mlp_width, net->time_features));
  } else {
    char mult[128] = "";
    for (PetscInt l = 0; l < net->nmult; l++) {
      size_t len = strlen(mult);
      PetscCall(PetscSNPrintf(mult + len, sizeof(mult) - len, "%s%" PetscInt_FMT, l ? "," : "", net->mult[l]));
    }
    if (strcmp(net->type, "unet")) PetscCall(PetscViewerASCIIPrintf(viewer, "latent: %" PetscInt_FMT " channels at the coarsest level\n", net->latent_channels));
    if (net->cond_channels) PetscCall(PetscViewerASCIIPrintf(viewer, "conditioned on %" PetscInt_FMT " extra input channels\n", net->cond_channels));
    PetscCall(PetscViewerASCIIPrintf(viewer, "channels %" PetscInt_FMT ", base width %" PetscInt_FMT ", multipliers %s, %" PetscInt_FMT " residual block(s) per level, %" PetscInt_FMT " groups, time features %" PetscInt_FMT " -> %" PetscInt_FMT ", %s up-sampling\n", net->in_channels, net->base_width, mult, net->blocks_per_level, net->groups, net->time_features, net->time_dim, net->up_transposed ? "transposed" : "nearest"));
  }
  if (net->setup) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "grid %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT ", %" PetscInt_FMT " parameters, %" PetscInt_FMT " ops, %.3f GFLOP per sample forward\n", net->grid.nlev, net->grid.ny, net->grid.nx, net->nparam, net->nop, net->flops * 1e-9));
    {
      PetscLogDouble bytes;
      PetscCall(NNActivationBytes(net, 1, &bytes));
      PetscCall(PetscViewerASCIIPrintf(viewer, "3x3 convolutions: %s, %" PetscInt_FMT " thread(s) per rank; batches run in chunks of %" PetscInt_FMT "; activations %.1f MB per sample on rank 0 (x3 with cotangents and tangents)\n", net->backend == NN_CONV_DNNL ? "oneDNN" : "OpenBLAS im2col+sgemm", net->threads, net->chunk, bytes / 1048576.0));
    }
    for (PetscInt l = 0; l < net->nlevels; l++) PetscCall(PetscViewerASCIIPrintf(viewer, "level %" PetscInt_FMT ": %" PetscInt_FMT " x %" PetscInt_FMT ", rank 0 rows [%" PetscInt_FMT ", %" PetscInt_FMT ")\n", l, net->lev[l].ny, net->lev[l].nx, net->lev[l].y0[0], net->lev[l].y0[0] + net->lev[l].nyl[0]));
  }
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNCheckCall(DaisiNet net, PetscInt B, const PetscReal t[])
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() before evaluating the network");
  PetscCheck(B >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "batch size %" PetscInt_FMT " must be at least 1", B);
  if (!t) {
    for (PetscInt k = 0; k < net->nop; k++) PetscCheck(net->op[k].type != NN_OP_FOURIER, net->comm, PETSC_ERR_ARG_NULL, "this %s network depends on time: pass t[]", net->type);
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (PetscInt b = 0; b < B; b++) PetscCheck(PetscIsNormalReal(t[b]) || t[b] == 0.0, PETSC_COMM_SELF, PETSC_ERR_FP, "time of sample %" PetscInt_FMT " is not finite", b);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetForward(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal y[])
{
  PetscFunctionBegin;
  PetscCall(NNCheckCall(net, B, t));
  PetscCall(PetscLogEventBegin(NN_EV_FORWARD, 0, 0, 0, 0));
  /* samples are independent: chunks of -nn_batch_chunk keep the activations in cache */
  for (PetscInt b0 = 0, n = net->nin, m = net->nout; b0 < B; b0 += net->chunk) {
    PetscInt bc = PetscMin(net->chunk, B - b0);
    PetscCall(NNForwardPass(net, bc, t ? t + b0 : NULL, x + b0 * n, PETSC_FALSE, NULL));
    PetscCall(NNGetOutput(net, bc, PETSC_FALSE, y + b0 * m));
  }
  PetscCall(PetscLogEventEnd(NN_EV_FORWARD, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetVJP(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal w[], PetscReal y[], PetscReal gx[], PetscBool accumulate)
{
  PetscFunctionBegin;
  PetscCall(NNCheckCall(net, B, t));
  PetscCall(PetscLogEventBegin(NN_EV_VJP, 0, 0, 0, 0));
  for (PetscInt b0 = 0, n = net->nin, m = net->nout; b0 < B; b0 += net->chunk) {
    PetscInt bc = PetscMin(net->chunk, B - b0);
    PetscCall(NNForwardPass(net, bc, t ? t + b0 : NULL, x + b0 * n, PETSC_FALSE, NULL));
    if (y) PetscCall(NNGetOutput(net, bc, PETSC_FALSE, y + b0 * m));
    PetscCall(NNReversePass(net, bc, w + b0 * m, gx ? gx + b0 * n : NULL, accumulate));
  }
  PetscCall(PetscLogEventEnd(NN_EV_VJP, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetVJPOutput(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], DaisiNetCotangentFn cot, void *ctx, PetscReal y[], PetscReal w[], PetscReal gx[], PetscBool accumulate)
{
  PetscFunctionBegin;
  PetscCall(NNCheckCall(net, B, t));
  PetscCheck(cot && y && w, net->comm, PETSC_ERR_ARG_NULL, "DaisiNetVJPOutput needs a cotangent function and the y and w arrays");
  PetscCall(PetscLogEventBegin(NN_EV_VJP, 0, 0, 0, 0));
  /* one forward pass per chunk serves both the output and the reverse pass */
  for (PetscInt b0 = 0, n = net->nin, m = net->nout; b0 < B; b0 += net->chunk) {
    PetscInt bc = PetscMin(net->chunk, B - b0);
    PetscCall(NNForwardPass(net, bc, t ? t + b0 : NULL, x + b0 * n, PETSC_FALSE, NULL));
    PetscCall(NNGetOutput(net, bc, PETSC_FALSE, y + b0 * m));
    PetscCall(cot(ctx, b0, bc, y + b0 * m, w + b0 * m));
    PetscCall(NNReversePass(net, bc, w + b0 * m, gx ? gx + b0 * n : NULL, accumulate));
  }
  PetscCall(PetscLogEventEnd(NN_EV_VJP, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetJVP(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal v[], PetscReal y[], PetscReal jv[])
{
  PetscFunctionBegin;
  PetscCall(NNCheckCall(net, B, t));
  PetscCall(PetscLogEventBegin(NN_EV_JVP, 0, 0, 0, 0));
  for (PetscInt b0 = 0, n = net->nin, m = net->nout; b0 < B; b0 += net->chunk) {
    PetscInt bc = PetscMin(net->chunk, B - b0);
    PetscCall(NNForwardPass(net, bc, t ? t + b0 : NULL, x + b0 * n, PETSC_TRUE, v + b0 * n));
    if (y) PetscCall(NNGetOutput(net, bc, PETSC_FALSE, y + b0 * m));
    PetscCall(NNGetOutput(net, bc, PETSC_TRUE, jv + b0 * m));
  }
  PetscCall(PetscLogEventEnd(NN_EV_JVP, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetParameters(DaisiNet net, PetscInt *n, float **theta)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  if (n) *n = net->nparam;
  if (theta) *theta = net->theta;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetGradient(DaisiNet net, PetscInt *n, float **grad)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  if (n) *n = net->nparam;
  if (grad) *grad = net->grad;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetZeroGradient(DaisiNet net)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  PetscCall(PetscArrayzero(net->grad, net->nparam));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetInitializeWeights(DaisiNet net, PetscInt64 seed)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  net->seed = seed;
  PetscCall(NNGraphInitWeights(net, seed));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetSetMetadata(DaisiNet net, const char name[], const char value[])
{
  PetscInt  i;
  size_t    ln, lv;
  PetscBool valid = PETSC_TRUE;

  PetscFunctionBegin;
  PetscCall(PetscStrlen(name, &ln));
  for (size_t c = 0; c < ln; c++) valid = (PetscBool)(valid && (isalnum((unsigned char)name[c]) || name[c] == '_'));
  PetscCheck(ln > 0 && ln < 64 && valid, net->comm, PETSC_ERR_ARG_WRONG, "metadata name '%s' must be 1 to 63 letters, digits or underscores", name);
  PetscCall(PetscStrlen(value, &lv));
  PetscCheck(lv < 4096, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "metadata '%s': value of %zu characters, at most 4095", name, lv);
  for (i = 0; i < net->nmeta && strcmp(net->meta_name[i], name) < 0; i++) { }
  if (i < net->nmeta && !strcmp(net->meta_name[i], name)) PetscCall(PetscFree2(net->meta_name[i], net->meta_value[i]));
  else {
    PetscCheck(net->nmeta < NN_MAX_META, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "at most %d metadata entries", NN_MAX_META);
    for (PetscInt k = net->nmeta; k > i; k--) {
      net->meta_name[k]  = net->meta_name[k - 1];
      net->meta_value[k] = net->meta_value[k - 1];
    }
    net->nmeta++;
  }
  PetscCall(PetscMalloc2(ln + 1, &net->meta_name[i], lv + 1, &net->meta_value[i]));
  PetscCall(PetscMemcpy(net->meta_name[i], name, ln + 1));
  PetscCall(PetscMemcpy(net->meta_value[i], value, lv + 1));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetMetadata(DaisiNet net, const char name[], const char **value)
{
  PetscFunctionBegin;
  *value = NULL;
  for (PetscInt i = 0; i < net->nmeta; i++)
    if (!strcmp(net->meta_name[i], name)) *value = net->meta_value[i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetSetNormalization(DaisiNet net, const PetscReal in_mean[], const PetscReal in_std[], const PetscReal out_mean[], const PetscReal out_std[])
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() before DaisiNetSetNormalization()");
  for (PetscInt i = 0; i < net->nnorm; i++) {
    PetscCheck(in_std[i] > 0 && out_std[i] > 0, net->comm, PETSC_ERR_ARG_OUTOFRANGE, "normalisation scale of channel %" PetscInt_FMT " must be positive (in %g, out %g)", i, (double)in_std[i], (double)out_std[i]);
    net->in_mean[i]  = in_mean[i];
    net->in_std[i]   = in_std[i];
    net->out_mean[i] = out_mean[i];
    net->out_std[i]  = out_std[i];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetNormalization(DaisiNet net, const PetscReal **in_mean, const PetscReal **in_std, const PetscReal **out_mean, const PetscReal **out_std)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  if (in_mean) *in_mean = net->in_mean;
  if (in_std) *in_std = net->in_std;
  if (out_mean) *out_mean = net->out_mean;
  if (out_std) *out_std = net->out_std;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetNormalizationSize(DaisiNet net, PetscInt *n)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  *n = net->nnorm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetLatentGrid(DaisiNet net, DaisiGrid *z)
{
  PetscInt l = net->nmult - 1;

  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  PetscCheck(!strcmp(net->type, "encoder") || !strcmp(net->type, "decoder"), net->comm, PETSC_ERR_ARG_WRONG, "a %s network has no latent space (only encoder and decoder networks do)", net->type);
  *z      = net->grid;
  z->nlev = net->latent_channels;
  z->ny   = net->lev[l].ny;
  z->nx   = net->lev[l].nx;
  z->y0   = net->lev[l].my0;
  z->nyl  = net->lev[l].mnyl;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiNetGetForwardFlops(DaisiNet net, PetscLogDouble *flops)
{
  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() first");
  *flops = net->flops;
  PetscFunctionReturn(PETSC_SUCCESS);
}
