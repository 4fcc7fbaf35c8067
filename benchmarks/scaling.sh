#!/usr/bin/env bash
# Scaling measurements behind docs/scaling.md: the real drivers under -log_view, one CSV row
# per (run, phase event). Usage:
#   benchmarks/scaling.sh [OUT.csv] [WORKDIR]          (defaults: runs/scaling/scaling.csv, runs/scaling/work)
# Environment: DAISI_BIN (default build/bin), MPIEXEC, SCALING_NOTE (recorded in every row,
# e.g. "loaded: other jobs on the machine"), SCALING_QUICK=1 (a 1-minute subset).
# On a small machine ranks above the core count are oversubscribed: those rows show that
# the layouts run, not how fast (column `oversubscribed`). Then plot:
#   tools/plot_scaling.py OUT.csv -o docs/img/
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/runs/scaling/scaling.csv}
work=${2:-$src/runs/scaling/work}
bin=${DAISI_BIN:-$src/build/bin}
note=${SCALING_NOTE:-}
py=${PYTHON:-python3}
s() { nice -n 10 "$py" "$src/benchmarks/scaling.py" --bin "$bin" --work "$work" --out "$out" --note "$note" "$@"; }
mkdir -p "$(dirname "$out")" "$work"
if [ "${SCALING_QUICK:-0}" = 1 ]; then
  s --suite nature,letkf,daisi --ranks 1,2 --n 32 --members 8 --daisi-members 2 --cycles 2 --nature-steps 18
  exit
fi
# model alone: N and ranks (strong scaling of one trajectory), and a batch of 8 trajectories
s --suite nature --ranks 1,2,4 --n 32,64,128,256 --nature-steps 90
s --append --suite nature --ranks 1,2 --n 64,128 --nature-members 8 --nature-steps 45
# LETKF cycle: ranks x groups x members at N = 64 (strong scaling, and weak scaling in members
# with G = R, M = 10 R), then N at 20 members
s --append --suite letkf --ranks 1,2,4 --groups 1,2,4 --members 10,20,40 --n 64 --cycles 3
s --append --suite letkf --ranks 1,2 --groups 1 --members 20 --n 32,128 --cycles 3
# DAISI cycle with the shipped prior (N = 64), 2 + 2 SDE steps: ranks x groups x members
s --append --suite daisi --ranks 1,2,4 --groups 1,2,4 --daisi-members 4,8 --n 64 --cycles 2 --daisi-steps 2
# DAISI at N = 32 and 128 with an untrained network of the same architecture (cost only)
s --append --suite daisi --ranks 1,2 --groups 1 --daisi-members 4 --n 32,128 --cycles 2 --daisi-steps 2
echo "scaling | wrote $out"
