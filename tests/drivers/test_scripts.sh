#!/usr/bin/env bash
# The experiment scripts end to end on a tiny SQG-64 twin (short truths made here, so that the
# scripts' own 300-day spin-ups are skipped): scripts/run-filter-scenarios.sh runs a filter into
# DAISI_RUN_DIR, finds the networks the scenario config names from there, continues from its
# output; scripts/make-pairs.sh makes LETKF and LO-SDA pairs with their seeds; bad settings end
# in a clear message, exit 2 and no output.
set -u
src="$DAISI_SRC"
mpi="$MPIEXEC --oversubscribe"
py=${DAISI_PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-scripts-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
truth() { # file seed outputs: a 64 x 64 truth without spin-up, one output per 3 h
  $mpi -n 1 "$DAISI_BIN/daisi-nature" -daisi_quiet -options_file_yaml "$src/configs/nature_sqg64.yaml" -nature_spinup_days 0 \
    -nature_seed "$2" -nature_steps $((9 * ($3 - 1))) -nature_output "$1" > "$1.log" 2>&1 || fail "truth $1 ($(tail -2 "$1.log"))"
}
cycles() { $py -c "import h5py, sys; print(h5py.File(sys.argv[1])['rmse_a'].shape[0])" "$1" 2> /dev/null; }
# name, expected message, expected exit code, then [VAR=value ...] script [args]
refused() {
  local name=$1 msg=$2 code=$3
  shift 3
  env "$@" > bad.log 2>&1
  local rc=$?
  if [ $rc -eq "$code" ] && grep -Eq -- "$msg" bad.log; then pass "bad input: $name"; else fail "bad input: $name (rc=$rc; expected /$msg/; got: $(tail -1 bad.log))"; fi
}

# --- run-filter-scenarios.sh
R=$src/scripts/run-filter-scenarios.sh
mkdir -p rf && truth rf/truth.h5 1 4
run_rf() { env DAISI_RUN_DIR="$work/rf" DAISI_SUMMARY_FROM=1 "$@"; }
run_rf DAISI_RUN_TAG=lk "$R" letkf 1 sparse -- -cycles 2 -ens_size 4 > rf1.log 2>&1 || fail "run-filter-scenarios.sh letkf ($(tail -3 rf1.log))"
[ -f rf/obs_sparse.h5 ] && [ "$(cycles rf/lk_sparse.h5)" = 2 ] && grep -q "lk_sparse.h5 | letkf | 1-2" rf1.log &&
  pass "run-filter-scenarios.sh: observations, 2 LETKF cycles, the summary table" || fail "run-filter-scenarios.sh letkf outputs ($(tail -3 rf1.log))"
# an existing output is kept, not re-run
touch -d '2000-01-01' rf/lk_sparse.h5
run_rf DAISI_RUN_TAG=lk "$R" letkf 1 sparse -- -cycles 2 -ens_size 4 > rf2.log 2>&1
[ "$(date -r rf/lk_sparse.h5 +%Y)" = 2000 ] && ! grep -q "filter |     1" rf2.log && pass "run-filter-scenarios.sh: an existing output is not recomputed" ||
  fail "run-filter-scenarios.sh re-ran an existing output"
# LO-SDA with the VAE and latent model of the scenario config, found from the run directory
run_rf DAISI_RUN_TAG=lo "$R" losda 1 sparse -- -cycles 1 -ens_size 2 -losda_steps 2 -losda_opt_every 0 > rf3.log 2>&1 &&
  [ "$(cycles rf/lo_sparse.h5)" = 1 ] && pass "run-filter-scenarios.sh losda: the config's shipped networks from the run directory" ||
  fail "run-filter-scenarios.sh losda ($(grep -m1 'ERROR: [a-z-]' rf3.log))"
refused "run-filter-scenarios.sh without a filter" "usage: .*FILTER" 2 "$R"
refused "run-filter-scenarios.sh DAISI_L3DVAR_BZ" "DAISI_L3DVAR_BZ must be nmc or letkf, got 'lekf'" 2 DAISI_RUN_DIR=$work/rf DAISI_L3DVAR_BZ=lekf DAISI_RUN_TAG=bz "$R" l3dvar 1 sparse
refused "run-filter-scenarios.sh DAISI_L3DVAR_BZ=letkf without the LETKF run" "needs letkf_sparse.h5" 2 DAISI_RUN_DIR=$work/rf DAISI_L3DVAR_BZ=letkf DAISI_RUN_TAG=bz "$R" l3dvar 1 sparse
[ ! -e rf/bz_sparse.h5 ] && pass "refused runs leave no output" || fail "a refused run left rf/bz_sparse.h5"

# --- make-pairs.sh: truths made here (its own have a 300-day spin-up); 2 training, 2 validation cycles
P=$src/scripts/make-pairs.sh
mkdir -p pairs && truth pairs/truth_train.h5 5000 3 && truth pairs/truth_val.h5 6000 3
PAIRS_TRAIN_CYCLES=2 PAIRS_VAL_CYCLES=2 PAIRS_FILTER_OPTIONS="-ens_size 4" "$P" "$work/pairs" > mp1.log 2>&1 || fail "make-pairs.sh letkf ($(tail -3 mp1.log))"
mkdir -p pairs_mm && cp pairs/truth_train.h5 pairs/truth_val.h5 pairs_mm/
PAIRS_TRAIN_CYCLES=2 PAIRS_VAL_CYCLES=2 PAIRS_FILTER=losda PAIRS_SCENARIO=multimodal \
  PAIRS_FILTER_OPTIONS="-ens_size 2 -losda_steps 2 -losda_opt_every 0" "$P" "$work/pairs_mm" > mp2.log 2>&1 || fail "make-pairs.sh losda multimodal ($(tail -3 mp2.log))"
# the pairs: background means of every cycle, observation seeds 11 / 12, the scenario's operator
$py - "$work" <<'PY' && pass "make-pairs.sh: LETKF and LO-SDA (multimodal network) pairs, 2 + 2 cycles, seeds 11 / 12" || fail "make-pairs.sh outputs"
import sys, h5py
w = sys.argv[1]
for d, f, op in (("pairs", "letkf", "linear"), ("pairs_mm", "losda", "squared")):
    for split, seed in (("train", 11), ("val", 12)):
        with h5py.File(f"{w}/{d}/{f}_{split}.h5") as h:
            assert h["ens_mean_b"].shape == (2, 2, 64, 64), (d, split, h["ens_mean_b"].shape)
        with h5py.File(f"{w}/{d}/obs_{split}.h5") as h:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h.attrs.items()}
            assert int(attrs["obs_seed"]) == seed and attrs["obs_operator"] == op, (d, split, attrs)
PY
refused "make-pairs.sh PAIRS_FILTER" "PAIRS_FILTER must be letkf or losda, got 'enkf'" 2 PAIRS_FILTER=enkf "$P" "$work/none"
refused "make-pairs.sh PAIRS_SCENARIO" "no scenario config .*sqg_dense.yaml" 2 PAIRS_SCENARIO=dense "$P" "$work/none"
[ ! -e none ] && pass "refused pair runs make no directory" || fail "a refused make-pairs.sh left $work/none"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
