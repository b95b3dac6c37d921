// Reductions: sum/mean/prod, max/min (with indices), amax/amin, argmax/argmin, var/std,
// logsumexp, norm, any/all, cumsum.
#include "ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/view.h"

namespace mixgrad {

using kernels::ReduceOp;

namespace detail {

Shape reduction_dims(const Tensor& x, const Shape& dims, const char* op) {
  Shape out;
  if (dims.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, x.dim(), op));
  std::sort(out.begin(), out.end());
  MG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op,
           "dim appears more than "
           "once in ",
           dims);
  if (x.dim() == 0) out.clear();  // dim 0 / -1 of a 0-dim tensor reduces nothing
  return out;
}

Shape keepdim_shape(const Tensor& x, const Shape& dims) {
  Shape s = x.shape();
  for (int64_t d : dims) s[d] = 1;
  return s;
}

Tensor squeeze_dims(const Tensor& r, const Shape& dims, bool keepdim) {
  if (keepdim || dims.empty()) return r;
  Shape s;
  size_t k = 0;
  for (int64_t d = 0; d < r.dim(); ++d) {
    if (k < dims.size() && dims[k] == d) {
      ++k;
      continue;
    }
    s.push_back(r.shape()[d]);
  }
  return view(r, s);
}

Tensor unsqueeze_dims(const Tensor& g, const Shape& dims, bool keepdim) {
  if (keepdim) return g;
  Tensor r = g;
  for (int64_t d : dims) r = unsqueeze(r, d);
  return r;
}

}  // namespace detail

namespace {

using detail::reduction_dims;
using detail::unsqueeze_dims;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Shape of a reduction result: the reduced dims become 1 (keepdim) or disappear.
Shape result_shape(const Tensor& x, const Shape& dims, bool keepdim) {
  if (keepdim) return detail::keepdim_shape(x, dims);
  Shape s;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) s.push_back(x.shape()[d]);
  return s;
}

// Runs the reduce kernel into a fresh result of `dtype`. The kernel sees it through a keepdim
// view, but the caller gets the result itself, so it is not a view and can be modified in place.
Tensor reduce_new(ReduceOp op, const Tensor& x, const Shape& dims, bool keepdim, DType dtype,
                  Tensor* indices = nullptr) {
  const Shape shape = result_shape(x, dims, keepdim);
  const Shape kept = detail::keepdim_shape(x, dims);
  Tensor out = empty(shape, TensorOptions(dtype).device(x.device()));
  Tensor idx;
  if (indices) {
    *indices = empty(shape, TensorOptions(DType::Int64).device(x.device()));
    idx = view(*indices, kept);
  }
  kernels::reduce(x.device(), op, view(out, kept), idx, x, dims);
  return out;
}

DType sum_dtype(DType t) {
  return is_floating(t) ? t : DType::Int64;
}

int64_t reduced_count(const Tensor& x, const Shape& dims) {
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[d];
  return count;
}

void check_floating(const Tensor& x, const char* op) {
  MG_CHECK(x.is_floating_point(), op, "expected a floating tensor, got ", x.dtype(), " of shape ",
           x.shape(), "; convert with to(kFloat32) first");
}

// Max/min have no identity, so every reduced dim must be non-empty.
void check_nonempty(const Tensor& x, const Shape& dims, const char* op) {
  for (int64_t d : dims)
    MG_CHECK(x.shape()[d] != 0, op, "cannot reduce over dim ", d,
             " of size 0 in a tensor of shape ", x.shape(), ": the reduction has no identity");
}

// Gradient of an extremum over `dims`: each slice's gradient is split evenly among the elements
// equal to the slice's result (NaN results pick the NaN elements).
Tensor grad_to_ties(const Tensor& g, const Tensor& x, const Tensor& result, const Shape& dims,
                    bool keepdim) {
  const Tensor r = unsqueeze_dims(result, dims, keepdim);
  const Tensor mask = logical_or(eq(x, r), logical_and(ne(x, x), ne(r, r)));
  const Tensor count = sum(mask, dims, /*keepdim=*/true);
  return where(mask, unsqueeze_dims(g, dims, keepdim) / count, 0);
}

