#pragma once
// Pooling layers and Flatten as modules, for Sequential and printouts. Each forwards to the op of
// the same name (ops/pool.h, ops/view.h); none has parameters or buffers.
#include <cstdint>
#include <string>
#include <utility>

#include "nn/module.h"
#include "ops/pool.h"

namespace mixgrad::nn {

// max_pool2d as a layer. Arguments are checked by the op, on the first forward.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(SpatialSize<2> kernel_size, const MaxPool2dOptions& options = {})
      : kernel_size_(kernel_size), options_(options) {}
  Tensor forward(const Tensor& input) override;
  // The output and the flat index of each maximum in its plane (PyTorch's return_indices).
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& input);
  std::string extra_repr() const override;

 private:
  SpatialSize<2> kernel_size_;
  MaxPool2dOptions options_;
};

// avg_pool2d as a layer. Arguments are checked by the op, on the first forward.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(SpatialSize<2> kernel_size, const AvgPool2dOptions& options = {})
      : kernel_size_(kernel_size), options_(options) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  SpatialSize<2> kernel_size_;
  AvgPool2dOptions options_;
};

// adaptive_avg_pool2d to a fixed (height, width) as a layer.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(SpatialSize<2> output_size) : output_size_(output_size) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  SpatialSize<2> output_size_;
};

// Merges dims start_dim..end_dim (negative counts from the end) into one, as a view when the
// layout allows; the default keeps the batch dim: [N, C, H, W] -> [N, C * H * W].
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  int64_t start_dim() const { return start_dim_; }
  int64_t end_dim() const { return end_dim_; }

 private:
  int64_t start_dim_;
  int64_t end_dim_;
};

}  // namespace mixgrad::nn
