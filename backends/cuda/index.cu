// CUDA index kernels: gather/scatter element-wise along a dim, index_select/index_scatter of whole
// slices (the same kernels, with the 1-D index broadcast along the other dims), bincount and
// nonzero.
//
// Index values are checked inside the kernels (IndexCheck): an element with a bad index is
// skipped and reported, and the launcher throws after the launch. Unlike the CPU kernels, the
// elements with good indices may then already have been written.
//
// Repeated indices: floating Add goes through atomics, whose order varies from run to run,
// unless deterministic_algorithms() is on (core/deterministic.h); then the writes are sorted by
// target and each target's contributions are added in the CPU's order.
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cub/device/device_histogram.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>
#include <limits>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/kernels.h"
#include "core/deterministic.h"
#include "core/factory.h"

namespace mixgrad::cuda {

using kernels::ScatterMode;

namespace {

// Element offsets of N operands walked together through one shape, one division per dim
// (StridedOffsets would need one per dim per operand). Size-1 dims are dropped.
template <int N>
struct MultiOffsets {
  struct Offsets {
    int64_t at[N];
  };
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims][N];

  MultiOffsets(const Shape& shape, const std::array<Shape, N>& operand_strides) {
    MG_CHECK(shape.size() <= static_cast<std::size_t>(kMaxDims), "cuda", "tensors of more than ",
             kMaxDims, " dims are not supported on CUDA, got shape ", shape);
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;
      sizes[ndim] = shape[d];
      for (int k = 0; k < N; ++k) strides[ndim][k] = operand_strides[k][d];
      ++ndim;
    }
  }
  __device__ Offsets operator()(int64_t linear) const {
    Offsets o{};
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t q = linear / sizes[d];
      const int64_t c = linear - q * sizes[d];
      for (int k = 0; k < N; ++k) o.at[k] += c * strides[d][k];
      linear = q;
    }
    return o;
  }
};

__device__ inline bool in_range(int64_t v, int64_t size) {
  return static_cast<uint64_t>(v) < static_cast<uint64_t>(size);
}

// *p += v from many threads at once; bool has no arithmetic, so Add is a logical or (every
// writer stores the same `true`, so plain stores cannot conflict).
template <class T>
__device__ inline void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    if (v) *p = true;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    // Two's complement addition is the same on the unsigned type.
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(p, v);  // int, float, double, __half (sm_70+), __nv_bfloat16 (sm_80+)
  }
}

// a + b rounded once: the _rn intrinsics are never contracted into an FMA with the product that
// made b, so a sum in the CPU's order also rounds like the CPU's.
template <class A>
__device__ inline A add_in_order(A a, A b) {
  if constexpr (std::is_same_v<A, double>) {
    return __dadd_rn(a, b);
  } else if constexpr (std::is_same_v<A, float>) {
    return __fadd_rn(a, b);
  } else {
    return a + b;
  }
}

// alpha * v as the CPU's combine computes it (alpha converted to T first for integers; bool
// ignores alpha); 16-bit floats multiply in float.
template <class T>
struct Scale {
  acc_t<T> alpha;
  __device__ T operator()(T v) const {
    if constexpr (std::is_same_v<T, bool>) {
      return v;
    } else {
      return convert<T>(alpha * convert<acc_t<T>>(v));
    }
  }
};

template <class T>
Scale<T> make_scale(double alpha) {
  if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
    return {static_cast<float>(alpha)};
  } else {
    return {static_cast<T>(alpha)};
  }
}

Shape with_dim(Shape s, int64_t dim, int64_t value) {
  s[dim] = value;
  return s;
}

// The strides that make a 0-D or 1-D index vary along `dim` only, over a tensor of `ndim` dims.
Shape index_along(const Tensor& index, int64_t ndim, int64_t dim) {
  Shape s(ndim, 0);
  s[dim] = index.dim() == 0 ? 0 : index.stride(0);
  return s;
}

// Reports every element of a 0-D or 1-D index outside [0, size).
template <class I>
__global__ void check_index_kernel(int64_t n, const I* index, int64_t stride, int64_t size,
                                   IndexCheck::Slot slot) {
  MG_CUDA_KERNEL_LOOP(i, n) {
    const int64_t v = index[i * stride];
    if (!in_range(v, size)) slot.report(v);
  }
}

