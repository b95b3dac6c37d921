#include "nn/pooling.h"

#include "ops/view.h"

namespace mixgrad::nn {

namespace {

// "2" for a square size, "(3, 2)" otherwise, as PyTorch prints them.
std::string size_repr(SpatialSize<2> s) {
  if (s[0] == s[1]) return std::to_string(s[0]);
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ")";
}

const char* bool_repr(bool b) {
  return b ? "true" : "false";
}

}  // namespace

Tensor MaxPool2d::forward(const Tensor& input) {
  return max_pool2d(input, kernel_size_, options_);
}
std::pair<Tensor, Tensor> MaxPool2d::forward_with_indices(const Tensor& input) {
  return max_pool2d_with_indices(input, kernel_size_, options_);
}
std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + size_repr(kernel_size_) +
         ", stride=" + size_repr(options_.stride.value.value_or(kernel_size_)) +
         ", padding=" + size_repr(options_.padding) + ", dilation=" + size_repr(options_.dilation) +
         ", ceil_mode=" + bool_repr(options_.ceil_mode);
}

Tensor AvgPool2d::forward(const Tensor& input) {
  return avg_pool2d(input, kernel_size_, options_);
}
std::string AvgPool2d::extra_repr() const {
  std::string s = "kernel_size=" + size_repr(kernel_size_) +
                  ", stride=" + size_repr(options_.stride.value.value_or(kernel_size_)) +
                  ", padding=" + size_repr(options_.padding) +
                  ", ceil_mode=" + bool_repr(options_.ceil_mode) +
                  ", count_include_pad=" + bool_repr(options_.count_include_pad);
  if (options_.divisor_override)
    s += ", divisor_override=" + std::to_string(*options_.divisor_override);
  return s;
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  return adaptive_avg_pool2d(input, output_size_);
}
std::string AdaptiveAvgPool2d::extra_repr() const {
  return "output_size=" + size_repr(output_size_);
}

Tensor Flatten::forward(const Tensor& input) {
  return flatten(input, start_dim_, end_dim_);
}
std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_);
}

}  // namespace mixgrad::nn
