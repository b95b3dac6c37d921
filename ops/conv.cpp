// conv2d / conv1d: checks, output shapes and the recorded backward (conv1d is a conv2d of height
// 1). The convolution itself is a kernel, kernels::conv2d and kernels::conv2d_backward
// (backends/kernels.h): each backend picks its algorithm and threading (the CPU's in
// backends/cpu/conv2d.cpp, the im2col + GEMM path shared with CUDA in backends/conv_im2col.h).
#include "ops/conv.h"

#include <string>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "core/factory.h"
#include "ops/reduce.h"
#include "ops/view.h"

namespace mixgrad {

namespace {

// A convolution lifted to 2-D with its checked geometry.
struct ConvPlan {
  kernels::ConvGeometry geometry;
  int64_t groups = 1;
};

std::string dims_name(std::size_t n) {
  return n == 1 ? "[N, C, L]" : "[N, C, H, W]";
}
std::string unbatched_name(std::size_t n) {
  return n == 1 ? "[C, L]" : "[C, H, W]";
}

void check_tensors(const char* op, std::size_t spatial, const Tensor& input, const Tensor& weight,
                   const Tensor& bias) {
  const int64_t rank = static_cast<int64_t>(spatial) + 2;
  MG_CHECK(input.defined() && weight.defined(), op, "input and weight must be defined");
  MG_CHECK(input.dim() == rank, op, "expected input ", dims_name(spatial), " (", rank,
           "-D) or unbatched ", unbatched_name(spatial), ", got shape ", input.shape());
  MG_CHECK(weight.dim() == rank, op, "expected weight [O, C / groups",
           spatial == 1 ? ", K]" : ", kH, kW]", " (", rank, "-D), got shape ", weight.shape());
  MG_CHECK(input.is_floating_point(), op, "expected a floating input, got ", describe(input));
  MG_CHECK(input.dtype() == weight.dtype() && input.device() == weight.device(), op, "input is ",
           describe(input), " but weight is ", describe(weight));
  if (bias.defined()) {
    MG_CHECK(bias.dtype() == input.dtype() && bias.device() == input.device(), op, "input is ",
             describe(input), " but bias is ", describe(bias));
    MG_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, "bias of shape ", bias.shape(),
             " does not match weight of shape ", weight.shape(), " (expected [", weight.size(0),
             "])");
  }
}

// One spatial dim's window, checked; returns the output size and writes the leading padding.
int64_t plan_dim(const char* op, const char* dim_name, int64_t size, int64_t kernel, int64_t stride,
                 int64_t dilation, std::optional<int64_t> padding, int64_t& pad_before) {
  MG_CHECK(stride > 0, op, "stride must be positive, got ", stride, " (", dim_name, ")");
  MG_CHECK(dilation > 0, op, "dilation must be positive, got ", dilation, " (", dim_name, ")");
  const int64_t span = checked_add(checked_mul(dilation, kernel - 1, op, "the kernel's span"), 1,
                                   op, "the kernel's span");
  // Same: total padding span - 1, the odd element after the input (as PyTorch).
  const int64_t pad_total = padding ? checked_mul(2, *padding, op, "the padding") : span - 1;
  pad_before = padding ? *padding : pad_total / 2;
  MG_CHECK(pad_before >= 0, op, "padding must be non-negative, got ", pad_before, " (", dim_name,
           ")");
  MG_CHECK(checked_add(size, pad_total, op, "the padded size") >= span, op, "kernel of size ",
           kernel, " with dilation ", dilation, " spans ", span, " but the padded input has size ",
           size + pad_total, " (", dim_name, ")");
  return (size + pad_total - span) / stride + 1;
}

// Checks everything and builds the 2-D geometry; the spatial dims of a 1-D conv become the
// width (height 1).
template <std::size_t N>
ConvPlan make_plan(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const ConvOptions<N>& options) {
  check_tensors(op, N, input, weight, bias);
  const int64_t groups = options.groups;
  const int64_t channels = input.size(1), out_channels = weight.size(0);
  MG_CHECK(groups > 0, op, "groups must be positive, got ", groups);
  MG_CHECK(channels % groups == 0, op, "groups ", groups, " does not divide the ", channels,
           " input channels of shape ", input.shape());
  MG_CHECK(out_channels % groups == 0, op, "groups ", groups, " does not divide the ", out_channels,
           " output channels of weight of shape ", weight.shape());
  MG_CHECK(weight.size(1) * groups == channels, op, "input of shape ", input.shape(), " has ",
           channels, " channels but weight of shape ", weight.shape(), " with groups ", groups,
           " expects ", weight.size(1) * groups);
  for (int64_t d = 2; d < weight.dim(); ++d)
    MG_CHECK(weight.size(d) > 0, op, "weight of shape ", weight.shape(), " has an empty kernel");
  const std::optional<Padding> mode = options.padding.mode;
  if (mode == Padding::Same) {
    for (std::size_t d = 0; d < N; ++d)
      MG_CHECK(options.stride[d] == 1, op,
               "padding Same needs stride 1 (as in PyTorch), got stride ", options.stride[d]);
  }
  static constexpr const char* kNames2d[] = {"height", "width"};
  ConvPlan p;
  p.groups = groups;
  kernels::ConvGeometry& g = p.geometry;
  int64_t* kernel[] = {&g.kernel_h, &g.kernel_w};
  int64_t* stride[] = {&g.stride_h, &g.stride_w};
  int64_t* pad[] = {&g.pad_h, &g.pad_w};
  int64_t* dilation[] = {&g.dilation_h, &g.dilation_w};
  int64_t* out[] = {&g.out_h, &g.out_w};
  g.out_h = 1;  // a 1-D conv fills only the width
  for (std::size_t d = 0; d < N; ++d) {
    const std::size_t d2 = d + 2 - N;  // which 2-D dim this spatial dim becomes
    const int64_t axis = static_cast<int64_t>(d) + 2;
    std::optional<int64_t> padding;
    if (!mode) padding = options.padding.amount[d];
    if (mode == Padding::Valid) padding = 0;
    *kernel[d2] = weight.size(axis);
    *stride[d2] = options.stride[d];
    *dilation[d2] = options.dilation[d];
    *out[d2] = plan_dim(op, N == 1 ? "length" : kNames2d[d], input.size(axis), weight.size(axis),
                        options.stride[d], options.dilation[d], padding, *pad[d2]);
  }
  return p;
}

// The convolution of 4-D operands (conv1d's already lifted), recorded as `op`.
Tensor conv_lifted(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const ConvPlan& plan) {
  const kernels::ConvGeometry& geo = plan.geometry;
  const Shape out_shape{input.size(0), weight.size(0), geo.out_h, geo.out_w};
  const bool need_x = should_record({input}), need_w = should_record({weight});
  Tensor x, w, out, saved;
  {
    NoGradGuard no_grad;
    x = input.contiguous();
    w = weight.contiguous();
    out = empty(out_shape, options_of(x));
    // `saved` (say, the columns of small planes, kh * kw times the input) stays alive until the
    // backward instead of x, which spares the weight gradient work.
    saved = kernels::conv2d(x.device(), out, x, w, bias.defined() ? bias.contiguous() : bias, geo,
                            plan.groups, need_w);
  }
  record(op, out, {input, weight, bias},
         [plan, input_shape = input.shape(), weight_shape = weight.shape(),
          sx = save(need_w && !saved.defined() ? x : Tensor()), sw = save(need_x ? w : Tensor()),
          saved](const Tensor& grad, InputGrads in) {
           const Tensor g = grad.contiguous();
           if (in[2].needed()) in[2].add(sum(g, {0, 2, 3}));
           if (!in[0].needed() && !in[1].needed()) return;
           const TensorOptions options = options_of(g);
           const Tensor x_grad = in[0].needed() ? empty(input_shape, options) : Tensor();
           const Tensor w_grad = in[1].needed() ? empty(weight_shape, options) : Tensor();
           kernels::conv2d_backward(g.device(), x_grad, w_grad, g,
                                    in[1].needed() && !saved.defined() ? sx.get() : Tensor(),
                                    in[0].needed() ? sw.get() : Tensor(),
                                    in[1].needed() ? saved : Tensor(), plan.geometry, plan.groups);
           if (x_grad.defined()) in[0].add(x_grad);
           if (w_grad.defined()) in[1].add(w_grad);
         });
  return out;
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  if (input.defined() && input.dim() == 3)  // unbatched, as PyTorch accepts
    return squeeze(conv2d(unsqueeze(input, 0), weight, bias, options), 0);
  const ConvPlan p = make_plan("conv2d", input, weight, bias, options);
  return conv_lifted("conv2d", input, weight, bias, p);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv1dOptions& options) {
  if (input.defined() && input.dim() == 2)  // unbatched, as PyTorch accepts
    return squeeze(conv1d(unsqueeze(input, 0), weight, bias, options), 0);
  const ConvPlan p = make_plan("conv1d", input, weight, bias, options);
  return squeeze(conv_lifted("conv1d", unsqueeze(input, 2), unsqueeze(weight, 2), bias, p), 2);
}

}  // namespace mixgrad
