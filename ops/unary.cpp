// Element-wise math functions and activations. Each op: the kernel code, then its backward.
#include <cmath>
#include <limits>

#include "autograd/function.h"
#include "backends/scalar_math.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/elementwise_impl.h"
#include "ops/inplace.h"
#include "ops/view.h"

namespace mixgrad {

using kernels::BinaryOp;
using kernels::OpParams;
using kernels::UnaryOp;

namespace detail {

DType unary_compute_dtype(UnaryOp op, const Tensor& x) {
  if (kernels::unary_needs_float(op) && !x.is_floating_point()) return default_dtype();
  return x.dtype();
}

Tensor unary_forward(UnaryOp op, const Tensor& x, OpParams params) {
  MG_CHECK(x.defined(), "unary", "got an undefined tensor");
  const DType dtype = unary_compute_dtype(op, x);
  Tensor in = to(x, dtype);
  const DType out_dtype = op == UnaryOp::LogicalNot ? DType::Bool : dtype;
  Tensor out = empty(x.shape(), TensorOptions(out_dtype).device(x.device()));
  kernels::unary(x.device(), op, params, out, in);
  return out;
}

}  // namespace detail

namespace {

using detail::unary_forward;

// Backward through a fused "gradient x saved tensor" kernel (activations).
Tensor fused_backward(BinaryOp code, const Tensor& g, const Tensor& saved, OpParams p = {}) {
  return detail::binary_forward("backward", code, g, saved, p);
}

// Ops whose derivative is a fused kernel of the input: relu, gelu, elu, leaky_relu, softplus.
Tensor activation(const char* name, UnaryOp op, BinaryOp backward_op, const Tensor& x,
                  OpParams p = {}) {
  Tensor out = unary_forward(op, x, p);
  record(name, out, {x}, [sx = save(x), backward_op, p](const Tensor& g, InputGrads in) {
    in[0].add(fused_backward(backward_op, g, sx.get(), p));
  });
  return out;
}

// Ops with zero gradient almost everywhere (sign, floor, ...): still recorded so that the graph
// stays connected and backward gives zeros rather than "does not require grad".
Tensor piecewise_constant(const char* name, UnaryOp op, const Tensor& x) {
  Tensor out = unary_forward(op, x);
  record(name, out, {x}, [](const Tensor& g, InputGrads in) { in[0].add(zeros_like(g)); });
  return out;
}

}  // namespace

Tensor neg(const Tensor& x) {
  MG_CHECK(!x.defined() || x.dtype() != DType::Bool, "neg",
           "negation, the `-` operator, on a bool tensor is not supported; if you are trying to "
           "invert a mask, use logical_not() instead");
  Tensor out = unary_forward(UnaryOp::Neg, x);
  record("neg", out, {x}, [](const Tensor& g, InputGrads in) { in[0].add(neg(g)); });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Exp, x);
  record("exp", out, {x},
         [so = save(out)](const Tensor& g, InputGrads in) { in[0].add(g * so.get()); });
  return out;
}

Tensor expm1(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Expm1, x);
  record("expm1", out, {x},
         [so = save(out)](const Tensor& g, InputGrads in) { in[0].add(g * (so.get() + 1)); });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Log, x);
  record("log", out, {x},
         [sx = save(x)](const Tensor& g, InputGrads in) { in[0].add(g / sx.get()); });
  return out;
}

Tensor log1p(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Log1p, x);
  record("log1p", out, {x},
         [sx = save(x)](const Tensor& g, InputGrads in) { in[0].add(g / (sx.get() + 1)); });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sqrt, x);
  record("sqrt", out, {x},
         [so = save(out)](const Tensor& g, InputGrads in) { in[0].add(g / (so.get() * 2)); });
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Rsqrt, x);
  record("rsqrt", out, {x}, [so = save(out)](const Tensor& g, InputGrads in) {
    const Tensor& y = so.get();
    in[0].add(g * y * y * y * -0.5);
  });
  return out;
}

Tensor square(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Square, x);
  record("square", out, {x},
         [sx = save(x)](const Tensor& g, InputGrads in) { in[0].add(g * sx.get() * 2); });
  return out;
}

Tensor reciprocal(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Reciprocal, x);
  record("reciprocal", out, {x}, [so = save(out)](const Tensor& g, InputGrads in) {
    const Tensor& y = so.get();
    in[0].add(-g * y * y);
  });
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Abs, x);
  record("abs", out, {x},
         [sx = save(x)](const Tensor& g, InputGrads in) { in[0].add(g * sign(sx.get())); });
  return out;
}

Tensor sin(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sin, x);
  record("sin", out, {x},
         [sx = save(x)](const Tensor& g, InputGrads in) { in[0].add(g * cos(sx.get())); });
  return out;
}

Tensor cos(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Cos, x);
  record("cos", out, {x},
         [sx = save(x)](const Tensor& g, InputGrads in) { in[0].add(-g * sin(sx.get())); });
  return out;
}

Tensor erf(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Erf, x);
  record("erf", out, {x}, [sx = save(x)](const Tensor& g, InputGrads in) {
    const Tensor& v = sx.get();
    in[0].add(g * exp(-(v * v)) * 1.12837916709551257390);  // 2/sqrt(pi)
  });
  return out;
}

Tensor sign(const Tensor& x) {
  return piecewise_constant("sign", UnaryOp::Sign, x);
}
Tensor floor(const Tensor& x) {
  return piecewise_constant("floor", UnaryOp::Floor, x);
}
Tensor ceil(const Tensor& x) {
  return piecewise_constant("ceil", UnaryOp::Ceil, x);
}
Tensor round(const Tensor& x) {
  return piecewise_constant("round", UnaryOp::Round, x);
}

