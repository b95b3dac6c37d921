#include "models/ffn_experts.h"

#include "core/grad_mode.h"
#include "nn/init.h"
#include "ops/ops.h"

namespace mixgrad::models {

FFNExperts::FFNExperts(FFNExpertsOptions options) : options_(options) {
  MG_CHECK(options.num_experts > 0 && options.d_model > 0 && options.hidden > 0, "FFNExperts",
           "sizes must be positive, got experts=", options.num_experts,
           " d_model=", options.d_model, " hidden=", options.hidden);
  const TensorOptions& t = options.tensor_options;
  const int64_t e = options.num_experts, d = options.d_model, h = options.hidden;
  const int64_t h1 = activation_input_width(options.activation, h);
  w1 = register_parameter("w1", nn::init::fan_in_uniform({e, d, h1}, d, t));
  w2 = register_parameter("w2", nn::init::fan_in_uniform({e, h, d}, h, t));
  if (options.bias) {
    b1 = register_parameter("b1", nn::init::fan_in_uniform({e, h1}, d, t));
    b2 = register_parameter("b2", nn::init::fan_in_uniform({e, d}, h, t));
  }
}

FFNExperts::FFNExperts(FFNExpertsOptions options, Uninitialised) : options_(options) {}

std::shared_ptr<Experts> FFNExperts::shard(int64_t first, int64_t count) const {
  check_expert_range("FFNExperts.shard", first, count, options_.num_experts);
  FFNExpertsOptions options = options_;
  options.num_experts = count;
  std::shared_ptr<FFNExperts> part(new FFNExperts(options, Uninitialised{}));
  NoGradGuard no_grad;
  auto take = [&](const char* name, const Tensor& stacked) {
    return stacked.defined()
               ? part->register_parameter(name, stacked.narrow(0, first, count).clone(),
                                          stacked.requires_grad())
               : Tensor();
  };
  part->w1 = take("w1", w1);
  part->w2 = take("w2", w2);
  part->b1 = take("b1", b1);
  part->b2 = take("b2", b2);
  return part;
}

Tensor FFNExperts::forward(const Tensor& rows, const Tensor& counts) {
  MG_CHECK(rows.dim() == 2 && rows.size(1) == options_.d_model, "FFNExperts", "rows must be [R, ",
           options_.d_model, "], got ", describe(rows));
  auto product = [&](const Tensor& x, const Tensor& w, const Tensor& b) {
    return b.defined() ? grouped_matmul(x, w, counts, b) : grouped_matmul(x, w, counts);
  };
  return product(activate(options_.activation, product(rows, w1, b1)), w2, b2);
}

Tensor FFNExperts::expert(int64_t e, const Tensor& x) {
  MG_CHECK(e >= 0 && e < options_.num_experts, "FFNExperts.expert", "expert ", e,
           " is out of range for ", options_.num_experts, " experts");
  Tensor h = matmul(x, w1.select(0, e));
  if (b1.defined()) h = h + b1.select(0, e);
  Tensor y = matmul(activate(options_.activation, h), w2.select(0, e));
  return b2.defined() ? y + b2.select(0, e) : y;
}

std::string FFNExperts::extra_repr() const {
  return "experts=" + std::to_string(options_.num_experts) +
         ", d_model=" + std::to_string(options_.d_model) +
         ", hidden=" + std::to_string(options_.hidden) +
         ", activation=" + activation_name(options_.activation);
}

}  // namespace mixgrad::models
