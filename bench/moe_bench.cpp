// mixgrad-bench: the expert-model workloads of the MoE issue, one line per case,
// "<case> <median ms> ms" (plus "gemm_peak <GFLOP/s> GFLOP/s", the machine's practical ceiling).
//   mixgrad-bench [--threads N] [--filter REGEX] [--min-time S] [--list]
// "fwd" is a forward pass under NoGradGuard (eval mode, except conv_resnet_block_fwd whose batch
// norm runs on batch statistics); "step" is forward + loss + backward in train mode, gradients
// zeroed first so every repetition does the same work.
#include <cblas.h>
#include <mixgrad.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "models/cifar_cnn_moe.h"
#include "models/expert_ensemble.h"
#include "models/hierarchical_moe.h"
#include "models/mann.h"
#include "models/moe.h"
#include "models/resnet_block.h"

namespace {

using mixgrad::bench::Case;
using mixgrad::models::Activation;

enum class Pass { Forward, Step };

const char* pass_suffix(Pass pass) {
  return pass == Pass::Forward ? "fwd" : "step";
}

// The function to time for one model: `loss_of` maps the model's output to the scalar loss.
// The model and inputs are shared with the returned closure, which keeps them alive.
// `forward_in_train_mode` keeps batch norm on batch statistics in the forward case
// (conv_resnet_block asks for that).
template <class Model, class Forward, class Loss>
std::function<void()> timed_pass(std::shared_ptr<Model> model, Pass pass, Forward forward,
                                 Loss loss_of, bool forward_in_train_mode = false) {
  if (pass == Pass::Forward) {
    model->train(forward_in_train_mode);
    return [model, forward] {
      mg::NoGradGuard no_grad;
      forward(*model);
    };
  }
  model->train();
  return [model, forward, loss_of] {
    model->zero_grad();
    loss_of(forward(*model)).backward();
  };
}

// s001's ensemble built the generic way: E separate Sequential MLPs made one module by
// nn::stack_modules (issue 6 asks it to be as fast as the hand-stacked StackedExpertMLP).
class StackedModulesMLP : public mg::nn::Module {
 public:
  explicit StackedModulesMLP(const mixgrad::models::ExpertMLPOptions& options) {
    std::vector<std::shared_ptr<mg::nn::Module>> members;
    for (int64_t e = 0; e < options.num_experts; ++e) {
      auto mlp = std::make_shared<mg::nn::Sequential>();
      for (std::size_t l = 0; l + 1 < options.sizes.size(); ++l) {
        mlp->push_back(std::make_shared<mg::nn::Linear>(options.sizes[l], options.sizes[l + 1]));
        mlp->push_back(mixgrad::models::make_activation(options.activations[l]));
      }
      members.push_back(mlp);
    }
    stacked_ = register_module("stacked", mg::nn::stack_modules(members));
  }
  mg::Tensor forward(const mg::Tensor& x) override { return (*stacked_)(x); }

