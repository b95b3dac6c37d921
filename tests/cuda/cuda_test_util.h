#pragma once
// CUDA-against-CPU checks. Every CUDA test starts with MG_REQUIRE_CUDA(), so on machines without
// a GPU (CI) the suite skips cleanly; the CPU backend is the reference semantics.
//
// Tolerances (|cuda - cpu| <= atol + rtol * |cpu| per element, NaN matching NaN) and the
// inputs (Arg: normal, positive, index, mask; transposed and strided views) are the op table's
// (tests/optable/op_info.h, which lists each bound and why); tests/cuda/cuda_op_table_test.cpp
// runs every row of that table here.
#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backends/cuda_api.h"
#include "common/test_util.h"  // EXPECT_MG_ERROR, expect_close
#include "mixgrad.h"
#include "optable/op_info.h"

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

using testing::Arg;
using testing::constant;
using testing::Fill;
using testing::index;
using testing::kArith;
using testing::kBFloat16ChainTol;
using testing::kBFloat16Tol;
using testing::kExact;
using testing::kFloat32Tol;
using testing::kHalfChainTol;
using testing::kHalfTol;
using testing::kLargeReduce;
using testing::kReduce;
using testing::kTrainingTol;
using testing::kTranscendental;
using testing::Layout;
using testing::mask;
using testing::normal;
using testing::OpFn;
using testing::positive;
using testing::strided;
using testing::Tol;
using testing::transposed;

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
  std::optional<Tol> grad_tol = std::nullopt;  // the gradients' bound, when not `tol`
};

// The looser of two bounds, each part apart.
inline Tol wider(Tol a, Tol b) {
  return {std::max(a.atol, b.atol), std::max(a.rtol, b.rtol)};
}

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

inline void expect_cuda_matches_cpu(const OpCase& c) {
  Generator gen(c.seed);
  std::vector<Tensor> cpu_leaves, gpu_leaves, cpu_in, gpu_in;
  for (const Arg& a : c.args) {
    Tensor host = testing::make_dense(a, gen);
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
    cpu_in.push_back(testing::view_of(host, a.layout));
    gpu_in.push_back(testing::view_of(dev, a.layout));
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
    expect_close(g_gpu, g_cpu, c.grad_tol.value_or(c.tol), what);
  }
}

}  // namespace mixgrad::cuda_testing
