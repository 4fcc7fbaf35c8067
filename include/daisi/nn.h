/* DaisiNet: the velocity network b(x, t) and its derivatives, distributed like the model.
 *
 * Lifecycle, in the PETSc manner:
 *   DaisiNetCreate(comm, &net);  DaisiNetSetFromOptions(net);  DaisiNetSetUp(net, &grid);
 *   DaisiNetForward(net, B, t, x, y);  DaisiNetVJP(...);  DaisiNetJVP(...);
 *   DaisiNetSave(net, "prior.h5");  DaisiNetDestroy(&net);
 * or DaisiNetLoad(comm, "prior.h5", &grid, &net) for a trained network.
 *
 * Each of the B samples of a batch is a model state in the layout of DaisiGrid: split in
 * rows over all ranks of comm, this rank holding rows [grid.y0, grid.y0 + grid.nyl) (possibly
 * none), stored x[b * n + (lev * nyl + y - y0) * nx + xi] with n = DaisiGridLocalSize(grid).
 * Every rank must pass the same t[B] (one time in [0, 1] per sample). Results do not
 * depend on the number of ranks or on how samples are batched, beyond float32 rounding.
 *
 * Types (-nn_type):
 *   unet  residual convolutional U-Net on the doubly periodic grid (channels = levels);
 *   mlp   plain multilayer perceptron for small systems (Lorenz '63); the state is gathered
 *         on every rank and the network evaluated redundantly;
 *   encoder, decoder   the two halves of a variational autoencoder (no time input: t may be
 *         NULL). The encoder maps a state to [mean; log-variance] of a latent field of
 *         -nn_latent_channels channels at the coarsest level (2 * latent channels in all);
 *         the decoder maps such a latent field back to a state. The latent field is laid
 *         out as a DaisiGrid of its own (DaisiNetGetLatentGrid): same ranks, rows split in
 *         blocks of ceil(ny_latent / P). Inputs and outputs of a pass have the layout of
 *         what they are (state or latent), so x and y then differ in size.
 * A unet with -nn_cond_channels K > 0 is conditioned on K extra fields: its input holds the
 * grid's nlev channels followed by the K condition channels (same rows), its output nlev.
 * Computation is in float32, the interface in double. docs/nn.md describes the
 * architecture, the options and the weight file. */
#ifndef DAISI_NN_H
#define DAISI_NN_H

#include <daisi/grid.h>
#include <petscviewer.h>

typedef struct _p_DaisiNet *DaisiNet;

PETSC_EXTERN PetscErrorCode DaisiNetCreate(MPI_Comm comm, DaisiNet *net);
PETSC_EXTERN PetscErrorCode DaisiNetSetOptionsPrefix(DaisiNet net, const char prefix[]);
/* Architecture: -nn_type unet|mlp, -nn_in_channels, -nn_base_width, -nn_channel_mult,
 * -nn_blocks_per_level, -nn_groups, -nn_upsample nearest|transposed, -nn_time_features,
 * -nn_time_max_frequency, -nn_time_dim, -nn_mlp_width, -nn_mlp_depth, -nn_gn_eps, -nn_seed;
 * kernels: -nn_conv_backend dnnl|blas, -nn_threads, -nn_batch_chunk (see docs/nn.md) */
PETSC_EXTERN PetscErrorCode DaisiNetSetFromOptions(DaisiNet net);
/* The type (unet, mlp, encoder, decoder), before DaisiNetSetUp; overrides -nn_type (daisi-train
 * makes the two halves of a VAE from one set of options this way). */
PETSC_EXTERN PetscErrorCode DaisiNetSetType(DaisiNet net, const char type[]);
PETSC_EXTERN PetscErrorCode DaisiNetGetType(DaisiNet net, const char **type);
/* A unet's condition channels K (-nn_cond_channels), before DaisiNetSetUp; overrides the
 * option (daisi-train -train_model latent conditions on the latent channels this way). */
PETSC_EXTERN PetscErrorCode DaisiNetSetConditionChannels(DaisiNet net, PetscInt K);
PETSC_EXTERN PetscErrorCode DaisiNetGetConditionChannels(DaisiNet net, PetscInt *K);
/* Builds the graph for this grid and, unless loaded from a file, initialises the weights
 * from -nn_seed (stream DAISI_RNG_NN_INIT). Errors if the grid does not fit the
 * architecture (channels vs levels, grid not divisible by 2^(levels-1)). */
PETSC_EXTERN PetscErrorCode DaisiNetSetUp(DaisiNet net, const DaisiGrid *grid);
PETSC_EXTERN PetscErrorCode DaisiNetView(DaisiNet net, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode DaisiNetDestroy(DaisiNet *net);

/* y = b(x, t) for B samples. x, y: B * DaisiGridLocalSize(grid) doubles (encoder / decoder:
 * B times the local size of the state or latent grid, whichever they are). */
PETSC_EXTERN PetscErrorCode DaisiNetForward(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], PetscReal y[]);
/* Reverse mode. Evaluates y = b(x, t) (y may be NULL) and the vector-Jacobian product
 * gx = (db/dx)^T w (gx may be NULL). If accumulate is true, the parameter gradient
 * w^T db/dtheta summed over the batch is added to the gradient (DaisiNetGetGradient). */