 private:
  std::shared_ptr<mg::nn::StackedModules> stacked_;
};

// s001: E experts 60 -> 256 -> 256 -> 256 -> 20 on a batch of 32, all seeing the same input;
// the step blends the E outputs with fixed softmax weights and fits a random target (MSE).
template <class Ensemble>
std::function<void()> expert_mlp_case(int64_t experts, Pass pass) {
  mg::Generator gen(1);
  mixgrad::models::ExpertMLPOptions options;
  options.num_experts = experts;
  options.sizes = {60, 256, 256, 256, 20};
  options.activations = {Activation::ReLU, Activation::ReLU, Activation::ReLU, Activation::Tanh};
  auto model = std::make_shared<Ensemble>(options);
  const auto x = mg::randn({32, 60}, {}, &gen);
  const auto target = mg::randn({32, 20}, {}, &gen);
  const auto blend = mg::softmax(mg::randn({experts}, {}, &gen), 0).reshape({experts, 1, 1});
  return timed_pass(
      model, pass, [x](Ensemble& m) { return m.forward(x); },
      [blend, target](const mg::Tensor& out) {
        return mg::mse_loss((out * blend).sum({0}), target);
      });
}

// MANN with 8 experts (input 480, the gating network reading 19 of its columns, hidden 512,
// gating hidden 32, output 363) on a batch of `batch`, MSE against a random target.
std::function<void()> mann_case(int64_t batch, Pass pass) {
  mg::Generator gen(2);
  mixgrad::models::MANNOptions options;
  options.input_dim = 480;
  options.output_dim = 363;
  options.num_experts = 8;
  options.hidden = 512;
  options.gating_hidden = 32;
  // The gating features sit at the end of the input, as in the original MANN data layout.
  options.gating_indices.resize(19);
  std::iota(options.gating_indices.begin(), options.gating_indices.end(), int64_t{480 - 19});
  auto model = std::make_shared<mixgrad::models::MANN>(options);
  const auto x = mg::randn({batch, 480}, {}, &gen);
  const auto target = mg::randn({batch, 363}, {}, &gen);
  return timed_pass(
      model, pass, [x](mixgrad::models::MANN& m) { return m.forward(x); },
      [target](const mg::Tensor& out) { return mg::mse_loss(out, target); });
}

// One MANN-sized blended layer (8 experts, 512 -> 512) evaluated in a fixed BlendMode on a batch
// of `batch`, loss mean(out^2): the measurement behind BlendedLinear's Auto threshold.
std::function<void()> blend_case(mixgrad::models::BlendMode mode, int64_t batch, Pass pass) {
  mg::Generator gen(5);
  auto model = std::make_shared<mixgrad::models::BlendedLinear>(512, 512, 8);
  const auto x = mg::randn({batch, 512}, {}, &gen);
  const auto alpha = mg::softmax(mg::randn({batch, 8}, {}, &gen), 1);
  return timed_pass(
      model, pass,
      [x, alpha, mode](mixgrad::models::BlendedLinear& m) { return m.forward(x, alpha, mode); },
      [](const mg::Tensor& out) { return out.square().mean(); });
}

// A top-2 MoE of GELU FFN experts with the Switch auxiliary loss, on tokens of `token_shape`
// (ending in d_model); loss = mean(out^2) + 0.01 * switch_loss. dropless = true so that no
// token-slot is ever dropped and every case computes all T * k slots.
std::function<void()> moe_case(const mg::Shape& token_shape, int64_t d_model, int64_t experts,
                               int64_t hidden, Pass pass) {
  mg::Generator gen(3);
  mixgrad::models::MoEOptions options;
  options.d_model = d_model;
  options.hidden = hidden;
  options.num_experts = experts;
  options.k = 2;
  options.activation = Activation::GELU;
  options.switch_loss_coef = 0.01;  // aux_loss comes back already weighted by this
  options.dropless = true;
  auto model = std::make_shared<mixgrad::models::MoE>(options);
  mg::Shape shape = token_shape;
  shape.push_back(d_model);
  const auto x = mg::randn(shape, {}, &gen);
  return timed_pass(
      model, pass, [x](mixgrad::models::MoE& m) { return m(x); },
      [](const mixgrad::models::MoEOutput& out) {
        return out.output.square().mean() + out.aux_loss;
      });
}

// HierarchicalMoE (groups x experts per group), top-2 at both levels, the s002 tokens, d and
// hidden; loss = mean(out^2) + aux (Switch losses of both levels, weight 0.01). Dropless.
std::function<void()> hmoe_case(int64_t groups, int64_t per_group, Pass pass) {
  mg::Generator gen(3);
  auto model = std::make_shared<mixgrad::models::HierarchicalMoE>(
      mixgrad::models::HierarchicalMoEOptions{.d_model = 512,
                                              .hidden = 2048,
                                              .groups = groups,
                                              .experts_per_group = per_group,
                                              .switch_loss_coef = 0.01,
                                              .capacity = {.dropless = true}});
  const auto x = mg::randn({4, 1024, 512}, {}, &gen);
  return timed_pass(
      model, pass, [x](mixgrad::models::HierarchicalMoE& m) { return m(x); },
      [](const mixgrad::models::MoEOutput& out) {
        return out.output.square().mean() + out.aux_loss;
      });
}

// The CIFAR-10 CNN with an 8-expert top-1 MoE layer (models/cifar_cnn_moe.h) on a batch of 64
// random 3x32x32 images; loss = cross-entropy to random labels + 0.01 * switch (the aux loss).
std::function<void()> cifar_case(Pass pass) {
  mg::Generator gen(5);
  auto model = std::make_shared<mixgrad::models::CifarCnnMoE>();
  const auto x = mg::randn({64, 3, 32, 32}, {}, &gen);
  const auto labels = mg::randint(0, 10, {64}, mg::kInt64, &gen);
  return timed_pass(
      model, pass, [x](mixgrad::models::CifarCnnMoE& m) { return m(x); },
      [labels](const mixgrad::models::MoEOutput& out) {
        return mg::cross_entropy(out.output, labels) + out.aux_loss;
      });
}

// One BasicBlock, 64 channels, identity shortcut, on [32, 64, 32, 32]; batch norm in training
// mode in both passes; loss mean(out^2).
std::function<void()> resnet_block_case(Pass pass) {
  mg::Generator gen(6);
  auto model = std::make_shared<mixgrad::models::BasicBlock>(64, 64);
  const auto x = mg::randn({32, 64, 32, 32}, {}, &gen);
  return timed_pass(
      model, pass, [x](mixgrad::models::BasicBlock& m) { return m(x); },
      [](const mg::Tensor& out) { return out.square().mean(); },
      /*forward_in_train_mode=*/true);
}

// One n x n x n float32 matmul; reported as GFLOP/s (2 n^3 flops).
Case gemm_peak_case(int64_t n) {
  const double gflop = 2.0 * static_cast<double>(n * n * n) * 1e-9;
  return {"gemm_peak",
          [n] {
            mg::Generator gen(4);
            auto a = mg::randn({n, n}, {}, &gen);
            auto b = mg::randn({n, n}, {}, &gen);
            return std::function<void()>([a, b] { mg::matmul(a, b); });
          },
          [gflop](double ms) {
            return mixgrad::bench::three_significant(gflop / (ms * 1e-3)) + " GFLOP/s";
          }};
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
      add(head + "_naive" + tail,
          [e, p] { return expert_mlp_case<mixgrad::models::IndependentExpertMLPs>(e, p); });
      add(head + "_batched" + tail,
          [e, p] { return expert_mlp_case<mixgrad::models::StackedExpertMLP>(e, p); });
      add(head + "_stacked_modules" + tail,
          [e, p] { return expert_mlp_case<StackedModulesMLP>(e, p); });
    }
  }
  for (int64_t b : {1, 32, 1024}) {
    for (Pass p : passes) {
      add("mann_e8_b" + std::to_string(b) + "_" + pass_suffix(p),
          [b, p] { return mann_case(b, p); });
    }
  }
  for (int64_t b : {1, 2, 4, 8, 16, 32}) {
    for (Pass p : passes) {
      const std::string tail = "_b" + std::to_string(b) + "_" + pass_suffix(p);
      add("blend_weights" + tail,
          [b, p] { return blend_case(mixgrad::models::BlendMode::Weights, b, p); });
      add("blend_outputs" + tail,
          [b, p] { return blend_case(mixgrad::models::BlendMode::Outputs, b, p); });
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
  cases.push_back(gemm_peak_case(2048));
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  return mixgrad::bench::run_main(argc, argv, "mixgrad-bench", all_cases, [](int threads) {
    mg::set_num_threads(threads);
    // The OpenMP build of OpenBLAS follows omp_get_max_threads() at each call anyway; setting
    // it explicitly also covers a pthread build linked in its place.
    openblas_set_num_threads(threads);
  });
}
