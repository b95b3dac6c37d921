#pragma once
// CUDA-against-CPU checks. Every CUDA test starts with MG_REQUIRE_CUDA(), so on machines without
// a GPU (CI) the suite skips cleanly; the CPU backend is the reference semantics.
//
// Tolerances: |cuda - cpu| <= atol + rtol * |cpu| per element (NaN matches NaN, infinities
// must be equal). Most cases run in float64, so the devices differ only in the order of floating
// operations, never in precision; each bound is what that reordering can cost.
//
//   name               dtype     atol    rtol    ops                        why
//   kExact             any       0       0       copies, views, casts       nothing is computed:
//                                                between float dtypes,      data movement,
//                                                cat/stack, gather,         selection and
//                                                index_select, scatter      comparisons
//                                                (no repeats), where,
//                                                compares, sort/topk,
//                                                max/min/amax/argmax, max
//                                                pool, relu/abs/neg/clamp,
//                                                nonzero, rand/randint/
//                                                randperm, dropout masks
//   (randn)            float64   1e-14   1e-13   normal fills (in           Box-Muller through
//                      float32   0       2.4e-7  cuda_random_test.cpp)      each device's log/cos
//   kArith             float64   1e-15   1e-14   + - * / sqrt square,       IEEE-exact on both
//                                                floor/ceil/round of x*3    devices up to FMA
//                                                                           contraction (1 ulp)
//   kTranscendental    float64   1e-14   1e-13   exp log sin tanh erf pow   CUDA libdevice <= 2
//                                                gelu sigmoid softplus ...  ulp, glibc <= 1 ulp
//   kReduce            float64   1e-12   1e-11   sums, means, norms, var,   tree vs sequential
//                                                matmul family, softmax,    order: error grows
//                                                losses, layer/batch/group  like log2(n) eps |x|
//                                                norm, conv, avg pools,     for rows <= ~5,000;
//                                                and anything with atomic   also atomics' order
//                                                adds (scatter_add,         (scatter_add,
//                                                index_add, gather/         index_add, backward
//                                                embedding backward)        of gather/embedding)
//   kLargeReduce       float64   1e-9    1e-10   1e6 cumsum, 65,536-wide    sums reach ~1e3; n
//                                                softmax, 1e5+ rows summed  eps |sum| ~ 1e-7 is
//                                                                           the worst case, the
//                                                                           random walk ~1e-10
//   kFloat32Tol        float32   1e-5    1e-4    float32 matmul (TF32 off), 24-bit mantissa,
//                                                int/int true division      k <= 64 terms
//   kHalfTol           float16   2e-3    4e-3    one rounded result: unary, result rounding
//                                                binary, sum, matmul        2^-11 after float32
//                                                                           accumulation
//   kHalfChainTol      float16   1e-2    1e-2    softmax/log_softmax,       several rounded
//                                                layer_norm, cross_entropy  intermediates
//   kBFloat16Tol       bfloat16  1e-2    1.6e-2  as kHalfTol                rounding 2^-8
//   kBFloat16ChainTol  bfloat16  6e-2    6e-2    as kHalfChainTol           several 2^-8 steps
//   kTrainingTol       float64   1e-8    1e-7    losses over 100 training   see
//                                                steps                      cuda_training_test
//
// Gradients use the forward's bound: every backward here is again data movement, elementwise
// math or a reduction of the same kind and length. Half cases compare against the CPU run in
// float32 on the inputs rounded to the half dtype, so input rounding is not part of the error.
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backends/cuda_api.h"
#include "common/test_util.h"  // EXPECT_MG_ERROR, expect_close
#include "mixgrad.h"

// Skips the current test (with the reason) unless a CUDA device can be used.
//
// Building the tests with -DMG_CUDA_TESTS_ON_CPU makes gpu() the CPU and skips nothing: the op
// tables then run CPU against CPU, which checks the suite's own logic (inputs, shapes, that the
// CPU accepts every case) on a machine without a GPU. Only the op-table tests make sense there.
#ifdef MG_CUDA_TESTS_ON_CPU
#define MG_REQUIRE_CUDA() \
  do {                    \
  } while (0)
