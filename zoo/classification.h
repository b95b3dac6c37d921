#pragma once
// What the classifiers of the zoo share: the loss and accuracy of one batch of logits, and the
// active-parameter count of a model with one routed expert layer.
#include <cstdint>

#include "models/moe.h"
#include "zoo/task.h"

namespace mixgrad::zoo {

// logits [N, C], target int64 [N] -> cross-entropy as task loss, correct predictions as metric,
// plus `moe`'s auxiliary loss and expert load when given.
StepOutput classification_step(const Tensor& logits, const Tensor& target,
                               const models::MoEOutput* moe = nullptr);

// total - (E - k) * (one expert's parameters): what one token uses when k of E equally sized
// experts run on it.
int64_t active_with_experts(int64_t total, int64_t expert_parameters_all, int64_t num_experts,
                            int64_t k);

}  // namespace mixgrad::zoo
