#pragma once
// Marks small inline functions that the CUDA backend's kernels share with the CPU (the Philox
// generator, scalar math), so both devices compute the same bits from one definition.
#if defined(__CUDACC__)
#define MG_HOST_DEVICE __host__ __device__
#else
#define MG_HOST_DEVICE
#endif
