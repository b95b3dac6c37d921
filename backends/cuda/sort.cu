// CUDA sort and topk along one dim.
//
// sort: the rows are copied into a contiguous buffer (sort dim last, rows = segments) and sorted
// with cub::DeviceSegmentedRadixSort, the input positions riding along as values; radix sort is
// stable, so ties keep index order in both directions, as on CPU. CUB already treats -0.0 as
// +0.0; NaN keys are mapped to one positive quiet NaN, which radix order puts above +inf, so
// every NaN ranks above every number and equal to another NaN (PyTorch's order). Sorted values
// are written from the sorted keys, so a NaN comes out as that canonical NaN.
//
// topk: narrow rows with small k (the MoE gating case) take one warp per row; anything else
// sorts the rows and keeps the first k.
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <climits>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

namespace {

// An operand seen as rows along `dim`: row r (row-major over the other dims) starts at
// element rows(r), its elements `step` apart. A 0-dim operand is one row of one element.
struct RowLayout {
  StridedOffsets rows;
  int64_t step = 0;
};

RowLayout row_layout(const Tensor& t, int64_t dim) {
  if (t.dim() == 0) return {StridedOffsets(Shape{}, Shape{}), 0};
  Shape sizes = t.shape(), strides = t.strides();
  sizes.erase(sizes.begin() + dim);
  strides.erase(strides.begin() + dim);
  return {StridedOffsets(sizes, strides), t.stride(dim)};
}

template <class T>
constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// The radix sort key of v: v itself, except that every NaN becomes the same positive quiet NaN.
template <class T>
__device__ inline T sort_key(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return isnan(v) ? __int_as_float(0x7fc00000) : v;
  } else if constexpr (std::is_same_v<T, double>) {
    return isnan(v) ? __longlong_as_double(0x7ff8000000000000LL) : v;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __hisnan(v) ? __ushort_as_half(0x7e00) : v;
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __hisnan(v) ? __ushort_as_bfloat16(0x7fc0) : v;
  } else {
    return v;
  }
}

// Rows [first_row, first_row + rows) of `in` into contiguous keys (NaN canonical) and their
// positions along the row.
template <class T>
__global__ void load_rows_kernel(int64_t first_row, int64_t rows, int64_t n, const T* in,
                                 RowLayout layout, T* keys, int64_t* positions) {
  MG_CUDA_KERNEL_LOOP(e, rows * n) {
    const int64_t r = e / n, j = e - r * n;
    keys[e] = sort_key(in[layout.rows(first_row + r) + j * layout.step]);
    positions[e] = j;
  }
}

// The first `count` entries of each sorted contiguous row into the outputs' layouts.
template <class T>
__global__ void store_rows_kernel(int64_t first_row, int64_t rows, int64_t n, int64_t count,
                                  const T* keys, const int64_t* positions, T* values,
                                  RowLayout values_layout, int64_t* indices,
                                  RowLayout indices_layout) {
  MG_CUDA_KERNEL_LOOP(e, rows * count) {
    const int64_t r = e / count, j = e - r * count;
    const int64_t from = r * n + j;
    values[values_layout.rows(first_row + r) + j * values_layout.step] = keys[from];
    indices[indices_layout.rows(first_row + r) + j * indices_layout.step] = positions[from];
  }
}

// Segment s of the contiguous buffer starts at s * n (CUB's segmented sort counts in int).
struct RowStart {
  int n;
  __host__ __device__ int operator()(int s) const { return s * n; }
};

