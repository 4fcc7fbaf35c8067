#!/usr/bin/env bash
# (background, truth) pairs for LO-SDA's background-conditioned latent model (docs/training.md, section 5):
# cycling runs of our own on truths that are neither the twin experiments' truth nor the prior's
# training trajectories, with a scenario's kind of network on other sites and noise. The
# diagnostics file of each run holds the background ensemble mean of every cycle (ens_mean_b);
# daisi-train -train_model latent pairs it with the truth at the same time.
#   train: truth seed 5000, 1200 cycles (150 days) -> OUTDIR/{truth,FILTER}_train.h5
#   val:   truth seed 6000,  200 cycles (25 days)  -> OUTDIR/{truth,FILTER}_val.h5
# Usage: scripts/make-pairs.sh [OUTDIR [NRANKS]]   (default data/sqg64/pairs, 1 rank);
#        PAIRS_TRAIN_CYCLES, PAIRS_VAL_CYCLES (1200, 200) shorten or lengthen the runs;
#        PAIRS_SCENARIO (sparse): the scenario config (configs/sqg_SCENARIO.yaml) of the network,
#          the operator and the filter settings;
#        PAIRS_FILTER (letkf): the filter that cycles. losda makes the pairs from LO-SDA's own
#          cycling (background errors of the size LO-SDA meets, docs/results.md) with the VAE and
#          latent model the scenario config names (the shipped ones) and the cheap settings
#          -losda_steps 10 -losda_opt_every 5 -losda_opt_max_it 20;
#        PAIRS_FILTER_OPTIONS: more daisi-filter options, which override the ones above
#          (e.g. "-losda_model FILE" for a second round from an own-cycling model).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/data/sqg64/pairs}
np=${2:-1}
B=${DAISI_BIN:-$root/build/bin}
scen=${PAIRS_SCENARIO:-sparse}
ftype=${PAIRS_FILTER:-letkf}
conf=$root/configs/sqg_$scen.yaml
[ -f "$conf" ] || { echo "make-pairs: no scenario config $conf (PAIRS_SCENARIO=$scen)" >&2; exit 2; }
case $ftype in
  letkf) fopts=() ;;
  losda) fopts=(-losda_steps 10 -losda_opt_every 5 -losda_opt_max_it 20) ;;
  *) echo "make-pairs: PAIRS_FILTER must be letkf or losda, got '$ftype'" >&2; exit 2 ;;
esac
read -r -a extra <<< "${PAIRS_FILTER_OPTIONS:-}"
mkdir -p "$out"
cd "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
run() { mpiexec ${MPIEXEC_FLAGS:-} -n "$np" "$@"; }
split() { # name truth-seed obs-seed cycles
  local name=$1 seed=$2 oseed=$3 cycles=$4
  [ -f truth_$name.h5 ] || run "$B/daisi-nature" -options_file_yaml "$root/configs/nature_sqg64.yaml" -nature_seed "$seed" \
      -nature_steps $((9 * cycles)) -nature_output truth_$name.h5 -nature_progress_every 100000
  [ -f obs_$name.h5 ] || run "$B/daisi-obs" -options_file_yaml "$conf" -obs_seed "$oseed" -truth truth_$name.h5 -obs_output obs_$name.h5
  [ -f ${ftype}_$name.h5 ] || run "$B/daisi-filter" -options_file_yaml "$conf" -obs_seed "$oseed" -filter_type "$ftype" "${fopts[@]}" \
      "${extra[@]}" -truth truth_$name.h5 -obs obs_$name.h5 -cycles "$cycles" -filter_output ${ftype}_$name.h5 \
      -filter_checkpoint_every 20 -filter_restart
}
split train 5000 11 "${PAIRS_TRAIN_CYCLES:-1200}"
split val 6000 12 "${PAIRS_VAL_CYCLES:-200}"
