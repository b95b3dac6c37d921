#include "models/resnet_block.h"

#include <string>

#include "core/error.h"
#include "ops/ops.h"

namespace mixgrad::models {
namespace {

std::shared_ptr<nn::Conv2d> conv_no_bias(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                         int64_t padding, const TensorOptions& options) {
  return std::make_shared<nn::Conv2d>(
      in, out, kernel, nn::ConvLayerOptions<2>{.stride = stride, .padding = padding, .bias = false},
      options);
}

std::shared_ptr<nn::BatchNorm2d> batch_norm_2d(int64_t channels, const TensorOptions& options) {
  return std::make_shared<nn::BatchNorm2d>(channels, 1e-5, 0.1, true, true, options);
}

}  // namespace

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
                       TensorOptions options)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride) {
  MG_CHECK(in_channels > 0 && out_channels > 0, "BasicBlock",
           "channel counts must be positive, got in_channels ", in_channels, ", out_channels ",
           out_channels);
  MG_CHECK(stride > 0, "BasicBlock", "stride must be positive, got ", stride);
  conv1 = register_module("conv1", conv_no_bias(in_channels, out_channels, 3, stride, 1, options));
  bn1 = register_module("bn1", batch_norm_2d(out_channels, options));
  conv2 = register_module("conv2", conv_no_bias(out_channels, out_channels, 3, 1, 1, options));
  bn2 = register_module("bn2", batch_norm_2d(out_channels, options));
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module("downsample",
                                 std::make_shared<nn::Sequential>(
                                     conv_no_bias(in_channels, out_channels, 1, stride, 0, options),
                                     batch_norm_2d(out_channels, options)));
  }
}

Tensor BasicBlock::forward(const Tensor& input) {
  const Tensor h = relu((*bn1)((*conv1)(input)));
  const Tensor shortcut = downsample ? (*downsample)(input) : input;
  return relu((*bn2)((*conv2)(h)) + shortcut);
}

std::string BasicBlock::extra_repr() const {
  return std::to_string(in_channels_) + ", " + std::to_string(out_channels_) +
         ", stride=" + std::to_string(stride_);
}

}  // namespace mixgrad::models
