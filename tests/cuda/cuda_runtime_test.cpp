// The backend's runtime: clear errors (no GPU, bad device index, mixed devices, bad indices),
// the caching allocator's statistics, streams, and the TF32 switch.
#include <algorithm>
#include <cctype>

#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Runs where CI runs: without a usable GPU every way onto a CUDA device is a mixgrad::Error that
// names CUDA, never a crash or a CUDA runtime abort.
TEST(CudaRuntime, WithoutGpuCudaTensorsAreAClearError) {
  if (cuda::is_available())
    GTEST_SKIP() << "a CUDA device is available; this test covers machines without one";
  EXPECT_EQ(cuda::device_count(), 0);
  EXPECT_FALSE(cuda::allow_tf32());  // a preference: readable without a device
  const auto expect_cuda_error = [](const char* what, const std::function<void()>& fn) {
    SCOPED_TRACE(what);
    EXPECT_NE(lower(error_message(fn)).find("cuda"), std::string::npos);
  };
  expect_cuda_error("zeros", [] { zeros({2, 3}, Device::cuda()); });
  expect_cuda_error("empty", [] { empty({4}, TensorOptions(kFloat64).device(Device::cuda())); });
  expect_cuda_error("to", [] { ones({3}).to(Device::cuda()); });
  expect_cuda_error("rand", [] { rand({3}, Device::cuda()); });
  expect_cuda_error("module to", [] { std::make_shared<nn::Linear>(2, 2)->to(Device::cuda()); });
  expect_cuda_error("synchronize", [] { cuda::synchronize(); });
  expect_cuda_error("Stream::create", [] { cuda::Stream::create(); });
}

TEST(CudaRuntime, DevicesAndStreamsAreReported) {
  MG_REQUIRE_CUDA();
  EXPECT_TRUE(cuda::is_built());
  EXPECT_GE(cuda::device_count(), 1);
  EXPECT_EQ(cuda::current_device(), 0);
  cuda::set_device(0);
  EXPECT_EQ(cuda::current_stream(), cuda::Stream::default_stream());
  EXPECT_EQ(cuda::Stream::default_stream(0).device_index(), 0);
  EXPECT_EQ(zeros({2}, gpu()).device(), Device::cuda(0));
  EXPECT_EQ(Device("cuda:0"), Device::cuda(0));
}

// Only cumsum has a CUDA scan so far: the others are a clear Error there, never a wrong result.
TEST(CudaRuntime, ScansOtherThanCumsumAreAClearError) {
  MG_REQUIRE_CUDA();
  const Tensor x = randn({3, 4}).to(gpu());
  EXPECT_EQ(cumsum(x, 1).device(), gpu());
  EXPECT_MG_ERROR(cumprod(x, 1), "only the running sum");
  EXPECT_MG_ERROR(cummax(x, 0), "only the running sum");
  EXPECT_MG_ERROR(logcumsumexp(x, 1), "only the running sum");
}

TEST(CudaRuntime, NonexistentDeviceIndexIsAClearError) {
  MG_REQUIRE_CUDA();
  const int missing = 99;
  ASSERT_LT(cuda::device_count(), missing);
  for (const std::string& msg :
       {error_message([&] { zeros({2}, Device::cuda(missing)); }),
        error_message([&] { ones({2}).to(Device::cuda(missing)); }),
        error_message([&] { zeros({2}, gpu()).to(Device::cuda(missing)); }),
        error_message([&] { cuda::set_device(missing); }),
        error_message([&] { cuda::Stream::create(missing); }),
        error_message([&] { memory_stats(Device::cuda(missing)); })}) {
    EXPECT_NE(msg.find("99"), std::string::npos) << msg;
  }
  EXPECT_EQ(cuda::current_device(), 0);  // a failed set_device changes nothing
}

