#pragma once
// The primitive kernel set every backend implements. Ops (ops/*.cpp) validate, promote and
// allocate, then call these; kernels trust their inputs apart from index values, which only a
// kernel can read cheaply and which it must check.
//
// A kernel is called as `kernels::binary(device, args...)`; each backend fills the table for its
// DeviceType in its register function, so a new backend plugs in here without touching ops.
#include <array>
#include <cstdint>
#include <utility>

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
  using Signature = R(A...);  // declares a backend's implementation: Signature name;
  using Fn = R (*)(A...);
  // Every tensor a kernel gets must be on the device it runs on, which the call checks (a
  // backend must never dereference another device's pointer, whatever an op forgot to check).
  // `mixed_devices` exempts copy, which moves data between devices; `host_arg` is the one
  // argument (0-based, after the device) that the contract keeps in host memory.
  constexpr explicit Kernel(const char* name, bool mixed_devices = false, int host_arg = -1)
      : name_(name), mixed_devices_(mixed_devices), host_arg_(host_arg) {}
  void set(DeviceType t, Fn f) { impl_[static_cast<int>(t)] = f; }
  // Whether the backend of `d` implements this kernel (false for a CPU-only kernel on CUDA).
  bool has(Device d) const {
    ensure_backends_registered();
    return impl_[static_cast<int>(d.type)] != nullptr;
  }
  Fn get(Device d) const {
    ensure_backends_registered();
    Fn f = impl_[static_cast<int>(d.type)];
    MG_CHECK(f != nullptr, name_, "no kernel for device ", describe(d),
             " (the program does not link that backend: mixgrad::cuda for CUDA)");
    return f;
  }
  template <class... Args>
  R operator()(Device d, Args&&... args) const {
    if (!mixed_devices_) check_all(d, std::index_sequence_for<Args...>{}, args...);
    return get(d)(std::forward<Args>(args)...);
  }

 private:
  template <std::size_t... I, class... Args>
  void check_all(Device d, std::index_sequence<I...>, const Args&... args) const {
    (check_on(d, args, static_cast<int>(I) == host_arg_), ...);
  }
  void check_on(Device d, const Tensor& t, bool host_allowed) const {
    MG_CHECK(!t.defined() || t.device() == d || (host_allowed && t.device().is_cpu()), name_,
             "expected every tensor on ", describe(d), ", got ", describe(t));
  }
  template <class T>
  void check_on(Device, const T&, bool) const {}

  const char* name_;
  bool mixed_devices_;
  int host_arg_;
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
  Silu,  // x * sigmoid(x)
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
  // Pieces of silu and swiglu, each one pass where the composite form takes two.
  SiluMul,    // silu(x) * y
  SiluSlope,  // silu's derivative at x from y = sigmoid(x): y (1 + x (1 - y))
  Count
};
inline constexpr int kNumBinaryOps = static_cast<int>(BinaryOp::Count);
// Whether the op's result is bool (comparisons and logical ops). Listed, not a range of codes,
// so that a new op placed anywhere in the enum cannot join or leave this set by accident.
constexpr bool is_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::Eq:
    case BinaryOp::Ne:
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::LogicalAnd:
    case BinaryOp::LogicalOr:
      return true;
    default:
      return false;
  }
}

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Any, All, Count };

enum class ScatterMode : uint8_t { Copy, Add };

// dst[...] = src[...] with dtype conversion; src may be strided or broadcast (stride 0).
// Runs on the non-CPU side when the two devices differ (it moves data both ways).
inline Kernel<void(const Tensor& dst, const Tensor& src)> copy{"copy", /*mixed_devices=*/true};
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
// Running `op` along `dim`: out[.., i, ..] = in[.., 0, ..] op ... op in[.., i, ..]. out has in's
// dtype; any strides, negative ones included (a backward pass runs a scan reversed). Sum and
// Prod accumulate in int64 for integers and in double for float32 / float64 (in float for
// float16 / bfloat16 on CUDA); LogSumExp (log of the running sum of exp, floating dtypes only;
// a NaN propagates) in double. Max / Min write `indices` (int64, out's
// shape and device): the position along `dim` of the running max / min, the latest one on ties
// and the latest NaN once a NaN was seen (as PyTorch's cummax / cummin).
enum class ScanOp : uint8_t { Sum, Prod, Max, Min, LogSumExp, Count };
inline Kernel<void(ScanOp, const Tensor& out, const Tensor& indices, const Tensor& in, int64_t dim)>
    scan{"scan"};
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
// summing to the grouped dim's size). group_sizes is host metadata: a CPU tensor on every
// backend, checked by the kernel.
// Operands may have any strides (a transpose is a view with swapped strides). out's old contents
// are ignored; with GroupedDim::K an empty group's out[g] is zero.
inline Kernel<void(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& group_sizes,
                   GroupedDim grouped)>
    grouped_gemm{"grouped_gemm", /*mixed_devices=*/false, /*host_arg=*/3};
