#!/usr/bin/env bash
# The main job on built-in defaults: a small end-to-end run on this machine.
# Today: an SQG N=64 nature run (300-day spin-up, then 30 days of 3-hourly states) and a
# picture of its last state. Outputs go to runs/main/ (or $DAISI_RUN_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${DAISI_RUN_DIR:-$root/runs/main}
ranks=${DAISI_RANKS:-$(nproc)}
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpiexec --oversubscribe -n "$ranks" "$root/build/bin/daisi-nature" -nature_output "$out/nature.h5" -nature_restart
/usr/bin/python3 "$root/tools/plot_state.py" "$out/nature.h5" -o "$out/nature_last.png"
echo "main job: wrote $out/nature.h5 and $out/nature_last.png"
