// max_pool2d, avg_pool2d and adaptive_avg_pool2d: argument checks and output sizes here, one
// pair of kernels (pool2d / pool2d_backward) for all three. The kernels see the input as
// contiguous [planes, H, W]; max pooling keeps its indices so the backward never recomputes.
#include "ops/pool.h"

#include <string>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/creation.h"
#include "ops/view.h"

namespace mixgrad {

using kernels::Pool2dParams;
using kernels::PoolAxis;
using kernels::PoolMode;

namespace {

std::string describe_pair(SpatialSize<2> s) {
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ")";
}

void check_input(const char* op, const Tensor& x) {
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(x.dim() == 3 || x.dim() == 4, op,
           "expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape ", x.shape());
  for (int64_t d = x.dim() - 3; d < x.dim(); ++d)
    MG_CHECK(x.size(d) > 0, op, "expected non-zero channel and spatial sizes, got shape ",
             x.shape());
}

void check_floating(const char* op, const Tensor& x) {
  MG_CHECK(x.is_floating_point(), op, "expected a floating input, got ", x.dtype());
}

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// PyTorch's pooling output size for one dim.
// Checked: huge kernel, dilation or stride values must not overflow into a plausible size.
int64_t pooled_size(const char* op, int64_t in, const PoolAxis& a, bool ceil_mode) {
  const int64_t span = checked_add(checked_mul(a.dilation, a.kernel - 1, op, "the window's span"),
                                   1, op, "the window's span");
  const int64_t padded = checked_add(in, 2 * a.padding, op, "the padded size");  // p <= k/2
  const int64_t room = checked_add(padded - span, ceil_mode ? a.stride - 1 : 0, op, "the size");
  int64_t out = floor_div(room, a.stride) + 1;
  // The last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * a.stride >= in + a.padding) --out;
  return out;
}

// The geometry of a regular (kernel / stride / padding / dilation) pool, checked.
struct RegularPool {
  Pool2dParams params;
  int64_t out_h;
  int64_t out_w;
};

RegularPool regular_pool(const char* op, const Tensor& x, SpatialSize<2> kernel,
                         const PoolStride& stride_option, SpatialSize<2> padding,
                         SpatialSize<2> dilation, bool ceil_mode) {
  const SpatialSize<2> stride = stride_option.value.value_or(kernel);
  MG_CHECK(kernel[0] > 0 && kernel[1] > 0, op, "kernel_size must be positive, got ",
           describe_pair(kernel));
  MG_CHECK(stride[0] > 0 && stride[1] > 0, op, "stride must be positive, got ",
           describe_pair(stride));
  MG_CHECK(dilation[0] > 0 && dilation[1] > 0, op, "dilation must be positive, got ",
           describe_pair(dilation));
  for (size_t i = 0; i < 2; ++i)
    MG_CHECK(padding[i] >= 0 && padding[i] <= kernel[i] / 2, op,
             "padding must be non-negative and at most half of kernel_size, got padding ",
             describe_pair(padding), " for kernel_size ", describe_pair(kernel));
  RegularPool pool;
  pool.params.h = {kernel[0], stride[0], padding[0], dilation[0], false};
  pool.params.w = {kernel[1], stride[1], padding[1], dilation[1], false};
  const int64_t h = x.size(-2), w = x.size(-1);
  pool.out_h = pooled_size(op, h, pool.params.h, ceil_mode);
  pool.out_w = pooled_size(op, w, pool.params.w, ceil_mode);
  MG_CHECK(pool.out_h > 0 && pool.out_w > 0, op, "input shape ", x.shape(), " with kernel_size ",
           describe_pair(kernel), ", stride ", describe_pair(stride), ", padding ",
           describe_pair(padding), ", dilation ", describe_pair(dilation),
           " gives an output size of ", describe_pair({pool.out_h, pool.out_w}),
           ", which is too small");
  return pool;
}

// [..., H, W] as [planes, H, W]: a view of a contiguous tensor.
Tensor as_planes(const Tensor& t) {
  if (!t.defined()) return t;
  const int64_t h = t.size(-2), w = t.size(-1);
  return view(t, {t.numel() / (h * w), h, w});
}

// Runs the pool kernel and records its backward; `indices` (Max only) is filled when asked for
// or when the backward will need it.
std::pair<Tensor, Tensor> run_pool(const char* op, PoolMode mode, const Tensor& x,
                                   const Pool2dParams& params, int64_t out_h, int64_t out_w,
                                   bool return_indices) {
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 2] = out_h;
  out_shape[out_shape.size() - 1] = out_w;
  const bool differentiable = should_record({x});
  Tensor out = empty(out_shape, options_of(x));
  Tensor indices;
  if (mode == PoolMode::Max && (return_indices || differentiable))
    indices = empty(out_shape, TensorOptions(kInt64).device(x.device()));
  {
    NoGradGuard no_grad;
    kernels::pool2d(x.device(), mode, as_planes(out), as_planes(indices), as_planes(x.contiguous()),
                    params);
  }
  record(op, out, {x},
         [mode, params, saved_indices = save(indices), in_shape = x.shape()](const Tensor& g,
                                                                             InputGrads in) {
           if (!in[0].needed()) return;
           Tensor grad_in = empty(in_shape, options_of(g));
           kernels::pool2d_backward(g.device(), mode, as_planes(grad_in), as_planes(g.contiguous()),
                                    as_planes(saved_indices.get()), params);
           in[0].add(grad_in);
         });
  return {out, indices};
}

std::pair<Tensor, Tensor> max_pool(const char* op, const Tensor& input, SpatialSize<2> kernel_size,
                                   const MaxPool2dOptions& o, bool return_indices) {
  check_input(op, input);
  MG_CHECK(input.dtype() != DType::Bool, op, "expected a numeric input, got ", input.dtype());
  const RegularPool pool =
      regular_pool(op, input, kernel_size, o.stride, o.padding, o.dilation, o.ceil_mode);
  return run_pool(op, PoolMode::Max, input, pool.params, pool.out_h, pool.out_w, return_indices);
}

}  // namespace