// The sliding window of a 2-D convolution over [N, C, H, W] (a 1-D one has height 1).
// pad_h / pad_w are the zero rows / columns before the input; the far side's padding is
// implied by out_h / out_w (so asymmetric "same" padding needs nothing more).
struct ConvGeometry {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t out_h = 0, out_w = 0;
};
// Unfolds contiguous input [N, C, H, W] into contiguous columns [C * kh * kw, N * out_h * out_w]:
// columns[(c * kh + i) * kw + j][(n * out_h + y) * out_w + x] =
//   input[n][c][y * stride_h - pad_h + i * dilation_h][x * stride_w - pad_w + j * dilation_w],
// zero where that position is padding. Floating dtypes.
inline Kernel<void(const Tensor& columns, const Tensor& input, const ConvGeometry& geometry)>
    im2col{"im2col"};
// The adjoint of im2col: overwrites contiguous grad_input [N, C, H, W] with the sum of the
// columns entries that im2col would read from each position (padding entries are dropped).
inline Kernel<void(const Tensor& grad_input, const Tensor& columns, const ConvGeometry& geometry)>
    col2im{"col2im"};
// A 2-D convolution (cross-correlation, ops/conv.h's conv2d after its checks): overwrites
// contiguous out [N, O, out_h, out_w] with contiguous input [N, C, H, W] convolved with contiguous
// weight [O, C / groups, kh, kw], plus contiguous bias [O] when defined; input channel group g
// (C / groups channels) feeds only output group g. The backend picks the algorithm (im2col +
// GEMM, a direct or a Winograd kernel, ...) and its threading; results of different algorithms
// differ by rounding. When `keep_for_weight_grad` is set the kernel may return a tensor that
// conv2d_backward's weight gradient then reads instead of the input (the im2col path keeps the
// whole batch's columns matrix when it was built in one piece, sparing the backward an im2col);
// otherwise, and when it keeps nothing, it returns an undefined tensor. What it returns is opaque
// to the caller and must not be written.
inline Kernel<Tensor(const Tensor& out, const Tensor& input, const Tensor& weight,
                     const Tensor& bias, const ConvGeometry& geometry, int64_t groups,
                     bool keep_for_weight_grad)>
    conv2d{"conv2d"};
// conv2d's input and weight gradients from contiguous grad_out [N, O, out_h, out_w]: overwrites
// contiguous grad_input [N, C, H, W] when it is defined (needs `weight`) and contiguous
// grad_weight [O, C / groups, kh, kw] when it is defined (needs `input`, or `saved`: what conv2d
// returned for these operands, then `input` may be undefined); an empty batch gives a zero
// grad_weight. The bias gradient is the op's (a sum of grad_out).
inline Kernel<void(const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_out,
                   const Tensor& input, const Tensor& weight, const Tensor& saved,
                   const ConvGeometry& geometry, int64_t groups)>
    conv2d_backward{"conv2d_backward"};
// Winograd F(2x2, 3x3) tile transforms (Lavin & Gray 2016) of a 3x3 convolution with stride 1
// and dilation 1, read from `geometry`'s pad_h, pad_w, out_h and out_w. Tile t = (n * rows + ty) *
// cols + tx (rows = ceil(out_h / 2), cols = ceil(out_w / 2)) covers the outputs [2ty, 2ty + 2) x
// [2tx, 2tx + 2) and the input window [2ty - pad_h, +4) x [2tx - pad_w, +4), zero outside the
// image. Tiles tensors are [16, channels, T = N * rows * cols], the first dim the 4 x 4 tile
// element, each [channels, T] matrix contiguous (the first dim's stride may be larger, which keeps
// the 16 rows a plane writes from sharing cache sets). With B, G, A the paper's matrices:
enum class WinogradTransform {
  Input,          // out tiles [16, C, T] = B^T d B of each window d of in [N, C, H, W]
  InputAdjoint,   // out [N, C, H, W] = the sum of B v B^T over the windows covering each
                  // position, v from in tiles [16, C, T] (overwrites)
  Output,         // out [N, O, out_h, out_w] = A^T m A of in tiles [16, O, T], cropped
  OutputAdjoint,  // out tiles [16, O, T] = A y A^T, y the 2 x 2 block of in [N, O, out_h, out_w]
                  // (zero past its edge)
};
// Other operands contiguous; float32 / float64. CPU-only: the CPU conv2d kernel's Winograd path
// calls it through this table (where tests count the transforms to see which path ran).
inline Kernel<void(const Tensor& out, const Tensor& in, WinogradTransform transform,
                   const ConvGeometry& geometry)>
    winograd{"winograd"};
