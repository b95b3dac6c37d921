// A classifier with a sparse top-2-of-8 Mixture-of-Experts block, written against the public API
// (README "An MoE model in a few lines"). Trains on a synthetic problem and checks that it learns.
#include <mixgrad.h>

#include <iostream>

namespace nn = mg::nn;

struct MoEClassifier : nn::Module {
  nn::Linear stem{32, 64};
  nn::LayerNorm norm{{64}};
  mg::models::MoE moe{{.d_model = 64, .hidden = 128, .num_experts = 8, .k = 2}};
  nn::Linear head{64, 4};
  MoEClassifier() {
    register_module("stem", stem);
    register_module("norm", norm);
    register_module("moe", moe);
    register_module("head", head);
  }
  // Logits, plus the MoE's load-balancing loss and routing statistics.
  mg::models::MoEOutput operator()(const mg::Tensor& x) {
    auto h = mg::gelu(stem(x));
    auto routed = moe(norm(h));  // top-2 of 8 experts per row
    routed.output = head(h + routed.output);
    return routed;
  }
};

int main() {
  mg::manual_seed(0);
  auto x = mg::randn({512, 32});
  auto target = mg::argmax(mg::matmul(x, mg::randn({32, 4})), 1);  // a learnable teacher

  MoEClassifier model;
  mg::optim::Adam optimizer(model.parameters(), {.lr = 3e-3});
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    optimizer.zero_grad();
    auto out = model(x);
    auto loss = mg::cross_entropy(out.output, target) + out.aux_loss;
    loss.backward();
    optimizer.step();
    last = loss.item<double>();
    if (step == 0) first = last;
  }
  std::cout << model.num_parameters() << " parameters, loss " << first << " -> " << last << "\n";
  return last < first * 0.5 ? 0 : 1;  // the example doubles as a smoke test
}
