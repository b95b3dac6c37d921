#pragma once
// How CPU kernels split their loops: core/parallel.h's loops with the CPU backend's grain.
#include <cstdint>

#include "core/parallel.h"

namespace mixgrad::cpu {

// Minimum work (elements) per thread before a loop is split.
inline constexpr int64_t kGrainSize = 32768;

}  // namespace mixgrad::cpu
