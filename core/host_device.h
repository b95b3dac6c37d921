#pragma once
// Marks small inline functions that the CUDA backend's kernels share with the CPU (the Philox
// generator, scalar math), so both devices compute from one definition: the same bits for
// Philox, the same formulas for the math (float32 GELU uses a vectorisable erf on the CPU only).
#if defined(__CUDACC__)
#define MG_HOST_DEVICE __host__ __device__
#else
#define MG_HOST_DEVICE
#endif
