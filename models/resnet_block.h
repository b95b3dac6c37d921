#pragma once
// The ResNet BasicBlock of He et al. (2016) as torchvision builds it, with the same submodule
// names so that state_dict() keys match torchvision's (conv1.weight, bn1.running_mean, ...,
// downsample.0.weight, downsample.1.weight):
//   out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
// conv1 is 3x3 with the block's stride, conv2 3x3 with stride 1, both padded by 1 and bias-free.
// The shortcut is the identity when the shape is kept, else a bias-free 1x1 convolution with the
// block's stride followed by batch norm ("downsample").
#include <memory>

#include "nn/batch_norm.h"
#include "nn/containers.h"
#include "nn/conv.h"

namespace mixgrad::models {

class BasicBlock : public nn::Module {
 public:
  // [N, in_channels, H, W] -> [N, out_channels, ceil(H / stride), ceil(W / stride)]. Throws Error
  // for non-positive channel counts or stride.
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride = 1,
             TensorOptions options = {});
  // Throws Error (from conv2d / batch_norm) for an input that is not [N, in_channels, H, W].
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> bn2;
  // Sequential(Conv2d 1x1, BatchNorm2d), or null for the identity shortcut.
  std::shared_ptr<nn::Sequential> downsample;

 private:
  int64_t in_channels_;
  int64_t out_channels_;
  int64_t stride_;
};

}  // namespace mixgrad::models