// When the walked shape is empty but the index is not (index_select from a tensor with an empty
// dim elsewhere), no element visits the index, yet the CPU kernels still reject bad values.
void check_unvisited_index(const char* op, const Tensor& index, int64_t dim, int64_t size,
                           const Tensor& like) {
  const int64_t n = index.numel();
  if (n == 0) return;
  TensorDeviceGuard guard(like);
  const IndexCheck check(like);
  dispatch_index(index.dtype(), op, [&]<class I>() {
    check_index_kernel<I><<<blocks_for(n), kThreads, 0, stream_of(like)>>>(
        n, data_of<const I>(index), index.dim() == 0 ? 0 : index.stride(0), size, check.slot());
    MG_CUDA_LAUNCH_CHECK();
  });
  check.check(op, dim, size);
}

// ---- gather / index_select ----

// out[p] = in[p with p[dim] = index[p]] over the positions p of out's (= index's) shape.
// Operands: 0 index, 1 in (its stride along dim zeroed), 2 out.
template <class T, class I>
__global__ void gather_kernel(int64_t n, MultiOffsets<3> offsets, const I* index, const T* in,
                              int64_t in_step, int64_t size, T* out, IndexCheck::Slot slot) {
  MG_CUDA_KERNEL_LOOP(i, n) {
    const auto o = offsets(i);
    const int64_t v = index[o.at[0]];
    if (!in_range(v, size)) {
      slot.report(v);
      continue;
    }
    out[o.at[2]] = in[o.at[1] + v * in_step];
  }
}

// Shared by gather and index_select: `index_strides` lay the index over out's shape.
void launch_gather(const char* op, const Tensor& out, const Tensor& in, int64_t dim,
                   const Tensor& index, const Shape& index_strides) {
  const int64_t n = out.numel();
  if (n == 0) return check_unvisited_index(op, index, dim, in.size(dim), out);
  TensorDeviceGuard guard(out);
  const cudaStream_t stream = stream_of(out);
  const int64_t size = in.size(dim);
  const IndexCheck check(out);
  const MultiOffsets<3> offsets(out.shape(),
                                {index_strides, with_dim(in.strides(), dim, 0), out.strides()});
  dispatch_cuda_dtype(in.dtype(), op, [&]<class T>() {
    dispatch_index(index.dtype(), op, [&]<class I>() {
      gather_kernel<T, I><<<blocks_for(n), kThreads, 0, stream>>>(
          n, offsets, data_of<const I>(index), data_of<const T>(in), in.stride(dim), size,
          data_of<T>(out), check.slot());
      MG_CUDA_LAUNCH_CHECK();
    });
  });
  check.check(op, dim, size);
}

// ---- scatter / index_scatter ----

// Repeated targets are ordered by sorting the writes: every write is recorded as (key of its
// target, record position), and a stable radix sort groups equal keys in record order, which is
// the CPU's order of the writes. Copy then lets only the last write of each group through (the
// CPU's last-write-wins); a deterministic Add sums each group in order. Scratch is O(index),
// whatever self's size.
struct Records {
  Shape shape;          // the positions recorded, row-major
  Shape index_strides;  // the index laid over `shape`
  Shape key_strides;    // a record's key is key_base + v * key_step for index value v
  int64_t key_step = 0;
  int64_t max_key = 0;
};

// Key 0 marks a bad index (reported here, and skipped by every pass after the sort); good keys
// are shifted up by one.
template <class I>
__global__ void record_kernel(int64_t n, MultiOffsets<2> offsets, const I* index, int64_t key_step,
                              int64_t size, uint64_t* keys, int64_t* positions,
                              IndexCheck::Slot slot) {
  MG_CUDA_KERNEL_LOOP(i, n) {
    const auto o = offsets(i);
    const int64_t v = index[o.at[0]];
    const bool good = in_range(v, size);
    if (!good) slot.report(v);
    keys[i] = good ? static_cast<uint64_t>(o.at[1] + v * key_step) + 1 : 0;
    positions[i] = i;
  }
}

// The records sorted by key, record positions ascending within a key.
struct SortedRecords {
  Tensor storage;
  const uint64_t* keys = nullptr;
  const int64_t* positions = nullptr;
  int64_t n = 0;
};

