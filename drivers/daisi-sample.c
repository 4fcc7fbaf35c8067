/* daisi-sample: unconditional samples of a generative prior, and the Gaussian prior file.
 *
 * Samples: noise z ~ N(0, I) at t = 0, then the forward SDE (-sample_eps > 0) or the
 * probability-flow ODE (-sample_eps 0) of the prior to t = 1 with -sample_steps Euler or Heun
 * steps; the samples, de-normalised (theta in K), go to -sample_output in the nature-run layout,
 * sample k at time index k (time value k). Sample k is member k of the random-number keys, so
 * the file does not depend on the rank count or on -sample_batch.
 * Round trips (-sample_roundtrip STATES.h5): -sample_count states of the file (-sample_first,
 * + -sample_stride, ...; an ensemble file's states counted time-major) are inverted to
 * t = -sample_tmin with -sample_inversion_steps steps and regenerated without observations
 * (-sample_steps steps), as a DAISI analysis with -daisi_guidance none does. Output k is the
 * round trip of the k-th state (with its time value) and member k of the random-number keys
 * (stride 0: independent round trips of one state). tools/prior_quality.py --roundtrip compares
 * them with the inputs by wavenumber: what the prior keeps of a state through t_min.
 * Estimate: with -sample_estimate FILE, the gaussian prior (from -prior_gaussian_truth
 * NATURE.h5) is written to FILE for later runs (-prior_gaussian_file FILE).
 * The grid is the model's (-model_type, -sqg_n, ...), whose parameters go into the output.
 * See docs/prior.md. */
#include <daisi/model.h>
#include <daisi/prior.h>
#include <daisi/sampler.h>
#include <daisi/statefile.h>
#include <daisi/sys.h>

static const char help[] = "DAISI prior samples: forward SDE or probability-flow ODE from noise; Gaussian prior files.\n"
                           "  -prior_type gaussian|net  -prior_gaussian_file F | -prior_gaussian_truth NATURE.h5  -prior_file WEIGHTS\n"
                           "  -sample_output FILE  -sample_count n  -sample_batch B  -sample_steps K  -sample_method euler|heun\n"
                           "  -sample_eps eps  -sample_seed s  -sample_estimate PRIOR.h5  -sample_view\n"
                           "  -sample_roundtrip STATES.h5 -sample_tmin t -sample_inversion_steps K -sample_first i -sample_stride s\n";

typedef struct {
  char      output[PETSC_MAX_PATH_LEN], estimate[PETSC_MAX_PATH_LEN], roundtrip[PETSC_MAX_PATH_LEN];
  PetscInt  count, batch, inversion_steps, first, stride;
  PetscReal tmin;
  PetscBool has_output, has_estimate, has_roundtrip, view;
} SampleOptions;

