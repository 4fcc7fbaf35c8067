#!/usr/bin/env bash
# daisi-nature end to end: restart equality (deterministic stop and a real signal, restarted
# on another rank count), and bad input ending in a clear error with no output left behind.
set -u
bin="$DAISI_BIN/daisi-nature"
mpi="$MPIEXEC --oversubscribe"
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-nature-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
common="-daisi_quiet -sqg_n 32 -nature_spinup_days 3 -nature_steps 180 -nature_every 9 -nature_progress_every 100000"

# 1. uninterrupted vs stopped at a step and restarted on another rank count: same bytes
$mpi -n 2 "$bin" $common -nature_output a.h5 > a.log 2>&1 || fail "uninterrupted run ($(tail -3 a.log))"
$mpi -n 2 "$bin" $common -nature_output b.h5 -nature_stop_at_step 150 > b1.log 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ -f b.h5.chk ] && [ -f b.h5.partial ] && [ ! -f b.h5 ] && pass "stop writes checkpoint and partial file, exit $rc" || fail "stop at step (rc=$rc)"
$mpi -n 3 "$bin" $common -nature_output b.h5 -nature_restart > b2.log 2>&1 || fail "restart ($(tail -3 b2.log))"
grep -q "restarting from b.h5.chk at step" b2.log && pass "restart announced" || fail "restart not announced"
cmp -s a.h5 b.h5 && pass "restarted file identical to uninterrupted, byte for byte" || fail "restarted file differs"
[ ! -f b.h5.chk ] && [ ! -f b.h5.partial ] && pass "checkpoint and partial removed on completion" || fail "leftovers after completion"

# 2. a real signal (SIGUSR1 forwarded by mpiexec; SLURM sends SIGTERM to the ranks) at a random moment
long="-daisi_quiet -sqg_n 32 -nature_spinup_days 0 -nature_steps 9000 -nature_every 90 -nature_progress_every 900"
$mpi -n 2 "$bin" $long -nature_output c.h5 > c.log 2>&1 || fail "long uninterrupted run"
$mpi -n 2 "$bin" $long -nature_output d.h5 > d1.log 2>&1 &
pid=$!
# signal once the run is under way (its first progress line), wherever it then is
for _ in $(seq 1 600); do grep -q "step" d1.log 2>/dev/null && break; sleep 0.05; done
kill -USR1 $pid 2>/dev/null
wait $pid
rc=$?
if [ -f d.h5 ]; then
  fail "the run finished before the signal arrived (make it longer)"
else
  [ -f d.h5.chk ] && pass "signal -> checkpoint (exit $rc)" || fail "no checkpoint after signal (rc=$rc, $(tail -2 d1.log))"
  $mpi -n 1 "$bin" $long -nature_output d.h5 -nature_restart > d2.log 2>&1 || fail "restart after signal"
  cmp -s c.h5 d.h5 && pass "signal-restarted file identical" || fail "signal-restarted file differs"
fi

# 3. several trajectories in one batch (training data): member 0 is the single run with the
#    same seed (to rounding: the batch's transforms differ), the members differ, and a stopped
#    and restarted batch run gives the same bytes
$mpi -n 3 "$bin" $common -nature_members 3 -nature_output e.h5 > e.log 2>&1 || fail "3-trajectory run ($(tail -3 e.log))"
$mpi -n 3 "$bin" $common -nature_members 3 -nature_output f.h5 -nature_stop_at_step 150 > f1.log 2>&1
$mpi -n 3 "$bin" $common -nature_members 3 -nature_output f.h5 -nature_restart > f2.log 2>&1 || fail "3-trajectory restart ($(tail -3 f2.log))"
cmp -s e.h5 f.h5 && pass "3-trajectory restart identical" || fail "3-trajectory restart differs"
if /usr/bin/python3 -c "import h5py, numpy" 2>/dev/null; then
  /usr/bin/python3 - <<'PY' && pass "member 0 of the batch run equals the single run; members differ; chunk = one state" || fail "batch trajectories"
import h5py, numpy as np, sys
with h5py.File("e.h5") as e, h5py.File("a.h5") as s:
    th, single = e["theta"], s["theta"][:]
    kind = e.attrs["daisi_file"]
    ok = (kind.decode() if isinstance(kind, bytes) else kind) == "ensemble"
    ok = ok and th.shape == (21, 3, 2, 32, 32) and th.chunks == (1, 1, 2, 32, 32)
    ok = ok and np.abs(th[:, 0] - single).max() < 1e-9 * np.abs(single).max()
    ok = ok and min(np.abs(th[:, i] - th[:, j]).max() for i, j in ((0, 1), (0, 2), (1, 2))) > 1
    sys.exit(0 if ok else 1)
PY
fi

# 4. bad input: non-zero exit, a message naming the culprit, nothing under the output name
bad() { # name, expected message (grep -E), args...
  local name=$1 msg=$2
  shift 2
  rm -f out.h5 out.h5.partial
  $mpi -n 2 "$bin" -daisi_quiet -nature_spinup_days 0 -nature_steps 18 -nature_output out.h5 "$@" > bad.log 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$msg" bad.log && [ ! -e out.h5 ] && [ ! -e out.h5.partial ]; then pass "bad input: $name"; else
    fail "bad input: $name (rc=$rc, expected /$msg/; got: $(grep -m2 'ERROR: [a-z-]' bad.log))"; fi
}
bad "missing IC file" "no_such_file.h5" -sqg_ic no_such_file.h5
bad "IC on the wrong grid" "a.h5: dataset theta has shape .*x32x32, expected .*N=64" -sqg_ic a.h5
bad "odd N" "-sqg_n 63: N must be even" -sqg_n 63
bad "N too small" "-sqg_n 4: N must be even and at least 8" -sqg_n 4
bad "N without table entry" "N=48 is not in the resolution table" -sqg_n 48
bad "unstable time step" "blew up.*-sqg_dt" -sqg_n 32 -sqg_dt 100000 -nature_steps 90
bad "unknown option" "unknown option.*-sqg_nn" -sqg_nn 32
bad "steps not a multiple of every" "multiple of -nature_every" -nature_steps 10 -nature_every 9
bad "members with an IC file" "-nature_members 2 needs the random initial conditions" -nature_members 2 -sqg_ic a.h5
bad "no members" "-nature_members must be >= 1" -nature_members 0
if /usr/bin/python3 -c "import h5py, numpy" 2>/dev/null; then
  /usr/bin/python3 - <<'PY'
import h5py, numpy as np, shutil
shutil.copy("a.h5", "nan.h5")
with h5py.File("nan.h5", "r+") as f:
    th = f["theta"]; v = th[-1]; v[1, 5, 7] = np.nan; th[-1] = v
with h5py.File("wrongname.h5", "w") as f:
    f["pv"] = np.zeros((1, 2, 32, 32))
with open("garbage.h5", "wb") as f:
    f.write(b"this is not an HDF5 file\n" * 10)
PY
  bad "NaN in the IC" "nan.h5.*(NaN|Inf|finite)" -sqg_n 32 -sqg_ic nan.h5
  bad "wrong dataset" "wrongname.h5.*theta" -sqg_n 32 -sqg_ic wrongname.h5
  bad "not an HDF5 file" "garbage.h5" -sqg_n 32 -sqg_ic garbage.h5
else
  fail "python3 with h5py and numpy is needed for the NaN/wrong-dataset cases (apt-get install python3-h5py)"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
