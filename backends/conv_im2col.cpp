// im2col + GEMM convolution over the kernel table (see backends/conv_im2col.h).
#include "backends/conv_im2col.h"

#include <algorithm>
#include <vector>

#include "core/factory.h"
#include "core/parallel.h"
#include "core/strided_view.h"

namespace mixgrad::kernels {

namespace {

// The sizes both directions walk by, and the path they take.
struct Plan {
  int64_t batch = 0, channels = 0, out_channels = 0;
  int64_t plane = 0;    // out_h * out_w
  int64_t rows = 0;     // C * kh * kw: rows of the columns matrix
  int64_t chunk = 1;    // samples per chunk of the columns buffer
  bool wide = false;    // chunk-wide GEMMs for forward and input gradient
  bool direct = false;  // per-sample, 1x1 kernel, stride 1, no padding: the input is its columns
};

Plan make_plan(const Im2colConvTuning& tuning, int64_t batch, int64_t channels,
               int64_t out_channels, const ConvGeometry& geo) {
  Plan p;
  p.batch = batch;
  p.channels = channels;
  p.out_channels = out_channels;
  p.plane = geo.out_h * geo.out_w;
  p.rows = channels * geo.kernel_h * geo.kernel_w;
  p.chunk = std::clamp<int64_t>(tuning.columns_budget / std::max<int64_t>(p.rows * p.plane, 1), 1,
                                std::max<int64_t>(batch, 1));
  p.wide = p.plane < tuning.wide_plane;
  p.direct = !p.wide && geo.kernel_h == 1 && geo.kernel_w == 1 && geo.stride_h == 1 &&
             geo.stride_w == 1 && geo.pad_h == 0 && geo.pad_w == 0;
  return p;
}

// Threads that a convolution with one sample per chunk splits its batch among, each thread
// taking whole samples with its own columns buffer and running im2col, the GEMMs and col2im
// single-threaded: one parallel job per pass instead of one per GEMM and per im2col / col2im of
// every sample. 0 or 1: no split.
int64_t sample_workers(const Im2colConvTuning& tuning, const Plan& p) {
  if (!tuning.split_samples || p.chunk != 1 || p.wide || p.direct || in_parallel()) return 0;
  return std::min<int64_t>(get_num_threads(), p.batch);
}

// The prefix of `buffer`'s storage as a contiguous [rows, width] matrix.
Tensor prefix_matrix(const Tensor& buffer, int64_t rows, int64_t width) {
  return strided::as_strided(buffer, {rows, width}, {width, 1});
}

// A columns matrix [rows, n * plane] seen as n per-sample [rows, plane] matrices.
Tensor per_sample(const Tensor& columns, int64_t n, int64_t plane) {
  const int64_t rows = columns.size(0);
  return strided::as_strided(columns, {n, rows, plane}, {plane, n * plane, 1});
}

// The rows of [batch, rows, cols] belonging to group g of `groups`.
Tensor group_rows(const Tensor& t, int64_t groups, int64_t g) {
  const int64_t rows = t.size(-2) / groups;
  return strided::narrow(t, -2, g * rows, rows);
}

// weight [O, C / G * kh * kw] group g as a [n, O / G, C / G * kh * kw] batch (stride 0).
Tensor batched_weight(const Tensor& weight_2d, int64_t groups, int64_t g, int64_t n) {
  const Tensor w = strided::unsqueeze(group_rows(weight_2d, groups, g), 0);
  return strided::expand(w, {n, w.size(1), w.size(2)});
}

// A matrix's transpose.
Tensor transposed(const Tensor& matrix) {
  return strided::transpose(matrix, 0, 1);
}

}  // namespace

Tensor conv2d_im2col(const Im2colConvTuning& tuning, const Tensor& out, const Tensor& x,
                     const Tensor& weight, const Tensor& bias, const ConvGeometry& geo,
                     int64_t groups, bool keep_for_weight_grad) {
  const Plan p = make_plan(tuning, x.size(0), x.size(1), weight.size(0), geo);
  const int64_t batch = p.batch, channels = p.channels, out_channels = p.out_channels;
  const int64_t plane = p.plane, rows = p.rows, chunk = p.chunk;
  const Tensor weight_2d = strided::view(weight, {out_channels, -1});
  const Device device = x.device();
  const Shape& out_shape = out.shape();
  if (bias.defined() && !p.wide)
    kernels::copy(device, out,
                  strided::expand(strided::view(bias, {1, out_channels, 1, 1}), out_shape));
  const double beta = bias.defined() ? 1 : 0;
  const TensorOptions options = options_of(x);
  const Tensor scratch = p.wide ? empty({out_channels * chunk * plane}, options) : Tensor();
  // Samples [begin, end) in chunks, through the columns buffer `buffer`.
  const auto run = [&](int64_t begin, int64_t end, const Tensor& buffer) {
    for (int64_t start = begin; start < end; start += chunk) {
      const int64_t n = std::min(chunk, end - start);
      const Tensor x_chunk = strided::narrow(x, 0, start, n);
      Tensor cols;  // [n, rows, plane]
      if (p.direct) {
        cols = strided::view(x_chunk, {n, channels, plane});
      } else {
        const Tensor matrix = prefix_matrix(buffer, rows, n * plane);
        kernels::im2col(device, matrix, x_chunk, geo);
        cols = per_sample(matrix, n, plane);
      }
      const Tensor out_chunk =
          strided::view(strided::narrow(out, 0, start, n), {n, out_channels, plane});
      if (p.wide) {
        const Tensor product = prefix_matrix(scratch, out_channels, n * plane);
        const Tensor matrix = prefix_matrix(buffer, rows, n * plane);
        for (int64_t g = 0; g < groups; ++g)
          kernels::gemm(device, strided::unsqueeze(group_rows(product, groups, g), 0),
                        batched_weight(weight_2d, groups, g, 1),
                        strided::unsqueeze(group_rows(matrix, groups, g), 0), 1, 0);
        // One pass transposes the product back to [n, O, plane] and adds the bias.
        if (bias.defined())
          kernels::binary(
              device, BinaryOp::Add, OpParams{.a = 1}, out_chunk, per_sample(product, n, plane),
              strided::expand(strided::view(bias, {1, out_channels, 1}), out_chunk.shape()));
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
  if (const int64_t workers = sample_workers(tuning, p); workers > 1) {
    std::vector<Tensor> buffers(workers);  // allocated outside the parallel region
    for (Tensor& b : buffers) b = empty({rows * plane}, options);
    parallel_split(batch, workers,
                   [&](int64_t w, int64_t begin, int64_t end) { run(begin, end, buffers[w]); });
    return Tensor();
  }
  const Tensor buffer = p.direct ? Tensor() : empty({rows * chunk * plane}, options);
  run(0, batch, buffer);
  // Small planes (the whole batch is one chunk): the columns, kh * kw times the input, can stay
  // alive until the backward instead of the input, which spares the weight gradient an im2col.
  if (keep_for_weight_grad && p.wide && chunk >= batch)
    return prefix_matrix(buffer, rows, batch * plane);
  return Tensor();
}

void conv2d_im2col_backward(const Im2colConvTuning& tuning, const Tensor& x_grad,
                            const Tensor& w_grad, const Tensor& grad_out, const Tensor& x,
                            const Tensor& weight, const Tensor& saved, const ConvGeometry& geo,
                            int64_t groups) {
  if (!x_grad.defined() && !w_grad.defined()) return;
  const Device device = grad_out.device();
  const int64_t out_channels = grad_out.size(1);
  const int64_t channels = x_grad.defined() ? x_grad.size(1)
                           : x.defined()    ? x.size(1)
                                            : w_grad.size(1) * groups;
  const Plan p = make_plan(tuning, grad_out.size(0), channels, out_channels, geo);
  const int64_t batch = p.batch, plane = p.plane, rows = p.rows, chunk = p.chunk;
  // The forward's columns matrix of the whole batch, for the weight gradient (then x is unused).
  const Tensor columns = w_grad.defined() ? saved : Tensor();
  const Tensor weight_2d = x_grad.defined() ? strided::view(weight, {out_channels, -1}) : Tensor();
  const TensorOptions options = options_of(grad_out);
  if (batch == 0) {  // no GEMM runs, and the weight gradient is zero
    if (w_grad.defined()) kernels::fill(device, w_grad, 0);
    return;
  }
  const bool need_columns =
      (w_grad.defined() && !columns.defined()) || (x_grad.defined() && !p.direct);
  const bool need_grad_t = w_grad.defined() || p.wide;
  // Samples [begin, end) in chunks, through the columns buffer `buffer` and grad_out transposed in
  // `grad_t_buffer` (unused for one-sample chunks); the weight gradient goes to `w_target`
  // [O, rows / G], which the first chunk overwrites.
  const auto run = [&](int64_t begin, int64_t end, const Tensor& buffer,
                       const Tensor& grad_t_buffer, const Tensor& w_target) {
    for (int64_t start = begin; start < end; start += chunk) {
      const int64_t n = std::min(chunk, end - start);
      const Tensor g_chunk =
          strided::view(strided::narrow(grad_out, 0, start, n), {n, out_channels, plane});
      const Tensor matrix = need_columns ? prefix_matrix(buffer, rows, n * plane) : Tensor();
      // One sample's grad_out already is its [O, plane] matrix: no copy (a pass over the whole
      // gradient where a chunk holds a single sample, as in the ResNet block).
      const Tensor g_t = !need_grad_t ? Tensor()
                         : n == 1     ? strided::view(g_chunk, {out_channels, plane})
                                      : prefix_matrix(grad_t_buffer, out_channels, n * plane);
      if (need_grad_t && n > 1) kernels::copy(device, per_sample(g_t, n, plane), g_chunk);
      if (w_grad.defined()) {
        const Tensor w_matrix = columns.defined() ? columns : matrix;
        if (!columns.defined())
          kernels::im2col(device, matrix, strided::narrow(x, 0, start, n), geo);
        const double beta = start == begin ? 0 : 1;
        for (int64_t g = 0; g < groups; ++g)
          kernels::gemm(device, strided::unsqueeze(group_rows(w_target, groups, g), 0),
                        strided::unsqueeze(group_rows(g_t, groups, g), 0),
                        strided::unsqueeze(transposed(group_rows(w_matrix, groups, g)), 0), 1,
                        beta);
      }
      if (x_grad.defined()) {
        const Tensor x_grad_chunk = strided::narrow(x_grad, 0, start, n);
        if (p.wide) {
          for (int64_t g = 0; g < groups; ++g)
            kernels::gemm(device, strided::unsqueeze(group_rows(matrix, groups, g), 0),
                          strided::transpose(batched_weight(weight_2d, groups, g, 1), 1, 2),
                          strided::unsqueeze(group_rows(g_t, groups, g), 0), 1, 0);
          kernels::col2im(device, x_grad_chunk, matrix, geo);
          continue;
        }
        const Tensor cols = p.direct ? strided::view(x_grad_chunk, {n, p.channels, plane})
                                     : per_sample(matrix, n, plane);
        for (int64_t g = 0; g < groups; ++g)
          kernels::gemm(device, group_rows(cols, groups, g),
                        strided::transpose(batched_weight(weight_2d, groups, g, n), 1, 2),
                        group_rows(g_chunk, groups, g), 1, 0);
        if (!p.direct) kernels::col2im(device, x_grad_chunk, matrix, geo);
      }
    }
  };
  const Tensor w_grad_2d = w_grad.defined() ? strided::view(w_grad, {out_channels, -1}) : Tensor();
  if (const int64_t workers = sample_workers(tuning, p); workers > 1 && !columns.defined()) {
    // Each worker accumulates its samples' dW^T (transposed, as below); the partial sums are
    // added in worker order, so the same thread count gives the same bits. Allocated here,
    // outside the parallel region.
    std::vector<Tensor> buffers(workers), partials(workers);
    for (int64_t w = 0; w < workers; ++w) {
      buffers[w] = empty({rows * plane}, options);
      if (w_grad.defined()) partials[w] = empty({rows / groups, out_channels}, options);
    }
    const int64_t team = parallel_split(batch, workers, [&](int64_t w, int64_t begin, int64_t end) {
      run(begin, end, buffers[w], Tensor(), w_grad.defined() ? transposed(partials[w]) : Tensor());
    });
    if (!w_grad.defined()) return;
    for (int64_t w = 1; w < team; ++w)
      kernels::binary(device, BinaryOp::Add, OpParams{.a = 1}, partials[0], partials[0],
                      partials[w]);
    kernels::copy(device, w_grad_2d, transposed(partials[0]));
    return;
  }
  const Tensor buffer = need_columns ? empty({rows * chunk * plane}, options) : Tensor();
  // grad_out of a chunk transposed to [O, n * plane], for the weight gradient's single GEMM.
  const Tensor grad_t_buffer =
      need_grad_t && chunk > 1 ? empty({out_channels * chunk * plane}, options) : Tensor();
  // The weight gradient accumulates transposed, in dW^T [rows / G, O], where the tuning asks for
  // it (the CPU's, for OpenBLAS: backends/cpu/conv2d.cpp).
  const bool transposed_w_grad =
      w_grad.defined() && tuning.transposed_weight_grad_depth > 0 &&
      out_channels / groups >= tuning.transposed_weight_grad_channels &&
      std::min(chunk, batch) * plane >= tuning.transposed_weight_grad_depth;
  const Tensor w_grad_t =
      transposed_w_grad ? empty({rows / groups, out_channels}, options) : Tensor();
  const Tensor w_grad_target = transposed_w_grad ? transposed(w_grad_t) : w_grad_2d;
  run(0, batch, buffer, grad_t_buffer, w_grad_target);
  if (transposed_w_grad) kernels::copy(device, w_grad_2d, w_grad_target);
}

}  // namespace mixgrad::kernels
