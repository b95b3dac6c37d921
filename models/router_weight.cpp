#include "models/router_weight.h"

#include "core/error.h"
#include "nn/init.h"

namespace mixgrad::models {

Tensor make_router_weight(const char* gate, int64_t d_model, int64_t num_experts,
                          TensorOptions options) {
  MG_CHECK(d_model > 0 && num_experts > 0, gate,
           "d_model and num_experts must be positive, got d_model=", d_model,
           " num_experts=", num_experts);
  return nn::init::fan_in_uniform({num_experts, d_model}, d_model, options);
}

void check_router_input(const char* gate, const Tensor& x, int64_t d_model, int64_t min_tokens) {
  MG_CHECK(x.dim() == 2 && x.size(1) == d_model, gate, "input must be [tokens, ", d_model,
           "], got ", describe(x));
  MG_CHECK(x.size(0) >= min_tokens, gate, "needs at least ", min_tokens, " token(s), got ",
           describe(x));
}

}  // namespace mixgrad::models
