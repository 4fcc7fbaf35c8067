#include <daisi/sys.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

PetscClassId DAISI_CLASSID = 0;

/* OpenBLAS entry points (libopenblas). */
extern char *openblas_get_corename(void);
extern void  openblas_set_num_threads(int);

static const char *blas_how = "detected by OpenBLAS";

/* OpenBLAS picks its kernels when the library is loaded, from OPENBLAS_CORETYPE or its
 * own CPU detection. Its detection does not recognise recent AVX-512 CPUs (AMD Zen 4/5,
 * some Intel parts) and falls back to Haswell or Prescott kernels. The only reliable fix
 * is the environment variable, which must be set before the library loads: so when the
 * CPU has AVX-512 and OpenBLAS chose something else, we set it and re-execute ourselves
 * (before MPI_Init, which is safe under mpiexec and srun). DAISI_NO_BLAS_REEXEC=1 turns
 * this off; an explicit OPENBLAS_CORETYPE is always respected. */
static void DaisiFixBlasCore(char **argv)
{
  const char *core = openblas_get_corename();
  if (getenv("OPENBLAS_CORETYPE")) {
    blas_how = "OPENBLAS_CORETYPE";
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && core && strcmp(core, "SkylakeX") && strcmp(core, "Cooperlake") && strcmp(core, "SapphireRapids"))
      blas_how = "OPENBLAS_CORETYPE; this CPU has AVX-512: OPENBLAS_CORETYPE=SkylakeX runs GEMM about 4x faster";
    return;
  }
  if (getenv("DAISI_BLAS_REEXEC")) {
    blas_how = "set by DAISI (AVX-512 CPU misdetected)";
    return;
  }
  if (getenv("DAISI_NO_BLAS_REEXEC")) return;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) return;
  if (!core || !strcmp(core, "SkylakeX") || !strcmp(core, "Cooperlake") || !strcmp(core, "SapphireRapids")) return;
  setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
  setenv("DAISI_BLAS_REEXEC", "1", 1);
  if (!getenv("OPENBLAS_NUM_THREADS")) setenv("OPENBLAS_NUM_THREADS", "1", 1);
  execv("/proc/self/exe", argv);
  /* exec failed: carry on with the detected core, the banner says which */
  unsetenv("OPENBLAS_CORETYPE");
  blas_how = "detected by OpenBLAS (re-exec failed)";
}

PetscErrorCode DaisiBlasCoreName(const char **core, const char **how)
{
  PetscFunctionBegin;
  if (core) *core = openblas_get_corename();
  if (how) *how = blas_how;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* PETSc's traceback handler lets rank 0 print an error raised on a communicator and makes
 * the other ranks exit after a pause: a program could then not clean up (remove partial
 * outputs, close files collectively) on every rank. Ours prints once, on rank 0 of the
 * communicator (or on the rank itself for errors on PETSC_COMM_SELF), and returns the
 * error everywhere, so that collective clean-up paths run on all ranks. */
static int daisi_error_quiet = 0; /* this rank does not print the error being unwound */

static PetscErrorCode DaisiErrorHandler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  if (p == PETSC_ERROR_INITIAL) {
    PetscMPIInt rank = 0;
    if (comm != PETSC_COMM_SELF && comm != MPI_COMM_NULL) (void)MPI_Comm_rank(comm, &rank);
    /* the traceback lines that follow as the error unwinds come on PETSC_COMM_SELF: keep them
     * quiet too on the ranks that do not print the message, so outputs do not interleave */
    daisi_error_quiet = rank != 0;
  }
  if (daisi_error_quiet) {
    /* a quiet rank that leaves main first makes mpiexec kill the job, possibly before the
     * printing rank's message is out (seen under load): give that rank time to print */
    if (fun && !strcmp(fun, "main")) (void)usleep(500000);
    return n;
  }
  if (fun && !strcmp(fun, "main")) {
    PetscErrorCode ierr = PetscTraceBackErrorHandler(PETSC_COMM_SELF, line, fun, file, n, p, mess, ctx);
    (void)fflush(NULL);
    return ierr;
  }
  return PetscTraceBackErrorHandler(PETSC_COMM_SELF, line, fun, file, n, p, mess, ctx);
}

