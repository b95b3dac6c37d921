#include "models/feed_forward.h"

#include "ops/creation.h"

namespace mixgrad::models {

DenseFeedForward::DenseFeedForward(DenseFeedForwardOptions options) : options_(options) {
  MG_CHECK(options.d_model > 0 && options.hidden > 0, "DenseFeedForward",
           "sizes must be positive, got d_model=", options.d_model, " hidden=", options.hidden);
  const TensorOptions& t = options.tensor_options;
  fc1 = register_module(
      "fc1", std::make_shared<nn::Linear>(
                 options.d_model, activation_input_width(options.activation, options.hidden),
                 options.bias, t));
  fc2 = register_module(
      "fc2", std::make_shared<nn::Linear>(options.hidden, options.d_model, options.bias, t));
}

MoEOutput DenseFeedForward::operator()(const Tensor& x) {
  MG_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == options_.d_model, "DenseFeedForward",
           "expected input of shape [..., ", options_.d_model, "], got ", describe(x));
  MoEOutput out;
  out.output = (*fc2)(activate(options_.activation, (*fc1)(x)));
  out.aux_loss = zeros({}, options_of(out.output));
  return out;
}

std::string DenseFeedForward::extra_repr() const {
  return "d_model=" + std::to_string(options_.d_model) +
         ", hidden=" + std::to_string(options_.hidden) +
         ", activation=" + activation_name(options_.activation);
}

}  // namespace mixgrad::models
