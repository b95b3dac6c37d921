#pragma once
// Convolution layers: Conv1d on [N, C, L] and Conv2d on [N, C, H, W] (ops/conv.h).
//
//   nn::Conv2d conv(3, 16, 3, {.padding = 1});                  // 3x3, same size out
//   nn::Conv2d down(64, 128, 1, {.stride = 2, .bias = false});  // 1x1 projection
//   nn::Conv1d depthwise(32, 32, 5, {.padding = mg::Padding::Same, .groups = 32}, mg::kFloat64);
#include <cstddef>
#include <string>

#include "nn/module.h"
#include "ops/conv.h"
#include "ops/creation.h"

namespace mixgrad::nn {

// A convolution layer's window and bias; stride, padding and dilation take one number or one
// per spatial dim, as in mixgrad::ConvOptions.
template <std::size_t N>
struct ConvLayerOptions {
  SpatialSize<N> stride = 1;
  ConvPadding<N> padding = 0;
  SpatialSize<N> dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

// The layer shared by Conv1d and Conv2d: weight [out_channels, in_channels / groups, *kernel]
// and bias [out_channels], both initialised like PyTorch's (kaiming_uniform with a = sqrt(5),
// i.e. uniform in +-1/sqrt(fan_in) with fan_in = in_channels / groups * prod(kernel)).
// The constructor throws Error for non-positive channels, kernel sizes or groups, groups not
// dividing both channel counts, or padding Same with a stride other than 1; forward throws as
// conv1d / conv2d.
template <std::size_t N>
class ConvNd : public Module {
 public:
  ConvNd(int64_t in_channels, int64_t out_channels, SpatialSize<N> kernel_size,
         ConvLayerOptions<N> options = {}, TensorOptions tensor_options = {});
  Tensor forward(const Tensor& input) override;
  // PyTorch's wording: "3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)".
  std::string extra_repr() const override;

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  const SpatialSize<N>& kernel_size() const { return kernel_size_; }
  const ConvLayerOptions<N>& options() const { return options_; }

  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_channels_;
  int64_t out_channels_;
  SpatialSize<N> kernel_size_;
  ConvLayerOptions<N> options_;
};

// Conv1d(in, out, kernel, options, tensor_options) on [N, C, L].
class Conv1d : public ConvNd<1> {
 public:
  using ConvNd<1>::ConvNd;
};

// Conv2d(in, out, kernel, options, tensor_options) on [N, C, H, W].
class Conv2d : public ConvNd<2> {
 public:
  using ConvNd<2>::ConvNd;
};

extern template class ConvNd<1>;
extern template class ConvNd<2>;

}  // namespace mixgrad::nn