// One Adam / AdamW step (Kingma & Ba; Loshchilov & Hutter), fused: a single pass over each
// element instead of the ten tensor ops of the composite form (ops/optimizer_steps.h). With
// g = grad + l2 * param:
//   param *= 1 - decay;  m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
//   v_max = max(v_max, v) (amsgrad: then used for v);
//   param -= step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
struct AdamStep {
  double step_size = 0.0;  // lr / bias_correction1
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double l2 = 0.0;     // Adam's weight decay, added to the gradient
  double decay = 0.0;  // AdamW's decoupled decay, lr * weight_decay
  double bias_correction2_sqrt = 1.0;
  bool amsgrad = false;
};
// All tensors contiguous, of one shape and one dtype (float32 / float64); max_exp_avg_sq is read
// and written only with amsgrad. CPU-only: ops call it where has() says so.
inline Kernel<void(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                   const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq, const AdamStep& step)>
    adam_step{"adam_step"};
// RMS normalisation (ops/rms_norm.h) of the rows of contiguous x [N, D], float32 / float64, one
// pass per direction. Forward: rstd[n] = 1 / sqrt(mean(x[n]^2) + eps) (the sum in double),
// out[n] = x[n] * rstd[n] * weight. out [N, D] and rstd [N] contiguous of x's dtype; weight
// contiguous [D] or undefined (no scale).
inline Kernel<void(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                   double eps)>
    rms_norm{"rms_norm"};
// Its backward from contiguous dy [N, D] (x's dtype) and the forward's rstd:
//   dx[n] = rstd[n] * (weight * dy[n] - x[n] * rstd[n]^2 * mean(weight * dy[n] * x[n]))
//   dweight = sum over n of dy[n] * x[n] * rstd[n]
// Either output may be undefined (not computed); dweight needs weight. The sums run in double;
// dweight's sum over rows adds per-thread partials in thread order (the same bits on the same
// number of threads, whatever the scheduling). CPU-only.
inline Kernel<void(const Tensor& dx, const Tensor& dweight, const Tensor& dy, const Tensor& x,
                   const Tensor& weight, const Tensor& rstd)>
    rms_norm_backward{"rms_norm_backward"};
// Rotary embedding (ops/rotary.h) of contiguous x [B, T, D] into contiguous out [B, T, D] (not
// aliasing x), float32 / float64: pair i of the first R = 2 * cos.size(1) features of row
// (b, t), (x[i], x[i + R/2]), or (x[2i], x[2i + 1]) when `interleaved`, becomes
// (a c - b s, b c + a s) with c = cos[t, i] and s = sin[t, i] (-sin[t, i] when `inverse`: the
// backward); features [R, D) are copied. cos, sin contiguous [T, R/2] of x's dtype. CPU-only.
inline Kernel<void(const Tensor& out, const Tensor& x, const Tensor& cos, const Tensor& sin,
                   bool interleaved, bool inverse)>
    rotary{"rotary"};
// Scaled dot-product attention (ops/attention.h), fused: per (batch, query head h), with
// key/value head h / (H / Hkv),
//   out = softmax(q k^T * scale + mask) v,  lse = log(sum(exp(q k^T * scale + mask))) per row,
// without materialising the [Tq, Tk] scores (tiled, online softmax). Keys blocked by the mask
// (false, or -inf added) or by `causal` (key j hidden from query i when j > i, top-left aligned
// as PyTorch's is_causal, also for Tq != Tk) weigh nothing; a row with no visible key gets out 0
// and lse +inf. q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv], out [B, H, Tq, Dv] and
// lse [B, H, Tq] contiguous, one dtype (float32 / float64; the sums run in it); mask undefined or
// [B, H, Tq, Tk] with any strides (0 along broadcast dims), bool (true = may attend) or of q's
// dtype (added to the scaled scores). Extra memory: a score tile per thread. CPU-only.
struct AttentionParams {
  double scale = 1.0;
  bool causal = false;
};
inline Kernel<void(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                   const Tensor& v, const Tensor& mask, const AttentionParams& params)>
    attention_forward{"attention_forward"};
