#!/usr/bin/env bash
# daisi-obs + daisi-filter end to end on a small SQG twin experiment: every filter type runs,
# results do not depend on the (G, P) layout, a stopped and restarted run equals an
# uninterrupted one, and bad input ends in a clear error.
set -u
mpi="$MPIEXEC --oversubscribe"
B="$DAISI_BIN"
py=${DAISI_PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-filter-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
same_scores() { # two diagnostics files agree: fields and rank histograms bit for bit, the
  # domain-averaged scores to reduction-order rounding (sums over ranks), timings ignored
  $py - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
names = [n for n in a if isinstance(a[n], h5py.Dataset) and not n.startswith("seconds_")]
ok = set(names) == set(n for n in b if isinstance(b[n], h5py.Dataset) and not n.startswith("seconds_"))
for n in names:
    x, y = a[n][()], b[n][()]
    if a[n].ndim >= 3 or n in ("rank_histogram", "cycle", "time", "nobs", "nobs_skipped"):
        same = np.array_equal(x, y)
    else:
        same = np.allclose(x, y, rtol=1e-12, atol=0)
    if not same:
        print("differs:", n, np.max(np.abs(x - y)))
        ok = False
sys.exit(0 if ok else 1)
PY
}

$mpi -n 2 "$B/daisi-nature" -daisi_quiet -sqg_n 32 -nature_spinup_days 30 -nature_steps 90 -nature_every 9 -nature_output truth.h5 > nature.log 2>&1 || fail "nature run"
$mpi -n 2 "$B/daisi-obs" -daisi_quiet -options_file_yaml "$DAISI_SRC/configs/sqg_sparse.yaml" -truth truth.h5 -obs_output obs.h5 > obs.log 2>&1 || fail "daisi-obs ($(tail -2 obs.log))"
common="-daisi_quiet -options_file_yaml $DAISI_SRC/configs/sqg_sparse.yaml -truth truth.h5 -obs obs.h5 -cycles 6 -ens_size 8"

for ft in letkf etkf enkf none; do
  if $mpi -n 2 "$B/daisi-filter" $common -filter_type $ft -filter_output $ft.h5 > $ft.log 2>&1 && grep -q "filter |     6" $ft.log; then pass "filter $ft runs"; else fail "filter $ft ($(grep -m1 'ERROR: [a-z-]' $ft.log))"; fi
done
# the diagnostics file has the documented series, readable by h5py
$py - <<'PY' && pass "diagnostics file layout" || fail "diagnostics file layout"
import h5py, numpy as np
with h5py.File("letkf.h5") as f:
    for name in ("rmse_b", "rmse_a", "spread_b", "spread_a", "crps_a", "crps_b", "cycle", "time"):
        assert f[name].shape == (6,), name
    assert f["ens_mean_a"].shape == (6, 2, 32, 32)
    assert np.all(np.isfinite(f["rmse_a"][:])) and np.all(f["rmse_a"][:] > 0)
    assert f["rank_histogram"][:].sum() == 6 * 2 * 32 * 32
    assert list(f["cycle"][:]) == [1, 2, 3, 4, 5, 6]
    # time-mean spectra over the window (all 6 cycles): they sum to the mean squared error and
    # the mean unbiased variance (Parseval), averaged over the two levels
    se, ss = f["spectrum_error"][:], f["spectrum_spread"][:]
    assert se.shape == ss.shape and se.shape[0] == 2
    assert np.isclose(se.sum(axis=1).mean(), (f["rmse_a"][:] ** 2).mean(), rtol=1e-10)
    assert np.isclose(ss.sum(axis=1).mean(), (f["spread_a"][:] ** 2).mean(), rtol=1e-10)
    assert f.attrs["stats_start"] == 1
with h5py.File("none.h5") as f:   # no assimilation: the analysis is the background
    assert np.array_equal(f["rmse_a"][:], f["rmse_b"][:])
PY
# a later statistics window (cycles 4-6): recorded, and the spectra and histogram cover just it;
# tools/summarize.py --bands splits the spectra into bands that add up to the window's MSE
$mpi -n 2 "$B/daisi-filter" $common -filter_type letkf -filter_stats_start 4 -filter_output w4.h5 > w4.log 2>&1 || fail "-filter_stats_start 4"
$py "$DAISI_SRC/tools/summarize.py" w4.h5 --bands 0,3,10 > w4.md 2>&1 || fail "summarize --bands ($(tail -1 w4.md))"
$py - <<'PY' && pass "statistics window (-filter_stats_start) and spectral bands" || fail "statistics window or spectral bands"
import h5py, numpy as np
with h5py.File("w4.h5") as f, h5py.File("letkf.h5") as full:
    assert f.attrs["stats_start"] == 4
    assert np.array_equal(f["rmse_a"][:], full["rmse_a"][:])   # the window changes no score
    assert f["rank_histogram"][:].sum() == 3 * 2 * 32 * 32
    se = f["spectrum_error"][:]
    mse, var = (f["rmse_a"][3:] ** 2).mean(), (f["spread_a"][3:] ** 2).mean()
    assert np.isclose(se.sum(axis=1).mean(), mse, rtol=1e-10)
    assert not np.isclose(se.sum(axis=1).mean(), (f["rmse_a"][:] ** 2).mean(), rtol=1e-6)
row = [l for l in open("w4.md") if l.startswith("| w4.h5 | 4-6 |")]
assert len(row) == 1, open("w4.md").read()
cells = [float(v) for v in row[0].strip().strip("|").split("|")[2:]]
assert len(cells) == 6 and np.isclose(sum(cells[:3]), mse, rtol=2e-3) and np.isclose(sum(cells[3:]), var, rtol=2e-3), cells
PY

# layout independence: 1 rank vs 4 ranks as 2 groups of 2 vs 4 groups of 1
$mpi -n 1 "$B/daisi-filter" $common -filter_type letkf -filter_output l1.h5 > l1.log 2>&1 || fail "1 rank"
$mpi -n 4 "$B/daisi-filter" $common -filter_type letkf -ens_groups 2 -filter_output l22.h5 > l22.log 2>&1 || fail "2x2 ($(grep -m1 'ERROR: [a-z-]' l22.log))"
$mpi -n 4 "$B/daisi-filter" $common -filter_type letkf -ens_groups 4 -filter_output l41.h5 > l41.log 2>&1 || fail "4x1"
same_scores l1.h5 l22.h5 && same_scores l1.h5 l41.h5 && pass "identical results for (G,P) = (1,1), (2,2), (4,1)" || fail "results depend on the layout"

# restart: stop after cycle 3, continue on another layout, same file
$mpi -n 2 "$B/daisi-filter" $common -filter_type letkf -filter_output r.h5 -filter_stop_at_cycle 3 > r1.log 2>&1
rc=$?
[ $rc -eq 3 ] && [ -f r.h5.chk ] && [ -f r.h5.partial ] && [ ! -f r.h5 ] && pass "stop writes a checkpoint (exit 3)" || fail "stop (rc=$rc)"
$mpi -n 3 "$B/daisi-filter" $common -filter_type letkf -filter_output r.h5 -filter_restart > r2.log 2>&1 || fail "restart ($(grep -m1 'ERROR: [a-z-]' r2.log))"
grep -q "restarting from r.h5.chk after cycle 3" r2.log && pass "restart announced" || fail "restart not announced"
same_scores l1.h5 r.h5 && pass "restarted run identical to uninterrupted" || fail "restarted run differs"
[ ! -e r.h5.chk ] && pass "checkpoint removed at the end" || fail "checkpoint left behind"

# DAISI (-filter_type daisi) with a Gaussian prior estimated from the truth, few steps: runs,
# prints its settings, identical on every layout, restart identical, and the configs serve both
# filter types (every filter reads the letkf_* and daisi_* keys)
$mpi -n 2 "$B/daisi-sample" -daisi_quiet -sqg_n 32 -prior_gaussian_truth truth.h5 -sample_estimate gauss.h5 > est.log 2>&1 || fail "Gaussian prior estimate ($(tail -2 est.log))"
dopt="-filter_type daisi -daisi_prior gauss.h5 -daisi_steps 8 -daisi_inversion_steps 8"
if $mpi -n 1 "$B/daisi-filter" $common $dopt -filter_output d1.h5 -filter_view > d1.log 2>&1 && grep -q "filter |     6" d1.log; then pass "filter daisi runs"; else fail "filter daisi ($(grep -m1 'ERROR: [a-zA-Z-]' d1.log))"; fi
grep -q "guidance mmps, lam 1" d1.log && grep -q "t_min = 0.3 in 8 euler steps" d1.log && grep -q "DaisiPrior gaussian" d1.log && pass "daisi -filter_view prints the settings from the config and the prior" || fail "daisi -filter_view output"
$mpi -n 4 "$B/daisi-filter" $common $dopt -ens_groups 2 -filter_output d22.h5 > d22.log 2>&1 || fail "daisi 2x2 ($(grep -m1 'ERROR: [a-zA-Z-]' d22.log))"
$mpi -n 3 "$B/daisi-filter" $common $dopt -ens_groups 3 -filter_output d31.h5 > d31.log 2>&1 || fail "daisi 3x1 ($(grep -m1 'ERROR: [a-zA-Z-]' d31.log))"
same_scores d1.h5 d22.h5 && same_scores d1.h5 d31.h5 && pass "daisi: identical results for (G,P) = (1,1), (2,2), (3,1)" || fail "daisi results depend on the layout"
$mpi -n 2 "$B/daisi-filter" $common $dopt -filter_output dr.h5 -filter_stop_at_cycle 3 > dr1.log 2>&1
rc=$?
[ $rc -eq 3 ] && [ -f dr.h5.chk ] && pass "daisi: stop writes a checkpoint (exit 3)" || fail "daisi stop (rc=$rc)"
$mpi -n 4 "$B/daisi-filter" $common $dopt -ens_groups 4 -filter_output dr.h5 -filter_restart > dr2.log 2>&1 || fail "daisi restart ($(grep -m1 'ERROR: [a-zA-Z-]' dr2.log))"
same_scores d1.h5 dr.h5 && pass "daisi: restarted run (other layout) identical to uninterrupted" || fail "daisi: restarted run differs"
for s in noisy multimodal saturating; do
  $mpi -n 2 "$B/daisi-obs" -daisi_quiet -options_file_yaml "$DAISI_SRC/configs/sqg_$s.yaml" -truth truth.h5 -obs_output obs_$s.h5 > obs_$s.log 2>&1 || fail "daisi-obs with configs/sqg_$s.yaml ($(grep -m1 'ERROR: [a-zA-Z-]' obs_$s.log))"
  for ft in letkf daisi; do
    if $mpi -n 2 "$B/daisi-filter" -daisi_quiet -options_file_yaml "$DAISI_SRC/configs/sqg_$s.yaml" -truth truth.h5 -obs obs_$s.h5 -cycles 2 -ens_size 6 \
      -filter_type $ft -daisi_prior gauss.h5 -daisi_steps 10 -daisi_inversion_steps 10 -filter_output c_${s}_$ft.h5 > c_${s}_$ft.log 2>&1 && grep -q "filter |     2" c_${s}_$ft.log; then
      pass "configs/sqg_$s.yaml serves $ft"; else fail "configs/sqg_$s.yaml with $ft ($(grep -m1 'ERROR: [a-zA-Z-]' c_${s}_$ft.log))"; fi
  done
done

# bad input
bad() { # name, expected message, ranks, args...
  local name=$1 msg=$2 np=$3
  shift 3
  rm -f bad.h5 bad.h5.partial
  $mpi -n "$np" "$B/daisi-filter" -daisi_quiet -filter_output bad.h5 "$@" > bad.log 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$msg" bad.log && [ ! -e bad.h5 ] && [ ! -e bad.h5.partial ]; then pass "bad input: $name"; else
    fail "bad input: $name (rc=$rc; expected /$msg/; got: $(grep -m1 'ERROR: [a-z-]' bad.log))"; fi
}
bad "missing truth" "no_truth.h5" 2 -truth no_truth.h5 -obs obs.h5
bad "no -obs" "-obs FILE" 2 -truth truth.h5
bad "truth on another grid" "truth.h5.*expected.*N=64" 2 -truth truth.h5 -obs obs.h5 -sqg_n 64
bad "too many cycles" "-cycles 50" 2 -truth truth.h5 -obs obs.h5 -cycles 50
bad "one member" "(M|ensemble size|-ens_size).*(>= 2|at least 2)" 2 -truth truth.h5 -obs obs.h5 -ens_size 1
bad "groups not dividing ranks" "-ens_groups|groups" 3 -truth truth.h5 -obs obs.h5 -ens_groups 2 -ens_size 8
bad "unknown filter" "kalman" 2 -truth truth.h5 -obs obs.h5 -filter_type kalman
bad "scenario mismatch" "scenario 'sparse'.*'noisy'" 2 -options_file_yaml "$DAISI_SRC/configs/sqg_noisy.yaml" -truth truth.h5 -obs obs.h5
bad "daisi: missing prior file" "-daisi_prior no_prior.h5: no such file" 2 $common -filter_type daisi -daisi_prior no_prior.h5
bad "daisi: no prior" "daisi filter needs a prior: -daisi_prior FILE" 2 $common -filter_type daisi -daisi_prior ""
# the scenario config names the shipped prior, found from any working directory (this grid is 32 x 32)
bad "daisi: the config's shipped prior" "-daisi_prior /.*priors/sqg64/prior.h5 holds a network prior for 2 level.s. on 64 x 64, the model grid is 2 level.s. on 32 x 32" 2 $common -filter_type daisi
# and the shipped VAE of latent 3DVar and LO-SDA
for ft in l3dvar losda; do
  bad "$ft: the config's shipped VAE" "network file /.*priors/sqg64/vae_encoder.h5 holds a network for a 2 x 64 x 64 .* state, the model grid is 2 x 32 x 32" 2 $common -filter_type $ft
done
$mpi -n 1 "$B/daisi-nature" -daisi_quiet -sqg_n 16 -sqg_dt 2400 -sqg_diff_efold 259200 -nature_spinup_days 1 -nature_steps 18 -nature_every 9 -nature_output truth16.h5 > n16.log 2>&1 &&
  $mpi -n 1 "$B/daisi-sample" -daisi_quiet -sqg_n 16 -sqg_dt 2400 -sqg_diff_efold 259200 -prior_gaussian_truth truth16.h5 -sample_estimate gauss16.h5 > est16.log 2>&1 || fail "16 x 16 Gaussian prior ($(tail -2 est16.log))"
bad "daisi: prior for another grid" "-daisi_prior gauss16.h5 holds a Gaussian prior for 2 level.s. on 16 x 16, the model grid is 2 level.s. on 32 x 32" 2 $common -filter_type daisi -daisi_prior gauss16.h5
bad "daisi: unknown guidance" "unknown -daisi_guidance 'dpss'" 2 $common -filter_type daisi -daisi_prior gauss.h5 -daisi_guidance dpss
bad "daisi: unknown variant" "unknown -daisi_variant 'forward'" 2 $common -filter_type daisi -daisi_prior gauss.h5 -daisi_variant forward
bad "daisi: t_min out of range" "-daisi_tmin must be in .0, 1., got 1.5" 2 $common -filter_type daisi -daisi_prior gauss.h5 -daisi_tmin 1.5
bad "daisi: misspelt option" "unknown option.*-daisi_lamda" 2 $common -filter_type daisi -daisi_prior gauss.h5 -daisi_lamda 2
bad "daisi: divergence names cycle and member" "diverged in cycle 1: member [0-9]+ " 2 $common -filter_type daisi -daisi_prior gauss.h5 -daisi_steps 5 -daisi_inversion_steps 5 -daisi_guidance dps -daisi_lambda 1e7
$py - <<'PY'
import h5py, numpy as np, shutil
shutil.copy("obs.h5", "obs_nan.h5")
with h5py.File("obs_nan.h5", "r+") as f:
    v = f["value"][:]; v[0, :5] = np.nan; f["value"][...] = v
shutil.copy("obs.h5", "obs_sigma.h5")
with h5py.File("obs_sigma.h5", "r+") as f:
    s = f["sigma"][:]; s[0, 3] = 0.0; f["sigma"][...] = s
PY
bad "sigma <= 0" "obs_sigma.h5.*sigma" 2 -truth truth.h5 -obs obs_sigma.h5 -ens_size 8
if $mpi -n 2 "$B/daisi-filter" $common -obs obs_nan.h5 -filter_type letkf -cycles 2 -filter_output nan.h5 > nan.log 2>&1 &&
  $py -c "import h5py; f=h5py.File('nan.h5'); import sys; sys.exit(0 if f['nobs_skipped'][0] == 5 and f['nobs_skipped'][1] == 0 else 1)"; then
  pass "NaN observations skipped and counted"; else fail "NaN observations ($(grep -m1 'ERROR: [a-z-]' nan.log))"; fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