SortedRecords sort_records(const char* op, const Records& records, const Tensor& index,
                           int64_t size, const Tensor& like, cudaStream_t stream,
                           IndexCheck::Slot slot) {
  const int64_t n = numel_of(records.shape);
  const auto count = static_cast<std::size_t>(n);
  SortedRecords result;
  result.n = n;
  result.storage = workspace(count * (2 * sizeof(uint64_t) + 2 * sizeof(int64_t)), like);
  auto* keys_in = data_of<uint64_t>(result.storage);
  uint64_t* keys_out = keys_in + count;
  auto* positions_in = reinterpret_cast<int64_t*>(keys_out + count);
  int64_t* positions_out = positions_in + count;
  result.keys = keys_out;
  result.positions = positions_out;
  const MultiOffsets<2> offsets(records.shape, {records.index_strides, records.key_strides});
  dispatch_index(index.dtype(), op, [&]<class I>() {
    record_kernel<I><<<blocks_for(n), kThreads, 0, stream>>>(
        n, offsets, data_of<const I>(index), records.key_step, size, keys_in, positions_in, slot);
    MG_CUDA_LAUNCH_CHECK();
  });
  // Keys lie in [0, max_key + 1]: sorting only their low bits saves radix passes.
  // (At least one bit: with an empty target dim every key is 0.)
  const int end_bit =
      std::max(1, static_cast<int>(std::bit_width(static_cast<uint64_t>(records.max_key) + 1)));
  std::size_t temp_bytes = 0;
  MG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, temp_bytes, keys_in, keys_out, positions_in, positions_out, n, 0, end_bit, stream));
  const Tensor temp = workspace(temp_bytes, like);
  MG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data_ptr(), temp_bytes, keys_in, keys_out,
                                                positions_in, positions_out, n, 0, end_bit,
                                                stream));
  return result;
}

__global__ void mark_last_kernel(int64_t n, const uint64_t* keys, const int64_t* positions,
                                 bool* last) {
  MG_CUDA_KERNEL_LOOP(p, n) {
    last[positions[p]] = p + 1 == n || keys[p + 1] != keys[p];
  }
}

// last[record position]: whether that write is the last one to its target.
struct LastWrites {
  Tensor storage;
  const bool* last = nullptr;
};

LastWrites find_last_writes(const SortedRecords& sorted, const Tensor& like, cudaStream_t stream) {
  LastWrites result;
  result.storage = workspace(static_cast<std::size_t>(sorted.n), like);
  auto* last = data_of<bool>(result.storage);
  result.last = last;
  mark_last_kernel<<<blocks_for(sorted.n), kThreads, 0, stream>>>(sorted.n, sorted.keys,
                                                                  sorted.positions, last);
  MG_CUDA_LAUNCH_CHECK();
  return result;
}

// Deterministic Add. Thread (p, e) for sorted record p and element e of the slice a record
// covers: when p starts its key's group, it adds the group's sources at e onto the target at e,
// in record order and in acc type, starting from the target's value (as the CPU's += does), then
// stores once. Each target element has exactly one such thread, so no atomics are needed; the
// cost is a serial loop over the writes to one target. e varies fastest so that the threads of
// a group read and write the slice contiguously.
template <class T>
__global__ void sum_groups_kernel(int64_t total, int64_t slice, const uint64_t* keys,
                                  const int64_t* positions, int64_t n, StridedOffsets record_src,
                                  StridedOffsets target, MultiOffsets<2> in_slice, const T* src,
                                  T* self, Scale<T> scale) {
  MG_CUDA_KERNEL_LOOP(t, total) {
    const int64_t p = t / slice;
    const uint64_t key = keys[p];
    if (key == 0 || (p > 0 && keys[p - 1] == key)) continue;
    const auto o = in_slice(t - p * slice);
    T* to = self + target(static_cast<int64_t>(key - 1)) + o.at[1];
    const T* from = src + o.at[0];
    acc_t<T> sum = convert<acc_t<T>>(*to);
    for (int64_t q = p; q < n && keys[q] == key; ++q)
      sum = add_in_order(sum, convert<acc_t<T>>(scale(from[record_src(positions[q])])));
    *to = convert<T>(sum);
  }
}

