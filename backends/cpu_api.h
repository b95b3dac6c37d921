#pragma once
// What the CPU backend says about itself.
#include <string>

namespace mixgrad::cpu {

// The name of the OpenBLAS kernel set products run with ("SkylakeX", "Haswell", ...). When
// OpenBLAS does not recognise the CPU's model and falls back to its pre-AVX "Prescott" kernels,
// mixgrad switches it, before its first kernel runs, to the kernels of the newest instruction
// set the CPU has (AVX-512: "SkylakeX", AVX2: "Haswell", AVX: "Sandybridge"). Setting OpenBLAS's
// own OPENBLAS_CORETYPE environment variable chooses instead, and keeps mixgrad from switching.
std::string blas_core();

}  // namespace mixgrad::cpu
