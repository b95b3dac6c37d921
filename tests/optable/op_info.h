#pragma once
// The op table (as PyTorch's OpInfo): one row per public op, or per variant of one (sum over all
// dims, over dim 1, ...), with its sample inputs, the dtypes it takes, whether it is
// differentiable, whether it runs on CUDA and in half precision, and a reference: a scalar one
// for element-wise ops, the same function composed of other ops for many of the rest. The suites
// that check every op read it (tests/ops/op_table_test.cpp: gradcheck, float32 against float64,
// views against contiguous copies, references, composite references, coverage of every public op;
// tests/cuda/cuda_op_table_test.cpp: CUDA against the CPU; tests/cuda/cuda_half_test.cpp:
// float16 / bfloat16), so a new op is tested everywhere by adding its row.
//
// Tolerances (Tol) bound |actual - expected| <= atol + rtol * |expected| per element, NaN
// matching NaN. A row's `tol` is the bound between two float64 runs that differ only in the
// order of their floating operations (CUDA against the CPU, a strided input against its
// contiguous copy):
//
//   name               dtype     atol    rtol    ops                        why
//   kExact             any       0       0       copies, views, casts,      nothing is computed:
//                                                cat/stack, gather,         data movement,
//                                                index_select, scatter      selection and
//                                                (no repeats), where,       comparisons
//                                                compares, sort/topk,
//                                                max/min/amax/argmax, max
//                                                pool, relu/abs/neg/clamp,
//                                                nonzero, uniform fills
//   kArith             float64   1e-15   1e-14   + - * / sqrt square,       IEEE-exact on both
//                                                floor/ceil/round of x*3    devices up to FMA
//                                                                           contraction (1 ulp)
//   kTranscendental    float64   1e-14   1e-13   exp log sin tanh erf pow   CUDA libdevice <= 2
//                                                gelu sigmoid softplus ...  ulp, glibc <= 1 ulp
//                                                normal fills (randn)       (Box-Muller)
//   kReduce            float64   1e-12   1e-11   sums, means, norms, var,   tree vs sequential
//                                                matmul family, softmax,    order: error grows
//                                                losses, norms, conv, avg   like log2(n) eps |x|
//                                                pools, atomic adds         for rows <= ~5,000
//   kLargeReduce       float64   1e-9    1e-10   1e6 cumsum, 65,536-wide    sums reach ~1e3; n
//                                                softmax, 1e5+ rows summed  eps |sum| ~ 1e-7 is
//                                                                           the worst case
//   kFloat32Tol        float32   1e-5    1e-4    float32 matmul (TF32 off)  24-bit mantissa
//   kHalfTol           float16   2e-3    4e-3    one rounded result         2^-11 after float32
//                                                                           accumulation
//   kHalfChainTol      float16   1e-2    1e-2    softmax, norms, losses     several roundings
//   kBFloat16Tol       bfloat16  1e-2    1.6e-2  as kHalfTol                rounding 2^-8
//   kBFloat16ChainTol  bfloat16  6e-2    6e-2    as kHalfChainTol           several 2^-8 steps
//   kTrainingTol       float64   1e-8    1e-7    losses over 100 training   see
//                                                steps                      cuda_training_test
//
// Gradients use the forward's bound, widened to kReduce on CUDA (and to one half-precision
// rounding in the half suite): the gradient of a broadcast input is a sum, whose order differs
// between devices even where the forward only moves data.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mixgrad.h"