// amax/amin and the whole-tensor max/min.
Tensor extremum(const char* name, ReduceOp op, const Tensor& x, const Shape& dims_in,
                bool keepdim) {
  const Shape dims = reduction_dims(x, dims_in, name);
  check_nonempty(x, dims, name);
  Tensor out = reduce_new(op, x, dims, keepdim, x.dtype());
  record(name, out, {x},
         [sx = save(x), so = save(out), dims, keepdim](const Tensor& g, InputGrads in) {
           in[0].add(grad_to_ties(g, sx.get(), so.get(), dims, keepdim));
         });
  return out;
}

// max/min along one dim with the index of the first extremum; the gradient goes to that index.
ValuesIndices extremum_along(const char* name, ReduceOp op, const Tensor& x, int64_t dim_in,
                             bool keepdim) {
  const Shape dims = reduction_dims(x, {dim_in}, name);
  check_nonempty(x, dims, name);
  ValuesIndices r;
  r.values = reduce_new(op, x, dims, keepdim, x.dtype(), &r.indices);
  record(name, r.values, {x},
         [si = save(r.indices), dims, keepdim](const Tensor& g, InputGrads in) {
           if (dims.empty()) {  // a 0-dim input is its own extremum
             in[0].add(g);
             return;
           }
           // Only the chosen elements get gradient: scatter-add into the zeroed buffer instead
           // of building a full-size masked copy of g.
           Tensor& grad = in[0].buffer();
           kernels::scatter(grad.device(), grad, dims[0], unsqueeze_dims(si.get(), dims, keepdim),
                            to(unsqueeze_dims(g, dims, keepdim), grad.dtype()),
                            kernels::ScatterMode::Add);
         });
  return r;
}

Tensor arg_extremum(const char* name, ReduceOp op, const Tensor& x, std::optional<int64_t> dim,
                    bool keepdim) {
  if (!dim) {
    MG_CHECK(x.numel() > 0, name,
             "cannot take the index of an extremum of an empty tensor of shape ", x.shape());
    Tensor flat_index = arg_extremum(name, op, reshape(x.detach(), {-1}), 0, false);
    return keepdim ? view(flat_index, Shape(x.dim(), 1)) : flat_index;
  }
  const Shape dims = reduction_dims(x, {*dim}, name);
  check_nonempty(x, dims, name);
  Tensor indices;
  reduce_new(op, x, dims, keepdim, x.dtype(), &indices);
  return indices;
}

}  // namespace

// ---- sum, mean, prod ----

Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
  const Shape dims = reduction_dims(x, dims_in, "sum");
  const Tensor in = to(x, sum_dtype(x.dtype()));
  Tensor out = reduce_new(ReduceOp::Sum, in, dims, keepdim, in.dtype());
  record("sum", out, {x}, [dims, keepdim](const Tensor& g, InputGrads in_grads) {
    in_grads[0].add(unsqueeze_dims(g, dims, keepdim).expand(in_grads[0].meta().shape));
  });
  return out;
}

Tensor sum(const Tensor& x) {
  return sum(x, {}, false);
}

Tensor mean(const Tensor& x, const Shape& dims_in, bool keepdim) {
  check_floating(x, "mean");
  const Shape dims = reduction_dims(x, dims_in, "mean");
  return sum(x, dims, keepdim) / Tensor(static_cast<double>(reduced_count(x, dims)));
}

Tensor mean(const Tensor& x) {
  return mean(x, {}, false);
}

