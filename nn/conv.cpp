#include "nn/conv.h"

#include "nn/init.h"

namespace mixgrad::nn {

namespace {

template <std::size_t N>
constexpr const char* layer_name() {
  return N == 1 ? "Conv1d" : "Conv2d";
}

// PyTorch's tuple printing: "(3,)" in 1-D, "(3, 3)" in 2-D.
template <std::size_t N>
std::string tuple(const SpatialSize<N>& v) {
  std::string s = "(";
  for (std::size_t d = 0; d < N; ++d) s += (d ? ", " : "") + std::to_string(v[d]);
  return s + (N == 1 ? ",)" : ")");
}

}  // namespace

template <std::size_t N>
ConvNd<N>::ConvNd(int64_t in_channels, int64_t out_channels, SpatialSize<N> kernel_size,
                  ConvLayerOptions<N> options, TensorOptions tensor_options)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      options_(options) {
  const char* name = layer_name<N>();
  MG_CHECK(in_channels > 0 && out_channels > 0, name,
           "channels must be positive, got in_channels=", in_channels,
           " out_channels=", out_channels);
  MG_CHECK(options.groups > 0, name, "groups must be positive, got ", options.groups);
  MG_CHECK(in_channels % options.groups == 0 && out_channels % options.groups == 0, name, "groups ",
           options.groups, " must divide in_channels=", in_channels,
           " and out_channels=", out_channels);
  Shape weight_shape{out_channels, in_channels / options.groups};
  int64_t fan_in = in_channels / options.groups;
  for (std::size_t d = 0; d < N; ++d) {
    MG_CHECK(kernel_size[d] > 0, name, "kernel_size must be positive, got ", tuple(kernel_size));
    if (options.padding.mode == Padding::Same) {
      MG_CHECK(options.stride[d] == 1, name, "padding Same needs stride 1, got stride ",
               tuple(options.stride));
    }
    weight_shape.push_back(kernel_size[d]);
    fan_in *= kernel_size[d];
  }
  tensor_options.requires_grad_ = false;
  weight = register_parameter("weight", init::fan_in_uniform(weight_shape, fan_in, tensor_options));
  if (options.bias) {
    bias = register_parameter("bias", init::fan_in_uniform({out_channels}, fan_in, tensor_options));
  }
}

template <std::size_t N>
Tensor ConvNd<N>::forward(const Tensor& input) {
  const ConvOptions<N> o{.stride = options_.stride,
                         .padding = options_.padding,
                         .dilation = options_.dilation,
                         .groups = options_.groups};
  if constexpr (N == 1)
    return conv1d(input, weight, bias, o);
  else
    return conv2d(input, weight, bias, o);
}

template <std::size_t N>
std::string ConvNd<N>::extra_repr() const {
  std::string s = std::to_string(in_channels_) + ", " + std::to_string(out_channels_) +
                  ", kernel_size=" + tuple(kernel_size_) + ", stride=" + tuple(options_.stride);
  const ConvPadding<N>& padding = options_.padding;
  if (padding.mode)
    s += std::string(", padding=") + (*padding.mode == Padding::Same ? "same" : "valid");
  else if (padding.amount != SpatialSize<N>(0))
    s += ", padding=" + tuple(padding.amount);
  if (options_.dilation != SpatialSize<N>(1)) s += ", dilation=" + tuple(options_.dilation);
  if (options_.groups != 1) s += ", groups=" + std::to_string(options_.groups);
  if (!bias.defined()) s += ", bias=false";
  return s;
}

template class ConvNd<1>;
template class ConvNd<2>;

}  // namespace mixgrad::nn
