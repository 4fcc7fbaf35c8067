/* The ensemble layer on every (G, P) grouping of the world: communicators, round-robin
 * members, layout-independent initial perturbations (bit-identical to the formula), exact
 * transposes both ways, the analysis layout's point dealing, and forecasts. */
#include "../filter/filtertest.h"

static const char help[] = "Tests the ensemble layout, initial perturbations and transposes for every (G, P).\n";

int main(int argc, char **argv)
{
  const PetscInt M = 7;
  PetscMPIInt    size, rank;
  PetscReal     *ref = NULL, *fref = NULL;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  for (PetscInt G = 1; G <= size; G++) {
    DaisiEnsemble     e;
    DaisiEnsembleInfo info;
    DaisiGrid         g;
    PetscReal        *truth, *tloc, *all, *xa, *x, *fa, *all0, *sall;
    const PetscReal  *xr;
    PetscInt          n, npts_total, nloc_members;
    PetscMPIInt       gsize, ssize;
    MPI_Comm          gc, sc;

    if (size % G) continue;
    PetscCall(MakeEnsemble(PETSC_COMM_WORLD, M, G, &e));
    PetscCall(DaisiEnsembleSetInitSigma(e, 3.06));
    PetscCall(DaisiEnsembleSetSeed(e, 11));
    PetscCall(DaisiEnsembleGetInfo(e, &info));
    PetscCall(DaisiEnsembleGetGrid(e, &g));
    n = info.nglobal;
    EXPECT(info.G == G && info.P == size / G && info.group == rank / info.P && info.slab == rank % info.P, "G=%" PetscInt_FMT ": grouping of rank %d wrong", G, rank);
    /* communicators */
    PetscCall(DaisiEnsembleGetGroupComm(e, &gc));
    PetscCall(DaisiEnsembleGetSlabComm(e, &sc));
    PetscCallMPI(MPI_Comm_size(gc, &gsize));
    PetscCallMPI(MPI_Comm_size(sc, &ssize));
    EXPECT(gsize == info.P && ssize == G, "G=%" PetscInt_FMT ": group comm size %d (want %" PetscInt_FMT "), slab comm size %d", G, gsize, info.P, ssize);
    /* members dealt round-robin, every member exactly once */
    PetscCallMPI(MPI_Allreduce(&info.nlocal, &nloc_members, 1, MPIU_INT, MPI_SUM, sc));
    EXPECT(nloc_members == M, "G=%" PetscInt_FMT ": members over the groups %" PetscInt_FMT " != %" PetscInt_FMT, G, nloc_members, M);
    for (PetscInt b = 0; b < info.nlocal; b++) {
      PetscInt m;
      PetscCall(DaisiEnsembleGetMemberIndex(e, b, &m));
      EXPECT(m == info.group + b * G && m < M, "G=%" PetscInt_FMT ": local member %" PetscInt_FMT " is member %" PetscInt_FMT, G, b, m);
    }
    /* analysis layout: equal shares, everyone works */
    PetscCallMPI(MPI_Allreduce(&info.npts, &npts_total, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
    EXPECT(npts_total == n && info.npts >= n / size && info.npts <= n / size + 1, "G=%" PetscInt_FMT ": rank %d holds %" PetscInt_FMT " analysis points of %" PetscInt_FMT, G, rank, info.npts, n);

    /* initial ensemble from a truth: bit-identical to the formula, whatever the layout */
    PetscCall(PetscMalloc5(n, &truth, PetscMax(1, info.nloc), &tloc, M * n, &all, PetscMax(1, M * info.npts), &xa, PetscMax(1, info.npts), &fa));
    PetscCall(PetscMalloc2(M * n, &all0, M * n, &sall));
    SyntheticTruth(&g, 3, truth);
    ExtractSlab(&g, truth, tloc);
    PetscCall(DaisiEnsembleInitializeFromTruth(e, tloc));
    PetscCall(DaisiEnsembleGatherGlobal(e, all));
    if (!rank) {
      PetscInt nd = 0;
      for (PetscInt m = 0; m < M; m++) {
        const DaisiRng r = DaisiRngMake(11, DAISI_RNG_ENSEMBLE_PERTURBATION, 0, (uint64_t)m, 0);
        for (PetscInt gi = 0; gi < n; gi++) {
          const PetscReal want = truth[gi] + 3.06 * DaisiRngNormal(&r, (uint64_t)gi);
          if (memcmp(&want, &all[m * n + gi], sizeof(want))) nd++;
        }
      }
      EXPECT(nd == 0, "G=%" PetscInt_FMT ": %" PetscInt_FMT " initial values differ from truth + sigma N(seed, member, index)", G, nd);
      if (!ref) {
        PetscCall(PetscMalloc1(M * n, &ref));
        PetscCall(PetscArraycpy(ref, all, M * n));
      } else EXPECT(CountDifferent(M * n, ref, all) == 0, "G=%" PetscInt_FMT ": initial ensemble differs from G=1", G);
    }
    /* forward transpose: every analysis value is the right member at the right point */
    PetscCallMPI(MPI_Bcast(all, (PetscMPIInt)(M * n), MPIU_REAL, 0, PETSC_COMM_WORLD));
    PetscCall(DaisiEnsembleToAnalysis(e, xa));
    {
      PetscInt nd = 0;
      for (PetscInt m = 0; m < M; m++)
        for (PetscInt j = 0; j < info.npts; j++)
          if (xa[m * info.npts + j] != all[m * n + DaisiEnsembleAnalysisGlobalIndex(&info, j)]) nd++;
      EXPECT(nd == 0, "G=%" PetscInt_FMT ": %" PetscInt_FMT " analysis-layout values wrong on rank %d", G, nd, rank);
    }
    PetscCall(DaisiEnsembleFieldToAnalysis(e, tloc, fa));
    for (PetscInt j = 0; j < info.npts; j++) EXPECT(fa[j] == truth[DaisiEnsembleAnalysisGlobalIndex(&info, j)], "G=%" PetscInt_FMT ": field transpose wrong at point %" PetscInt_FMT, G, j);
    /* backward transpose of a modified analysis array lands in the right slab places */
    for (PetscInt m = 0; m < M; m++)
      for (PetscInt j = 0; j < info.npts; j++) xa[m * info.npts + j] = 1000.0 * m + DaisiEnsembleAnalysisGlobalIndex(&info, j);
    PetscCall(DaisiEnsembleFromAnalysis(e, xa));
    PetscCall(DaisiEnsembleGetLocalStatesRead(e, &xr));
    {
      PetscInt nd = 0;
      for (PetscInt b = 0; b < info.nlocal; b++)
        for (PetscInt lev = 0, i = 0; lev < g.nlev; lev++)
          for (PetscInt y = 0; y < g.nyl; y++)
            for (PetscInt xx = 0; xx < g.nx; xx++, i++)
              if (xr[b * info.nloc + i] != 1000.0 * (info.group + b * G) + (lev * g.ny + g.y0 + y) * g.nx + xx) nd++;
      EXPECT(nd == 0, "G=%" PetscInt_FMT ": %" PetscInt_FMT " slab values wrong after the backward transpose on rank %d", G, nd, rank);
    }
    /* round trip slab -> analysis -> slab is the identity */
    PetscCall(DaisiEnsembleSetGlobal(e, all));
    PetscCall(DaisiEnsembleToAnalysis(e, xa));
    PetscCall(DaisiEnsembleFromAnalysis(e, xa));
    PetscCall(DaisiEnsembleGetLocalStates(e, &x));
    {
      PetscInt nd = 0;
      for (PetscInt b = 0; b < info.nlocal; b++) {
        PetscReal *want;
        PetscCall(PetscMalloc1(PetscMax(1, info.nloc), &want));
        ExtractSlab(&g, all + (info.group + b * G) * n, want);
        nd += CountDifferent(info.nloc, want, x + b * info.nloc);
        PetscCall(PetscFree(want));
      }
      EXPECT(nd == 0, "G=%" PetscInt_FMT ": round trip changed %" PetscInt_FMT " values", G, nd);
    }
    PetscCall(DaisiEnsembleRestoreLocalStates(e, &x));
    PetscCall(DaisiEnsembleGatherGlobal(e, all0)); /* the states before the forecast, on every rank */
    PetscCallMPI(MPI_Bcast(all0, (PetscMPIInt)(M * n), MPIU_REAL, 0, PETSC_COMM_WORLD));
    /* a forecast on every group at once: the same members whatever the layout (to rounding) */
    PetscCall(DaisiEnsembleForecast(e, 2));
    PetscCall(DaisiEnsembleGatherGlobal(e, all));
    if (!rank) {
      if (!fref) {
        PetscCall(PetscMalloc1(M * n, &fref));
        PetscCall(PetscArraycpy(fref, all, M * n));
      } else EXPECT(MaxAbsDiff(M * n, fref, all) <= 1e-12 * MaxAbs(M * n, fref), "G=%" PetscInt_FMT ": forecast differs from G=1 by %g", G, (double)MaxAbsDiff(M * n, fref, all));
    }
    /* streaming (-ens_forecast_batch B): the members pass through the model B at a time (a
     * short last batch when B does not divide them); two forecasts in a row (the second
     * continues from the kept native states) equal those of all members at once, and the
     * model clock advances once per forecast, not once per batch */
    for (PetscInt B = 1; B <= 3; B += 2) {
      DaisiEnsemble es;
      DaisiModel    me, ms;
      PetscReal     te[2], ts[2];
      PetscCall(DaisiEnsembleCreate(PETSC_COMM_WORLD, &es));
      PetscCall(DaisiEnsembleSetSize(es, M));
      PetscCall(DaisiEnsembleSetGroups(es, G));
      PetscCall(DaisiEnsembleSetModelType(es, DAISI_MODEL_SQG));
      PetscCall(DaisiEnsembleSetForecastBatch(es, B));
      PetscCall(DaisiEnsembleSetUp(es));
      PetscCall(DaisiEnsembleGetModel(e, &me));
      PetscCall(DaisiEnsembleGetModel(es, &ms));
      PetscCall(DaisiModelGetTime(me, &te[0]));
      PetscCall(DaisiModelGetTime(ms, &ts[0]));
      PetscCall(DaisiEnsembleSetGlobal(e, all0));
      PetscCall(DaisiEnsembleSetGlobal(es, all0));
      for (int k = 0; k < 2; k++) {
        PetscCall(DaisiEnsembleForecast(e, 2));
        PetscCall(DaisiEnsembleForecast(es, 2));
      }
      PetscCall(DaisiModelGetTime(me, &te[1]));
      PetscCall(DaisiModelGetTime(ms, &ts[1]));
      PetscCall(DaisiEnsembleGatherGlobal(e, all));
      PetscCall(DaisiEnsembleGatherGlobal(es, sall));
      if (!rank) EXPECT(MaxAbsDiff(M * n, all, sall) <= 1e-12 * MaxAbs(M * n, all), "G=%" PetscInt_FMT ", forecast batch %" PetscInt_FMT ": streamed forecasts differ by %g", G, B, (double)MaxAbsDiff(M * n, all, sall));
      EXPECT(MaxAbs(M * n, all) > 0 || rank, "G=%" PetscInt_FMT ": empty forecast", G);
      EXPECT(PetscAbsReal((ts[1] - ts[0]) - (te[1] - te[0])) <= 1e-9 * PetscAbsReal(te[1] - te[0]) && te[1] > te[0], "G=%" PetscInt_FMT ", forecast batch %" PetscInt_FMT ": model clock advanced %g s, want %g s", G, B, (double)(ts[1] - ts[0]), (double)(te[1] - te[0]));
      if (G == 1 && B == 3) PetscCall(DaisiEnsembleView(es, PETSC_VIEWER_STDOUT_WORLD));
      PetscCall(DaisiEnsembleDestroy(&es));
    }
    if (G == 1) PetscCall(DaisiEnsembleView(e, PETSC_VIEWER_STDOUT_WORLD));
    PetscCall(PetscFree5(truth, tloc, all, xa, fa));
    PetscCall(PetscFree2(all0, sall));
    PetscCall(DaisiEnsembleDestroy(&e));
  }
  PetscCall(PetscFree(ref));
  PetscCall(PetscFree(fref));
  PetscCall(FinishTest("test_ensemble_layout"));
  PetscCall(DaisiFinalize());
  return nfail ? 1 : 0;
}
