/* Local 3x3 convolution kernels from oneDNN (JIT, blocked layouts), the default backend.
 *
 * The decomposition stays ours: the slab with its halo rows (gathered by graph.c) is
 * padded with the periodic columns into [B][C][rows+2][nx+2] and oneDNN runs a "valid"
 * convolution on it. oneDNN picks its preferred (blocked) memory layouts; reorders move
 * data between those and our plain NCHW tensors. Three primitives per layer:
 *   forward        y = W * x + b                      (also the tangent, with zero bias)
 *   transposed     gx += W^T * gy, run as a forward convolution of the halo-padded gy with
 *                  the flipped, transposed kernel (no scatter-add of halo cotangents)
 *   weights        gW += gy (x) x, gb += sum gy       (oneDNN backward-weights)
 * docs/nn.md has the measurements against the OpenBLAS im2col + sgemm path. */
#include "nnimpl.h"
#include <dnnl.h>

#define DNNLCall(f) \
  do { \
    dnnl_status_t s_ = (f); \
    PetscCheck(s_ == dnnl_success, PETSC_COMM_SELF, PETSC_ERR_LIB, "oneDNN call %s failed with status %d", #f, (int)s_); \
  } while (0)

/* OpenMP of libdnnl (libgomp): one thread per rank unless -nn_threads says otherwise */
extern void omp_set_num_threads(int) __attribute__((weak));

typedef struct {
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t      conv, r_src, r_w, r_dst, r_dst_acc;
  dnnl_memory_t         m_src_plain, m_src, m_w_plain, m_w, m_b, m_dst, m_dst_plain;
  size_t                src_size, dst_size;
  PetscBool             src_blk16; /* source layout nChw16c: padded directly into it */
  PetscBool             dst_blk16; /* result in nChw16c: unblocked by our loop */
} NNDnnlFwd;

typedef struct {
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t      conv, r_src, r_dd, r_dw;
  dnnl_memory_t         m_src_plain, m_src, m_dd_plain, m_dd, m_dw, m_dw_plain, m_db;
  size_t                src_size, dd_size;
  PetscBool             src_blk16, dd_blk16;
} NNDnnlBww;

typedef struct {
  PetscInt  B, Ci, Co, h, w;
  NNDnnlFwd fwd, tr; /* forward and transposed */
  NNDnnlBww bww;
  PetscBool have_bww;
} NNDnnlConv;

typedef struct {
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  float        *pad, *s1, *s2, *tmp;
  size_t        npad, ns1, ns2, ntmp;
} NNDnnl;

PetscErrorCode NNDnnlCreate(DaisiNet net)
{
  NNDnnl *d;

  PetscFunctionBegin;
  if (net->dnnl) PetscFunctionReturn(PETSC_SUCCESS);
  if (omp_set_num_threads) omp_set_num_threads((int)net->threads);
  PetscCall(PetscNew(&d));
  DNNLCall(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
  DNNLCall(dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags));
  net->dnnl = d;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNDnnlGrow(float **buf, size_t *n, size_t need)
{
  PetscFunctionBegin;
  if (need <= *n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree(*buf));
  PetscCall(PetscMalloc1(need / sizeof(float) + 16, buf));
  *n = need;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* primitives, memories (a plain layout shares one memory object for two roles) and the
 * primitive descriptor of one convolution direction */
static PetscErrorCode NNDnnlRelease(size_t np, dnnl_primitive_t p[], size_t nm, dnnl_memory_t m[], dnnl_primitive_desc_t pd)
{
  PetscFunctionBegin;
  for (size_t i = 0; i < np; i++)
    if (p[i]) DNNLCall(dnnl_primitive_destroy(p[i]));
  for (size_t i = 0; i < nm; i++) {
    PetscBool dup = PETSC_FALSE;
    for (size_t j = 0; j < i; j++) dup = (PetscBool)(dup || m[j] == m[i]);
    if (m[i] && !dup) DNNLCall(dnnl_memory_destroy(m[i]));
  }
  if (pd) DNNLCall(dnnl_primitive_desc_destroy(pd));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNDnnlDestroyFwd(NNDnnlFwd *f)
{
  dnnl_primitive_t p[] = {f->conv, f->r_src, f->r_w, f->r_dst, f->r_dst_acc};
  dnnl_memory_t    m[] = {f->m_src_plain, f->m_src, f->m_w_plain, f->m_w, f->m_b, f->m_dst, f->m_dst_plain};

  PetscFunctionBegin;
  PetscCall(NNDnnlRelease(sizeof(p) / sizeof(p[0]), p, sizeof(m) / sizeof(m[0]), m, f->pd));
  PetscCall(PetscMemzero(f, sizeof(*f)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNDnnlDestroyBww(NNDnnlBww *f)
{
  dnnl_primitive_t p[] = {f->conv, f->r_src, f->r_dd, f->r_dw};
  dnnl_memory_t    m[] = {f->m_src_plain, f->m_src, f->m_dd_plain, f->m_dd, f->m_dw, f->m_dw_plain, f->m_db};

  PetscFunctionBegin;
  PetscCall(NNDnnlRelease(sizeof(p) / sizeof(p[0]), p, sizeof(m) / sizeof(m[0]), m, f->pd));
  PetscCall(PetscMemzero(f, sizeof(*f)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode NNDnnlOpDestroy(void **ctx)
{
  NNDnnlConv *c = (NNDnnlConv *)*ctx;

  PetscFunctionBegin;
  if (!c) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(NNDnnlDestroyFwd(&c->fwd));
  PetscCall(NNDnnlDestroyFwd(&c->tr));
  PetscCall(NNDnnlDestroyBww(&c->bww));
  PetscCall(PetscFree(c));
  *ctx = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode NNDnnlDestroy(DaisiNet net)
{
  NNDnnl *d = (NNDnnl *)net->dnnl;

  PetscFunctionBegin;
  if (!d) PetscFunctionReturn(PETSC_SUCCESS);
  DNNLCall(dnnl_stream_destroy(d->stream));
  DNNLCall(dnnl_engine_destroy(d->eng));
  PetscCall(PetscFree(d->pad));
  PetscCall(PetscFree(d->s1));
  PetscCall(PetscFree(d->s2));
  PetscCall(PetscFree(d->tmp));
  PetscCall(PetscFree(d));
  net->dnnl = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* reorder from -> to, or NULL if the layouts agree */
static PetscErrorCode NNDnnlReorder(NNDnnl *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, PetscBool accumulate, dnnl_primitive_t *r)
{
  dnnl_primitive_desc_t pd;
  dnnl_primitive_attr_t attr = NULL;

  PetscFunctionBegin;
  *r = NULL;
  if (dnnl_memory_desc_equal(from, to) && !accumulate) PetscFunctionReturn(PETSC_SUCCESS);
  if (accumulate) {
    dnnl_post_ops_t po;
    DNNLCall(dnnl_primitive_attr_create(&attr));
    DNNLCall(dnnl_post_ops_create(&po));
    DNNLCall(dnnl_post_ops_append_sum(po, 1.0f));
    DNNLCall(dnnl_primitive_attr_set_post_ops(attr, po));
    DNNLCall(dnnl_post_ops_destroy(po));
  }
  DNNLCall(dnnl_reorder_primitive_desc_create(&pd, from, d->eng, to, d->eng, attr));
  DNNLCall(dnnl_primitive_create(r, pd));
  DNNLCall(dnnl_primitive_desc_destroy(pd));
  if (attr) DNNLCall(dnnl_primitive_attr_destroy(attr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscBool NNDnnlIsBlocked16(const dnnl_memory_desc_t *md, const dnnl_dims_t dims)
{
  dnnl_memory_desc_t b;
  if (dnnl_memory_desc_init_by_tag(&b, 4, dims, dnnl_f32, dnnl_nChw16c) != dnnl_success) return PETSC_FALSE;
  return dnnl_memory_desc_equal(md, &b) ? PETSC_TRUE : PETSC_FALSE;
}

/* convolution [B][Ci][h+2][w+2] -> [B][Co][h][w], no padding */
static PetscErrorCode NNDnnlFwdCreate(NNDnnl *d, PetscInt B, PetscInt Ci, PetscInt Co, PetscInt h, PetscInt w, NNDnnlFwd *f)
{
  dnnl_dims_t                sd = {B, Ci, h + 2, w + 2}, wd = {Co, Ci, 3, 3}, bd = {Co}, dd = {B, Co, h, w}, st = {1, 1}, pad = {0, 0};
  dnnl_memory_desc_t         sp, wp, bp, dp, sa, wa, da;
  dnnl_convolution_desc_t    cd;
  const dnnl_memory_desc_t *sc, *wc, *dc;

  PetscFunctionBegin;
  DNNLCall(dnnl_memory_desc_init_by_tag(&sp, 4, sd, dnnl_f32, dnnl_nchw));
  DNNLCall(dnnl_memory_desc_init_by_tag(&wp, 4, wd, dnnl_f32, dnnl_oihw));
  DNNLCall(dnnl_memory_desc_init_by_tag(&bp, 1, bd, dnnl_f32, dnnl_x));
  DNNLCall(dnnl_memory_desc_init_by_tag(&dp, 4, dd, dnnl_f32, dnnl_nchw));
  DNNLCall(dnnl_memory_desc_init_by_tag(&sa, 4, sd, dnnl_f32, dnnl_format_tag_any));
  DNNLCall(dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32, dnnl_format_tag_any));
  DNNLCall(dnnl_memory_desc_init_by_tag(&da, 4, dd, dnnl_f32, dnnl_format_tag_any));
  DNNLCall(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &sa, &wa, &bp, &da, st, pad, pad));
  DNNLCall(dnnl_primitive_desc_create(&f->pd, &cd, NULL, d->eng, NULL));
  sc = dnnl_primitive_desc_query_md(f->pd, dnnl_query_src_md, 0);
  wc = dnnl_primitive_desc_query_md(f->pd, dnnl_query_weights_md, 0);
  dc = dnnl_primitive_desc_query_md(f->pd, dnnl_query_dst_md, 0);
  DNNLCall(dnnl_primitive_create(&f->conv, f->pd));
  PetscCall(NNDnnlReorder(d, &sp, sc, PETSC_FALSE, &f->r_src));
  PetscCall(NNDnnlReorder(d, &wp, wc, PETSC_FALSE, &f->r_w));
  PetscCall(NNDnnlReorder(d, dc, &dp, PETSC_FALSE, &f->r_dst));
  PetscCall(NNDnnlReorder(d, dc, &dp, PETSC_TRUE, &f->r_dst_acc));
  DNNLCall(dnnl_memory_create(&f->m_src_plain, &sp, d->eng, DNNL_MEMORY_NONE));
  if (f->r_src) DNNLCall(dnnl_memory_create(&f->m_src, sc, d->eng, DNNL_MEMORY_NONE));
  else f->m_src = f->m_src_plain;
  DNNLCall(dnnl_memory_create(&f->m_w_plain, &wp, d->eng, DNNL_MEMORY_NONE));
  if (f->r_w) DNNLCall(dnnl_memory_create(&f->m_w, wc, d->eng, DNNL_MEMORY_ALLOCATE));
  else f->m_w = f->m_w_plain;
  DNNLCall(dnnl_memory_create(&f->m_b, &bp, d->eng, DNNL_MEMORY_NONE));
  DNNLCall(dnnl_memory_create(&f->m_dst_plain, &dp, d->eng, DNNL_MEMORY_NONE));
  if (f->r_dst) DNNLCall(dnnl_memory_create(&f->m_dst, dc, d->eng, DNNL_MEMORY_NONE));
  else f->m_dst = f->m_dst_plain;
  f->src_size  = dnnl_memory_desc_get_size(sc);
  f->dst_size  = dnnl_memory_desc_get_size(dc);
  f->src_blk16 = NNDnnlIsBlocked16(sc, sd);
  f->dst_blk16 = NNDnnlIsBlocked16(dc, dd);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* backward weights of the same geometry; the forward descriptor is the hint oneDNN needs */
static PetscErrorCode NNDnnlBwwCreate(NNDnnl *d, PetscInt B, PetscInt Ci, PetscInt Co, PetscInt h, PetscInt w, const NNDnnlFwd *fwd, NNDnnlBww *f)
{
  dnnl_dims_t                sd = {B, Ci, h + 2, w + 2}, wd = {Co, Ci, 3, 3}, bd = {Co}, dd = {B, Co, h, w}, st = {1, 1}, pad = {0, 0};
  dnnl_memory_desc_t         sp, wp, bp, dp, sa, wa, da;
  dnnl_convolution_desc_t    cd;
  const dnnl_memory_desc_t *sc, *wc, *dc;

  PetscFunctionBegin;
  DNNLCall(dnnl_memory_desc_init_by_tag(&sp, 4, sd, dnnl_f32, dnnl_nchw));
  DNNLCall(dnnl_memory_desc_init_by_tag(&wp, 4, wd, dnnl_f32, dnnl_oihw));
  DNNLCall(dnnl_memory_desc_init_by_tag(&bp, 1, bd, dnnl_f32, dnnl_x));
  DNNLCall(dnnl_memory_desc_init_by_tag(&dp, 4, dd, dnnl_f32, dnnl_nchw));
  DNNLCall(dnnl_memory_desc_init_by_tag(&sa, 4, sd, dnnl_f32, dnnl_format_tag_any));
  DNNLCall(dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32, dnnl_format_tag_any));
  DNNLCall(dnnl_memory_desc_init_by_tag(&da, 4, dd, dnnl_f32, dnnl_format_tag_any));
  DNNLCall(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &sa, &wa, &bp, &da, st, pad, pad));
  DNNLCall(dnnl_primitive_desc_create(&f->pd, &cd, NULL, d->eng, fwd->pd));
  sc = dnnl_primitive_desc_query_md(f->pd, dnnl_query_src_md, 0);
  wc = dnnl_primitive_desc_query_md(f->pd, dnnl_query_diff_weights_md, 0);
  dc = dnnl_primitive_desc_query_md(f->pd, dnnl_query_diff_dst_md, 0);
  DNNLCall(dnnl_primitive_create(&f->conv, f->pd));
  PetscCall(NNDnnlReorder(d, &sp, sc, PETSC_FALSE, &f->r_src));
  PetscCall(NNDnnlReorder(d, &dp, dc, PETSC_FALSE, &f->r_dd));
  /* the weight gradient is accumulated into our plain array by the reorder */
  PetscCall(NNDnnlReorder(d, wc, &wp, PETSC_TRUE, &f->r_dw));
  DNNLCall(dnnl_memory_create(&f->m_src_plain, &sp, d->eng, DNNL_MEMORY_NONE));
  if (f->r_src) DNNLCall(dnnl_memory_create(&f->m_src, sc, d->eng, DNNL_MEMORY_NONE));
  else f->m_src = f->m_src_plain;
  DNNLCall(dnnl_memory_create(&f->m_dd_plain, &dp, d->eng, DNNL_MEMORY_NONE));
  if (f->r_dd) DNNLCall(dnnl_memory_create(&f->m_dd, dc, d->eng, DNNL_MEMORY_NONE));
  else f->m_dd = f->m_dd_plain;
  DNNLCall(dnnl_memory_create(&f->m_dw, wc, d->eng, DNNL_MEMORY_ALLOCATE));
  DNNLCall(dnnl_memory_create(&f->m_dw_plain, &wp, d->eng, DNNL_MEMORY_NONE));
  DNNLCall(dnnl_memory_create(&f->m_db, &bp, d->eng, DNNL_MEMORY_NONE));
  f->src_size  = dnnl_memory_desc_get_size(sc);
  f->dd_size   = dnnl_memory_desc_get_size(dc);
  f->src_blk16 = NNDnnlIsBlocked16(sc, sd);
  f->dd_blk16  = NNDnnlIsBlocked16(dc, dd);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNDnnlExec(NNDnnl *d, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *args)
{
  PetscFunctionBegin;
  DNNLCall(dnnl_primitive_execute(p, d->stream, n, args));
  DNNLCall(dnnl_stream_wait(d->stream));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode NNDnnlReorderExec(NNDnnl *d, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
  dnnl_exec_arg_t a[2] = {
    {DNNL_ARG_FROM, from},
    {DNNL_ARG_TO,   to  }
  };

  PetscFunctionBegin;
  PetscCall(NNDnnlExec(d, r, 2, a));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* nChw16c [B][C/16][hw][16] -> NCHW [B][C][hw] (+= if acc). oneDNN 2.6's reorder for this
 * measured about 1 GB/s here; this loop reads each source line once per 16 channels from L1. */
static void NNUnblock16(PetscInt B, PetscInt C, PetscInt hw, const float *restrict src, PetscBool acc, float *restrict dst)
{
  PetscInt CB = (C + 15) / 16;
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt cb = 0; cb < CB; cb++) {
      const float *s = src + (b * CB + cb) * hw * 16;
      for (PetscInt c16 = 0; c16 < 16 && cb * 16 + c16 < C; c16++) {
        float *d = dst + (b * C + cb * 16 + c16) * hw;
        if (acc)
          for (PetscInt k = 0; k < hw; k++) d[k] += s[k * 16 + c16];
        else
          for (PetscInt k = 0; k < hw; k++) d[k] = s[k * 16 + c16];
      }
    }
}

/* NCHW -> nChw16c, channels beyond C zero */
static void NNBlock16(PetscInt B, PetscInt C, PetscInt hw, const float *restrict src, float *restrict dst)
{
  PetscInt CB = (C + 15) / 16;
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt cb = 0; cb < CB; cb++) {
      float *d = dst + (b * CB + cb) * hw * 16;
      for (PetscInt c16 = 0; c16 < 16; c16++) {
        PetscInt c = cb * 16 + c16;
        if (c < C) {
          const float *sc = src + (b * C + c) * hw;
          for (PetscInt k = 0; k < hw; k++) d[k * 16 + c16] = sc[k];
        } else
          for (PetscInt k = 0; k < hw; k++) d[k * 16 + c16] = 0.0f;
      }
    }
}

/* padded plain source P, plain weights W, bias (NULL: none), result into Y (+= if acc) */
static PetscErrorCode NNDnnlFwdExec(NNDnnl *d, NNDnnlFwd *f, float *P, const float *W, const float *bias, float *zero, PetscBool acc, float *Y, PetscInt B, PetscInt Cout, PetscInt hw)
{
  size_t ny = (size_t)B * Cout * hw;
  dnnl_exec_arg_t args[4];

  PetscFunctionBegin;
  PetscCall(NNDnnlGrow(&d->s1, &d->ns1, f->src_size));
  PetscCall(NNDnnlGrow(&d->s2, &d->ns2, PetscMax(f->dst_size, ny * sizeof(float))));
  if (f->src_blk16) DNNLCall(dnnl_memory_set_data_handle(f->m_src, P)); /* already blocked */
  else {
    DNNLCall(dnnl_memory_set_data_handle(f->m_src_plain, P));
    if (f->r_src) {
      DNNLCall(dnnl_memory_set_data_handle(f->m_src, d->s1));
      PetscCall(NNDnnlReorderExec(d, f->r_src, f->m_src_plain, f->m_src));
    }
  }
  DNNLCall(dnnl_memory_set_data_handle(f->m_w_plain, (void *)W));
  if (f->r_w) PetscCall(NNDnnlReorderExec(d, f->r_w, f->m_w_plain, f->m_w));
  DNNLCall(dnnl_memory_set_data_handle(f->m_b, bias ? (void *)bias : (void *)zero));
  /* without a reorder of the result, accumulation goes through the scratch buffer */
  DNNLCall(dnnl_memory_set_data_handle(f->m_dst, (f->r_dst || acc) ? (void *)d->s2 : (void *)Y));
  args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, f->m_src};
  args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, f->m_w};
  args[2] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, f->m_b};
  args[3] = (dnnl_exec_arg_t){DNNL_ARG_DST, f->m_dst};
  PetscCall(NNDnnlExec(d, f->conv, 4, args));
  if (f->dst_blk16) NNUnblock16(B, Cout, hw, d->s2, acc, Y);
  else if (f->r_dst) {
    DNNLCall(dnnl_memory_set_data_handle(f->m_dst_plain, Y));
    PetscCall(NNDnnlReorderExec(d, acc ? f->r_dst_acc : f->r_dst, f->m_dst, f->m_dst_plain));
  } else if (acc) {
    for (size_t i = 0; i < ny; i++) Y[i] += d->s2[i];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* [B*C][rows][w] -> [B*C][rows][w+2]: the periodic columns on both sides */
static void NNPadColumns(PetscInt BC, PetscInt rows, PetscInt w, const float *G, float *P)
{
  for (PetscInt r = 0; r < BC * rows; r++) {
    const float *g = G + r * w;
    float       *p = P + r * (w + 2);
    p[0]           = g[w - 1];
    memcpy(p + 1, g, sizeof(float) * (size_t)w);
    p[w + 1] = g[0];
  }
}

/* the same into oneDNN's nChw16c layout ([B][C/16][rows][w+2][16], channels beyond C
 * zero), which saves a pass over the data compared with padding plus a reorder */
static void NNPadColumnsBlocked16(PetscInt B, PetscInt C, PetscInt rows, PetscInt w, const float *G, float *P)
{
  PetscInt CB = (C + 15) / 16, W2 = w + 2;
  for (PetscInt b = 0; b < B; b++)
    for (PetscInt cb = 0; cb < CB; cb++)
      for (PetscInt y = 0; y < rows; y++) {
        float *p = P + (((b * CB + cb) * rows + y) * W2) * 16;
        for (PetscInt c16 = 0; c16 < 16; c16++) {
          PetscInt c = cb * 16 + c16;
          if (c < C) {
            const float *g = G + ((b * C + c) * rows + y) * w;
            p[c16]         = g[w - 1];
            for (PetscInt x = 0; x < w; x++) p[(x + 1) * 16 + c16] = g[x];
            p[(w + 1) * 16 + c16] = g[0];
          } else
            for (PetscInt x = 0; x < W2; x++) p[x * 16 + c16] = 0.0f;
        }
      }
}

static PetscErrorCode NNDnnlGet(DaisiNet net, NNOp *op, PetscInt B, PetscInt Ci, PetscInt Co, PetscInt h, PetscInt w, NNDnnlConv **out)
{
  NNDnnlConv *c = (NNDnnlConv *)op->dnnl;

  PetscFunctionBegin;
  PetscCall(NNDnnlCreate(net));
  if (c && c->B != B) PetscCall(NNDnnlOpDestroy(&op->dnnl));
  c = (NNDnnlConv *)op->dnnl;
  if (!c) {
    PetscCall(PetscNew(&c));
    c->B  = B;
    c->Ci = Ci;
    c->Co = Co;
    c->h  = h;
    c->w  = w;
    PetscCall(NNDnnlFwdCreate((NNDnnl *)net->dnnl, B, Ci, Co, h, w, &c->fwd));
    op->dnnl = c;
  }
  *out = c;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G: gathered slab with halo rows [B][Cin][h+2][w]; Y (+)= conv(G) */
PetscErrorCode NNDnnlConv3(DaisiNet net, NNOp *op, PetscBool transposed, PetscInt B, PetscInt Cin, PetscInt Cout, PetscInt h, PetscInt w, const float *G, const float *W, const float *bias, PetscBool acc, float *Y)
{
  NNDnnl     *d;
  NNDnnlConv *c;

  PetscFunctionBegin;
  if (h == 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(NNDnnlGet(net, op, B, transposed ? Cout : Cin, transposed ? Cin : Cout, h, w, &c));
  d = (NNDnnl *)net->dnnl;
  /* the transposed convolution is compiled when a reverse pass first needs it */
  if (transposed && !c->tr.conv) PetscCall(NNDnnlFwdCreate(d, B, c->Co, c->Ci, h, w, &c->tr));
  {
    NNDnnlFwd *f = transposed ? &c->tr : &c->fwd;
    PetscCall(NNDnnlGrow(&d->pad, &d->npad, PetscMax(f->src_size, sizeof(float) * (size_t)B * Cin * (h + 2) * (w + 2))));
    PetscCall(NNDnnlGrow(&d->tmp, &d->ntmp, sizeof(float) * (size_t)(Cout + 1)));
    PetscCall(PetscArrayzero(d->tmp, Cout));
    if (f->src_blk16) NNPadColumnsBlocked16(B, Cin, h + 2, w, G, d->pad);
    else NNPadColumns(B * Cin, h + 2, w, G, d->pad);
    PetscCall(NNDnnlFwdExec(d, f, d->pad, W, bias, d->tmp, acc, Y, B, Cout, h * w));
  }
  PetscCall(PetscLogFlops(2.0 * B * Cout * 9 * Cin * h * w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* gW += sum_b gy (x) x (oihw), gb += sum gy; Gx: gathered x [B][Ci][h+2][w], gy [B][Co][h][w] */
PetscErrorCode NNDnnlConv3Weights(DaisiNet net, NNOp *op, PetscInt B, PetscInt Ci, PetscInt Co, PetscInt h, PetscInt w, const float *Gx, const float *gy, float *gW, float *gb)
{
  NNDnnl         *d;
  NNDnnlConv     *c;
  NNDnnlBww      *f;
  dnnl_exec_arg_t args[4];

  PetscFunctionBegin;
  if (h == 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(NNDnnlGet(net, op, B, Ci, Co, h, w, &c));
  d = (NNDnnl *)net->dnnl;
  if (!c->have_bww) {
    PetscCall(NNDnnlBwwCreate(d, B, Ci, Co, h, w, &c->fwd, &c->bww));
    c->have_bww = PETSC_TRUE;
  }
  f = &c->bww;
  PetscCall(NNDnnlGrow(&d->pad, &d->npad, PetscMax(f->src_size, sizeof(float) * (size_t)B * Ci * (h + 2) * (w + 2))));
  PetscCall(NNDnnlGrow(&d->s1, &d->ns1, f->src_size));
  PetscCall(NNDnnlGrow(&d->s2, &d->ns2, f->dd_size));
  PetscCall(NNDnnlGrow(&d->tmp, &d->ntmp, sizeof(float) * (size_t)(Co + 1)));
  if (f->src_blk16) {
    NNPadColumnsBlocked16(B, Ci, h + 2, w, Gx, d->pad);
    DNNLCall(dnnl_memory_set_data_handle(f->m_src, d->pad));
  } else {
    NNPadColumns(B * Ci, h + 2, w, Gx, d->pad);
    DNNLCall(dnnl_memory_set_data_handle(f->m_src_plain, d->pad));
    if (f->r_src) {
      DNNLCall(dnnl_memory_set_data_handle(f->m_src, d->s1));
      PetscCall(NNDnnlReorderExec(d, f->r_src, f->m_src_plain, f->m_src));
    }
  }
  DNNLCall(dnnl_memory_set_data_handle(f->m_dd_plain, (void *)gy));
  if (f->dd_blk16) {
    NNBlock16(B, Co, h * w, gy, d->s2);
    DNNLCall(dnnl_memory_set_data_handle(f->m_dd, d->s2));
  } else if (f->r_dd) {
    DNNLCall(dnnl_memory_set_data_handle(f->m_dd, d->s2));
    PetscCall(NNDnnlReorderExec(d, f->r_dd, f->m_dd_plain, f->m_dd));
  }
  DNNLCall(dnnl_memory_set_data_handle(f->m_db, d->tmp));
  args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, f->m_src};
  args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, f->m_dd};
  args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, f->m_dw};
  args[3] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, f->m_db};
  PetscCall(NNDnnlExec(d, f->conv, 4, args));
  DNNLCall(dnnl_memory_set_data_handle(f->m_dw_plain, gW));
  PetscCall(NNDnnlReorderExec(d, f->r_dw, f->m_dw, f->m_dw_plain));
  for (PetscInt o = 0; o < Co; o++) gb[o] += d->tmp[o];
  PetscCall(PetscLogFlops(2.0 * B * Co * 9 * Ci * h * w));
  PetscFunctionReturn(PETSC_SUCCESS);
}
