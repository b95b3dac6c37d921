#include "zoo/classification.h"

#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad::zoo {

StepOutput classification_step(const Tensor& logits, const Tensor& target,
                               const models::MoEOutput* moe) {
  StepOutput out;
  const Tensor task = cross_entropy(logits, target);
  out.loss = moe != nullptr ? task + moe->aux_loss : task;
  out.items = target.size(0);
  NoGradGuard no_grad;
  out.task_loss = task.item<double>();
  out.metric_sum = static_cast<double>(eq(argmax(logits, 1), target).sum().item<int64_t>());
  if (moe != nullptr) {
    out.tokens_per_expert = moe->tokens_per_expert;
    out.dropped = moe->dropped;
  }
  return out;
}

int64_t active_with_experts(int64_t total, int64_t expert_parameters_all, int64_t num_experts,
                            int64_t k) {
  return total - (num_experts - k) * (expert_parameters_all / num_experts);
}

}  // namespace mixgrad::zoo
