#pragma once
// Batch and group normalisation over the channel dim 1 of [N, C, *] inputs, with fused kernels
// and analytic backward.
#include <cstdint>

#include "core/tensor.h"

namespace mixgrad {

// Batch normalisation as PyTorch's F.batch_norm, for input [N, C, *] (rank >= 2):
// y = (x - mean[c]) / sqrt(var[c] + eps) * weight[c] + bias[c].
// With `training`, mean and var are the batch statistics of each channel over N and the spatial
// dims (biased variance), and defined running_mean / running_var are updated in place, outside
// autograd: running = (1 - momentum) * running + momentum * batch statistic, with the unbiased
// variance. `momentum` is that factor as is (a cumulative average passes 1 / batches seen, as
// nn::BatchNorm does). Without `training` the running statistics normalise. running_mean /
// running_var (both or neither), weight and bias (each optional) are [C] tensors of the input's
// dtype and device. Differentiable in input, weight and bias.
// Throws Error for rank < 2, a non-floating input, parameters of the wrong shape, dtype or
// device, undefined running statistics in evaluation mode, a training batch with one value per
// channel, momentum outside [0, 1] when training (evaluation ignores it) or a negative eps.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  bool training = false, double momentum = 0.1, double eps = 1e-5);

// Group normalisation as PyTorch's F.group_norm, for input [N, C, *] (rank >= 2): the C channels
// of each sample are split into num_groups consecutive groups, each normalised with its own mean
// and biased variance, then scaled by weight[c] and shifted by bias[c] (optional [C] tensors of
// the input's dtype). Differentiable in input, weight and bias.
// Throws Error for rank < 2, a non-floating input, num_groups not positive or not dividing C,
// weight/bias of the wrong shape, dtype or device, or a negative eps.
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

}  // namespace mixgrad
