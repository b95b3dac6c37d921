// float16 and bfloat16 storage on CUDA: conversions round to nearest-even exactly as a host
// reference does, and ops on half inputs match the CPU's float32 result on the same (rounded)
// inputs within the storage precision.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>

#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

using Inputs = std::vector<Tensor>;

// IEEE binary16 round-to-nearest-even of a float (the reference for float32 -> float16).
float round_to_half(float f) {
  const double d = f;
  if (std::isnan(d) || std::isinf(d) || d == 0) return f;
  if (std::fabs(d) >= 65520.0) return std::copysign(std::numeric_limits<float>::infinity(), f);
  int e = 0;
  std::frexp(d, &e);  // |d| in [2^(e-1), 2^e)
  const double quantum = std::ldexp(1.0, std::max(e - 1, -14) - 10);
  return static_cast<float>(std::nearbyint(d / quantum) * quantum);
}

// bfloat16 round-to-nearest-even: keep the top 16 bits of the float.
float round_to_bfloat16(float f) {
  if (std::isnan(f)) return f;
  uint32_t u = std::bit_cast<uint32_t>(f);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return std::bit_cast<float>(u & 0xFFFF0000u);
}

struct HalfKind {
  DType dtype;
  float (*round)(float);
  Tol tol;        // one rounding of the result
  Tol chain_tol;  // ops built from several rounded ops (softmax backward, norms, losses)
};

const HalfKind kKinds[] = {
    {DType::Float16, round_to_half, kHalfTol, kHalfChainTol},
    {DType::BFloat16, round_to_bfloat16, kBFloat16Tol, kBFloat16ChainTol},
};

TEST(CudaHalf, RoundTripOfRepresentableValuesIsExact) {
  MG_REQUIRE_CUDA();
  std::vector<float> values;
  for (int k = -64; k <= 64; ++k) values.push_back(static_cast<float>(k) / 8.0f);
  values.push_back(std::numeric_limits<float>::infinity());
  values.push_back(-std::numeric_limits<float>::infinity());
  values.push_back(std::numeric_limits<float>::quiet_NaN());
  const Tensor host = tensor(values);
  for (const HalfKind& kind : kKinds) {
    SCOPED_TRACE(dtype_name(kind.dtype));
    const Tensor half = host.to(gpu()).to(kind.dtype);
    EXPECT_EQ(half.dtype(), kind.dtype);
    EXPECT_EQ(half.element_size(), 2u);
    expect_close(half.to(kFloat32), host, kExact, "float32 round trip");
    expect_close(half.to(kFloat64), host.to(kFloat64), kExact, "float64 widening");
    expect_close(half.to(Device::cpu()).to(kFloat32), host, kExact, "copy to host");
  }
}

TEST(CudaHalf, ConversionRoundsToNearestEven) {
  MG_REQUIRE_CUDA();
  Generator gen(5);
  // Wide magnitudes (subnormal to overflow for float16) plus exact ties.
  Tensor x = randn({20000}, kFloat32, &gen) * exp(randn({20000}, kFloat32, &gen) * 6.0f);
  const std::vector<float> ties = {1.0f + 0x1.0p-11f, 1.0f + 3 * 0x1.0p-11f,
                                   1.0f + 0x1.0p-8f,  1.0f + 3 * 0x1.0p-8f,
                                   70000.0f,          -1e5f,
                                   0x1.0p-25f,        0x1.8p-24f};
  x = cat({x, tensor(ties)});
  const std::vector<float> source = x.to_vector<float>();
  for (const HalfKind& kind : kKinds) {
    SCOPED_TRACE(dtype_name(kind.dtype));
    std::vector<float> expected;
    for (float f : source) expected.push_back(kind.round(f));
    const Tensor rounded = x.to(gpu()).to(kind.dtype).to(kFloat32);
    expect_close(rounded, tensor(expected), kExact, "float32 -> half -> float32");
    // Integers convert through the same rounding.
    const Tensor ints = arange(-3000, 3000, 7, kInt64);
    std::vector<float> int_expected;
    for (int64_t v : ints.to_vector<int64_t>())
      int_expected.push_back(kind.round(static_cast<float>(v)));
    expect_close(ints.to(gpu()).to(kind.dtype).to(kFloat32), tensor(int_expected), kExact,
                 "int64 -> half");
  }
}

