// The CPU's element-wise loops run a copy built for the widest vectors the machine has
// (backends/cpu/loop.h, map_run_wide) on runs at unit stride or broadcast (stride 0), and the
// baseline build on other strides. Both must give the same bits, forward and backward, or a result
// would depend on the machine and on the layout of its operands.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

// Float values over the ranges where the approximations change branch or saturate, plus the
// special values.
Tensor probe_values(DType dtype) {
  Generator gen(7);
  Tensor x = randn({4093}, TensorOptions().dtype(dtype), &gen) * 6.0;
  const double inf = std::numeric_limits<double>::infinity();
  Tensor special =
      tensor(std::vector<double>{0.0, -0.0, 1e-30, -1e-30, 88.5, -88.5, 100.0, -100.0, 20.0, -20.0,
                                 inf, -inf, std::numeric_limits<double>::quiet_NaN()})
          .to(dtype);
  return cat({x, special});
}

// `x` laid out every other element of a buffer twice its size: the same values, stride 2
// (made by differentiable ops, so that gradients flow back to x).
Tensor strided_copy(const Tensor& x) {
  return stack({x, zeros_like(x)}, 1).select(1, 0);
}
// The same through the same ops, at stride 1 (so that both gradients add the same zeros).
Tensor unit_stride_copy(const Tensor& x) {
  return stack({x, zeros_like(x)}, 0).select(0, 0);
}

// Every element the same bits, zeros' signs included; NaNs count as equal whatever their sign
// and payload, which IEEE leaves open (x86 returns the first operand's NaN, and a compiler may
// swap the operands of a commutative op: seen in the sanitizer build's silu backward).
template <class T>
void expect_same_bits_typed(const Tensor& a, const Tensor& b, const std::string& what) {
  const T* x = a.data_ptr<T>();
  const T* y = b.data_ptr<T>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(x[i]) && std::isnan(y[i])) continue;
    ASSERT_EQ(std::memcmp(x + i, y + i, sizeof(T)), 0)
        << what << ": the unit-stride and strided loops differ at " << i << ": " << x[i] << " and "
        << y[i];
  }
}

void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  if (ca.dtype() == DType::Float32)
    expect_same_bits_typed<float>(ca, cb, what);
  else
    expect_same_bits_typed<double>(ca, cb, what);
}

// An op, and what its input values go through first (applied before the input is laid out at
// unit or other stride, so that the op itself reads the laid-out input).
struct Named {
  std::string name;
  std::function<Tensor(const Tensor&)> fn;
  std::function<Tensor(const Tensor&)> prepare = [](const Tensor& x) { return x; };
};

std::vector<Named> activations() {
  const auto abs = [](const Tensor& x) { return x.abs(); };
  return {{"exp", [](const Tensor& x) { return exp(x); }},
          {"expm1", [](const Tensor& x) { return expm1(x); }},
          {"log1p", [](const Tensor& x) { return log1p(x); }, abs},
          {"sqrt", [](const Tensor& x) { return sqrt(x); }, abs},
          {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, abs},
          {"erf", [](const Tensor& x) { return erf(x); }},
          {"gelu", [](const Tensor& x) { return gelu(x); }},
          {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
          {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
          {"tanh", [](const Tensor& x) { return tanh(x); }},
          {"silu", [](const Tensor& x) { return silu(x); }},
          {"elu", [](const Tensor& x) { return elu(x, 0.7); }},
          {"softplus", [](const Tensor& x) { return softplus(x, 1.5, 10.0); }},
          // Two inputs, one of them laid out (the other is computed, so always at unit stride).
          {"pow", [](const Tensor& x) { return pow(x, x * 0.3); }, abs},
          {"div", [](const Tensor& x) { return div(x, x * x + 0.5); }},
          // A broadcast operand (stride 0) on either side.
          {"div_by_one_value", [](const Tensor& x) { return div(x, tensor({1.7}).to(x.dtype())); }},
          {"one_value_pow", [](const Tensor& x) { return pow(tensor({1.3}).to(x.dtype()), x); },
           [](const Tensor& x) { return x * 0.5; }}};
}

TEST(CpuLevels, ForwardLoopsGiveTheSameBitsAtUnitAndOtherStrides) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor values = probe_values(dtype);
    for (const auto& op : activations()) {
      const Tensor x = op.prepare(values);
      const Tensor xs = strided_copy(x);
      ASSERT_TRUE(x.is_contiguous());
      ASSERT_FALSE(xs.is_contiguous());
      expect_same_bits(op.fn(x), op.fn(xs), op.name + " " + dtype_name(dtype));
    }
  }
}

TEST(CpuLevels, BackwardLoopsGiveTheSameBitsAtUnitAndOtherStrides) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const auto& op : activations()) {
      if (op.name.find("pow") != std::string::npos || op.name.find("div") != std::string::npos)
        continue;  // x**y and x/y: backward of x**y at x = 0 is inf
      const Tensor values = op.prepare(probe_values(dtype));
      Tensor grads[2];
      for (int strided = 0; strided < 2; ++strided) {
        Tensor leaf = values.clone().requires_grad_();
        Tensor in = strided ? strided_copy(leaf) : unit_stride_copy(leaf);
        ASSERT_EQ(in.is_contiguous(), !strided);
        op.fn(in).backward(strided ? strided_copy(ones_like(values)) : ones_like(values));
        grads[strided] = leaf.grad();
      }
      expect_same_bits(grads[0], grads[1], op.name + " backward " + dtype_name(dtype));
    }
  }
}

}  // namespace
}  // namespace mixgrad
