#pragma once
// Neural-network functionals: layers and losses as plain functions.
#include <optional>
#include <string>

#include "core/generator.h"
#include "core/tensor.h"

namespace mixgrad {

enum class Reduction { None, Mean, Sum };

// x @ weight^T + bias, weight [out, in] (PyTorch layout), x [..., in].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// Rows of weight [num, dim] at integer `indices` (any shape): result [..., dim].
// Backward accumulates into the used rows only.
Tensor embedding(const Tensor& weight, const Tensor& indices);
// Normalises over the trailing `normalized_shape` dims: (x - mean) / sqrt(var + eps) * w + b,
// biased variance; weight/bias optional.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
// identity otherwise.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
// logits [N, C] (or [N, C, d...]), target class indices [N] (or [N, d...]); label_smoothing in
// [0, 1]; targets equal to ignore_index contribute nothing (mean divides by the rest).
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::Mean, double label_smoothing = 0.0,
                     int64_t ignore_index = -100);
// log_probs [N, C], target [N].
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                Reduction reduction = Reduction::Mean, int64_t ignore_index = -100);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace mixgrad
