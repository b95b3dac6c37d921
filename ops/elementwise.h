#pragma once
// Element-wise ops: arithmetic with NumPy broadcasting, math functions, activations,
// comparisons and logic.
//
// Dtype promotion (as PyTorch): the result of a binary op has the wider dtype of its operands in
// the order bool < int32 < int64 < float32 < float64. A C++ number (or a 0-dim tensor) meeting
// a tensor with dims only widens it across categories: int32 tensor + 2 stays int32,
// int32 tensor + 2.5 becomes the default float, float32 tensor * 2.0 stays float32.
// Math functions (exp, log, sigmoid, ...) and div/pow turn integer inputs into the default float.
// Comparisons and logical ops return bool.
#include <concepts>
#include <optional>
#include <string>

#include "core/tensor.h"

namespace mixgrad {

namespace detail {
// The tensor forms of masked_fill and clamp (see them below).
Tensor masked_fill_tensor_value(const Tensor& x, const Tensor& mask, const Tensor& value);
Tensor clamp_tensor_bounds(const Tensor& x, const Tensor& min, const Tensor& max);
}  // namespace detail

// ---- binary arithmetic (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);  // a - alpha * b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

// ---- comparisons and logic (bool results, not differentiable) ----
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// Elements of a where cond is true, else of b (all three broadcast; cond must be bool).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with `value` wherever mask (bool) is true. x and mask broadcast: the result has their
// broadcast shape and x's dtype (as PyTorch's out-of-place masked_fill); the in-place form needs
// a mask that broadcasts to x's own shape.
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
// The same with a 0-dim tensor value (on x's device or the CPU), converted to x's dtype;
// differentiable in x and in value (which gets the sum of the gradient where mask is true).
// (A template only so that a number, which converts to both Scalar and Tensor, picks the Scalar
// form above.)
template <std::same_as<Tensor> T>
Tensor masked_fill(const Tensor& x, const Tensor& mask, const T& value) {
  return detail::masked_fill_tensor_value(x, mask, value);
}
Tensor& masked_fill_(Tensor& x, const Tensor& mask, Scalar value);

// ---- math ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // gradient 0
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor floor(const Tensor& x);  // gradient 0
Tensor ceil(const Tensor& x);   // gradient 0
Tensor round(const Tensor& x);  // half to even; gradient 0
// Bounds may be omitted (but not both); gradient passes where min <= x <= max.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
// clamp with tensor bounds, as PyTorch's clamp(Tensor, Tensor min, Tensor max): x, min and max
// broadcast together (the result has their broadcast shape and promoted dtype), an undefined
// bound is no bound (but not both), where min > max the result is max, and a NaN bound gives
// NaN. Differentiable in x (where min <= x <= max) and in each bound (where the result is that
// bound; PyTorch drops the gradient altogether where min == max and x < min). (A template only
// so that numbers, which convert to both, pick the form above.)
template <std::same_as<Tensor> Lo, std::same_as<Tensor> Hi>
Tensor clamp(const Tensor& x, const Lo& min, const Hi& max) {
  return detail::clamp_tensor_bounds(x, min, max);
}

// ---- activations ----
Tensor relu(const Tensor& x);
// approximate: "none" (exact, with erf) or "tanh".
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
// log(1 + exp(beta x)) / beta, linear above `threshold` (in units of beta x).
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor silu(const Tensor& x);  // x * sigmoid(x)
// SwiGLU's gated activation (Shazeer 2020; LLaMA's and Mixtral's experts): for x [..., 2n],
// silu(x[..., :n]) * x[..., n:] of shape [..., n], the first half the gate and the second the
// up projection (F.silu(a) * b with a, b = x.chunk(2, -1)). One recorded op: no temporaries for
// the halves or their gradients. Throws Error for a 0-dim x or an odd last dim.
Tensor swiglu(const Tensor& x);

// ---- in-place forms ----
// Self keeps its dtype; the op's result type must cast to it (can_cast), so int64.add_(1.5) and
// int.div_(x) throw Error rather than truncate, as in PyTorch. An operand over self's memory
// other than exactly self (x.narrow(0, 1, 4).add_(x.narrow(0, 0, 4)), x.add_(x.t())) is read
// through a temporary: the result is the out-of-place one (ops/inplace.h).
Tensor& add_(Tensor& self, const Tensor& other, Scalar alpha = 1);
Tensor& sub_(Tensor& self, const Tensor& other, Scalar alpha = 1);
Tensor& mul_(Tensor& self, const Tensor& other);
Tensor& div_(Tensor& self, const Tensor& other);
Tensor& clamp_(Tensor& self, std::optional<double> min, std::optional<double> max);

// The dtype a binary op computes in (see the promotion rules above).
DType result_type(const Tensor& a, const Tensor& b);

}  // namespace mixgrad
