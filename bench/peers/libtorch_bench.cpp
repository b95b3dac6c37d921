// libtorch-bench: mixgrad-bench's cases (bench/moe_bench.cpp) written the way a good libtorch user
// would write them, for side-by-side timing on the same machine. Same flags, same case names,
// same shapes, float32, same gating math, same timing (bench/harness.h), same output lines:
//   libtorch-bench [--threads N] [--filter REGEX] [--min-time S] [--list]
// Idioms: experts are separate modules (one Linear / FFN per expert, in a ModuleList), token-slots
// are sorted by expert with a stable argsort, each expert runs on its contiguous slice of
// index_select'ed rows, and index_add_ scatters the gated outputs back.
// "fwd" runs under NoGradGuard in eval mode; "step" zeroes the gradients (set to none, like
// mixgrad), runs forward + loss + backward in train mode.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/harness.h"

namespace {

using mixgrad::bench::Case;
namespace F = torch::nn::functional;

enum class Pass { Forward, Step };

const char* pass_suffix(Pass pass) {
  return pass == Pass::Forward ? "fwd" : "step";
}

enum class Activation { ReLU, Tanh, GELU, ELU };

torch::Tensor activate(Activation activation, const torch::Tensor& x) {
  switch (activation) {
    case Activation::ReLU:
      return torch::relu(x);
    case Activation::Tanh:
      return torch::tanh(x);
    case Activation::GELU:
      return torch::gelu(x);  // exact (erf) form, as mixgrad's default
    case Activation::ELU:
      return torch::elu(x);
  }
  return x;
}

// The same activations as modules, for Sequential.
torch::nn::AnyModule activation_module(Activation activation) {
  switch (activation) {
    case Activation::ReLU:
      return torch::nn::AnyModule(torch::nn::ReLU());
    case Activation::Tanh:
      return torch::nn::AnyModule(torch::nn::Tanh());
    case Activation::GELU:
      return torch::nn::AnyModule(torch::nn::GELU());
    case Activation::ELU:
      return torch::nn::AnyModule(torch::nn::ELU());
  }
  return torch::nn::AnyModule(torch::nn::Identity());
}

// The function to time for one model, as mixgrad-bench's timed_pass: `loss_of` maps the model's
// output to the scalar loss. `forward_in_train_mode` keeps batch norm on batch statistics in the
// forward case (conv_resnet_block asks for that).
template <class Model, class Forward, class Loss>
std::function<void()> timed_pass(Model model, Pass pass, Forward forward, Loss loss_of,
                                 bool forward_in_train_mode = false) {
  if (pass == Pass::Forward) {
    model->train(forward_in_train_mode);
    return [model, forward]() mutable {
      torch::NoGradGuard no_grad;
      forward(model);
    };
  }
  model->train();
  return [model, forward, loss_of]() mutable {
    model->zero_grad(/*set_to_none=*/true);
    loss_of(forward(model)).backward();
  };
}

// Registers `count` modules made by `make` (experts, routers) under a ModuleList and returns
// typed handles on them.
template <class Held, class Make>
std::vector<Held> make_module_list(torch::nn::Module& owner, const std::string& name, int64_t count,
                                   Make make) {
  auto list = owner.register_module(name, torch::nn::ModuleList());
  std::vector<Held> modules;
  for (int64_t i = 0; i < count; ++i) {
    modules.push_back(make());
    list->push_back(modules.back());
  }
  return modules;
}

// ---- s001: ensembles of expert MLPs that all see the same input ------------------------------

struct ExpertMLPShape {
  int64_t experts;
  std::vector<int64_t> sizes;           // input first
  std::vector<Activation> activations;  // one per layer
};

// E independent MLPs (a ModuleList of Sequential(Linear, activation, ...)); [B, in] -> [E, B, out].
class IndependentMLPsImpl : public torch::nn::Module {
 public:
  explicit IndependentMLPsImpl(const ExpertMLPShape& shape)
      : mlps_(make_module_list<torch::nn::Sequential>(*this, "experts", shape.experts, [&shape] {
          torch::nn::Sequential mlp;
          for (std::size_t l = 0; l < shape.activations.size(); ++l) {
            mlp->push_back(torch::nn::Linear(shape.sizes[l], shape.sizes[l + 1]));
            mlp->push_back(activation_module(shape.activations[l]));
          }
          return mlp;
        })) {}
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> outputs;
    outputs.reserve(mlps_.size());
    for (auto& mlp : mlps_) outputs.push_back(mlp->forward(x));
    return torch::stack(outputs, 0);
  }