#else
#define MG_REQUIRE_CUDA()                                                     \
  do {                                                                        \
    if (!::mixgrad::cuda::is_available()) {                                   \
      GTEST_SKIP() << "no CUDA device: "                                      \
                   << (::mixgrad::cuda::is_built()                            \
                           ? "the CUDA backend is built but no GPU is usable" \
                           : "this test program has no CUDA backend");        \
    }                                                                         \
  } while (0)
#endif

namespace mixgrad::cuda_testing {

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

// The device under test.
inline Device gpu() {
#ifdef MG_CUDA_TESTS_ON_CPU
  return Device::cpu();
#else
  return Device::cuda();
#endif
}

// `actual` (any device, any dtype) equals `expected` within `tol`, with the same shape; names
// the first few differing elements and how many differ.
inline void expect_close(const Tensor& actual, const Tensor& expected, Tol tol,
                         const std::string& what) {
  ASSERT_TRUE(actual.defined() && expected.defined()) << what << ": undefined tensor";
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  int64_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool same_special = (std::isnan(a[i]) && std::isnan(e[i])) || a[i] == e[i];
    if (same_special ||
        (std::isfinite(e[i]) && std::fabs(a[i] - e[i]) <= tol.atol + tol.rtol * std::fabs(e[i])))
      continue;
    if (++bad <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << " on CUDA, " << e[i]
                    << " on CPU (atol " << tol.atol << ", rtol " << tol.rtol << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << a.size() << " elements differ";
}

// How a case's input is made on the CPU (from the case's seed) before being copied to CUDA.
enum class Fill { Normal, Positive, Index, Mask };
// The same view is taken of the dense input on both devices, so kernels see a strided tensor.
enum class Layout { Contiguous, Transposed, Strided };

struct Arg {
  Shape shape;
  DType dtype = kFloat64;
  Fill fill = Fill::Normal;
  int64_t high = 0;  // Index: values in [0, high)
  Layout layout = Layout::Contiguous;
  bool grad = true;  // floating inputs only
};

// N(0, 1) values (differentiable when floating).
inline Arg normal(Shape s, DType d = kFloat64) {
  return {std::move(s), d, Fill::Normal};
}
// Uniform in [0.5, 2): safe for log, sqrt, division and pow bases.
inline Arg positive(Shape s, DType d = kFloat64) {
  return {std::move(s), d, Fill::Positive};
}
// int64 values in [0, high).
inline Arg index(Shape s, int64_t high, DType d = kInt64) {
  return {std::move(s), d, Fill::Index, high};
}
// Random bools.
inline Arg mask(Shape s) {
  return {std::move(s), kBool, Fill::Mask};
}
// A view of the given shape (as every Arg, the shape the op sees) that is the transpose of a
// dense tensor with the last two dims swapped.
inline Arg transposed(Arg a) {
  a.layout = Layout::Transposed;
  return a;
}
// A view of the given shape taking every second element of a twice-as-long last dim.
inline Arg strided(Arg a) {
  a.layout = Layout::Strided;
  return a;
}
inline Arg constant(Arg a) {
  a.grad = false;
  return a;
}

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct OpCase {
  std::string name;
  std::vector<Arg> args;
  OpFn fn;
  Tol tol = kExact;
  bool backward = true;  // also compare the gradients of every floating input
  // Float16 / BFloat16: floating inputs are float32 on the CPU, rounded to this dtype on CUDA
  // (and the CPU gets the rounded values), and the CUDA output is compared in float32.
  std::optional<DType> cuda_dtype = std::nullopt;
  uint64_t seed = 1;
};

// Runs `c` on CPU and CUDA from the same inputs and compares the outputs and, when the output is
// floating and requires grad, the gradients of sum(out * w) for a fixed random w.
inline void expect_cuda_matches_cpu(const OpCase& c);  // defined below

// Every case, each reported under its name.
inline void run_cases(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    SCOPED_TRACE(c.name);
    expect_cuda_matches_cpu(c);
  }
}

// The message of the mixgrad::Error that `fn` throws ("" plus a test failure if none).
inline std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a mixgrad::Error";
  return "";
}

// An op on x's values that takes bad indices made on `device`.
using IndexErrorCase = std::function<Tensor(const Tensor& x, Device device)>;

