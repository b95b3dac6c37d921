// CUDA element-wise kernels: fill, arange, unary, binary, where. The per-element math is
// backends/scalar_math.h, shared with the CPU; float16/bfloat16 compute in float and store back.
#include <string>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/elementwise_loop.cuh"
#include "backends/cuda/kernels.h"
#include "backends/scalar_math.h"

namespace mixgrad::cuda {

using kernels::BinaryOp;
using kernels::OpParams;
using kernels::UnaryOp;

namespace {

template <class T>
struct FillFn {
  T value;
  __device__ T operator()() const { return value; }
};

template <class T>
__global__ void arange_kernel(int64_t n, T* out, double start, double step) {
  // _rn intrinsics keep nvcc from fusing into an FMA, so the values match the CPU's bit for bit.
  MG_CUDA_KERNEL_LOOP(i, n) {
    out[i] = convert<T>(__dadd_rn(start, __dmul_rn(static_cast<double>(i), step)));
  }
}

// The stored type of an op's result: bool for comparisons / LogicalNot, else the input's type.
template <class Result, class T>
using stored_t = std::conditional_t<std::is_same_v<Result, bool>, bool, T>;

template <UnaryOp Op, class T>
struct UnaryFn {
  using Acc = acc_t<T>;
  using Out = stored_t<decltype(kernels::unary_fn<Op, Acc>(Acc{}, OpParams{})), T>;
  OpParams params;
  __device__ Out operator()(T x) const {
    return convert<Out>(kernels::unary_fn<Op, Acc>(convert<Acc>(x), params));
  }
};

template <BinaryOp Op, class T>
struct BinaryFn {
  using Acc = acc_t<T>;
  using Out = stored_t<decltype(kernels::binary_fn<Op, Acc>(Acc{}, Acc{}, OpParams{})), T>;
  OpParams params;
  __device__ Out operator()(T x, T y) const {
    return convert<Out>(kernels::binary_fn<Op, Acc>(convert<Acc>(x), convert<Acc>(y), params));
  }
};

template <class T>
struct WhereFn {
  __device__ T operator()(bool c, T x, T y) const { return c ? x : y; }
};

// Instantiates `launch` only for dtypes the op accepts: the op layer promotes integer inputs of
// float-only ops, so the throw (worded as the CPU's) means a caller skipped that.
template <bool NeedsFloat, class T, class Launch>
void launch_if_accepted(const char* op, const char* needs, DType dtype, Launch&& launch) {
  if constexpr (NeedsFloat && !std::is_floating_point_v<acc_t<T>>) {
    throw Error(op, std::string(needs) + dtype_name(dtype));
  } else {
    launch();
  }
}

}  // namespace

void fill(const Tensor& dst, Scalar value) {
  dispatch_cuda_dtype(dst.dtype(), "fill", [&]<class T>() {
    map_elements<T>(dst, FillFn<T>{convert<T>(value.to<acc_t<T>>())});
  });
}

void arange(const Tensor& out, double start, double step) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_cuda_dtype(out.dtype(), "arange", [&]<class T>() {
    TensorDeviceGuard guard(out);
    arange_kernel<<<blocks_for(n), kThreads, 0, stream_of(out)>>>(n, data_of<T>(out), start, step);
    MG_CUDA_LAUNCH_CHECK();
  });
}

void unary(UnaryOp op, OpParams params, const Tensor& out, const Tensor& in) {
  dispatch_enum<UnaryOp, kernels::kNumUnaryOps>(op, [&]<UnaryOp Op>() {
    dispatch_cuda_dtype(in.dtype(), "unary", [&]<class T>() {
      launch_if_accepted<kernels::unary_needs_float(Op), T>(
          "unary", "op needs a floating input, got ", in.dtype(), [&] {
            using F = UnaryFn<Op, T>;
            map_elements<typename F::Out, T>(out, F{params}, in);
          });
    });
  });
}

void binary(BinaryOp op, OpParams params, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_enum<BinaryOp, kernels::kNumBinaryOps>(op, [&]<BinaryOp Op>() {
    dispatch_cuda_dtype(a.dtype(), "binary", [&]<class T>() {
      launch_if_accepted<kernels::binary_needs_float(Op), T>(
          "binary", "op needs floating inputs, got ", a.dtype(), [&] {
            using F = BinaryFn<Op, T>;
            map_elements<typename F::Out, T, T>(out, F{params}, a, b);
          });
    });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_cuda_dtype(out.dtype(), "where", [&]<class T>() {
    map_elements<T, bool, T, T>(out, WhereFn<T>{}, cond, a, b);
  });
}

}  // namespace mixgrad::cuda
