#pragma once
// Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_). Both act in place on
// the gradients of `params`, skip parameters without a gradient and record nothing.
#include <vector>

#include "core/tensor.h"

namespace mixgrad::optim {

// Scales all gradients by max_norm / (total_norm + 1e-6) when that is below 1, where total_norm
// is the norm_type-norm of all gradients together (norm_type may be +infinity: the largest
// |element|). Returns total_norm before clipping (0 when no parameter has a gradient).
// A non-finite total norm (a NaN or infinite gradient) throws Error when error_if_nonfinite;
// otherwise, as PyTorch's default, the gradients are still scaled, which leaves them NaN (for a
// NaN norm) or zero / NaN (for an infinite one), so check the returned norm to skip such steps.
// Throws Error for a negative or NaN max_norm, a norm_type that is not > 0, or an undefined
// parameter.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                      bool error_if_nonfinite = false);

// Clamps every gradient element into [-clip_value, clip_value]. Throws Error for a negative or
// NaN clip_value or an undefined parameter.
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);

}  // namespace mixgrad::optim
