// set_deterministic_algorithms on CUDA: index_add, scatter_add and weighted bincount with many
// repeated indices give bit-identical results run after run, and match the CPU. With the switch
// on each target's contributions are added in the CPU's order, so float64 results should even be
// bitwise equal to the CPU's; the bound stays kReduce (the CPU is the reference, not the order).
// Unweighted bincount counts through cub::DeviceHistogram and must equal the CPU exactly.
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

// The raw bytes of t (on the host), for bitwise comparisons that also tell -0.0 from 0.0.
std::vector<unsigned char> bytes_of(const Tensor& t) {
  const Tensor host = t.to(Device::cpu()).contiguous();
  const auto* p = static_cast<const unsigned char*>(host.data_ptr());
  return {p, p + host.numel() * static_cast<int64_t>(dtype_size(host.dtype()))};
}

// Runs `op` on CUDA three times from the same inputs: the results must be bitwise identical and
// match `op` on the CPU within `tol`.
void expect_reproducible(const std::function<Tensor(Device)>& op, Tol tol) {
  const Tensor expected = op(Device::cpu());
  const Tensor first = op(gpu());
  expect_close(first, expected, tol, "run 1 against the CPU");
  const std::vector<unsigned char> reference = bytes_of(first);
  for (int run = 2; run <= 3; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    EXPECT_TRUE(bytes_of(op(gpu())) == reference) << "not bitwise equal to run 1";
  }
}

TEST(CudaDeterministic, IndexAddIsReproducible) {
  MG_REQUIRE_CUDA();
  const DeterministicGuard deterministic;
  Generator gen(7);
  // 20,000 rows into 50: every target row is hit ~400 times.
  const Tensor x = randn({50, 33}, kFloat64, &gen), src = randn({20000, 33}, kFloat64, &gen);
  const Tensor idx = randint(0, 50, {20000}, kInt64, &gen);
  for (const double alpha : {1.0, 0.5}) {
    SCOPED_TRACE("alpha " + std::to_string(alpha));
    expect_reproducible(
        [&](Device d) { return index_add(x.to(d), 0, idx.to(d), src.to(d), alpha); }, kReduce);
  }
  // Along dim 1 from a strided source, float32, int32 indices.
  const Tensor x1 = randn({7, 40}, kFloat32, &gen), src1 = randn({7, 6000}, kFloat32, &gen);
  const Tensor idx1 = randint(0, 40, {3000}, kInt32, &gen);
  expect_reproducible(
      [&](Device d) {
        return index_add(x1.to(d), 1, idx1.to(d), src1.to(d).slice(1, 0, std::nullopt, 2));
      },
      kFloat32Tol);
}

TEST(CudaDeterministic, ScatterAddIsReproducible) {
  MG_REQUIRE_CUDA();
  const DeterministicGuard deterministic;
  Generator gen(8);
  // Each row's 50,000 sources land in 64 targets.
  const Tensor x = randn({8, 64}, kFloat64, &gen), src = randn({8, 50000}, kFloat64, &gen);
  const Tensor idx = randint(0, 64, {8, 50000}, kInt64, &gen);
  expect_reproducible([&](Device d) { return scatter_add(x.to(d), 1, idx.to(d), src.to(d)); },
                      kReduce);
  // Along dim 0, transposed source, float32.
  const Tensor x0 = randn({16, 5}, kFloat32, &gen), src0 = randn({5, 9000}, kFloat32, &gen);
  const Tensor idx0 = randint(0, 16, {9000, 5}, kInt64, &gen);
  expect_reproducible(
      [&](Device d) { return scatter_add(x0.to(d), 0, idx0.to(d), src0.to(d).transpose(0, 1)); },
      kFloat32Tol);
}