Tensor max_pool2d(const Tensor& input, SpatialSize<2> kernel_size,
                  const MaxPool2dOptions& options) {
  return max_pool("max_pool2d", input, kernel_size, options, false).first;
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, SpatialSize<2> kernel_size,
                                                  const MaxPool2dOptions& options) {
  return max_pool("max_pool2d_with_indices", input, kernel_size, options, true);
}

Tensor avg_pool2d(const Tensor& input, SpatialSize<2> kernel_size,
                  const AvgPool2dOptions& options) {
  const char* op = "avg_pool2d";
  check_input(op, input);
  check_floating(op, input);
  MG_CHECK(options.divisor_override.value_or(1) != 0, op, "divisor_override must not be 0");
  RegularPool pool =
      regular_pool(op, input, kernel_size, options.stride, options.padding, 1, options.ceil_mode);
  pool.params.count_include_pad = options.count_include_pad;
  pool.params.divisor_override = options.divisor_override.value_or(0);
  return run_pool(op, PoolMode::Avg, input, pool.params, pool.out_h, pool.out_w, false).first;
}

Tensor adaptive_avg_pool2d(const Tensor& input, SpatialSize<2> output_size) {
  const char* op = "adaptive_avg_pool2d";
  check_input(op, input);
  check_floating(op, input);
  MG_CHECK(output_size[0] > 0 && output_size[1] > 0, op, "output_size must be positive, got ",
           describe_pair(output_size));
  Pool2dParams params;
  params.h.adaptive = params.w.adaptive = true;
  return run_pool(op, PoolMode::Avg, input, params, output_size[0], output_size[1], false).first;
}

}  // namespace mixgrad