// Sorts every row of `in` along dim and writes the first `count` entries of each into values /
// indices. A single row is sorted device-wide (a segmented sort gives a segment one block);
// several go to the segmented sort in chunks that keep each call under its int element count.
template <class T>
void sort_rows(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim,
               bool descending, int64_t count) {
  const int64_t n = in.dim() == 0 ? 1 : in.size(dim);
  const int64_t rows = n == 0 ? 0 : in.numel() / n;
  if (rows == 0 || count == 0) return;
  const bool single_row = rows == 1;
  MG_CHECK(single_row || n <= INT_MAX, "sort",
           "rows longer than 2^31 - 1 elements are not supported on CUDA, got ", n);
  TensorDeviceGuard guard(in);
  const cudaStream_t stream = stream_of(in);
  const RowLayout in_layout = row_layout(in, dim), values_layout = row_layout(values, dim),
                  indices_layout = row_layout(indices, dim);
  const int64_t chunk_rows = std::min(rows, std::max<int64_t>(1, INT_MAX / n));
  const auto chunk_elems = static_cast<std::size_t>(chunk_rows * n);
  const Tensor buffers = workspace(chunk_elems * 2 * (sizeof(T) + sizeof(int64_t)), in);
  // int64 arrays first, so the T arrays after them stay aligned.
  auto* positions_in = data_of<int64_t>(buffers);
  int64_t* positions_out = positions_in + chunk_elems;
  T* keys_in = reinterpret_cast<T*>(positions_out + chunk_elems);
  T* keys_out = keys_in + chunk_elems;
  const auto row_starts = thrust::make_transform_iterator(thrust::counting_iterator<int>(0),
                                                          RowStart{static_cast<int>(n)});
  constexpr int kBits = static_cast<int>(sizeof(T) * 8);
  auto radix_sort = [&](void* temp, std::size_t& temp_bytes, int64_t chunk) {
    if (single_row) {
      return descending ? cub::DeviceRadixSort::SortPairsDescending(
                              temp, temp_bytes, keys_in, keys_out, positions_in, positions_out, n,
                              0, kBits, stream)
                        : cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out,
                                                          positions_in, positions_out, n, 0, kBits,
                                                          stream);
    }
    const int items = static_cast<int>(chunk * n), segments = static_cast<int>(chunk);
    return descending ? cub::DeviceSegmentedRadixSort::SortPairsDescending(
                            temp, temp_bytes, keys_in, keys_out, positions_in, positions_out, items,
                            segments, row_starts, row_starts + 1, 0, kBits, stream)
                      : cub::DeviceSegmentedRadixSort::SortPairs(
                            temp, temp_bytes, keys_in, keys_out, positions_in, positions_out, items,
                            segments, row_starts, row_starts + 1, 0, kBits, stream);
  };
  std::size_t temp_bytes = 0;
  MG_CUDA_CHECK(radix_sort(nullptr, temp_bytes, chunk_rows));
  const Tensor temp = workspace(temp_bytes, in);
  for (int64_t first = 0; first < rows; first += chunk_rows) {
    const int64_t chunk = std::min(chunk_rows, rows - first);
    load_rows_kernel<T><<<blocks_for(chunk * n), kThreads, 0, stream>>>(
        first, chunk, n, data_of<const T>(in), in_layout, keys_in, positions_in);
    MG_CUDA_LAUNCH_CHECK();
    std::size_t bytes = temp_bytes;
    MG_CUDA_CHECK(radix_sort(temp.data_ptr(), bytes, chunk));
    store_rows_kernel<T><<<blocks_for(chunk * count), kThreads, 0, stream>>>(
        first, chunk, n, count, keys_out, positions_out, data_of<T>(values), values_layout,
        data_of<int64_t>(indices), indices_layout);
    MG_CUDA_LAUNCH_CHECK();
  }
}

// ---- topk of narrow rows ----

constexpr int64_t kWarpTopKMaxRow = 1024;
constexpr int64_t kWarpTopKMaxK = 16;
constexpr int kWarpsPerBlock = 4;

// What the warp kernel compares and shuffles: float for 16-bit floats, int for bool.
template <class T>
using compare_t = std::conditional_t<std::is_same_v<T, bool>, int, acc_t<T>>;

template <class T>
struct Candidate {
  compare_t<T> value;
  int index;  // -1: none
};

// a < b in the order where NaN is the largest value (backends/cpu/sort.cpp's value_less).
template <class C>
__device__ inline bool value_less(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (isnan(b)) return !isnan(a);
  }
  return a < b;
}

// Whether a ranks strictly ahead of b: better value, or an equal one at a lower index. The
// order is total, so every lane's reduction ends at the same candidate.
template <bool Largest, class T>
__device__ inline bool ahead(const Candidate<T>& a, const Candidate<T>& b) {
  const bool a_better = Largest ? value_less(b.value, a.value) : value_less(a.value, b.value);
  const bool b_better = Largest ? value_less(a.value, b.value) : value_less(b.value, a.value);
  return a_better || (!b_better && a.index < b.index);
}

