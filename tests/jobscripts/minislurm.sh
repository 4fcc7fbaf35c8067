# A throw-away single-node SLURM cluster on loopback for the job-script tests (sourced).
#   minislurm_up DIR     start munged, slurmctld and slurmd with everything in DIR; exports
#                        SLURM_CONF so that sbatch/squeue/scontrol/scancel talk to it
#   minislurm_down       stop every daemon minislurm_up started (by pid; also on error paths)
# Returns 77 from minislurm_up when the SLURM or MUNGE programs are missing (MINISLURM_SBIN: a
# directory to take them from instead of PATH and /usr/sbin, e.g. /nonexistent to test that).
minislurm_pids=()

minislurm_free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

minislurm_up() {
  local d=$1 b
  # the daemons from MINISLURM_SBIN if set, else from PATH, /usr/sbin, /usr/local/sbin
  local search=${MINISLURM_SBIN:-$PATH:/usr/sbin:/usr/local/sbin}
  for b in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    if ! PATH=$search command -v $b > /dev/null; then
      echo "minislurm: $b not found (apt-get install slurm-wlm munge)"
      return 77
    fi
  done
  local munged slurmctld slurmd
  munged=$(PATH=$search command -v munged)
  slurmctld=$(PATH=$search command -v slurmctld)
  slurmd=$(PATH=$search command -v slurmd)
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
  chmod 700 "$d" "$d/munge"
  # MUNGE: own key, socket, pid, log and seed files
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  "$munged" --force --socket="$d/munge/munge.sock" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/munged.seed" ||
    { echo "minislurm: munged failed: $(tail -3 "$d/log/munged.log" 2>/dev/null)"; return 1; }

  for _ in $(seq 1 50); do [ -s "$d/munge/munged.pid" ] && break; sleep 0.1; done
  minislurm_pids+=("$(cat "$d/munge/munged.pid")")
  local cpus user
  cpus=$(nproc)
  [ "$cpus" -ge 2 ] || cpus=2 # two-rank jobs must fit (SlurmdParameters=config_overrides)
  user=$(id -un)
  local cport dport
  cport=$(minislurm_free_port); dport=$(minislurm_free_port)
  while [ "$dport" = "$cport" ]; do dport=$(minislurm_free_port); done
  cat > "$d/slurm.conf" <<CONF
ClusterName=minislurm
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/slurmd-%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
Waittime=0
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  export SLURM_CONF=$d/slurm.conf
  "$slurmctld" -D -i -f "$d/slurm.conf" > "$d/log/slurmctld.out" 2>&1 &
  minislurm_pids+=($!)
  "$slurmd" -D -N localhost -f "$d/slurm.conf" > "$d/log/slurmd.out" 2>&1 &
  minislurm_pids+=($!)
  # ready when the node is idle
  local st=""
  for _ in $(seq 1 150); do
    st=$(sinfo -h -N -o %T 2>/dev/null | head -1)
    [ "$st" = "idle" ] && return 0
    sleep 0.2
  done
  echo "minislurm: node not idle after 30 s (state '$st')"
  tail -5 "$d/log/slurmctld.log" "$d/log/slurmd.log" "$d/log/slurmctld.out" "$d/log/slurmd.out" 2>/dev/null
  return 1
}

minislurm_alive() { # running and not a zombie
  local st
  st=$(ps -o stat= -p "$1" 2> /dev/null) || return 1
  case "$st" in Z*) return 1 ;; esac
  return 0
}

minislurm_down() {
  local p alive
  # cancel what still runs (the job steps are not children of the daemons)
  if [ ${#minislurm_pids[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
    scancel --user="$(id -un)" 2> /dev/null
    for _ in $(seq 1 100); do
      [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break
      sleep 0.1
    done
  fi
  for p in "${minislurm_pids[@]}"; do kill -TERM "$p" 2> /dev/null; done
  for _ in $(seq 1 100); do
    alive=0
    for p in "${minislurm_pids[@]}"; do minislurm_alive "$p" && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for p in "${minislurm_pids[@]}"; do minislurm_alive "$p" && kill -KILL "$p" 2> /dev/null; done
  wait 2> /dev/null # reap slurmctld and slurmd (our children)
  minislurm_pids=()
}
