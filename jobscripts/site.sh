# DAISI job scripts: the site file. Everything that depends on the machine lives here: the
# modules or packages that provide MPI, PETSc, FFTW and HDF5, the MPI launcher and the
# default paths. jobscripts/common.sh sources it (or the file named by DAISI_SITE) before
# anything else, so a cluster needs only this file adapted, never the job scripts.
#
# Pick a profile with DAISI_SITE_PROFILE (exported at submission time; default: debian):
#   debian    Debian 12 with the packages of scripts/setup.sh: nothing to load, Open MPI's
#             mpiexec launches the ranks inside the allocation (it reads SLURM's node list).
#   modules   a module-based cluster (Lmod / Environment Modules): edit the module names
#             below to your site's, build DAISI there (cmake ... -B build) and submit with
#             DAISI_SITE_PROFILE=modules.
# Or keep a site file outside the tree and point DAISI_SITE at it.
#
# What a site file must leave behind (common.sh's defaults in brackets):
#   DAISI_LAUNCHER        mpiexec | srun                                   [mpiexec]
#   DAISI_LAUNCHER_FLAGS  extra launcher flags                             [--oversubscribe for mpiexec]
#   DAISI_BIN             directory of daisi-nature etc.                   [$DAISI_ROOT/build/bin]
#   DAISI_FORWARD_SIGNAL  signal passed to the launcher when the job is    [USR1]
#                         told to stop (Open MPI's mpiexec forwards USR1 to the ranks and
#                         keeps the job alive; on TERM it kills the ranks after a grace period)

case "${DAISI_SITE_PROFILE:-debian}" in
  debian)
    # Open MPI refuses to run as root (containers, CI) unless told to
    if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
    : "${DAISI_LAUNCHER:=mpiexec}"
    : "${DAISI_LAUNCHER_FLAGS:=--oversubscribe}"
    ;;
  modules)
    # Example for a module-based cluster; adapt the names and versions to `module avail`.
    if ! command -v module > /dev/null 2>&1; then
      for f in /etc/profile.d/lmod.sh /usr/share/lmod/lmod/init/bash /etc/profile.d/modules.sh; do
        [ -r "$f" ] && { . "$f"; break; }
      done
    fi
    module purge
    module load gcc/12 openmpi/4.1 petsc/3.18 fftw/3.3-mpi hdf5/1.12-mpi openblas scalapack
    # srun starts the ranks through PMIx (Open MPI built with SLURM support); use
    # DAISI_LAUNCHER=mpiexec where srun cannot launch MPI programs
    : "${DAISI_LAUNCHER:=srun}"
    : "${DAISI_LAUNCHER_FLAGS:=--mpi=pmix --cpu-bind=cores}"
    # a scratch file system for the outputs (runs/cluster under the tree otherwise)
    : "${DAISI_RUN_DIR:=${SCRATCH:-$HOME/scratch}/daisi}"
    ;;
  *)
    echo "site.sh: unknown DAISI_SITE_PROFILE '$DAISI_SITE_PROFILE' (debian, modules)" >&2
    return 1
    ;;
esac
# one BLAS thread per MPI rank (the ranks already fill the cores)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
