// Writing your own differentiable op, in one file, outside the library.
//
// softsign(x) = x / (1 + |x|), d/dx = 1 / (1 + |x|)^2.
// The forward is a hand-written loop (it could be anything: a SIMD kernel, a call into another
// library); the backward is recorded with mg::record, exactly as the built-in ops do it.
#include <mixgrad.h>

#include <cmath>
#include <iostream>

mg::Tensor softsign(const mg::Tensor& x) {
  MG_CHECK(x.dtype() == mg::kFloat64 || x.dtype() == mg::kFloat32, "softsign",
           "expected a floating tensor, got ", x.dtype());
  mg::Tensor in = x.contiguous();
  mg::Tensor out = mg::empty_like(in);
  auto run = [&]<class T>() {
    const T* src = in.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    for (int64_t i = 0; i < in.numel(); ++i) dst[i] = src[i] / (T(1) + std::abs(src[i]));
  };
  if (x.dtype() == mg::kFloat64)
    run.operator()<double>();
  else
    run.operator()<float>();

  mg::record("softsign", out, {x}, [sx = mg::save(x)](const mg::Tensor& g, mg::InputGrads in) {
    mg::Tensor denom = 1 + mg::abs(sx.get());
    in[0].add(g / (denom * denom));
  });
  return out;
}

int main() {
  mg::Generator gen(0);
  auto x = mg::randn({3, 4}, mg::kFloat64, &gen).requires_grad_();

  // 1. It joins the graph like any op.
  auto loss = softsign(x * 2).sum();
  loss.backward();
  std::cout << "d loss / dx = " << x.grad() << "\n";

  // 2. gradcheck agrees with finite differences.
  auto check =
      mg::gradcheck([](const std::vector<mg::Tensor>& in) { return softsign(in[0]); }, {x});
  std::cout << check << "\n";

  // 3. Under NoGradGuard nothing is recorded.
  {
    mg::NoGradGuard no_grad;
    auto y = softsign(x);
    std::cout << "recorded under NoGradGuard: " << std::boolalpha << y.requires_grad() << "\n";
    if (y.requires_grad()) return 1;
  }
  return check.ok ? 0 : 1;
}
