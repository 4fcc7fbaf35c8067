/* The network as a list of operations on tensors, and the three passes over it:
 * forward (values), forward mode (values and tangents) and reverse mode (cotangents and
 * parameter gradients). One description, three interpretations, so they cannot disagree
 * about the architecture. Fields are [B][C][local rows][nx] float32 slabs; vectors
 * (time embedding, MLP layers) are [B][C] and replicated on every rank. */
#include "nnimpl.h"
#include <cblas.h>
#include <math.h>

const char *const NNOpNames[] = {"input_field", "input_vector", "fourier", "linear", "silu", "concat", "conv3x3", "conv1x1", "groupnorm", "film", "add", "avgpool", "upsample", "upsample_transposed"};

static PetscLogEvent NN_EV_CONV3, NN_EV_CONV1, NN_EV_GN, NN_EV_GATHER, NN_EV_POINT, NN_EV_VECTOR, NN_EV_REDUCE;

PetscErrorCode NNRegisterEvents(void)
{
  static PetscBool done = PETSC_FALSE;

  PetscFunctionBegin;
  if (done) PetscFunctionReturn(PETSC_SUCCESS);
  done = PETSC_TRUE;
  PetscCall(PetscLogEventRegister("NNConv3x3", DAISI_CLASSID, &NN_EV_CONV3));
  PetscCall(PetscLogEventRegister("NNConv1x1", DAISI_CLASSID, &NN_EV_CONV1));
  PetscCall(PetscLogEventRegister("NNGroupNorm", DAISI_CLASSID, &NN_EV_GN));
  PetscCall(PetscLogEventRegister("NNRowGather", DAISI_CLASSID, &NN_EV_GATHER));
  PetscCall(PetscLogEventRegister("NNPointwise", DAISI_CLASSID, &NN_EV_POINT));
  PetscCall(PetscLogEventRegister("NNVector", DAISI_CLASSID, &NN_EV_VECTOR));
  PetscCall(PetscLogEventRegister("NNGradReduce", DAISI_CLASSID, &NN_EV_REDUCE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscInt NNTensorRows(DaisiNet net, PetscInt id)
{
  PetscInt l = net->tensor[id].level;
  return l >= 0 ? net->lev[l].mnyl : 1;
}
PetscInt NNTensorNx(DaisiNet net, PetscInt id)
{
  PetscInt l = net->tensor[id].level;
  return l >= 0 ? net->lev[l].nx : 1;
}
/* values per sample on this rank */
static PetscInt NNTensorSize(DaisiNet net, PetscInt id)
{
  return net->tensor[id].C * NNTensorRows(net, id) * NNTensorNx(net, id);
}

/* ------------------------------------------------------------------------------------ */
/* graph construction                                                                   */
/* ------------------------------------------------------------------------------------ */
PetscErrorCode NNAddTensor(DaisiNet net, PetscInt level, PetscInt C, PetscInt *id)
{
  PetscFunctionBegin;
  if (net->ntensor == net->maxtensor) {
    NNTensor *t;
    net->maxtensor = 2 * net->maxtensor + 16;
    PetscCall(PetscCalloc1(net->maxtensor, &t));
    if (net->ntensor) PetscCall(PetscArraycpy(t, net->tensor, net->ntensor));
    PetscCall(PetscFree(net->tensor));
    net->tensor = t;
  }
  net->tensor[net->ntensor].level = level;
  net->tensor[net->ntensor].C     = C;
  *id                             = net->ntensor++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Adds an op reading in0 (and in1) and creating its output tensor; cout is the output
 * width where the op chooses it (linear, conv) and ignored otherwise. */
PetscErrorCode NNAddOp(DaisiNet net, NNOpType type, PetscInt in0, PetscInt in1, PetscInt cout, PetscInt *out)
{
  NNOp    *op;
  PetscInt level = in0 >= 0 ? net->tensor[in0].level : 0, C = in0 >= 0 ? net->tensor[in0].C : 0;

  PetscFunctionBegin;
  if (net->nop == net->maxop) {
    NNOp *o;
    net->maxop = 2 * net->maxop + 16;
    PetscCall(PetscCalloc1(net->maxop, &o));
    if (net->nop) PetscCall(PetscArraycpy(o, net->op, net->nop));
    PetscCall(PetscFree(net->op));
    net->op = o;
  }
  op = &net->op[net->nop++];
  PetscCall(PetscMemzero(op, sizeof(*op)));
  op->type  = type;
  op->in[0] = in0;
  op->in[1] = in1;
  op->poff  = net->nparam;
  switch (type) {
  case NN_OP_INPUT_FIELD:
    level = net->in_level;
    C     = cout;
    break;
  case NN_OP_INPUT_VECTOR:
  case NN_OP_FOURIER:
    level = -1;
    C     = cout;
    break;
  case NN_OP_LINEAR:
    PetscCheck(level < 0, net->comm, PETSC_ERR_PLIB, "linear layer on a field");
    op->np = cout * C + cout;
    C      = cout;
    break;
  case NN_OP_SILU:
  case NN_OP_GROUPNORM:
  case NN_OP_ADD:
    if (type == NN_OP_GROUPNORM) {
      PetscCheck(C % net->groups == 0, net->comm, PETSC_ERR_ARG_INCOMP, "-nn_groups %" PetscInt_FMT " does not divide the %" PetscInt_FMT " channels of a group-norm layer", net->groups, C);
      op->np     = 2 * C;
      op->groups = net->groups;
    }
    if (type == NN_OP_ADD) PetscCheck(net->tensor[in1].C == C && net->tensor[in1].level == level, net->comm, PETSC_ERR_PLIB, "add of unequal shapes");
    break;
  case NN_OP_CONCAT:
    PetscCheck(net->tensor[in1].level == level, net->comm, PETSC_ERR_PLIB, "concat across levels");
    C += net->tensor[in1].C;
    break;
  case NN_OP_CONV3:
    op->np = cout * C * 9 + cout;
    C      = cout;
    break;
  case NN_OP_CONV1:
    op->np = cout * C + cout;
    C      = cout;
    break;
  case NN_OP_FILM:
    op->np = 2 * C * net->tensor[in1].C + 2 * C;
    break;
  case NN_OP_POOL:
    level++;
    PetscCheck(level < net->nlevels, net->comm, PETSC_ERR_PLIB, "pooling below the coarsest level");
    break;
  case NN_OP_UPT:
    op->np = C * cout * 4 + cout;
    C      = cout;
    level--;
    PetscCheck(level >= 0, net->comm, PETSC_ERR_PLIB, "up-sampling above the finest level");
    break;
  case NN_OP_UP:
    level--;
    PetscCheck(level >= 0, net->comm, PETSC_ERR_PLIB, "up-sampling above the finest level");
    break;
  default:
    SETERRQ(net->comm, PETSC_ERR_PLIB, "unknown op");
  }
  net->nparam += op->np;
  PetscCall(NNAddTensor(net, level, C, &op->out));
  if (type == NN_OP_LINEAR) net->flops += 2.0 * (op->np - cout);
  if (type == NN_OP_UPT) net->flops += 2.0 * net->lev[level].ny * net->lev[level].nx * (op->np - cout) / 4;
  if (type == NN_OP_CONV3 || type == NN_OP_CONV1) {
    PetscInt hw = net->lev[level].ny * net->lev[level].nx;
    net->flops += 2.0 * hw * (op->np - cout); /* multiply-adds of the weights */
  }
  *out = op->out;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Row-gather plans of every level: halos for 3x3 convolutions, and the two patterns that
 * connect a level with the next coarser one (fine rows under my coarse rows, coarse rows
 * over my fine rows). */
PetscErrorCode NNGraphSetUpComm(DaisiNet net)
{
  PetscMPIInt size = net->size;
  PetscInt   *a, *m;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(size, &a, size, &m));
  for (PetscInt l = 0; l < net->nlevels; l++) {
    const NNLevel *L = &net->lev[l];
    for (PetscMPIInt r = 0; r < size; r++) {
      a[r] = L->y0[r] - 1;
      m[r] = L->nyl[r] > 0 ? L->nyl[r] + 2 : 0;
    }
    PetscCall(NNRowGatherCreate(net->comm, L, a, m, &net->halo[l]));
    if (l + 1 < net->nlevels) {
      const NNLevel *Lc = &net->lev[l + 1];
      for (PetscMPIInt r = 0; r < size; r++) {
        a[r] = 2 * Lc->y0[r];
        m[r] = 2 * Lc->nyl[r];
      }
      PetscCall(NNRowGatherCreate(net->comm, L, a, m, &net->f2c[l]));
      for (PetscMPIInt r = 0; r < size; r++) {
        a[r] = L->y0[r] / 2;
        m[r] = L->nyl[r] > 0 ? (L->y0[r] + L->nyl[r] - 1) / 2 - L->y0[r] / 2 + 1 : 0;
      }
      PetscCall(NNRowGatherCreate(net->comm, Lc, a, m, &net->c2f[l]));
    }
  }
  PetscCall(PetscFree2(a, m));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNTensorFreeBuffers(DaisiNet net)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < net->ntensor; i++) {
    PetscCall(PetscFree(net->tensor[i].val));
    PetscCall(PetscFree(net->tensor[i].grad));
    PetscCall(PetscFree(net->tensor[i].tan));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Memory for a batch of B: every tensor gets value, cotangent and tangent storage once;
 * later calls with B <= the planned batch reuse it. */
PetscErrorCode NNGraphPlan(DaisiNet net, PetscInt B)
{
  size_t   nwork = 1, nwork2 = 1;
  PetscInt gmax  = 1;

  PetscFunctionBegin;
  if (B <= net->bplan) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(NNTensorFreeBuffers(net));
  /* values now; cotangents and tangents when a reverse or forward-mode pass first needs them */
  for (PetscInt i = 0; i < net->ntensor; i++) PetscCall(PetscMalloc1((size_t)B * NNTensorSize(net, i) + 1, &net->tensor[i].val));
  net->have_grad = net->have_tan = PETSC_FALSE;
  for (PetscInt k = 0; k < net->nop; k++) {
    const NNOp *op = &net->op[k];
    PetscInt    l;
    switch (op->type) {
    case NN_OP_CONV3: {
      PetscInt Cin = net->tensor[op->in[0]].C, Co = net->tensor[op->out].C, C = PetscMax(Cin, Co);
      l      = net->tensor[op->out].level;
      nwork  = PetscMax(nwork, (size_t)B * C * (net->lev[l].mnyl + 2) * net->lev[l].nx);
      nwork2 = PetscMax(nwork2, (size_t)9 * C * net->lev[l].mnyl * net->lev[l].nx + (size_t)9 * Cin * Co);
    } break;
    case NN_OP_POOL:
    case NN_OP_UPT:
    case NN_OP_UP: {
      PetscInt lf = PetscMin(net->tensor[op->in[0]].level, net->tensor[op->out].level), C = PetscMax(net->tensor[op->out].C, net->tensor[op->in[0]].C);
      nwork       = PetscMax(nwork, (size_t)B * C * net->f2c[lf].nreq * net->lev[lf].nx);
      nwork       = PetscMax(nwork, (size_t)B * C * net->c2f[lf].nreq * net->lev[lf + 1].nx);
    } break;
    case NN_OP_GROUPNORM:
      gmax  = PetscMax(gmax, op->groups);
      nwork = PetscMax(nwork, (size_t)B * NNTensorSize(net, op->out)); /* cotangent of xhat */
      break;
    case NN_OP_FILM:
      nwork2 = PetscMax(nwork2, (size_t)4 * B * net->tensor[op->out].C);
      break;
    case NN_OP_INPUT_VECTOR:
      nwork = PetscMax(nwork, (size_t)2 * B * net->tensor[op->out].C);
      break;
    default:
      break;
    }
  }
  PetscCall(PetscFree(net->work));
  PetscCall(PetscFree(net->work2));
  PetscCall(PetscFree(net->red));
  PetscCall(PetscFree(net->t32));
  PetscCall(PetscMalloc1(nwork, &net->work));
  PetscCall(PetscMalloc1(nwork2, &net->work2));
  PetscCall(PetscMalloc1(4 * B * gmax + 1, &net->red));
  PetscCall(PetscMalloc1(B, &net->t32));
  net->nwork  = nwork;
  net->nwork2 = nwork2;
  for (PetscInt k = 0; k < net->nop; k++) {
    if (net->op[k].type != NN_OP_GROUPNORM) continue;
    PetscCall(PetscFree(net->op[k].stat));
    PetscCall(PetscMalloc1(2 * B * net->op[k].groups, &net->op[k].stat));
  }
  net->bplan = B;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode NNActivationBytes(DaisiNet net, PetscInt B, PetscLogDouble *bytes)
{
  PetscFunctionBegin;
  *bytes = 0;
  for (PetscInt i = 0; i < net->ntensor; i++) *bytes += (PetscLogDouble)B * NNTensorSize(net, i) * sizeof(float);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNGraphPlanDerivatives(DaisiNet net, PetscBool grad, PetscBool tan)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < net->ntensor; i++) {
    size_t n = (size_t)net->bplan * NNTensorSize(net, i) + 1;
    if (grad && !net->have_grad) PetscCall(PetscMalloc1(n, &net->tensor[i].grad));
    if (tan && !net->have_tan) PetscCall(PetscMalloc1(n, &net->tensor[i].tan));
  }
  if (grad && !net->have_grad) {
    PetscCall(PetscFree(net->gfresh));
    PetscCall(PetscMalloc1(net->ntensor, &net->gfresh));
  }
  if (grad) net->have_grad = PETSC_TRUE;
  if (tan) net->have_tan = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode NNGraphFree(DaisiNet net)
{
  PetscFunctionBegin;
  PetscCall(NNTensorFreeBuffers(net));
  for (PetscInt k = 0; k < net->nop; k++) {
    PetscCall(PetscFree(net->op[k].stat));
    PetscCall(NNDnnlOpDestroy(&net->op[k].dnnl));
  }
  PetscCall(PetscFree(net->op));
  PetscCall(PetscFree(net->tensor));
  for (PetscInt l = 0; l < net->nlevels; l++) {
    PetscCall(NNRowGatherDestroy(&net->halo[l]));
    if (l + 1 < net->nlevels) {
      PetscCall(NNRowGatherDestroy(&net->f2c[l]));
      PetscCall(NNRowGatherDestroy(&net->c2f[l]));
    }
    PetscCall(NNLevelDestroy(&net->lev[l]));
  }
  PetscCall(PetscFree(net->work));
  PetscCall(PetscFree(net->work2));
  PetscCall(PetscFree(net->red));
  PetscCall(PetscFree(net->t32));
  PetscCall(PetscFree(net->sendbuf));
  PetscCall(PetscFree(net->gfresh));
  net->nsendbuf = 0;
  net->ntensor = net->maxtensor = net->nop = net->maxop = 0;
  net->bplan                                             = 0;
  net->nlevels                                           = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Weights ~ N(0, 1/fan_in) (variance preserving for the linear part), biases zero,
 * group-norm scale one and shift zero. The normal of parameter i is keyed by i alone, so
 * the weights do not depend on the rank count. */
PetscErrorCode NNGraphInitWeights(DaisiNet net, PetscInt64 seed)
{
  DaisiRng rng = DaisiRngMake((uint64_t)seed, DAISI_RNG_NN_INIT, 0, 0, 0);

  PetscFunctionBegin;
  for (PetscInt k = 0; k < net->nop; k++) {
    const NNOp *op = &net->op[k];
    float      *p  = net->theta + op->poff;
    PetscInt    Cin = op->in[0] >= 0 ? net->tensor[op->in[0]].C : 0, Co = net->tensor[op->out].C, nw = 0, fan = 1;
    switch (op->type) {
    case NN_OP_LINEAR:
    case NN_OP_CONV1:
      nw  = Co * Cin;
      fan = Cin;
      break;
    case NN_OP_CONV3:
      nw  = Co * Cin * 9;
      fan = Cin * 9;
      break;
    case NN_OP_UPT:
      nw  = Co * Cin * 4;
      fan = Cin;
      break;
    case NN_OP_FILM:
      nw  = 2 * Co * net->tensor[op->in[1]].C;
      fan = net->tensor[op->in[1]].C;
      break;
    case NN_OP_GROUPNORM:
      for (PetscInt c = 0; c < Co; c++) {
        p[c]      = 1.0f;
        p[Co + c] = 0.0f;
      }
      continue;
    default:
      continue;
    }
    for (PetscInt i = 0; i < nw; i++) p[i] = (float)(DaisiRngNormal(&rng, (uint64_t)(op->poff + i)) / PetscSqrtReal((PetscReal)fan));
    for (PetscInt i = nw; i < op->np; i++) p[i] = 0.0f;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------------------------------ */
/* local kernels                                                                        */
/* ------------------------------------------------------------------------------------ */

/* col[(c*9 + di*3 + dj)][i][j] = G[c][i + di][(j + dj - 1) mod nx] for a halo-padded slab
 * G[C][nyl + 2][nx]: the periodic wrap in x is done here, the one in y by the halo. */
static void NNIm2Col(PetscInt C, PetscInt nyl, PetscInt nx, const float *G, float *col)
{
  for (PetscInt c = 0; c < C; c++)
    for (PetscInt di = 0; di < 3; di++)
      for (PetscInt i = 0; i < nyl; i++) {
        const float *s  = G + (c * (nyl + 2) + i + di) * nx;
        float       *d0 = col + ((c * 9 + di * 3 + 0) * nyl + i) * nx;
        float       *d1 = col + ((c * 9 + di * 3 + 1) * nyl + i) * nx;
        float       *d2 = col + ((c * 9 + di * 3 + 2) * nyl + i) * nx;
        d0[0]           = s[nx - 1];
        for (PetscInt j = 1; j < nx; j++) d0[j] = s[j - 1];
        for (PetscInt j = 0; j < nx; j++) d1[j] = s[j];
        for (PetscInt j = 0; j < nx - 1; j++) d2[j] = s[j + 1];
        d2[nx - 1] = s[0];
      }
}

/* Y_b[O][hw] (+)= W[O][9C] * im2col(G_b) (+ bias) for every sample */
static PetscErrorCode NNConv3Apply(DaisiNet net, PetscInt B, PetscInt C, PetscInt O, PetscInt nyl, PetscInt nx, const float *G, const float *W, const float *bias, float beta, float *Y)
{
  PetscInt hw = nyl * nx;
  float   *col = net->work2 + 9 * C * O; /* the first 9 C O entries may hold flipped weights */

  PetscFunctionBegin;
  if (hw == 0) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt b = 0; b < B; b++) {
    float *y = Y + b * O * hw;
    NNIm2Col(C, nyl, nx, G + b * C * (nyl + 2) * nx, col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)O, (int)hw, (int)(9 * C), 1.0f, W, (int)(9 * C), col, (int)hw, beta, y, (int)hw);
    if (bias)
      for (PetscInt o = 0; o < O; o++)
        for (PetscInt k = 0; k < hw; k++) y[o * hw + k] += bias[o];
  }
  PetscCall(PetscLogFlops(2.0 * B * O * 9 * C * hw));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* exp for the sigmoid, written so that the compiler vectorises the loops that call it
 * (libm's expf is a scalar call): x = k ln2 + r with |r| <= ln2/2 (Cody-Waite split of
 * ln2), e^r by its Taylor polynomial of degree 7 (truncation < 2e-8 relative, below float
 * rounding), 2^k built in the exponent bits. Arguments are clamped to the float range. */
static inline float NNExp(float x)
{
  float    k, r, p, scale;
  int32_t  ki;
  uint32_t bits;
  x  = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  k  = rintf(x * 1.44269504088896341f);
  r  = x - k * 0.693359375f + k * 2.12194440e-4f;
  p  = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
  ki = (int32_t)k;
  bits = (uint32_t)(ki + 127) << 23;
  memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

/* Direct periodic 3x3 convolution for thin layers (a state with one or two levels in or
 * out): oneDNN pads those to 16 channels and ran them at ~10 GFLOP/s, while these row
 * loops stay in L1. G: halo slab [B][C][h+2][w]; Y [B][O][h][w] (+)= W * G (+ bias). */
static void NNConv3Row(PetscInt w, const float *restrict s, float w0, float w1, float w2, float *restrict y)
{
  if (w == 1) {
    y[0] += (w0 + w1 + w2) * s[0];
    return;
  }
  y[0] += w0 * s[w - 1] + w1 * s[0] + w2 * s[1];
  for (PetscInt x = 1; x < w - 1; x++) y[x] += w0 * s[x - 1] + w1 * s[x] + w2 * s[x + 1];
  y[w - 1] += w0 * s[w - 2] + w1 * s[w - 1] + w2 * s[0];
}

static PetscErrorCode NNConv3Direct(PetscInt B, PetscInt C, PetscInt O, PetscInt h, PetscInt w, const float *G, const float *W, const float *bias, PetscBool acc, float *Y)
{
  PetscFunctionBegin;
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt o = 0; o < O; o++)
      for (PetscInt i = 0; i < h; i++) {
        float *y = Y + ((b * O + o) * h + i) * w;
        if (!acc)
          for (PetscInt x = 0; x < w; x++) y[x] = bias ? bias[o] : 0.0f;
        for (PetscInt c = 0; c < C; c++)
          for (PetscInt di = 0; di < 3; di++) {
            const float *k = W + (o * C + c) * 9 + di * 3;
            NNConv3Row(w, G + ((b * C + c) * (h + 2) + i + di) * w, k[0], k[1], k[2], y);
          }
      }
  PetscCall(PetscLogFlops(2.0 * B * O * 9 * C * h * w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscBool NNConv3Thin(PetscInt Ci, PetscInt Co)
{
  return (PetscBool)(PetscMin(Ci, Co) <= 2);
}

static inline float NNSigmoid(float x)
{
  return 1.0f / (1.0f + NNExp(-x));
}

/* SiLU y = x sigmoid(x) and its derivative s (1 + x (1 - s)), as separate loops without
 * aliasing so that they vectorise */
static void NNSiluForward(PetscInt n, const float *restrict x, float *restrict y)
{
  for (PetscInt i = 0; i < n; i++) y[i] = x[i] * NNSigmoid(x[i]);
}
static void NNSiluTangent(PetscInt n, const float *restrict x, const float *restrict v, float *restrict t)
{
  for (PetscInt i = 0; i < n; i++) {
    float s = NNSigmoid(x[i]);
    t[i]    = v[i] * (s + x[i] * s * (1.0f - s));
  }
}
static void NNSiluReverse(PetscInt n, const float *restrict x, const float *restrict g, PetscBool assign, float *restrict gx)
{
  if (assign)
    for (PetscInt i = 0; i < n; i++) {
      float s = NNSigmoid(x[i]);
      gx[i]   = g[i] * (s + x[i] * s * (1.0f - s));
    }
  else
    for (PetscInt i = 0; i < n; i++) {
      float s = NNSigmoid(x[i]);
      gx[i] += g[i] * (s + x[i] * s * (1.0f - s));
    }
}

/* Group-norm sums over the slab of every (sample, group), reduced over the ranks that hold
 * the samples: red[(b*G + g)*2 + {0,1}] = global sums of a and a*b2 (b2 = NULL: a*a). */
static PetscErrorCode NNGroupSums(DaisiNet net, PetscInt B, PetscInt C, PetscInt G, PetscInt S, const float *a, const float *b2, const double *stat, const float *x)
{
  PetscInt cg = C / G;

  PetscFunctionBegin;
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt g = 0; g < G; g++) {
      double s1 = 0, s2 = 0;
      for (PetscInt c = g * cg; c < (g + 1) * cg; c++) {
        const float *pa = a + (b * C + c) * S;
        if (!b2 && !x) {
          for (PetscInt k = 0; k < S; k++) {
            s1 += pa[k];
            s2 += (double)pa[k] * pa[k];
          }
        } else {
          /* second sum against xhat = (x - mean) * rstd */
          const float *px = x + (b * C + c) * S;
          double       mu = stat[2 * (b * G + g)], rs = stat[2 * (b * G + g) + 1];
          for (PetscInt k = 0; k < S; k++) {
            s1 += pa[k];
            s2 += (double)pa[k] * ((px[k] - mu) * rs);
          }
        }
      }
      net->red[2 * (b * G + g)]     = s1;
      net->red[2 * (b * G + g) + 1] = s2;
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, net->red, (PetscMPIInt)(2 * B * G), MPI_DOUBLE, MPI_SUM, net->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------------------------------ */
/* forward (and forward mode)                                                           */
/* ------------------------------------------------------------------------------------ */
static PetscErrorCode NNOpForward(DaisiNet net, NNOp *op, PetscInt B, const PetscReal x[], PetscBool tangent, const PetscReal v[])
{
  NNTensor *Y = &net->tensor[op->out], *X = op->in[0] >= 0 ? &net->tensor[op->in[0]] : NULL, *X1 = op->in[1] >= 0 ? &net->tensor[op->in[1]] : NULL;
  PetscInt  S = NNTensorRows(net, op->out) * NNTensorNx(net, op->out), C = Y->C, n = C * S;
  const float *p = net->theta + op->poff;

  PetscFunctionBegin;
  switch (op->type) {
  case NN_OP_INPUT_FIELD:
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++) {
        double m = net->in_mean[c], s = 1.0 / net->in_std[c];
        for (PetscInt k = 0; k < S; k++) {
          Y->val[(b * C + c) * S + k] = (float)((x[(b * C + c) * S + k] - m) * s);
          if (tangent) Y->tan[(b * C + c) * S + k] = (float)(v[(b * C + c) * S + k] * s);
        }
      }
    break;
  case NN_OP_INPUT_VECTOR: {
    /* gather the whole state (global order) on every rank */
    PetscInt     nloc = DaisiGridLocalSize(&net->grid), nl = net->grid.nlev, ny = net->grid.ny, nxg = net->grid.nx;
    PetscMPIInt *cnt, *dsp;
    double      *full, *send;
    PetscCall(PetscMalloc4(net->size, &cnt, net->size, &dsp, (size_t)B * C * (tangent ? 2 : 1), &full, (size_t)B * nloc * (tangent ? 2 : 1) + 1, &send));
    for (PetscMPIInt r = 0; r < net->size; r++) {
      cnt[r] = (PetscMPIInt)(B * nl * net->lev[0].nyl[r] * nxg * (tangent ? 2 : 1));
      dsp[r] = (PetscMPIInt)(B * nl * net->lev[0].y0[r] * nxg * (tangent ? 2 : 1));
    }
    for (PetscInt i = 0; i < B * nloc; i++) send[i] = x[i];
    if (tangent)
      for (PetscInt i = 0; i < B * nloc; i++) send[B * nloc + i] = v[i];
    PetscCallMPI(MPI_Allgatherv(send, (PetscMPIInt)(B * nloc * (tangent ? 2 : 1)), MPI_DOUBLE, full, cnt, dsp, MPI_DOUBLE, net->comm));
    for (PetscMPIInt r = 0; r < net->size; r++) {
      PetscInt nyr = net->lev[0].nyl[r], y0r = net->lev[0].y0[r], nr = nl * nyr * nxg;
      for (PetscInt w = 0; w < (tangent ? 2 : 1); w++)
        for (PetscInt b = 0; b < B; b++)
          for (PetscInt l = 0; l < nl; l++)
            for (PetscInt yy = 0; yy < nyr; yy++)
              for (PetscInt xi = 0; xi < nxg; xi++) {
                PetscInt gidx = (l * ny + y0r + yy) * nxg + xi;
                double   val  = full[dsp[r] + (w * B + b) * nr + (l * nyr + yy) * nxg + xi];
                if (w == 0) Y->val[b * C + gidx] = (float)((val - net->in_mean[gidx]) / net->in_std[gidx]);
                else Y->tan[b * C + gidx] = (float)(val / net->in_std[gidx]);
              }
    }
    PetscCall(PetscFree4(cnt, dsp, full, send));
  } break;
  case NN_OP_FOURIER: {
    PetscInt K = C / 2;
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt k = 0; k < K; k++) {
        double f = K > 1 ? PetscPowReal(net->time_max_freq, (double)k / (K - 1)) : 1.0;
        Y->val[b * C + k]     = (float)PetscSinReal(2 * PETSC_PI * f * net->t32[b]);
        Y->val[b * C + K + k] = (float)PetscCosReal(2 * PETSC_PI * f * net->t32[b]);
      }
  } break;
  case NN_OP_LINEAR: {
    PetscInt Ci = X->C;
    PetscCall(PetscLogEventBegin(NN_EV_VECTOR, 0, 0, 0, 0));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt o = 0; o < C; o++) Y->val[b * C + o] = p[C * Ci + o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)C, (int)Ci, 1.0f, X->val, (int)Ci, p, (int)Ci, 1.0f, Y->val, (int)C);
    if (tangent) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)C, (int)Ci, 1.0f, X->tan, (int)Ci, p, (int)Ci, 0.0f, Y->tan, (int)C);
    PetscCall(PetscLogEventEnd(NN_EV_VECTOR, 0, 0, 0, 0));
  } break;
  case NN_OP_SILU:
    PetscCall(PetscLogEventBegin(NN_EV_POINT, 0, 0, 0, 0));
    NNSiluForward(B * n, X->val, Y->val);
    if (tangent) NNSiluTangent(B * n, X->val, X->tan, Y->tan);
    PetscCall(PetscLogEventEnd(NN_EV_POINT, 0, 0, 0, 0));
    break;
  case NN_OP_ADD:
    for (PetscInt i = 0; i < B * n; i++) Y->val[i] = X->val[i] + X1->val[i];
    if (tangent)
      for (PetscInt i = 0; i < B * n; i++) Y->tan[i] = X->tan[i] + X1->tan[i];
    break;
  case NN_OP_CONCAT: {
    PetscInt na = X->C * S, nb = X1->C * S;
    for (PetscInt b = 0; b < B; b++) {
      PetscCall(PetscArraycpy(Y->val + b * n, X->val + b * na, na));
      PetscCall(PetscArraycpy(Y->val + b * n + na, X1->val + b * nb, nb));
      if (tangent) {
        PetscCall(PetscArraycpy(Y->tan + b * n, X->tan + b * na, na));
        PetscCall(PetscArraycpy(Y->tan + b * n + na, X1->tan + b * nb, nb));
      }
    }
  } break;
  case NN_OP_CONV3: {
    PetscInt l = Y->level, nyl = net->lev[l].mnyl, nx = net->lev[l].nx, Ci = X->C;
    PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(NNRowGatherApply(net, &net->halo[l], B, Ci, nyl, X->val, net->work));
    PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(PetscLogEventBegin(NN_EV_CONV3, 0, 0, 0, 0));
    if (net->backend == NN_CONV_DNNL && NNConv3Thin(Ci, C)) PetscCall(NNConv3Direct(B, Ci, C, nyl, nx, net->work, p, p + C * Ci * 9, PETSC_FALSE, Y->val));
    else if (net->backend == NN_CONV_DNNL) PetscCall(NNDnnlConv3(net, op, PETSC_FALSE, B, Ci, C, nyl, nx, net->work, p, p + C * Ci * 9, PETSC_FALSE, Y->val));
    else PetscCall(NNConv3Apply(net, B, Ci, C, nyl, nx, net->work, p, p + C * Ci * 9, 0.0f, Y->val));
    PetscCall(PetscLogEventEnd(NN_EV_CONV3, 0, 0, 0, 0));
    if (tangent) {
      PetscCall(NNRowGatherApply(net, &net->halo[l], B, Ci, nyl, X->tan, net->work));
      PetscCall(PetscLogEventBegin(NN_EV_CONV3, 0, 0, 0, 0));
      if (net->backend == NN_CONV_DNNL && NNConv3Thin(Ci, C)) PetscCall(NNConv3Direct(B, Ci, C, nyl, nx, net->work, p, NULL, PETSC_FALSE, Y->tan));
      else if (net->backend == NN_CONV_DNNL) PetscCall(NNDnnlConv3(net, op, PETSC_FALSE, B, Ci, C, nyl, nx, net->work, p, NULL, PETSC_FALSE, Y->tan));
      else PetscCall(NNConv3Apply(net, B, Ci, C, nyl, nx, net->work, p, NULL, 0.0f, Y->tan));
      PetscCall(PetscLogEventEnd(NN_EV_CONV3, 0, 0, 0, 0));
    }
  } break;
  case NN_OP_CONV1: {
    PetscInt Ci = X->C;
    if (S == 0) break;
    PetscCall(PetscLogEventBegin(NN_EV_CONV1, 0, 0, 0, 0));
    for (PetscInt b = 0; b < B; b++) {
      float *y = Y->val + b * n;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)C, (int)S, (int)Ci, 1.0f, p, (int)Ci, X->val + b * Ci * S, (int)S, 0.0f, y, (int)S);
      for (PetscInt o = 0; o < C; o++)
        for (PetscInt k = 0; k < S; k++) y[o * S + k] += p[C * Ci + o];
      if (tangent) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)C, (int)S, (int)Ci, 1.0f, p, (int)Ci, X->tan + b * Ci * S, (int)S, 0.0f, Y->tan + b * n, (int)S);
    }
    PetscCall(PetscLogFlops(2.0 * B * C * Ci * S * (tangent ? 2 : 1)));
    PetscCall(PetscLogEventEnd(NN_EV_CONV1, 0, 0, 0, 0));
  } break;
  case NN_OP_GROUPNORM: {
    PetscInt G = op->groups, cg = C / G;
    double   N = (double)cg * net->lev[Y->level].ny * net->lev[Y->level].nx;
    PetscCall(PetscLogEventBegin(NN_EV_GN, 0, 0, 0, 0));
    PetscCall(NNGroupSums(net, B, C, G, S, X->val, NULL, NULL, NULL));
    for (PetscInt i = 0; i < B * G; i++) {
      double mu = net->red[2 * i] / N, var = PetscMax(net->red[2 * i + 1] / N - mu * mu, 0.0);
      op->stat[2 * i]     = mu;
      op->stat[2 * i + 1] = 1.0 / PetscSqrtReal(var + net->gn_eps);
    }
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++) {
        float        mu = (float)op->stat[2 * (b * G + c / cg)], rs = (float)op->stat[2 * (b * G + c / cg) + 1];
        float        ga = p[c] * rs, be = p[C + c] - p[c] * rs * mu;
        const float *xi = X->val + (b * C + c) * S;
        float       *yo = Y->val + (b * C + c) * S;
        for (PetscInt k = 0; k < S; k++) yo[k] = ga * xi[k] + be;
      }
    if (tangent) {
      PetscCall(NNGroupSums(net, B, C, G, S, X->tan, X->tan, op->stat, X->val));
      for (PetscInt b = 0; b < B; b++)
        for (PetscInt c = 0; c < C; c++) {
          PetscInt     bg = b * G + c / cg;
          float        mu = (float)op->stat[2 * bg], rs = (float)op->stat[2 * bg + 1];
          float        mv = (float)(net->red[2 * bg] / N), mxv = (float)(net->red[2 * bg + 1] / N);
          const float *xi = X->val + (b * C + c) * S, *vi = X->tan + (b * C + c) * S;
          float       *to = Y->tan + (b * C + c) * S;
          for (PetscInt k = 0; k < S; k++) to[k] = p[c] * rs * (vi[k] - mv - (xi[k] - mu) * rs * mxv);
        }
    }
    PetscCall(PetscLogEventEnd(NN_EV_GN, 0, 0, 0, 0));
  } break;
  case NN_OP_FILM: {
    PetscInt E  = X1->C;
    float   *ss = net->work2; /* [B][2C] */
    PetscCall(PetscLogEventBegin(NN_EV_POINT, 0, 0, 0, 0));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt k = 0; k < 2 * C; k++) ss[b * 2 * C + k] = p[2 * C * E + k];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)(2 * C), (int)E, 1.0f, X1->val, (int)E, p, (int)E, 1.0f, ss, (int)(2 * C));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++) {
        float        sc = 1.0f + ss[b * 2 * C + c], sh = ss[b * 2 * C + C + c];
        const float *h  = X->val + (b * C + c) * S;
        float       *yo = Y->val + (b * C + c) * S;
        for (PetscInt k = 0; k < S; k++) yo[k] = h[k] * sc + sh;
        if (tangent)
          for (PetscInt k = 0; k < S; k++) Y->tan[(b * C + c) * S + k] = X->tan[(b * C + c) * S + k] * sc;
      }
    PetscCall(PetscLogEventEnd(NN_EV_POINT, 0, 0, 0, 0));
  } break;
  case NN_OP_POOL: {
    PetscInt lf = X->level, nxf = net->lev[lf].nx, nyc = Y->level >= 0 ? net->lev[Y->level].mnyl : 0, nxc = nxf / 2;
    for (PetscInt w = 0; w < (tangent ? 2 : 1); w++) {
      const float *src = w ? X->tan : X->val;
      float       *dst = w ? Y->tan : Y->val;
      PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(NNRowGatherApply(net, &net->f2c[lf], B, C, net->lev[lf].mnyl, src, net->work));
      PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
      for (PetscInt bc = 0; bc < B * C; bc++)
        for (PetscInt i = 0; i < nyc; i++) {
          const float *r0 = net->work + (bc * 2 * nyc + 2 * i) * nxf, *r1 = r0 + nxf;
          float       *d  = dst + (bc * nyc + i) * nxc;
          for (PetscInt j = 0; j < nxc; j++) d[j] = 0.25f * (r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1]);
        }
    }
  } break;
  case NN_OP_UP: {
    PetscInt lf = Y->level, lc = X->level, nxf = net->lev[lf].nx, nyf = net->lev[lf].mnyl, y0f = net->lev[lf].my0, nxc = net->lev[lc].nx, nr = net->c2f[lf].nreq;
    for (PetscInt w = 0; w < (tangent ? 2 : 1); w++) {
      const float *src = w ? X->tan : X->val;
      float       *dst = w ? Y->tan : Y->val;
      PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(NNRowGatherApply(net, &net->c2f[lf], B, C, net->lev[lc].mnyl, src, net->work));
      PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
      for (PetscInt bc = 0; bc < B * C; bc++)
        for (PetscInt i = 0; i < nyf; i++) {
          const float *s = net->work + (bc * nr + (y0f + i) / 2 - y0f / 2) * nxc;
          float       *d = dst + (bc * nyf + i) * nxf;
          for (PetscInt j = 0; j < nxf; j++) d[j] = s[j / 2];
        }
    }
  } break;
  case NN_OP_UPT: {
    /* fine (2i+a, 2j+bx) = b[o] + sum_c W[c][o][a][bx] coarse(i, j): gather the coarse rows
     * over my fine rows, as for nearest up-sampling */
    PetscInt lf = Y->level, lc = X->level, nxf = net->lev[lf].nx, nyf = net->lev[lf].mnyl, y0f = net->lev[lf].my0, nxc = net->lev[lc].nx, nr = net->c2f[lf].nreq, Ci = X->C;
    for (PetscInt w = 0; w < (tangent ? 2 : 1); w++) {
      const float *src = w ? X->tan : X->val;
      float       *dst = w ? Y->tan : Y->val;
      PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(NNRowGatherApply(net, &net->c2f[lf], B, Ci, net->lev[lc].mnyl, src, net->work));
      PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(PetscLogEventBegin(NN_EV_CONV1, 0, 0, 0, 0));
      for (PetscInt b = 0; b < B; b++)
        for (PetscInt i = 0; i < nyf; i++) {
          PetscInt a = (y0f + i) % 2, r = (y0f + i) / 2 - y0f / 2;
          for (PetscInt o = 0; o < C; o++) {
            float *yr = dst + ((b * C + o) * nyf + i) * nxf;
            for (PetscInt j = 0; j < nxf; j++) yr[j] = w ? 0.0f : p[Ci * C * 4 + o];
            for (PetscInt c = 0; c < Ci; c++) {
              const float *g  = net->work + ((b * Ci + c) * nr + r) * nxc;
              float        w0 = p[((c * C + o) * 2 + a) * 2], w1 = p[((c * C + o) * 2 + a) * 2 + 1];
              for (PetscInt jc = 0; jc < nxc; jc++) {
                yr[2 * jc] += w0 * g[jc];
                yr[2 * jc + 1] += w1 * g[jc];
              }
            }
          }
        }
      PetscCall(PetscLogFlops(2.0 * B * nyf * nxf * Ci * C));
      PetscCall(PetscLogEventEnd(NN_EV_CONV1, 0, 0, 0, 0));
    }
  } break;
  default:
    SETERRQ(net->comm, PETSC_ERR_PLIB, "unknown op");
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Tensors that do not depend on the input (time embedding) have zero tangent and need no
 * input cotangent; dep[] marks the others. */