// `op` throws on CUDA, after the queued work finished, the very Error it throws on the CPU.
inline void expect_cpu_error_on_cuda(const Tensor& x, const IndexErrorCase& op) {
  const std::string on_cpu = error_message([&] { op(x, Device::cpu()); });
  const std::string on_gpu = error_message([&] {
    op(x.to(gpu()), gpu());
    cuda::synchronize();
  });
  EXPECT_FALSE(on_cpu.empty());
  EXPECT_EQ(on_gpu, on_cpu);
}

namespace detail {

inline Tensor make_dense(const Arg& a, Generator& gen) {
  Shape s = a.shape;
  if (a.layout == Layout::Transposed) std::swap(s[s.size() - 2], s[s.size() - 1]);
  if (a.layout == Layout::Strided) s.back() *= 2;
  switch (a.fill) {
    case Fill::Normal:
      return randn(s, a.dtype, &gen);
    case Fill::Positive:
      return rand(s, a.dtype, &gen) * 1.5 + 0.5;
    case Fill::Index:
      return randint(0, a.high, s, a.dtype, &gen);
    case Fill::Mask:
      return randint(0, 2, s, kInt64, &gen).to(kBool);
  }
  return Tensor();
}

inline Tensor view_of(const Tensor& dense, Layout layout) {
  switch (layout) {
    case Layout::Contiguous:
      return dense;
    case Layout::Transposed:
      return dense.transpose(-2, -1);
    case Layout::Strided:
      return dense.slice(dense.dim() - 1, 0, std::nullopt, 2);
  }
  return dense;
}

}  // namespace detail

inline void expect_cuda_matches_cpu(const OpCase& c) {
  Generator gen(c.seed);
  std::vector<Tensor> cpu_leaves, gpu_leaves, cpu_in, gpu_in;
  for (const Arg& a : c.args) {
    Tensor host = detail::make_dense(a, gen);
    Tensor dev = host.to(gpu());
    if (dev.is_same(host)) dev = host.clone();  // MG_CUDA_TESTS_ON_CPU: keep the leaves apart
    if (c.cuda_dtype && host.is_floating_point()) {
      dev = dev.to(*c.cuda_dtype);
      host = dev.to(host.dtype()).to(Device::cpu());  // the CPU sees the rounded values
    }
    if (c.backward && a.grad && host.is_floating_point()) {
      host.requires_grad_();
      dev.requires_grad_();
    }
    cpu_leaves.push_back(host);
    gpu_leaves.push_back(dev);
    cpu_in.push_back(detail::view_of(host, a.layout));
    gpu_in.push_back(detail::view_of(dev, a.layout));
  }
  const Tensor out_cpu = c.fn(cpu_in);
  const Tensor out_gpu = c.fn(gpu_in);
  ASSERT_TRUE(out_gpu.defined());
  EXPECT_EQ(out_gpu.device(), gpu());
  const bool rounded = c.cuda_dtype && out_cpu.is_floating_point();
  EXPECT_EQ(out_gpu.dtype(), rounded ? *c.cuda_dtype : out_cpu.dtype());
  expect_close(out_gpu, out_cpu, c.tol, "forward");

  if (!c.backward || !out_cpu.requires_grad()) return;
  ASSERT_TRUE(out_gpu.requires_grad());
  // A random cotangent (rounded like the inputs) so that each gradient element is distinct.
  const Tensor w_gpu = randn(out_cpu.shape(), out_cpu.dtype(), &gen).to(gpu()).to(out_gpu.dtype());
  const Tensor w_cpu = w_gpu.to(out_cpu.dtype()).to(Device::cpu());
  (out_cpu * w_cpu).sum().backward();
  (out_gpu * w_gpu).sum().backward();
  for (std::size_t i = 0; i < cpu_leaves.size(); ++i) {
    if (!cpu_leaves[i].requires_grad()) continue;
    const Tensor g_cpu = cpu_leaves[i].grad(), g_gpu = gpu_leaves[i].grad();
    const std::string what = "gradient of input " + std::to_string(i);
    ASSERT_EQ(g_gpu.defined(), g_cpu.defined()) << what;
    if (!g_cpu.defined()) continue;
    EXPECT_EQ(g_gpu.device(), gpu()) << what;
    expect_close(g_gpu, g_cpu, c.tol, what);
  }
}

}  // namespace mixgrad::cuda_testing
