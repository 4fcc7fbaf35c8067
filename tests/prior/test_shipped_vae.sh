#!/usr/bin/env bash
# Smoke test of the shipped SQG-64 variational autoencoder (priors/sqg64/vae_{encoder,decoder}.h5,
# docs/prior-sqg64.md): the pair loads, and it reconstructs 8 held-out states (tests/data, from
# the test split, never trained on) with an RMSE below 0.3 of the states' standard deviation
# on both levels (seen: 0.27) and errors below half the state power up to wavenumber 15 or more
# (seen: 17-18); a random, corrupted or mismatched pair gives about 1 and 1. The same numbers on
# 1 and 2 ranks.
set -u
bin="$DAISI_BIN"
mpi="$MPIEXEC --oversubscribe"
held="$DAISI_SRC/tests/data/sqg64_heldout.h5"
enc="$DAISI_SRC/priors/sqg64/vae_encoder.h5"
dec="$DAISI_SRC/priors/sqg64/vae_decoder.h5"
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-shipped-vae-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
for f in "$enc" "$dec"; do [ -f "$f" ] || { echo "FAIL the shipped VAE file $f is missing"; exit 1; }; done
for np in 1 2; do
  $mpi -n $np "$bin/daisi-train" -daisi_quiet -train_model vae -train_eval "$enc" -train_eval_decoder "$dec" -train_data "$held" \
    -train_eval_samples 64 -train_eval_output sp$np.tsv > ev$np.log 2>&1 || fail "evaluation on $np rank(s) ($(tail -3 ev$np.log))"
done
cat ev2.log
# per level: RMSE / std (field 6) below 0.3, k(error = state / 2) (field 8) at least 15
if awk '/^eval \|  +[01]  / { n++; if ($6 >= 0.3 || $8 < 15) bad = 1 } END { exit (n == 2 && !bad) ? 0 : 1 }' ev2.log; then
  pass "held-out reconstruction: RMSE/std $(awk '/^eval \|  +[01]  / { printf "%s ", $6 }' ev2.log)and resolved up to k = $(awk '/^eval \|  +[01]  / { printf "%s ", $8 }' ev2.log)"
else
  fail "held-out reconstruction too poor"
fi
# the sums differ between rank counts only in their order: the printed digits agree to the last one
paste <(grep '^eval |  *[01]  ' ev1.log) <(grep '^eval |  *[01]  ' ev2.log) | awk -v FS='\t' '{ split($1, a, " +"); split($2, b, " +"); for (i = 3; i <= 8; i++) if (a[i] - b[i] > 2e-5 || b[i] - a[i] > 2e-5) bad = 1; n++ } END { exit (n == 2 && !bad) ? 0 : 1 }' \
  && pass "1 and 2 ranks give the same table" || fail "1 vs 2 ranks differ"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
