#pragma once
// The router weight the token gates share: [num_experts, d_model], no bias.
#include "ops/creation.h"

namespace mixgrad::models {

// A fresh [num_experts, d_model] weight drawn uniformly in +-1/sqrt(d_model) (PyTorch Linear's
// init), not requiring grad (register it as a parameter). `gate` names the caller in errors.
// Throws Error for non-positive sizes.
Tensor make_router_weight(const char* gate, int64_t d_model, int64_t num_experts,
                          TensorOptions options);

// Checks x is [T, d_model] (T >= min_tokens); throws Error naming `gate` and x's shape if not.
void check_router_input(const char* gate, const Tensor& x, int64_t d_model, int64_t min_tokens);

}  // namespace mixgrad::models
