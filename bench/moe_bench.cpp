// mixgrad-bench: the expert-model workloads of the MoE issue, one line per case,
// "<case> <median ms> ms" (plus "gemm_peak <GFLOP/s> GFLOP/s", the machine's practical ceiling).
//   mixgrad-bench [--threads N] [--filter REGEX] [--min-time S] [--list]
// "fwd" is a forward pass under NoGradGuard (eval mode); "step" is forward + loss + backward in
// train mode, gradients zeroed first so every repetition does the same work.
#include <cblas.h>
#include <mixgrad.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "models/expert_ensemble.h"
#include "models/hierarchical_moe.h"
#include "models/mann.h"
#include "models/moe.h"

namespace {

using mixgrad::bench::Case;
using mixgrad::models::Activation;

enum class Pass { Forward, Step };

const char* pass_suffix(Pass pass) {
  return pass == Pass::Forward ? "fwd" : "step";
}

// The function to time for one model: `loss_of` maps the model's output to the scalar loss.
// The model and inputs are shared with the returned closure, which keeps them alive.
template <class Model, class Forward, class Loss>
std::function<void()> timed_pass(std::shared_ptr<Model> model, Pass pass, Forward forward,
                                 Loss loss_of) {
  if (pass == Pass::Forward) {
    model->eval();
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
  cases.push_back(gemm_peak_case(2048));
  return cases;
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr,
               "mixgrad-bench: %s\n"
               "usage: mixgrad-bench [--threads N] [--filter REGEX] [--min-time S] [--list]\n",
               message.c_str());
  std::exit(2);
}

// The value after a flag, or a usage error naming the flag.
const char* flag_value(int argc, char** argv, int& i) {
  if (i + 1 >= argc) usage_error(std::string("missing value after ") + argv[i]);
  return argv[++i];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;  // 0: leave the OpenMP default
  std::string filter = ".*";
  bool list = false;
  mixgrad::bench::TimingOptions timing;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads") {
      threads = std::atoi(flag_value(argc, argv, i));
      if (threads < 1) usage_error("--threads needs a positive integer");
    } else if (arg == "--filter") {
      filter = flag_value(argc, argv, i);
    } else if (arg == "--min-time") {
      timing.min_time_s = std::atof(flag_value(argc, argv, i));
      if (timing.min_time_s < 0) usage_error("--min-time needs a non-negative number of seconds");
    } else if (arg == "--list") {
      list = true;
    } else {
      usage_error("unknown argument " + arg);
    }
  }
  if (threads > 0) {
    mg::set_num_threads(threads);
    // The OpenMP build of OpenBLAS follows omp_get_max_threads() at each call anyway; setting
    // it explicitly also covers a pthread build linked in its place.
    openblas_set_num_threads(threads);
  }
  const std::vector<Case> cases = all_cases();
  std::vector<const Case*> selected;
  try {
    selected = mixgrad::bench::select(cases, filter);
  } catch (const std::regex_error& e) {
    usage_error("bad --filter regex: " + std::string(e.what()));
  }
  for (const Case* c : selected) {
    if (list) {
      std::printf("%s\n", c->name.c_str());
    } else {
      mixgrad::bench::run_case(*c, timing);
    }
  }
  return 0;
}
