#!/usr/bin/env bash
# Training data of the SQG-64 prior (docs/training.md): independent nature runs of our own
# model, each after a 300-day spin-up from its own random initial condition, 3-hourly states.
#   train: 24 trajectories (-nature_seed 1000, members 0-23) x 601 states (75 days)
#   val:    2 trajectories (-nature_seed 2000) x 601 states
#   test:   2 trajectories (-nature_seed 3000) x 601 states
# No trajectory is the twin experiments' truth (configs/nature_sqg64.yaml: seed 1, member 0).
# Usage: scripts/make-trainset.sh [OUTDIR [NRANKS [SPLITS]]]   (default data/sqg64, 1 rank,
#        "train val test"; e.g. SPLITS=val makes only the validation split)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/data/sqg64}
np=${2:-1}
splits=" ${3:-train val test} "
bin=${DAISI_BIN:-$here/build/bin}
mkdir -p "$out"
run() { # split seed members
  local split=$1 seed=$2 members=$3
  case $splits in *" $split "*) ;; *) return ;; esac
  if [ -f "$out/$split.h5" ]; then echo "make-trainset: $out/$split.h5 exists, kept"; return; fi
  /usr/bin/time -f "make-trainset: $split took %e s" \
    mpiexec ${MPIEXEC_FLAGS:-} -n "$np" "$bin/daisi-nature" -options_file_yaml "$here/configs/trainset_sqg64.yaml" \
      -nature_seed "$seed" -nature_members "$members" -nature_output "$out/$split.h5" -nature_restart
}
run train 1000 24
run val 2000 2
run test 3000 2
