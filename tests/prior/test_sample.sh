#!/usr/bin/env bash
# daisi-sample end to end: a Gaussian prior estimated from a short nature run and written to a
# prior file; samples from it identical (byte for byte) on 1 and 3 ranks and any batch size,
# SDE and ODE, with the nature run's amplitude; bad input ends in a clear error and leaves
# no output behind.
set -u
nature="$DAISI_BIN/daisi-nature"
bin="$DAISI_BIN/daisi-sample"
mpi="$MPIEXEC --oversubscribe"
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-sample-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
grid="-daisi_quiet -sqg_n 32"

# a short nature run (21 states) and the prior estimated from it
$mpi -n 2 "$nature" $grid -nature_spinup_steps 200 -nature_steps 40 -nature_every 2 -nature_output nat.h5 > nat.log 2>&1 || fail "nature run ($(tail -3 nat.log))"
$mpi -n 2 "$bin" $grid -prior_gaussian_truth nat.h5 -sample_estimate gp.h5 -sample_view > est.log 2>&1 || fail "estimate ($(tail -3 est.log))"
[ -f gp.h5 ] && grep -q "estimated from nat.h5 (21 states)" est.log && pass "prior estimated from 21 states and written" || fail "no prior file ($(tail -3 est.log))"

# samples: the same bytes on 1 and 3 ranks and for any batch size (SDE, Heun) ...
opts="-prior_gaussian_file gp.h5 -sample_count 6 -sample_steps 40 -sample_method heun -sample_eps 0.03 -sample_seed 7"
$mpi -n 1 "$bin" $grid $opts -sample_batch 6 -sample_output a.h5 > a.log 2>&1 || fail "samples on 1 rank ($(tail -3 a.log))"
$mpi -n 3 "$bin" $grid $opts -sample_batch 4 -sample_output b.h5 > b.log 2>&1 || fail "samples on 3 ranks ($(tail -3 b.log))"
cmp -s a.h5 b.h5 && pass "samples identical on 1 and 3 ranks, batches of 6 and 4" || fail "samples differ between rank counts / batches"
# ... and for the ODE with Euler
ode="-prior_gaussian_file gp.h5 -sample_count 3 -sample_steps 30 -sample_method euler -sample_eps 0"
$mpi -n 2 "$bin" $grid $ode -sample_output c.h5 > c.log 2>&1 || fail "ODE samples on 2 ranks ($(tail -3 c.log))"
$mpi -n 4 "$bin" $grid $ode -sample_batch 1 -sample_output d.h5 > d.log 2>&1 || fail "ODE samples on 4 ranks ($(tail -3 d.log))"
cmp -s c.h5 d.h5 && pass "ODE samples identical on 2 and 4 ranks" || fail "ODE samples differ between rank counts"
cmp -s a.h5 c.h5 && fail "SDE and ODE samples are the same file" || true

# the layout: (time = sample, level, y, x) in K, with the nature run's amplitude
if command -v h5dump > /dev/null; then
  h5dump -H a.h5 | grep -A2 'DATASET "theta"' | grep -q "( 6, 2, 32, 32 )" && pass "theta(6, 2, 32, 32)" || fail "output shape ($(h5dump -H a.h5 | grep -A2 'DATASET "theta"'))"
  rms() { h5dump -d /theta -y -w 0 -o "$1.txt" "$1" > /dev/null && tr ', ' '\n\n' < "$1.txt" | grep -E '^-?[0-9]' | awk '{ss += $1 * $1; n++} END {printf "%.4f", sqrt(ss / n)}'; }
  # enough samples for the rms of a red spectrum (one wavevector holds ~ half the variance),
  # on a time grid refined toward t = 0 that the stiff large-scale modes need
  $mpi -n 2 "$bin" $grid -prior_gaussian_file gp.h5 -sample_count 60 -sample_batch 30 -sample_steps 30 -sample_method heun -sample_time_power 2 -sample_output r.h5 > r.log 2>&1 || fail "rms samples ($(tail -3 r.log))"
  rn=$(rms nat.h5)
  rs=$(rms r.h5)
  awk -v a="$rs" -v b="$rn" 'BEGIN {exit !(a > 0.85 * b && a < 1.15 * b)}' && pass "sample rms $rs K vs nature $rn K" || fail "sample rms $rs K vs nature $rn K"
else
  echo "skip layout checks (no h5dump)"
fi

# bad input: clear errors, nothing left under the output name
$mpi -n 2 "$bin" $grid -prior_gaussian_file missing.h5 -sample_output e.h5 > e.log 2>&1 && fail "missing prior file accepted"
grep -q "missing.h5 does not exist" e.log && [ ! -f e.h5 ] && pass "missing prior file named, no output" || fail "missing prior file: $(grep -m1 -i error e.log)"
$mpi -n 2 "$bin" -daisi_quiet -sqg_n 64 -prior_gaussian_file gp.h5 -sample_output f.h5 > f.log 2>&1 && fail "grid mismatch accepted"
grep -q "does not fit the prior's grid" f.log && [ ! -f f.h5 ] && pass "grid mismatch named, no output" || fail "grid mismatch: $(grep -m1 -i error f.log)"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_steps 0 -sample_output g.h5 > g.log 2>&1 && fail "0 steps accepted"
grep -q "sample_steps must be >= 1" g.log && [ ! -f g.h5 ] && pass "0 steps refused" || fail "0 steps: $(grep -m1 -i error g.log)"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_methd heun -sample_output h.h5 > h.log 2>&1 && fail "misspelt option accepted"
grep -q "sample_methd" h.log && [ ! -f h.h5 ] && pass "misspelt option refused" || fail "misspelt option: $(tail -2 h.log)"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 > i.log 2>&1 && fail "nothing to do accepted"
grep -q "nothing to do" i.log && pass "nothing to do refused" || fail "nothing to do: $(tail -2 i.log)"

echo "daisi-sample: $fails failure(s)"
[ "$fails" -eq 0 ]