namespace mixgrad::testing {

struct Tol {
  double atol = 0;
  double rtol = 0;
};
inline constexpr Tol kExact{0, 0};
inline constexpr Tol kArith{1e-15, 1e-14};
inline constexpr Tol kTranscendental{1e-14, 1e-13};
inline constexpr Tol kReduce{1e-12, 1e-11};
inline constexpr Tol kLargeReduce{1e-9, 1e-10};
inline constexpr Tol kFloat32Tol{1e-5, 1e-4};
inline constexpr Tol kHalfTol{2e-3, 4e-3};
inline constexpr Tol kBFloat16Tol{1e-2, 1.6e-2};
inline constexpr Tol kHalfChainTol{1e-2, 1e-2};
inline constexpr Tol kBFloat16ChainTol{6e-2, 6e-2};
inline constexpr Tol kTrainingTol{1e-8, 1e-7};
// An op against its composite reference in float64: different algorithms, the same math.
inline constexpr Tol kCompositeTol{1e-12, 1e-10};

// How an input is made (from the sample's seed) before the op sees it.
enum class Fill { Normal, Positive, Index, Mask };
// The view the op sees of the dense input, so that kernels get a strided tensor.
enum class Layout { Contiguous, Transposed, Strided };

struct Arg {
  Shape shape;  // the shape the op sees
  DType dtype = kFloat64;
  Fill fill = Fill::Normal;
  int64_t high = 0;  // Index: values in [0, high)
  Layout layout = Layout::Contiguous;
  bool grad = true;  // floating inputs only: the op is differentiable in this input
};

// N(0, 1) values (differentiable when floating).
inline Arg normal(Shape s, DType d = kFloat64) {
  return {std::move(s), d, Fill::Normal};
}
// Uniform in [0.5, 2): safe for log, sqrt, division and pow bases.
inline Arg positive(Shape s, DType d = kFloat64) {
  return {std::move(s), d, Fill::Positive};
}
// Integer values in [0, high) (never differentiable).
inline Arg index(Shape s, int64_t high, DType d = kInt64) {
  return {std::move(s), d, Fill::Index, high};
}
// Random bools.
inline Arg mask(Shape s) {
  return {std::move(s), kBool, Fill::Mask};
}
// A view of the given shape that is the transpose of a dense tensor with the last two dims
// swapped.
inline Arg transposed(Arg a) {
  a.layout = Layout::Transposed;
  return a;
}
// A view of the given shape taking every second element of a twice-as-long last dim.
inline Arg strided(Arg a) {
  a.layout = Layout::Strided;
  return a;
}
// An input the op is not differentiated in (a target, a bound, ...).
inline Arg constant(Arg a) {
  a.grad = false;
  return a;
}

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;
// The exact value of an element-wise op at one element of its (broadcast) float64 inputs.
using ScalarRef = std::function<double(const std::vector<double>&)>;

// One set of inputs for an op.
struct Sample {
  std::string name;  // "dense", "transposed", "empty", "0-dim", "broadcast", "large", ...
  std::vector<Arg> args;
  std::optional<Tol> tol = std::nullopt;  // this sample's float64 bound, when not the row's
};

struct OpInfo {
  // The public function tested ("sum"), optionally followed by "/" and a variant ("sum/dim1").
  std::string name;
  OpFn fn;
  std::vector<Sample> samples;
  Tol tol = kExact;  // float64 bound between reorderings of the same math (see above)
  // Gradients of every floating input with Arg::grad are checked against finite differences.
  bool differentiable = true;
  // The op takes float32 inputs (and then gives a float32 result where float64 gives float64).
  bool float32 = true;
  bool cuda = true;  // the CUDA backend implements it: checked against the CPU
  // Float16 / bfloat16 on CUDA, with the bound of each (checked against the CPU's float32 on the
  // rounded inputs); unset: not checked in half precision.
  std::optional<Tol> half_tol = std::nullopt;
  std::optional<Tol> bfloat16_tol = std::nullopt;
  bool half_backward = true;      // also compare the gradients in half precision
  ScalarRef reference = nullptr;  // element-wise ops: the value at each output element
  // The same function composed of other ops (a reference for ops that are not element-wise):
  // outputs and gradients must agree within kCompositeTol on every sample.
  OpFn composite = nullptr;
  // The op's own name (the part before any "/").
  std::string op() const { return name.substr(0, name.find('/')); }
};

// Every row (built once).
const std::vector<OpInfo>& op_table();
// The rows of one area, which op_table() joins (tests/optable/rows_*.cpp).
std::vector<OpInfo> elementwise_rows();
std::vector<OpInfo> reduction_rows();
std::vector<OpInfo> shape_rows();
std::vector<OpInfo> index_rows();
std::vector<OpInfo> nn_rows();
std::vector<OpInfo> creation_rows();

// Public functions of the ops headers that are not ops (helpers, metadata), with why: the
// coverage check accepts them without a row.
const std::vector<std::pair<std::string, std::string>>& not_ops();

// The inputs of `sample`: dense tensors made from `seed` (floating ones as `floating_dtype`
// when it is set), and the views the op sees of them.
struct Inputs {
  std::vector<Tensor> leaves;  // the dense tensors (leaves of the graph)
  std::vector<Tensor> views;   // what the op gets
};
Inputs make_inputs(const Sample& sample, uint64_t seed,
                   std::optional<DType> floating_dtype = std::nullopt);
Tensor make_dense(const Arg& a, Generator& gen);
Tensor view_of(const Tensor& dense, Layout layout);

// Standard samples of a one-input op: dense [3, 5], transposed, strided, empty [0, 4], 0-dim
// and a large [1000, 257] input, all made by `make` (normal or positive).
std::vector<Sample> unary_samples(Arg (*make)(Shape, DType) = normal);
// Standard samples of a two-input element-wise op: same shape, broadcast both ways, a row,
// transposed and strided operands, empty, 0-dim with a tensor, and large.
std::vector<Sample> binary_samples(Arg (*make_a)(Shape, DType) = normal,
                                   Arg (*make_b)(Shape, DType) = normal);
// A [3, 4, 5] input dense, transposed and strided, plus an empty [3, 0, 5] one when
// `with_empty` (ops that need a non-empty dim leave it out).
std::vector<Sample> layout_samples(Arg (*make)(Shape, DType) = normal, bool with_empty = true);

}  // namespace mixgrad::testing
