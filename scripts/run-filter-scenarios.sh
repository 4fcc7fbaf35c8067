#!/usr/bin/env bash
# One filter on the SQG scenarios (EXPERIMENTS.md, issue 6), next to LETKF and the free-running
# ensemble: the same truth, observations and initial ensemble as scripts/run-letkf-scenarios.sh
# (run that first, or let this script make the truth and observations), 100 cycles, written to
# runs/letkf/<TAG>_<scenario>.h5 (TAG: $DAISI_RUN_TAG, default the filter type).
#   scripts/run-filter-scenarios.sh FILTER [RANKS] [SCENARIO ...] [-- EXTRA FILTER OPTIONS]
# FILTER is any -filter_type. The scenario config (configs/sqg_<scenario>.yaml) names the shipped
# networks: daisi's prior (priors/sqg64/prior.h5, the published steps), the VAE of l3dvar and
# losda (priors/sqg64/vae_{encoder,decoder}.h5) and LO-SDA's latent model (priors/sqg64/losda_latent.h5,
# configs/losda_latent_sqg64.yaml; its sampler settings are the defaults, the paper's). Built-in
# settings per type here (extra options after "--" override them and the config):
#   3dvar  B from the validation split of the training data (data/sqg64/val.h5, made by
#          scripts/make-trainset.sh if missing, about 4 min), every 2nd state, scaled by the
#          config's var3d_b_scale (tuned per scenario, docs/results.md)
#   l3dvar B_z NMC-style from lag-1 differences of the encoded validation split (every 2nd
#          state, as 3dvar), or with DAISI_L3DVAR_BZ=letkf from the encoded background errors of
#          the scenario's LETKF run (letkf_<scenario>.h5 of run-letkf-scenarios.sh, cycles 21-100
#          against truth.h5); -l3dvar_bz_scale after "--" tunes it
# The runs checkpoint every 5 cycles and continue from the checkpoint when run again. The summary
# table at the end scores cycles from DAISI_SUMMARY_FROM on (21: after the spin-up of the tables).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || { echo "usage: $0 FILTER [RANKS] [SCENARIO ...] [-- OPTIONS]" >&2; exit 2; }
ftype=$1; shift
np=${1:-1}; [ $# -gt 0 ] && shift
scen=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do scen+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#scen[@]} -gt 0 ] || scen=(noisy sparse multimodal saturating) # saturating last: some filters diverge there
out=${DAISI_RUN_DIR:-$root/runs/letkf}
tag=${DAISI_RUN_TAG:-$ftype}
mkdir -p "$out"
cd "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# --bind-to none: Open MPI binds rank 0 of every mpiexec to core 0, so two runs started side by
# side (two scenarios on a 2-core machine) would share one core while the other idles
run() { mpiexec --oversubscribe --bind-to none -n "$np" "$@"; }
B=$root/build/bin
# the climatology of 3dvar's B and of latent 3DVar's NMC B_z, made on first use
climatology() {
  clim=${DAISI_VAR3D_CLIMATOLOGY:-$root/data/sqg64/val.h5}
  [ -f "$clim" ] || "$root/scripts/make-trainset.sh" "$(dirname "$clim")" "$np" val
}
typeopts=()
if [ "$ftype" = 3dvar ]; then
  climatology
  typeopts=(-var3d_climatology "$clim" -var3d_climatology_stride 2)
fi
[ -f truth.h5 ] || run "$B/daisi-nature" -options_file_yaml "$root/configs/nature_sqg64.yaml" -nature_steps 900 -nature_output truth.h5 -nature_progress_every 100000
for s in "${scen[@]}"; do
  [ -f obs_$s.h5 ] || run "$B/daisi-obs" -options_file_yaml "$root/configs/sqg_$s.yaml" -truth truth.h5 -obs_output obs_$s.h5
  bzopts=()
  if [ "$ftype" = l3dvar ]; then
    case ${DAISI_L3DVAR_BZ:-nmc} in
      letkf)
        [ -f letkf_$s.h5 ] || { echo "$0: DAISI_L3DVAR_BZ=letkf needs letkf_$s.h5 (scripts/run-letkf-scenarios.sh)" >&2; exit 2; }
        bzopts=(-l3dvar_bz_errors letkf_$s.h5 -l3dvar_bz_truth truth.h5) ;;
      nmc)
        climatology
        bzopts=(-l3dvar_bz_climatology "$clim" -l3dvar_bz_stride 2) ;;
      *) echo "$0: DAISI_L3DVAR_BZ must be nmc or letkf, got '$DAISI_L3DVAR_BZ'" >&2; exit 2 ;;
    esac
  fi
  [ -f ${tag}_$s.h5 ] || run "$B/daisi-filter" -options_file_yaml "$root/configs/sqg_$s.yaml" -filter_type "$ftype" \
      "${typeopts[@]}" "${bzopts[@]}" -truth truth.h5 -obs obs_$s.h5 -cycles 100 \
      -filter_output ${tag}_$s.h5 -filter_checkpoint_every 5 -filter_restart "$@" 2>&1 | tee -a ${tag}_$s.log
done
/usr/bin/python3 "$root/tools/summarize.py" $(ls letkf_*.h5 none.h5 ${tag}_*.h5 2>/dev/null | sort -u) --from "${DAISI_SUMMARY_FROM:-21}"