static PetscErrorCode NNDependsOnInput(DaisiNet net, PetscBool *dep)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < net->ntensor; i++) dep[i] = PETSC_FALSE;
  for (PetscInt k = 0; k < net->nop; k++) {
    const NNOp *op = &net->op[k];
    dep[op->out]   = (PetscBool)(op->type == NN_OP_INPUT_FIELD || op->type == NN_OP_INPUT_VECTOR || (op->in[0] >= 0 && dep[op->in[0]]) || (op->in[1] >= 0 && dep[op->in[1]]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode NNForwardPass(DaisiNet net, PetscInt B, const PetscReal t[], const PetscReal x[], PetscBool tangent, const PetscReal v[])
{
  PetscBool *dep;

  PetscFunctionBegin;
  PetscCall(NNGraphPlan(net, B));
  if (tangent) PetscCall(NNGraphPlanDerivatives(net, PETSC_FALSE, PETSC_TRUE));
  for (PetscInt b = 0; b < B; b++) net->t32[b] = t ? (float)t[b] : 0.0f;
  PetscCall(PetscMalloc1(net->ntensor, &dep));
  PetscCall(NNDependsOnInput(net, dep));
  for (PetscInt k = 0; k < net->nop; k++) {
    NNOp *op = &net->op[k];
    if (tangent && !dep[op->out]) PetscCall(PetscArrayzero(net->tensor[op->out].tan, B * NNTensorSize(net, op->out)));
    PetscCall(NNOpForward(net, op, B, x, (PetscBool)(tangent && dep[op->out]), v));
  }
  PetscCall(PetscFree(dep));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* y = out_mean + out_std * (network output) on this rank's part of the state */
PetscErrorCode NNGetOutput(DaisiNet net, PetscInt B, PetscBool tangent, PetscReal y[])
{
  NNTensor *Y    = &net->tensor[net->output];
  PetscInt  nloc = DaisiGridLocalSize(&net->grid);
  float    *a    = tangent ? Y->tan : Y->val;

  PetscFunctionBegin;
  if (Y->level >= 0) {
    PetscInt C = Y->C, S = NNTensorRows(net, net->output) * NNTensorNx(net, net->output);
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++)
        for (PetscInt k = 0; k < S; k++) y[(b * C + c) * S + k] = (tangent ? 0.0 : net->out_mean[c]) + net->out_std[c] * a[(b * C + c) * S + k];
  } else {
    PetscInt C = Y->C, nl = net->grid.nlev, nyl = net->grid.nyl, nx = net->grid.nx;
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt l = 0; l < nl; l++)
        for (PetscInt yy = 0; yy < nyl; yy++)
          for (PetscInt xi = 0; xi < nx; xi++) {
            PetscInt g                                 = (l * net->grid.ny + net->grid.y0 + yy) * nx + xi;
            y[b * nloc + (l * nyl + yy) * nx + xi] = (tangent ? 0.0 : net->out_mean[g]) + net->out_std[g] * a[b * C + g];
          }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------------------------------ */
/* reverse mode                                                                         */
/* ------------------------------------------------------------------------------------ */

/* Cotangent buffers are not cleared up front: the first op to write a tensor's cotangent
 * assigns it (when its kernel can), later ones accumulate. *assign tells the kernel which;
 * kernels that only accumulate pass can_assign = false and get a cleared buffer. */
static PetscErrorCode NNGradTarget(DaisiNet net, PetscInt id, PetscInt B, PetscBool can_assign, PetscBool *assign)
{
  PetscFunctionBegin;
  *assign = PETSC_FALSE;
  if (!net->gfresh[id]) PetscFunctionReturn(PETSC_SUCCESS);
  net->gfresh[id] = PETSC_FALSE;
  if (can_assign) *assign = PETSC_TRUE;
  else PetscCall(PetscArrayzero(net->tensor[id].grad, B * NNTensorSize(net, id)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void NNAddOrCopy(PetscInt n, PetscBool assign, const float *restrict a, float *restrict y)
{
  if (assign)
    for (PetscInt i = 0; i < n; i++) y[i] = a[i];
  else
    for (PetscInt i = 0; i < n; i++) y[i] += a[i];
}
static PetscErrorCode NNOpReverse(DaisiNet net, NNOp *op, PetscInt B, PetscReal gx[], PetscBool param, const PetscBool dep[])
{
  NNTensor *Y = &net->tensor[op->out], *X = op->in[0] >= 0 ? &net->tensor[op->in[0]] : NULL, *X1 = op->in[1] >= 0 ? &net->tensor[op->in[1]] : NULL;
  PetscInt  S = NNTensorRows(net, op->out) * NNTensorNx(net, op->out), C = Y->C, n = C * S;
  const float *p  = net->theta + op->poff;
  float       *gp = net->gradlocal + op->poff;
  const float *gy = Y->grad;
  PetscBool    gin0 = (PetscBool)(X && (dep[op->in[0]] || param)), gin1 = (PetscBool)(X1 && (dep[op->in[1]] || param)), as0 = PETSC_FALSE, as1 = PETSC_FALSE;

  PetscFunctionBegin;
  /* cotangents of the inputs this op writes: assignable by the bulk kernels, else cleared */
  switch (op->type) {
  case NN_OP_INPUT_FIELD:
  case NN_OP_INPUT_VECTOR:
  case NN_OP_FOURIER:
    break;
  case NN_OP_LINEAR:
    if (gin0) PetscCall(NNGradTarget(net, op->in[0], B, PETSC_TRUE, &as0));
    break;
  case NN_OP_SILU:
  case NN_OP_CONV3:
  case NN_OP_CONV1:
    PetscCall(NNGradTarget(net, op->in[0], B, PETSC_TRUE, &as0));
    break;
  case NN_OP_ADD:
  case NN_OP_CONCAT:
    PetscCall(NNGradTarget(net, op->in[0], B, PETSC_TRUE, &as0));
    PetscCall(NNGradTarget(net, op->in[1], B, PETSC_TRUE, &as1));
    break;
  case NN_OP_FILM:
    PetscCall(NNGradTarget(net, op->in[0], B, PETSC_FALSE, &as0));
    if (param) PetscCall(NNGradTarget(net, op->in[1], B, PETSC_FALSE, &as1));
    break;
  default:
    PetscCall(NNGradTarget(net, op->in[0], B, PETSC_FALSE, &as0));
    break;
  }
  switch (op->type) {
  case NN_OP_INPUT_FIELD:
    if (gx)
      for (PetscInt b = 0; b < B; b++)
        for (PetscInt c = 0; c < C; c++)
          for (PetscInt k = 0; k < S; k++) gx[(b * C + c) * S + k] = gy[(b * C + c) * S + k] / net->in_std[c];
    break;
  case NN_OP_INPUT_VECTOR:
    if (gx) {
      PetscInt nloc = DaisiGridLocalSize(&net->grid), nl = net->grid.nlev, nyl = net->grid.nyl, nx = net->grid.nx;
      for (PetscInt b = 0; b < B; b++)
        for (PetscInt l = 0; l < nl; l++)
          for (PetscInt yy = 0; yy < nyl; yy++)
            for (PetscInt xi = 0; xi < nx; xi++) {
              PetscInt g                              = (l * net->grid.ny + net->grid.y0 + yy) * nx + xi;
              gx[b * nloc + (l * nyl + yy) * nx + xi] = gy[b * C + g] / net->in_std[g];
            }
    }
    break;
  case NN_OP_FOURIER:
    break;
  case NN_OP_LINEAR: {
    PetscInt Ci = X->C;
    PetscCall(PetscLogEventBegin(NN_EV_VECTOR, 0, 0, 0, 0));
    if (gin0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)Ci, (int)C, 1.0f, gy, (int)C, p, (int)Ci, as0 ? 0.0f : 1.0f, X->grad, (int)Ci);
    if (param) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)Ci, (int)B, 1.0f, gy, (int)C, X->val, (int)Ci, 1.0f, gp, (int)Ci);
      for (PetscInt b = 0; b < B; b++)
        for (PetscInt o = 0; o < C; o++) gp[C * Ci + o] += gy[b * C + o];
    }
    PetscCall(PetscLogEventEnd(NN_EV_VECTOR, 0, 0, 0, 0));
  } break;
  case NN_OP_SILU:
    PetscCall(PetscLogEventBegin(NN_EV_POINT, 0, 0, 0, 0));
    NNSiluReverse(B * n, X->val, gy, as0, X->grad);
    PetscCall(PetscLogEventEnd(NN_EV_POINT, 0, 0, 0, 0));
    break;
  case NN_OP_ADD:
    NNAddOrCopy(B * n, as0, gy, X->grad);
    NNAddOrCopy(B * n, as1, gy, X1->grad);
    break;
  case NN_OP_CONCAT: {
    PetscInt na = X->C * S, nb = X1->C * S;
    for (PetscInt b = 0; b < B; b++) {
      NNAddOrCopy(na, as0, gy + b * n, X->grad + b * na);
      NNAddOrCopy(nb, as1, gy + b * n + na, X1->grad + b * nb);
    }
  } break;
  case NN_OP_CONV3: {
    PetscInt l = Y->level, nyl = net->lev[l].mnyl, nx = net->lev[l].nx, Ci = X->C, hw = nyl * nx;
    /* input cotangent: the transposed convolution is a convolution of the halo-exchanged
     * output cotangent with the flipped, transposed kernel */
    float *wf = net->work2;
    for (PetscInt o = 0; o < C; o++)
      for (PetscInt c = 0; c < Ci; c++)
        for (PetscInt k = 0; k < 9; k++) wf[c * 9 * C + o * 9 + (8 - k)] = p[(o * Ci + c) * 9 + k];
    PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(NNRowGatherApply(net, &net->halo[l], B, C, nyl, gy, net->work));
    PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(PetscLogEventBegin(NN_EV_CONV3, 0, 0, 0, 0));
    if (net->backend == NN_CONV_DNNL && NNConv3Thin(Ci, C)) PetscCall(NNConv3Direct(B, C, Ci, nyl, nx, net->work, wf, NULL, (PetscBool)!as0, X->grad));
    else if (net->backend == NN_CONV_DNNL) PetscCall(NNDnnlConv3(net, op, PETSC_TRUE, B, C, Ci, nyl, nx, net->work, wf, NULL, (PetscBool)!as0, X->grad));
    else PetscCall(NNConv3Apply(net, B, C, Ci, nyl, nx, net->work, wf, NULL, as0 ? 0.0f : 1.0f, X->grad));
    PetscCall(PetscLogEventEnd(NN_EV_CONV3, 0, 0, 0, 0));
    if (param && net->backend == NN_CONV_DNNL) {
      PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(NNRowGatherApply(net, &net->halo[l], B, Ci, nyl, X->val, net->work));
      PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(PetscLogEventBegin(NN_EV_CONV3, 0, 0, 0, 0));
      PetscCall(NNDnnlConv3Weights(net, op, B, Ci, C, nyl, nx, net->work, gy, gp, gp + C * Ci * 9));
      PetscCall(PetscLogEventEnd(NN_EV_CONV3, 0, 0, 0, 0));
    } else if (param) {
      float *col = net->work2 + 9 * C * Ci;
      PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(NNRowGatherApply(net, &net->halo[l], B, Ci, nyl, X->val, net->work));
      PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
      PetscCall(PetscLogEventBegin(NN_EV_CONV3, 0, 0, 0, 0));
      for (PetscInt b = 0; b < B && hw > 0; b++) {
        const float *g = gy + b * n;
        NNIm2Col(Ci, nyl, nx, net->work + b * Ci * (nyl + 2) * nx, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)C, (int)(9 * Ci), (int)hw, 1.0f, g, (int)hw, col, (int)hw, 1.0f, gp, (int)(9 * Ci));
        for (PetscInt o = 0; o < C; o++) {
          float s = 0;
          for (PetscInt k = 0; k < hw; k++) s += g[o * hw + k];
          gp[C * Ci * 9 + o] += s;
        }
      }
      PetscCall(PetscLogFlops(2.0 * B * C * 9 * Ci * hw));
      PetscCall(PetscLogEventEnd(NN_EV_CONV3, 0, 0, 0, 0));
    }
  } break;
  case NN_OP_CONV1: {
    PetscInt Ci = X->C;
    if (S == 0) break;
    PetscCall(PetscLogEventBegin(NN_EV_CONV1, 0, 0, 0, 0));
    for (PetscInt b = 0; b < B; b++) {
      const float *g = gy + b * n;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Ci, (int)S, (int)C, 1.0f, p, (int)Ci, g, (int)S, as0 ? 0.0f : 1.0f, X->grad + b * Ci * S, (int)S);
      if (param) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)C, (int)Ci, (int)S, 1.0f, g, (int)S, X->val + b * Ci * S, (int)S, 1.0f, gp, (int)Ci);
        for (PetscInt o = 0; o < C; o++)
          for (PetscInt k = 0; k < S; k++) gp[C * Ci + o] += g[o * S + k];
      }
    }
    PetscCall(PetscLogEventEnd(NN_EV_CONV1, 0, 0, 0, 0));
  } break;
  case NN_OP_GROUPNORM: {
    PetscInt G = op->groups, cg = C / G;
    double   N = (double)cg * net->lev[Y->level].ny * net->lev[Y->level].nx;
    double  *cs;
    PetscCall(PetscLogEventBegin(NN_EV_GN, 0, 0, 0, 0));
    /* per channel: sum gy and sum gy xhat (the gamma and beta gradients, local parts);
     * weighted by gamma they give the group means of the xhat cotangent */
    PetscCall(PetscMalloc1(2 * B * C, &cs));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++) {
        PetscInt     bg = b * G + c / cg;
        float        mu = (float)op->stat[2 * bg], rs = (float)op->stat[2 * bg + 1];
        const float *xi = X->val + (b * C + c) * S, *g = gy + (b * C + c) * S;
        double       s1 = 0, s2 = 0;
        for (PetscInt k = 0; k < S; k++) {
          s1 += g[k];
          s2 += g[k] * ((xi[k] - mu) * rs);
        }
        cs[2 * (b * C + c)]     = s1;
        cs[2 * (b * C + c) + 1] = s2;
      }
    for (PetscInt i = 0; i < 2 * B * G; i++) net->red[i] = 0;
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++) {
        net->red[2 * (b * G + c / cg)] += p[c] * cs[2 * (b * C + c)];
        net->red[2 * (b * G + c / cg) + 1] += p[c] * cs[2 * (b * C + c) + 1];
        if (param) {
          gp[c] += (float)cs[2 * (b * C + c) + 1];
          gp[C + c] += (float)cs[2 * (b * C + c)];
        }
      }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, net->red, (PetscMPIInt)(2 * B * G), MPI_DOUBLE, MPI_SUM, net->comm));
    /* gx += rstd (gamma gy - mean(gamma gy) - xhat mean(gamma gy xhat)) */
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++) {
        PetscInt     bg = b * G + c / cg;
        float        mu = (float)op->stat[2 * bg], rs = (float)op->stat[2 * bg + 1];
        float        a = rs * p[c], m1 = (float)(rs * net->red[2 * bg] / N), m2 = (float)(rs * rs * net->red[2 * bg + 1] / N);
        const float *xi = X->val + (b * C + c) * S, *g = gy + (b * C + c) * S;
        float       *gxo = X->grad + (b * C + c) * S;
        for (PetscInt k = 0; k < S; k++) gxo[k] += a * g[k] - m1 - (xi[k] - mu) * m2;
      }
    PetscCall(PetscFree(cs));
    PetscCall(PetscLogEventEnd(NN_EV_GN, 0, 0, 0, 0));
  } break;
  case NN_OP_FILM: {
    PetscInt E  = X1->C;
    float   *ss = net->work2, *gss = net->work2 + 2 * B * C;
    PetscCall(PetscLogEventBegin(NN_EV_POINT, 0, 0, 0, 0));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt k = 0; k < 2 * C; k++) ss[b * 2 * C + k] = p[2 * C * E + k];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)(2 * C), (int)E, 1.0f, X1->val, (int)E, p, (int)E, 1.0f, ss, (int)(2 * C));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++) {
        float        sc = 1.0f + ss[b * 2 * C + c], s1 = 0, s2 = 0;
        const float *g = gy + (b * C + c) * S, *h = X->val + (b * C + c) * S;
        float       *gh = X->grad + (b * C + c) * S;
        for (PetscInt k = 0; k < S; k++) {
          gh[k] += g[k] * sc;
          s1 += g[k] * h[k];
          s2 += g[k];
        }
        gss[b * 2 * C + c]     = s1;
        gss[b * 2 * C + C + c] = s2;
      }
    if (param) {
      /* slab-partial sums: linear all the way back through the embedding, so the
       * reduction of the parameter gradient over the ranks completes them */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(2 * C), (int)E, (int)B, 1.0f, gss, (int)(2 * C), X1->val, (int)E, 1.0f, gp, (int)E);
      for (PetscInt b = 0; b < B; b++)
        for (PetscInt k = 0; k < 2 * C; k++) gp[2 * C * E + k] += gss[b * 2 * C + k];
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)E, (int)(2 * C), 1.0f, gss, (int)(2 * C), p, (int)E, 1.0f, X1->grad, (int)E);
    }
    PetscCall(PetscLogEventEnd(NN_EV_POINT, 0, 0, 0, 0));
  } break;
  case NN_OP_POOL: {
    /* adjoint of the average: each fine cell gets a quarter of its coarse cell */
    PetscInt lf = X->level, lc = Y->level, nxf = net->lev[lf].nx, nyf = net->lev[lf].mnyl, y0f = net->lev[lf].my0, nxc = net->lev[lc].nx, nr = net->c2f[lf].nreq;
    PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(NNRowGatherApply(net, &net->c2f[lf], B, C, net->lev[lc].mnyl, gy, net->work));
    PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
    for (PetscInt bc = 0; bc < B * C; bc++)
      for (PetscInt i = 0; i < nyf; i++) {
        const float *s = net->work + (bc * nr + (y0f + i) / 2 - y0f / 2) * nxc;
        float       *d = X->grad + (bc * nyf + i) * nxf;
        for (PetscInt j = 0; j < nxf; j++) d[j] += 0.25f * s[j / 2];
      }
  } break;
  case NN_OP_UP: {
    /* adjoint of nearest up-sampling: sum of the four fine cells */
    PetscInt lf = Y->level, lc = X->level, nxf = net->lev[lf].nx, nyc = net->lev[lc].mnyl, nxc = net->lev[lc].nx;
    PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(NNRowGatherApply(net, &net->f2c[lf], B, C, net->lev[lf].mnyl, gy, net->work));
    PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
    for (PetscInt bc = 0; bc < B * C; bc++)
      for (PetscInt i = 0; i < nyc; i++) {
        const float *r0 = net->work + (bc * 2 * nyc + 2 * i) * nxf, *r1 = r0 + nxf;
        float       *d  = X->grad + (bc * nyc + i) * nxc;
        for (PetscInt j = 0; j < nxc; j++) d[j] += r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1];
      }
  } break;
  case NN_OP_UPT: {
    /* adjoint: coarse (i, j) += sum_{o,a,bx} W[c][o][a][bx] gy(2i+a, 2j+bx), from the fine
     * rows under my coarse rows; each fine row lies under exactly one coarse rank, so the
     * local weight and bias sums add up to the full gradient */
    PetscInt lf = Y->level, lc = X->level, nxf = net->lev[lf].nx, nyc = net->lev[lc].mnyl, nxc = net->lev[lc].nx, Ci = X->C;
    PetscCall(PetscLogEventBegin(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(NNRowGatherApply(net, &net->f2c[lf], B, C, net->lev[lf].mnyl, gy, net->work));
    PetscCall(PetscLogEventEnd(NN_EV_GATHER, 0, 0, 0, 0));
    PetscCall(PetscLogEventBegin(NN_EV_CONV1, 0, 0, 0, 0));
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt i = 0; i < nyc; i++)
        for (PetscInt a = 0; a < 2; a++)
          for (PetscInt o = 0; o < C; o++) {
            const float *g = net->work + ((b * C + o) * 2 * nyc + 2 * i + a) * nxf;
            for (PetscInt c = 0; c < Ci; c++) {
              float       *gx = X->grad + ((b * Ci + c) * nyc + i) * nxc;
              const float *xv = X->val + ((b * Ci + c) * nyc + i) * nxc;
              float        w0 = p[((c * C + o) * 2 + a) * 2], w1 = p[((c * C + o) * 2 + a) * 2 + 1], s0 = 0, s1 = 0;
              for (PetscInt jc = 0; jc < nxc; jc++) gx[jc] += w0 * g[2 * jc] + w1 * g[2 * jc + 1];
              if (param) {
                for (PetscInt jc = 0; jc < nxc; jc++) {
                  s0 += xv[jc] * g[2 * jc];
                  s1 += xv[jc] * g[2 * jc + 1];
                }
                gp[((c * C + o) * 2 + a) * 2] += s0;
                gp[((c * C + o) * 2 + a) * 2 + 1] += s1;
              }
            }
            if (param) {
              float sb = 0;
              for (PetscInt j = 0; j < nxf; j++) sb += g[j];
              gp[Ci * C * 4 + o] += sb;
            }
          }
    PetscCall(PetscLogEventEnd(NN_EV_CONV1, 0, 0, 0, 0));
  } break;
  default:
    SETERRQ(net->comm, PETSC_ERR_PLIB, "unknown op");
  }
  (void)gin1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* w: cotangent of the output (this rank's part of the state). The forward pass must have
 * run with the same batch. */
PetscErrorCode NNReversePass(DaisiNet net, PetscInt B, const PetscReal w[], PetscReal gx[], PetscBool param)
{
  PetscBool *dep;
  NNTensor  *Y = &net->tensor[net->output];

  PetscFunctionBegin;
  PetscCall(NNGraphPlanDerivatives(net, PETSC_TRUE, PETSC_FALSE));
  for (PetscInt i = 0; i < net->ntensor; i++) net->gfresh[i] = PETSC_TRUE;
  net->gfresh[net->output] = PETSC_FALSE; /* set by the seed below */
  if (param) PetscCall(PetscArrayzero(net->gradlocal, net->nparam));
  /* seed: cotangent of the raw output */
  if (Y->level >= 0) {
    PetscInt C = Y->C, S = NNTensorSize(net, net->output) / C;
    for (PetscInt b = 0; b < B; b++)
      for (PetscInt c = 0; c < C; c++)
        for (PetscInt k = 0; k < S; k++) Y->grad[(b * C + c) * S + k] = (float)(w[(b * C + c) * S + k] * net->out_std[c]);
  } else {
    /* the mlp output is replicated: gather the cotangent of the whole state */
    PetscInt     nloc = DaisiGridLocalSize(&net->grid), nl = net->grid.nlev, ny = net->grid.ny, nxg = net->grid.nx, C = Y->C;
    PetscMPIInt *cnt, *dsp;
    double      *full;
    PetscCall(PetscMalloc3(net->size, &cnt, net->size, &dsp, (size_t)B * C, &full));
    for (PetscMPIInt r = 0; r < net->size; r++) {
      cnt[r] = (PetscMPIInt)(B * nl * net->lev[0].nyl[r] * nxg);
      dsp[r] = (PetscMPIInt)(B * nl * net->lev[0].y0[r] * nxg);
    }
    PetscCallMPI(MPI_Allgatherv(w, (PetscMPIInt)(B * nloc), MPI_DOUBLE, full, cnt, dsp, MPI_DOUBLE, net->comm));
    for (PetscMPIInt r = 0; r < net->size; r++) {
      PetscInt nyr = net->lev[0].nyl[r], y0r = net->lev[0].y0[r], nr = nl * nyr * nxg;
      for (PetscInt b = 0; b < B; b++)
        for (PetscInt l = 0; l < nl; l++)
          for (PetscInt yy = 0; yy < nyr; yy++)
            for (PetscInt xi = 0; xi < nxg; xi++) {
              PetscInt g        = (l * ny + y0r + yy) * nxg + xi;
              Y->grad[b * C + g] = (float)(full[dsp[r] + b * nr + (l * nyr + yy) * nxg + xi] * net->out_std[g]);
            }
    }
    PetscCall(PetscFree3(cnt, dsp, full));
  }
  PetscCall(PetscMalloc1(net->ntensor, &dep));
  PetscCall(NNDependsOnInput(net, dep));
  for (PetscInt k = net->nop - 1; k >= 0; k--) {
    NNOp *op = &net->op[k];
    if (!param && !dep[op->out]) continue;
    if (net->gfresh[op->out]) { /* nothing downstream: zero cotangent */
      PetscCall(PetscArrayzero(net->tensor[op->out].grad, B * NNTensorSize(net, op->out)));
      net->gfresh[op->out] = PETSC_FALSE;
    }
    PetscCall(NNOpReverse(net, op, B, gx, param, dep));
  }
  PetscCall(PetscFree(dep));
  if (param) {
    PetscCall(PetscLogEventBegin(NN_EV_REDUCE, 0, 0, 0, 0));
    /* a replicated (mlp) network computed the whole gradient on every rank already */
    if (!net->replicated) PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, net->gradlocal, (PetscMPIInt)net->nparam, MPI_FLOAT, MPI_SUM, net->comm));
    for (PetscInt i = 0; i < net->nparam; i++) net->grad[i] += net->gradlocal[i];
    PetscCall(PetscLogEventEnd(NN_EV_REDUCE, 0, 0, 0, 0));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
