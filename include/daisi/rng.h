/* Counter-based random numbers (Random123 Philox-4x64).
 *
 * Every random number in DAISI is a pure function of a key and a counter:
 *   key     = (seed, stream)         stream names the purpose (DAISI_RNG_*), so that
 *                                    different uses never share numbers;
 *   counter = (cycle, member, step, index)  index is usually the global grid index.
 * Results therefore do not depend on how members and grid points are spread over ranks:
 * the same (G, P) layout-independence the filters promise. */
#ifndef DAISI_RNG_H
#define DAISI_RNG_H

#include <petscsys.h>

enum {
  DAISI_RNG_INITIAL_CONDITION = 1,
  DAISI_RNG_ENSEMBLE_PERTURBATION,
  DAISI_RNG_OBS_SITES,
  DAISI_RNG_OBS_NOISE,
  DAISI_RNG_ENKF_PERTURBED_OBS,
  DAISI_RNG_SDE_NOISE,
  DAISI_RNG_INTERPOLANT,
  DAISI_RNG_TRAINING,
  DAISI_RNG_NN_INIT,
  DAISI_RNG_RANK_HISTOGRAM_TIES,
  DAISI_RNG_PARTICLE_FILTER, /* pf: resampling uniform (step 0), jitter (step 1) */
  DAISI_RNG_LOSDA,           /* losda: the starting noise of a member's latent */
  DAISI_RNG_TEST = 100
};

typedef struct {
  uint64_t seed, stream;
  uint64_t cycle, member, step;
} DaisiRng;

static inline DaisiRng DaisiRngMake(uint64_t seed, uint64_t stream, uint64_t cycle, uint64_t member, uint64_t step)
{
  DaisiRng r = {seed, stream, cycle, member, step};
  return r;
}

/* four independent uniform 64-bit words for the given index */
PETSC_EXTERN void DaisiRngBits(const DaisiRng *r, uint64_t index, uint64_t out[4]);
/* uniform on the open interval (0, 1) */
PETSC_EXTERN double DaisiRngUniform(const DaisiRng *r, uint64_t index);
/* standard normal (Box-Muller on the first two words) */
PETSC_EXTERN double DaisiRngNormal(const DaisiRng *r, uint64_t index);
/* n standard normals for indices index0 .. index0 + n - 1 */
PETSC_EXTERN void DaisiRngNormalArray(const DaisiRng *r, uint64_t index0, PetscInt n, double out[]);

#endif
