// Reductions: sum/mean/prod, max/min (with indices), amax/amin, argmax/argmin, var/std,
// logsumexp, norm, any/all, cumsum.
#include "ops/reduce.h"

#include <algorithm>

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
  MG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, "dim appears more than "
           "once in ", dims);
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

// Runs the reduce kernel into a fresh keepdim-shaped result (dtype of the input).
Tensor reduce_raw(ReduceOp op, const Tensor& x, const Shape& dims, Tensor* indices = nullptr) {
  Tensor out = empty(detail::keepdim_shape(x, dims), TensorOptions(x.dtype()).device(x.device()));
  Tensor idx;
  if (indices) {
    idx = empty(out.shape(), TensorOptions(DType::Int64).device(x.device()));
    *indices = idx;
  }
  kernels::reduce(x.device(), op, out, idx, x, dims);
  return out;
}

DType sum_dtype(DType t) { return is_floating(t) ? t : DType::Int64; }

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
  const Shape dims = reduction_dims(x, dims_in, "sum");
  Tensor in = to(x, sum_dtype(x.dtype()));
  Tensor out = detail::squeeze_dims(reduce_raw(ReduceOp::Sum, in, dims), dims, keepdim);
  record("sum", out, {x}, [dims, keepdim](const Tensor& g, InputGrads in_grads) {
    in_grads[0].add(detail::unsqueeze_dims(g, dims, keepdim).expand(in_grads[0].meta().shape));
  });
  return out;
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const Shape& dims_in, bool keepdim) {
  MG_CHECK(x.is_floating_point(), "mean", "expected a floating tensor, got ", x.dtype(),
           "; convert with to(kFloat32) first");
  const Shape dims = reduction_dims(x, dims_in, "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[d];
  return sum(x, dims, keepdim) / static_cast<double>(count);
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

}  // namespace mixgrad
