// Scans through kernels::scan, each with its backward (see ops/scan.h).
#include "ops/scan.h"

#include <limits>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/index.h"

namespace mixgrad {

namespace {

using kernels::ScanOp;

// `t` with `dim` walked backwards (negative stride), only ever handed to a kernel: the public
// view ops never produce negative strides, so it does not escape.
Tensor reversed_for_kernel(const Tensor& t, int64_t dim) {
  Shape strides = t.strides();
  strides[dim] = -strides[dim];
  return alias_with_layout(
      t, t.shape(), strides,
      t.storage_offset() + std::max<int64_t>(t.shape()[dim] - 1, 0) * t.strides()[dim]);
}

// `op` scanned along `dim` from the end (out[i] = in[i] op ... op in[n - 1]); not recorded.
Tensor reverse_scan(ScanOp op, const Tensor& in, int64_t dim) {
  Tensor out = empty(in.shape(), options_of(in));
  if (in.dim() == 0) {
    kernels::copy(in.device(), out, in);
    return out;
  }
  kernels::scan(in.device(), op, reversed_for_kernel(out, dim), Tensor(),
                reversed_for_kernel(in, dim), dim);
  return out;
}

// The forward of every scan: `in` (already of the result's dtype) scanned along `dim`; Max / Min
// also fill `indices`.
Tensor scan_forward(ScanOp op, const Tensor& in, int64_t dim, Tensor* indices = nullptr) {
  Tensor out = empty(in.shape(), options_of(in));
  Tensor idx;
  if (indices) idx = *indices = empty(in.shape(), TensorOptions(DType::Int64).device(in.device()));
  kernels::scan(in.device(), op, out, idx, in, dim);
  return out;
}

// `dim` wrapped for x, which must be defined.
int64_t checked_dim(const char* op, const Tensor& x, int64_t dim) {
  MG_CHECK(x.defined(), op, "the input is undefined");
  return wrap_dim(dim, x.dim(), op);
}

DType accumulating_dtype(DType t) {
  return is_floating(t) ? t : DType::Int64;
}

// The gradient of out = cumprod(x) from g. Before the first zero of a line, d out_j / d x_k =
// out_j / x_k; at the first zero z it is the product of the other factors, which for j before
// the next zero is the running product with zeros skipped; every later position gets nothing.
Tensor cumprod_backward(const Tensor& g, const Tensor& x, const Tensor& out, int64_t dim) {
  const Tensor zero = eq(x, 0);
  const Tensor zeros_so_far = cumsum(zero, dim);
  const Tensor none_yet = eq(zeros_so_far, 0), one_so_far = eq(zeros_so_far, 1);
  const Tensor nothing = zeros({}, options_of(g));
  const Tensor x_safe = where(zero, ones({}, options_of(x)), x);
  Tensor grad = where(none_yet, reverse_scan(ScanOp::Sum, g * out, dim) / x_safe, nothing);
  const Tensor skipped = scan_forward(ScanOp::Prod, x_safe, dim);
  const Tensor at_first_zero =
      reverse_scan(ScanOp::Sum, where(one_so_far, g * skipped, nothing), dim);
  return grad + where(logical_and(zero, one_so_far), at_first_zero, nothing);
}

// The gradient of out = logcumsumexp(x) from g: sum over j >= k of g_j exp(x_k - out_j), in log
// space with the positive and negative parts of g apart (as PyTorch, after TensorFlow).
Tensor logcumsumexp_backward(const Tensor& g, const Tensor& x, const Tensor& out, int64_t dim) {
  // The dtype's own lowest finite value stands for log 0 (a double's would overflow float32).
  const double lowest_value = g.dtype() == DType::Float64
                                  ? std::numeric_limits<double>::lowest()
                                  : double(std::numeric_limits<float>::lowest());
  const Tensor lowest = full({}, lowest_value, options_of(g));
  const Tensor log_abs_g = log(abs(g));
  const Tensor log_pos = where(gt(g, 0), log_abs_g, lowest);
  const Tensor log_neg = where(lt(g, 0), log_abs_g, lowest);
  const Tensor pos = exp(reverse_scan(ScanOp::LogSumExp, log_pos - out, dim) + x);
  const Tensor neg = exp(reverse_scan(ScanOp::LogSumExp, log_neg - out, dim) + x);
  return pos - neg;
}

ValuesIndices running_extreme(ScanOp op, const char* name, const Tensor& x, int64_t dim_in) {
  const int64_t dim = checked_dim(name, x, dim_in);
  Tensor indices;
  Tensor values = scan_forward(op, x, dim, &indices);
  record(name, values, {x}, [dim, indices, shape = x.shape()](const Tensor& g, InputGrads in) {
    if (g.dim() == 0) {
      in[0].add(g);
      return;
    }
    in[0].add(scatter_add(zeros(shape, options_of(g)), dim, indices, g));
  });
  return {values, indices};
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim_in) {
  const int64_t dim = checked_dim("cumsum", x, dim_in);
  const Tensor out = scan_forward(ScanOp::Sum, to(x, accumulating_dtype(x.dtype())), dim);
  record("cumsum", out, {x}, [dim](const Tensor& g, InputGrads in) {
    // Each input feeds every later running sum: the gradient is g summed from the end.
    in[0].add(reverse_scan(ScanOp::Sum, g, dim));
  });
  return out;
}

Tensor cumprod(const Tensor& x, int64_t dim_in) {
  const int64_t dim = checked_dim("cumprod", x, dim_in);
  const Tensor out = scan_forward(ScanOp::Prod, to(x, accumulating_dtype(x.dtype())), dim);
  record("cumprod", out, {x},
         [dim, sx = save(x), sout = save(out)](const Tensor& g, InputGrads in) {
           if (g.dim() == 0) {
             in[0].add(g);
             return;
           }
           in[0].add(cumprod_backward(g, sx.get(), sout.get(), dim));
         });
  return out;
}

ValuesIndices cummax(const Tensor& x, int64_t dim) {
  return running_extreme(ScanOp::Max, "cummax", x, dim);
}

ValuesIndices cummin(const Tensor& x, int64_t dim) {
  return running_extreme(ScanOp::Min, "cummin", x, dim);
}

Tensor logcumsumexp(const Tensor& x, int64_t dim_in) {
  const int64_t dim = checked_dim("logcumsumexp", x, dim_in);
  MG_CHECK(x.is_floating_point(), "logcumsumexp", "expected a floating input, got ", describe(x));
  const Tensor out = scan_forward(ScanOp::LogSumExp, x, dim);
  record("logcumsumexp", out, {x},
         [dim, sx = save(x), sout = save(out)](const Tensor& g, InputGrads in) {
           in[0].add(logcumsumexp_backward(g, sx.get(), sout.get(), dim));
         });
  return out;
}

}  // namespace mixgrad
