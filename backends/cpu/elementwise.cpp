// CPU element-wise kernels: copy/convert, fill, arange, unary, binary, where.
#include "backends/cpu/kernels.h"
#include "backends/cpu/loop.h"
#include "backends/scalar_math.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

using kernels::BinaryOp;
using kernels::OpParams;
using kernels::UnaryOp;

void copy(const Tensor& dst, const Tensor& src) {
  dispatch_dtype(dst.dtype(), "copy", [&]<class D>() {
    dispatch_dtype(src.dtype(), "copy", [&]<class S>() {
      map_elements<D, S>(
          dst, [](S v) { return static_cast<D>(v); }, src);
    });
  });
}

void fill(const Tensor& dst, Scalar value) {
  dispatch_dtype(dst.dtype(), "fill", [&]<class T>() {
    const T v = value.to<T>();
    StridedLoop<1> loop({&dst});
    loop.run([&](char* const* p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

void arange(const Tensor& out, double start, double step) {
  dispatch_dtype(out.dtype(), "arange", [&]<class T>() {
    T* o = out.data_ptr<T>();
    const int64_t n = out.numel();
    parallel_for(n, kGrainSize, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(start + static_cast<double>(i) * step);
    });
  });
}

void unary(UnaryOp op, OpParams params, const Tensor& out, const Tensor& in) {
  dispatch_enum<UnaryOp, kernels::kNumUnaryOps>(op, [&]<UnaryOp Op>() {
    dispatch_dtype(in.dtype(), "unary", [&]<class T>() {
      if constexpr (kernels::unary_needs_float(Op) && !std::is_floating_point_v<T>) {
        throw Error("unary",
                    std::string("op needs a floating input, got ") + dtype_name(in.dtype()));
      } else {
        using Out = decltype(kernels::unary_fn<Op, T>(T{}, params));
        map_elements<Out, T>(
            out, [params](T x) { return kernels::unary_fn<Op, T>(x, params); }, in);
      }
    });
  });
}

void binary(BinaryOp op, OpParams params, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_enum<BinaryOp, kernels::kNumBinaryOps>(op, [&]<BinaryOp Op>() {
    dispatch_dtype(a.dtype(), "binary", [&]<class T>() {
      if constexpr (kernels::binary_needs_float(Op) && !std::is_floating_point_v<T>) {
        throw Error("binary",
                    std::string("op needs floating inputs, got ") + dtype_name(a.dtype()));
      } else {
        using Out = decltype(kernels::binary_fn<Op, T>(T{}, T{}, params));
        map_elements<Out, T, T>(
            out, [params](T x, T y) { return kernels::binary_fn<Op, T>(x, y, params); }, a, b);
      }
    });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_dtype(out.dtype(), "where", [&]<class T>() {
    map_elements<T, bool, T, T>(
        out, [](bool c, T x, T y) { return c ? x : y; }, cond, a, b);
  });
}

}  // namespace mixgrad::cpu
