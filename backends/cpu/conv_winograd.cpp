// Winograd F(2x2, 3x3) convolution as tile transforms around one batched GEMM over the 16 tile
// elements (see backends/cpu/conv2d.h). With V the input tiles [16, C, T], U = G w G^T [16, O, C]
// and M the output tiles [16, O, T]:
//   forward      M = U @ V,                  out = A^T M A
//   backward     dM = A dY A^T,  dU += dM @ V^T (then dW = G^T dU G),  dV = U^T @ dM (then dX
//                is the sum of B dV B^T over the windows)
// With groups, each group's rows of U, V and M form its own product (the transforms are per
// channel and do not care). The batch runs in chunks of samples whose tiles fit two reused
// buffers.
#include <algorithm>
#include <vector>

#include "backends/cpu/conv2d.h"
#include "backends/cpu/parallel.h"
#include "core/factory.h"
#include "core/strided_view.h"

namespace mixgrad::cpu {

namespace {

using kernels::WinogradTransform;

constexpr int64_t kTileElements = 16;
// Elements of each tile buffer per chunk (4 MiB of float32).
constexpr int64_t kTilesBudget = int64_t{1} << 20;
// Fewer channels per group than these leave the tile GEMMs too shallow to pay for the transforms
// (measured at 1 thread, batch 32 on 32 x 32: 8 -> 16 channels forward + backward 1.5x faster
// than im2col + GEMM). Up to 8 output channels the direct kernels (conv2d_direct) win.
constexpr int64_t kMinChannels = 8;
constexpr int64_t kMinOutChannels = 16;

int64_t tiles_per_sample(const kernels::ConvGeometry& g) {
  return ((g.out_h + 1) / 2) * ((g.out_w + 1) / 2);
}

// Elements between a tiles tensor's [C, T] matrices: without it the 16 tile elements of a plane
// are often a multiple of 4 KiB apart (C * T = 64 * 1024 in the ResNet block) and the rows the
// transforms write at once evict each other from the same cache sets.
constexpr int64_t kTileGap = 32;

// Rows [g * rows / groups, +rows / groups) of [16, rows, cols].
Tensor group_rows(const Tensor& t, int64_t groups, int64_t g) {
  const int64_t rows = t.size(1) / groups;
  return strided::narrow(t, 1, g * rows, rows);
}

// The weight transform is linear in each 3 x 3 kernel: U[4i + j] = sum over (k, l) of
// G[i][k] G[j][l] w[3k + l], a [16, 9] matrix (G's Kronecker square) applied to every kernel. As
// one GEMM over all O * K kernels it runs at BLAS speed where a loop writing 16 strided rows per
// kernel thrashed the cache (measured: ~10% of a ResNet-18 training step).
Tensor weight_transform_matrix(const TensorOptions& options) {
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  std::vector<double> m(kTileElements * 9);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l) m[(4 * i + j) * 9 + 3 * k + l] = G[i][k] * G[j][l];
  const Tensor matrix = empty({kTileElements, 9}, options);  // exact in any floating dtype
  kernels::copy(options.device_, matrix, from_blob(m.data(), {kTileElements, 9}, kFloat64));
  return matrix;
}

// U [16, O, K] of weight [O, K, 3, 3].
Tensor transform_weight(const Device& device, const Tensor& weight, const TensorOptions& options) {
  const int64_t out_channels = weight.size(0), count = out_channels * weight.size(1);
  const Tensor u = empty({kTileElements, out_channels, weight.size(1)}, options);
  kernels::gemm(device, strided::view(u, {1, kTileElements, count}),
                strided::unsqueeze(weight_transform_matrix(options), 0),
                strided::unsqueeze(strided::transpose(strided::view(weight, {count, 9}), 0, 1), 0),
                1, 0);
  return u;
}

// The weight gradient [O, K, 3, 3] of dU [16, O, K]: the transposed map.
void transform_weight_grad(const Device& device, const Tensor& grad_weight, const Tensor& du,
                           const TensorOptions& options) {
  const int64_t count = du.size(1) * du.size(2);
  kernels::gemm(
      device, strided::view(grad_weight, {1, count, 9}),
      strided::unsqueeze(strided::transpose(strided::view(du, {kTileElements, count}), 0, 1), 0),
      strided::unsqueeze(weight_transform_matrix(options), 0), 1, 0);
}

// The prefix of `buffer` as tiles [16, channels, count].
Tensor tiles_view(const Tensor& buffer, int64_t channels, int64_t count) {
  return strided::as_strided(buffer, {kTileElements, channels, count},
                             {channels * count + kTileGap, count, 1});
}

// How the batch is cut into chunks of samples and the chunks shared among threads: a thread takes
// whole chunks and runs their transforms and GEMMs single-threaded, one parallel job per pass
// instead of one per transform and per GEMM: at 2 threads OpenBLAS's own threading spent as long
// synchronising the 64 x 64 x 1024 tile products of the ResNet block as multiplying.
struct ChunkPlan {
  int64_t samples = 1;  // per chunk
  int64_t chunks = 0;
  int64_t workers = 1;
};

ChunkPlan plan_chunks(int64_t batch, int64_t widest, int64_t per_sample) {
  const int64_t threads = in_parallel() ? 1 : std::max(get_num_threads(), 1);
  ChunkPlan p;
  // Fit the budget, and give each thread a chunk where the batch allows.
  p.samples =
      std::clamp<int64_t>(kTilesBudget / std::max<int64_t>(kTileElements * widest * per_sample, 1),
                          1, std::max<int64_t>((batch + threads - 1) / threads, 1));
  p.chunks = (batch + p.samples - 1) / p.samples;
  p.workers = std::min(threads, p.chunks);
  return p;
}

// One thread's two tile buffers, for the input side (C channels) and the output side (O).
struct TileBuffers {
  Tensor input_side, output_side;
};

// Runs body(worker, start, n, buffers, first) for each chunk of `n` samples from `start`, on
// `plan`'s workers (`first`: the worker's first chunk); returns the number of workers, every one
// of which ran.
template <class F>
int64_t for_each_chunk(const ChunkPlan& plan, int64_t batch, int64_t channels, int64_t out_channels,
                       int64_t per_sample, const TensorOptions& options, F&& body) {
  const int64_t count = plan.samples * per_sample;
  std::vector<TileBuffers> buffers(plan.workers);  // allocated outside the parallel region
  for (TileBuffers& b : buffers)
    b = {empty({kTileElements * (channels * count + kTileGap)}, options),
         empty({kTileElements * (out_channels * count + kTileGap)}, options)};
  return parallel_split(plan.chunks, plan.workers, [&](int64_t w, int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t start = c * plan.samples;
      body(w, start, std::min(plan.samples, batch - start), buffers[w], c == begin);
    }
  });
}

}  // namespace

