/* Private parts of the network engine: the row decomposition, the graph and its passes.
 * Tests of single layers include this header to build one-op graphs. */
#ifndef DAISI_NNIMPL_H
#define DAISI_NNIMPL_H

#include <daisi/nn.h>
#include <daisi/sys.h>
#include <daisi/rng.h>

#define NN_MAX_LEVELS 8
#define NN_MAX_META   32 /* metadata entries of a weight file */
#define NN_FILE_VERSION 1

/* Rows of one resolution level dealt out over the ranks: rank r holds [y0[r], y0[r]+nyl[r]). */
typedef struct {
  PetscInt  ny, nx;
  PetscInt *y0, *nyl; /* per rank */
  PetscInt  my0, mnyl; /* this rank */
} NNLevel;

/* A gather of global rows: rank r receives rows (a_r + k) mod ny, k = 0..m_r-1, of a
 * field distributed as level src, wherever they live. Halo exchanges, pooling and
 * up-sampling across differently split levels are all such gathers; their adjoints are
 * gathers too, so no scatter-add is ever needed. */
typedef struct {
  PetscInt     nreq;                   /* rows received (m of this rank) */
  PetscInt     nx;                     /* values per row and channel */
  PetscMPIInt *scount, *sdispl, *rcount, *rdispl; /* in rows */
  PetscInt    *srow;                   /* local source row of each row sent, by destination */
  PetscInt    *rpos;                   /* request position k of each row received, by source */
  PetscInt     nsend, nrecv;
  PetscBool    local; /* on every rank, all rows come from the rank itself */
} NNRowGather;

typedef enum {
  NN_OP_INPUT_FIELD,  /* double state -> level-0 field, normalised */
  NN_OP_INPUT_VECTOR, /* double state gathered on all ranks -> vector, normalised */
  NN_OP_FOURIER,      /* t -> [sin(2 pi f_k t), cos(2 pi f_k t)] */
  NN_OP_LINEAR,       /* vector -> vector, W[out][in], b[out] */
  NN_OP_SILU,         /* field or vector */
  NN_OP_CONCAT,       /* two fields (same level) or two vectors, along channels */
  NN_OP_CONV3,        /* periodic 3x3 convolution, W[o][c][3][3], b[o] */
  NN_OP_CONV1,        /* 1x1 convolution, W[o][c], b[o] */
  NN_OP_GROUPNORM,    /* gamma[c], beta[c] */
  NN_OP_FILM,         /* h * (1 + s) + m with [s; m] = W e + b, W[2C][E] */
  NN_OP_ADD,          /* a + b */
  NN_OP_POOL,         /* 2x2 average, level l -> l+1 */
  NN_OP_UP,           /* nearest 2x, level l+1 -> l */
  NN_OP_UPT,          /* transposed 2x2 convolution, stride 2, level l+1 -> l: W[in][out][2][2], b[out] */
  NN_OP_NUM
} NNOpType;

typedef struct {
  PetscInt level; /* resolution level, -1 for a vector (per-sample, replicated) */
  PetscInt C;     /* channels (vector length) */
  float   *val, *grad, *tan; /* [B][C][rows][nx] */
} NNTensor;

typedef struct {
  NNOpType type;
  PetscInt in[2], out; /* tensor ids (in[1] = -1 if unused) */
  PetscInt poff, np;   /* offset and count in the parameter array */
  PetscInt groups;     /* group norm */
  double  *stat;       /* group norm: mean and 1/std per (b, g), [B][G][2] */
  void    *dnnl;       /* conv3x3: oneDNN primitives for the current batch size */
} NNOp;

typedef enum {
  NN_CONV_DNNL,
  NN_CONV_BLAS
} NNConvBackend;

struct _p_DaisiNet {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  char       *prefix;
  /* architecture (stored in the weight file) */
  char      type[16];
  PetscInt  in_channels, out_channels, base_width, nmult, mult[NN_MAX_LEVELS];
  PetscInt  latent_channels; /* encoder / decoder: channels of the latent (coarsest level) */
  PetscInt  cond_channels;   /* unet: extra input channels (a condition) after the state's */
  PetscInt  in_level;        /* resolution level of the input field (decoder: the coarsest) */
  PetscInt  nin, nout;       /* values of one sample's input / output on this rank */
  PetscInt  blocks_per_level, groups, time_features, time_dim, mlp_width, mlp_depth;
  PetscBool up_transposed; /* -nn_upsample transposed (else nearest) */
  PetscReal gn_eps, time_max_freq;
  PetscInt64 seed;
  PetscInt  trained_ny, trained_nx; /* grid the weights belong to */
  PetscReal *in_mean, *in_std, *out_mean, *out_std; /* per channel / component */
  PetscInt  nnorm;
  /* metadata (name -> text), kept sorted by name; stored with the weights */
  PetscInt  nmeta;
  char     *meta_name[NN_MAX_META], *meta_value[NN_MAX_META];
  /* set up */
  PetscBool setup, have_weights, replicated;
  DaisiGrid grid;
  PetscInt  nlevels;
  NNLevel   lev[NN_MAX_LEVELS];
  NNRowGather halo[NN_MAX_LEVELS], f2c[NN_MAX_LEVELS], c2f[NN_MAX_LEVELS];
  PetscInt  ntensor, maxtensor, nop, maxop;
  NNTensor *tensor;
  NNOp     *op;
  PetscInt  input, output, tin; /* tensor ids of the input, output and time input */
  PetscInt  nparam;
  float    *theta, *grad, *gradlocal;
  /* buffers planned for the largest batch seen */
  PetscInt  bplan; /* batch size the buffers are planned for */
  PetscBool have_grad, have_tan; /* cotangent / tangent buffers allocated for bplan */
  PetscBool *gfresh;             /* reverse pass: cotangent not yet written (per tensor) */
  float    *t32;                 /* [B] times */
  float    *work, *work2;        /* gathers and im2col */
  size_t    nwork, nwork2;
  float    *sendbuf;
  size_t    nsendbuf;
  double   *red;                  /* reduction buffer */
  PetscLogDouble flops;
  NNConvBackend  backend; /* local 3x3 convolution kernels (-nn_conv_backend) */
  PetscInt       threads; /* OpenMP threads of oneDNN per rank (-nn_threads) */
  PetscInt       chunk;   /* samples per internal pass (-nn_batch_chunk) */
  void          *dnnl;    /* oneDNN engine, stream and scratch buffers */
};