// How a scatter walks: over `shape`, the index laid over it by `index_strides`; for Copy,
// `records` and `record_strides` (a walked position's record position) order repeated writes.
// A deterministic Add reads a record's source through `record_src_strides` (over
// records.shape), finds the element of self a key names through `target_shape` and
// `target_strides` (key - 1 is a row-major position there), and adds the whole `slice` (its
// offsets in src and self: src and self strides over it) for each record.
struct ScatterWalk {
  Shape shape;
  Shape index_strides;
  Records records;
  Shape record_strides;
  Shape record_src_strides;
  Shape target_shape;
  Shape target_strides;
  Shape slice;
};

// index_scatter's walk: a record per index entry, keyed by the slice of self it writes (whole
// slices collide or not at all).
ScatterWalk slice_walk(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t n = index.numel();
  const Records records{{n}, {index.dim() == 0 ? 0 : index.stride(0)}, {0}, 1, self.size(dim) - 1};
  Shape unit(src.dim(), 0);
  unit[dim] = 1;
  return {src.shape(),
          index_along(index, src.dim(), dim),
          records,
          unit,
          {src.stride(dim)},
          {self.size(dim)},
          {self.stride(dim)},
          with_dim(src.shape(), dim, 1)};
}

// Adds src into self in the CPU's order (see sum_groups_kernel). Floating dtypes only: integer
// sums do not depend on the order.
void add_in_record_order(const char* op, const Tensor& self, const Tensor& index,
                         const ScatterWalk& walk, const Tensor& src, double alpha, int64_t size,
                         cudaStream_t stream, IndexCheck::Slot slot) {
  const SortedRecords sorted = sort_records(op, walk.records, index, size, self, stream, slot);
  const int64_t slice = numel_of(walk.slice);
  const int64_t total = sorted.n * slice;
  if (total == 0) return;
  const StridedOffsets record_src(walk.records.shape, walk.record_src_strides);
  const StridedOffsets target(walk.target_shape, walk.target_strides);
  const MultiOffsets<2> in_slice(walk.slice, {src.strides(), self.strides()});
  dispatch_cuda_floating(self.dtype(), op, [&]<class T>() {
    sum_groups_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
        total, slice, sorted.keys, sorted.positions, sorted.n, record_src, target, in_slice,
        data_of<const T>(src), data_of<T>(self), make_scale<T>(alpha));
    MG_CUDA_LAUNCH_CHECK();
  });
}

// Operands over the walked positions: 0 index, 1 self (its stride along dim zeroed), 2 src,
// 3 record position. `last` is null when no write needs ordering.
template <ScatterMode Mode, class T, class I>
__global__ void scatter_kernel(int64_t n, MultiOffsets<4> offsets, const I* index, T* self,
                               int64_t self_step, int64_t size, const T* src, Scale<T> scale,
                               const bool* last, IndexCheck::Slot slot) {
  MG_CUDA_KERNEL_LOOP(i, n) {
    const auto o = offsets(i);
    const int64_t v = index[o.at[0]];
    if (!in_range(v, size)) {
      slot.report(v);
      continue;
    }
    if (last != nullptr && !last[o.at[3]]) continue;
    T* to = self + o.at[1] + v * self_step;
    const T value = scale(src[o.at[2]]);
    if constexpr (Mode == ScatterMode::Add) {
      atomic_add(to, value);
    } else {
      *to = value;
    }
  }
}

void launch_scatter(const char* op, const Tensor& self, int64_t dim, const Tensor& index,
                    const ScatterWalk& walk, const Tensor& src, ScatterMode mode, double alpha) {
  const int64_t n = numel_of(walk.shape);
  if (n == 0) return check_unvisited_index(op, index, dim, self.size(dim), self);
  TensorDeviceGuard guard(self);
  const cudaStream_t stream = stream_of(self);
  const int64_t size = self.size(dim);
  const IndexCheck check(self);
  // Without two writes along dim into one slice there is nothing to order.
  const bool repeats = walk.shape[dim] > 1;
  if (mode == ScatterMode::Add && repeats && deterministic_algorithms() &&
      is_floating(self.dtype())) {
    add_in_record_order(op, self, index, walk, src, alpha, size, stream, check.slot());
    return check.check(op, dim, size);
  }
  LastWrites last;
  if (mode == ScatterMode::Copy && repeats)
    last = find_last_writes(sort_records(op, walk.records, index, size, self, stream, check.slot()),
                            self, stream);
  const MultiOffsets<4> offsets(walk.shape, {walk.index_strides, with_dim(self.strides(), dim, 0),
                                             src.strides(), walk.record_strides});
  dispatch_enum<ScatterMode, 2>(mode, [&]<ScatterMode Mode>() {
    dispatch_cuda_dtype(self.dtype(), op, [&]<class T>() {
      dispatch_index(index.dtype(), op, [&]<class I>() {
        scatter_kernel<Mode, T, I><<<blocks_for(n), kThreads, 0, stream>>>(
            n, offsets, data_of<const I>(index), data_of<T>(self), self.stride(dim), size,
            data_of<const T>(src), make_scale<T>(alpha), last.last, check.slot());
        MG_CUDA_LAUNCH_CHECK();
      });
    });
  });
  check.check(op, dim, size);
}

