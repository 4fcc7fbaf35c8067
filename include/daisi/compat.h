/* Compatibility with the PETSc of Debian 12 (3.18): later PETSc names used in this code.
 * Included into every translation unit by CMake (-include), so code reads as current PETSc. */
#ifndef DAISI_COMPAT_H
#define DAISI_COMPAT_H
#include <petscsys.h>
#if PETSC_VERSION_LT(3, 19, 0)
  #ifndef PETSC_SUCCESS
    #define PETSC_SUCCESS 0
  #endif
#endif
#endif
