#!/usr/bin/env bash
# Smoke test of the shipped SQG-64 priors (priors/sqg64/prior.h5 and the cheaper width-16
# prior_w16.h5, docs/prior-sqg64.md): each loads as a net prior with its recorded data scale,
# denoises 8 held-out states (tests/data, from the test split, never trained on) far better
# than b = 0 at every t, and its samples are finite with a climatological spread. A random or
# corrupted network fails all three.
set -u
bin="$DAISI_BIN"
mpi="$MPIEXEC --oversubscribe"
held="$DAISI_SRC/tests/data/sqg64_heldout.h5"
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-shipped-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
for prior in "$DAISI_SRC/priors/sqg64/prior.h5" "$DAISI_SRC/priors/sqg64/prior_w16.h5"; do
  [ -f "$prior" ] || { fail "the shipped prior $prior is missing"; continue; }
  echo "-- $prior"
  rm -f ev.tsv ev.log s.h5 s.log
  $mpi -n 2 "$bin/daisi-train" -daisi_quiet -train_eval "$prior" -train_data "$held" -train_eval_samples 60 -train_eval_bins 3 -train_eval_output ev.tsv > ev.log 2>&1 || fail "evaluation ($(tail -3 ev.log))"
  grep -q "s_data 8.14286" ev.log && pass "data scale read from the weight file" || fail "data scale"
  if awk 'NR > 1 { if ($4 / $5 > 0.5) bad = 1; n++ } END { exit (n == 3 && !bad) ? 0 : 1 }' ev.tsv; then
    pass "held-out denoising loss below half of b = 0's in every t-bin: $(awk 'NR > 1 { printf "%.2f ", $4 / $5 }' ev.tsv)"
  else
    fail "held-out denoising loss too high: $(cat ev.tsv)"
  fi

  $mpi -n 2 "$bin/daisi-sample" -daisi_quiet -model_type sqg -sqg_n 64 -prior_type net -prior_file "$prior" -sample_count 2 -sample_batch 2 \
    -sample_steps 20 -sample_method heun -sample_eps 0 -sample_time_power 2 -sample_output s.h5 > s.log 2>&1 || fail "sampling ($(tail -3 s.log))"
  if /usr/bin/python3 -c "import h5py, numpy" 2>/dev/null; then
    /usr/bin/python3 - <<'PY' && pass "samples finite with a climatological spread" || fail "samples"
import h5py, numpy as np, sys
th = h5py.File("s.h5")["theta"][:]
sd = th.std(axis=(0, 2, 3))
print("sample std per level (K):", sd)
sys.exit(0 if np.all(np.isfinite(th)) and np.all((sd > 4) & (sd < 14)) else 1)
PY
  else
    fail "python3 with h5py and numpy is needed"
  fi
done
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
