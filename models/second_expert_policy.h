#pragma once
// Whether a top-2 router keeps each token's second expert, with the policies of the
// `mixture_of_experts` PyTorch package (shared/reference/moe-math.md). The gates are normalised
// over the two selected experts before the policy; a dropped second slot then simply contributes
// nothing (the first gate is not renormalised), as in that package.
#include <cstdint>

#include "core/tensor.h"

namespace mixgrad {
class Generator;
}

namespace mixgrad::models {

enum class SecondExpertPolicy {
  All,        // always keep the second expert
  None,       // never keep it (top-2 selection, top-1 compute)
  Threshold,  // keep it iff g2 > threshold
  Random,     // keep it iff g2 > threshold * u, u ~ U(0, 1) drawn per token
};

// Separate policies and thresholds for training and evaluation (the package's defaults).
struct SecondExpertOptions {
  SecondExpertPolicy train = SecondExpertPolicy::Random;
  SecondExpertPolicy eval = SecondExpertPolicy::Random;
  double threshold_train = 0.2;
  double threshold_eval = 0.2;
};

// Throws Error naming `who` unless k == 2 and both thresholds are finite and non-negative.
void check_second_expert_options(const SecondExpertOptions& options, int64_t k, const char* who);

// Bool [T, 2] keep mask for top-2 combine weights `gates` [T, 2] (floating): column 0 is all
// true, column 1 follows the policy for `training` (train or eval fields). The Random policy
// draws T uniforms of the gates' dtype from `gen` (nullptr: the default generator), one per
// token in order; the other policies draw nothing. Not differentiable (a mask). Throws Error for
// gates that are not floating [T, 2] or invalid options (see check_second_expert_options).
Tensor second_expert_keep(const Tensor& gates, const SecondExpertOptions& options, bool training,
                          Generator* gen = nullptr);

}  // namespace mixgrad::models
