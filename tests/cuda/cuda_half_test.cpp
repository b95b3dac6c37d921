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
};

const HalfKind kKinds[] = {
    {DType::Float16, round_to_half},
    {DType::BFloat16, round_to_bfloat16},
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

// Half precision is compared on samples up to this many input elements: longer sums accumulate
// more rounding than one bound covers.
constexpr int64_t kHalfSampleElements = 20000;

// The op table's rows that run in half precision (OpInfo::half_tol / bfloat16_tol), each sample
// with float32 inputs on the CPU, rounded to the half dtype on CUDA.
std::vector<OpCase> half_cases(const HalfKind& kind) {
  const bool is_half = kind.dtype == DType::Float16;
  // One rounding of a float32 sum: the least bound of a gradient (a broadcast input's is a sum).
  const Tol one_rounding = is_half ? kHalfTol : kBFloat16Tol;
  std::vector<OpCase> cases;
  for (const testing::OpInfo& row : testing::op_table()) {
    const std::optional<Tol> tol = is_half ? row.half_tol : row.bfloat16_tol;
    if (!tol || !row.cuda) continue;
    for (const testing::Sample& s : row.samples) {
      int64_t elements = 0;
      bool floating = false;
      std::vector<Arg> args = s.args;
      for (Arg& a : args) {
        elements += numel_of(a.shape);
        if (is_floating(a.dtype)) {
          a.dtype = kFloat32;
          floating = true;
        }
      }
      // Integer samples have nothing to round; long ones accumulate more than the bound covers.
      if (!floating || elements > kHalfSampleElements) continue;
      OpCase c{std::string(dtype_name(kind.dtype)) + "/" + row.name + "/" + s.name, args, row.fn,
               *tol, row.differentiable && row.half_backward};
      c.cuda_dtype = kind.dtype;
      c.grad_tol = wider(*tol, one_rounding);
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

TEST(CudaHalf, OpsMatchCpuOnRoundedInputs) {
  MG_REQUIRE_CUDA();
  for (const HalfKind& kind : kKinds) run_cases(half_cases(kind));
}

}  // namespace
}  // namespace mixgrad::cuda_testing
