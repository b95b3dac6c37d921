// CUDA scan, the running sum only so far (contract in backends/kernels.h, reference
// backends/cpu/reduce.cpp): running sums along `dim` of every row (each index of the other
// dims), with any strides, negative ones included. Three shapes of work:
//  - one long row: cub::DeviceScan over the whole device, reading and writing through strided
//    iterators (a reversed row, as the backward pass runs it, takes the same path);
//  - rows that are short, or neighbours in memory while their own elements are not (cumsum over
//    dim 0 of [N, D]): one thread per row, so a warp reads 32 neighbouring elements per step;
//  - otherwise one block per row: cub::BlockScan over tiles, carrying the running prefix.
// Sums accumulate in float for float16/bfloat16, in double for float32/float64 (as the CPU
// does for float32) and in int64 for integers; each element is converted to the row's dtype
// as it is written.
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/tabulate_output_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

namespace {

template <class T>
using ScanAcc = std::conditional_t<std::is_integral_v<T>, int64_t,
                                   std::conditional_t<sizeof(T) == 2, float, double>>;

// Rows of n elements, `step` apart in the input / output; row k starts at rows_in(k) /
// rows_out(k).
struct RowPlan {
  StridedOffsets rows_in, rows_out;
  int64_t rows = 0;
  int64_t n = 0;
  int64_t in_step = 0;
  int64_t out_step = 0;
};

template <class T>
struct StridedLoad {
  const T* src;
  int64_t step;
  __host__ __device__ ScanAcc<T> operator()(int64_t i) const {
    return convert<ScanAcc<T>>(src[i * step]);
  }
};

template <class T>
struct StridedStore {
  T* dst;
  int64_t step;
  __host__ __device__ void operator()(int64_t i, ScanAcc<T> v) const {
    dst[i * step] = convert<T>(v);
  }
};

template <class T>
void cumsum_device_wide(const RowPlan& p, const T* src, T* dst, const Tensor& like) {
  auto in = thrust::make_transform_iterator(thrust::counting_iterator<int64_t>(0),
                                            StridedLoad<T>{src, p.in_step});
  auto out = thrust::make_tabulate_output_iterator(StridedStore<T>{dst, p.out_step});
  cudaStream_t stream = stream_of(like);
  std::size_t bytes = 0;
  MG_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, bytes, in, out, p.n, stream));
  // A null temp pointer would make the second call another size query.
  const Tensor temp = workspace(bytes > 0 ? bytes : 1, like);
  MG_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp.data_ptr(), bytes, in, out, p.n, stream));
}

template <class T>
__global__ void cumsum_thread_per_row(RowPlan p, const T* in, T* out) {
  MG_CUDA_KERNEL_LOOP(row, p.rows) {
    const T* src = in + p.rows_in(row);
    T* dst = out + p.rows_out(row);
    ScanAcc<T> acc = 0;
    for (int64_t i = 0; i < p.n; ++i) {
      acc += convert<ScanAcc<T>>(src[i * p.in_step]);
      dst[i * p.out_step] = convert<T>(acc);
    }
  }
}

// BlockScan's prefix callback: warp 0 calls it once per tile with the tile's total and gets the
// sum of all earlier tiles.
template <class A>
struct RunningPrefix {
  A total;
  __device__ A operator()(A tile_total) {
    const A before = total;
    total += tile_total;
    return before;
  }
};

constexpr int kItems = 4;  // per thread per tile

template <class T>
__global__ void cumsum_block_per_row(RowPlan p, const T* in, T* out) {
  using A = ScanAcc<T>;
  using Scan = cub::BlockScan<A, kThreads>;
  __shared__ typename Scan::TempStorage temp;
  constexpr int64_t kTile = static_cast<int64_t>(kThreads) * kItems;
  // Row and tile loops have block-uniform bounds, as the scan's barriers need.
  for (int64_t row = blockIdx.x; row < p.rows; row += gridDim.x) {
    const T* src = in + p.rows_in(row);
    T* dst = out + p.rows_out(row);
    RunningPrefix<A> prefix{A(0)};
    for (int64_t tile = 0; tile < p.n; tile += kTile) {
      const int64_t first = tile + static_cast<int64_t>(threadIdx.x) * kItems;
      A v[kItems];
#pragma unroll
      for (int k = 0; k < kItems; ++k)
        v[k] = first + k < p.n ? convert<A>(src[(first + k) * p.in_step]) : A(0);
      Scan(temp).InclusiveSum(v, v, prefix);
#pragma unroll
      for (int k = 0; k < kItems; ++k)
        if (first + k < p.n) dst[(first + k) * p.out_step] = convert<T>(v[k]);
      // temp is reused by the next tile's scan.
      __syncthreads();
    }
  }
}

RowPlan plan_rows(const Tensor& out, const Tensor& in, int64_t dim) {
  RowPlan p;
  // A 0-dim tensor is one row of one element.
  if (in.dim() == 0) {
    p.rows = p.n = p.in_step = p.out_step = 1;
    return p;
  }
  Shape sizes, in_strides, out_strides;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (d == dim) continue;
    sizes.push_back(in.shape()[d]);
    in_strides.push_back(in.strides()[d]);
    out_strides.push_back(out.strides()[d]);
  }
  p.rows_in = StridedOffsets(sizes, in_strides);
  p.rows_out = StridedOffsets(sizes, out_strides);
  p.rows = numel_of(sizes);
  p.n = in.shape()[dim];
  p.in_step = in.strides()[dim];
  p.out_step = out.strides()[dim];
  return p;
}

template <class T>
void cumsum_typed(const Tensor& out, const Tensor& in, int64_t dim) {
  const RowPlan p = plan_rows(out, in, dim);
  if (p.rows == 0 || p.n == 0) return;
  const T* src = data_of<const T>(in);
  T* dst = data_of<T>(out);
  constexpr int64_t kShortRow = 32;
  if (p.rows == 1 && p.n > kThreads * kItems) {
    cumsum_device_wide<T>(p, src, dst, in);
    return;
  }
  cudaStream_t stream = stream_of(in);
  // Many rows whose own elements lie apart: a thread per row reads the rows' neighbouring
  // elements together when the rows are neighbours (dim not innermost), and is no worse than a
  // block striding through each row when they are not.
  const bool many_strided_rows = p.in_step != 1 && p.rows >= 2048;
  if (p.n <= kShortRow || many_strided_rows) {
    cumsum_thread_per_row<T><<<blocks_for(p.rows), kThreads, 0, stream>>>(p, src, dst);
  } else {
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(p.rows, 65535 * 8));
    cumsum_block_per_row<T><<<blocks, kThreads, 0, stream>>>(p, src, dst);
  }
  MG_CUDA_LAUNCH_CHECK();
}

}  // namespace

// Only the running sum so far: the other scans (cumprod, cummax, cummin, logcumsumexp) are
// written for the CPU, and their CUDA kernels wait for a session that can run them on a GPU.
void scan(kernels::ScanOp op, const Tensor& out, const Tensor& /*indices*/, const Tensor& in,
          int64_t dim) {
  MG_CHECK(op == kernels::ScanOp::Sum, "scan",
           "only the running sum (cumsum) runs on CUDA so far; cumprod, cummax, cummin and "
           "logcumsumexp run on the CPU (got ",
           describe(in), ")");
  TensorDeviceGuard guard(in);
  dispatch_cuda_dtype(in.dtype(), "cumsum", [&]<class T>() { cumsum_typed<T>(out, in, dim); });
}

}  // namespace mixgrad::cuda
