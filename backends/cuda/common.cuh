#pragma once
// What every CUDA kernel file shares: error checks that become mixgrad::Error, the stream and
// device a tensor's work runs on, launch sizes, a strided-offset calculator for tensors of any
// layout, dtype dispatch including float16/bfloat16, and device-side index checking.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <optional>
#include <type_traits>

#include "backends/cuda/runtime.h"
#include "core/dispatch.h"
#include "core/error.h"
#include "core/tensor.h"

namespace mixgrad::cuda {

inline constexpr int kThreads = 256;
// Blocks of `threads` covering n elements; capped so the grid-stride loops stay in range.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// Grid-stride loop over [0, n) with 64-bit indices.
#define MG_CUDA_KERNEL_LOOP(i, n)                                                        \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

inline constexpr int kMaxDims = 16;

// Maps a linear (row-major) position in `sizes` to the element offset given per-dim strides.
// Passed to kernels by value. Up to kMaxDims dims (more is an Error at construction).
struct StridedOffsets {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims];

  StridedOffsets() = default;
  // t's own layout.
  explicit StridedOffsets(const Tensor& t) : StridedOffsets(t.shape(), t.strides()) {}
  StridedOffsets(const Shape& shape, const Shape& strides_) {
    MG_CHECK(shape.size() <= static_cast<std::size_t>(kMaxDims), "cuda", "tensors of more than ",
             kMaxDims, " dims are not supported on CUDA, got shape ", shape);
    ndim = static_cast<int>(shape.size());
    for (int d = 0; d < ndim; ++d) {
      sizes[d] = shape[d];
      strides[d] = strides_[d];
    }
  }
  __host__ __device__ int64_t operator()(int64_t linear) const {
    int64_t offset = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t q = linear / sizes[d];
      offset += (linear - q * sizes[d]) * strides[d];
      linear = q;
    }
    return offset;
  }
};

// Element pointer of a tensor (offset applied) as T*.
template <class T>
T* data_of(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

// The type arithmetic on T runs in: float for float16/bfloat16, T otherwise.
template <class T>
struct acc_type {
  using type = T;
};
template <>
struct acc_type<__half> {
  using type = float;
};
template <>
struct acc_type<__nv_bfloat16> {
  using type = float;
};
template <class T>
using acc_t = typename acc_type<T>::type;

// dispatch_dtype plus the CUDA storage-only types: f.template operator()<T>() with T one of
// float, double, int64_t, int32_t, bool, __half, __nv_bfloat16.
template <class F>
decltype(auto) dispatch_cuda_dtype(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float16:
      return f.template operator()<__half>();
    case DType::BFloat16:
      return f.template operator()<__nv_bfloat16>();
    default:
      return dispatch_dtype(t, op, std::forward<F>(f));
  }
}
template <class F>
decltype(auto) dispatch_cuda_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float16:
      return f.template operator()<__half>();
    case DType::BFloat16:
      return f.template operator()<__nv_bfloat16>();
    default:
      return dispatch_floating(t, op, std::forward<F>(f));
  }
}

// Conversions between any two CUDA element types (through float for the 16-bit ones).
template <class To, class From>
__host__ __device__ inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, __half> || std::is_same_v<From, __nv_bfloat16>) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, __half>) {
    return __float2half(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, __nv_bfloat16>) {
    return __float2bfloat16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

// Device-side index checking: kernels report the first out-of-range index they meet through
// report(); check() then waits for the stream and throws the same Error the CPU kernels throw.
// One small device allocation and one host sync per checked launch.
class IndexCheck {
 public:
  struct Slot {
    unsigned long long* flag;  // 0 until an index is bad
    long long* value;          // the bad index
    // Called by kernels; the first report wins.
    __device__ void report(int64_t bad) const {
      if (atomicCAS(flag, 0ull, 1ull) == 0ull) *value = static_cast<long long>(bad);
    }
  };
  explicit IndexCheck(const Tensor& like);
  Slot slot() const { return slot_; }
  // Throws detail::throw_index_out_of_bounds(op, value, dim, size, negative_allowed) if a
  // kernel reported.
  void check(const char* op, int64_t dim, int64_t size, bool negative_allowed = false) const;
  // The reported index (waiting for the stream), if any: for ops whose CPU kernel words the
  // error differently.
  std::optional<int64_t> reported() const;

 private:
  Tensor buffer_;
  Slot slot_;
  cudaStream_t stream_;
};

}  // namespace mixgrad::cuda
