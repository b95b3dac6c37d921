#include "optim/adam.h"

#include <cmath>

#include "ops/creation.h"
#include "ops/optimizer_steps.h"

namespace mixgrad::optim {

namespace {

constexpr size_t kExpAvg = 0, kExpAvgSq = 1, kMaxExpAvgSq = 2;

ParamGroup adam_defaults(const AdamOptions& o, double default_weight_decay) {
  ParamGroup d;
  d.lr = o.lr;
  d.beta1 = o.beta1;
  d.beta2 = o.beta2;
  d.eps = o.eps;
  d.weight_decay = o.weight_decay.value_or(default_weight_decay);
  return d;
}

std::vector<BufferSpec> adam_buffers(bool amsgrad) {
  std::vector<BufferSpec> b{{"exp_avg", true}, {"exp_avg_sq", true}};
  if (amsgrad) b.push_back({"max_exp_avg_sq", true});
  return b;
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(single_group(std::move(params)), options) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : Adam("Adam", std::move(groups), options, 0.0, WeightDecay::L2) {}

Adam::Adam(std::string name, std::vector<ParamGroup> groups, const AdamOptions& options,
           double default_weight_decay, WeightDecay mode)
    : Optimizer(std::move(name), std::move(groups), adam_defaults(options, default_weight_decay),
                adam_buffers(options.amsgrad)),
      mode_(mode),
      amsgrad_(options.amsgrad) {}

Adam::StepScales Adam::step_scales(const ParamGroup& group) const {
  const double lr = *group.lr;
  return {lr, mode_ == WeightDecay::Decoupled ? lr * *group.weight_decay : 0.0};
}

std::map<std::string, std::string> Adam::config() const {
  return {{"amsgrad", amsgrad_ ? "1" : "0"}};
}

void Adam::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) {
  const StepScales scales = step_scales(group);
  for (Tensor& b : state.buffers)
    if (!b.defined()) b = zeros_like(param);
  const double t = static_cast<double>(state.step);
  const double beta1 = *group.beta1, beta2 = *group.beta2;
  adam_step_(param, grad, state.buffers[kExpAvg], state.buffers[kExpAvgSq],
             amsgrad_ ? state.buffers[kMaxExpAvgSq] : Tensor(),
             {.step_size = scales.lr / (1 - std::pow(beta1, t)),
              .beta1 = beta1,
              .beta2 = beta2,
              .eps = *group.eps,
              .l2 = mode_ == WeightDecay::L2 ? *group.weight_decay : 0.0,
              .decay = scales.decay,
              .bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, t)),
              .amsgrad = amsgrad_});
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions options)
    : AdamW(single_group(std::move(params)), options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions options)
    : AdamW("AdamW", std::move(groups), options, 1e-2) {}

AdamW::AdamW(std::string name, std::vector<ParamGroup> groups, const AdamOptions& options,
             double default_weight_decay)
    : Adam(std::move(name), std::move(groups), options, default_weight_decay,
           WeightDecay::Decoupled) {}

}  // namespace mixgrad::optim
