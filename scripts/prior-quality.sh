#!/usr/bin/env bash
# Quality report of a trained SQG-64 prior (docs/prior-sqg64.md): unconditional samples, the
# denoising loss on the test split by t, and tools/prior_quality.py's spectra and histograms
# against the held-out test states.
#   scripts/prior-quality.sh [WEIGHTS [OUTDIR [NRANKS]]]   (default priors/sqg64/prior.h5, runs/prior-quality, 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
w=${1:-$root/priors/sqg64/prior.h5}
out=${2:-$root/runs/prior-quality}
np=${3:-2}
B=$root/build/bin
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# --bind-to none: Open MPI binds rank 0 of every mpiexec to core 0, so two runs started side by
# side (two scenarios on a 2-core machine) would share one core while the other idles
run() { mpiexec --oversubscribe --bind-to none -n "$np" "$@"; }
# 64 samples: forward SDE (eps 0.03, as DAISI), 100 Euler steps refined toward the noise end
run "$B/daisi-sample" -model_type sqg -sqg_n 64 -prior_type net -prior_file "$w" -sample_count 64 -sample_batch 8 \
  -sample_steps 100 -sample_method euler -sample_eps 0.03 -sample_time_power 2 -sample_output "$out/samples.h5"
run "$B/daisi-train" -train_eval "$w" -train_data "$root/data/sqg64/test.h5" -train_eval_samples 2000 -train_eval_bins 10 \
  -train_eval_output "$out/test_loss.tsv"
/usr/bin/python3 "$root/tools/prior_quality.py" "$out/samples.h5" "$root/data/sqg64/test.h5" --loss "$out/test_loss.tsv" \
  --curve "$w.curve.tsv" -o "$out"
