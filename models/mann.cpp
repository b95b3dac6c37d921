#include "models/mann.h"

#include "nn/activation.h"
#include "nn/linear.h"
#include "ops/ops.h"

namespace mixgrad::models {

MANN::MANN(MANNOptions options) : options_(std::move(options)), dropout_(options_.dropout) {
  const MANNOptions& o = options_;
  MG_CHECK(o.input_dim > 0 && o.output_dim > 0 && o.num_experts > 0 && o.hidden > 0 &&
               o.gating_hidden > 0,
           "MANN", "sizes must be positive");
  MG_CHECK(!o.gating_indices.empty(), "MANN", "the gating network needs input features");
  for (int64_t i : o.gating_indices) {
    MG_CHECK(i >= 0 && i < o.input_dim, "MANN", "gating index ", i, " is outside the input [0, ",
             o.input_dim, ")");
  }
  // A buffer, so that to(device) moves it with the input; not persistent, so checkpoints keep
  // their keys (the indices come from the options).
  gating_index_ =
      register_buffer("gating_index", tensor(o.gating_indices, std::nullopt, kInt64), false);
  const auto gating_in = static_cast<int64_t>(o.gating_indices.size());
  const TensorOptions& t = o.tensor_options;
  gating_ = register_module(
      "gating", std::make_shared<nn::Sequential>(
                    std::make_shared<nn::Linear>(gating_in, o.gating_hidden, true, t),
                    std::make_shared<nn::ELU>(),
                    std::make_shared<nn::Linear>(o.gating_hidden, o.gating_hidden, true, t),
                    std::make_shared<nn::ELU>(),
                    std::make_shared<nn::Linear>(o.gating_hidden, o.num_experts, true, t)));
  BlendedLinear::Options layer_options{.tensor_options = t};
  layers_ = register_module(
      "layers",
      std::make_shared<nn::ModuleList>(
          std::make_shared<BlendedLinear>(o.input_dim, o.hidden, o.num_experts, layer_options),
          std::make_shared<BlendedLinear>(o.hidden, o.hidden, o.num_experts, layer_options),
          std::make_shared<BlendedLinear>(o.hidden, o.output_dim, o.num_experts, layer_options)));
  register_module("dropout", dropout_);
}

Tensor MANN::blend_coefficients(const Tensor& x) {
  MG_CHECK(x.dim() == 2 && x.size(1) == options_.input_dim, "MANN", "input must be [batch, ",
           options_.input_dim, "], got ", describe(x));
  return softmax((*gating_)(index_select(x, 1, gating_index_)), 1);
}

Tensor MANN::forward(const Tensor& x) {
  const Tensor alpha = blend_coefficients(x);
  Tensor h = x;
  for (std::size_t i = 0; i < layers_->size(); ++i) {
    auto layer = layers_->at<BlendedLinear>(static_cast<int64_t>(i));
    h = (*layer)(dropout_(h), alpha);
    if (i + 1 < layers_->size()) h = elu(h);
  }
  return h;
}

std::string MANN::extra_repr() const {
  return "experts=" + std::to_string(options_.num_experts) +
         ", gating_inputs=" + std::to_string(options_.gating_indices.size());
}

}  // namespace mixgrad::models
