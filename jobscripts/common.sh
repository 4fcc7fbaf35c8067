# DAISI job scripts: the logic they share (sourced by every jobscripts/*.sbatch).
#
# Provides
#   daisi_job_start NAME   banner, run directory (DAISI_RUN_DIR, created, made the cwd)
#   daisi_run PROG ARGS    PROG (from DAISI_BIN unless a path) under the MPI launcher with
#                          DAISI_NP ranks (daisi_run_np NP PROG ARGS for another count),
#                          in the background so that the signal trap below can act; returns
#                          PROG's exit status
#   daisi_step PROG ARGS   daisi_run, then: 0 -> return; 3 (checkpointed stop) -> requeue
#                          the job and end the script; anything else -> end the script with it
#   daisi_requeue          `scontrol requeue $SLURM_JOB_ID` (the job starts again from the
#                          top, and every step continues from its checkpoint or is skipped)
#   daisi_have FILE        true (and says so) when FILE is there and DAISI_FORCE is unset
#   daisi_filter ...       one filter run (filter.sbatch, ablation.sbatch)
#   daisi_die MSG          error message and exit 1
#
# Checkpoint and requeue: the job scripts carry `#SBATCH --signal=B:TERM@120` (SLURM sends
# SIGTERM to this shell 120 s before the time limit) and `--requeue`. The trap set here passes
# the signal on to the launcher as DAISI_FORWARD_SIGNAL (USR1: Open MPI's mpiexec forwards it
# to the ranks without ending the job; srun forwards it as well); the drivers then write their
# checkpoint and exit with status 3, and daisi_step requeues the job. The requeued job runs
# the same script with the same environment; every driver is called with its restart flag
# (-nature_restart, -filter_restart, -train_restart), so it continues where it stopped, and
# finished outputs are skipped. SLURM_RESTART_COUNT counts the requeues; after
# DAISI_MAX_REQUEUES (20) the script stops requeueing (exit 3: resubmit by hand).
#
# Outside SLURM (bash jobscripts/X.sbatch) the same scripts run as they are; a stop then ends
# with status 3 and running the script again continues.

DAISI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DAISI_ROOT
# shellcheck source=/dev/null
. "${DAISI_SITE:-$DAISI_ROOT/jobscripts/site.sh}" || { echo "daisi job: site file ${DAISI_SITE:-$DAISI_ROOT/jobscripts/site.sh} failed" >&2; exit 1; }

: "${DAISI_LAUNCHER:=mpiexec}"
if [ -z "${DAISI_LAUNCHER_FLAGS+set}" ]; then
  case "$DAISI_LAUNCHER" in *mpiexec | *mpirun) DAISI_LAUNCHER_FLAGS=--oversubscribe ;; *) DAISI_LAUNCHER_FLAGS= ;; esac
fi
: "${DAISI_BIN:=$DAISI_ROOT/build/bin}"
: "${DAISI_RUN_DIR:=$DAISI_ROOT/runs/cluster}"
: "${DAISI_NP:=${SLURM_NTASKS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}}"
: "${DAISI_FORWARD_SIGNAL:=USR1}"
: "${DAISI_MAX_REQUEUES:=20}"
DAISI_ARGS=${DAISI_ARGS:-}      # extra driver options, appended to every driver call
DAISI_FORCE=${DAISI_FORCE:-}    # non-empty: redo steps whose output exists
DAISI_JOB_NAME=daisi
DAISI_CHILD=""                  # pid of the running launcher
DAISI_STOP=""                   # set by the trap: the job was told to stop

daisi_log() { printf '[%s %s] %s\n' "$(date '+%F %T')" "$DAISI_JOB_NAME" "$*"; }
daisi_die() { daisi_log "ERROR: $*" >&2; exit 1; }

daisi_on_signal() {
  DAISI_STOP=$1
  if [ -n "$DAISI_CHILD" ] && kill -0 "$DAISI_CHILD" 2> /dev/null; then
    daisi_log "SIG$1 received (time limit near): SIG$DAISI_FORWARD_SIGNAL to the ranks (launcher pid $DAISI_CHILD), they checkpoint and stop"
    kill -s "$DAISI_FORWARD_SIGNAL" "$DAISI_CHILD" 2> /dev/null || true
  else
    daisi_log "SIG$1 received between steps: no further step starts"
  fi
}
trap 'daisi_on_signal TERM' TERM
trap 'daisi_on_signal USR1' USR1
trap 'daisi_on_signal INT' INT

daisi_job_start() {
  DAISI_JOB_NAME=$1
  local id=${SLURM_JOB_ID:-none}
  [ -n "${SLURM_ARRAY_TASK_ID:-}" ] && id="$id (array ${SLURM_ARRAY_JOB_ID:-?}_$SLURM_ARRAY_TASK_ID)"
  daisi_log "start: job $id, restart ${SLURM_RESTART_COUNT:-0}, host $(hostname), nodes ${SLURM_JOB_NODELIST:-local}, $DAISI_NP rank(s) via $DAISI_LAUNCHER"
  daisi_log "tree $DAISI_ROOT, binaries $DAISI_BIN, run directory $DAISI_RUN_DIR"
  [ -x "$DAISI_BIN/daisi-nature" ] || daisi_die "no $DAISI_BIN/daisi-nature: build DAISI first (cmake -S . -B build && cmake --build build) or set DAISI_BIN"
  mkdir -p "$DAISI_RUN_DIR" || daisi_die "cannot create $DAISI_RUN_DIR"
  cd "$DAISI_RUN_DIR" || daisi_die "cannot enter $DAISI_RUN_DIR"
}