 private:
  std::vector<torch::nn::Sequential> mlps_;
};
TORCH_MODULE(IndependentMLPs);

// The same ensemble with stacked weights [E, in, out] and biases [E, 1, out] (initialised like
// per-expert Linears): one baddbmm per layer for all experts.
class StackedMLPImpl : public torch::nn::Module {
 public:
  explicit StackedMLPImpl(const ExpertMLPShape& shape)
      : experts_(shape.experts), activations_(shape.activations) {
    for (std::size_t l = 0; l < shape.activations.size(); ++l) {
      const int64_t in = shape.sizes[l], out = shape.sizes[l + 1];
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      const std::string suffix = std::to_string(l);
      weights_.push_back(register_parameter(
          "weight" + suffix, torch::empty({experts_, in, out}).uniform_(-bound, bound)));
      biases_.push_back(register_parameter(
          "bias" + suffix, torch::empty({experts_, 1, out}).uniform_(-bound, bound)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = x.expand({experts_, x.size(0), x.size(1)});  // all experts, same input
    for (std::size_t l = 0; l < weights_.size(); ++l) {
      h = activate(activations_[l], torch::baddbmm(biases_[l], h, weights_[l]));
    }
    return h;
  }

 private:
  int64_t experts_;
  std::vector<Activation> activations_;
  std::vector<torch::Tensor> weights_, biases_;
};
TORCH_MODULE(StackedMLP);

// E experts 60 -> 256 -> 256 -> 256 -> 20 on a batch of 32; the step blends the E outputs with
// fixed softmax weights and fits a random target (MSE).
template <class Ensemble>
std::function<void()> expert_mlp_case(int64_t experts, Pass pass) {
  torch::manual_seed(1);
  const ExpertMLPShape shape{
      experts,
      {60, 256, 256, 256, 20},
      {Activation::ReLU, Activation::ReLU, Activation::ReLU, Activation::Tanh}};
  Ensemble model(shape);
  const auto x = torch::randn({32, 60});
  const auto target = torch::randn({32, 20});
  const auto blend = torch::softmax(torch::randn({experts}), 0).reshape({experts, 1, 1});
  return timed_pass(
      model, pass, [x](Ensemble& m) { return m->forward(x); },
      [blend, target](const torch::Tensor& out) {
        return F::mse_loss((out * blend).sum(0), target);
      });
}

// ---- MANN --------------------------------------------------------------------------------------

// A MANN blended layer: expert weights [E, out, in] (uniform +-sqrt(6 / (out * in))), biases
// [E, out] (zero). A batch of 1 blends the weights then does one
// matrix-vector product; larger batches do one GEMM against all experts and contract with alpha
// (blending per-sample weights at batch 1024 would materialise 1024 weight matrices).
class BlendedLinearImpl : public torch::nn::Module {
 public:
  BlendedLinearImpl(int64_t in, int64_t out, int64_t experts) {
    const double bound = std::sqrt(6.0 / static_cast<double>(out * in));
    weight_ =
        register_parameter("weight", torch::empty({experts, out, in}).uniform_(-bound, bound));
    bias_ = register_parameter("bias", torch::zeros({experts, out}));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& alpha) {
    const int64_t experts = weight_.size(0), out = weight_.size(1), in = weight_.size(2);
    const int64_t batch = x.size(0);
    torch::Tensor y;
    if (batch <= 1) {
      const auto blended = alpha.mm(weight_.view({experts, out * in})).view({batch, out, in});
      y = torch::bmm(blended, x.unsqueeze(2)).squeeze(2);
    } else {
      const auto all_outputs = x.mm(weight_.view({experts * out, in}).t());  // [B, E*out]
      y = torch::bmm(alpha.unsqueeze(1), all_outputs.view({batch, experts, out})).squeeze(1);
    }
    return torch::addmm(y, alpha, bias_);
  }

 private:
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(BlendedLinear);

struct MANNShape {
  int64_t input = 480, output = 363, experts = 8, hidden = 512, gating_hidden = 32;
  int64_t gating_inputs = 19;  // the last columns of the input
  double dropout = 0.3;
};

class MANNImpl : public torch::nn::Module {
 public:
  explicit MANNImpl(const MANNShape& s)
      : gating_index_(torch::arange(s.input - s.gating_inputs, s.input, torch::kInt64)),
        dropout_(s.dropout) {
    gating_ = register_module(
        "gating",
        torch::nn::Sequential(torch::nn::Linear(s.gating_inputs, s.gating_hidden), torch::nn::ELU(),
                              torch::nn::Linear(s.gating_hidden, s.gating_hidden), torch::nn::ELU(),
                              torch::nn::Linear(s.gating_hidden, s.experts)));
    layers_.push_back(register_module("layer0", BlendedLinear(s.input, s.hidden, s.experts)));
    layers_.push_back(register_module("layer1", BlendedLinear(s.hidden, s.hidden, s.experts)));
    layers_.push_back(register_module("layer2", BlendedLinear(s.hidden, s.output, s.experts)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto alpha = torch::softmax(gating_->forward(x.index_select(1, gating_index_)), 1);
    torch::Tensor h = x;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      h = layers_[i]->forward(
          F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(is_training())), alpha);
      if (i + 1 < layers_.size()) h = torch::elu(h);
    }
    return h;
  }

 private:
  torch::Tensor gating_index_;
  double dropout_;
  torch::nn::Sequential gating_{nullptr};
  std::vector<BlendedLinear> layers_;
};
TORCH_MODULE(MANN);

std::function<void()> mann_case(int64_t batch, Pass pass) {
  torch::manual_seed(2);
  MANN model(MANNShape{});
  const auto x = torch::randn({batch, 480});
  const auto target = torch::randn({batch, 363});
  return timed_pass(
      model, pass, [x](MANN& m) { return m->forward(x); },
      [target](const torch::Tensor& out) { return F::mse_loss(out, target); });
}

// ---- Sparse MoE --------------------------------------------------------------------------------

// Top-k routing of T tokens from router logits [T, E], as mixgrad's TopKGate (softmax, keep the
// k largest, renormalise them) with the Switch loss coef * E * sum_i f_i * P_i, f_i the fraction
// of the T*k token-slots sent to expert i, P_i the mean router probability.
struct Routing {
  torch::Tensor expert_index;  // int64 [T, k]
  torch::Tensor gates;         // [T, k]
  torch::Tensor switch_loss;   // 0-dim, weighted
};

Routing top_k_routing(const torch::Tensor& logits, int64_t k, double switch_coef) {
  const int64_t experts = logits.size(1);
  const auto probs = torch::softmax(logits, 1);
  auto [values, indices] = probs.topk(k, 1);
  Routing r;
  r.expert_index = indices;
  r.gates = values / values.sum(1, /*keepdim=*/true);
  const auto fraction =
      torch::bincount(indices.reshape({-1}), {}, experts).to(logits.scalar_type()) /
      static_cast<double>(logits.size(0) * k);
  r.switch_loss = (fraction * probs.mean(0)).sum() * (switch_coef * static_cast<double>(experts));
  return r;
}

// Runs the token-slots (token_index[i], expert_index[i], gate[i]) through their experts and sums
// the gated outputs per token: a stable argsort by expert, one index_select of the rows, each
// expert on its contiguous slice, one index_add_ back. tokens [T, d] -> [T, d_out].
template <class Expert>
torch::Tensor run_experts(const torch::Tensor& tokens, const torch::Tensor& token_index,
                          const torch::Tensor& expert_index, const torch::Tensor& gates,
                          std::vector<Expert>& experts, int64_t d_out) {
  const auto order = torch::argsort(expert_index, /*stable=*/true);
  const auto counts = torch::bincount(expert_index, {}, static_cast<int64_t>(experts.size()));
  const auto sorted_tokens = token_index.index_select(0, order);
  const auto rows = tokens.index_select(0, sorted_tokens);
  const int64_t* count = counts.data_ptr<int64_t>();
  std::vector<torch::Tensor> outputs;
  int64_t offset = 0;
  for (std::size_t e = 0; e < experts.size(); ++e) {
    if (count[e] == 0) continue;
    outputs.push_back(experts[e]->forward(rows.narrow(0, offset, count[e])));
    offset += count[e];
  }
  const auto weighted = torch::cat(outputs, 0) * gates.index_select(0, order).unsqueeze(1);
  return torch::zeros({tokens.size(0), d_out}, tokens.options())
      .index_add_(0, sorted_tokens, weighted);
}

// One token index per slot of a [T, k] routing: 0, 0, 1, 1, ... for k = 2.
torch::Tensor slot_tokens(int64_t tokens, int64_t k) {
  return torch::arange(tokens, torch::kInt64).unsqueeze(1).expand({tokens, k}).reshape({-1});
}

// A GELU feed-forward expert d -> hidden -> d.
class FFNImpl : public torch::nn::Module {
 public:
  FFNImpl(int64_t d, int64_t hidden)
      : fc1_(register_module("fc1", torch::nn::Linear(d, hidden))),
        fc2_(register_module("fc2", torch::nn::Linear(hidden, d))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc2_(torch::gelu(fc1_(x))); }

 private:
  torch::nn::Linear fc1_, fc2_;
};
TORCH_MODULE(FFN);

struct MoEOutput {
  torch::Tensor output;
  torch::Tensor aux_loss;
};

// Top-k MoE layer: a bias-free router Linear d -> E, E experts, dropless (every slot computed).
template <class Expert>
class SparseMoEImpl : public torch::nn::Module {
 public:
  template <class Make>
  SparseMoEImpl(int64_t d_in, int64_t d_out, int64_t num_experts, int64_t k, double switch_coef,
                Make make_expert)
      : router_(register_module(
            "router", torch::nn::Linear(torch::nn::LinearOptions(d_in, num_experts).bias(false)))),
        experts_(make_module_list<Expert>(*this, "experts", num_experts, make_expert)),
        d_in_(d_in),
        d_out_(d_out),
        k_(k),
        switch_coef_(switch_coef) {}

  // x [..., d_in] -> [..., d_out] and the weighted Switch loss.
  MoEOutput forward(const torch::Tensor& x) {
    const auto tokens = x.reshape({-1, d_in_});
    const Routing r = top_k_routing(router_(tokens), k_, switch_coef_);
    const auto out =
        run_experts(tokens, slot_tokens(tokens.size(0), k_), r.expert_index.reshape({-1}),
                    r.gates.reshape({-1}), experts_, d_out_);
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = d_out_;
    return {out.view(shape), r.switch_loss};
  }

 private:
  torch::nn::Linear router_;
  std::vector<Expert> experts_;
  int64_t d_in_, d_out_, k_;
  double switch_coef_;
};

class FFNMoE : public torch::nn::ModuleHolder<SparseMoEImpl<FFN>> {
 public:
  using torch::nn::ModuleHolder<SparseMoEImpl<FFN>>::ModuleHolder;
};

// loss = mean(out^2) + aux for the MoE-shaped cases.
torch::Tensor moe_loss(const MoEOutput& out) {
  return out.output.square().mean() + out.aux_loss;
}

// Top-2 MoE of GELU FFN experts, Switch loss 0.01, on tokens of `token_shape` (ending in d).
std::function<void()> moe_case(std::vector<int64_t> token_shape, int64_t d, int64_t experts,
                               int64_t hidden, Pass pass) {
  torch::manual_seed(3);
  FFNMoE model(d, d, experts, 2, 0.01, [d, hidden] { return FFN(d, hidden); });
  token_shape.push_back(d);
  const auto x = torch::randn(token_shape);
  return timed_pass(
      model, pass, [x](FFNMoE& m) { return m->forward(x); }, moe_loss);
}

// ---- Hierarchical MoE --------------------------------------------------------------------------

// Two-level MoE (Shazeer et al. 2017): the outer top-2 gate picks 2 of G groups, each chosen
// group's own top-2 router picks 2 of its E_g experts; y = sum over the 4 pairs of
// outer_gate * inner_gate * expert(x). aux = outer Switch loss + the inner Switch losses
// averaged over the groups that received tokens (as mixgrad's HierarchicalMoE).
class HierarchicalMoEImpl : public torch::nn::Module {
 public:
  HierarchicalMoEImpl(int64_t d, int64_t hidden, int64_t groups, int64_t per_group,
                      double switch_coef)
      : outer_(register_module("outer",
                               torch::nn::Linear(torch::nn::LinearOptions(d, groups).bias(false)))),
        inner_(make_module_list<torch::nn::Linear>(
            *this, "inner", groups,
            [d, per_group] {
              return torch::nn::Linear(torch::nn::LinearOptions(d, per_group).bias(false));
            })),
        experts_(make_module_list<FFN>(*this, "experts", groups * per_group,
                                       [d, hidden] { return FFN(d, hidden); })),
        d_(d),
        per_group_(per_group),
        switch_coef_(switch_coef) {}

  MoEOutput forward(const torch::Tensor& x) {
    constexpr int64_t k = 2;
    const auto tokens = x.reshape({-1, d_});
    const Routing outer = top_k_routing(outer_(tokens), k, switch_coef_);
    const auto pair_groups = outer.expert_index.reshape({-1});
    const auto pair_tokens = slot_tokens(tokens.size(0), k);
    const auto pair_gates = outer.gates.reshape({-1});
    // Each group routes the tokens that chose it.
    const auto order = torch::argsort(pair_groups, /*stable=*/true);
    const auto counts = torch::bincount(pair_groups, {}, static_cast<int64_t>(inner_.size()));
    const auto group_tokens = pair_tokens.index_select(0, order);
    const auto group_gates = pair_gates.index_select(0, order);
    const int64_t* count = counts.data_ptr<int64_t>();
    std::vector<torch::Tensor> slot_token, slot_expert, slot_gate, inner_losses;
    int64_t offset = 0;
    for (std::size_t g = 0; g < inner_.size(); ++g) {
      if (count[g] == 0) continue;
      const auto rows_tokens = group_tokens.narrow(0, offset, count[g]);
      const Routing inner =
          top_k_routing(inner_[g](tokens.index_select(0, rows_tokens)), k, switch_coef_);
      slot_token.push_back(rows_tokens.unsqueeze(1).expand({count[g], k}).reshape({-1}));
      slot_expert.push_back(
          (inner.expert_index + static_cast<int64_t>(g) * per_group_).reshape({-1}));
      slot_gate.push_back(
          (group_gates.narrow(0, offset, count[g]).unsqueeze(1) * inner.gates).reshape({-1}));
      inner_losses.push_back(inner.switch_loss);
      offset += count[g];
    }
    const auto out = run_experts(tokens, torch::cat(slot_token), torch::cat(slot_expert),
                                 torch::cat(slot_gate), experts_, d_);
    return {out.view(x.sizes()), outer.switch_loss + torch::stack(inner_losses).mean()};
  }

 private:
  torch::nn::Linear outer_;
  std::vector<torch::nn::Linear> inner_;
  std::vector<FFN> experts_;
  int64_t d_, per_group_;
  double switch_coef_;
};
TORCH_MODULE(HierarchicalMoE);

std::function<void()> hmoe_case(int64_t groups, int64_t per_group, Pass pass) {
  torch::manual_seed(3);
  HierarchicalMoE model(512, 2048, groups, per_group, 0.01);
  const auto x = torch::randn({4, 1024, 512});
  return timed_pass(
      model, pass, [x](HierarchicalMoE& m) { return m->forward(x); }, moe_loss);
}

// ---- Issue 6: CIFAR-10 CNN with an MoE layer, ResNet BasicBlock ---------------------------------

class LinearMoE : public torch::nn::ModuleHolder<SparseMoEImpl<torch::nn::Linear>> {
 public:
  using torch::nn::ModuleHolder<SparseMoEImpl<torch::nn::Linear>>::ModuleHolder;
};

// The classic CIFAR-10 CNN with an MoE layer: conv 3->6 (5x5), ReLU, max-pool 2, conv 6->16
// (5x5), ReLU, max-pool 2, Linear 400->120, ReLU, Linear 120->84, ReLU, MoE 84->84 (8 Linear
// experts, top-1, Switch loss 0.01), Linear 84->10. Returns the logits and the MoE's aux loss.
class CifarMoENetImpl : public torch::nn::Module {
 public:
  CifarMoENetImpl()
      : conv1_(register_module("conv1", torch::nn::Conv2d(3, 6, 5))),
        conv2_(register_module("conv2", torch::nn::Conv2d(6, 16, 5))),
        fc1_(register_module("fc1", torch::nn::Linear(400, 120))),
        fc2_(register_module("fc2", torch::nn::Linear(120, 84))),
        moe_(register_module(
            "moe", LinearMoE(84, 84, 8, 1, 0.01, [] { return torch::nn::Linear(84, 84); }))),
        fc3_(register_module("fc3", torch::nn::Linear(84, 10))) {}

  MoEOutput forward(const torch::Tensor& x) {
    auto h = torch::max_pool2d(torch::relu(conv1_(x)), 2);
    h = torch::max_pool2d(torch::relu(conv2_(h)), 2).flatten(1);
    h = torch::relu(fc2_(torch::relu(fc1_(h))));
    const MoEOutput moe = moe_(h);
    return {fc3_(moe.output), moe.aux_loss};
  }

 private:
  torch::nn::Conv2d conv1_, conv2_;
  torch::nn::Linear fc1_, fc2_;
  LinearMoE moe_;
  torch::nn::Linear fc3_;
};
TORCH_MODULE(CifarMoENet);

// Batch 64 of 3x32x32, cross-entropy against random labels + the MoE's aux loss.
std::function<void()> cifar_case(Pass pass) {
  torch::manual_seed(5);
  CifarMoENet model;
  const auto x = torch::randn({64, 3, 32, 32});
  const auto labels = torch::randint(10, {64}, torch::kInt64);
  return timed_pass(
      model, pass, [x](CifarMoENet& m) { return m->forward(x); },
      [labels](const MoEOutput& out) {
        return F::cross_entropy(out.output, labels) + out.aux_loss;
      });
}

// ResNet BasicBlock with the identity shortcut: conv 3x3 (no bias), BN, ReLU, conv 3x3, BN,
// + x, ReLU.
class BasicBlockImpl : public torch::nn::Module {
 public:
  explicit BasicBlockImpl(int64_t channels)
      : conv1_(register_module("conv1", conv3x3(channels))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(channels))),
        conv2_(register_module("conv2", conv3x3(channels))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(channels))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    const auto h = torch::relu(bn1_(conv1_(x)));
    return torch::relu(bn2_(conv2_(h)) + x);
  }

 private:
  static torch::nn::Conv2d conv3x3(int64_t channels) {
    return torch::nn::Conv2d(
        torch::nn::Conv2dOptions(channels, channels, 3).padding(1).bias(false));
  }
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  torch::nn::BatchNorm2d bn2_;
};
TORCH_MODULE(BasicBlock);

// 64 channels on 32x32, batch 32, batch norm in training mode in both passes; loss mean(out^2).
std::function<void()> resnet_block_case(Pass pass) {
  torch::manual_seed(6);
  BasicBlock model(64);
  const auto x = torch::randn({32, 64, 32, 32});
  return timed_pass(
      model, pass, [x](BasicBlock& m) { return m->forward(x); },
      [](const torch::Tensor& out) { return out.square().mean(); },
      /*forward_in_train_mode=*/true);
}

// Causal attention on random q, k, v of [b, h, t, d] through at::_scaled_dot_product_attention,
// the best CPU attention libtorch 1.13 has (a composite: matmul, a tril mask made additive,
// softmax, matmul; the forward-only variant when nothing requires grad). The step's loss is
// mean(out^2), q, k and v requiring grad, their gradients set to none first.
std::function<void()> attention_case(int64_t b, int64_t h, int64_t t, int64_t d, Pass pass) {
  torch::manual_seed(7);
  const auto q = torch::randn({b, h, t, d});
  const auto k = torch::randn({b, h, t, d});
  const auto v = torch::randn({b, h, t, d});
  auto attend = [](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    return std::get<0>(at::_scaled_dot_product_attention(q, k, v, /*attn_mask=*/{},
                                                         /*dropout_p=*/0.0,
                                                         /*need_attn_weights=*/false,
                                                         /*is_causal=*/true));
  };
  if (pass == Pass::Forward) {
    return [q, k, v, attend] {
      torch::NoGradGuard no_grad;
      attend(q, k, v);
    };
  }
  for (auto x : {q, k, v}) x.requires_grad_();
  return [q, k, v, attend] {
    for (const auto& x : {q, k, v}) x.mutable_grad().reset();
    attend(q, k, v).square().mean().backward();
  };
}

// ---- Case list ---------------------------------------------------------------------------------

// One n x n x n float32 matmul; reported as GFLOP/s (2 n^3 flops).
Case gemm_peak_case(int64_t n) {
  const double gflop = 2.0 * static_cast<double>(n * n * n) * 1e-9;
  return {"gemm_peak",
          [n] {
            torch::manual_seed(4);
            auto a = torch::randn({n, n});
            auto b = torch::randn({n, n});
            return std::function<void()>([a, b] { torch::mm(a, b); });
          },
          [gflop](double ms) {
            return mixgrad::bench::three_significant(gflop / (ms * 1e-3)) + " GFLOP/s";
          }};
}

// ---- MoE Transformer LM
// --------------------------------------------------------------------------

// x / sqrt(mean(x^2) + eps) * weight over the last dim (libtorch 1.13 has no RMSNorm module).
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t d) : weight_(register_parameter("weight", torch::ones({d}))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return x * torch::rsqrt(x.square().mean(-1, /*keepdim=*/true) + 1e-6) * weight_;
  }

