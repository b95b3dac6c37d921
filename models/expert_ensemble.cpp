#include "models/expert_ensemble.h"

#include "core/grad_mode.h"
#include "nn/init.h"
#include "ops/ops.h"

namespace mixgrad::models {
namespace {

void check_options(const ExpertMLPOptions& o, const char* op) {
  MG_CHECK(o.num_experts > 0, op, "num_experts must be positive, got ", o.num_experts);
  MG_CHECK(o.sizes.size() >= 2, op, "sizes needs an input and at least one layer width, got ",
           o.sizes.size(), " sizes");
  for (int64_t s : o.sizes) MG_CHECK(s > 0, op, "layer sizes must be positive, got ", s);
  MG_CHECK(o.activations.size() + 1 == o.sizes.size(), op, "expected ", o.sizes.size() - 1,
           " activations (one per layer), got ", o.activations.size());
  for (Activation a : o.activations) {
    MG_CHECK(activation_input_width(a, 1) == 1, op, "gated activations (", activation_name(a),
             ") halve a layer's width, which the ensembles' `sizes` do not describe; use them in "
             "FFNExperts or DenseFeedForward");
  }
}

}  // namespace

StackedExpertMLP::StackedExpertMLP(ExpertMLPOptions options) : options_(std::move(options)) {
  check_options(options_, "StackedExpertMLP");
  const TensorOptions& t = options_.tensor_options;
  const int64_t e = options_.num_experts;
  for (std::size_t l = 0; l + 1 < options_.sizes.size(); ++l) {
    const int64_t in = options_.sizes[l], out = options_.sizes[l + 1];
    const std::string suffix = std::to_string(l);
    weights.push_back(
        register_parameter("weight" + suffix, nn::init::fan_in_uniform({e, in, out}, in, t)));
    biases.push_back(
        register_parameter("bias" + suffix, nn::init::fan_in_uniform({e, 1, out}, in, t)));
  }
}

Tensor StackedExpertMLP::forward(const Tensor& x) {
  const int64_t e = options_.num_experts, in = options_.sizes.front();
  MG_CHECK((x.dim() == 2 && x.size(1) == in) || (x.dim() == 3 && x.size(0) == e && x.size(2) == in),
           "StackedExpertMLP", "input must be [batch, ", in, "] or [", e, ", batch, ", in,
           "], got ", describe(x));
  Tensor h = x;  // [B, in] broadcasts over the experts in the first matmul
  for (std::size_t l = 0; l < weights.size(); ++l) {
    h = activate(options_.activations[l], matmul(h, weights[l]) + biases[l]);
  }
  return h;
}

void StackedExpertMLP::copy_from(const IndependentExpertMLPs& experts) {
  MG_CHECK(experts.options().num_experts == options_.num_experts &&
               experts.options().sizes == options_.sizes,
           "StackedExpertMLP.copy_from", "the ensembles differ in shape");
  NoGradGuard no_grad;
  for (int64_t e = 0; e < options_.num_experts; ++e) {
    for (std::size_t l = 0; l < weights.size(); ++l) {
      const nn::Linear& linear = experts.layer(e, static_cast<int64_t>(l));
      weights[l].detach().select(0, e).copy_(linear.weight.t());  // Linear keeps [out, in]
      biases[l].detach().select(0, e).select(0, 0).copy_(linear.bias);
    }
  }
}

void StackedExpertMLP::copy_to(IndependentExpertMLPs& experts) const {
  MG_CHECK(experts.options().num_experts == options_.num_experts &&
               experts.options().sizes == options_.sizes,
           "StackedExpertMLP.copy_to", "the ensembles differ in shape");
  NoGradGuard no_grad;
  for (int64_t e = 0; e < options_.num_experts; ++e) {
    for (std::size_t l = 0; l < weights.size(); ++l) {
      nn::Linear& linear = experts.layer(e, static_cast<int64_t>(l));
      linear.weight.detach().copy_(weights[l].select(0, e).t());
      linear.bias.detach().copy_(biases[l].select(0, e).select(0, 0));
    }
  }
}

std::string StackedExpertMLP::extra_repr() const {
  std::string sizes;
  for (int64_t s : options_.sizes) sizes += (sizes.empty() ? "" : "-") + std::to_string(s);
  return "experts=" + std::to_string(options_.num_experts) + ", sizes=" + sizes;
}

IndependentExpertMLPs::IndependentExpertMLPs(ExpertMLPOptions options)
    : options_(std::move(options)) {
  check_options(options_, "IndependentExpertMLPs");
  experts_ = register_module("experts", std::make_shared<nn::ModuleList>());
  for (int64_t e = 0; e < options_.num_experts; ++e) {
    auto mlp = std::make_shared<nn::Sequential>();
    for (std::size_t l = 0; l + 1 < options_.sizes.size(); ++l) {
      mlp->push_back(std::make_shared<nn::Linear>(options_.sizes[l], options_.sizes[l + 1], true,
                                                  options_.tensor_options));
      mlp->push_back(make_activation(options_.activations[l]));
    }
    experts_->push_back(mlp);
  }
}

Tensor IndependentExpertMLPs::forward(const Tensor& x) {
  std::vector<Tensor> outputs;
  for (const auto& expert : *experts_) outputs.push_back((*expert)(x));
  return stack(outputs, 0);
}

nn::Linear& IndependentExpertMLPs::layer(int64_t expert, int64_t layer) const {
  auto mlp = experts_->at<nn::Sequential>(expert);
  return *mlp->at<nn::Linear>(2 * layer);
}

}  // namespace mixgrad::models