PetscErrorCode DaisiInitialize(int *argc, char ***argv, const char help[])
{
  PetscMPIInt size;
  PetscBool   quiet = PETSC_FALSE;
  const char *core, *how;

  /* one BLAS thread per rank unless the user says otherwise: ranks are our parallelism. OpenBLAS
   * reads the variable when it is loaded, before main, so its thread count is also set now:
   * two threads per rank on a machine full of ranks made the LETKF 2.6x slower. */
  if (!getenv("OPENBLAS_NUM_THREADS")) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    openblas_set_num_threads(1);
  }
  if (!getenv("OMP_NUM_THREADS")) setenv("OMP_NUM_THREADS", "1", 1); /* oneDNN's OpenMP */
  DaisiFixBlasCore(*argv);
  PetscCall(PetscInitialize(argc, argv, NULL, help));
  PetscFunctionBegin;
  PetscCall(PetscClassIdRegister("DAISI", &DAISI_CLASSID));
  PetscCall(PetscPushErrorHandler(DaisiErrorHandler, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-daisi_quiet", &quiet, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(DaisiBlasCoreName(&core, &how));
  if (!quiet) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# DAISI %s | %d MPI rank%s | OpenBLAS core %s (%s), %s thread(s) per rank\n", DAISI_VERSION, size, size > 1 ? "s" : "", core, how, getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "default"));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiFinalize(void)
{
  return PetscFinalize();
}

static volatile sig_atomic_t stop_flag = 0;
static void DaisiOnTerm(int sig)
{
  (void)sig;
  stop_flag = 1;
}

PetscErrorCode DaisiInstallStopHandler(void)
{
  struct sigaction sa;

  PetscFunctionBegin;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = DaisiOnTerm;
  sigemptyset(&sa.sa_mask);
  PetscCheck(sigaction(SIGTERM, &sa, NULL) == 0, PETSC_COMM_SELF, PETSC_ERR_SYS, "cannot install the SIGTERM handler");
  PetscCheck(sigaction(SIGUSR1, &sa, NULL) == 0, PETSC_COMM_SELF, PETSC_ERR_SYS, "cannot install the SIGUSR1 handler");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiStopRequested(MPI_Comm comm, PetscBool *stop)
{
  int local = stop_flag ? 1 : 0, any;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, comm));
  *stop = any ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckFinite(MPI_Comm comm, PetscInt n, const PetscReal a[], const char what[])
{
  PetscInt bad = -1, anybad;
  uint64_t any = 0;

  PetscFunctionBegin;
  PetscAssert(sizeof(PetscReal) == sizeof(uint64_t), comm, PETSC_ERR_SUP, "DaisiCheckFinite assumes double precision");
  /* a value is Inf or NaN when all its exponent bits are set: an OR over the array (vectorised,
   * no call per element), then the first culprit only when there is one */
  for (PetscInt i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, &a[i], sizeof(u));
    any |= (uint64_t)((u & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL);
  }
  for (PetscInt i = 0; any && i < n; i++) {
    if (PetscIsInfOrNanReal(a[i])) {
      bad = i;
      break;
    }
  }
  PetscCall(MPIU_Allreduce(&bad, &anybad, 1, MPIU_INT, MPI_MAX, comm));
  PetscCheck(anybad < 0, comm, PETSC_ERR_FP, "%s contains NaN or Inf", what);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DaisiCheckOptionsUsed(MPI_Comm comm)
{
  PetscInt  n;
  char    **names, **values;
  char      list[1024] = "";
  PetscInt  nbad = 0;

  PetscFunctionBegin;
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    PetscBool ok = PETSC_FALSE, is;
    /* options PETSc itself reads only at the end of the run */
    const char *late[] = {"log_view", "log_view_memory", "options_left", "options_view", "memory_view", "malloc_dump", "malloc_debug", "objects_dump", "log_summary", "help", "daisi_quiet", "log_all", "info", "on_error_abort", "no_signal_handler"};
    for (size_t j = 0; j < sizeof(late) / sizeof(late[0]); j++) {
      PetscCall(PetscStrcmp(names[i], late[j], &is));
      if (is) ok = PETSC_TRUE;
    }
    if (ok) continue;
    if (nbad < 8) {
      PetscCall(PetscStrlcat(list, " -", sizeof(list)));
      PetscCall(PetscStrlcat(list, names[i], sizeof(list)));
    }
    nbad++;
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  PetscCheck(!nbad, comm, PETSC_ERR_ARG_WRONG, "unknown option(s):%s%s (not used by this program; check the spelling, the YAML file, or -help)", list, nbad > 8 ? " ..." : "");
  PetscFunctionReturn(PETSC_SUCCESS);
}