bool use_winograd(DType dtype, int64_t group_channels, int64_t group_out_channels,
                  const kernels::ConvGeometry& g) {
  return (dtype == kFloat32 || dtype == kFloat64) && g.kernel_h == 3 && g.kernel_w == 3 &&
         g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         group_channels >= kMinChannels && group_out_channels >= kMinOutChannels;
}

void winograd_conv2d(const Tensor& out, const Tensor& input, const Tensor& weight,
                     const Tensor& bias, const kernels::ConvGeometry& geometry, int64_t groups) {
  const Device device = input.device();
  const TensorOptions options = options_of(input);
  const int64_t batch = input.size(0), channels = input.size(1), out_channels = weight.size(0);
  const int64_t per_sample = tiles_per_sample(geometry);
  const Tensor u = transform_weight(device, weight, options);
  const ChunkPlan plan = plan_chunks(batch, std::max(channels, out_channels), per_sample);
  for_each_chunk(plan, batch, channels, out_channels, per_sample, options,
                 [&](int64_t, int64_t start, int64_t n, const TileBuffers& buffers, bool) {
                   const int64_t count = n * per_sample;
                   const Tensor v = tiles_view(buffers.input_side, channels, count);
                   const Tensor m = tiles_view(buffers.output_side, out_channels, count);
                   kernels::winograd(device, v, strided::narrow(input, 0, start, n),
                                     WinogradTransform::Input, geometry);
                   for (int64_t g = 0; g < groups; ++g)
                     kernels::gemm(device, group_rows(m, groups, g), group_rows(u, groups, g),
                                   group_rows(v, groups, g), 1, 0);
                   kernels::winograd(device, strided::narrow(out, 0, start, n), m,
                                     WinogradTransform::Output, geometry);
                 });
  if (bias.defined())
    kernels::binary(device, kernels::BinaryOp::Add, kernels::OpParams{.a = 1}, out, out,
                    strided::expand(strided::view(bias, {1, out_channels, 1, 1}), out.shape()));
}