 private:
  torch::Tensor weight_;
};
TORCH_MODULE(RMSNorm);

// A SwiGLU expert d -> hidden -> d without biases: w2(silu(gate) * up), [gate, up] = w1(x).
class SwiGLUExpertImpl : public torch::nn::Module {
 public:
  SwiGLUExpertImpl(int64_t d, int64_t hidden)
      : w1_(register_module(
            "w1", torch::nn::Linear(torch::nn::LinearOptions(d, 2 * hidden).bias(false)))),
        w2_(register_module("w2",
                            torch::nn::Linear(torch::nn::LinearOptions(hidden, d).bias(false)))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    const auto halves = w1_(x).chunk(2, -1);
    return w2_(torch::silu(halves[0]) * halves[1]);
  }

 private:
  torch::nn::Linear w1_, w2_;
};
TORCH_MODULE(SwiGLUExpert);

class SwiGLUMoE : public torch::nn::ModuleHolder<SparseMoEImpl<SwiGLUExpert>> {
 public:
  using torch::nn::ModuleHolder<SparseMoEImpl<SwiGLUExpert>>::ModuleHolder;
};

// Pre-norm block: h = x + attention(norm1(x)); y = h + moe(norm2(h)). libtorch's own
// MultiheadAttention (no biases), causal through a float [T, T] mask, [T, B, E] layout.
class LMBlockImpl : public torch::nn::Module {
 public:
  LMBlockImpl(int64_t d, int64_t heads, int64_t experts, int64_t hidden)
      : norm1_(register_module("norm1", RMSNorm(d))),
        attention_(register_module(
            "attention", torch::nn::MultiheadAttention(
                             torch::nn::MultiheadAttentionOptions(d, heads).bias(false)))),
        norm2_(register_module("norm2", RMSNorm(d))),
        moe_(register_module("moe", SwiGLUMoE(d, d, experts, 2, 0.01,
                                              [d, hidden] { return SwiGLUExpert(d, hidden); }))) {}
  // x [T, B, d]
  MoEOutput forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
    const auto a = norm1_(x);
    const auto h = x + std::get<0>(attention_->forward(a, a, a, torch::Tensor(),
                                                       /*need_weights=*/false, causal_mask));
    MoEOutput f = moe_->forward(norm2_(h));
    f.output = h + f.output;
    return f;
  }

 private:
  RMSNorm norm1_;
  torch::nn::MultiheadAttention attention_;
  RMSNorm norm2_;
  SwiGLUMoE moe_;
};
TORCH_MODULE(LMBlock);

