#include "models/second_expert_policy.h"

#include <cmath>

#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad::models {

void check_second_expert_options(const SecondExpertOptions& options, int64_t k, const char* who) {
  MG_CHECK(k == 2, who, "a second-expert policy needs k == 2, got k=", k);
  const auto valid = [](double t) { return std::isfinite(t) && t >= 0; };
  MG_CHECK(valid(options.threshold_train) && valid(options.threshold_eval), who,
           "second-expert thresholds must be finite and non-negative, got train=",
           options.threshold_train, " eval=", options.threshold_eval);
}

Tensor second_expert_keep(const Tensor& gates, const SecondExpertOptions& options, bool training,
                          Generator* gen) {
  MG_CHECK(gates.dim() == 2 && gates.size(1) == 2 && gates.is_floating_point(),
           "second_expert_keep", "gates must be floating [tokens, 2], got ", describe(gates));
  check_second_expert_options(options, 2, "second_expert_keep");
  NoGradGuard no_grad;
  const SecondExpertPolicy policy = training ? options.train : options.eval;
  const double threshold = training ? options.threshold_train : options.threshold_eval;
  const Tensor second = gates.select(1, 1).detach();
  Tensor keep_second;
  switch (policy) {
    case SecondExpertPolicy::All:
      keep_second = ones_like(second, kBool);
      break;
    case SecondExpertPolicy::None:
      keep_second = zeros_like(second, kBool);
      break;
    case SecondExpertPolicy::Threshold:
      keep_second = gt(second, full_like(second, threshold));
      break;
    case SecondExpertPolicy::Random:
      keep_second = gt(second, rand_like(second, gen) * threshold);
      break;
  }
  return stack({ones_like(second, kBool), keep_second}, 1);
}

}  // namespace mixgrad::models
