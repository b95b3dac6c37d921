// A first tour: tensors, broadcasting, views, autograd.
#include <mixgrad.h>

#include <iostream>

int main() {
  mg::manual_seed(0);
  auto x = mg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  auto w = mg::tensor({0.5, -1.0, 2.0}).requires_grad_();
  auto y = (x * w + 1).relu();  // broadcasting [2, 3] * [3]
  auto loss = y.sum();
  loss.backward();
  std::cout << "x = " << x << "\n";
  std::cout << "y = " << y << "\n";
  std::cout << "loss = " << loss.item<double>() << "\n";
  std::cout << "dloss/dw = " << w.grad() << "\n";
  std::cout << "x[1] = " << x[1] << ", x^T = " << x.t() << "\n";
  std::cout << "randn(2, 3) = " << mg::randn({2, 3}) << "\n";
  std::cout << "arange(2000) = " << mg::arange(2000) << "\n";
  return 0;
}