daisi_have() {
  if [ -e "$1" ] && [ -z "$DAISI_FORCE" ]; then
    daisi_log "$1 exists, kept (DAISI_FORCE=1 redoes it)"
    return 0
  fi
  return 1
}

daisi_run_np() {
  local np=$1 prog=$2
  shift 2
  case "$prog" in */*) ;; *) prog=$DAISI_BIN/$prog ;; esac
  if [ -n "$DAISI_STOP" ]; then
    daisi_log "not starting $(basename "$prog"): the job was told to stop"
    return 3
  fi
  # shellcheck disable=SC2206
  local cmd=($DAISI_LAUNCHER $DAISI_LAUNCHER_FLAGS -n "$np" "$prog" "$@")
  daisi_log "run: ${cmd[*]}"
  "${cmd[@]}" &
  DAISI_CHILD=$!
  local rc
  while :; do
    rc=0
    wait "$DAISI_CHILD" || rc=$?
    # wait returns > 128 when a trapped signal interrupts it: the launcher still runs
    if [ $rc -gt 128 ] && kill -0 "$DAISI_CHILD" 2> /dev/null; then continue; fi
    break
  done
  DAISI_CHILD=""
  return $rc
}
daisi_run() { daisi_run_np "$DAISI_NP" "$@"; }

daisi_step() {
  local rc=0
  daisi_run "$@" || rc=$?
  [ $rc -eq 0 ] && return 0
  if [ $rc -eq 3 ] || [ -n "$DAISI_STOP" ]; then
    daisi_log "$(basename "$1") stopped (exit $rc) with its checkpoint written"
    daisi_requeue
  fi
  daisi_log "ERROR: $(basename "$1") failed with exit status $rc"
  exit $rc
}

daisi_requeue() {
  local n=${SLURM_RESTART_COUNT:-0}
  if [ -z "${SLURM_JOB_ID:-}" ]; then
    daisi_log "stopped; run the same command again to continue from the checkpoint"
    exit 3
  fi
  if [ "$n" -ge "$DAISI_MAX_REQUEUES" ]; then
    daisi_log "stopped, but the job was requeued $n times already (DAISI_MAX_REQUEUES): resubmit it to continue"
    exit 3
  fi
  daisi_log "requeueing job $SLURM_JOB_ID (restart $((n + 1))): it continues from the checkpoint"
  if scontrol requeue "$SLURM_JOB_ID"; then
    exit 0
  fi
  daisi_log "ERROR: scontrol requeue $SLURM_JOB_ID failed (submitted with --no-requeue?): resubmit the same job to continue"
  exit 3
}

# daisi_filter FILTER SCENARIO OUTPUT [OPTIONS...]: the twin-experiment filter run of
# filter.sbatch and ablation.sbatch in the run directory. Reads TRUTH (truth.h5), OBS
# (obs_SCENARIO.h5, made from TRUTH when missing), CYCLES (100), FILTER_CONFIG
# (configs/sqg_SCENARIO.yaml), DAISI_PRIOR (the config's daisi_prior: the shipped prior),
# FILTER_CHECKPOINT_EVERY (5 cycles), DAISI_ARGS; OPTIONS come last and win.
daisi_filter() {
  local ft=$1 sc=$2 out=$3
  shift 3
  local cfg=${FILTER_CONFIG:-$DAISI_ROOT/configs/sqg_$sc.yaml}
  local truth=${TRUTH:-truth.h5} obs=${OBS:-obs_$sc.h5}
  [ -f "$cfg" ] || daisi_die "no scenario config $cfg (SCENARIO noisy, sparse, multimodal or saturating, or set FILTER_CONFIG)"
  [ -f "$truth" ] || daisi_die "no truth $DAISI_RUN_DIR/$truth: run jobscripts/nature.sbatch first (or set TRUTH)"
  if ! [ -f "$obs" ]; then
    # a job-private name, then an atomic rename: concurrent jobs may make the same file
    local tmp="$obs.job${SLURM_JOB_ID:-$$}.h5"
    # shellcheck disable=SC2086
    daisi_step daisi-obs -options_file_yaml "$cfg" -truth "$truth" -obs_output "$tmp" ${OBS_ARGS:-}
    mv -f "$tmp" "$obs"
  fi
  daisi_have "$out" && return 0
  local prior=()
  [ -n "${DAISI_PRIOR:-}" ] && prior=(-daisi_prior "$DAISI_PRIOR")
  # shellcheck disable=SC2086
  daisi_step daisi-filter -options_file_yaml "$cfg" -filter_type "$ft" "${prior[@]}" -truth "$truth" -obs "$obs" \
    -cycles "${CYCLES:-100}" -filter_output "$out" -filter_checkpoint_every "${FILTER_CHECKPOINT_EVERY:-5}" \
    -filter_restart $DAISI_ARGS "$@"
}
