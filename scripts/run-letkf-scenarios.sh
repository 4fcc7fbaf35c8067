#!/usr/bin/env bash
# The field's standard SQG twin experiment with LETKF on the four observation scenarios
# (EXPERIMENTS.md: N = 64, 20 members, 100 cycles of 3 h, published LETKF settings), plus the
# free-running ensemble. Writes runs/letkf/ and prints the table of docs/results.md.
#   scripts/run-letkf-scenarios.sh [RANKS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
np=${1:-$(nproc)}
out=${DAISI_RUN_DIR:-$root/runs/letkf}
mkdir -p "$out"
cd "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# --bind-to none: Open MPI binds rank 0 of every mpiexec to core 0, so two runs started side by
# side (two scenarios on a 2-core machine) would share one core while the other idles
run() { mpiexec --oversubscribe --bind-to none -n "$np" "$@"; }
B=$root/build/bin
# truth: 300-day spin-up, then 101 states 3 h apart (time 0 starts the ensemble)
[ -f truth.h5 ] || run "$B/daisi-nature" -options_file_yaml "$root/configs/nature_sqg64.yaml" -nature_steps 900 -nature_output truth.h5 -nature_progress_every 100000
for s in noisy sparse multimodal saturating; do
  [ -f obs_$s.h5 ] || run "$B/daisi-obs" -options_file_yaml "$root/configs/sqg_$s.yaml" -truth truth.h5 -obs_output obs_$s.h5
  [ -f letkf_$s.h5 ] || run "$B/daisi-filter" -options_file_yaml "$root/configs/sqg_$s.yaml" -filter_type letkf -truth truth.h5 -obs obs_$s.h5 -cycles 100 -filter_output letkf_$s.h5
done
[ -f none.h5 ] || run "$B/daisi-filter" -options_file_yaml "$root/configs/sqg_sparse.yaml" -filter_type none -truth truth.h5 -obs obs_sparse.h5 -cycles 100 -filter_output none.h5
/usr/bin/python3 "$root/tools/summarize.py" letkf_noisy.h5 letkf_sparse.h5 letkf_multimodal.h5 letkf_saturating.h5 none.h5 --from 21
/usr/bin/python3 "$root/tools/plot_filter.py" letkf_noisy.h5 letkf_sparse.h5 letkf_multimodal.h5 letkf_saturating.h5 none.h5 -t truth.h5 -o plots
