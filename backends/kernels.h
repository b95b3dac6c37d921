#pragma once
// The primitive kernel set every backend implements. Ops (ops/*.cpp) validate, promote and
// allocate, then call these; kernels trust their inputs apart from index values, which only a
// kernel can read cheaply and which it must check.
//
// A kernel is called as `kernels::binary(device, args...)`; each backend fills the table for its
// DeviceType in its register function, so a new backend plugs in here without touching ops.
#include <array>
#include <cstdint>

#include "core/device.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/scalar.h"
#include "core/tensor.h"

namespace mixgrad::kernels {

void ensure_backends_registered();

template <class Sig>
class Kernel;

template <class R, class... A>
class Kernel<R(A...)> {
 public:
  using Fn = R (*)(A...);
  constexpr explicit Kernel(const char* name) : name_(name) {}
  void set(DeviceType t, Fn f) { impl_[static_cast<int>(t)] = f; }
  Fn get(Device d) const {
    ensure_backends_registered();
    Fn f = impl_[static_cast<int>(d.type)];
    MG_CHECK(f != nullptr, name_, "no kernel for device ", describe(d),
             " (mixgrad was built without this backend)");
    return f;
  }
  template <class... Args>
  R operator()(Device d, Args&&... args) const {
    return get(d)(std::forward<Args>(args)...);
  }

 private:
  const char* name_;
  std::array<Fn, kNumDeviceTypes> impl_{};
};

// Extra numeric arguments of parameterised ops (clamp bounds, elu alpha, add's alpha, ...).
struct OpParams {
  double a = 0;
  double b = 0;
};

enum class UnaryOp : uint8_t {
  Neg,
  Exp,
  Log,
  Log1p,
  Expm1,
  Sqrt,
  Rsqrt,
  Abs,
  Sign,
  Square,
  Reciprocal,
  Sin,
  Cos,
  Relu,
  GeluErf,
  GeluTanh,
  Elu,        // a = alpha
  LeakyRelu,  // a = negative slope
  Sigmoid,
  Tanh,
  Softplus,  // a = beta, b = threshold
  Erf,
  Clamp,       // a = min, b = max (use +-inf for a missing bound)
  LogicalNot,  // out is bool
  Floor,
  Ceil,
  Round,
  Count
};
inline constexpr int kNumUnaryOps = static_cast<int>(UnaryOp::Count);

enum class BinaryOp : uint8_t {
  Add,  // out = x + a * y  (a = alpha)
  Sub,  // out = x - a * y
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Remainder,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  LogicalAnd,
  LogicalOr,  // out is bool
  // Fused backward of activations: x = incoming gradient, y = forward input (or output).
  ReluBackward,       // y = input
  GeluErfBackward,    // y = input
  GeluTanhBackward,   // y = input
  EluBackward,        // y = input, a = alpha
  LeakyReluBackward,  // y = input, a = slope
  SigmoidBackward,    // y = output
  TanhBackward,       // y = output
  SoftplusBackward,   // y = input, a = beta, b = threshold
  ClampBackward,      // y = input, a = min, b = max: passes x where min <= y <= max
  Count
};
inline constexpr int kNumBinaryOps = static_cast<int>(BinaryOp::Count);
inline bool is_comparison(BinaryOp op) {
  return op >= BinaryOp::Eq && op <= BinaryOp::LogicalOr;
}

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Any, All, Count };

enum class ScatterMode : uint8_t { Copy, Add };

// dst[...] = src[...] with dtype conversion; src may be strided or broadcast (stride 0).
inline Kernel<void(const Tensor& dst, const Tensor& src)> copy{"copy"};
inline Kernel<void(const Tensor& dst, Scalar value)> fill{"fill"};
// out[i] = start + i * step over out's flat (contiguous) elements.
inline Kernel<void(const Tensor& out, double start, double step)> arange{"arange"};
// Element-wise; operands already have out's shape (broadcast dims have stride 0) and the compute
// dtype; out is bool for comparisons / LogicalNot.
inline Kernel<void(UnaryOp, OpParams, const Tensor& out, const Tensor& in)> unary{"unary"};
inline Kernel<void(BinaryOp, OpParams, const Tensor& out, const Tensor& a, const Tensor& b)> binary{
    "binary"};
