// Binary arithmetic, comparisons, where/masked_fill and the in-place forms.
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

namespace detail {

Broadcast broadcast_operands(const char* op, const Tensor& a, const Tensor& b, DType dtype) {
  MG_CHECK(a.defined() && b.defined(), op, "got an undefined tensor");
  NoGradGuard no_grad;  // operand plumbing only: the calling op records its own node
  Tensor x = a, y = b;
  if (!(x.device() == y.device())) {
    // A 0-dim CPU tensor (a C++ number) may meet a tensor on any device.
    if (x.dim() == 0 && x.device().is_cpu())
      x = to(x, y.device());
    else if (y.dim() == 0 && y.device().is_cpu())
      y = to(y, x.device());
    else
      throw Error(op, "expected both tensors on the same device, got " + describe(a) + " and " +
                          describe(b));
  }
  Broadcast r;
  r.shape = broadcast_shapes(x.shape(), y.shape(), op);
  r.a = expand(to(x, dtype), r.shape);
  r.b = expand(to(y, dtype), r.shape);
  return r;
}

DType binary_compute_dtype(BinaryOp op, const Tensor& a, const Tensor& b) {
  const DType dtype = result_type(a, b);
  return kernels::binary_needs_float(op) && !is_floating(dtype) ? default_dtype() : dtype;
}

Tensor binary_forward(const char* op, BinaryOp code, const Tensor& a, const Tensor& b,
                      OpParams params, Tensor out) {
  DType dtype = binary_compute_dtype(code, a, b);
  if (out.defined()) dtype = out.dtype();  // in-place keeps self's dtype
  Broadcast bc = broadcast_operands(op, a, b, dtype);
  if (out.defined()) {
    MG_CHECK(bc.shape == out.shape(), op, "output of shape ", out.shape(),
             " does not match the broadcast shape ", bc.shape, " of ", a.shape(), " and ",
             b.shape());
  } else {
    const DType out_dtype = kernels::is_comparison(code) ? DType::Bool : dtype;
    out = empty(bc.shape, TensorOptions(out_dtype).device(bc.a.device()));
  }
  kernels::binary(out.device(), code, params, out, bc.a, bc.b);
  return out;
}

}  // namespace detail

namespace {

int category(DType t) {
  return is_floating(t) ? 2 : (t == DType::Bool ? 0 : 1);
}
// Tensors with dims outrank 0-dim tensors, which outrank C++ numbers.
int priority(const Tensor& t) {
  return t.is_wrapped_number() ? 0 : (t.dim() == 0 ? 1 : 2);
}

// Gradient of a broadcasting op only where the input needs it; the sink sums broadcast dims.
bool needs(InputGrads in, int i) {
  return in[i].needed();
}

}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  const int pa = priority(a), pb = priority(b);
  if (pa == pb) {
    const DType r = promote_types(a.dtype(), b.dtype());
    return pa == 0 && is_floating(r) ? default_dtype() : r;  // two C++ numbers
  }
  const Tensor& t = pa > pb ? a : b;  // the higher-priority operand decides ...
  const Tensor& s = pa > pb ? b : a;  // ... unless the other belongs to a wider category
  if (category(s.dtype()) > category(t.dtype())) {
    if (is_floating(s.dtype())) return s.is_wrapped_number() ? default_dtype() : s.dtype();
    return s.is_wrapped_number() ? DType::Int64 : s.dtype();
  }
  return t.dtype();
}