// ---- bincount ----

// Unweighted counts; integers, so the atomics' order does not matter.
template <class I, class O>
__global__ void bincount_kernel(int64_t n, const I* in, int64_t in_stride, O* out,
                                int64_t out_stride, int64_t bins, IndexCheck::Slot slot) {
  MG_CUDA_KERNEL_LOOP(i, n) {
    const int64_t v = in[i * in_stride];
    if (!in_range(v, bins)) {
      slot.report(v);
      continue;
    }
    atomic_add(out + v * out_stride, convert<O>(1));
  }
}

// cub::DeviceHistogram counts into a dense int32 or int64 histogram (int64 as unsigned long
// long: the same bits for counts) of at most INT_MAX - 1 bins (its level count is an int).
bool histogram_fits(const Tensor& out) {
  return (out.dtype() == DType::Int64 || out.dtype() == DType::Int32) &&
         (out.stride(0) == 1 || out.size(0) == 1) && out.size(0) < std::numeric_limits<int>::max();
}

template <class I>
struct StridedSample {
  const I* data;
  int64_t stride;
  __host__ __device__ I operator()(int64_t i) const { return data[i * stride]; }
};

// Bins of width 1 over [0, bins): CUB drops samples outside that range silently, so the check
// kernel reports them first, like every other index kernel. CUB writes every bin, which equals
// adding onto out because out arrives zeroed.
void count_with_histogram(const Tensor& out, const Tensor& in, IndexCheck::Slot slot,
                          cudaStream_t stream) {
  const int64_t n = in.numel(), bins = out.size(0);
  dispatch_index(in.dtype(), "bincount", [&]<class I>() {
    const I* values = data_of<const I>(in);
    check_index_kernel<I>
        <<<blocks_for(n), kThreads, 0, stream>>>(n, values, in.stride(0), bins, slot);
    MG_CUDA_LAUNCH_CHECK();
    auto count = [&]<class C>(C* counts, auto samples) {
      const int levels = static_cast<int>(bins + 1);
      std::size_t temp_bytes = 0;
      MG_CUDA_CHECK(cub::DeviceHistogram::HistogramEven(nullptr, temp_bytes, samples, counts,
                                                        levels, int64_t{0}, bins, n, stream));
      const Tensor temp = workspace(temp_bytes, out);
      MG_CUDA_CHECK(cub::DeviceHistogram::HistogramEven(
          temp.data_ptr(), temp_bytes, samples, counts, levels, int64_t{0}, bins, n, stream));
    };
    auto with_samples = [&]<class C>(C* counts) {
      if (in.stride(0) == 1) return count.template operator()<C>(counts, values);
      count.template operator()<C>(
          counts, thrust::make_transform_iterator(thrust::counting_iterator<int64_t>(0),
                                                  StridedSample<I>{values, in.stride(0)}));
    };
    if (out.dtype() == DType::Int64)
      with_samples(data_of<unsigned long long>(out));
    else
      with_samples(data_of<int>(out));
  });
}

// ---- nonzero ----

template <class T>
struct IsNonZeroAt {
  const T* data;
  StridedOffsets offsets;
  __device__ bool operator()(int64_t linear) const {
    const T v = data[offsets(linear)];
    if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
      return convert<float>(v) != 0.0f;
    } else {
      return v != T(0);
    }
  }
};

// Row r of coords gets the row-major coordinates of flat position positions[r] in `sizes`.
__global__ void coordinates_kernel(int64_t count, const int64_t* positions, StridedOffsets shape,
                                   int64_t* coords) {
  const int nd = shape.ndim;
  MG_CUDA_KERNEL_LOOP(r, count) {
    int64_t linear = positions[r];
    for (int d = nd - 1; d >= 0; --d) {
      const int64_t q = linear / shape.sizes[d];
      coords[r * nd + d] = linear - q * shape.sizes[d];
      linear = q;
    }
  }
}

}  // namespace