static PetscErrorCode SampleGetOptions(SampleOptions *o)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  o->count           = 10;
  o->batch           = 16;
  o->tmin            = 0.3;
  o->inversion_steps = -1;
  o->stride          = 1;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Prior sampling options", "daisi-sample");
  PetscCall(PetscOptionsString("-sample_output", "Output state file of the samples (theta in K, nature-run layout)", "", o->output, o->output, sizeof(o->output), &o->has_output));
  PetscCall(PetscOptionsInt("-sample_count", "Number of samples", "", o->count, &o->count, NULL));
  PetscCall(PetscOptionsInt("-sample_batch", "Samples integrated together", "", o->batch, &o->batch, NULL));
  PetscCall(PetscOptionsString("-sample_estimate", "Write the (gaussian) prior to this file", "DaisiPriorGaussianSave", o->estimate, o->estimate, sizeof(o->estimate), &o->has_estimate));
  PetscCall(PetscOptionsBool("-sample_view", "Print the prior and the sampler settings", "", o->view, &o->view, NULL));
  PetscCall(PetscOptionsString("-sample_roundtrip", "Round-trip these states (state file) through t_min instead of sampling from noise", "DaisiInterpolantInvert", o->roundtrip, o->roundtrip, sizeof(o->roundtrip), &o->has_roundtrip));
  PetscCall(PetscOptionsReal("-sample_tmin", "Round trips: time t_min the states are inverted to", "DaisiInterpolantInvert", o->tmin, &o->tmin, NULL));
  PetscCall(PetscOptionsInt("-sample_inversion_steps", "Round trips: steps of the inversion (-1: -sample_steps)", "DaisiInterpolantInvert", o->inversion_steps, &o->inversion_steps, NULL));
  PetscCall(PetscOptionsInt("-sample_first", "Round trips: index of the first state (an ensemble file's counted time-major)", "", o->first, &o->first, NULL));
  PetscCall(PetscOptionsInt("-sample_stride", "Round trips: index stride between the states (0: -sample_count round trips of one state)", "", o->stride, &o->stride, NULL));
  PetscOptionsEnd();
  PetscCheck(!o->has_roundtrip || o->has_output, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-sample_roundtrip %s needs -sample_output FILE for the round trips", o->roundtrip);
  PetscCheck(o->has_output || o->has_estimate, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "nothing to do: give -sample_output FILE (samples) and/or -sample_estimate PRIOR.h5 (the gaussian prior file)");
  PetscCheck(o->count >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_count must be >= 1, got %" PetscInt_FMT, o->count);
  PetscCheck(o->batch >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_batch must be >= 1, got %" PetscInt_FMT, o->batch);
  PetscCheck(o->tmin >= 0 && o->tmin < 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_tmin must lie in [0, 1), got %g", (double)o->tmin);
  PetscCheck(o->inversion_steps == -1 || o->inversion_steps >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_inversion_steps must be >= 1 (or -1: -sample_steps), got %" PetscInt_FMT, o->inversion_steps);
  PetscCheck(o->first >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_first must be >= 0, got %" PetscInt_FMT, o->first);
  PetscCheck(o->stride >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_stride must be >= 0, got %" PetscInt_FMT, o->stride);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* the k-th output: a sample from noise, or the round trip of input state first + k stride (the
 * states of an ensemble file counted time-major: state s is member s % nm of time s / nm) */
static PetscErrorCode SampleBatch(const SampleOptions *o, DaisiPrior p, const DaisiInterpolantParams *ip, const DaisiGrid *g, DaisiStateFile in, PetscInt nm, PetscInt k0, PetscInt nb, const PetscInt member[], PetscReal x[], PetscReal t[])
{
  const PetscInt         n = DaisiGridLocalSize(g);
  DaisiInterpolantParams inv;

  PetscFunctionBegin;
  if (!o->has_roundtrip) {
    PetscCall(DaisiInterpolantSample(p, ip, nb, member, x));
    for (PetscInt i = 0; i < nb; i++) t[i] = (PetscReal)(k0 + i);
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (PetscInt i = 0; i < nb; i++) {
    const PetscInt st = o->first + (k0 + i) * o->stride;
    if (nm > 0) PetscCall(DaisiStateFileReadMember(in, st / nm, st % nm, &t[i], x + i * n));
    else PetscCall(DaisiStateFileRead(in, st, &t[i], x + i * n));
  }
  PetscCall(DaisiPriorNormalize(p, nb, x, x));
  inv = *ip;
  if (o->inversion_steps > 0) inv.steps = o->inversion_steps;
  PetscCall(DaisiInterpolantInvert(p, &inv, nb, member, o->tmin, x));
  PetscCall(DaisiInterpolantForward(p, ip, nb, member, o->tmin, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SampleRun(const SampleOptions *o, DaisiModel m, DaisiPrior p, const DaisiInterpolantParams *ip, DaisiStateFile *in, DaisiStateFile *out)
{
  DaisiGrid              g;
  PetscInt               np, n, B, nm = 0;
  const DaisiModelParam *params;
  DaisiModelType         type;
  DaisiPriorType         ptype;
  PetscReal             *x, *t, scale;
  PetscInt              *member;
  char                   desc[PETSC_MAX_PATH_LEN + 256];
  PetscLogDouble         t0, t1;

  PetscFunctionBegin;
  PetscCall(DaisiModelGetGrid(m, &g));
  PetscCall(DaisiModelGetParams(m, &np, &params));
  PetscCall(DaisiModelGetType(m, &type));
  PetscCall(DaisiPriorGetType(p, &ptype));
  PetscCall(DaisiPriorGetScale(p, &scale));
  n = DaisiGridLocalSize(&g);
  B = PetscMin(o->batch, o->count);
  if (o->has_roundtrip) {
    PetscInt ntime, last = o->first + (o->count - 1) * o->stride;
    PetscCall(DaisiStateFileCreate(PETSC_COMM_WORLD, in));
    PetscCall(DaisiStateFileSetGrid(*in, &g));
    PetscCall(DaisiStateFileOpen(*in, o->roundtrip, DAISI_FILE_READ));
    PetscCall(DaisiStateFileGetSizes(*in, &ntime, &nm, NULL, NULL, NULL));
    PetscCheck(last < ntime * PetscMax(nm, 1), PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_roundtrip %s holds %" PetscInt_FMT " states; -sample_count %" PetscInt_FMT " from -sample_first %" PetscInt_FMT " with -sample_stride %" PetscInt_FMT " needs state %" PetscInt_FMT, o->roundtrip, ntime * PetscMax(nm, 1), o->count, o->first, o->stride, last);
    PetscCall(PetscSNPrintf(desc, sizeof(desc), "round trips of %s through t_min %g (%" PetscInt_FMT " + %" PetscInt_FMT " steps) with prior %s (scale %g), %s, eps %g, seed %" PetscInt64_FMT, o->roundtrip, (double)o->tmin, o->inversion_steps > 0 ? o->inversion_steps : ip->steps, ip->steps, ptype, (double)scale, DaisiInterpolantMethods[ip->method], (double)ip->eps, ip->seed));
  } else PetscCall(PetscSNPrintf(desc, sizeof(desc), "prior %s (scale %g), %s, %" PetscInt_FMT " steps, eps %g, seed %" PetscInt64_FMT, ptype, (double)scale, DaisiInterpolantMethods[ip->method], ip->steps, (double)ip->eps, ip->seed));
  PetscCall(PetscMalloc3(B * n + 1, &x, B, &t, B, &member));

  PetscCall(DaisiStateFileCreate(PETSC_COMM_WORLD, out));
  PetscCall(DaisiStateFileSetGrid(*out, &g));
  PetscCall(DaisiStateFileSetNumTimes(*out, o->count));
  PetscCall(DaisiStateFileSetParams(*out, np, params));
  PetscCall(DaisiStateFileSetString(*out, "model", type));
  PetscCall(DaisiStateFileSetString(*out, "title", o->has_roundtrip ? "DAISI prior round trips (time index k = round trip of input state first + k stride)" : "DAISI prior samples (time index = sample)"));
  PetscCall(DaisiStateFileSetString(*out, "sampler", desc));
  PetscCall(DaisiStateFileOpen(*out, o->output, DAISI_FILE_WRITE));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample | %" PetscInt_FMT " %s%s -> %s\n", o->count, o->has_roundtrip ? "" : "sample(s) of ", desc, o->output));
  PetscCall(PetscTime(&t0));
  for (PetscInt k0 = 0; k0 < o->count; k0 += B) {
    const PetscInt nb = PetscMin(B, o->count - k0);
    for (PetscInt i = 0; i < nb; i++) member[i] = k0 + i;
    PetscCall(SampleBatch(o, p, ip, &g, *in, nm, k0, nb, member, x, t));
    PetscCall(DaisiPriorDenormalize(p, nb, x, x));
    for (PetscInt i = 0; i < nb; i++) PetscCall(DaisiStateFileWrite(*out, k0 + i, t[i], x + i * n));
  }
  PetscCall(PetscTime(&t1));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample | %.2f s (%.3f s per output state)\n", (double)(t1 - t0), (double)((t1 - t0) / o->count)));
  PetscCall(PetscFree3(x, t, member));
  if (*in) PetscCall(DaisiStateFileClose(*in));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  SampleOptions          o;
  DaisiModel             m   = NULL;
  DaisiPrior             p   = NULL;
  DaisiStateFile         in = NULL, out = NULL;
  DaisiGrid              g;
  DaisiInterpolantParams ip;
  PetscErrorCode         ierr;

  PetscCall(DaisiInitialize(&argc, &argv, help));
  PetscCall(SampleGetOptions(&o));
  PetscCall(DaisiModelCreate(PETSC_COMM_WORLD, &m));
  PetscCall(DaisiModelSetFromOptions(m));
  PetscCall(DaisiModelSetUp(m));
  PetscCall(DaisiModelGetGrid(m, &g));
  PetscCall(DaisiPriorCreate(PETSC_COMM_WORLD, &p));
  PetscCall(DaisiPriorSetFromOptions(p));
  PetscCall(DaisiInterpolantParamsDefault(&ip));
  PetscCall(DaisiInterpolantParamsSetFromOptions(PETSC_COMM_WORLD, "sample_", &ip));
  PetscCall(DaisiCheckOptionsUsed(PETSC_COMM_WORLD));
  PetscCall(DaisiPriorSetUp(p, &g));
  if (o.view) {
    PetscCall(DaisiPriorView(p, PETSC_VIEWER_STDOUT_WORLD));
    PetscCall(DaisiInterpolantParamsView(&ip, PETSC_VIEWER_STDOUT_WORLD));
  }
  if (o.has_estimate) {
    DaisiPriorType type;
    PetscBool      isg;
    PetscCall(DaisiPriorGetType(p, &type));
    PetscCall(PetscStrcmp(type, DAISI_PRIOR_GAUSSIAN, &isg));
    PetscCheck(isg, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-sample_estimate writes a gaussian prior; this prior is '%s'", type);
    PetscCall(DaisiPriorGaussianSave(p, o.estimate));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample | wrote the gaussian prior to %s\n", o.estimate));
  }
  if (o.has_output) {
    ierr = SampleRun(&o, m, p, &ip, &in, &out);
    (void)DaisiStateFileDestroy(&in);
    if (ierr) {
      /* a failed run leaves nothing under the output name */
      if (out) (void)DaisiStateFileDiscard(out);
      (void)DaisiStateFileDestroy(&out);
      (void)DaisiPriorDestroy(&p);
      (void)DaisiModelDestroy(&m);
      (void)DaisiFinalize();
      return (int)ierr;
    }
    PetscCall(DaisiStateFileClose(out));
    PetscCall(DaisiStateFileDestroy(&out));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample | wrote %s\n", o.output));
  }
  PetscCall(DaisiPriorDestroy(&p));
  PetscCall(DaisiModelDestroy(&m));
  PetscCall(DaisiFinalize());
  return 0;
}