template <bool Largest, class T>
__device__ inline void keep_better(Candidate<T>& best, const Candidate<T>& c) {
  if (c.index >= 0 && (best.index < 0 || ahead<Largest>(c, best))) best = c;
}

// One warp per row: the row is staged in shared memory, then k rounds each pick the best entry
// ranked after the previous pick (a per-lane scan, then a butterfly arg-max across the warp).
template <class T, bool Largest>
__global__ void topk_warp_kernel(int64_t rows, int n, int k, const T* in, RowLayout in_layout,
                                 T* values, RowLayout values_layout, int64_t* indices,
                                 RowLayout indices_layout) {
  extern __shared__ __align__(16) unsigned char shared[];
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  T* row = reinterpret_cast<T*>(shared) + static_cast<int64_t>(warp) * n;
  const int64_t warps_in_grid = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp; r < rows;
       r += warps_in_grid) {
    const T* src = in + in_layout.rows(r);
    for (int j = lane; j < n; j += 32) row[j] = src[j * in_layout.step];
    __syncwarp();
    Candidate<T> previous{compare_t<T>{}, -1};
    for (int s = 0; s < k; ++s) {
      Candidate<T> best{compare_t<T>{}, -1};
      for (int j = lane; j < n; j += 32) {
        const Candidate<T> c{convert<compare_t<T>>(row[j]), j};
        if (previous.index >= 0 && !ahead<Largest>(previous, c)) continue;
        keep_better<Largest>(best, c);
      }
      for (int offset = 16; offset > 0; offset >>= 1) {
        const Candidate<T> other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                                 __shfl_xor_sync(0xffffffffu, best.index, offset)};
        keep_better<Largest>(best, other);
      }
      if (best.index < 0) break;  // k > n: the op rejects it, so never taken
      if (lane == 0) {
        values[values_layout.rows(r) + s * values_layout.step] = row[best.index];
        indices[indices_layout.rows(r) + s * indices_layout.step] = best.index;
      }
      previous = best;
    }
    __syncwarp();  // the row buffer is refilled for the next row
  }
}

template <class T, bool Largest>
void topk_by_warps(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k,
                   int64_t dim, int64_t n) {
  const int64_t rows = in.numel() / n;
  TensorDeviceGuard guard(in);
  const cudaStream_t stream = stream_of(in);
  const auto shared_bytes = static_cast<std::size_t>(kWarpsPerBlock * n) * sizeof(T);
  topk_warp_kernel<T, Largest>
      <<<blocks_for(rows, kWarpsPerBlock), kWarpsPerBlock * 32, shared_bytes, stream>>>(
          rows, static_cast<int>(n), static_cast<int>(k), data_of<const T>(in), row_layout(in, dim),
          data_of<T>(values), row_layout(values, dim), data_of<int64_t>(indices),
          row_layout(indices, dim));
  MG_CUDA_LAUNCH_CHECK();
}

}  // namespace

void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim,
          bool descending, bool stable) {
  (void)stable;  // radix sort is stable
  dispatch_cuda_dtype(in.dtype(), "sort", [&]<class T>() {
    const int64_t n = in.dim() == 0 ? 1 : in.size(dim);
    sort_rows<T>(values, indices, in, dim, descending, n);
  });
}

void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
          bool largest, bool sorted) {
  (void)sorted;  // both paths give sorted output
  const int64_t n = in.dim() == 0 ? 1 : in.size(dim);
  if (k == 0 || in.numel() == 0) return;
  dispatch_cuda_dtype(in.dtype(), "topk", [&]<class T>() {
    if (n > kWarpTopKMaxRow || k > kWarpTopKMaxK) {
      sort_rows<T>(values, indices, in, dim, largest, k);
      return;
    }
    dispatch_enum<bool, 2>(largest, [&]<bool Largest>() {
      topk_by_warps<T, Largest>(values, indices, in, k, dim, n);
    });
  });
}

}  // namespace mixgrad::cuda
