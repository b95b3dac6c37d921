// conv2d / conv1d through im2col + GEMM (conv1d is a conv2d of height 1).
//
// The batch is processed in chunks whose columns fit one reused buffer of about
// kColumnsBudget elements. The columns of a chunk are laid out [C * kh * kw, chunk * L]
// (L = out_h * out_w), so that:
//   forward      out[n, group]    = W[group] @ columns[group rows, sample n]   (one batched GEMM
//                                   per group, reading the columns in place)
//   grad input   columns[.., n]   = W[group]^T @ grad_out[n, group], then col2im
//   grad weight  dW[group]       += grad_out^T[group] [O/G, chunk * L] @ columns^T: a single
//                                   GEMM over the whole chunk (grad_out is transposed once)
// Small output planes (L < kWidePlane) make per-sample GEMMs too narrow (BLAS would repack W
// for every few columns), so there the forward and input gradient also run as one GEMM over
// the chunk's width, through the transposed grad_out / a transposed output scratch.
// A 1x1 kernel with stride 1 and no padding needs no columns for the per-sample forward and
// input gradient: the input itself is the columns matrix of each sample.
// When the whole batch is one chunk of the chunk-wide path, the forward's columns are kept for
// the weight gradient instead of being rebuilt. A few output channels on wide rows (stride 1,
// one group) skip the columns altogether: kernels::conv2d_direct and its weight gradient, with
// the input gradient still through GEMM + col2im. On the CPU with several threads, a batch whose
// chunks hold one sample each is split among the threads by whole samples (sample_workers).
// 3x3 kernels of stride 1 with enough channels per group run through Winograd F(2x2, 3x3) on the
// CPU instead (ops/conv_winograd.h).
#include "ops/conv.h"

#include <algorithm>
#include <string>
#include <vector>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "core/parallel.h"
#include "ops/conv_winograd.h"
#include "ops/creation.h"
#include "ops/reduce.h"
#include "ops/view.h"

