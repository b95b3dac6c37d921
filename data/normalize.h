#pragma once
// Per-feature standardisation of [N, F] data, as MANN prepares its inputs and outputs.
#include "core/tensor.h"

namespace mixgrad::data {

struct FeatureStats {
  Tensor mean;  // [F]
  Tensor std;   // [F], never 0 (see compute_feature_stats)
};

// Mean and population standard deviation (divisor N, like NumPy's x.std(axis=0)) of each
// column of the floating [N, F] tensor x, N >= 1. A feature whose values are all equal gets std
// 1 instead of 0, so normalising it yields 0 rather than NaN or infinity (MANN does the same).
// The statistics are constants: they carry no autograd history. Throws mixgrad::Error for an
// undefined, non-floating, non-2-D or empty x.
FeatureStats compute_feature_stats(const Tensor& x);

// (x - mean) / std over the last dim of x [..., F]; differentiable in x. Throws when x is not
// floating, or its last dim is not F, or the statistics are not two defined [F] tensors.
Tensor normalize(const Tensor& x, const FeatureStats& stats);
// y * std + mean, the inverse of normalize (same checks).
Tensor denormalize(const Tensor& y, const FeatureStats& stats);

}  // namespace mixgrad::data