std::vector<OpCase> half_cases(const HalfKind& kind) {
  const Tol one = kind.tol, chain = kind.chain_tol;
  std::vector<OpCase> cases = {
      {"exp", {normal({8, 33}, kFloat32)}, [](const Inputs& in) { return exp(in[0]); }, one},
      {"sigmoid",
       {normal({8, 33}, kFloat32)},
       [](const Inputs& in) { return sigmoid(in[0]); },
       one},
      {"gelu", {normal({8, 33}, kFloat32)}, [](const Inputs& in) { return gelu(in[0]); }, one},
      {"relu/transposed",
       {transposed(normal({33, 8}, kFloat32))},
       [](const Inputs& in) { return relu(in[0]); },
       kExact},
      {"add/broadcast",
       {normal({8, 33}, kFloat32), normal({33}, kFloat32)},
       [](const Inputs& in) { return in[0] + in[1]; },
       one},
      {"mul/strided",
       {strided(normal({8, 33}, kFloat32)), normal({8, 1}, kFloat32)},
       [](const Inputs& in) { return in[0] * in[1]; },
       one},
      {"sum/dim1",
       {normal({8, 1000}, kFloat32)},
       [](const Inputs& in) { return sum(in[0], {1}); },
       one},
      {"mean/all",
       {normal({8, 1000}, kFloat32)},
       [](const Inputs& in) { return mean(in[0]); },
       one},
      {"amax/dim0",
       {normal({8, 33}, kFloat32)},
       [](const Inputs& in) { return amax(in[0], {0}); },
       kExact},
      {"cumsum",
       {normal({4, 100}, kFloat32)},
       [](const Inputs& in) { return cumsum(in[0], 1); },
       one},
      {"matmul",
       {normal({16, 64}, kFloat32), normal({64, 24}, kFloat32)},
       [](const Inputs& in) { return matmul(in[0], in[1]); },
       one},
      {"bmm/transposed",
       {normal({3, 16, 64}, kFloat32), transposed(normal({3, 64, 24}, kFloat32))},
       [](const Inputs& in) { return bmm(in[0], in[1]); },
       one},
      {"softmax",
       {normal({8, 513}, kFloat32)},
       [](const Inputs& in) { return softmax(in[0], -1); },
       chain},
      {"log_softmax",
       {normal({8, 33}, kFloat32)},
       [](const Inputs& in) { return log_softmax(in[0], -1); },
       chain},
      {"layer_norm",
       {normal({8, 64}, kFloat32), normal({64}, kFloat32), normal({64}, kFloat32)},
       [](const Inputs& in) { return layer_norm(in[0], {64}, in[1], in[2]); },
       chain,
       false},
      {"cross_entropy",
       {normal({8, 10}, kFloat32), index({8}, 10)},
       [](const Inputs& in) { return cross_entropy(in[0], in[1]); },
       chain,
       false},
      {"sort/values",
       {normal({8, 300}, kFloat32)},
       [](const Inputs& in) { return sort(in[0], -1, true).values; },
       kExact},
      {"topk/values",
       {normal({64, 60}, kFloat32)},
       [](const Inputs& in) { return topk(in[0], 2).values; },
       kExact},
      {"gather",
       {normal({8, 33}, kFloat32), index({8, 5}, 33)},
       [](const Inputs& in) { return gather(in[0], 1, in[1]); },
       one},
      {"embedding",
       {normal({20, 16}, kFloat32), index({30}, 20)},
       [](const Inputs& in) { return embedding(in[0], in[1]); },
       one},
      {"cat",
       {normal({3, 5}, kFloat32), normal({2, 5}, kFloat32)},
       [](const Inputs& in) { return cat(in, 0); },
       kExact},
      {"where",
       {mask({6, 5}), normal({6, 5}, kFloat32), normal({5}, kFloat32)},
       [](const Inputs& in) { return where(in[0], in[1], in[2]); },
       kExact},
      {"conv2d",
       {normal({2, 3, 8, 8}, kFloat32), normal({4, 3, 3, 3}, kFloat32)},
       [](const Inputs& in) { return conv2d(in[0], in[1]); },
       one,
       false},
  };
  for (OpCase& c : cases) {
    c.name = std::string(dtype_name(kind.dtype)) + "/" + c.name;
    c.cuda_dtype = kind.dtype;
  }
  return cases;
}

TEST(CudaHalf, OpsMatchCpuOnRoundedInputs) {
  MG_REQUIRE_CUDA();
  for (const HalfKind& kind : kKinds) run_cases(half_cases(kind));
}

}  // namespace
}  // namespace mixgrad::cuda_testing