void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  launch_gather("gather", out, in, dim, index, index.strides());
}

void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  launch_gather("index_select", out, in, dim, index, index_along(index, out.dim(), dim));
}

void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
             ScatterMode mode) {
  // A record per index element, keyed by the element of self it writes.
  const Shape self_strides = contiguous_strides(self.shape());
  const Records records{index.shape(), index.strides(), with_dim(self_strides, dim, 0),
                        self_strides[dim], self.numel() - 1};
  launch_scatter("scatter", self, dim, index,
                 {index.shape(),
                  index.strides(),
                  records,
                  contiguous_strides(index.shape()),
                  src.strides(),
                  self.shape(),
                  self.strides(),
                  {}},
                 src, mode, 1.0);
}

void index_scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                   ScatterMode mode, double alpha) {
  launch_scatter("index_scatter", self, dim, index, slice_walk(self, dim, index, src), src, mode,
                 alpha);
}

void bincount(const Tensor& out, const Tensor& in, const Tensor& weights) {
  const int64_t n = in.numel();
  if (n == 0) return;
  // Weighted: the sum of weights per bin is index_add into out, atomic or in order.
  if (weights.defined())
    return launch_scatter("bincount", out, 0, in, slice_walk(out, 0, in, weights), weights,
                          ScatterMode::Add, 1.0);
  TensorDeviceGuard guard(out);
  const cudaStream_t stream = stream_of(out);
  const int64_t bins = out.size(0);
  const IndexCheck check(out);
  if (histogram_fits(out)) {
    count_with_histogram(out, in, check.slot(), stream);
  } else {
    dispatch_index(in.dtype(), "bincount", [&]<class I>() {
      dispatch_cuda_dtype(out.dtype(), "bincount", [&]<class O>() {
        bincount_kernel<I, O><<<blocks_for(n), kThreads, 0, stream>>>(
            n, data_of<const I>(in), in.stride(0), data_of<O>(out), out.stride(0), bins,
            check.slot());
        MG_CUDA_LAUNCH_CHECK();
      });
    });
  }
  check.check("bincount", 0, bins);
}

Tensor nonzero(const Tensor& in) {
  const int64_t numel = in.numel(), nd = in.dim();
  const auto options = TensorOptions(DType::Int64).device(in.device());
  if (numel == 0) return empty({0, nd}, options);
  TensorDeviceGuard guard(in);
  const cudaStream_t stream = stream_of(in);
  // Flat positions of the non-zero elements, in order, then their count: the one host sync,
  // since the output's shape depends on it.
  const Tensor positions = workspace(static_cast<std::size_t>(numel + 1) * sizeof(int64_t), in);
  int64_t* selected = data_of<int64_t>(positions);
  int64_t* count_on_device = selected + numel;
  const StridedOffsets layout =
      in.is_contiguous() ? StridedOffsets(Shape{numel}, Shape{1}) : StridedOffsets(in);
  dispatch_cuda_dtype(in.dtype(), "nonzero", [&]<class T>() {
    const IsNonZeroAt<T> pred{data_of<const T>(in), layout};
    const thrust::counting_iterator<int64_t> first(0);
    std::size_t temp_bytes = 0;
    MG_CUDA_CHECK(cub::DeviceSelect::If(nullptr, temp_bytes, first, selected, count_on_device,
                                        numel, pred, stream));
    const Tensor temp = workspace(temp_bytes, in);
    MG_CUDA_CHECK(cub::DeviceSelect::If(temp.data_ptr(), temp_bytes, first, selected,
                                        count_on_device, numel, pred, stream));
  });
  int64_t count = 0;
  MG_CUDA_CHECK(
      cudaMemcpyAsync(&count, count_on_device, sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
  MG_CUDA_CHECK(cudaStreamSynchronize(stream));
  Tensor out = empty({count, nd}, options);
  if (count > 0 && nd > 0) {
    coordinates_kernel<<<blocks_for(count), kThreads, 0, stream>>>(
        count, selected, StridedOffsets(in), data_of<int64_t>(out));
    MG_CUDA_LAUNCH_CHECK();
  }
  return out;
}

}  // namespace mixgrad::cuda
