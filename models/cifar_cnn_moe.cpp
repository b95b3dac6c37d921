#include "models/cifar_cnn_moe.h"

#include <vector>

#include "models/custom_experts.h"
#include "ops/ops.h"

namespace mixgrad::models {
namespace {

constexpr int64_t kWidth = 84;

std::shared_ptr<MoE> linear_expert_moe(int64_t num_experts, int64_t k,
                                       const TensorOptions& options) {
  std::vector<std::shared_ptr<nn::Module>> experts;
  for (int64_t e = 0; e < num_experts; ++e) {
    experts.push_back(std::make_shared<nn::Linear>(kWidth, kWidth, true, options));
  }
  return std::make_shared<MoE>(MoEOptions{.d_model = kWidth,
                                          .num_experts = num_experts,
                                          .k = k,
                                          .gate_mode = TopKMode::SoftmaxThenTopK,
                                          .switch_loss_coef = 0.01,
                                          .dropless = true,
                                          .tensor_options = options},
                               nullptr, std::make_shared<ExpertList>(std::move(experts)));
}

}  // namespace

CifarCnnMoE::CifarCnnMoE(TensorOptions options) : CifarCnnMoE(kNumExperts, 1, options) {}

CifarCnnMoE::CifarCnnMoE(int64_t num_experts, int64_t k, TensorOptions options) {
  conv1 = register_module(
      "conv1", std::make_shared<nn::Conv2d>(3, 6, 5, nn::ConvLayerOptions<2>{}, options));
  conv2 = register_module(
      "conv2", std::make_shared<nn::Conv2d>(6, 16, 5, nn::ConvLayerOptions<2>{}, options));
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(16 * 5 * 5, 120, true, options));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(120, kWidth, true, options));
  moe = register_module("moe", linear_expert_moe(num_experts, k, options));
  fc3 = register_module("fc3", std::make_shared<nn::Linear>(kWidth, kClasses, true, options));
}

MoEOutput CifarCnnMoE::operator()(const Tensor& images) {
  Tensor h = max_pool2d(relu((*conv1)(images)), 2);
  h = max_pool2d(relu((*conv2)(h)), 2).flatten(1);
  h = relu((*fc2)(relu((*fc1)(h))));
  MoEOutput out = (*moe)(h);
  out.output = (*fc3)(out.output);
  return out;
}

}  // namespace mixgrad::models
