#!/usr/bin/env bash
# (background, truth) pairs for LO-SDA's background-conditioned latent model (docs/losda.md):
# LETKF cycling runs of our own on truths that are neither the twin experiments' truth nor
# the prior's training trajectories, with the sparse scenario's kind of network on other sites
# and noise. The diagnostics file of each run holds the background ensemble mean of every cycle
# (ens_mean_b); daisi-train -train_model latent pairs it with the truth at the same time.
#   train: truth seed 5000, 1200 cycles (150 days) -> data/sqg64/pairs/{truth,letkf}_train.h5
#   val:   truth seed 6000,  200 cycles (25 days)  -> data/sqg64/pairs/{truth,letkf}_val.h5
# Usage: scripts/make-pairs.sh [OUTDIR [NRANKS]]   (default data/sqg64/pairs, 1 rank);
#        PAIRS_TRAIN_CYCLES, PAIRS_VAL_CYCLES (1200, 200) shorten or lengthen the runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/data/sqg64/pairs}
np=${2:-1}
B=${DAISI_BIN:-$root/build/bin}
mkdir -p "$out"
cd "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
run() { mpiexec ${MPIEXEC_FLAGS:-} -n "$np" "$@"; }
split() { # name truth-seed obs-seed cycles
  local name=$1 seed=$2 oseed=$3 cycles=$4
  [ -f truth_$name.h5 ] || run "$B/daisi-nature" -options_file_yaml "$root/configs/nature_sqg64.yaml" -nature_seed "$seed" \
      -nature_steps $((9 * cycles)) -nature_output truth_$name.h5 -nature_progress_every 100000
  [ -f obs_$name.h5 ] || run "$B/daisi-obs" -options_file_yaml "$root/configs/sqg_sparse.yaml" -obs_seed "$oseed" -truth truth_$name.h5 -obs_output obs_$name.h5
  [ -f letkf_$name.h5 ] || run "$B/daisi-filter" -options_file_yaml "$root/configs/sqg_sparse.yaml" -obs_seed "$oseed" -filter_type letkf -truth truth_$name.h5 \
      -obs obs_$name.h5 -cycles "$cycles" -filter_output letkf_$name.h5 -filter_checkpoint_every 100 -filter_restart
}
split train 5000 11 "${PAIRS_TRAIN_CYCLES:-1200}"
split val 6000 12 "${PAIRS_VAL_CYCLES:-200}"
