/* Weight files: architecture, normalisation and parameters of a DaisiNet in one HDF5 file.
 * Layout (format "daisi-nn", version NN_FILE_VERSION; documented in docs/nn.md):
 *   attributes of /: format, version, type, in_channels, base_width, channel_mult[],
 *     blocks_per_level, groups, time_features, time_dim, time_max_frequency, mlp_width,
 *     mlp_depth, gn_eps, seed, upsample_transposed, grid_nlev, grid_ny, grid_nx, nparam, checksum,
 *     and latent_channels for an encoder or decoder, cond_channels for a conditioned unet
 *   /parameters                 float32 [nparam]   flat, in graph order
 *   /graph                      int64 [nop][6]     type, in0, in1, out, offset, count per op
 *   /normalization/{input_mean,input_std,output_mean,output_std}  float64 [channels]
 *   /metadata                   group whose string attributes are the metadata (optional)
 * The file is read and written by rank 0 only (weights are replicated); the parameters are
 * broadcast. The checksum (FNV-1a of the parameter and normalisation bytes) catches a
 * corrupted or hand-edited file. */
#include "nnimpl.h"
#include <hdf5.h>
#include "../io/h5util.h"

static uint64_t NNChecksum(uint64_t h, const void *data, size_t n)
{
  const unsigned char *p = (const unsigned char *)data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static uint64_t NNNetChecksum(DaisiNet net)
{
  uint64_t h = 14695981039346656037ULL;
  h          = NNChecksum(h, net->theta, sizeof(float) * (size_t)net->nparam);
  h          = NNChecksum(h, net->in_mean, sizeof(PetscReal) * (size_t)net->nnorm);
  h          = NNChecksum(h, net->in_std, sizeof(PetscReal) * (size_t)net->nnorm);
  h          = NNChecksum(h, net->out_mean, sizeof(PetscReal) * (size_t)net->nnorm);
  h          = NNChecksum(h, net->out_std, sizeof(PetscReal) * (size_t)net->nnorm);
  /* metadata in name order (none: the checksum of a file without metadata) */
  for (PetscInt i = 0; i < net->nmeta; i++) {
    h = NNChecksum(h, net->meta_name[i], strlen(net->meta_name[i]) + 1);
    h = NNChecksum(h, net->meta_value[i], strlen(net->meta_value[i]) + 1);
  }
  return h;
}

/* ---- writing (rank 0); returns a negative value on an HDF5 failure ---- */
static herr_t NNWriteAttrInt(hid_t loc, const char *name, hsize_t n, const int64_t *v)
{
  hid_t  sp = H5Screate_simple(1, &n, NULL), a;
  herr_t e  = -1;
  if (sp < 0) return -1;
  a = H5Acreate2(loc, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    e = H5Awrite(a, H5T_NATIVE_INT64, v);
    H5Aclose(a);
  }
  H5Sclose(sp);
  return e;
}
static herr_t NNWriteAttrReal(hid_t loc, const char *name, double v)
{
  hsize_t n  = 1;
  hid_t   sp = H5Screate_simple(1, &n, NULL), a;
  herr_t  e  = -1;
  if (sp < 0) return -1;
  a = H5Acreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    e = H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
  }
  H5Sclose(sp);
  return e;
}
static herr_t NNWriteAttrString(hid_t loc, const char *name, const char *v)
{
  hid_t  t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a;
  herr_t e = -1;
  H5Tset_size(t, strlen(v) + 1);
  a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    e = H5Awrite(a, t, v);
    H5Aclose(a);
  }
  H5Sclose(sp);
  H5Tclose(t);
  return e;
}
static herr_t NNWriteData(hid_t loc, const char *name, hid_t filetype, hid_t memtype, int rank, const hsize_t *dims, const void *v)
{
  hid_t  sp = H5Screate_simple(rank, dims, NULL), d;
  herr_t e  = -1;
  if (sp < 0) return -1;
  d = H5Dcreate2(loc, name, filetype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (d >= 0) {
    e = H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
  }
  H5Sclose(sp);
  return e;
}

static herr_t NNWriteFile(DaisiNet net, const char *path)
{
  hid_t    f, g;
  herr_t   e = 0;
  int64_t  v, mult[NN_MAX_LEVELS], *graph;
  hsize_t  n, dims[2];
  uint64_t sum = NNNetChecksum(net);

  f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return -1;
  e |= NNWriteAttrString(f, "format", "daisi-nn");
  v = NN_FILE_VERSION;
  e |= NNWriteAttrInt(f, "version", 1, &v);
  e |= NNWriteAttrString(f, "type", net->type);
#define NNW(name, val) (v = (int64_t)(val), e |= NNWriteAttrInt(f, name, 1, &v))
  NNW("in_channels", net->in_channels);
  if (net->cond_channels) NNW("cond_channels", net->cond_channels);
  if (!strcmp(net->type, "encoder") || !strcmp(net->type, "decoder")) NNW("latent_channels", net->latent_channels);
  NNW("base_width", net->base_width);
  NNW("blocks_per_level", net->blocks_per_level);
  NNW("groups", net->groups);
  NNW("time_features", net->time_features);
  NNW("time_dim", net->time_dim);
  NNW("mlp_width", net->mlp_width);
  NNW("mlp_depth", net->mlp_depth);
  NNW("seed", net->seed);
  NNW("upsample_transposed", net->up_transposed);
  NNW("grid_nlev", net->grid.nlev);
  NNW("grid_ny", net->grid.ny);
  NNW("grid_nx", net->grid.nx);
  NNW("nparam", net->nparam);
#undef NNW
  for (PetscInt l = 0; l < net->nmult; l++) mult[l] = net->mult[l];
  e |= NNWriteAttrInt(f, "channel_mult", (hsize_t)net->nmult, mult);
  e |= NNWriteAttrReal(f, "time_max_frequency", net->time_max_freq);
  e |= NNWriteAttrReal(f, "gn_eps", net->gn_eps);
  {
    hsize_t one = 1;
    hid_t   sp  = H5Screate_simple(1, &one, NULL);
    hid_t   a   = H5Acreate2(f, "checksum", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    e |= a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_UINT64, &sum);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
  }
  n = (hsize_t)net->nparam;
  e |= NNWriteData(f, "parameters", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, net->theta);
  graph = (int64_t *)malloc(sizeof(int64_t) * 6 * (size_t)net->nop);
  if (!graph) e = -1;
  else {
    for (PetscInt k = 0; k < net->nop; k++) {
      graph[6 * k + 0] = net->op[k].type;
      graph[6 * k + 1] = net->op[k].in[0];
      graph[6 * k + 2] = net->op[k].in[1];
      graph[6 * k + 3] = net->op[k].out;
      graph[6 * k + 4] = net->op[k].poff;
      graph[6 * k + 5] = net->op[k].np;
    }
    dims[0] = (hsize_t)net->nop;
    dims[1] = 6;
    e |= NNWriteData(f, "graph", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dims, graph);
    free(graph);
  }
  g = H5Gcreate2(f, "normalization", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) e = -1;
  else {
    n = (hsize_t)net->nnorm;
    e |= NNWriteData(g, "input_mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, net->in_mean);
    e |= NNWriteData(g, "input_std", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, net->in_std);
    e |= NNWriteData(g, "output_mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, net->out_mean);
    e |= NNWriteData(g, "output_std", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, net->out_std);
    H5Gclose(g);
  }
  if (net->nmeta > 0) {
    g = H5Gcreate2(f, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) e = -1;
    else {
      for (PetscInt i = 0; i < net->nmeta; i++) e |= NNWriteAttrString(g, net->meta_name[i], net->meta_value[i]);
      H5Gclose(g);
    }
  }
  if (H5Fclose(f) < 0) e = -1;
  return e < 0 ? -1 : 0;
}

PetscErrorCode DaisiNetSave(DaisiNet net, const char path[])
{
  DaisiOutputName out;
  int             err = 0;

  PetscFunctionBegin;
  PetscCheck(net->setup, net->comm, PETSC_ERR_ORDER, "call DaisiNetSetUp() before DaisiNetSave()");
  PetscCall(DaisiOutputNameInit(net->comm, path, &out));
  if (net->rank == 0) {
    H5E_auto2_t fn;
    void       *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    err = NNWriteFile(net, out.tmp) < 0;
    H5Eset_auto2(H5E_DEFAULT, fn, data);
  }
  PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, net->comm));
  if (err) {
    PetscCall(DaisiOutputNameDiscard(&out));
    SETERRQ(net->comm, PETSC_ERR_FILE_WRITE, "cannot write network weight file %s (HDF5 error writing %s)", path, out.tmp);
  }
  PetscCall(DaisiOutputNameCommit(&out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- reading (rank 0). Failures leave a message in msg. ---- */
typedef struct {
  char    type[16];
  int64_t version, upsample_transposed, in_channels, latent_channels, cond_channels, base_width, nmult, mult[NN_MAX_LEVELS], blocks_per_level, groups, time_features, time_dim, mlp_width, mlp_depth, seed, grid_nlev, grid_ny, grid_nx, nparam, nop;
  double  time_max_freq, gn_eps;
  uint64_t checksum;
} NNFileHeader;

static int NNReadAttrInt(hid_t f, const char *name, int64_t *v, hsize_t nmax, hsize_t *n, const char *path, char *msg, size_t len)
{
  hid_t   a, sp;
  hssize_t cnt;
  if (H5Aexists(f, name) <= 0) {
    snprintf(msg, len, "network file %s: attribute '%s' missing (not a daisi-nn weight file, or truncated)", path, name);
    return -1;
  }
  a   = H5Aopen(f, name, H5P_DEFAULT);
  sp  = H5Aget_space(a);
  cnt = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  if (cnt < 1 || (hsize_t)cnt > nmax) {
    H5Aclose(a);
    snprintf(msg, len, "network file %s: attribute '%s' has %lld values, expected 1 to %llu", path, name, (long long)cnt, (unsigned long long)nmax);
    return -1;
  }
  if (H5Aread(a, H5T_NATIVE_INT64, v) < 0) {
    H5Aclose(a);
    snprintf(msg, len, "network file %s: cannot read attribute '%s' as an integer", path, name);
    return -1;
  }
  H5Aclose(a);
  if (n) *n = (hsize_t)cnt;
  return 0;
}

static int NNReadAttrReal(hid_t f, const char *name, double *v, const char *path, char *msg, size_t len)
{
  hid_t a;
  if (H5Aexists(f, name) <= 0 || (a = H5Aopen(f, name, H5P_DEFAULT)) < 0) {
    snprintf(msg, len, "network file %s: attribute '%s' missing", path, name);
    return -1;
  }
  if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) {
    H5Aclose(a);
    snprintf(msg, len, "network file %s: cannot read attribute '%s' as a real", path, name);
    return -1;
  }
  H5Aclose(a);
  return 0;
}

static int NNReadAttrString(hid_t f, const char *name, char *v, size_t vlen, const char *path, char *msg, size_t len)
{
  hid_t a, t, m;
  int   ok = 0;
  if (H5Aexists(f, name) <= 0 || (a = H5Aopen(f, name, H5P_DEFAULT)) < 0) {
    snprintf(msg, len, "network file %s: attribute '%s' missing (not a daisi-nn weight file?)", path, name);
    return -1;
  }
  t = H5Aget_type(a);
  if (H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && H5Tget_size(t) <= vlen) {
    m = H5Tcopy(H5T_C_S1);
    H5Tset_size(m, H5Tget_size(t));
    memset(v, 0, vlen);
    ok = H5Aread(a, m, v) >= 0;
    H5Tclose(m);
  }
  H5Tclose(t);
  H5Aclose(a);
  v[vlen - 1] = 0;
  if (!ok) {
    snprintf(msg, len, "network file %s: attribute '%s' is not a short fixed-length string", path, name);
    return -1;
  }
  return 0;
}

static int NNReadData(hid_t f, const char *name, hid_t memtype, hsize_t expect, void *v, const char *path, char *msg, size_t len)
{
  hid_t    d, sp;
  hssize_t cnt;
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0 || (d = H5Dopen2(f, name, H5P_DEFAULT)) < 0) {
    snprintf(msg, len, "network file %s: dataset '%s' missing", path, name);
    return -1;
  }
  sp  = H5Dget_space(d);
  cnt = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  if (cnt != (hssize_t)expect) {
    H5Dclose(d);
    snprintf(msg, len, "network file %s: dataset '%s' has %lld values, the architecture needs %llu", path, name, (long long)cnt, (unsigned long long)expect);
    return -1;
  }
  if (H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
    H5Dclose(d);
    snprintf(msg, len, "network file %s: cannot read dataset '%s' (file damaged?)", path, name);
    return -1;
  }
  H5Dclose(d);
  return 0;
}

static int NNReadHeader(hid_t f, const char *path, NNFileHeader *h, char *msg, size_t len)
{
  char    format[32];
  hsize_t n;
  if (NNReadAttrString(f, "format", format, sizeof(format), path, msg, len)) return -1;
  if (strcmp(format, "daisi-nn")) {
    snprintf(msg, len, "network file %s: format '%s', expected 'daisi-nn'", path, format);
    return -1;
  }
  if (NNReadAttrInt(f, "version", &h->version, 1, NULL, path, msg, len)) return -1;
  if (h->version != NN_FILE_VERSION) {
    snprintf(msg, len, "network file %s: format version %lld, this DAISI reads version %d", path, (long long)h->version, NN_FILE_VERSION);
    return -1;
  }
  if (NNReadAttrString(f, "type", h->type, sizeof(h->type), path, msg, len)) return -1;
  if (strcmp(h->type, "unet") && strcmp(h->type, "mlp") && strcmp(h->type, "encoder") && strcmp(h->type, "decoder")) {
    snprintf(msg, len, "network file %s: unknown network type '%s'", path, h->type);
    return -1;
  }
#define NNR(name, field) \
  if (NNReadAttrInt(f, name, &h->field, 1, NULL, path, msg, len)) return -1
  NNR("in_channels", in_channels);
  h->latent_channels = 1;
  h->cond_channels   = 0;
  if (H5Aexists(f, "cond_channels") > 0) NNR("cond_channels", cond_channels);
  if (!strcmp(h->type, "encoder") || !strcmp(h->type, "decoder")) NNR("latent_channels", latent_channels);
  NNR("base_width", base_width);
  NNR("blocks_per_level", blocks_per_level);
  NNR("groups", groups);
  NNR("time_features", time_features);
  NNR("time_dim", time_dim);
  NNR("mlp_width", mlp_width);
  NNR("mlp_depth", mlp_depth);
  NNR("seed", seed);
  NNR("upsample_transposed", upsample_transposed);
  NNR("grid_nlev", grid_nlev);
  NNR("grid_ny", grid_ny);
  NNR("grid_nx", grid_nx);
  NNR("nparam", nparam);
#undef NNR
  if (NNReadAttrInt(f, "channel_mult", h->mult, NN_MAX_LEVELS, &n, path, msg, len)) return -1;
  h->nmult = (int64_t)n;
  if (NNReadAttrReal(f, "time_max_frequency", &h->time_max_freq, path, msg, len)) return -1;
  if (NNReadAttrReal(f, "gn_eps", &h->gn_eps, path, msg, len)) return -1;
  {
    hid_t a;
    if (H5Aexists(f, "checksum") <= 0 || (a = H5Aopen(f, "checksum", H5P_DEFAULT)) < 0) {
      snprintf(msg, len, "network file %s: attribute 'checksum' missing", path);
      return -1;
    }
    if (H5Aread(a, H5T_NATIVE_UINT64, &h->checksum) < 0) {
      H5Aclose(a);
      snprintf(msg, len, "network file %s: cannot read attribute 'checksum'", path);
      return -1;
    }
    H5Aclose(a);
  }
  return 0;
}

typedef struct {
  DaisiNet    net;
  const char *path;
  char       *msg;
  size_t      len;
} NNMetaReader;

static herr_t NNReadMetaEntry(hid_t g, const char *name, const H5A_info_t *info, void *ctx)
{
  NNMetaReader *r = (NNMetaReader *)ctx;
  char          value[4096];
  (void)info;
  if (strlen(name) >= 64 || NNReadAttrString(g, name, value, sizeof(value), r->path, r->msg, r->len) || DaisiNetSetMetadata(r->net, name, value)) {
    if (!r->msg[0]) snprintf(r->msg, r->len, "network file %s: bad metadata entry '%s'", r->path, name);
    return -1;
  }
  return 0;
}

/* string attributes of /metadata (if present) into net's metadata */
static int NNReadMetadata(hid_t f, const char *path, DaisiNet net, char *msg, size_t len)
{
  NNMetaReader r = {net, path, msg, len};
  hid_t        g;
  herr_t       e;
  if (H5Lexists(f, "metadata", H5P_DEFAULT) <= 0) return 0;
  g = H5Gopen2(f, "metadata", H5P_DEFAULT);
  if (g < 0) {
    snprintf(msg, len, "network file %s: cannot open group 'metadata'", path);
    return -1;
  }
  e = H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, NULL, NNReadMetaEntry, &r);
  H5Gclose(g);
  if (e < 0 && !msg[0]) snprintf(msg, len, "network file %s: cannot read group 'metadata'", path);
  return e < 0 ? -1 : 0;
}

/* reads parameters, graph and normalisation into the set-up net and verifies them */
static int NNReadBody(hid_t f, const char *path, const NNFileHeader *h, DaisiNet net, char *msg, size_t len)
{
  int64_t *graph;
  int      bad = 0;
  if (h->nparam != net->nparam) {
    snprintf(msg, len, "network file %s: %lld parameters, the architecture it describes has %lld", path, (long long)h->nparam, (long long)net->nparam);
    return -1;
  }
  if (NNReadData(f, "parameters", H5T_NATIVE_FLOAT, (hsize_t)net->nparam, net->theta, path, msg, len)) return -1;
  graph = (int64_t *)malloc(sizeof(int64_t) * 6 * (size_t)net->nop);
  if (!graph) {
    snprintf(msg, len, "network file %s: out of memory", path);
    return -1;
  }
  if (NNReadData(f, "graph", H5T_NATIVE_INT64, (hsize_t)(6 * net->nop), graph, path, msg, len)) {
    free(graph);
    return -1;
  }
  for (PetscInt k = 0; k < net->nop && !bad; k++) {
    const NNOp *op = &net->op[k];
    if (graph[6 * k] != op->type || graph[6 * k + 1] != op->in[0] || graph[6 * k + 2] != op->in[1] || graph[6 * k + 3] != op->out || graph[6 * k + 4] != op->poff || graph[6 * k + 5] != op->np) {
      snprintf(msg, len, "network file %s: layer %lld (%s) differs from the layer this DAISI builds for the stored architecture", path, (long long)k, NNOpNames[op->type]);
      bad = 1;
    }
  }
  free(graph);
  if (bad) return -1;
  if (NNReadData(f, "normalization/input_mean", H5T_NATIVE_DOUBLE, (hsize_t)net->nnorm, net->in_mean, path, msg, len)) return -1;
  if (NNReadData(f, "normalization/input_std", H5T_NATIVE_DOUBLE, (hsize_t)net->nnorm, net->in_std, path, msg, len)) return -1;
  if (NNReadData(f, "normalization/output_mean", H5T_NATIVE_DOUBLE, (hsize_t)net->nnorm, net->out_mean, path, msg, len)) return -1;
  if (NNReadData(f, "normalization/output_std", H5T_NATIVE_DOUBLE, (hsize_t)net->nnorm, net->out_std, path, msg, len)) return -1;
  if (NNReadMetadata(f, path, net, msg, len)) return -1;
  if (NNNetChecksum(net) != h->checksum) {
    snprintf(msg, len, "network file %s: checksum mismatch (parameters or normalisation corrupted or edited)", path);
    return -1;
  }
  for (PetscInt i = 0; i < net->nnorm; i++)
    if (!(net->in_std[i] > 0 && net->out_std[i] > 0)) {
      snprintf(msg, len, "network file %s: normalisation scale of channel %lld is not positive", path, (long long)i);
      return -1;
    }
  return 0;
}

PetscErrorCode DaisiNetLoad(MPI_Comm comm, const char path[], const DaisiGrid *grid, DaisiNet *netout)
{
  PetscMPIInt  rank;
  NNFileHeader h;
  char         msg[PETSC_MAX_PATH_LEN + 256] = "";
  hid_t        f = -1;
  H5E_auto2_t  efn;
  void        *edata;
  DaisiNet     net;

  PetscFunctionBegin;
  *netout = NULL;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMemzero(&h, sizeof(h)));
  if (rank == 0) {
    H5Eget_auto2(H5E_DEFAULT, &efn, &edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
      char why[256];
      DaisiH5ErrorReason(why, sizeof(why));
      snprintf(msg, sizeof(msg), "cannot open network file %s (missing, unreadable or not HDF5): %s", path, why);
    }
    else (void)NNReadHeader(f, path, &h, msg, sizeof(msg));
  }
  PetscCallMPI(MPI_Bcast(msg, sizeof(msg), MPI_CHAR, 0, comm));
  if (msg[0]) {
    if (rank == 0) {
      if (f >= 0) H5Fclose(f);
      H5Eset_auto2(H5E_DEFAULT, efn, edata);
    }
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s", msg);
  }
  PetscCallMPI(MPI_Bcast(&h, sizeof(h), MPI_BYTE, 0, comm));
  /* the grid must be the one the weights were trained on */
  if (grid->nlev != h.grid_nlev || grid->ny != h.grid_ny || grid->nx != h.grid_nx) {
    if (rank == 0) {
      H5Fclose(f);
      H5Eset_auto2(H5E_DEFAULT, efn, edata);
    }
    SETERRQ(comm, PETSC_ERR_ARG_INCOMP, "network file %s holds a network for a %lld x %lld x %lld (levels x ny x nx) state, the model grid is %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT, path, (long long)h.grid_nlev, (long long)h.grid_ny, (long long)h.grid_nx, grid->nlev, grid->ny, grid->nx);
  }
  PetscCall(DaisiNetCreate(comm, &net));
  PetscCall(PetscStrncpy(net->type, h.type, sizeof(net->type)));
  net->in_channels      = (PetscInt)h.in_channels;
  net->latent_channels  = (PetscInt)h.latent_channels;
  net->cond_channels    = (PetscInt)h.cond_channels;
  net->base_width       = (PetscInt)h.base_width;
  net->nmult            = (PetscInt)h.nmult;
  for (PetscInt l = 0; l < net->nmult; l++) net->mult[l] = (PetscInt)h.mult[l];
  net->blocks_per_level = (PetscInt)h.blocks_per_level;
  net->groups           = (PetscInt)h.groups;
  net->time_features    = (PetscInt)h.time_features;
  net->time_dim         = (PetscInt)h.time_dim;
  net->time_max_freq    = h.time_max_freq;
  net->mlp_width        = (PetscInt)h.mlp_width;
  net->mlp_depth        = (PetscInt)h.mlp_depth;
  net->gn_eps           = h.gn_eps;
  net->seed             = h.seed;
  net->up_transposed    = h.upsample_transposed ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(NNSetRuntimeFromOptions(net));
  {
    PetscErrorCode ierr;
    /* a bad architecture in the file must not leave rank 0 with an open file */
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr = DaisiNetSetUp(net, grid);
    PetscCall(PetscPopErrorHandler());
    if (ierr) {
      const char *text;
      char       *specific = NULL;
      PetscCall(PetscErrorMessage(ierr, &text, &specific));
      PetscCall(PetscSNPrintf(msg, sizeof(msg), "%s", specific ? specific : text));
      if (rank == 0) {
        H5Fclose(f);
        H5Eset_auto2(H5E_DEFAULT, efn, edata);
      }
      PetscCall(DaisiNetDestroy(&net));
      SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "network file %s: its %s architecture cannot be set up on this grid: %s", path, h.type, msg);
    }
  }
  if (rank == 0) {
    (void)NNReadBody(f, path, &h, net, msg, sizeof(msg));
    H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, efn, edata);
  }
  PetscCallMPI(MPI_Bcast(msg, sizeof(msg), MPI_CHAR, 0, comm));
  if (msg[0]) {
    PetscCall(DaisiNetDestroy(&net));
    SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s", msg);
  }
  PetscCallMPI(MPI_Bcast(net->theta, (PetscMPIInt)net->nparam, MPI_FLOAT, 0, comm));
  PetscCallMPI(MPI_Bcast(net->in_mean, (PetscMPIInt)net->nnorm, MPIU_REAL, 0, comm));
  PetscCallMPI(MPI_Bcast(net->in_std, (PetscMPIInt)net->nnorm, MPIU_REAL, 0, comm));
  PetscCallMPI(MPI_Bcast(net->out_mean, (PetscMPIInt)net->nnorm, MPIU_REAL, 0, comm));
  PetscCallMPI(MPI_Bcast(net->out_std, (PetscMPIInt)net->nnorm, MPIU_REAL, 0, comm));
  {
    /* metadata: rank 0 packs "name\0value\0..." */
    int   nbytes = 0;
    char *buf    = NULL;
    if (rank == 0)
      for (PetscInt i = 0; i < net->nmeta; i++) nbytes += (int)(strlen(net->meta_name[i]) + strlen(net->meta_value[i]) + 2);
    PetscCallMPI(MPI_Bcast(&nbytes, 1, MPI_INT, 0, comm));
    if (nbytes > 0) {
      PetscCall(PetscMalloc1(nbytes, &buf));
      if (rank == 0) {
        char *p = buf;
        for (PetscInt i = 0; i < net->nmeta; i++) {
          size_t a = strlen(net->meta_name[i]) + 1, b = strlen(net->meta_value[i]) + 1;
          PetscCall(PetscMemcpy(p, net->meta_name[i], a));
          PetscCall(PetscMemcpy(p + a, net->meta_value[i], b));
          p += a + b;
        }
      }
      PetscCallMPI(MPI_Bcast(buf, nbytes, MPI_CHAR, 0, comm));
      if (rank != 0)
        for (char *p = buf; p < buf + nbytes;) {
          const char *name = p, *value = p + strlen(p) + 1;
          PetscCall(DaisiNetSetMetadata(net, name, value));
          p = (char *)value + strlen(value) + 1;
        }
      PetscCall(PetscFree(buf));
    }
  }
  *netout = net;
  PetscFunctionReturn(PETSC_SUCCESS);
}