// mixgrad-bench's moe_lm: embedding (tied head), 4 blocks, final RMSNorm.
class MoELMImpl : public torch::nn::Module {
 public:
  MoELMImpl(int64_t vocab, int64_t d, int64_t layers, int64_t heads, int64_t experts,
            int64_t hidden)
      : embedding_(register_module("embedding", torch::nn::Embedding(vocab, d))),
        blocks_(make_module_list<LMBlock>(*this, "blocks", layers,
                                          [=] { return LMBlock(d, heads, experts, hidden); })),
        norm_(register_module("norm", RMSNorm(d))) {
    torch::NoGradGuard no_grad;
    embedding_->weight.normal_(0.0, 0.02);
  }
  // tokens [B, T] -> logits [B, T, vocab] and the summed aux loss.
  MoEOutput forward(const torch::Tensor& tokens) {
    const int64_t t = tokens.size(1);
    const auto mask =
        torch::full({t, t}, -INFINITY).triu(1);   // -inf above the diagonal: no peeking ahead
    auto h = embedding_(tokens).transpose(0, 1);  // [T, B, d]
    torch::Tensor aux;
    for (auto& block : blocks_) {
      MoEOutput out = block->forward(h, mask);
      h = out.output;
      aux = aux.defined() ? aux + out.aux_loss : out.aux_loss;
    }
    return {torch::matmul(norm_(h.transpose(0, 1)), embedding_->weight.t()), aux};
  }