Tensor prod(const Tensor& x, const Shape& dims_in, bool keepdim) {
  const Shape dims = reduction_dims(x, dims_in, "prod");
  const Tensor in = to(x, sum_dtype(x.dtype()));
  Tensor out = reduce_new(ReduceOp::Prod, in, dims, keepdim, in.dtype());
  record("prod", out, {x}, [sx = save(x), dims, keepdim](const Tensor& g, InputGrads in_grads) {
    // d out / d x_i is the product of the slice's other elements. Dividing out by x_i fails at
    // zeros, so count them: with none it is out / x_i; with one, only the zero gets the product
    // of the non-zeros; with more, every such product contains a zero.
    const Tensor& v = sx.get();
    const Tensor is_zero = eq(v, 0);
    const Tensor zeros_in_slice = sum(is_zero, dims, /*keepdim=*/true);
    const Tensor nonzero_prod = prod(where(is_zero, 1, v), dims, /*keepdim=*/true);
    const Tensor others = where(is_zero, nonzero_prod * eq(zeros_in_slice, 1),
                                nonzero_prod * eq(zeros_in_slice, 0) / v);
    in_grads[0].add(unsqueeze_dims(g, dims, keepdim) * others);
  });
  return out;
}

// ---- extrema ----

Tensor max(const Tensor& x) {
  return extremum("max", ReduceOp::Max, x, {}, false);
}
Tensor min(const Tensor& x) {
  return extremum("min", ReduceOp::Min, x, {}, false);
}

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_along("max", ReduceOp::Max, x, dim, keepdim);
}
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_along("min", ReduceOp::Min, x, dim, keepdim);
}

Tensor amax(const Tensor& x, const Shape& dims, bool keepdim) {
  return extremum("amax", ReduceOp::Max, x, dims, keepdim);
}
Tensor amin(const Tensor& x, const Shape& dims, bool keepdim) {
  return extremum("amin", ReduceOp::Min, x, dims, keepdim);
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_extremum("argmax", ReduceOp::Max, x, dim, keepdim);
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_extremum("argmin", ReduceOp::Min, x, dim, keepdim);
}

// ---- var, std ----

namespace {

// Forward and backward of var/std share the centered input and the divisor N - correction
// (clamped at 0, so a too-large correction gives inf/NaN as in PyTorch).
struct Spread {
  Shape dims;
  double divisor;
};

Spread spread_of(const Tensor& x, const Shape& dims_in, int64_t correction, const char* op) {
  check_floating(x, op);
  Spread s;
  s.dims = reduction_dims(x, dims_in, op);
  s.divisor = static_cast<double>(std::max<int64_t>(reduced_count(x, s.dims) - correction, 0));
  return s;
}

Tensor centered(const Tensor& x, const Shape& dims) {
  return x - mean(x, dims, true);
}

Tensor variance(const Tensor& x, const Spread& s, bool keepdim) {
  const Tensor c = centered(x, s.dims);
  return sum(c * c, s.dims, keepdim) / Tensor(s.divisor);
}

// d var / d x for a keepdim-shaped incoming gradient of the variance.
Tensor variance_backward(const Tensor& g_var, const Tensor& x, const Spread& s) {
  return g_var * centered(x, s.dims) * Tensor(2.0 / s.divisor);
}

}  // namespace

Tensor var(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  const Spread s = spread_of(x, dims, correction, "var");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = variance(x, s, keepdim);
  }
  record("var", out, {x}, [sx = save(x), s, keepdim](const Tensor& g, InputGrads in) {
    in[0].add(variance_backward(unsqueeze_dims(g, s.dims, keepdim), sx.get(), s));
  });
  return out;
}

Tensor std(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  const Spread s = spread_of(x, dims, correction, "std");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = sqrt(variance(x, s, keepdim));
  }
  record("std", out, {x},
         [sx = save(x), so = save(out), s, keepdim](const Tensor& g, InputGrads in) {
           // d std = d var / (2 std); a constant slice (std 0) gets gradient 0 rather than NaN.
           const Tensor sd = unsqueeze_dims(so.get(), s.dims, keepdim);
           const Tensor g_var = where(eq(sd, 0), 0, unsqueeze_dims(g, s.dims, keepdim) / (sd * 2));
           in[0].add(variance_backward(g_var, sx.get(), s));
         });
  return out;
}

// ---- logsumexp ----

