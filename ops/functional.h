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
// Cross-entropy of logits [N, C] (or [N, C, d...], or one unbatched sample [C]) as PyTorch's
// F.cross_entropy, against either
// - class indices (int64/int32) of shape [N] (or [N, d...], or [] unbatched): targets equal to
//   ignore_index contribute nothing; with a class `weight` [C] each sample's loss is scaled by
//   its class's weight and the mean divides by the sum of those weights (as PyTorch); or
// - class probabilities of the input's shape and dtype: per sample -sum_c w_c p_c log q_c, the
//   mean dividing by the number of samples; differentiable in the target too. ignore_index
//   must stay negative.
// label_smoothing in [0, 1] mixes the target with the uniform distribution. Reduction::None
// returns the per-sample losses (0-dim for an unbatched input).
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::Mean, double label_smoothing = 0.0,
                     int64_t ignore_index = -100, const Tensor& weight = Tensor());
// log_probs [N, C] (or [N, C, d...], or [C] unbatched), target class indices [N] (or [N, d...],
// or []); ignore_index and class `weight` [C] as in cross_entropy.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                const Tensor& weight = Tensor());
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// |input - target|; shapes must match.
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Huber-like: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta 0
// is l1_loss. Shapes must match; throws Error for a negative beta.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::Mean, double beta = 1.0);
// Binary cross-entropy of logits x against targets y in [0, 1] (same shape), computed stably as
//   (1 - y) x + (1 + (pos_weight - 1) y) (log1p(exp(-|x|)) + max(-x, 0))
// times `weight`. Optional `weight` and `pos_weight` (the weight of positive examples, usually
// one per class: shape [C] for logits [..., C]) must broadcast to the logits' shape. Mean
// averages over all elements. Differentiable in every tensor argument. Throws Error on shape
// mismatches or non-floating arguments.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction = Reduction::Mean,
                                        const Tensor& weight = Tensor(),
                                        const Tensor& pos_weight = Tensor());
// -weight (y log p + (1 - y) log(1 - p)) for probabilities p in [0, 1], each log clamped at
// -100 (as PyTorch, so p = 0 or 1 gives a finite loss); the gradient divides by
// max(p (1 - p), 1e-12). Prefer binary_cross_entropy_with_logits on logits. Throws Error on
// shape mismatches, non-floating arguments or probabilities outside [0, 1].
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target,
                            Reduction reduction = Reduction::Mean, const Tensor& weight = Tensor());

}  // namespace mixgrad
