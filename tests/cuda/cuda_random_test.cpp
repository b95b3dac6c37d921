// Random fills and dropout on CUDA draw from the same Philox stream as the CPU: the same seed
// gives the same numbers (uniform and randint bit for bit; normal up to the last bits of the
// device's log and cos), the same dropout mask, and advances the generator by the same amount.
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

// Box-Muller in double through CUDA's log/cos (<= 2 ulp from glibc's): float64 results differ in
// the last bits, float32 results by at most one rounding step.
constexpr Tol kNormalFloat64{1e-14, 1e-13};
constexpr Tol kNormalFloat32{0, 2.4e-7};

using FillFn = std::function<Tensor(Device, Generator*)>;

// The fill on both devices from equally seeded generators; both generators end at one offset.
void expect_same_stream(const std::string& name, const FillFn& fill, Tol tol) {
  SCOPED_TRACE(name);
  Generator cpu_gen(2024), gpu_gen(2024);
  const Tensor expected = fill(Device::cpu(), &cpu_gen);
  const Tensor got = fill(gpu(), &gpu_gen);
  EXPECT_EQ(got.device(), gpu());
  EXPECT_EQ(got.dtype(), expected.dtype());
  expect_close(got, expected, tol, name);
  EXPECT_EQ(gpu_gen.offset(), cpu_gen.offset());
  // A second draw continues the stream identically.
  expect_close(fill(gpu(), &gpu_gen), fill(Device::cpu(), &cpu_gen), tol, name + " (second draw)");
}

TEST(CudaRandom, FillsMatchTheCpuStream) {
  MG_REQUIRE_CUDA();
  const auto opts = [](DType t, Device d) { return TensorOptions(t).device(d); };
  for (DType t : {kFloat32, kFloat64}) {
    const std::string n = dtype_name(t);
    expect_same_stream(
        "rand/" + n,
        [&](Device d, Generator* g) {
          return rand({1000, 1003}, opts(t, d), g);
        },
        kExact);
    expect_same_stream(
        "uniform_/" + n,
        [&](Device d, Generator* g) {
          return nn::init::uniform_(empty({517, 3}, opts(t, d)), -2.0, 3.0, g);
        },
        kArith);
    expect_same_stream(
        "randn/" + n,
        [&](Device d, Generator* g) {
          return randn({1000, 1003}, opts(t, d), g);
        },
        t == kFloat32 ? kNormalFloat32 : kNormalFloat64);
    expect_same_stream(
        "normal_/" + n,
        [&](Device d, Generator* g) {
          return nn::init::normal_(empty({517, 3}, opts(t, d)), 0.5, 2.0, g);
        },
        t == kFloat32 ? kNormalFloat32 : kNormalFloat64);
  }
  for (DType t : {kInt32, kInt64}) {
    const std::string n = dtype_name(t);
    expect_same_stream(
        "randint/" + n,
        [&](Device d, Generator* g) {
          return randint(-7, 1000003, {999, 1001}, opts(t, d), g);
        },
        kExact);
  }
  expect_same_stream(
      "randint/full_range",
      [&](Device d, Generator* g) {
        return randint(-(int64_t{1} << 62), int64_t{1} << 62, {4096}, opts(kInt64, d), g);
      },
      kExact);
  expect_same_stream(
      "randperm", [&](Device d, Generator* g) { return randperm(100003, opts(kInt64, d), g); },
      kExact);
  expect_same_stream(
      "rand/empty",
      [&](Device d, Generator* g) {
        return rand({0, 5}, opts(kFloat32, d), g);
      },
      kExact);
}

TEST(CudaRandom, DefaultGeneratorDrivesTensorFills) {
  MG_REQUIRE_CUDA();
  manual_seed(99);
  Tensor a = empty({4097}, TensorOptions(kFloat32).device(gpu()));
  a.uniform_(-1, 1);
  manual_seed(99);
  Tensor b = empty({4097}, kFloat32);
  b.uniform_(-1, 1);
  expect_close(a, b, kArith, "uniform_ from the default generator");
}

TEST(CudaRandom, FillStatistics) {
  MG_REQUIRE_CUDA();
  Generator gen(7);
  constexpr int64_t n = 1 << 20;
  const Tensor u = rand({n}, TensorOptions(kFloat64).device(gpu()), &gen);
  EXPECT_GE(u.min().item<double>(), 0.0);
  EXPECT_LT(u.max().item<double>(), 1.0);
  // Five standard errors of a mean of 2^20 draws: 5 / sqrt(12 n) for U(0, 1), 5 / sqrt(n) for N.
  EXPECT_NEAR(u.mean().item<double>(), 0.5, 1.5e-3);
  const Tensor z = randn({n}, TensorOptions(kFloat64).device(gpu()), &gen);
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5e-3);
  EXPECT_NEAR(var(z).item<double>(), 1.0, 7e-3);
  const Tensor k = randint(0, 10, {n}, TensorOptions(kInt64).device(gpu()), &gen);
  const std::vector<int64_t> counts = bincount(k).to_vector<int64_t>();
  ASSERT_EQ(counts.size(), 10u);
  for (int64_t c : counts) EXPECT_NEAR(static_cast<double>(c), n / 10.0, 5 * std::sqrt(n * 0.09));
}

TEST(CudaRandom, DropoutMatchesCpuMaskAndStatistics) {
  MG_REQUIRE_CUDA();
  // A fresh equally seeded generator per call gives both devices the same mask.
  const auto drop = [](double p) {
    return [p](const std::vector<Tensor>& in) {
      Generator gen(31);
      return dropout(in[0], p, true, &gen);
    };
  };
  run_cases({
      {"dropout/0.3", {normal({64, 129})}, drop(0.3), kArith},
      {"dropout/0.5/float32", {normal({1000, 33}, kFloat32)}, drop(0.5), kArith},
      {"dropout/transposed", {transposed(normal({33, 40}))}, drop(0.2), kArith},
      {"dropout/p0", {normal({8, 9})}, drop(0.0)},
      {"dropout/p1", {normal({8, 9})}, drop(1.0)},
      {"dropout/eval",
       {normal({8, 9})},
       [](const std::vector<Tensor>& in) { return dropout(in[0], 0.5, false); }},
  });
  Generator gen(3);
  const Tensor y = dropout(ones({1 << 20}, TensorOptions(kFloat32).device(gpu())), 0.3, true, &gen);
  const double kept = (y != 0).to(kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 0.7, 5 * std::sqrt(0.21 / (1 << 20)));
  EXPECT_NEAR(y.max().item<double>(), 1.0 / 0.7, 1e-6);
}

}  // namespace
}  // namespace mixgrad::cuda_testing