PETSC_INTERN PetscErrorCode NNLevelCreate(MPI_Comm comm, PetscInt ny, PetscInt nx, PetscInt y0, PetscInt nyl, PetscBool block, NNLevel *lev);
PETSC_INTERN PetscErrorCode NNLevelDestroy(NNLevel *lev);
PETSC_INTERN PetscErrorCode NNRowGatherCreate(MPI_Comm comm, const NNLevel *src, const PetscInt a[], const PetscInt m[], NNRowGather *g);
PETSC_INTERN PetscErrorCode NNRowGatherDestroy(NNRowGather *g);
/* src: [B][C][src rows][nx]  ->  dst: [B][C][nreq][nx] */
PETSC_INTERN PetscErrorCode NNRowGatherApply(DaisiNet net, const NNRowGather *g, PetscInt B, PetscInt C, PetscInt nyl_src, const float *src, float *dst);

/* graph construction */
PETSC_INTERN PetscErrorCode NNAddTensor(DaisiNet net, PetscInt level, PetscInt C, PetscInt *id);
PETSC_EXTERN PetscErrorCode NNAddOp(DaisiNet net, NNOpType type, PetscInt in0, PetscInt in1, PetscInt cout, PetscInt *out);
/* set up with a custom graph builder (the layer tests use it; exported for them) */
PETSC_EXTERN PetscErrorCode NNSetUpGraph(DaisiNet net, const DaisiGrid *grid, PetscErrorCode (*build)(DaisiNet, void *), void *ctx);
PETSC_INTERN PetscErrorCode NNGraphSetUpComm(DaisiNet net);
PETSC_INTERN PetscErrorCode NNGraphPlan(DaisiNet net, PetscInt B);
PETSC_INTERN PetscErrorCode NNGraphFree(DaisiNet net);
PETSC_INTERN PetscErrorCode NNGraphInitWeights(DaisiNet net, PetscInt64 seed);
PETSC_INTERN PetscErrorCode NNSetRuntimeFromOptions(DaisiNet net);
PETSC_INTERN PetscErrorCode NNActivationBytes(DaisiNet net, PetscInt B, PetscLogDouble *bytes);

/* passes over the graph */
PETSC_INTERN PetscErrorCode NNForwardPass(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], PetscBool tangent, const PetscReal v[]);
PETSC_INTERN PetscErrorCode NNReversePass(DaisiNet net, PetscInt B, const PetscReal w[], PetscReal gx[], PetscBool param);
PETSC_INTERN PetscErrorCode NNGetOutput(DaisiNet net, PetscInt B, PetscBool tangent, PetscReal y[]);
PETSC_INTERN PetscInt NNTensorRows(DaisiNet net, PetscInt id);
PETSC_INTERN PetscInt NNTensorNx(DaisiNet net, PetscInt id);
PETSC_INTERN PetscErrorCode NNRegisterEvents(void);
PETSC_INTERN const char *const NNOpNames[];

/* oneDNN kernels (dnnl.c) */
PETSC_INTERN PetscErrorCode NNDnnlCreate(DaisiNet net);
PETSC_INTERN PetscErrorCode NNDnnlDestroy(DaisiNet net);
PETSC_INTERN PetscErrorCode NNDnnlOpDestroy(void **ctx);
PETSC_INTERN PetscErrorCode NNDnnlConv3(DaisiNet net, NNOp *op, PetscBool transposed, PetscInt B, PetscInt Cin, PetscInt Cout, PetscInt h, PetscInt w, const float *G, const float *W, const float *bias, PetscBool acc, float *Y);
PETSC_INTERN PetscErrorCode NNDnnlConv3Weights(DaisiNet net, NNOp *op, PetscInt B, PetscInt Ci, PetscInt Co, PetscInt h, PetscInt w, const float *Gx, const float *gy, float *gW, float *gb);

#endif