// Its backward: overwrites dq (q's shape), dk and dv (k's and v's shapes), contiguous, from
// contiguous dout (out's shape) and the forward's out and lse (FlashAttention-2: the
// probabilities are recomputed tile by tile from lse). Rows with lse +inf pass no gradient.
// Extra memory: two score tiles per thread and one value per query row. The same bits for any
// thread count. CPU-only.
inline Kernel<void(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                   const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, const Tensor& mask, const AttentionParams& params)>
    attention_backward{"attention_backward"};
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
// Normalisation (batch norm, group norm) on contiguous [B, C, S] tensors: channel c holds the
// B * S elements x[b, c, s]. Per-channel tensors are contiguous [C] of x's dtype; sums of many
// terms accumulate in double.
// mean[c] and biased variance var[c] of each channel (a channel of no elements gives NaN).
inline Kernel<void(const Tensor& mean, const Tensor& var, const Tensor& x)> norm_moments{
    "norm_moments"};
// out = x * x_scale[c] + y * y_scale[c] + shift[c]; y (with y_scale) and shift may be undefined,
// dropping their terms. out may alias x.
inline Kernel<void(const Tensor& out, const Tensor& x, const Tensor& x_scale, const Tensor& y,
                   const Tensor& y_scale, const Tensor& shift)>
    norm_affine{"norm_affine"};
// sum_dy[c] = sum of dy and sum_dy_xc[c] = sum of dy * (x - mean[c]) over each channel (mean
// undefined: 0); dy has x's shape.
inline Kernel<void(const Tensor& sum_dy, const Tensor& sum_dy_xc, const Tensor& dy, const Tensor& x,
                   const Tensor& mean)>
    norm_backward_sums{"norm_backward_sums"};
// Pooling windows along one spatial axis. Regular: output position o covers input positions
// o * stride - padding + j * dilation for j in [0, kernel), those inside the input taking part.
// Adaptive (the other fields unused): [floor(o * in / out), ceil((o + 1) * in / out)).
struct PoolAxis {
  int64_t kernel = 1;
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  bool adaptive = false;
};
enum class PoolMode : uint8_t { Max, Avg };
struct Pool2dParams {
  PoolAxis h;
  PoolAxis w;
  // Avg: the divisor is divisor_override when non-zero, else the window's size counting padded
  // positions (count_include_pad; regular windows end at in + padding) or not.
  bool count_include_pad = true;
  int64_t divisor_override = 0;
};
// Pools the last two dims of contiguous `in` [planes, H, W] into `out` [planes, OH, OW] (same
// dtype). Max also writes `indices` (int64, out's shape; may be undefined): the flat position
// h * W + w of the window's maximum in its plane; the first maximum wins, NaN wins over numbers,
// an empty window gives -inf (integers: the lowest value) and index -1. Avg: window sum / divisor.
inline Kernel<void(PoolMode, const Tensor& out, const Tensor& indices, const Tensor& in,
                   const Pool2dParams&)>
    pool2d{"pool2d"};
// Gradient of pool2d: overwrites contiguous `grad_in` [planes, H, W] from contiguous `grad_out`.
// Max scatters grad_out through `indices` (checked to lie in [-1, H * W); -1 passes nothing),
// which pool2d wrote with the same params (a backend may gather through the windows instead);
// Avg spreads grad_out / divisor over each window.
inline Kernel<void(PoolMode, const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices,
                   const Pool2dParams&)>
    pool2d_backward{"pool2d_backward"};
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

// The function type a Kernel object dispatches to.
template <class K>
using Kernel_signature = typename K::Signature;

// Every kernel above that each backend implements (winograd, adam_step, rms_norm*, rotary and
// attention_* are CPU-only: they are called on the CPU only). A backend
// declares and registers its set from this one list:
//   MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_DECLARE_KERNEL)   (in its namespace)
//   MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_REGISTER_KERNEL)  (with `t` its DeviceType)
// clang-format off
#define MIXGRAD_FOR_EACH_BACKEND_KERNEL(X)                                                        \
  X(copy) X(fill) X(arange) X(unary) X(binary) X(where) X(reduce) X(scan) X(gemm)                 \
  X(grouped_gemm) X(im2col) X(col2im) X(gather) X(scatter) X(index_select) X(index_scatter)       \
  X(sort) X(topk) X(softmax) X(softmax_backward) X(norm_moments) X(norm_affine)                   \
  X(norm_backward_sums) X(pool2d) X(pool2d_backward) X(uniform) X(normal) X(randint) X(bincount)  \
  X(nonzero) X(conv2d) X(conv2d_backward)
// clang-format on
#define MIXGRAD_DECLARE_KERNEL(name) \
  ::mixgrad::kernels::Kernel_signature<decltype(::mixgrad::kernels::name)> name;
#define MIXGRAD_REGISTER_KERNEL(name) ::mixgrad::kernels::name.set(t, name);

}  // namespace mixgrad::kernels
