#include "models/router_weight.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "ops/ops.h"

namespace mixgrad::models {

Tensor make_router_weight(const char* gate, int64_t d_model, int64_t num_experts,
                          TensorOptions options) {
  MG_CHECK(d_model > 0 && num_experts > 0, gate,
           "d_model and num_experts must be positive, got d_model=", d_model,
           " num_experts=", num_experts);
  options.requires_grad_ = false;  // parameters become leaves on registration
  const double bound = 1.0 / std::sqrt(static_cast<double>(d_model));
  NoGradGuard no_grad;
  return empty({num_experts, d_model}, options).uniform_(-bound, bound);
}

void check_router_input(const char* gate, const Tensor& x, int64_t d_model, int64_t min_tokens) {
  MG_CHECK(x.dim() == 2 && x.size(1) == d_model, gate, "input must be [tokens, ", d_model,
           "], got ", describe(x));
  MG_CHECK(x.size(0) >= min_tokens, gate, "needs at least ", min_tokens, " token(s), got ",
           describe(x));
}

}  // namespace mixgrad::models
