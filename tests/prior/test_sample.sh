#!/usr/bin/env bash
# daisi-sample end to end: a Gaussian prior estimated from a short nature run and written to a
# prior file; samples from it identical (byte for byte) on 1 and 3 ranks and any batch size,
# SDE and ODE, with the nature run's amplitude; bad input ends in a clear error and leaves
# no output behind. Round trips through t_min: exact for the Gaussian prior's ODE, layout independent.
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

# round trips (-sample_roundtrip): with the exact velocity of the Gaussian prior, the ODE round
# trip through t_min returns the input states (error power below 0.5 % of theirs at k 1-15; the
# band at k 16 holds the stiff, hyper-diffused modes, where 40 steps leave a few per cent),
# the same bytes on 1 and 3 ranks; SDE round trips of one state (stride 0) differ from it
rt="-prior_gaussian_file gp.h5 -sample_roundtrip nat.h5 -sample_first 2 -sample_stride 5 -sample_count 4 -sample_tmin 0.3"
$mpi -n 1 "$bin" $grid $rt -sample_steps 40 -sample_method heun -sample_eps 0 -sample_time_power 2 -sample_output rt1.h5 > rt1.log 2>&1 || fail "ODE round trips on 1 rank ($(tail -3 rt1.log))"
$mpi -n 3 "$bin" $grid $rt -sample_steps 40 -sample_method heun -sample_eps 0 -sample_time_power 2 -sample_batch 3 -sample_output rt3.h5 > rt3.log 2>&1 || fail "ODE round trips on 3 ranks ($(tail -3 rt3.log))"
cmp -s rt1.h5 rt3.h5 && pass "round trips identical on 1 and 3 ranks" || fail "round trips differ between rank counts"
# the first table of the report: per level, RMSE and the error power ratio of every band
band_ratios() { awk '/^Error power over/ {on = 1; next} on && /^\| [0-9]/ {print} on && /^$/ && seen {exit} on && /^\|/ {seen = 1}' "$1"; }
# the largest of those ratios, leaving out the last SKIP bands
worst_ratio() { band_ratios "$1" | awk -F'|' -v skip="$2" '{for (i = 4; i < NF - skip; i++) if ($i + 0 > m) m = $i + 0} END {print m + 0}'; }
if /usr/bin/python3 "$DAISI_SRC/tools/prior_quality.py" --roundtrip rt1.h5 nat.h5 --first 2 --stride 5 -o q1 > q1.log 2>&1; then
  worst=$(worst_ratio q1/roundtrip.md 1)
  [ -n "$(band_ratios q1/roundtrip.md)" ] && awk -v w="$worst" 'BEGIN {exit !(w < 5e-3)}' && pass "ODE round trip exact (largest error ratio at k 1-15: $worst)" || fail "ODE round trip error ratio $worst ($(cat q1/roundtrip.md))"
else
  fail "round-trip report ($(tail -2 q1.log))"
fi
# an ensemble file's states are counted time-major (state s: member s % 2 of time s / 2); these
# young states (200 spin-up steps) hold more power in the stiff modes, so 2 % (seen 0.9 %), still
# far from the ratio of about 1-2 that another state would give
$mpi -n 2 "$nature" $grid -nature_spinup_steps 200 -nature_steps 8 -nature_every 2 -nature_members 2 -nature_output ens.h5 > ens.log 2>&1 || fail "two-member nature run ($(tail -3 ens.log))"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_roundtrip ens.h5 -sample_first 1 -sample_stride 3 -sample_count 3 -sample_steps 40 -sample_method heun -sample_eps 0 -sample_time_power 2 -sample_output rte.h5 > rte.log 2>&1 || fail "round trips of an ensemble file ($(tail -3 rte.log))"
if /usr/bin/python3 "$DAISI_SRC/tools/prior_quality.py" --roundtrip rte.h5 ens.h5 --first 1 --stride 3 -o qe > qe.log 2>&1; then
  worst=$(worst_ratio qe/roundtrip.md 1)
  [ -n "$(band_ratios qe/roundtrip.md)" ] && awk -v w="$worst" 'BEGIN {exit !(w < 2e-2)}' && pass "round trips of ensemble-file states 1, 4, 7 exact ($worst)" || fail "ensemble-file round trips ($worst; $(cat qe/roundtrip.md))"
else
  fail "ensemble-file round-trip report ($(tail -2 qe.log))"
fi
/usr/bin/python3 "$DAISI_SRC/tools/prior_quality.py" --roundtrip rt1.h5 nat.h5 --first 3 --stride 5 -o q2 > q2.log 2>&1 && fail "mismatched round-trip pairing accepted"
grep -q "wrong file, --first or --stride" q2.log && pass "mismatched pairing refused" || fail "mismatched pairing: $(tail -1 q2.log)"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_roundtrip nat.h5 -sample_first 7 -sample_stride 0 -sample_count 6 -sample_steps 20 -sample_eps 0.5 -sample_output rs.h5 > rs.log 2>&1 || fail "SDE round trips of one state ($(tail -3 rs.log))"
if /usr/bin/python3 "$DAISI_SRC/tools/prior_quality.py" --roundtrip rs.h5 nat.h5 --first 7 --stride 0 -o q3 > q3.log 2>&1; then
  worst=$(worst_ratio q3/roundtrip.md 0)
  grep -q "Error power of the mean of the 6 round trips of the one state" q3/roundtrip.md && awk -v w="$worst" 'BEGIN {exit !(w > 1e-3)}' && pass "SDE round trips of one state: noise acts (largest band error ratio $worst), their mean reported" || fail "SDE round trips ($worst; $(cat q3/roundtrip.md))"
else
  fail "SDE round-trip report ($(tail -2 q3.log))"
fi
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_roundtrip nat.h5 -sample_first 5 -sample_stride 4 -sample_count 5 -sample_output rb.h5 > rb.log 2>&1 && fail "round trips beyond the file accepted"
grep -q "holds 21 states; -sample_count 5 from -sample_first 5 with -sample_stride 4 needs state 21" rb.log && [ ! -f rb.h5 ] && pass "round trips beyond the file refused, no output" || fail "round trips beyond the file: $(grep -m1 -A1 'Error Message' rb.log | tail -1)"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_roundtrip nat.h5 -sample_tmin 1 -sample_output rc.h5 > rc.log 2>&1 && fail "t_min 1 accepted"
grep -q "sample_tmin must lie in \[0, 1)" rc.log && [ ! -f rc.h5 ] && pass "t_min 1 refused" || fail "t_min 1: $(grep -m1 -A1 'Error Message' rc.log | tail -1)"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_roundtrip nat.h5 > rd.log 2>&1 && fail "round trips without an output accepted"
grep -q "sample_roundtrip nat.h5 needs -sample_output" rd.log && pass "round trips without an output refused" || fail "round trips without an output: $(grep -m1 -A1 'Error Message' rd.log | tail -1)"
$mpi -n 1 "$bin" $grid -prior_gaussian_file gp.h5 -sample_roundtrip nothere.h5 -sample_output re.h5 > re.log 2>&1 && fail "missing round-trip input accepted"
grep -q "nothere.h5" re.log && [ ! -f re.h5 ] && pass "missing round-trip input named, no output" || fail "missing round-trip input: $(grep -m1 -A1 'Error Message' re.log | tail -1)"

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
