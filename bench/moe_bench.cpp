// mixgrad-bench: the expert-model workloads of the MoE issue, one line per case,
// "<case> <median ms> ms" (plus "gemm_peak <GFLOP/s> GFLOP/s", the machine's practical ceiling).
//   mixgrad-bench [--threads N] [--filter REGEX] [--min-time S] [--list]
// "fwd" is a forward pass under NoGradGuard (eval mode, except conv_resnet_block_fwd whose batch
// norm runs on batch statistics); "step" is forward + loss + backward in train mode, gradients
// zeroed first so every repetition does the same work.
#include <mixgrad.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "bench/harness.h"
#include "models/cifar_cnn_moe.h"
#include "models/expert_ensemble.h"
#include "models/hierarchical_moe.h"
#include "models/mann.h"
#include "models/moe.h"
#include "models/moe_transformer_lm.h"
#include "models/resnet_block.h"

// Every heap block this program allocates through operator new (mixgrad's shapes, tensors, nodes
// and closures all do), counted for the op_add16 cases. Relaxed: only the counting thread reads
// it, between ops.
static std::atomic<int64_t> g_heap_blocks{0};

void* operator new(std::size_t size) {
  g_heap_blocks.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
// GCC 12 warns when it inlines these next to a `new` it sees as the library's; they pair with the
// operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

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

// The matrix-product work of moe_case in GFLOP: the router (T x d x E) and, for the T * 2 slots,
// the experts' two layers (d x hidden each). A step adds the gradients: both weights of each
// product, and the input of each product except the first (the tokens need no gradient, so
// neither do the rows dispatched from them): 2 router products and 5 expert products in all.
double moe_gemm_gflop(int64_t tokens, int64_t d_model, int64_t experts, int64_t hidden, Pass pass) {
  const double router = 2.0 * tokens * d_model * experts;
  const double expert_layer = 2.0 * tokens * 2 * d_model * hidden;
  return (pass == Pass::Step ? 2 * router + 5 * expert_layer : router + 2 * expert_layer) / 1e9;
}

// The same for hmoe_case: the outer router over the groups, each token's 2 groups' inner
// routers, and 2 x 2 expert slots per token.
double hmoe_gemm_gflop(int64_t tokens, int64_t d_model, int64_t groups, int64_t per_group,
                       int64_t hidden, Pass pass) {
  const double routers = 2.0 * tokens * d_model * groups + 2.0 * tokens * 2 * d_model * per_group;
  const double expert_layer = 2.0 * tokens * 4 * d_model * hidden;
  return (pass == Pass::Step ? 2 * routers + 5 * expert_layer : routers + 2 * expert_layer) / 1e9;
}

// The Fashion-MNIST classifier of the zoo's fashion-moe as a new user writes it from the README
// (the shape issue 16 measured): 784 -> 128 stem + GELU, LayerNorm, a top-2-of-8 MoE (hidden
// 256, GELU experts, capacity factor 2.5) added back, 128 -> 10 head; a batch of 128 random
// images, cross-entropy + aux loss, and an Adam step: one whole training step.
class FashionMoE : public mg::nn::Module {
 public:
  FashionMoE() {
    stem = register_module("stem", std::make_shared<mg::nn::Linear>(784, 128));
    norm = register_module("norm", std::make_shared<mg::nn::LayerNorm>(mg::Shape{128}));
    moe = register_module("moe", std::make_shared<mixgrad::models::MoE>(
                                     mixgrad::models::MoEOptions{.d_model = 128,
                                                                 .hidden = 256,
                                                                 .num_experts = 8,
                                                                 .k = 2,
                                                                 .capacity_factor_train = 2.5}));
    head = register_module("head", std::make_shared<mg::nn::Linear>(128, 10));
  }
  mixgrad::models::MoEOutput operator()(const mg::Tensor& images) {
    const mg::Tensor h = mg::gelu((*stem)(images));
    mixgrad::models::MoEOutput out = (*moe)((*norm)(h));
    out.output = (*head)(h + out.output);
    return out;
  }
  std::shared_ptr<mg::nn::Linear> stem, head;
  std::shared_ptr<mg::nn::LayerNorm> norm;
  std::shared_ptr<mixgrad::models::MoE> moe;
};

std::function<void()> fashion_moe_case() {
  mg::Generator gen(8);
  auto model = std::make_shared<FashionMoE>();
  auto adam = std::make_shared<mg::optim::Adam>(model->parameters(), mg::optim::AdamOptions{});
  const auto images = mg::randn({128, 784}, {}, &gen);
  const auto labels = mg::randint(0, 10, {128}, mg::kInt64, &gen);
  model->train();
  return [model, adam, images, labels] {
    adam->zero_grad();
    const mixgrad::models::MoEOutput out = (*model)(images);
    (mg::cross_entropy(out.output, labels) + out.aux_loss).backward();
    adam->step();
  };
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

// Causal attention (mg::scaled_dot_product_attention, fused on the CPU) on random q, k, v of
// [b, h, t, d]; the step's loss is mean(out^2), q, k and v requiring grad, their gradients reset
// to undefined first.
std::function<void()> attention_case(int64_t b, int64_t h, int64_t t, int64_t d, Pass pass) {
  mg::Generator gen(7);
  const auto q = mg::randn({b, h, t, d}, {}, &gen);
  const auto k = mg::randn({b, h, t, d}, {}, &gen);
  const auto v = mg::randn({b, h, t, d}, {}, &gen);
  mg::AttentionOptions options;
  options.causal = true;
  if (pass == Pass::Forward) {
    return [q, k, v, options] {
      mg::NoGradGuard no_grad;
      mg::scaled_dot_product_attention(q, k, v, options);
    };
  }
  for (const auto& x : {q, k, v}) mg::Tensor(x).requires_grad_();
  return [q, k, v, options] {
    for (const auto& x : {q, k, v}) x.zero_grad();
    mg::scaled_dot_product_attention(q, k, v, options).square().mean().backward();
  };
}

// Peak memory of one causal attention forward + backward (the step above) at B = 1, H = 8,
// T = 4096, D = 64, fused and through the reference path: the CPU allocator's peak above what
// was allocated before (the inputs). Measured once, when the case is set up; nothing is timed.
Case attention_peak_case() {
  auto peaks = std::make_shared<std::pair<double, double>>();
  return {"attn_b1_h8_t4096_d64_causal_peak_mb",
          [peaks] {
            mg::Generator gen(7);
            const mg::Shape shape{1, 8, 4096, 64};
            auto q = mg::randn(shape, {}, &gen).requires_grad_();
            auto k = mg::randn(shape, {}, &gen).requires_grad_();
            auto v = mg::randn(shape, {}, &gen).requires_grad_();
            mg::AttentionOptions options;
            options.causal = true;
            auto peak_mib = [&](bool fused) {
              for (const auto& x : {q, k, v}) x.zero_grad();
              mg::reset_peak_memory_stats();
              const double before = static_cast<double>(mg::memory_stats().allocated);
              const auto out = fused ? mg::scaled_dot_product_attention(q, k, v, options)
                                     : mg::scaled_dot_product_attention_reference(q, k, v, options);
              out.square().mean().backward();
              return (static_cast<double>(mg::memory_stats().peak_allocated) - before) / (1 << 20);
            };
            peaks->first = peak_mib(true);
            peaks->second = peak_mib(false);
            return std::function<void()>([] {});
          },
          [peaks](double) {
            return mixgrad::bench::three_significant(peaks->first) + " MiB fused, " +
                   mixgrad::bench::three_significant(peaks->second) + " MiB reference";
          }};
}

// The fixed cost of one small op, the unit MoE and MANN steps are made of: `a + b` on two
// 16-element float32 tensors, 1000 times per timed run, recorded for autograd (a and b require
// grad) or not. Reports the time and the heap blocks (operator new calls) per op.
Case op_add16_case(bool recorded) {
  auto blocks = std::make_shared<double>(0);
  constexpr int kOps = 1000;
  return {recorded ? "op_add16_recorded" : "op_add16",
          [blocks, recorded] {
            mg::Generator gen(9);
            auto a = mg::randn({16}, {}, &gen), b = mg::randn({16}, {}, &gen);
            if (recorded) {
              a.requires_grad_();
              b.requires_grad_();
            }
            auto run = [a, b] {
              for (int i = 0; i < kOps; ++i) {
                mg::Tensor y = a + b;
              }
            };
            run();  // warm caches and the allocator first
            const int64_t before = g_heap_blocks.load(std::memory_order_relaxed);
            run();
            *blocks =
                static_cast<double>(g_heap_blocks.load(std::memory_order_relaxed) - before) / kOps;
            return std::function<void()>(run);
          },
          [blocks](double ms) {
            return mixgrad::bench::three_significant(ms * 1e6 / kOps) + " ns per op, " +
                   mixgrad::bench::three_significant(*blocks) + " heap blocks per op";
          }};
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

// The memory floor of mann_e8_b1_fwd: at batch 1 a frame must read every expert's weights once
// (8 x (480 x 512 + 512 x 512 + 512 x 363) floats, 22.2 MB), whatever it blends. This reads as
// many floats through one matrix-vector product and reports the rate in GB/s; the floor of the
// frame is 22.2 MB at that rate.
Case weights_read_peak_case() {
  constexpr int64_t kCols = 480;
  constexpr int64_t kRows = 8 * (480 * 512 + 512 * 512 + 512 * 363) / kCols;
  const double gigabytes = static_cast<double>(kRows * kCols) * sizeof(float) * 1e-9;
  return {"mann_e8_weights_read",
          [] {
            mg::Generator gen(4);
            auto w = mg::randn({kRows, kCols}, {}, &gen);
            auto x = mg::randn({kCols}, {}, &gen);
            return std::function<void()>([w, x] { mg::matmul(w, x); });
          },
          [gigabytes](double ms) {
            return mixgrad::bench::three_significant(gigabytes / (ms * 1e-3)) + " GB/s";
          }};
}

// The decoder LM of the Transformer issue: vocabulary 1024, d 256, 4 pre-RMSNorm blocks of
// 4-head causal attention (no biases, no rotary: libtorch has none to compare with) and a top-2
// of 8 SwiGLU-expert MoE (hidden 512, no biases, Switch loss 0.01, dropless), tied head; batch 16
// of 256 tokens; loss = next-token cross-entropy + aux.
constexpr int64_t kLMVocab = 1024;

mixgrad::models::MoETransformerLMOptions bench_lm_options(int64_t max_seq_len) {
  mixgrad::models::MoETransformerLMOptions o;
  o.vocab_size = kLMVocab;
  o.d_model = 256;
  o.num_layers = 4;
  o.num_heads = 4;
  o.max_seq_len = max_seq_len;
  o.num_experts = 8;
  o.k = 2;
  o.expert_hidden = 512;
  o.switch_loss_coef = 0.01;
  o.z_loss_coef = 0.0;
  o.dropless = true;
  o.rotary_dim = 0;
  return o;
}

std::function<void()> moe_lm_case(Pass pass) {
  mg::Generator gen(5);
  auto model = std::make_shared<mixgrad::models::MoETransformerLM>(bench_lm_options(256));
  const auto tokens = mg::randint(0, kLMVocab, {16, 257}, mg::kInt64, &gen);
  const auto inputs = tokens.narrow(1, 0, 256);
  const auto targets = tokens.narrow(1, 1, 256).reshape({-1});
  return timed_pass(
      model, pass, [inputs](mixgrad::models::MoETransformerLM& m) { return m(inputs); },
      [targets](const mixgrad::models::LMOutput& out) {
        return mg::cross_entropy(out.logits.reshape({-1, kLMVocab}), targets) + out.aux_loss;
      });
}

// 256 new tokens after a 16-token prompt (batch 1, greedy), with and without the key/value
// cache: the cache makes each token cost O(T) instead of a forward over the whole sequence.
std::function<void()> lm_generate_case(bool use_cache) {
  auto model = std::make_shared<mixgrad::models::MoETransformerLM>(bench_lm_options(272));
  mg::Generator gen(6);
  const auto prompt = mg::randint(0, kLMVocab, {1, 16}, mg::kInt64, &gen);
  return [model, prompt, use_cache] {
    model->generate(prompt, {.max_new_tokens = 256, .temperature = 0, .use_cache = use_cache});
  };
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  const Pass passes[] = {Pass::Forward, Pass::Step};
  auto add = [&cases](std::string name, std::function<std::function<void()>()> setup,
                      double gemm_gflop = 0) {
    cases.push_back({std::move(name), std::move(setup), {}, gemm_gflop});
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
    add(
        std::string("s004_tiny_") + pass_suffix(p),
        [p] {
          return moe_case({4, 16}, 32, 8, 128, p);
        },
        moe_gemm_gflop(64, 32, 8, 128, p));
  }
  for (Pass p : passes) {
    add(
        std::string("s002_d512_e16_") + pass_suffix(p),
        [p] {
          return moe_case({4, 1024}, 512, 16, 2048, p);
        },
        moe_gemm_gflop(4096, 512, 16, 2048, p));
  }
  for (Pass p : passes) {
    add(
        std::string("hmoe_d512_g4e4_") + pass_suffix(p), [p] { return hmoe_case(4, 4, p); },
        hmoe_gemm_gflop(4096, 512, 4, 4, 2048, p));
  }
  add("fashion_moe_b128_adam_step", [] { return fashion_moe_case(); });
  for (int64_t e : {8, 16, 32, 64, 128}) {
    add(
        "moe_scale_e" + std::to_string(e) + "_step",
        [e] { return moe_case({4096}, 256, e, 1024, Pass::Step); },
        moe_gemm_gflop(4096, 256, e, 1024, Pass::Step));
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
  add("lm_generate_256_cached", [] { return lm_generate_case(true); });
  add("lm_generate_256_uncached", [] { return lm_generate_case(false); });
  for (Pass p : passes) {
    add(std::string("attn_b8_h8_t512_d64_causal_") + pass_suffix(p),
        [p] { return attention_case(8, 8, 512, 64, p); });
  }
  add("attn_b1_h8_t4096_d64_causal_fwd",
      [] { return attention_case(1, 8, 4096, 64, Pass::Forward); });
  cases.push_back(attention_peak_case());
  cases.push_back(op_add16_case(false));
  cases.push_back(op_add16_case(true));
  cases.push_back(gemm_peak_case(2048));
  cases.push_back(weights_read_peak_case());
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  // For bench/run.sh, which gives the libtorch peer the same OpenBLAS kernels.
  if (argc == 2 && std::string_view(argv[1]) == "--blas-core") {
    std::printf("%s\n", mg::cpu::blas_core().c_str());
    return 0;
  }
  return mixgrad::bench::run_main(argc, argv, "mixgrad-bench", all_cases, [](int threads) {
    // Also OpenBLAS's: mixgrad keeps it single-threaded and splits large products itself.
    mg::set_num_threads(threads);
  });
}