TEST(CudaRuntime, MixingDevicesInOneOpIsAnError) {
  MG_REQUIRE_CUDA();
  const Tensor h = ones({4, 3}), d = ones({4, 3}, gpu());
  const Tensor hi = zeros({4, 3}, kInt64), di = zeros({4, 3}, TensorOptions(kInt64).device(gpu()));
  const Tensor dm = zeros({4, 3}, TensorOptions(kBool).device(gpu()));
  const std::vector<std::pair<const char*, std::function<void()>>> ops = {
      {"add", [&] { h + d; }},
      {"add reversed", [&] { d + h; }},
      {"mul broadcast", [&] { d* ones({3}); }},
      {"eq", [&] { eq(d, h); }},
      {"where condition",
       [&] {
         where(zeros({4, 3}, kBool), d, d);
       }},
      {"where values", [&] { where(dm, d, h); }},
      {"masked_fill",
       [&] {
         masked_fill(d, zeros({4, 3}, kBool), 1.0);
       }},
      {"matmul", [&] { matmul(d, h.t()); }},
      {"bmm", [&] { bmm(d.unsqueeze(0), h.t().unsqueeze(0)); }},
      {"addmm",
       [&] {
         addmm(zeros({4, 4}), d, d.t());
       }},
      {"linear",
       [&] {
         linear(d, ones({2, 3}));
       }},
      {"gather index", [&] { gather(d, 1, hi); }},
      {"gather input", [&] { gather(h, 1, di); }},
      {"scatter_add src", [&] { scatter_add(d, 1, di, h); }},
      {"index_select", [&] { index_select(d, 0, zeros({2}, kInt64)); }},
      {"index_add",
       [&] {
         index_add(d, 0, zeros({2}, TensorOptions(kInt64).device(gpu())), ones({2, 3}));
       }},
      {"embedding", [&] { embedding(d, zeros({5}, kInt64)); }},
      {"cat",
       [&] {
         cat({d, h});
       }},
      {"stack",
       [&] {
         stack({h, d});
       }},
      {"layer_norm weight", [&] { layer_norm(d, {3}, ones({3})); }},
      {"batch_norm stats", [&] { batch_norm(d, zeros({3}), ones({3}), Tensor(), Tensor(), true); }},
      {"cross_entropy target", [&] { cross_entropy(d, zeros({4}, kInt64)); }},
      {"mse_loss", [&] { mse_loss(d, h); }},
      {"conv2d weight",
       [&] {
         conv2d(ones({1, 1, 4, 4}, gpu()), ones({1, 1, 2, 2}));
       }},
      {"grouped_matmul",
       [&] {
         grouped_matmul(d, ones({1, 3, 2}), tensor<int64_t>({4}));
       }},
      {"einsum",
       [&] {
         einsum("ij,kj->ik", {d, h});
       }},
      {"scatter index", [&] { scatter(d, 1, hi, d); }},
  };
  for (const auto& [name, fn] : ops) {
    SCOPED_TRACE(name);
    const std::string msg = error_message(fn);
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cuda:0"), std::string::npos) << msg;
    // Said as a device mismatch, not as a bad value.
    EXPECT_EQ(msg.find("invalid"), std::string::npos) << msg;
  }
  // A 0-dim CPU tensor (a C++ number) is the documented exception: it meets any device.
  const Tensor scaled = d * scalar_tensor(2.0);
  EXPECT_EQ(scaled.device(), gpu());
  expect_close(scaled, full({4, 3}, 2.0), kExact, "0-dim CPU operand");
  // Copies between devices are what copy_ is for.
  Tensor target = zeros({4, 3}, gpu());
  target.copy_(full({4, 3}, 5.0));
  expect_close(target, full({4, 3}, 5.0), kExact, "copy_ from CPU");
  Tensor host = zeros({4, 3});
  host.copy_(target.t().t() * 2.0);
  expect_close(host, full({4, 3}, 10.0), kExact, "copy_ to CPU");
}

