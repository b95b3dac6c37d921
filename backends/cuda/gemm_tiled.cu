// The tiled matrix product behind integer gemm and empty inner dims (see blas.h). Each 16x16
// block computes one 16x16 tile of one output matrix, staging 16-wide slabs of a and b in shared
// memory; grid-stride loops over batches and tiles keep any size within the grid limits.
#include <algorithm>
#include <type_traits>

#include "backends/cuda/blas.h"
#include "backends/cuda/common.cuh"

namespace mixgrad::cuda {

namespace {

constexpr int kTile = 16;

// Integer products accumulate in the unsigned type of the same width, so overflow wraps (as the
// CPU's plain loop does in practice) without signed-overflow undefined behaviour.
template <class T>
struct gemm_acc {
  using type = acc_t<T>;
};
template <class T>
requires std::is_integral_v<T>
struct gemm_acc<T> {
  using type = std::make_unsigned_t<T>;
};
template <class T>
using gemm_acc_t = typename gemm_acc<T>::type;

struct MatrixStrides {
  int64_t batch, row, col;
};

template <class T>
struct TiledGemm {
  T* out;
  const T* a;
  const T* b;
  int64_t batches, m, n, k;
  MatrixStrides out_s, a_s, b_s;
  gemm_acc_t<T> alpha, beta;
  bool beta_zero;  // out's old contents are not read (they may be NaN)
};

template <class T>
__global__ void gemm_tiled_kernel(TiledGemm<T> p) {
  using A = gemm_acc_t<T>;
  // +1 column: the column-wise reads of tile_a would otherwise hit one bank.
  __shared__ A tile_a[kTile][kTile + 1];
  __shared__ A tile_b[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row_tiles = (p.m + kTile - 1) / kTile;
  const int64_t col_tiles = (p.n + kTile - 1) / kTile;
  // Loop bounds depend on blockIdx only, so every thread of a block reaches each __syncthreads.
  for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
    const T* a = p.a + batch * p.a_s.batch;
    const T* b = p.b + batch * p.b_s.batch;
    for (int64_t rt = blockIdx.y; rt < row_tiles; rt += gridDim.y) {
      for (int64_t ct = blockIdx.x; ct < col_tiles; ct += gridDim.x) {
        const int64_t i = rt * kTile + ty, j = ct * kTile + tx;
        A acc = A(0);
        for (int64_t k0 = 0; k0 < p.k; k0 += kTile) {
          const int64_t ka = k0 + tx, kb = k0 + ty;
          tile_a[ty][tx] =
              i < p.m && ka < p.k ? convert<A>(a[i * p.a_s.row + ka * p.a_s.col]) : A(0);
          tile_b[ty][tx] =
              kb < p.k && j < p.n ? convert<A>(b[kb * p.b_s.row + j * p.b_s.col]) : A(0);
          __syncthreads();
#pragma unroll
          for (int q = 0; q < kTile; ++q) acc += tile_a[ty][q] * tile_b[q][tx];
          __syncthreads();
        }
        if (i < p.m && j < p.n) {
          T& dst = p.out[batch * p.out_s.batch + i * p.out_s.row + j * p.out_s.col];
          const A scaled = p.alpha * acc;
          dst = convert<T>(p.beta_zero ? scaled : scaled + p.beta * convert<A>(dst));
        }
      }
    }
  }
}

// A broadcast batch (or a single one) is read at batch stride 0.
MatrixStrides strides_of(const Tensor& t) {
  return {t.size(0) > 1 ? t.stride(0) : 0, t.stride(1), t.stride(2)};
}

template <class T>
void launch_tiled(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  using A = gemm_acc_t<T>;
  TiledGemm<T> p;
  p.out = data_of<T>(out);
  p.a = data_of<const T>(a);
  p.b = data_of<const T>(b);
  p.batches = out.size(0);
  p.m = out.size(1);
  p.n = out.size(2);
  p.k = a.size(2);
  p.out_s = {out.stride(0), out.stride(1), out.stride(2)};
  p.a_s = strides_of(a);
  p.b_s = strides_of(b);
  // The CPU loop scales by alpha and beta converted to T first; so does this.
  p.alpha = convert<A>(convert<T>(alpha));
  p.beta = convert<A>(convert<T>(beta));
  p.beta_zero = beta == 0;
  const auto capped = [](int64_t v) {
    return static_cast<unsigned>(std::clamp<int64_t>(v, 1, 65535));
  };
  const dim3 grid(capped((p.n + kTile - 1) / kTile), capped((p.m + kTile - 1) / kTile),
                  capped(p.batches));
  gemm_tiled_kernel<T><<<grid, dim3(kTile, kTile), 0, stream_of(out)>>>(p);
  MG_CUDA_LAUNCH_CHECK();
}

}  // namespace

void gemm_tiled(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  if (out.numel() == 0) return;
  TensorDeviceGuard guard(out);
  dispatch_cuda_dtype(out.dtype(), "gemm", [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      throw Error("gemm", "bool matrix products are not supported");
    } else {
      launch_tiled<T>(out, a, b, alpha, beta);
    }
  });
}

}  // namespace mixgrad::cuda
