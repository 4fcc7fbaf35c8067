#include <daisi/rng.h>
#include <math.h>
#include <Random123/philox.h>

void DaisiRngBits(const DaisiRng *r, uint64_t index, uint64_t out[4])
{
  /* Philox-4x64 with 10 rounds: counter (cycle, member, step, index), key (seed, stream) */
  philox4x64_ctr_t c = {{r->cycle, r->member, r->step, index}};
  philox4x64_key_t k = {{r->seed, r->stream}};
  philox4x64_ctr_t o = philox4x64(c, k);
  for (int i = 0; i < 4; i++) out[i] = o.v[i];
}

/* 53 random bits mapped to (0, 1): (m + 0.5) / 2^53 */
static inline double u01(uint64_t w)
{
  return ((double)(w >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double DaisiRngUniform(const DaisiRng *r, uint64_t index)
{
  uint64_t w[4];
  DaisiRngBits(r, index, w);
  return u01(w[0]);
}

double DaisiRngNormal(const DaisiRng *r, uint64_t index)
{
  uint64_t w[4];
  DaisiRngBits(r, index, w);
  return sqrt(-2.0 * log(u01(w[0]))) * cos(2.0 * PETSC_PI * u01(w[1]));
}

void DaisiRngNormalArray(const DaisiRng *r, uint64_t index0, PetscInt n, double out[])
{
  for (PetscInt i = 0; i < n; i++) out[i] = DaisiRngNormal(r, index0 + (uint64_t)i);
}