// An index out of range on CUDA throws the CPU's Error, word for word, and leaves the device
// usable.
TEST(CudaRuntime, BadIndicesThrowTheCpuError) {
  MG_REQUIRE_CUDA();
  const Tensor x = arange(12, kFloat32).reshape({3, 4});
  const auto bad = [](std::vector<int64_t> v, Shape s) { return tensor(v, s); };
  const std::vector<std::pair<const char*, IndexErrorCase>> ops = {
      {"gather",
       [&](const Tensor& t, Device dv) {
         return gather(t, 1, bad({0, 1, 4, 2, 0, 0}, {3, 2}).to(dv));
       }},
      {"gather negative",
       [&](const Tensor& t, Device dv) {
         return gather(t, 0, bad({0, -1, 1, 2}, {1, 4}).to(dv));
       }},
      {"scatter",
       [&](const Tensor& t, Device dv) {
         return scatter(t, 1, bad({0, 9}, {1, 2}).to(dv), t.narrow(1, 0, 2).narrow(0, 0, 1));
       }},
      {"scatter_add",
       [&](const Tensor& t, Device dv) {
         return scatter_add(t, 0, bad({3, 0, 0, 0}, {1, 4}).to(dv), t.narrow(0, 0, 1));
       }},
      {"index_select",
       [&](const Tensor& t, Device dv) {
         return index_select(t, 0, bad({1, 3}, {2}).to(dv));
       }},
      {"index_add",
       [&](const Tensor& t, Device dv) {
         return index_add(t, 1, bad({5}, {1}).to(dv), t.narrow(1, 0, 1));
       }},
      {"embedding",
       [&](const Tensor& t, Device dv) {
         return embedding(t, bad({2, 0, 7}, {3}).to(dv));
       }},
      {"index",
       [&](const Tensor& t, Device dv) {
         return mixgrad::index(t, {bad({0, -4}, {2}).to(dv)});
       }},
      {"cross_entropy",
       [&](const Tensor& t, Device dv) {
         return cross_entropy(t, bad({0, 4, 1}, {3}).to(dv));
       }},
      {"one_hot",
       [&](const Tensor&, Device dv) {
         return one_hot(bad({0, 3}, {2}).to(dv), 3);
       }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    expect_cpu_error_on_cuda(x, op);
    // No sticky CUDA error: the next op works.
    expect_close(x.to(gpu()) * 2.0, x * 2.0, kExact, "after the error");
  }
}

TEST(CudaRuntime, MemoryStatsTrackAllocations) {
  MG_REQUIRE_CUDA();
  const Device dev = gpu();
  // Larger than any free remainder of a block in use, so the allocation reserves new memory.
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  cuda::synchronize();
  empty_cache(dev);
  const AllocatorStats before = memory_stats(dev);
  EXPECT_GE(before.reserved, before.allocated);
  reset_peak_memory_stats(dev);
  EXPECT_EQ(memory_stats(dev).peak_allocated, before.allocated);
  {
    const Tensor t = empty({static_cast<int64_t>(kBytes / 4)}, TensorOptions(kFloat32).device(dev));
    const AllocatorStats live = memory_stats(dev);
    EXPECT_GE(live.allocated, before.allocated + kBytes);
    EXPECT_LE(live.allocated, before.allocated + 2 * kBytes);  // rounding, not doubling
    EXPECT_GE(live.reserved, before.reserved + kBytes);
    EXPECT_GE(live.peak_allocated, live.allocated);
    EXPECT_EQ(live.system_allocs, before.system_allocs + 1);
  }
  cuda::synchronize();
  const AllocatorStats freed = memory_stats(dev);
  EXPECT_EQ(freed.allocated, before.allocated);
  EXPECT_GE(freed.reserved, before.reserved + kBytes);  // cached, not returned
  EXPECT_GE(freed.peak_allocated, before.allocated + kBytes);
  {
    // The same size again comes from the cache.
    const Tensor t = empty({static_cast<int64_t>(kBytes / 4)}, TensorOptions(kFloat32).device(dev));
    const AllocatorStats again = memory_stats(dev);
    EXPECT_EQ(again.system_allocs, freed.system_allocs);
    EXPECT_EQ(again.cache_hits, freed.cache_hits + 1);
    EXPECT_EQ(again.reserved, freed.reserved);
  }
  cuda::synchronize();
  empty_cache(dev);
  const AllocatorStats emptied = memory_stats(dev);
  EXPECT_EQ(emptied.allocated, before.allocated);
  EXPECT_EQ(emptied.reserved, before.reserved);
  reset_peak_memory_stats(dev);
  EXPECT_EQ(memory_stats(dev).peak_allocated, emptied.allocated);
  // The CPU's statistics are separate.
  const AllocatorStats cpu_before = memory_stats(Device::cpu());
  {
    const Tensor t = empty({static_cast<int64_t>(kBytes / 4)}, TensorOptions(kFloat32).device(dev));
  }
  EXPECT_EQ(memory_stats(Device::cpu()).allocated, cpu_before.allocated);
}

TEST(CudaRuntime, OpsRunOnAnotherStream) {
  MG_REQUIRE_CUDA();
  Generator gen(11);
  const Tensor a = randn({512, 256}, kFloat64, &gen), b = randn({256, 384}, kFloat64, &gen);
  const Tensor expected = softmax(matmul(a, b), -1).sum({0});
  const cuda::Stream side = cuda::Stream::create();
  EXPECT_FALSE(side == cuda::Stream::default_stream());
  EXPECT_NE(side.native_handle(), nullptr);
  const Tensor da = a.to(gpu()), db = b.to(gpu());
  Tensor result;
  {
    cuda::StreamGuard guard(side);
    EXPECT_EQ(cuda::current_stream(), side);
    side.wait(cuda::Stream::default_stream());  // da, db were written on the default stream
    // Enough queued work that a missing wait would be visible.
    Tensor acc = zeros({512, 384}, TensorOptions(kFloat64).device(gpu()));
    for (int i = 0; i < 20; ++i) acc = acc + matmul(da, db);
    result = softmax(acc / 20.0, -1).sum({0});
    cuda::record_stream(da, side);
    cuda::record_stream(db, side);
  }
  EXPECT_EQ(cuda::current_stream(), cuda::Stream::default_stream());
  side.synchronize();
  EXPECT_TRUE(side.query());
  expect_close(result, expected, kReduce, "result computed on a side stream");
  // A high-priority stream works the same way, and the default stream can wait on it.
  const cuda::Stream fast = cuda::Stream::create(-1, true);
  Tensor y;
  {
    cuda::StreamGuard guard(fast);
    fast.wait(cuda::Stream::default_stream());
    y = cumsum(da.flatten(), 0);
  }
  cuda::Stream::default_stream().wait(fast);
  expect_close(y * 1.0, cumsum(a.flatten(), 0), kLargeReduce, "after default waits on fast");
  cuda::synchronize();
}

TEST(CudaRuntime, Tf32IsOffByDefaultAndSwitchable) {
  MG_REQUIRE_CUDA();
  EXPECT_FALSE(cuda::allow_tf32());
  Generator gen(12);
  const Tensor a = randn({256, 256}, kFloat64, &gen), b = randn({256, 256}, kFloat64, &gen);
  const Tensor exact = matmul(a, b);
  const Tensor da = a.to(kFloat32).to(gpu()), db = b.to(kFloat32).to(gpu());
  const auto max_error = [&](const Tensor& got) {
    return amax(abs(got.to(kFloat64).to(Device::cpu()) - exact)).item<double>();
  };
  const double off = max_error(matmul(da, db));
  // float32 with K = 256 and |entries| ~ 16: errors of a few 1e-5 at most.
  EXPECT_LT(off, 1e-4);
  cuda::set_allow_tf32(true);
  EXPECT_TRUE(cuda::allow_tf32());
  const double on = max_error(matmul(da, db));
  cuda::set_allow_tf32(false);
  EXPECT_FALSE(cuda::allow_tf32());
  // TF32 keeps 10 mantissa bits: visibly less accurate, still close.
  EXPECT_GT(on, off);
  EXPECT_LT(on, 0.5);
  EXPECT_LT(max_error(matmul(da, db)), 1e-4);
}

// Attention rejects operands on different devices (the CPU kernels must never see a GPU pointer).
TEST(CudaRuntime, AttentionOperandsOnTwoDevicesAreAnError) {
  MG_REQUIRE_CUDA();
  const Tensor q = randn({1, 2, 3, 4}), k = randn({1, 2, 3, 4}), v = randn({1, 2, 3, 4});
  EXPECT_MG_ERROR(scaled_dot_product_attention(q, k.to(Device::cuda()), v), "one device");
  AttentionOptions options;
  options.mask = ones({3, 3}, TensorOptions(kBool).device(Device::cuda()));
  EXPECT_MG_ERROR(scaled_dot_product_attention(q, k, v, options), "mask is on");
}

}  // namespace
}  // namespace mixgrad::cuda_testing