// Embedding's backward is index_select's: an index_add of the output gradient's rows.
TEST(CudaDeterministic, EmbeddingBackwardIsReproducible) {
  MG_REQUIRE_CUDA();
  const DeterministicGuard deterministic;
  Generator gen(9);
  const Tensor table = randn({30, 16}, kFloat64, &gen), w = randn({10000, 16}, kFloat64, &gen);
  const Tensor ids = randint(0, 30, {10000}, kInt64, &gen);
  expect_reproducible(
      [&](Device d) {
        // A fresh leaf each run (on the CPU, to() would return `table` itself).
        Tensor t = table.clone().to(d);
        t.requires_grad_();
        (embedding(t, ids.to(d)) * w.to(d)).sum().backward();
        return t.grad();
      },
      kReduce);
}

TEST(CudaDeterministic, BincountMatchesCpu) {
  MG_REQUIRE_CUDA();
  Generator gen(10);
  const Tensor values = randint(0, 256, {1000000}, kInt64, &gen);
  const Tensor values32 = randint(0, 1000, {20001}, kInt32, &gen);
  for (const bool on : {false, true}) {
    SCOPED_TRACE(on ? "deterministic" : "default");
    const DeterministicGuard deterministic(on);
    // Unweighted counts are integers: exact either way (cub::DeviceHistogram).
    expect_close(bincount(values.to(gpu())), bincount(values), kExact, "unweighted");
    expect_close(bincount(values32.to(gpu()), Tensor(), 1500), bincount(values32, Tensor(), 1500),
                 kExact, "unweighted/minlength/int32");
    const Tensor strided = values32.slice(0, 0, std::nullopt, 3);
    expect_close(bincount(strided.to(gpu())), bincount(strided), kExact, "unweighted/strided");
  }
  const DeterministicGuard deterministic;
  const Tensor weights = randn({1000000}, kFloat64, &gen);
  expect_reproducible([&](Device d) { return bincount(values.to(d), weights.to(d)); }, kReduce);
  const Tensor weights32 = randn({20001}, kFloat32, &gen);
  expect_reproducible([&](Device d) { return bincount(values32.to(d), weights32.to(d)); },
                      kFloat32Tol);
}

// Overlapping windows (stride 1, and dilation 2) pass several gradients to one input; the
// deterministic backward gathers them in the CPU's window order.
TEST(CudaDeterministic, MaxPoolBackwardIsReproducible) {
  MG_REQUIRE_CUDA();
  const DeterministicGuard deterministic;
  Generator gen(12);
  // Few distinct values, so one input is the maximum of many windows.
  const Tensor x = randint(0, 4, {4, 3, 33, 31}, kInt64, &gen).to(kFloat32);
  const Tensor w = randn({4, 3, 31, 29}, kFloat32, &gen);
  const Tensor wd = randn({4, 3, 29, 27}, kFloat32, &gen);
  for (const bool dilated : {false, true}) {
    SCOPED_TRACE(dilated ? "dilation 2" : "dilation 1");
    expect_reproducible(
        [&](Device d) {
          const Tensor leaf = x.to(d).detach().requires_grad_();
          const MaxPool2dOptions o{.stride = 1, .dilation = dilated ? 2 : 1};
          (max_pool2d(leaf, 3, o) * (dilated ? wd : w).to(d)).sum().backward();
          return leaf.grad();
        },
        kFloat32Tol);
  }
}

// The deterministic path checks indices itself (the sort's record pass): same Error as the CPU.
TEST(CudaDeterministic, BadIndicesThrowTheCpuError) {
  MG_REQUIRE_CUDA();
  const DeterministicGuard deterministic;
  const Tensor x = arange(12, kFloat64).reshape({3, 4});
  const std::vector<std::pair<const char*, IndexErrorCase>> ops = {
      {"scatter_add",
       [](const Tensor& t, Device d) {
         return scatter_add(t, 0,
                            tensor(std::vector<int64_t>{0, 0, 3, 0, 1, 1, 1, 1}, Shape{2, 4}).to(d),
                            t.narrow(0, 0, 2));
       }},
      {"index_add",
       [](const Tensor& t, Device d) {
         return index_add(t, 1, tensor<int64_t>({0, 5, 0}).to(d), t.narrow(1, 0, 3));
       }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    expect_cpu_error_on_cuda(x, op);
  }
}

}  // namespace
}  // namespace mixgrad::cuda_testing