namespace {
// alpha as the kernels take it (a double), checked as in PyTorch: an integral result takes no
// floating alpha (it would be truncated), a bool alpha only for a bool result; and an integral
// alpha must be one the double holds exactly.
double alpha_param(const char* op, BinaryOp code, const Tensor& a, const Tensor& b, Scalar alpha) {
  if (!a.defined() || !b.defined()) return alpha.to_double();  // reported by the op itself
  const DType dtype = detail::binary_compute_dtype(code, a, b);
  MG_CHECK(!alpha.is_bool() || dtype == DType::Bool, op,
           "a bool alpha is only supported for bool results, got ", dtype);
  if (!is_floating(dtype)) {
    MG_CHECK(!alpha.is_floating(), op, "for integral input tensors (", dtype,
             "), argument alpha must not be a floating point number, got ", alpha.to_double());
    constexpr int64_t kExact = int64_t{1} << 53;
    MG_CHECK(alpha.to_int() >= -kExact && alpha.to_int() <= kExact, op, "alpha ", alpha.to_int(),
             " is beyond 2^53, which integer add/sub does not support");
  }
  return alpha.to_double();
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  Tensor out = detail::binary_forward("add", BinaryOp::Add, a, b,
                                      {alpha_param("add", BinaryOp::Add, a, b, alpha)});
  record("add", out, {a, b}, [alpha = alpha.to_double()](const Tensor& g, InputGrads in) {
    in[0].add(g);
    if (needs(in, 1)) in[1].add(alpha == 1 ? g : g * alpha);
  });
  return out;
}

namespace {
// As PyTorch: a bool operand of a subtraction is almost always a mask meant to be inverted, and
// the arithmetic (xor for two bools, 0/1 otherwise) would hide that bug. C++ bools count too.
void check_sub_operands(const char* op, const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return;  // reported by the op itself
  MG_CHECK(a.dtype() != DType::Bool || b.dtype() != DType::Bool, op,
           "subtraction, the `-` operator, with two bool tensors is not supported; use ne() "
           "(logical xor) instead");
  MG_CHECK(a.dtype() != DType::Bool && b.dtype() != DType::Bool, op,
           "subtraction, the `-` operator, with a bool tensor is not supported; if you are "
           "trying to invert a mask, use logical_not() instead");
}
}  // namespace

Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  check_sub_operands("sub", a, b);
  Tensor out = detail::binary_forward("sub", BinaryOp::Sub, a, b,
                                      {alpha_param("sub", BinaryOp::Sub, a, b, alpha)});
  record("sub", out, {a, b}, [alpha = alpha.to_double()](const Tensor& g, InputGrads in) {
    in[0].add(g);
    if (needs(in, 1)) in[1].add(g * -alpha);
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward("mul", BinaryOp::Mul, a, b);
  // Each operand is saved only if the *other* one needs a gradient, so x.mul_(2) does not keep
  // (and then trip over) the overwritten x.
  const bool ga = should_record({a}), gb = should_record({b});
  record(
      "mul", out, {a, b},
      [sa = save(gb ? a : Tensor()), sb = save(ga ? b : Tensor())](const Tensor& g, InputGrads in) {
        if (needs(in, 0)) in[0].add(g * sb.get());
        if (needs(in, 1)) in[1].add(g * sa.get());
      });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward("div", BinaryOp::Div, a, b);
  const bool gb = should_record({b});
  record("div", out, {a, b},
         [sb = save(b), so = save(gb ? out : Tensor())](const Tensor& g, InputGrads in) {
           const Tensor& y = sb.get();
           if (needs(in, 0)) in[0].add(g / y);
           if (needs(in, 1)) in[1].add(-g * so.get() / y);
         });
  return out;
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  Tensor out = detail::binary_forward("pow", BinaryOp::Pow, base, exponent);
  const bool ge_ = should_record({exponent});
  record("pow", out, {base, exponent},
         [sa = save(base), sb = save(exponent), so = save(ge_ ? out : Tensor())](const Tensor& g,
                                                                                 InputGrads in) {
           const Tensor& x = sa.get();
           const Tensor& y = sb.get();
           if (needs(in, 0)) {
             // d/dx x^y = y x^(y-1); defined as 0 where y == 0 (x^0 is constant).
             Tensor d = where(eq(y, 0), zeros_like(g), g * y * pow(x, y - 1));
             in[0].add(d);
           }
           if (needs(in, 1)) {
             // d/dy x^y = x^y log x; defined as 0 where x == 0 and y >= 0 (as PyTorch).
             Tensor d = g * so.get() * log(x);
             in[1].add(where(logical_and(eq(x, 0), ge(y, 0)), zeros_like(d), d));
           }
         });
  return out;
}

namespace {
// Gradient of max/min: to the chosen operand; ties split evenly.
Tensor extremum(const char* name, BinaryOp code, const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward(name, code, a, b);
  record(name, out, {a, b},
         [sa = save(a), sb = save(b), is_max = code == BinaryOp::Maximum](const Tensor& g,
                                                                          InputGrads in) {
           const Tensor& x = sa.get();
           const Tensor& y = sb.get();
           Tensor x_wins = is_max ? gt(x, y) : lt(x, y);
           Tensor tie = eq(x, y);
           Tensor half = g * 0.5;
           Tensor zero = zeros_like(g);
           if (needs(in, 0)) in[0].add(where(x_wins, g, where(tie, half, zero)));
           if (needs(in, 1)) in[1].add(where(logical_or(x_wins, tie), where(tie, half, zero), g));
         });
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  return extremum("maximum", BinaryOp::Maximum, a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return extremum("minimum", BinaryOp::Minimum, a, b);
}

Tensor eq(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("eq", BinaryOp::Eq, a, b);
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("ne", BinaryOp::Ne, a, b);
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("lt", BinaryOp::Lt, a, b);
}
Tensor le(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("le", BinaryOp::Le, a, b);
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("gt", BinaryOp::Gt, a, b);
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("ge", BinaryOp::Ge, a, b);
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("logical_and", BinaryOp::LogicalAnd, a, b);
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return detail::binary_forward("logical_or", BinaryOp::LogicalOr, a, b);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  MG_CHECK(cond.dtype() == DType::Bool, "where", "condition must be bool, got ", cond.dtype());
  const DType dtype = result_type(a, b);
  detail::Broadcast ab = detail::broadcast_operands("where", a, b, dtype);
  MG_CHECK(cond.device() == ab.a.device(), "where", "condition on ", cond.device(),
           " but values on ", ab.a.device());
  const Shape shape = broadcast_shapes(cond.shape(), ab.shape, "where");
  Tensor out = empty(shape, TensorOptions(dtype).device(ab.a.device()));
  {
    NoGradGuard no_grad;  // the expands are plumbing; where records its own node below
    kernels::where(out.device(), out, expand(cond, shape), expand(ab.a, shape),
                   expand(ab.b, shape));
  }
  record("where", out, {a, b}, [sc = save(cond)](const Tensor& g, InputGrads in) {
    Tensor zero = zeros_like(g);
    if (needs(in, 0)) in[0].add(where(sc.get(), g, zero));
    if (needs(in, 1)) in[1].add(where(sc.get(), zero, g));
  });
  return out;
}

namespace {
// The mask must be bool and beside x; the in-place form also needs it to broadcast to x's shape
// without enlarging it (the out-of-place result has the broadcast shape, as in PyTorch).
void check_mask(const char* op, const Tensor& x, const Tensor& mask, bool in_place) {
  MG_CHECK(mask.dtype() == DType::Bool, op, "mask must be bool, got ", mask.dtype());
  MG_CHECK(mask.device() == x.device(), op, "mask on ", mask.device(), " but tensor on ",
           x.device());
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), op);
  MG_CHECK(!in_place || shape == x.shape(), op, "mask of shape ", mask.shape(),
           " does not broadcast to the tensor's shape ", x.shape());
}
}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  check_mask("masked_fill", x, mask, /*in_place=*/false);
  Tensor out;
  {
    NoGradGuard no_grad;  // the gradient is recorded below, for x only
    out = where(mask, scalar_tensor(value, options_of(x)), x);
  }
  record("masked_fill", out, {x}, [sm = save(mask)](const Tensor& g, InputGrads in) {
    in[0].add(where(sm.get(), zeros_like(g), g));
  });
  return out;
}

Tensor detail::masked_fill_tensor_value(const Tensor& x, const Tensor& mask, const Tensor& value) {
  check_mask("masked_fill", x, mask, /*in_place=*/false);
  MG_CHECK(value.defined() && value.dim() == 0, "masked_fill", "value must be a 0-dim tensor, got ",
           value.defined() ? describe(value) : "undefined");
  MG_CHECK(value.device() == x.device() || value.device().is_cpu(), "masked_fill", "value on ",
           value.device(), " but tensor on ", x.device());
  // The value takes x's dtype (as PyTorch); where() records the gradients of both.
  return where(mask, value.to(x.dtype()).to(x.device()), x);
}

Tensor detail::clamp_tensor_bounds(const Tensor& x, const Tensor& min, const Tensor& max) {
  MG_CHECK(min.defined() || max.defined(), "clamp", "at least one of min and max must be given");
  // Lower bound first, then the upper one: where min > max the result is max, as in PyTorch,
  // and each bound's gradient flows exactly where the result is that bound.
  // A NaN bound gives NaN, as PyTorch's kernel does (ne(b, b) is true exactly for NaN).
  Tensor out = x;
  if (min.defined()) out = where(logical_or(lt(out, min), ne(min, min)), min, out);
  if (max.defined()) out = where(logical_or(gt(out, max), ne(max, max)), max, out);
  return out;
}

Tensor& masked_fill_(Tensor& x, const Tensor& mask, Scalar value) {
  check_mask("masked_fill_", x, mask, /*in_place=*/true);
  // masked_fill keeps x's dtype: the value is converted, as in PyTorch.
  return apply_inplace(
      x, {.name = "masked_fill_", .result_dtype = x.dtype(), .elementwise = true}, {mask},
      [&] {
        Tensor v = scalar_tensor(value, options_of(x));
        Tensor m = expand(mask, x.shape());
        kernels::where(x.device(), x, m, expand(v, x.shape()), x);
      },
      [&](const Tensor& current) { return masked_fill(current, mask, value); });
}

namespace {
template <class OutOfPlace>
Tensor& binary_inplace(Tensor& self, const char* name, BinaryOp code, const Tensor& other,
                       OpParams params, OutOfPlace&& out_of_place) {
  MG_CHECK(other.defined(), name, "got an undefined tensor");
  return apply_inplace(
      self,
      {.name = name,
       .result_dtype = detail::binary_compute_dtype(code, self, other),
       .elementwise = true},
      {other}, [&] { detail::binary_forward(name, code, self, other, params, self); },
      [&](const Tensor& current) { return to(out_of_place(current), self.dtype()); });
}
}  // namespace

Tensor& add_(Tensor& self, const Tensor& other, Scalar alpha) {
  return binary_inplace(self, "add_", BinaryOp::Add, other,
                        {alpha_param("add_", BinaryOp::Add, self, other, alpha)},
                        [&](const Tensor& current) { return add(current, other, alpha); });
}
Tensor& sub_(Tensor& self, const Tensor& other, Scalar alpha) {
  check_sub_operands("sub_", self, other);
  return binary_inplace(self, "sub_", BinaryOp::Sub, other,
                        {alpha_param("sub_", BinaryOp::Sub, self, other, alpha)},
                        [&](const Tensor& current) { return sub(current, other, alpha); });
}
Tensor& mul_(Tensor& self, const Tensor& other) {
  return binary_inplace(self, "mul_", BinaryOp::Mul, other, {},
                        [&](const Tensor& current) { return mul(current, other); });
}
Tensor& div_(Tensor& self, const Tensor& other) {
  return binary_inplace(self, "div_", BinaryOp::Div, other, {},
                        [&](const Tensor& current) { return div(current, other); });
}

}  // namespace mixgrad
