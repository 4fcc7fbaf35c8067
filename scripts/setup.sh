#!/usr/bin/env bash
# Sets up DAISI on a Debian 12 machine: installs the Debian packages that are missing,
# configures and builds (build/), then runs the main job (scripts/main-job.sh).
#   scripts/setup.sh            everything, then the main job
#   scripts/setup.sh --no-run   packages and build only (what CI does)
set -euo pipefail
cd "$(dirname "$0")/.."
run=1
[ "${1:-}" = "--no-run" ] && run=0

packages=(cmake make gcc pkg-config
  libopenmpi-dev openmpi-bin libpetsc-real-dev libfftw3-mpi-dev libhdf5-openmpi-dev
  libscalapack-openmpi-dev libopenblas-dev libdnnl-dev librandom123-dev
  hdf5-tools netcdf-bin python3-numpy python3-h5py python3-matplotlib python3-xarray python3-netcdf4
  slurm-wlm munge)   # slurm-wlm, munge: tests/jobscripts runs the job scripts on a private SLURM cluster
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"

if [ "$run" -eq 1 ]; then
  scripts/main-job.sh
fi
