/* Row decomposition of the network's fields and the one communication pattern it needs:
 * gathering a contiguous (periodic) range of global rows onto each rank. */
#include "nnimpl.h"

/* Level 0 uses the grid's rows as given (allgathered); coarser levels use FFTW-MPI's block
 * distribution of their own row count, so that every level is balanced and a rank with no
 * rows at one level is handled the same way as at any other. */
PetscErrorCode NNLevelCreate(MPI_Comm comm, PetscInt ny, PetscInt nx, PetscInt y0, PetscInt nyl, PetscBool block, NNLevel *lev)
{
  PetscMPIInt size, rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  lev->ny = ny;
  lev->nx = nx;
  PetscCall(PetscMalloc2(size, &lev->y0, size, &lev->nyl));
  if (block) {
    PetscInt bs = (ny + size - 1) / size;
    for (PetscMPIInt r = 0; r < size; r++) {
      lev->y0[r]  = PetscMin(r * bs, ny);
      lev->nyl[r] = PetscMin(bs, ny - lev->y0[r]);
    }
  } else {
    PetscInt mine[2] = {y0, nyl}, *all;
    PetscCall(PetscMalloc1(2 * size, &all));
    PetscCallMPI(MPI_Allgather(mine, 2, MPIU_INT, all, 2, MPIU_INT, comm));
    for (PetscMPIInt r = 0; r < size; r++) {
      lev->y0[r]  = all[2 * r];
      lev->nyl[r] = all[2 * r + 1];
    }
    PetscCall(PetscFree(all));
    /* the rows must tile [0, ny) exactly once */
    PetscInt total = 0;
    for (PetscMPIInt r = 0; r < size; r++) {
      PetscCheck(lev->nyl[r] >= 0 && lev->y0[r] >= 0 && lev->y0[r] + lev->nyl[r] <= ny, comm, PETSC_ERR_ARG_OUTOFRANGE, "grid rows of rank %d [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT ")", r, lev->y0[r], lev->y0[r] + lev->nyl[r], ny);
      total += lev->nyl[r];
    }
    PetscCheck(total == ny, comm, PETSC_ERR_ARG_INCOMP, "grid rows over the ranks add up to %" PetscInt_FMT ", not ny = %" PetscInt_FMT, total, ny);
  }
  lev->my0  = lev->y0[rank];
  lev->mnyl = lev->nyl[rank];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode NNLevelDestroy(NNLevel *lev)
{
  PetscFunctionBegin;
  PetscCall(PetscFree2(lev->y0, lev->nyl));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscMPIInt NNOwner(const NNLevel *src, PetscMPIInt size, PetscInt row)
{
  for (PetscMPIInt r = 0; r < size; r++)
    if (row >= src->y0[r] && row < src->y0[r] + src->nyl[r]) return r;
  return -1;
}

/* a[r], m[r]: the request of every rank (all ranks pass the same arrays) */
PetscErrorCode NNRowGatherCreate(MPI_Comm comm, const NNLevel *src, const PetscInt a[], const PetscInt m[], NNRowGather *g)
{
  PetscMPIInt size, rank;
  PetscInt    ny = src->ny, *cnt;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMemzero(g, sizeof(*g)));
  g->nx   = src->nx;
  g->nreq = m[rank];
  PetscCall(PetscCalloc4(size, &g->scount, size + 1, &g->sdispl, size, &g->rcount, size + 1, &g->rdispl));
  /* what I send: the rows of every request that I own, in request order */
  for (PetscMPIInt r = 0; r < size; r++)
    for (PetscInt k = 0; k < m[r]; k++) {
      PetscInt row = ((a[r] + k) % ny + ny) % ny;
      if (NNOwner(src, size, row) == rank) g->scount[r]++;
    }
  /* what I receive: my request, grouped by owner */
  for (PetscInt k = 0; k < m[rank]; k++) {
    PetscInt    row = ((a[rank] + k) % ny + ny) % ny;
    PetscMPIInt o   = NNOwner(src, size, row);
    PetscCheck(o >= 0, comm, PETSC_ERR_PLIB, "row %" PetscInt_FMT " has no owner", row);
    g->rcount[o]++;
  }
  for (PetscMPIInt r = 0; r < size; r++) {
    g->sdispl[r + 1] = g->sdispl[r] + g->scount[r];
    g->rdispl[r + 1] = g->rdispl[r] + g->rcount[r];
  }
  g->nsend = g->sdispl[size];
  g->nrecv = g->rdispl[size];
  PetscCall(PetscMalloc2(g->nsend + 1, &g->srow, g->nrecv + 1, &g->rpos));
  PetscCall(PetscCalloc1(size, &cnt));
  for (PetscMPIInt r = 0; r < size; r++)
    for (PetscInt k = 0; k < m[r]; k++) {
      PetscInt row = ((a[r] + k) % ny + ny) % ny;
      if (NNOwner(src, size, row) == rank) g->srow[g->sdispl[r] + cnt[r]++] = row - src->my0;
    }
  PetscCall(PetscArrayzero(cnt, size));
  for (PetscInt k = 0; k < m[rank]; k++) {
    PetscInt    row = ((a[rank] + k) % ny + ny) % ny;
    PetscMPIInt o   = NNOwner(src, size, row);
    g->rpos[g->rdispl[o] + cnt[o]++] = k;
  }
  PetscCall(PetscFree(cnt));
  /* collective decision: the copy-only shortcut may be taken only if no rank talks to another */
  {
    int mine = (g->nsend == g->scount[rank] && g->nrecv == g->rcount[rank]), all;
    PetscCallMPI(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, comm));
    g->local = all ? PETSC_TRUE : PETSC_FALSE;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode NNRowGatherDestroy(NNRowGather *g)
{
  PetscFunctionBegin;
  PetscCall(PetscFree4(g->scount, g->sdispl, g->rcount, g->rdispl));
  PetscCall(PetscFree2(g->srow, g->rpos));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Messages hold, per peer, all (sample, channel) pairs of the peer's rows, so one
 * MPI_Alltoallv moves the whole batch. A rank that only talks to itself copies. */
PetscErrorCode NNRowGatherApply(DaisiNet net, const NNRowGather *g, PetscInt B, PetscInt C, PetscInt nyl_src, const float *src, float *dst)
{
  PetscMPIInt size = net->size;
  PetscInt    nx = g->nx, BC = B * C;

  PetscFunctionBegin;
  if (g->local) {
    PetscInt s0 = g->sdispl[net->rank], r0 = g->rdispl[net->rank], n = g->scount[net->rank];
    for (PetscInt bc = 0; bc < BC; bc++)
      for (PetscInt i = 0; i < n; i++) PetscCall(PetscArraycpy(dst + (bc * g->nreq + g->rpos[r0 + i]) * nx, src + (bc * nyl_src + g->srow[s0 + i]) * nx, nx));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  {
    size_t       need = (size_t)(g->nsend + g->nrecv) * BC * nx + 1;
    float       *sbuf, *rbuf;
    PetscMPIInt *sc, *sd, *rc, *rd;
    if (need > net->nsendbuf) {
      PetscCall(PetscFree(net->sendbuf));
      PetscCall(PetscMalloc1(need, &net->sendbuf));
      net->nsendbuf = need;
    }
    sbuf = net->sendbuf;
    rbuf = net->sendbuf + (size_t)g->nsend * BC * nx;
    PetscCall(PetscMalloc4(size, &sc, size, &sd, size, &rc, size, &rd));
    for (PetscMPIInt r = 0; r < size; r++) {
      PetscInt64 c = (PetscInt64)g->scount[r] * BC * nx, d = (PetscInt64)g->sdispl[r] * BC * nx;
      PetscInt64 e = (PetscInt64)g->rcount[r] * BC * nx, f = (PetscInt64)g->rdispl[r] * BC * nx;
      PetscCheck(d + c < PETSC_MPI_INT_MAX && f + e < PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "row gather of %" PetscInt64_FMT " values exceeds MPI int counts; use a smaller batch", d + c);
      sc[r] = (PetscMPIInt)c;
      sd[r] = (PetscMPIInt)d;
      rc[r] = (PetscMPIInt)e;
      rd[r] = (PetscMPIInt)f;
    }
    for (PetscMPIInt r = 0; r < size; r++) {
      float *p = sbuf + sd[r];
      for (PetscInt bc = 0; bc < BC; bc++)
        for (PetscInt i = g->sdispl[r]; i < g->sdispl[r + 1]; i++, p += nx) PetscCall(PetscArraycpy(p, src + (bc * nyl_src + g->srow[i]) * nx, nx));
    }
    PetscCallMPI(MPI_Alltoallv(sbuf, sc, sd, MPI_FLOAT, rbuf, rc, rd, MPI_FLOAT, net->comm));
    for (PetscMPIInt r = 0; r < size; r++) {
      const float *p = rbuf + rd[r];
      for (PetscInt bc = 0; bc < BC; bc++)
        for (PetscInt i = g->rdispl[r]; i < g->rdispl[r + 1]; i++, p += nx) PetscCall(PetscArraycpy(dst + (bc * g->nreq + g->rpos[i]) * nx, p, nx));
    }
    PetscCall(PetscFree4(sc, sd, rc, rd));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