Tensor logsumexp(const Tensor& x_in, const Shape& dims_in, bool keepdim) {
  const Shape dims = reduction_dims(x_in, dims_in, "logsumexp");
  const Tensor x = x_in.is_floating_point() ? x_in : to(x_in, default_dtype());
  Tensor out;
  {
    NoGradGuard no_grad;
    // Subtracting the slice max keeps exp() in range. An infinite max (a slice of -inf, or one
    // holding +inf) would turn x - max into NaN, so such slices are not shifted: their exp-sum
    // is then exactly 0 or inf and the result -inf or inf.
    Tensor shift = zeros(detail::keepdim_shape(x, dims), options_of(x));
    if (x.numel() > 0) {
      const Tensor m = amax(x, dims, /*keepdim=*/true);
      shift = where(eq(abs(m), kInf), 0, m);
    }
    out = log(sum(exp(x - shift), dims, keepdim)) + detail::squeeze_dims(shift, dims, keepdim);
  }
  record("logsumexp", out, {x_in},
         [sx = save(x), so = save(out), dims, keepdim](const Tensor& g, InputGrads in) {
           // The gradient is the slice's softmax; an all -inf slice has none (0, not NaN).
           const Tensor r = unsqueeze_dims(so.get(), dims, keepdim);
           const Tensor softmax = where(eq(r, -kInf), 0, exp(sx.get() - r));
           in[0].add(unsqueeze_dims(g, dims, keepdim) * softmax);
         });
  return out;
}

// ---- norm ----

Tensor norm(const Tensor& x, double p, const Shape& dims_in, bool keepdim) {
  check_floating(x, "norm");
  const Shape dims = reduction_dims(x, dims_in, "norm");
  const bool infinite = std::isinf(p);
  if (infinite) check_nonempty(x, dims, "norm");
  Tensor out;
  {
    NoGradGuard no_grad;
    if (infinite)
      out = p > 0 ? amax(abs(x), dims, keepdim) : amin(abs(x), dims, keepdim);
    else if (p == 0)
      out = to(sum(ne(x, 0), dims, keepdim), x.dtype());
    else if (p == 1)
      out = sum(abs(x), dims, keepdim);
    else if (p == 2)
      out = sqrt(sum(x * x, dims, keepdim));
    else
      out = pow(sum(pow(abs(x), Tensor(p)), dims, keepdim), Tensor(1.0 / p));
  }
  record("norm", out, {x},
         [sx = save(x), so = save(out), p, dims, keepdim](const Tensor& g, InputGrads in) {
           const Tensor& v = sx.get();
           if (p == 0) {  // counts non-zeros: piecewise constant
             in[0].add(zeros_like(v));
             return;
           }
           if (std::isinf(p)) {
             in[0].add(grad_to_ties(g, abs(v), so.get(), dims, keepdim) * sign(v));
             return;
           }
           const Tensor gk = unsqueeze_dims(g, dims, keepdim);
           if (p == 1) {
             in[0].add(gk * sign(v));
             return;
           }
           // d ||x||_p / d x = sign(x) |x|^(p-1) / ||x||^(p-1); a zero norm (all-zero slice) has
           // gradient 0, as do zero elements (where |x|^(p-1) is infinite for p < 1).
           const Tensor n = unsqueeze_dims(so.get(), dims, keepdim);
           if (p == 2) {
             in[0].add(where(eq(n, 0), 0, gk / n) * v);
             return;
           }
           const Tensor p_minus_1 = Tensor(p - 1);
           const Tensor scale = where(eq(n, 0), 0, gk / pow(n, p_minus_1));
           in[0].add(where(eq(v, 0), 0, scale * sign(v) * pow(abs(v), p_minus_1)));
         });
  return out;
}

// ---- any, all ----

Tensor any(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce_new(ReduceOp::Any, x, reduction_dims(x, dims, "any"), keepdim, DType::Bool);
}

Tensor all(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce_new(ReduceOp::All, x, reduction_dims(x, dims, "all"), keepdim, DType::Bool);
}

}  // namespace mixgrad