PETSC_EXTERN PetscErrorCode DaisiNetVJP(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal w[], PetscReal y[], PetscReal gx[], PetscBool accumulate);
/* Reverse mode with a cotangent that depends on the output (a loss): per chunk of samples
 * [b0, b0 + bc) the network is evaluated once, y there is filled, cot(ctx, b0, bc, y, w)
 * writes the cotangent w of those samples from their output, and the reverse pass follows,
 * so a training step costs one forward and one reverse pass instead of two forwards.
 * y and w (B samples each) are required; gx and accumulate as in DaisiNetVJP. */
typedef PetscErrorCode (*DaisiNetCotangentFn)(void *ctx, PetscInt b0, PetscInt bc, const PetscReal y[], PetscReal w[]);
PETSC_EXTERN PetscErrorCode DaisiNetVJPOutput(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], DaisiNetCotangentFn cot, void *ctx, PetscReal y[], PetscReal w[], PetscReal gx[], PetscBool accumulate);
/* Forward mode. Evaluates y = b(x, t) (y may be NULL) and the Jacobian-vector product
 * jv = (db/dx) v. */
PETSC_EXTERN PetscErrorCode DaisiNetJVP(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], const PetscReal v[], PetscReal y[], PetscReal jv[]);

/* Flat parameter and gradient arrays (float32, identical on every rank, length n). The
 * parameter array may be written (an optimiser updates it in place); all ranks must
 * write the same values. */
PETSC_EXTERN PetscErrorCode DaisiNetGetParameters(DaisiNet net, PetscInt *n, float **theta);
PETSC_EXTERN PetscErrorCode DaisiNetGetGradient(DaisiNet net, PetscInt *n, float **grad);
PETSC_EXTERN PetscErrorCode DaisiNetZeroGradient(DaisiNet net);
/* Re-initialises the weights from a seed (normal, scaled by 1/sqrt(fan-in); biases zero,
 * group-norm scales one). Collective; independent of the rank count. */
PETSC_EXTERN PetscErrorCode DaisiNetInitializeWeights(DaisiNet net, PetscInt64 seed);

/* Affine normalisation of the state channels: the network sees (x - in_mean) / in_std and
 * its raw output r is returned as out_mean + out_std * r. One value per channel (level);
 * for the mlp, one per state component; arrays of DaisiNetGetNormalizationSize values,
 * of which the input uses its first channels and the output its. Stored with the weights. */
PETSC_EXTERN PetscErrorCode DaisiNetSetNormalization(DaisiNet net, const PetscReal in_mean[], const PetscReal in_std[], const PetscReal out_mean[], const PetscReal out_std[]);
/* The four arrays (DaisiNetGetNormalizationSize values each; they belong to the network; any
 * pointer may be NULL): e.g. to check that a VAE's encoder and decoder share their state
 * normalisation (latent 3DVar). */
PETSC_EXTERN PetscErrorCode DaisiNetGetNormalization(DaisiNet net, const PetscReal **in_mean, const PetscReal **in_std, const PetscReal **out_mean, const PetscReal **out_std);

/* Metadata stored with the weights (DaisiNetSave/Load, covered by the checksum): text values
 * under names of letters, digits and underscores, e.g. the data scale and the training
 * settings written by daisi-train. Get returns *value = NULL if the name is absent; the
 * string belongs to the network. All ranks must set the same entries. */
PETSC_EXTERN PetscErrorCode DaisiNetSetMetadata(DaisiNet net, const char name[], const char value[]);
PETSC_EXTERN PetscErrorCode DaisiNetGetMetadata(DaisiNet net, const char name[], const char **value);

/* Encoder and decoder: the layout of the latent field on this rank (nlev = latent channels;
 * the encoder's output holds 2 * nlev channels, mean first). */
PETSC_EXTERN PetscErrorCode DaisiNetGetLatentGrid(DaisiNet net, DaisiGrid *z);
/* Number of values per array of DaisiNetSetNormalization: the channels of the wider of the
 * input and output field (the state components for the mlp). */
PETSC_EXTERN PetscErrorCode DaisiNetGetNormalizationSize(DaisiNet net, PetscInt *n);

/* Floating-point operations of one sample's forward pass (global, all ranks together). */
PETSC_EXTERN PetscErrorCode DaisiNetGetForwardFlops(DaisiNet net, PetscLogDouble *flops);

/* Architecture, normalisation and weights in one HDF5 file (docs/nn.md, format version 1).
 * Save is collective and writes via a temporary name. Load is collective: it reads the
 * file on rank 0, checks format, version, checksum and that the architecture fits grid,
 * and returns a network that is set up on grid. */
PETSC_EXTERN PetscErrorCode DaisiNetSave(DaisiNet net, const char path[]);
PETSC_EXTERN PetscErrorCode DaisiNetLoad(MPI_Comm comm, const char path[], const DaisiGrid *grid, DaisiNet *net);

#endif