inline Kernel<void(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b)> where{
    "where"};
// Reduces `in` over `dims` (sorted, unique) into `out` of keepdim shape. out has in's dtype,
// except for Any/All, which write bool. For Max/Min, `indices` (int64, same shape as out, may be
// undefined) receives the row-major position of the chosen element within its reduced slice
// (the index along the dim when one dim is reduced); ties keep the first occurrence, NaN wins.
// Sum of an empty set is 0, Prod 1; Max/Min of an empty set is rejected by the op.
inline Kernel<void(ReduceOp, const Tensor& out, const Tensor& indices, const Tensor& in,
                   const Shape& dims)>
    reduce{"reduce"};
// Running sum along `dim`; any strides, negative ones included (backward runs it reversed).
inline Kernel<void(const Tensor& out, const Tensor& in, int64_t dim)> cumsum{"cumsum"};
// out[b] = alpha * a[b] @ b[b] + beta * out[b] for 3-D a [B, M, K], b [B, K, N], out [B, M, N].
// Batch strides may be 0 (broadcast). beta = 0 ignores out's old contents (even NaN).
inline Kernel<void(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta)>
    gemm{"gemm"};
// Which dim of the product a grouped_gemm splits into groups.
enum class GroupedDim : uint8_t {
  M,  // rows: a [rows, K], b [G, K, N], out [rows, N]; out[rows of g] = a[rows of g] @ b[g]
  K,  // inner: a [M, rows], b [rows, N], out [G, M, N]; out[g] = a[:, rows of g] @ b[rows of g]
};
// Grouped matrix product over contiguous ranges of one dim: group g covers the
// group_sizes[g] positions after those of groups 0..g-1 (group_sizes: int64 [G], non-negative,
// summing to the grouped dim's size; the CPU kernel reads it in host memory and checks it).
// Operands may have any strides (a transpose is a view with swapped strides). out's old contents
// are ignored; with GroupedDim::K an empty group's out[g] is zero.
inline Kernel<void(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& group_sizes,
                   GroupedDim grouped)>
    grouped_gemm{"grouped_gemm"};
// Index kernels check every index against the indexed dim and throw Error naming `op`.
inline Kernel<void(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index)> gather{
    "gather"};
// self[index[i][j]][j] (op)= src[i][j] along `dim`.
inline Kernel<void(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                   ScatterMode mode)>
    scatter{"scatter"};
// out = in.index_select(dim, index) (index 1-D).
inline Kernel<void(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index)>
    index_select{"index_select"};
// self.narrow(dim, index[i], 1) (op)= alpha * src.narrow(dim, i, 1) for every i.
inline Kernel<void(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                   ScatterMode mode, double alpha)>
    index_scatter{"index_scatter"};
// Sort along `dim`; values and indices (int64) have in's shape.
inline Kernel<void(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim,
                   bool descending, bool stable)>
    sort{"sort"};
// The k largest (or smallest) along `dim`; ties keep the lower index first.
inline Kernel<void(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k,
                   int64_t dim, bool largest, bool sorted)>
    topk{"topk"};
// Row-wise softmax / log_softmax along `dim`, and its backward given the forward output.
inline Kernel<void(const Tensor& out, const Tensor& in, int64_t dim, bool log)> softmax{"softmax"};
inline Kernel<void(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim,
                   bool log)>
    softmax_backward{"softmax_backward"};
// Random fills from counter-based streams: element i uses counter block first_block + i.
inline Kernel<void(const Tensor& out, uint64_t seed, uint64_t first_block, double low, double high)>
    uniform{"uniform"};
inline Kernel<void(const Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std)>
    normal{"normal"};
inline Kernel<void(const Tensor& out, uint64_t seed, uint64_t first_block, int64_t low,
                   int64_t high)>
    randint{"randint"};
// out[v] += weights ? weights[i] : 1 for every v = in[i]; out pre-zeroed and long enough.
inline Kernel<void(const Tensor& out, const Tensor& in, const Tensor& weights)> bincount{
    "bincount"};
// Coordinates of the non-zero elements as an int64 [count, ndim] tensor.
inline Kernel<Tensor(const Tensor& in)> nonzero{"nonzero"};

}  // namespace mixgrad::kernels
