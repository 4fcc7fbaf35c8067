#!/usr/bin/env bash
# The SLURM job scripts (jobscripts/) on a real scheduler: a one-node SLURM cluster on loopback
# (munged, slurmctld, slurmd with their files in a temporary directory), every workflow
# submitted with sbatch at a tiny size, the outputs checked, and a nature run stopped by the
# time-limit signal (scancel -s TERM -b, as SLURM does with --signal=B:TERM@120), requeued by
# its script and resumed, compared byte for byte with an uninterrupted one.
# Exit 77 (skipped) when the SLURM or MUNGE programs are not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${DAISI_SRC:-$(cd "$here/../.." && pwd)}
py=/usr/bin/python3
# shellcheck source=minislurm.sh
. "$here/minislurm.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-slurm-XXXXXX")
cleanup() {
  minislurm_down
  if [ "${fails:-1}" -eq 0 ] || [ -z "${DAISI_KEEP_TEST_DIR:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
t_start=$(date +%s)

minislurm_up "$work/slurm"
rc=$?
if [ $rc -eq 77 ]; then
  echo "SKIP: SLURM is not installed here (apt-get install slurm-wlm munge; scripts/setup.sh does)"
  exit 77
fi
[ $rc -eq 0 ] || { echo "FAIL could not start the SLURM daemons"; fails=1; exit 1; }
pass "munged, slurmctld and slurmd up on 127.0.0.1 ($(sinfo -h -o '%P %D node(s) %c CPU(s) %T'))"

run=$work/run
logs=$work/logs
mkdir -p "$run" "$logs"
export DAISI_ROOT=$src DAISI_RUN_DIR=$run DAISI_BIN=${DAISI_BIN:-$src/build/bin}
unset DAISI_ARGS FILTER SCENARIO SLURM_JOB_ID SLURM_ARRAY_TASK_ID
J=$src/jobscripts
sub() { # sbatch with the log under $logs; prints the job id
  sbatch --parsable -D "$work" -o "$logs/%x-%j.out" "$@" | cut -d';' -f1
}
suba() { # a job array
  sbatch --parsable -D "$work" -o "$logs/%x-%A_%a.out" "$@" | cut -d';' -f1
}
deadline=$((t_start + ${DAISI_SLURM_TEST_SECONDS:-420}))
wait_jobs() { # until no job of the given ids is pending or running
  while [ -n "$(squeue -h -o %i -j "$(
    IFS=,
    echo "$*"
  )" 2> /dev/null)" ]; do
    if squeue -h -o %r -j "$(
      IFS=,
      echo "$*"
    )" 2> /dev/null | grep -q DependencyNeverSatisfied; then
      echo "a dependency failed:"
      squeue
      scancel "$@"
      sleep 1
      return 1
    fi
    if [ "$(date +%s)" -gt $deadline ]; then
      echo "timeout waiting for jobs $*"
      squeue
      return 1
    fi
    sleep 0.5
  done
}
completed() { # every task of the job: COMPLETED with exit code 0:0
  local lines
  lines=$(scontrol show job -o "$1" 2> /dev/null)
  [ -n "$lines" ] && ! echo "$lines" | grep -v -q "JobState=COMPLETED .*ExitCode=0:0"
}
state() { scontrol show job -o "$1" | grep -o -E "JobState=[A-Z_]+|Restarts=[0-9]+|ExitCode=[0-9:]+" | tr '\n' ' '; }
log_of() { cat "$logs"/*-"$1".out "$logs"/*-"$1"_*.out 2> /dev/null; }
check_job() { # id description
  if completed "$1"; then pass "$2"; else
    fail "$2 ($(state "$1"); log: $(log_of "$1" | grep -E 'ERROR|error' | head -3))"
  fi
}

# tiny twin experiment: N = 32, no spin-up, 100 states 12 h apart (18 steps of 2400 s)
nat="-sqg_n 32 -nature_spinup_days 0 -nature_steps 1800 -nature_every 18 -nature_progress_every 180"

# 1. a nature run stopped by the time-limit signal, requeued and resumed (submitted first so
#    that it runs first), and the same run uninterrupted
rq=$(NATURE_OUTPUT=truth_rq.h5 DAISI_ARGS="$nat" sub -J nature-rq "$J/nature.sbatch")
ref=$(NATURE_OUTPUT=truth.h5 DAISI_ARGS="$nat" sub -J nature "$J/nature.sbatch")
for _ in $(seq 1 600); do grep -Eq "step +[0-9]+/1800" "$logs/nature-rq-$rq.out" 2> /dev/null && break; sleep 0.1; done
if grep -Eq "step +[0-9]+/1800" "$logs/nature-rq-$rq.out" 2> /dev/null; then
  scancel -s TERM -b "$rq" # what --signal=B:TERM@120 does two minutes before the time limit
  # the script forwards the signal, the ranks checkpoint and exit 3, the script requeues the
  # job; SLURM holds a requeued job back for a while (BeginTime): release it at once
  for _ in $(seq 1 300); do
    scontrol show job -o "$rq" | grep -q "JobState=PENDING.*Restarts=1" && break
    sleep 0.1
  done
  if scontrol show job -o "$rq" | grep -q "Restarts=1"; then
    pass "signalled nature job requeued itself ($(state "$rq"))"
    scontrol update JobId="$rq" StartTime=now
  else
    fail "signalled nature job not requeued ($(state "$rq"); $(tail -5 "$logs/nature-rq-$rq.out"))"
  fi
else
  fail "nature job did not start ($(state "$rq"))"
fi

# 2. the training set (array over the splits) and a tiny prior trained on it
ts=$(TRAINSET_SPLITS="train:1000:2 val:2000:1 test:3000:1" TRAINSET_DIR=$run/data DAISI_ARGS="-sqg_n 32 -nature_spinup_days 0 -nature_steps 180 -nature_every 9" \
  suba -J trainset -n 1 --array=0-2 "$J/trainset.sbatch")
net="-nn_base_width 8 -nn_channel_mult 1,2 -nn_groups 4 -nn_time_features 8 -nn_time_dim 16"
tr=$(TRAIN_DATA=$run/data/train.h5 TRAIN_VAL=$run/data/val.h5 TRAIN_OUTPUT=prior_tiny.h5 \
  DAISI_ARGS="$net -train_batch 8 -train_steps 20 -train_warmup 4 -train_epoch_steps 10 -train_val_samples 8 -train_progress_every 10 -train_checkpoint_every 0" \
  sub -J train -n 1 --dependency=afterok:"$ts" "$J/train.sbatch")

# 3. observations, LETKF on the sparse scenario, and a DAISI ablation over t_min as an array
wait_jobs "$ref" || true
check_job "$ref" "nature.sbatch completed"
obs=$(SCENARIOS="sparse noisy" sub -J obs "$J/obs.sbatch")
fl=$(FILTER=letkf SCENARIO=sparse CYCLES=4 DAISI_ARGS="-ens_size 8" sub -J filter --dependency=afterok:"$obs" "$J/filter.sbatch")
# a Gaussian prior for N = 32 (the shipped prior is for N = 64)
$MPIEXEC --oversubscribe -n 1 "$DAISI_BIN/daisi-sample" -daisi_quiet -sqg_n 32 -prior_gaussian_truth "$run/truth.h5" -sample_estimate "$run/gauss32.h5" > "$logs/gauss.log" 2>&1 ||
  fail "Gaussian prior ($(tail -2 "$logs/gauss.log"))"
printf '# t_min values\n0.3\n\n0.5   # a comment\n' > "$work/tmin.txt"
ab=$(ABLATION_OPTION=daisi_tmin ABLATION_FILE=$work/tmin.txt FILTER=daisi SCENARIO=sparse CYCLES=3 DAISI_PRIOR=$run/gauss32.h5 \
  DAISI_ARGS="-ens_size 6 -daisi_steps 6 -daisi_inversion_steps 6 -filter_view" suba -J ablation -n 1 --array=0-1 --dependency=afterok:"$obs" "$J/ablation.sbatch")
# a job that must fail: no FILTER
bad=$(SCENARIO=sparse sub -J bad "$J/filter.sbatch")

# 4. strong and weak scaling at 1 and 2 ranks
ss=$(SCALING=strong SCALING_RANKS="1 2" SCALING_N=32 SCALING_STEPS=60 sub -J scaling -n 2 "$J/scaling.sbatch")
sw=$(SCALING=weak SCALING_RANKS="1 2" SCALING_N=32 SCALING_STEPS=60 sub -J scaling -n 2 "$J/scaling.sbatch")

wait_jobs "$rq" "$ts" "$tr" "$obs" "$fl" "$ab" "$bad" "$ss" "$sw" || fail "jobs did not finish in time"

# --- checks
check_job "$rq" "requeued nature job completed after its restart"
if grep -q "SIGTERM received (time limit near): SIGUSR1 to the ranks" "$logs/nature-rq-$rq.out" &&
  grep -q "requeueing job $rq (restart 1)" "$logs/nature-rq-$rq.out" &&
  grep -q "restarting from truth_rq.h5.chk at step" "$logs/nature-rq-$rq.out" &&
  grep -q "start: job $rq, restart 1" "$logs/nature-rq-$rq.out"; then
  pass "log: signal forwarded, checkpoint, requeue, restart from the checkpoint"
else
  fail "requeue log ($(grep -E '^\[|nature \| (checkpoint|restarting|stopping)' "$logs/nature-rq-$rq.out" | tail -8))"
fi
if [ -f "$run/truth_rq.h5" ] && cmp -s "$run/truth.h5" "$run/truth_rq.h5" && h5diff "$run/truth.h5" "$run/truth_rq.h5" > /dev/null; then
  pass "requeued run's truth_rq.h5 identical to the uninterrupted truth.h5 (cmp, h5diff)"
else
  fail "requeued run's output differs from the uninterrupted one (or is missing)"
fi
[ ! -e "$run/truth_rq.h5.chk" ] && [ ! -e "$run/truth_rq.h5.partial" ] && pass "no checkpoint or partial file left" || fail "checkpoint left behind"
check_job "$ts" "trainset.sbatch array (3 splits) completed"
check_job "$tr" "train.sbatch completed"
check_job "$obs" "obs.sbatch completed"
check_job "$fl" "filter.sbatch (letkf, sparse) completed"
check_job "$ab" "ablation.sbatch array (daisi_tmin 0.3, 0.5) completed"
for i in 0 1; do
  v=$( [ $i -eq 0 ] && echo 0.3 || echo 0.5)
  grep -q "t_min = $v in 6 euler steps" "$logs/ablation-${ab}_$i.out" && pass "ablation task $i ran with -daisi_tmin $v" || fail "ablation task $i settings ($(grep -m1 't_min' "$logs/ablation-${ab}_$i.out"))"
done
check_job "$ss" "scaling.sbatch strong completed"
check_job "$sw" "scaling.sbatch weak completed"
if scontrol show job -o "$bad" | grep -q "JobState=FAILED" && grep -q "set FILTER" "$logs/bad-$bad.out"; then
  pass "filter.sbatch without FILTER fails with a clear message"
else
  fail "filter.sbatch without FILTER ($(state "$bad"))"
fi

(cd "$run" && $py - << 'PY') && pass "outputs: truth, obs, LETKF and DAISI diagnostics, training data, prior, scaling tables" || fail "outputs (see above)"
import h5py, numpy as np, sys, csv
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("  bad:", msg)
        ok = False
with h5py.File("truth.h5") as f:
    check(f["theta"].shape == (101, 2, 32, 32), "truth.h5 theta shape %s" % (f["theta"].shape,))
for s in ("sparse", "noisy"):
    with h5py.File("obs_%s.h5" % s) as f:
        check(f["value"].shape[0] == 100, "obs_%s.h5 has %d cycles" % (s, f["value"].shape[0]))
with h5py.File("letkf_sparse.h5") as f:
    r = f["rmse_a"][()]
    check(len(r) == 4 and np.all(np.isfinite(r)) and np.all(r < f["rmse_b"][()] * 1.5), "letkf_sparse.h5 rmse_a %s" % r)
for v in ("0.3", "0.5"):
    with h5py.File("daisi_sparse_daisi_tmin_%s.h5" % v) as f:
        check(len(f["rmse_a"][()]) == 3 and np.all(np.isfinite(f["rmse_a"][()])), "daisi tmin %s rmse_a" % v)
for split, m in (("train", 2), ("val", 1), ("test", 1)):
    with h5py.File("data/%s.h5" % split) as f:
        sh = f["theta"].shape
        check(sh[0] == 21 and (sh[1] == m if m > 1 else True), "data/%s.h5 theta shape %s" % (split, sh))
with h5py.File("prior_tiny.h5") as f:
    check("parameters" in f and np.all(np.isfinite(f["parameters"][()])), "prior_tiny.h5 parameters")
for mode in ("strong", "weak"):
    rows = list(csv.DictReader(open("scaling_%s.tsv" % mode), delimiter="\t"))
    check([r["ranks"] for r in rows] == ["1", "2"] and all(float(r["seconds"]) > 0 for r in rows), "scaling_%s.tsv %s" % (mode, rows))
    if mode == "weak":
        check([r["members"] for r in rows] == ["1", "2"], "weak scaling members %s" % [r["members"] for r in rows])
sys.exit(0 if ok else 1)
PY

echo "$fails failure(s) in $(($(date +%s) - t_start)) s"
[ "$fails" -eq 0 ]