 private:
  torch::nn::Embedding embedding_;
  std::vector<LMBlock> blocks_;
  RMSNorm norm_;
};
TORCH_MODULE(MoELM);

std::function<void()> moe_lm_case(Pass pass) {
  constexpr int64_t vocab = 1024;
  torch::manual_seed(5);
  MoELM model(vocab, 256, 4, 4, 8, 512);
  const auto tokens = torch::randint(0, vocab, {16, 257}, torch::kInt64);
  const auto inputs = tokens.narrow(1, 0, 256);
  const auto targets = tokens.narrow(1, 1, 256).reshape({-1});
  return timed_pass(
      model, pass, [inputs](MoELM& m) { return m->forward(inputs); },
      [targets](const MoEOutput& out) {
        return F::cross_entropy(out.output.reshape({-1, vocab}), targets) + out.aux_loss;
      });
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  const Pass passes[] = {Pass::Forward, Pass::Step};
  auto add = [&cases](std::string name, std::function<std::function<void()>()> setup) {
    cases.push_back({std::move(name), std::move(setup)});
  };
  for (int64_t e : {4, 8}) {
    for (Pass p : passes) {
      const std::string tail = "_" + std::string(pass_suffix(p));
      const std::string head = "s001_e" + std::to_string(e);
      add(head + "_naive" + tail, [e, p] { return expert_mlp_case<IndependentMLPs>(e, p); });
      add(head + "_batched" + tail, [e, p] { return expert_mlp_case<StackedMLP>(e, p); });
    }
  }
  for (int64_t b : {1, 32, 1024}) {
    for (Pass p : passes) {
      add("mann_e8_b" + std::to_string(b) + "_" + pass_suffix(p),
          [b, p] { return mann_case(b, p); });
    }
  }
  for (Pass p : passes) {
    add(std::string("s004_tiny_") + pass_suffix(p), [p] {
      return moe_case({4, 16}, 32, 8, 128, p);
    });
  }
  for (Pass p : passes) {
    add(std::string("s002_d512_e16_") + pass_suffix(p), [p] {
      return moe_case({4, 1024}, 512, 16, 2048, p);
    });
  }
  for (Pass p : passes) {
    add(std::string("hmoe_d512_g4e4_") + pass_suffix(p), [p] { return hmoe_case(4, 4, p); });
  }
  for (int64_t e : {8, 16, 32, 64, 128}) {
    add("moe_scale_e" + std::to_string(e) + "_step",
        [e] { return moe_case({4096}, 256, e, 1024, Pass::Step); });
  }
  for (Pass p : passes) {
    add(std::string("cifar_cnn_moe_") + pass_suffix(p), [p] { return cifar_case(p); });
  }
  for (Pass p : passes) {
    add(std::string("conv_resnet_block_") + pass_suffix(p), [p] { return resnet_block_case(p); });
  }
  for (Pass p : passes) {
    add(std::string("moe_lm_d256_l4_e8_t256_b16_") + pass_suffix(p),
        [p] { return moe_lm_case(p); });
  }
  for (Pass p : passes) {
    add(std::string("attn_b8_h8_t512_d64_causal_") + pass_suffix(p),
        [p] { return attention_case(8, 8, 512, 64, p); });
  }
  add("attn_b1_h8_t4096_d64_causal_fwd",
      [] { return attention_case(1, 8, 4096, 64, Pass::Forward); });
  cases.push_back(gemm_peak_case(2048));
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  return mixgrad::bench::run_main(argc, argv, "libtorch-bench", all_cases, [](int threads) {
    // Intra-op threads: the OpenMP pool of ATen and, through omp_get_max_threads(), the OpenMP
    // build of OpenBLAS that Debian's libtorch calls (the same library mixgrad links).
    torch::set_num_threads(threads);
    torch::set_num_interop_threads(threads);
  });
}
