// A user program: a few ops and a backward pass through an installed (or embedded) mixgrad.
// Exits with 1 if the gradient is not the hand-computed one. It also says whether it was linked
// with the CUDA backend (mixgrad::cuda); it runs on the CPU either way.
#include <mixgrad.h>

#include <cmath>
#include <iostream>
#include <vector>

int main() {
  auto x = mg::tensor({{1.0, 2.0}, {3.0, 4.0}});
  auto w = mg::tensor({{0.5}, {-1.0}}).requires_grad_();
  auto y = mg::matmul(x, w);  // [[-1.5], [-2.5]]
  auto loss = (y * y).sum();  // 2.25 + 6.25
  loss.backward();            // dloss/dw = 2 x^T y = [[-18], [-26]]

  std::cout << "loss = " << loss.item<double>() << "\n";
  std::cout << "dloss/dw = " << w.grad() << "\n";
  const std::vector<double> grad = w.grad().to_vector<double>();
  const bool ok = std::fabs(loss.item<double>() - 8.5) < 1e-6 && grad.size() == 2 &&
                  std::fabs(grad[0] + 18.0) < 1e-6 && std::fabs(grad[1] + 26.0) < 1e-6;
  std::cout << "CUDA backend: " << (mg::cuda::is_built() ? "linked" : "not linked") << "\n";
  std::cout << (ok ? "ok" : "WRONG RESULT") << "\n";
  return ok ? 0 : 1;
}
