/* daisi-sample: unconditional samples of a generative prior, and the Gaussian prior file.
 *
 * Samples: noise z ~ N(0, I) at t = 0, then the forward SDE (-sample_eps > 0) or the
 * probability-flow ODE (-sample_eps 0) of the prior to t = 1 with -sample_steps Euler or Heun
 * steps; the samples, de-normalised (theta in K), go to -sample_output in the nature-run layout,
 * sample k at time index k (time value k). Sample k is member k of the random-number keys, so
 * the file does not depend on the rank count or on -sample_batch.
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
                           "  -sample_eps eps  -sample_seed s  -sample_estimate PRIOR.h5  -sample_view\n";

typedef struct {
  char      output[PETSC_MAX_PATH_LEN], estimate[PETSC_MAX_PATH_LEN];
  PetscInt  count, batch;
  PetscBool has_output, has_estimate, view;
} SampleOptions;

static PetscErrorCode SampleGetOptions(SampleOptions *o)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(o, sizeof(*o)));
  o->count = 10;
  o->batch = 16;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Prior sampling options", "daisi-sample");
  PetscCall(PetscOptionsString("-sample_output", "Output state file of the samples (theta in K, nature-run layout)", "", o->output, o->output, sizeof(o->output), &o->has_output));
  PetscCall(PetscOptionsInt("-sample_count", "Number of samples", "", o->count, &o->count, NULL));
  PetscCall(PetscOptionsInt("-sample_batch", "Samples integrated together", "", o->batch, &o->batch, NULL));
  PetscCall(PetscOptionsString("-sample_estimate", "Write the (gaussian) prior to this file", "DaisiPriorGaussianSave", o->estimate, o->estimate, sizeof(o->estimate), &o->has_estimate));
  PetscCall(PetscOptionsBool("-sample_view", "Print the prior and the sampler settings", "", o->view, &o->view, NULL));
  PetscOptionsEnd();
  PetscCheck(o->has_output || o->has_estimate, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "nothing to do: give -sample_output FILE (samples) and/or -sample_estimate PRIOR.h5 (the gaussian prior file)");
  PetscCheck(o->count >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_count must be >= 1, got %" PetscInt_FMT, o->count);
  PetscCheck(o->batch >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-sample_batch must be >= 1, got %" PetscInt_FMT, o->batch);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SampleRun(const SampleOptions *o, DaisiModel m, DaisiPrior p, const DaisiInterpolantParams *ip, DaisiStateFile *out)
{
  DaisiGrid              g;
  PetscInt               np, n, B;
  const DaisiModelParam *params;
  DaisiModelType         type;
  DaisiPriorType         ptype;
  PetscReal             *x, scale;
  PetscInt              *member;
  char                   desc[256];
  PetscLogDouble         t0, t1;

  PetscFunctionBegin;
  PetscCall(DaisiModelGetGrid(m, &g));
  PetscCall(DaisiModelGetParams(m, &np, &params));
  PetscCall(DaisiModelGetType(m, &type));
  PetscCall(DaisiPriorGetType(p, &ptype));
  PetscCall(DaisiPriorGetScale(p, &scale));
  n = DaisiGridLocalSize(&g);
  B = PetscMin(o->batch, o->count);
  PetscCall(PetscMalloc2(B * n + 1, &x, B, &member));
  PetscCall(PetscSNPrintf(desc, sizeof(desc), "prior %s (scale %g), %s, %" PetscInt_FMT " steps, eps %g, seed %" PetscInt64_FMT, ptype, (double)scale, DaisiInterpolantMethods[ip->method], ip->steps, (double)ip->eps, ip->seed));

  PetscCall(DaisiStateFileCreate(PETSC_COMM_WORLD, out));
  PetscCall(DaisiStateFileSetGrid(*out, &g));
  PetscCall(DaisiStateFileSetNumTimes(*out, o->count));
  PetscCall(DaisiStateFileSetParams(*out, np, params));
  PetscCall(DaisiStateFileSetString(*out, "model", type));
  PetscCall(DaisiStateFileSetString(*out, "title", "DAISI prior samples (time index = sample)"));
  PetscCall(DaisiStateFileSetString(*out, "sampler", desc));
  PetscCall(DaisiStateFileOpen(*out, o->output, DAISI_FILE_WRITE));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample | %" PetscInt_FMT " sample(s) of %s -> %s\n", o->count, desc, o->output));
  PetscCall(PetscTime(&t0));
  for (PetscInt k0 = 0; k0 < o->count; k0 += B) {
    const PetscInt nb = PetscMin(B, o->count - k0);
    for (PetscInt i = 0; i < nb; i++) member[i] = k0 + i;
    PetscCall(DaisiInterpolantSample(p, ip, nb, member, x));
    PetscCall(DaisiPriorDenormalize(p, nb, x, x));
    for (PetscInt i = 0; i < nb; i++) PetscCall(DaisiStateFileWrite(*out, k0 + i, (PetscReal)(k0 + i), x + i * n));
  }
  PetscCall(PetscTime(&t1));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "sample | %.2f s (%.3f s per sample)\n", (double)(t1 - t0), (double)((t1 - t0) / o->count)));
  PetscCall(PetscFree2(x, member));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  SampleOptions          o;
  DaisiModel             m   = NULL;
  DaisiPrior             p   = NULL;
  DaisiStateFile         out = NULL;
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
    ierr = SampleRun(&o, m, p, &ip, &out);
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
