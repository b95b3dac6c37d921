#pragma once
// The classic CIFAR-10 CNN (the PyTorch tutorial's LeNet-style network) with a Mixture-of-Experts
// layer between its fully connected layers:
//   conv 3->6 5x5, ReLU, max-pool 2, conv 6->16 5x5, ReLU, max-pool 2, flatten,
//   Linear 400->120, ReLU, Linear 120->84, ReLU,
//   MoE 84->84 (8 Linear(84, 84) experts in an ExpertList, top-1 softmax gate, Switch loss 0.01,
//   dropless), Linear 84->10.
// With k = 1 the renormalised gate value is exactly 1, so the router learns through the Switch
// loss only. This is the model of the cifar_cnn_moe benchmark cases and examples/cifar_cnn_moe.
// The second constructor builds the same network with another expert count or k (the zoo's
// --experts / --top-k); with k > 1 the gate values weight the experts and the router also learns
// through the task loss.
#include <memory>

#include "models/moe.h"
#include "nn/conv.h"
#include "nn/linear.h"

namespace mixgrad::models {

class CifarCnnMoE : public nn::Module {
 public:
  static constexpr int64_t kNumExperts = 8;
  static constexpr int64_t kClasses = 10;

  explicit CifarCnnMoE(TensorOptions options = {});
  // num_experts Linear(84, 84) experts, top-k. Throws Error (from the gate) unless
  // 1 <= k <= num_experts.
  CifarCnnMoE(int64_t num_experts, int64_t k, TensorOptions options = {});
  // images [N, 3, 32, 32] -> MoEOutput whose `output` is the logits [N, 10] and whose aux_loss
  // is the MoE layer's weighted Switch loss (add it to the task loss); the routing statistics
  // are the MoE layer's. Throws Error (from the layers) for an input of another shape.
  MoEOutput operator()(const Tensor& images);

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::Linear> fc2;
  std::shared_ptr<MoE> moe;
  std::shared_ptr<nn::Linear> fc3;
};

}  // namespace mixgrad::models
