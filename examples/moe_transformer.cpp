// A decoder-only Transformer whose feed-forward blocks are top-2-of-8 SwiGLU MoE layers, written
// against the public API (README "An MoE Transformer in 20 lines"). Learns to continue counting
// sequences (next token = token + 1) and checks that it does.
#include <mixgrad.h>

#include <iostream>

namespace nn = mg::nn;
using namespace mg::models;

struct MoETransformer : nn::Module {
  nn::Embedding embed{32, 64};
  std::vector<std::shared_ptr<TransformerBlock>> blocks;
  nn::RMSNorm norm{64};
  nn::Linear head{64, 32, /*bias=*/false};
  explicit MoETransformer(int layers) {
    register_module("embed", embed);
    for (int l = 0; l < layers; ++l) {  // causal rotary attention (GQA) + top-2-of-8 SwiGLU MoE
      auto moe = std::make_shared<MoE>(MoEOptions{.d_model = 64,
                                                  .hidden = 128,
                                                  .num_experts = 8,
                                                  .k = 2,
                                                  .activation = Activation::SwiGLU});
      blocks.push_back(register_module(
          "block" + std::to_string(l),
          std::make_shared<TransformerBlock>(
              TransformerBlockOptions{.d_model = 64, .num_heads = 4, .num_kv_heads = 2}, moe)));
    }
    register_module("norm", norm);
    register_module("head", head);
  }
  // tokens [B, T] -> logits [B, T, 32] and the MoE layers' load-balancing losses.
  std::pair<mg::Tensor, mg::Tensor> operator()(const mg::Tensor& tokens) {
    auto h = embed(tokens), aux = mg::zeros({});
    for (auto& block : blocks) {
      auto out = (*block)(h);
      h = out.output, aux = aux + out.aux_loss;
    }
    return {head(norm(h)), aux};
  }
};

int main() {
  mg::manual_seed(0);
  MoETransformer model(2);
  mg::optim::Adam optimizer(model.parameters(), {.lr = 3e-3});
  const auto counting = mg::arange(17, mg::kInt64).view({1, 17});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    auto seq = mg::randint(0, 16, {16, 1}, mg::kInt64) + counting;  // 16 runs of 17 tokens
    auto [logits, aux] = model(seq.narrow(1, 0, 16));
    auto loss = mg::cross_entropy(logits.reshape({-1, 32}), seq.narrow(1, 1, 16).reshape({-1}));
    optimizer.zero_grad();
    (loss + aux).backward();
    optimizer.step();
    last = loss.item<double>();
    if (step == 0) first = last;
  }
  std::cout << model.num_parameters() << " parameters, loss " << first << " -> " << last << "\n";
  return last < first * 0.25 ? 0 : 1;  // the example doubles as a smoke test
}