Tensor logical_not(const Tensor& x) {
  return unary_forward(UnaryOp::LogicalNot, x);
}

namespace {
OpParams clamp_params(const char* name, std::optional<double> min, std::optional<double> max) {
  MG_CHECK(min || max, name, "at least one of min and max must be given");
  const double inf = std::numeric_limits<double>::infinity();
  return {min.value_or(-inf), max.value_or(inf)};
}
}  // namespace

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  return activation("clamp", UnaryOp::Clamp, BinaryOp::ClampBackward, x,
                    clamp_params("clamp", min, max));
}

Tensor& clamp_(Tensor& self, std::optional<double> min, std::optional<double> max) {
  const OpParams p = clamp_params("clamp_", min, max);
  return apply_inplace(
      self,
      {.name = "clamp_",
       .result_dtype = detail::unary_compute_dtype(UnaryOp::Clamp, self),
       .elementwise = true},
      {}, [&] { kernels::unary(self.device(), UnaryOp::Clamp, p, self, self); },
      [&](const Tensor& current) { return clamp(current, min, max); });
}

Tensor relu(const Tensor& x) {
  return activation("relu", UnaryOp::Relu, BinaryOp::ReluBackward, x);
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  MG_CHECK(approximate == "none" || approximate == "tanh", "gelu",
           "approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  if (approximate == "tanh")
    return activation("gelu", UnaryOp::GeluTanh, BinaryOp::GeluTanhBackward, x);
  return activation("gelu", UnaryOp::GeluErf, BinaryOp::GeluErfBackward, x);
}

Tensor elu(const Tensor& x, double alpha) {
  return activation("elu", UnaryOp::Elu, BinaryOp::EluBackward, x, {alpha});
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return activation("leaky_relu", UnaryOp::LeakyRelu, BinaryOp::LeakyReluBackward, x,
                    {negative_slope});
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  MG_CHECK(beta > 0, "softplus", "beta must be positive, got ", beta);
  return activation("softplus", UnaryOp::Softplus, BinaryOp::SoftplusBackward, x,
                    {beta, threshold});
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sigmoid, x);
  record("sigmoid", out, {x}, [so = save(out)](const Tensor& g, InputGrads in) {
    in[0].add(fused_backward(BinaryOp::SigmoidBackward, g, so.get()));
  });
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Tanh, x);
  record("tanh", out, {x}, [so = save(out)](const Tensor& g, InputGrads in) {
    in[0].add(fused_backward(BinaryOp::TanhBackward, g, so.get()));
  });
  return out;
}

// Without grad: one pass of the Silu kernel. With grad, silu's slope s (1 + x (1 - s)) is
// computed in the forward, where s = sigmoid(x) is at hand, and saved in s's place: the backward
// is one multiply. Recomputing s there instead (a second exp per element) made forward plus
// backward 1.8x slower than x * sigmoid(x) on the CPU, where exp is a scalar libm call.
Tensor silu(const Tensor& x) {
  if (!should_record({x})) return unary_forward(UnaryOp::Silu, x);
  Tensor slope = unary_forward(UnaryOp::Sigmoid, x);
  Tensor out = detail::binary_forward("silu", BinaryOp::Mul, x, slope);
  detail::binary_forward("silu", BinaryOp::SiluSlope, x, slope, {}, slope);
  record("silu", out, {x}, [slope](const Tensor& g, InputGrads in) { in[0].add(g * slope); });
  return out;
}

// Through the binary kernel on the two halves as strided views. Without grad: one SiluMul pass.
// With grad the forward keeps silu(a) and silu'(a) as silu does, and the backward writes both
// halves of dx in place: no zero-filled gradient per half summed together, as narrow's backward
// would give.
Tensor swiglu(const Tensor& x) {
  constexpr const char* op = "swiglu";
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(x.dim() >= 1, op, "expected x of shape [..., 2n], got a 0-dim tensor");
  const int64_t n = x.size(-1) / 2;
  MG_CHECK(x.size(-1) % 2 == 0, op, "the last dim of x must be even, got shape ", x.shape());
  const bool grad = should_record({x});
  Tensor out, act, slope;
  {
    NoGradGuard no_grad;  // the halves are the kernels' operands, not graph nodes
    const Tensor a = narrow(x, -1, 0, n), b = narrow(x, -1, n, n);
    if (!grad) return detail::binary_forward(op, BinaryOp::SiluMul, a, b);
    slope = unary_forward(UnaryOp::Sigmoid, a);
    act = detail::binary_forward(op, BinaryOp::Mul, a, slope);
    detail::binary_forward(op, BinaryOp::SiluSlope, a, slope, {}, slope);
    out = detail::binary_forward(op, BinaryOp::Mul, act, b);
  }
  record(op, out, {x}, [sx = save(x), act, slope, n](const Tensor& g, InputGrads in) {
    const Tensor& xs = sx.get();
    Tensor dx = empty(xs.shape(), TensorOptions(xs.dtype()).device(xs.device()));
    Tensor da = narrow(dx, -1, 0, n), db = narrow(dx, -1, n, n);
    const Tensor gy = to(g, xs.dtype());
    detail::binary_forward("backward", BinaryOp::Mul, gy, act, {}, db);
    detail::binary_forward("backward", BinaryOp::Mul, gy, narrow(xs, -1, n, n), {}, da);
    detail::binary_forward("backward", BinaryOp::Mul, da, slope, {}, da);
    in[0].add(dx);
  });
  return out;
}

}  // namespace mixgrad