void winograd_conv2d_backward(const Tensor& grad_input, const Tensor& grad_weight,
                              const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                              const kernels::ConvGeometry& geometry, int64_t groups) {
  const Device device = grad_out.device();
  const TensorOptions options = options_of(grad_out);
  const int64_t batch = grad_out.size(0), out_channels = grad_out.size(1);
  const int64_t channels = grad_input.defined() ? grad_input.size(1) : input.size(1);
  const int64_t group_channels = channels / groups;
  const int64_t per_sample = tiles_per_sample(geometry);
  Tensor u_t;  // U^T [16, C / G, O]
  if (grad_input.defined()) {
    u_t = strided::transpose(transform_weight(device, weight, options), 1, 2);
  }
  const ChunkPlan plan = plan_chunks(batch, std::max(channels, out_channels), per_sample);
  // Each worker sums its chunks' dU; the partial sums are added in worker order, so the same
  // thread count gives the same bits.
  std::vector<Tensor> du(grad_weight.defined() ? plan.workers : 0);
  for (Tensor& d : du) d = empty({kTileElements, out_channels, group_channels}, options);
  const int64_t team = for_each_chunk(
      plan, batch, channels, out_channels, per_sample, options,
      [&](int64_t w, int64_t start, int64_t n, const TileBuffers& buffers, bool first) {
        const int64_t count = n * per_sample;
        const Tensor dm = tiles_view(buffers.output_side, out_channels, count);
        kernels::winograd(device, dm, strided::narrow(grad_out, 0, start, n),
                          WinogradTransform::OutputAdjoint, geometry);
        if (grad_weight.defined()) {
          const Tensor v = tiles_view(buffers.input_side, channels, count);
          kernels::winograd(device, v, strided::narrow(input, 0, start, n),
                            WinogradTransform::Input, geometry);
          // dU [16, O, C / G]: group g's output rows from its rows of dM and of V.
          for (int64_t g = 0; g < groups; ++g)
            kernels::gemm(device, group_rows(du[w], groups, g), group_rows(dm, groups, g),
                          strided::transpose(group_rows(v, groups, g), 1, 2), 1, first ? 0 : 1);
        }
        if (grad_input.defined()) {
          const Tensor dv = tiles_view(buffers.input_side, channels, count);
          // U^T [16, C / G, O]: group g's columns (its output channels) are a slice of dim 2.
          for (int64_t g = 0; g < groups; ++g)
            kernels::gemm(
                device, group_rows(dv, groups, g),
                strided::narrow(u_t, 2, g * (out_channels / groups), out_channels / groups),
                group_rows(dm, groups, g), 1, 0);
          kernels::winograd(device, strided::narrow(grad_input, 0, start, n), dv,
                            WinogradTransform::InputAdjoint, geometry);
        }
      });
  if (!grad_weight.defined()) return;
  for (int64_t w = 1; w < team; ++w)
    kernels::binary(device, kernels::BinaryOp::Add, kernels::OpParams{.a = 1}, du[0], du[0], du[w]);
  transform_weight_grad(device, grad_weight, du[0], options);
}

}  // namespace mixgrad::cpu
