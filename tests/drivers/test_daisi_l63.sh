#!/usr/bin/env bash
# Lorenz '63 with a small trained prior: DAISI against a bootstrap particle filter with many
# particles (the reference posterior) and the free run, on a sparse setting (only x observed,
# every 0.25 time units, sigma 2). End to end through the drivers:
#   daisi-nature (training, validation and truth trajectories) -> daisi-train (mlp prior, 3000
#   steps) -> daisi-obs (x only) -> daisi-filter pf (3000 particles, jitter 0.3), daisi (100
#   members), none (100 members), all from the same truth, observations and initial ensemble
#   settings (truth + N(0, 2^2)).
# Checks, over cycles 21-100 (after a burn-in of 20 cycles):
#   - pf: identical diagnostics on 1 rank and on 2 ranks as 2 groups; ESS printed per cycle
#     (-pf_monitor); the reference is sane (RMSE < 0.3 x the free run's);
#   - (a) DAISI assimilates: analysis RMSE < 0.6 x the free run's and below its own background
#     RMSE, and within 3x of the PF's (DAISI is about 2x the PF here: see docs/daisi.md);
#   - (b) DAISI's ensemble against the PF posterior: median over cycles of |mean_daisi - mean_pf|
#     / spread_pf < 2 (the free run: about 3.5), median spread ratio daisi / pf in [0.5, 2].
# The thresholds were calibrated on the observed values (docs/daisi.md, "Lorenz '63 check");
# DAISI with -daisi_guidance none or -daisi_lambda 0 fails (a) and (b).
set -u
bin="$DAISI_BIN"
mpi="$MPIEXEC --oversubscribe"
py=${DAISI_PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-l63-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
if ! $py -c "import h5py, numpy" 2>/dev/null; then
  fail "python3 with h5py and numpy is needed (apt-get install python3-h5py)"
  exit 1
fi
t0=$(date +%s)

# 1. data: 64 training trajectories x 201 states (every 10 steps after 1000 spin-up steps),
#    8 validation trajectories (another seed), one truth trajectory (another seed) sampled
#    every 25 steps = 0.25 time units: 100 cycles
l63="-daisi_quiet -model_type l63 -nature_spinup_steps 1000"
$mpi -n 1 "$bin/daisi-nature" $l63 -nature_members 64 -nature_steps 2000 -nature_every 10 -nature_seed 1 -nature_output tr.h5 > nat.log 2>&1 || fail "training trajectories ($(tail -2 nat.log))"
$mpi -n 1 "$bin/daisi-nature" $l63 -nature_members 8 -nature_steps 2000 -nature_every 10 -nature_seed 9 -nature_output va.h5 > nat.log 2>&1 || fail "validation trajectories"
$mpi -n 1 "$bin/daisi-nature" $l63 -nature_steps 2500 -nature_every 25 -nature_seed 3 -nature_output truth.h5 > nat.log 2>&1 || fail "truth"

# 2. the prior: a small mlp velocity network, s_data = 10
$mpi -n 1 "$bin/daisi-train" -daisi_quiet -train_data tr.h5 -train_val va.h5 -nn_type mlp -nn_mlp_width 64 -nn_mlp_depth 3 -nn_time_features 8 -prior_scale 10 \
  -train_steps 3000 -train_batch 64 -train_lr 2e-3 -train_warmup 100 -train_epoch_steps 500 -train_checkpoint_every 0 -train_progress_every 1000 \
  -train_output prior.h5 > train.log 2>&1 && [ -f prior.h5 ] && pass "mlp prior trained ($(grep -o 'best validation loss[^0-9]*[0-9.]*' train.log | head -1))" || fail "training ($(tail -3 train.log))"

# 3. observations of x only (site file: row 0, column 0), sigma 2
printf '# iy ix: Lorenz 63 x\n0 0\n' > sites.txt
$mpi -n 1 "$bin/daisi-obs" -daisi_quiet -scenario sparse -obs_operator linear -obs_sigma 2 -obs_sites sites.txt -truth truth.h5 -obs_output obs.h5 > obs.log 2>&1 \
  && grep -q "1 observations per cycle, sigma 2., 100 cycle(s)" obs.log && pass "observations of x: 1 per cycle, 100 cycles" || fail "daisi-obs ($(tail -2 obs.log))"

# 4. the filters
common="-daisi_quiet -model_type l63 -truth truth.h5 -obs obs.h5 -ens_init_sigma 2"
pf="$common -filter_type pf -ens_size 3000 -pf_jitter 0.3 -pf_monitor"
$mpi -n 2 "$bin/daisi-filter" $pf -ens_groups 2 -filter_view -filter_output pf.h5 > pf.log 2>&1 || fail "pf, 2 ranks ($(grep -m1 'ERROR: [a-z-]' pf.log))"
$mpi -n 1 "$bin/daisi-filter" $pf -filter_output pf1.h5 > pf1.log 2>&1 || fail "pf, 1 rank ($(grep -m1 'ERROR: [a-z-]' pf1.log))"
grep -q "bootstrap particle filter: Gaussian likelihood weights, systematic resampling every cycle" pf.log && grep -q "jitter after resampling 0.3" pf.log && pass "pf -filter_view" || fail "pf -filter_view"
[ "$(grep -c '^pf | cycle [0-9]*: ESS [0-9.]* of 3000' pf.log)" -eq 100 ] && pass "pf prints the ESS of every cycle" || fail "pf ESS lines ($(grep -m1 '^pf |' pf.log))"
$mpi -n 1 "$bin/daisi-filter" $common -filter_type pf -ens_size 10 -pf_resample_threshold 1.5 -filter_output bad.h5 > bad.log 2>&1
[ $? -ne 0 ] && grep -q -- "-pf_resample_threshold must be in \[0, 1\]" bad.log && [ ! -e bad.h5 ] && pass "pf bad option refused" || fail "pf bad option ($(grep -m1 'ERROR: [a-z-]' bad.log))"
t1=$(date +%s)
daisi="$common -filter_type daisi -ens_size 100 -daisi_prior prior.h5 -daisi_guidance mmps -daisi_mmps_solver gmres -daisi_lambda 1 -daisi_tmin 0.3 -daisi_steps 50 -daisi_inversion_steps 50 -daisi_seed 1"
$mpi -n 1 "$bin/daisi-filter" $daisi -filter_output daisi.h5 > daisi.log 2>&1 || fail "daisi ($(grep -m1 'ERROR: [a-z-]' daisi.log))"
t2=$(date +%s)
$mpi -n 1 "$bin/daisi-filter" $common -filter_type none -ens_size 100 -filter_output free.h5 > free.log 2>&1 || fail "free run"
echo "times: data + training + pf $((t1 - t0)) s, daisi $((t2 - t1)) s"

# 5. the comparison
$py - <<'PY' || fail "comparison (see above)"
import h5py, numpy as np, sys
burn = 20
def load(p):
    with h5py.File(p) as f:
        return {k: f[k][()] for k in ("rmse_a", "rmse_b", "spread_a", "ens_mean_a", "ens_spread_a")}
try:
    pf, pf1, da, fr = load("pf.h5"), load("pf1.h5"), load("daisi.h5"), load("free.h5")
except Exception as e:
    print("cannot read the diagnostics:", e); sys.exit(1)
ok = True
def check(cond, msg):
    global ok
    print(("ok   " if cond else "FAIL ") + msg)
    ok = ok and bool(cond)
same = all(np.array_equal(pf[k], pf1[k]) for k in ("ens_mean_a", "ens_spread_a")) and all(np.allclose(pf[k], pf1[k], rtol=1e-12, atol=0) for k in ("rmse_a", "spread_a"))
check(same, "pf: 2 ranks as 2 groups identical to 1 rank")
w = slice(burn, None)
r = {n: d["rmse_a"][w].mean() for n, d in (("pf", pf), ("daisi", da), ("free", fr))}
rb = da["rmse_b"][w].mean()
s = {n: d["spread_a"][w].mean() for n, d in (("pf", pf), ("daisi", da), ("free", fr))}
mpf = pf["ens_mean_a"][w].reshape(len(pf["rmse_a"][w]), -1)
def dist(d):  # per cycle: RMS over x, y, z of the mean difference, in units of the pf spread
    m = d["ens_mean_a"][w].reshape(mpf.shape)
    return np.sqrt(((m - mpf) ** 2).mean(axis=1)) / pf["spread_a"][w]
ratio = da["spread_a"][w] / pf["spread_a"][w]
print("cycles %d-%d: mean rmse_a pf %.3f, daisi %.3f (background %.3f), free %.3f; mean spread_a pf %.3f, daisi %.3f, free %.3f"
      % (burn + 1, len(pf["rmse_a"]), r["pf"], r["daisi"], rb, r["free"], s["pf"], s["daisi"], s["free"]))
print("daisi / pf rmse %.2f, daisi / free rmse %.2f; median |mean - pf mean| / pf spread: daisi %.2f, free %.2f; median spread ratio daisi / pf %.2f"
      % (r["daisi"] / r["pf"], r["daisi"] / r["free"], np.median(dist(da)), np.median(dist(fr)), np.median(ratio)))
check(r["pf"] < 0.3 * r["free"], "pf reference assimilates (rmse %.3f < 0.3 x free %.3f)" % (r["pf"], r["free"]))
check(r["daisi"] < 0.6 * r["free"], "(a) daisi rmse %.3f < 0.6 x free run %.3f" % (r["daisi"], r["free"]))
check(r["daisi"] < rb, "(a) daisi analysis rmse %.3f < its background rmse %.3f" % (r["daisi"], rb))
check(r["daisi"] < 3.0 * r["pf"], "(a) daisi rmse %.3f < 3 x pf %.3f" % (r["daisi"], r["pf"]))
check(np.median(dist(da)) < 2.0, "(b) median |daisi mean - pf mean| = %.2f pf spreads < 2" % np.median(dist(da)))
check(0.5 < np.median(ratio) < 2.0, "(b) median spread ratio daisi / pf %.2f in [0.5, 2]" % np.median(ratio))
sys.exit(0 if ok else 1)
PY
echo "total $(( $(date +%s) - t0 )) s"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
