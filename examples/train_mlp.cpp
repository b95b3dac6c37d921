// Trains a two-layer MLP classifier on a synthetic problem with plain SGD and prints the loss.
#include <mixgrad.h>

#include <iostream>

int main() {
  mg::manual_seed(0);
  const int64_t n = 512, d = 16, hidden = 64, classes = 4;
  // Labels come from a fixed random linear teacher, so the task is learnable.
  auto x = mg::randn({n, d});
  auto teacher = mg::randn({d, classes});
  auto target = mg::argmax(mg::matmul(x, teacher), 1);

  auto w1 = (mg::randn({hidden, d}) * 0.2).detach().requires_grad_();
  auto b1 = mg::zeros({hidden}).requires_grad_();
  auto w2 = (mg::randn({classes, hidden}) * 0.2).detach().requires_grad_();
  auto b2 = mg::zeros({classes}).requires_grad_();

  float first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    auto logits = mg::linear(mg::relu(mg::linear(x, w1, b1)), w2, b2);
    auto loss = mg::cross_entropy(logits, target);
    loss.backward();
    {
      mg::NoGradGuard no_grad;
      for (mg::Tensor* p : {&w1, &b1, &w2, &b2}) {
        p->sub_(p->grad() * 0.5);
        p->zero_grad();
      }
    }
    last = loss.item<float>();
    if (step == 0) first = last;
    if (step % 50 == 0) std::cout << "step " << step << "  loss " << last << "\n";
  }
  auto logits = mg::linear(mg::relu(mg::linear(x, w1, b1)), w2, b2);
  auto accuracy = mg::eq(mg::argmax(logits, 1), target).to(mg::kFloat32).mean().item<float>();
  std::cout << "final loss " << last << "  train accuracy " << accuracy << "\n";
  return last < first * 0.5f ? 0 : 1;  // the example doubles as a smoke test
}