namespace mixgrad {

namespace {

// Elements of the reused columns buffer (4 MiB of float32): large enough that GEMMs see
// several samples at once; small enough to stay mostly in cache between im2col and its GEMMs
// (measured: the ResNet block's forward + backward ran ~25% faster than with 16 MiB).
constexpr int64_t kColumnsBudget = int64_t{1} << 20;
// Output planes below this many positions use chunk-wide GEMMs (measured on the CIFAR CNN's
// 10x10 planes: per-sample GEMMs spent as long packing W as multiplying).
constexpr int64_t kWidePlane = 256;
// CPU weight-gradient GEMMs at least this deep (columns per chunk) run transposed
// (conv_backward), when they have at least kTransposedWeightGradChannels output channels per
// group.
constexpr int64_t kDeepWeightGrad = 128;
constexpr int64_t kTransposedWeightGradChannels = 32;

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

// The prefix of `buffer`'s storage as a contiguous [rows, width] matrix.
Tensor prefix_matrix(const Tensor& buffer, int64_t rows, int64_t width) {
  return as_strided(buffer, {rows, width}, {width, 1});
}

// A columns matrix [rows, n * plane] seen as n per-sample [rows, plane] matrices.
Tensor per_sample(const Tensor& columns, int64_t n, int64_t plane) {
  const int64_t rows = columns.size(0);
  return as_strided(columns, {n, rows, plane}, {plane, n * plane, 1});
}

// The rows of [batch, rows, cols] belonging to group g of `groups`.
Tensor group_rows(const Tensor& t, int64_t groups, int64_t g) {
  const int64_t rows = t.size(-2) / groups;
  return narrow(t, -2, g * rows, rows);
}

// weight [O, C / G * kh * kw] group g as a [n, O / G, C / G * kh * kw] batch (stride 0).
Tensor batched_weight(const Tensor& weight_2d, int64_t groups, int64_t g, int64_t n) {
  const Tensor w = unsqueeze(group_rows(weight_2d, groups, g), 0);
  return expand(w, {n, w.size(1), w.size(2)});
}

// Everything backward needs besides the saved tensors.
struct ConvShapes {
  ConvPlan plan;
  Shape input_shape;
  Shape weight_shape;
  bool wide = false;      // chunk-wide GEMMs for forward and input gradient
  bool direct = false;    // per-sample, 1x1 kernel, stride 1, no padding: the input is its columns
  bool sliding = false;   // kernels::conv2d_direct and its backward: no columns at all
  bool winograd = false;  // conv_detail::winograd_conv2d and its backward
};

int64_t chunk_size(int64_t rows, int64_t plane, int64_t batch) {
  return std::clamp<int64_t>(kColumnsBudget / std::max<int64_t>(rows * plane, 1), 1,
                             std::max<int64_t>(batch, 1));
}

// Threads that a CPU convolution with one sample per chunk splits its batch among, each thread
// taking whole samples with its own columns buffer and running im2col, the GEMMs and col2im
// single-threaded: one parallel job per pass instead of one per GEMM and per im2col / col2im of
// every sample. 0 or 1: no split.
int64_t sample_workers(const ConvShapes& s, const Device& device, int64_t chunk, int64_t batch) {
  if (device.type != DeviceType::CPU || chunk != 1 || s.wide || s.direct || in_parallel()) return 0;
  return std::min<int64_t>(get_num_threads(), batch);
}

// When `keep_columns` is given and the whole batch fits one chunk of the chunk-wide path, it
// receives the columns matrix [rows, N * plane], which the weight gradient needs again.
Tensor conv_forward(const ConvShapes& s, const Tensor& x, const Tensor& weight_2d,
                    const Tensor& bias, const Shape& out_shape, Tensor* keep_columns = nullptr) {
  const kernels::ConvGeometry& geo = s.plan.geometry;
  const int64_t groups = s.plan.groups;
  const int64_t batch = x.size(0), channels = x.size(1), out_channels = out_shape[1];
  const int64_t plane = geo.out_h * geo.out_w, rows = weight_2d.size(1) * groups;
  const Device device = x.device();
  Tensor out = empty(out_shape, TensorOptions(x.dtype()).device(device));
  if (bias.defined() && !s.wide)
    kernels::copy(device, out, expand(reshape(bias, {1, out_channels, 1, 1}), out_shape));
  const double beta = bias.defined() ? 1 : 0;
  const int64_t chunk = chunk_size(rows, plane, batch);
  const TensorOptions options = TensorOptions(x.dtype()).device(device);
  const Tensor scratch = s.wide ? empty({out_channels * chunk * plane}, options) : Tensor();
  // Samples [begin, end) in chunks, through the columns buffer `buffer`.
  const auto run = [&](int64_t begin, int64_t end, const Tensor& buffer) {
    for (int64_t start = begin; start < end; start += chunk) {
      const int64_t n = std::min(chunk, end - start);
      const Tensor x_chunk = narrow(x, 0, start, n);
      Tensor cols;  // [n, rows, plane]
      if (s.direct) {
        cols = view(x_chunk, {n, channels, plane});
      } else {
        const Tensor matrix = prefix_matrix(buffer, rows, n * plane);
        kernels::im2col(device, matrix, x_chunk, geo);
        cols = per_sample(matrix, n, plane);
      }
      const Tensor out_chunk = view(narrow(out, 0, start, n), {n, out_channels, plane});
      if (s.wide) {
        const Tensor product = prefix_matrix(scratch, out_channels, n * plane);
        const Tensor matrix = prefix_matrix(buffer, rows, n * plane);
        for (int64_t g = 0; g < groups; ++g)
          kernels::gemm(device, unsqueeze(group_rows(product, groups, g), 0),
                        batched_weight(weight_2d, groups, g, 1),
                        unsqueeze(group_rows(matrix, groups, g), 0), 1, 0);
        // One pass transposes the product back to [n, O, plane] and adds the bias.
        if (bias.defined())
          kernels::binary(device, kernels::BinaryOp::Add, kernels::OpParams{.a = 1}, out_chunk,
                          per_sample(product, n, plane),
                          expand(reshape(bias, {1, out_channels, 1}), out_chunk.shape()));
        else
          kernels::copy(device, out_chunk, per_sample(product, n, plane));
        continue;
      }
      for (int64_t g = 0; g < groups; ++g)
        kernels::gemm(device, group_rows(out_chunk, groups, g),
                      batched_weight(weight_2d, groups, g, n), group_rows(cols, groups, g), 1,
                      beta);
    }
  };
  if (const int64_t workers = sample_workers(s, device, chunk, batch); workers > 1) {
    std::vector<Tensor> buffers(workers);  // allocated outside the parallel region
    for (Tensor& b : buffers) b = empty({rows * plane}, options);
    parallel_split(batch, workers, [&](int64_t w, int64_t begin, int64_t end) {
      NoGradGuard no_grad;  // grad mode is per thread: the views taken must not be recorded
      run(begin, end, buffers[w]);
    });
    return out;
  }
  const Tensor buffer = s.direct ? Tensor() : empty({rows * chunk * plane}, options);
  if (keep_columns && s.wide && chunk >= batch)
    *keep_columns = prefix_matrix(buffer, rows, batch * plane);
  run(0, batch, buffer);
  return out;
}

// Gradients of input (when `x_grad` is defined) and weight (when `w_grad` is) from contiguous
// grad_out [N, O, out_h, out_w]; `x` is the input when w_grad is wanted, `weight_2d` the
// weight [O, C / G * kh * kw] when x_grad is.
// `columns`, when defined, is the forward's columns matrix of the whole batch (then x is unused).
void conv_backward(const ConvShapes& s, const Tensor& grad_out, const Tensor& x,
                   const Tensor& weight_2d, const Tensor& x_grad, const Tensor& w_grad,
                   const Tensor& columns = Tensor()) {
  const kernels::ConvGeometry& geo = s.plan.geometry;
  const int64_t groups = s.plan.groups;
  const int64_t batch = s.input_shape[0], channels = s.input_shape[1];
  const int64_t out_channels = s.weight_shape[0], plane = geo.out_h * geo.out_w;
  const int64_t rows = numel_of(s.weight_shape) / out_channels * groups;
  const Device device = grad_out.device();
  const TensorOptions options = TensorOptions(grad_out.dtype()).device(device);
  const int64_t chunk = chunk_size(rows, plane, batch);
  const bool need_columns =
      (w_grad.defined() && !columns.defined()) || (x_grad.defined() && !s.direct);
  const bool need_grad_t = w_grad.defined() || s.wide;
  // Samples [begin, end) in chunks, through the columns buffer `buffer` and grad_out transposed in
  // `grad_t_buffer` (unused for one-sample chunks); the weight gradient goes to `w_target`
  // [O, rows / G], which the first chunk overwrites.
  const auto run = [&](int64_t begin, int64_t end, const Tensor& buffer,
                       const Tensor& grad_t_buffer, const Tensor& w_target) {
    for (int64_t start = begin; start < end; start += chunk) {
      const int64_t n = std::min(chunk, end - start);
      const Tensor g_chunk = view(narrow(grad_out, 0, start, n), {n, out_channels, plane});
      const Tensor matrix = need_columns ? prefix_matrix(buffer, rows, n * plane) : Tensor();
      // One sample's grad_out already is its [O, plane] matrix: no copy (a pass over the whole
      // gradient where a chunk holds a single sample, as in the ResNet block).
      const Tensor g_t = !need_grad_t ? Tensor()
                         : n == 1     ? view(g_chunk, {out_channels, plane})
                                      : prefix_matrix(grad_t_buffer, out_channels, n * plane);
      if (need_grad_t && n > 1) kernels::copy(device, per_sample(g_t, n, plane), g_chunk);
      if (w_grad.defined()) {
        const Tensor w_matrix = columns.defined() ? columns : matrix;
        if (!columns.defined()) kernels::im2col(device, matrix, narrow(x, 0, start, n), geo);
        const double beta = start == begin ? 0 : 1;
        for (int64_t g = 0; g < groups; ++g)
          kernels::gemm(device, unsqueeze(group_rows(w_target, groups, g), 0),
                        unsqueeze(group_rows(g_t, groups, g), 0),
                        unsqueeze(t(group_rows(w_matrix, groups, g)), 0), 1, beta);
      }
      if (x_grad.defined()) {
        const Tensor x_grad_chunk = narrow(x_grad, 0, start, n);
        if (s.wide) {
          for (int64_t g = 0; g < groups; ++g)
            kernels::gemm(device, unsqueeze(group_rows(matrix, groups, g), 0),
                          transpose(batched_weight(weight_2d, groups, g, 1), 1, 2),
                          unsqueeze(group_rows(g_t, groups, g), 0), 1, 0);
          kernels::col2im(device, x_grad_chunk, matrix, geo);
          continue;
        }
        const Tensor cols =
            s.direct ? view(x_grad_chunk, {n, channels, plane}) : per_sample(matrix, n, plane);
        for (int64_t g = 0; g < groups; ++g)
          kernels::gemm(device, group_rows(cols, groups, g),
                        transpose(batched_weight(weight_2d, groups, g, n), 1, 2),
                        group_rows(g_chunk, groups, g), 1, 0);
        if (!s.direct) kernels::col2im(device, x_grad_chunk, matrix, geo);
      }
    }
  };
  const Tensor w_grad_2d = w_grad.defined() ? view(w_grad, {out_channels, -1}) : Tensor();
  if (const int64_t workers = sample_workers(s, device, chunk, batch);
      workers > 1 && !columns.defined()) {
    // Each worker accumulates its samples' dW^T (transposed, as below); the partial sums are
    // added in worker order, so the same thread count gives the same bits. Allocated here,
    // outside the parallel region.
    std::vector<Tensor> buffers(workers), partials(workers);
    for (int64_t w = 0; w < workers; ++w) {
      buffers[w] = empty({rows * plane}, options);
      if (w_grad.defined()) partials[w] = empty({rows / groups, out_channels}, options);
    }
    const int64_t team = parallel_split(batch, workers, [&](int64_t w, int64_t begin, int64_t end) {
      NoGradGuard no_grad;  // grad mode is per thread: the views taken must not be recorded
      run(begin, end, buffers[w], Tensor(), w_grad.defined() ? t(partials[w]) : Tensor());
    });
    if (!w_grad.defined()) return;
    for (int64_t w = 1; w < team; ++w)
      kernels::binary(device, kernels::BinaryOp::Add, kernels::OpParams{.a = 1}, partials[0],
                      partials[0], partials[w]);
    kernels::copy(device, w_grad_2d, t(partials[0]));
    return;
  }
  const Tensor buffer = need_columns ? empty({rows * chunk * plane}, options) : Tensor();
  // grad_out of a chunk transposed to [O, n * plane], for the weight gradient's single GEMM.
  const Tensor grad_t_buffer =
      need_grad_t && chunk > 1 ? empty({out_channels * chunk * plane}, options) : Tensor();
  // The weight gradient accumulates transposed, in dW^T [rows / G, O], when the GEMMs are deep
  // enough: OpenBLAS then packs the columns matrix as its B operand, reading each row in order,
  // where for dW itself it packs the columns as a transposed A, 16 rows at a 4 KiB stride at a
  // time (measured, 1 thread: the ResNet block's 64 x 576 x 1024 product 1.58 -> 1.17 ms, the
  // CIFAR CNN's 16 x 150 x 6400 0.74 -> 0.57 ms; at depth 64, 256 x 2304 lost 17%). Few output
  // channels are left alone: at 2 threads OpenBLAS splits the transposed product's O rows, and
  // the CIFAR one went 0.35 -> 0.47 ms.
  const bool transposed_w_grad = w_grad.defined() && device.type == DeviceType::CPU &&
                                 out_channels / groups >= kTransposedWeightGradChannels &&
                                 std::min(chunk, batch) * plane >= kDeepWeightGrad;
  const Tensor w_grad_t =
      transposed_w_grad ? empty({rows / groups, out_channels}, options) : Tensor();
  const Tensor w_grad_target = transposed_w_grad ? t(w_grad_t) : w_grad_2d;
  run(0, batch, buffer, grad_t_buffer, w_grad_target);
  if (transposed_w_grad) kernels::copy(device, w_grad_2d, w_grad_target);
}

// Whether the direct kernels beat im2col + GEMM: few output channels on wide rows, where the
// columns matrix is kh * kw times the input and each of its elements feeds only a few output
// channels, so building it costs more than the multiply-adds it serves (the CIFAR CNN's first
// conv, 3 -> 6 channels 5x5 on 32x32: forward + weight gradient ~3x faster). Only the CPU backend
// has the direct kernels so far.
bool use_sliding(const Tensor& input, const Tensor& weight, const ConvPlan& plan) {
  const kernels::ConvGeometry& geo = plan.geometry;
  return input.device().type == DeviceType::CPU && plan.groups == 1 && geo.stride_h == 1 &&
         geo.stride_w == 1 && weight.size(0) <= 8 && geo.kernel_h * geo.kernel_w > 1 &&
         geo.out_w >= 16;
}

// The convolution of 4-D operands (conv1d's already lifted), recorded as `op`.
Tensor conv_lifted(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const ConvPlan& plan) {
  const kernels::ConvGeometry& geo = plan.geometry;
  ConvShapes s{plan, input.shape(), weight.shape()};
  s.wide = geo.out_h * geo.out_w < kWidePlane;
  s.direct = !s.wide && geo.kernel_h == 1 && geo.kernel_w == 1 && geo.stride_h == 1 &&
             geo.stride_w == 1 && geo.pad_h == 0 && geo.pad_w == 0;
  const Shape out_shape{input.size(0), weight.size(0), geo.out_h, geo.out_w};
  s.winograd = conv_detail::use_winograd(input, weight, geo, plan.groups);
  s.sliding = !s.winograd && use_sliding(input, weight, plan);
  const bool need_x = should_record({input}), need_w = should_record({weight});
  Tensor x, w, out, columns;
  {
    NoGradGuard no_grad;
    x = input.contiguous();
    w = reshape(weight.contiguous(), {weight.size(0), -1});
    if (s.sliding) {
      out = empty(out_shape, options_of(x));
      kernels::conv2d_direct(x.device(), out, x, w, bias.defined() ? bias.contiguous() : bias, geo);
    } else if (s.winograd) {
      out = conv_detail::winograd_conv2d(x, view(w, weight.shape()), bias, geo, plan.groups);
    } else {
      // Small planes (the whole batch is one chunk): the columns, kh * kw times the input, stay
      // alive until the backward instead of x, which spares the weight gradient an im2col.
      out = conv_forward(s, x, w, bias, out_shape, need_w ? &columns : nullptr);
    }
  }
  record(op, out, {input, weight, bias},
         [s, sx = save(need_w && !columns.defined() ? x : Tensor()),
          sw = save(need_x ? w : Tensor()), columns](const Tensor& grad, InputGrads in) {
           const Tensor g = grad.contiguous();
           if (in[2].needed()) in[2].add(sum(g, {0, 2, 3}));
           if (!in[0].needed() && !in[1].needed()) return;
           const TensorOptions options = options_of(g);
           const Tensor x_grad = in[0].needed() ? empty(s.input_shape, options) : Tensor();
           // An empty batch runs no GEMM, and its weight gradient is zero.
           const Tensor w_grad = !in[1].needed()         ? Tensor()
                                 : s.input_shape[0] == 0 ? zeros(s.weight_shape, options)
                                                         : empty(s.weight_shape, options);
           const Tensor x_saved = in[1].needed() && !columns.defined() ? sx.get() : Tensor();
           const Tensor w_saved = in[0].needed() ? sw.get() : Tensor();
           if (s.winograd) {
             conv_detail::winograd_conv2d_backward(
                 g, x_saved, w_saved.defined() ? view(w_saved, s.weight_shape) : Tensor(), x_grad,
                 w_grad, s.plan.geometry, s.plan.groups);
           } else if (s.sliding) {
             // The input gradient stays on the GEMM path: a scattered sliding-window
             // accumulation measured twice as slow as GEMM + col2im there.
             if (w_grad.defined() && s.input_shape[0] > 0)
               kernels::conv2d_direct_weight_grad(g.device(), w_grad, g, x_saved, s.plan.geometry);
             if (x_grad.defined()) conv_backward(s, g, Tensor(), w_saved, x_grad, Tensor());
           } else {
             conv_backward(s, g, x_saved, w_saved, x_grad, w_grad,
                           in[1].needed() ? columns : Tensor());
           }
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
