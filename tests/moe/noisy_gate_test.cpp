#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "common/test_util.h"
#include "mixgrad.h"
#include "models/moe.h"
#include "models/noisy_top_k_gate.h"
#include "models/second_expert_policy.h"
#include "moe/moe_reference.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::expect_values;

// var(v) / (mean(v)^2 + 1e-10) with the unbiased variance (the gate's default correction).
double cv_squared_unbiased(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  return sq / (n - 1) / (mean * mean + 1e-10);
}

double sigmoid(double z) {
  return 1 / (1 + std::exp(-z));
}
double phi(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

// Keep masks as 0/1 doubles, row-major [T, 2].
std::vector<double> mask_of(const Tensor& keep) {
  EXPECT_EQ(keep.dtype(), kBool);
  return keep.to_vector<double>();
}

const Tensor kHandGates = tensor({{0.9, 0.1}, {0.7, 0.3}, {0.5, 0.5}, {0.8, 0.2}}, kFloat64);

TEST(SecondExpertPolicy, AllNoneAndThresholdGiveExactMasks) {
  const SecondExpertOptions all_none{.train = SecondExpertPolicy::All,
                                     .eval = SecondExpertPolicy::None};
  expect_values(second_expert_keep(kHandGates, all_none, true), {4, 2}, {1, 1, 1, 1, 1, 1, 1, 1});
  expect_values(second_expert_keep(kHandGates, all_none, false), {4, 2}, {1, 0, 1, 0, 1, 0, 1, 0});
  const SecondExpertOptions threshold{.train = SecondExpertPolicy::Threshold,
                                      .eval = SecondExpertPolicy::Threshold,
                                      .threshold_train = 0.25,
                                      .threshold_eval = 0.4};
  // Strictly greater: g2 = 0.2 is not > 0.25 and 0.3 is not > 0.4.
  EXPECT_EQ(mask_of(second_expert_keep(kHandGates, threshold, true)),
            (std::vector<double>{1, 0, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(mask_of(second_expert_keep(kHandGates, threshold, false)),
            (std::vector<double>{1, 0, 1, 0, 1, 1, 1, 0}));
}

TEST(SecondExpertPolicy, RandomKeepsIffSecondGateExceedsThresholdTimesUniform) {
  const int64_t tokens = 200;
  Generator data(3);
  const Tensor second = rand({tokens, 1}, kFloat64, &data) * 0.5;
  const Tensor gates = cat({1.0 - second, second}, 1);
  const SecondExpertOptions random{.threshold_train = 0.3, .threshold_eval = 0.6};
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "train" : "eval");
    const double threshold = training ? 0.3 : 0.6;
    Generator gen(17), same(17);
    const std::vector<double> got = mask_of(second_expert_keep(gates, random, training, &gen));
    const std::vector<double> u = rand({tokens}, kFloat64, &same).to_vector<double>();
    const std::vector<double> g2 = second.to_vector<double>();
    int64_t kept = 0, differs_from_plain_threshold = 0;
    for (int64_t t = 0; t < tokens; ++t) {
      const bool expected = g2[t] > threshold * u[t];
      EXPECT_EQ(got[2 * t], 1.0) << "token " << t;
      EXPECT_EQ(got[2 * t + 1], expected ? 1.0 : 0.0) << "token " << t;
      kept += expected;
      differs_from_plain_threshold += expected != (g2[t] > threshold);
    }
    // The draw matters: some but not all second experts survive, unlike a plain threshold.
    EXPECT_GT(kept, 0);
    EXPECT_LT(kept, tokens);
    EXPECT_GT(differs_from_plain_threshold, 0);
    EXPECT_EQ(gen.offset(), same.offset());
  }
}

TEST(SecondExpertPolicy, Errors) {
  EXPECT_MG_ERROR(second_expert_keep(zeros({2, 3}, kFloat64), {}, true), "floating [tokens, 2]");
  EXPECT_MG_ERROR(second_expert_keep(zeros({2, 2}, kInt64), {}, true), "floating [tokens, 2]");
  EXPECT_MG_ERROR(second_expert_keep(kHandGates, {.threshold_eval = -0.1}, true),
                  "finite and non-negative");
  EXPECT_MG_ERROR(TopKGate({.d_model = 2, .num_experts = 3, .k = 3, .second_expert = {{}}}),
                  "needs k == 2, got k=3");
}

TEST(SecondExpertPolicy, TopKGateSetsKeep) {
  TopKGate gate({.d_model = 2,
                 .num_experts = 3,
                 .k = 2,
                 .tensor_options = kFloat64,
                 .second_expert = SecondExpertOptions{.train = SecondExpertPolicy::Threshold,
                                                      .eval = SecondExpertPolicy::None,
                                                      .threshold_train = 0.2}});
  {
    NoGradGuard no_grad;
    gate.weight.copy_(tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}}, kFloat64));
  }
  // Logits [2, 1.5, 0] (g2 = 1 / (1 + e^0.5) = 0.38) and [3, 0, 0] (g2 = 1 / (1 + e^3) = 0.047).
  const Tensor x = tensor({{2.0, 1.5}, {3.0, 0.0}}, kFloat64);
  Routing r = gate.route(x);
  expect_values(r.gates.select(1, 1), {2}, {sigmoid(-0.5), sigmoid(-3.0)}, 1e-15);
  expect_values(r.keep, {2, 2}, {1, 1, 1, 0});
  gate.eval();
  expect_values(gate.route(x).keep, {2, 2}, {1, 0, 1, 0});
}

NoisyTopKGateOptions noisy_options(int64_t d, int64_t experts, int64_t k,
                                   Generator* gen = nullptr) {
  return {.d_model = d,
          .num_experts = experts,
          .k = k,
          .importance_coef = 0.5,
          .load_coef = 0.25,
          .tensor_options = kFloat64,
          .generator = gen};
}

void set_weights(NoisyTopKGate& gate, const Tensor& w, const Tensor& w_noise) {
  NoGradGuard no_grad;
  gate.weight.copy_(w);
  gate.noise_weight.copy_(w_noise);
}

TEST(NoisyTopKGate, EvalModeMatchesHandComputation) {
  NoisyTopKGate gate(noisy_options(2, 3, 2));
  // The noise weights must not matter without noise.
  set_weights(gate, tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}}, kFloat64),
              tensor({{5.0, -3.0}, {2.0, 1.0}, {-4.0, 0.5}}, kFloat64));
  gate.eval();
  // Logits [2, 1, 0], [0.5, 3, 0], [-1, 0.5, 0]: choices {0, 1}, {1, 0}, {1, 2}.
  const Tensor x = tensor({{2.0, 1.0}, {0.5, 3.0}, {-1.0, 0.5}}, kFloat64);
  Routing r = gate.route(x);
  expect_values(r.expert_index, {3, 2}, {0, 1, 1, 0, 1, 2});
  expect_values(r.gates, {3, 2},
                {sigmoid(1), sigmoid(-1), sigmoid(2.5), sigmoid(-2.5), sigmoid(0.5), sigmoid(-0.5)},
                1e-15);
  EXPECT_FALSE(r.keep.defined());
  const double z1 = std::exp(2.0) + std::exp(1.0) + 1;
  expect_values(r.probs.select(0, 0), {3}, {std::exp(2.0) / z1, std::exp(1.0) / z1, 1 / z1}, 1e-15);
  const std::vector<double> importance = {sigmoid(1) + sigmoid(-2.5),
                                          sigmoid(-1) + sigmoid(2.5) + sigmoid(0.5), sigmoid(-0.5)};
  const std::vector<double> load = {2, 3, 1};  // hard counts of tokens per expert
  ASSERT_EQ(r.losses.size(), 2u);
  EXPECT_EQ(r.losses[0].first, "importance");
  EXPECT_EQ(r.losses[1].first, "load");
  const double imp_loss = 0.5 * cv_squared_unbiased(importance);
  const double load_loss = 0.25 * cv_squared_unbiased(load);
  EXPECT_NEAR(load_loss, 0.25 * 0.25, 1e-10);  // mean 2, unbiased variance 1
  expect_values(r.losses[0].second, {}, {imp_loss}, 1e-14);
  expect_values(r.losses[1].second, {}, {load_loss}, 1e-14);
  expect_values(r.aux_loss, {}, {imp_loss + load_loss}, 1e-14);
}

struct TinyNoisyCase {
  Generator gen{21};
  NoisyTopKGate gate;
  Tensor x;
  explicit TinyNoisyCase(int64_t k, int64_t tokens = 4, int64_t d = 3, int64_t experts = 4)
      : gate(noisy_options(d, experts, k, &gen)) {
    Generator init(8);
    set_weights(gate, randn({experts, d}, kFloat64, &init),
                randn({experts, d}, kFloat64, &init) * 0.5);
    x = randn({tokens, d}, kFloat64, &init);
  }
  Routing route_seeded(const Tensor& input, uint64_t seed) {
    gen.manual_seed(seed);
    return gate.route(input);
  }
};

TEST(NoisyTopKGate, TrainingIsReproducibleAndGatesSumToOne) {
  TinyNoisyCase c(2, 16);
  ASSERT_TRUE(c.gate.is_training());
  Routing a = c.route_seeded(c.x, 4), b = c.route_seeded(c.x, 4), other = c.route_seeded(c.x, 5);
  expect_values(a.expert_index, {16, 2}, b.expert_index.to_vector<double>());
  expect_values(a.gates, {16, 2}, b.gates.to_vector<double>());
  expect_values(a.aux_loss, {}, {b.aux_loss.item<double>()});
  expect_close(a.gates.sum({1}), ones({16}, kFloat64), 1e-15, 0);
  // Another noise draw changes the noisy logits (and so the router probabilities).
  EXPECT_GT((a.probs - other.probs).abs().max().item<double>(), 1e-3);
  // Noise in training, none in eval: eval routing is deterministic and differs from training.
  c.gate.eval();
  Routing e1 = c.route_seeded(c.x, 4), e2 = c.route_seeded(c.x, 5);
  expect_values(e1.probs, {16, 4}, e2.probs.to_vector<double>());
  EXPECT_GT((a.probs - e1.probs).abs().max().item<double>(), 1e-3);
}

TEST(NoisyTopKGate, TrainingLossesMatchTheSmoothLoadFormula) {
  for (int64_t k : {1, 2}) {
    SCOPED_TRACE("k=" + std::to_string(k));
    const int64_t tokens = 5, d = 3, experts = 4;
    TinyNoisyCase c(k, tokens, d, experts);
    Routing r = c.route_seeded(c.x, 9);
    Generator same(9);
    const std::vector<double> eps = randn({tokens, experts}, kFloat64, &same).to_vector<double>();
    const std::vector<double> xv = c.x.to_vector<double>(), w = c.gate.weight.to_vector<double>(),
                              wn = c.gate.noise_weight.to_vector<double>();
    std::vector<double> importance(experts, 0.0), load(experts, 0.0);
    const std::vector<double> probs = r.probs.to_vector<double>();
    for (int64_t t = 0; t < tokens; ++t) {
      std::vector<double> clean(experts), noise_std(experts), noisy(experts);
      for (int64_t e = 0; e < experts; ++e) {
        double dot = 0, dot_noise = 0;
        for (int64_t j = 0; j < d; ++j) {
          dot += xv[t * d + j] * w[e * d + j];
          dot_noise += xv[t * d + j] * wn[e * d + j];
        }
        clean[e] = dot;
        noise_std[e] = std::log1p(std::exp(dot_noise)) + 1e-2;
        noisy[e] = clean[e] + eps[t * experts + e] * noise_std[e];
      }
      // The noise was reproduced: probs are the softmax of these noisy logits.
      double z = 0;
      for (double v : noisy) z += std::exp(v);
      for (int64_t e = 0; e < experts; ++e) {
        EXPECT_NEAR(probs[t * experts + e], std::exp(noisy[e]) / z, 1e-13);
      }
      std::vector<double> sorted = noisy;
      std::sort(sorted.begin(), sorted.end(), std::greater<>());
      double top_sum = 0;
      for (int64_t j = 0; j < k; ++j) top_sum += std::exp(sorted[j]);
      for (int64_t e = 0; e < experts; ++e) {
        const bool in_top = noisy[e] > sorted[k];
        if (in_top) importance[e] += std::exp(noisy[e]) / top_sum;
        const double threshold = in_top ? sorted[k] : sorted[k - 1];
        load[e] += phi((clean[e] - threshold) / noise_std[e]);
      }
    }
    ASSERT_EQ(r.losses.size(), 2u);
    expect_values(r.losses[0].second, {}, {0.5 * cv_squared_unbiased(importance)}, 1e-13);
    expect_values(r.losses[1].second, {}, {0.25 * cv_squared_unbiased(load)}, 1e-13);
    // The smooth load is not the hard count.
    std::vector<double> counts(experts, 0.0);
    for (double e : r.expert_index.to_vector<double>()) counts[static_cast<size_t>(e)] += 1;
    EXPECT_GT(std::fabs(cv_squared_unbiased(load) - cv_squared_unbiased(counts)), 1e-6);
  }
}

TEST(NoisyTopKGate, TrainingGradcheckWithFixedNoise) {
  TinyNoisyCase c(2, 6, 3, 4);
  Tensor x = c.x.clone().requires_grad_();
  auto fn = [&c](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    Routing r = c.route_seeded(in[0], 13);  // same eps on every evaluation
    return {r.aux_loss, r.gates};
  };
  EXPECT_GRADCHECK(fn, (std::vector<Tensor>{x, c.gate.weight, c.gate.noise_weight}));
  // Both losses depend on all three inputs (the check above is not vacuous).
  Routing r = c.route_seeded(x, 13);
  r.losses[1].second.backward();
  EXPECT_GT(c.gate.noise_weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
}

TEST(NoisyTopKGate, SingleExpertAndBalancedBatchGiveZeroLoss) {
  for (bool training : {true, false}) {
    Generator gen(1);
    NoisyTopKGate single(noisy_options(2, 1, 1, &gen));
    single.train(training);
    Routing r = single.route(tensor({{1.0, 2.0}, {-1.0, 0.5}}, kFloat64));
    expect_values(r.aux_loss, {}, {0.0});
    expect_values(r.gates, {2, 1}, {1, 1});
  }
  NoisyTopKGate balanced(noisy_options(1, 2, 1));
  set_weights(balanced, tensor({{1.0}, {-1.0}}, kFloat64), zeros({2, 1}, kFloat64));
  balanced.eval();
  Routing r = balanced.route(tensor({{1.0}, {-1.0}}, kFloat64));
  expect_values(r.expert_index, {2, 1}, {0, 1});
  expect_values(r.losses[0].second, {}, {0.0});
  expect_values(r.losses[1].second, {}, {0.0});
  // Fresh (zero-initialised) gate in training: finite losses.
  Generator gen(2);
  NoisyTopKGate fresh(noisy_options(3, 4, 2, &gen));
  EXPECT_TRUE(std::isfinite(fresh.route(ones({5, 3}, kFloat64)).aux_loss.item<double>()));
}

TEST(NoisyTopKGate, SecondExpertPolicyAndRandomDrawsComeFromTheGenerator) {
  Generator gen(6);
  NoisyTopKGateOptions o = noisy_options(3, 4, 2, &gen);
  o.second_expert =
      SecondExpertOptions{.eval = SecondExpertPolicy::Threshold, .threshold_eval = 0.3};
  NoisyTopKGate gate(o);
  Generator init(8);
  set_weights(gate, randn({4, 3}, kFloat64, &init), zeros({4, 3}, kFloat64));
  const Tensor x = randn({20, 3}, kFloat64, &init);
  gate.eval();
  Routing r = gate.route(x);
  const Tensor expected = gt(r.gates.select(1, 1), full({20}, 0.3, kFloat64));
  expect_values(r.keep.select(1, 1), {20}, expected.to_vector<double>());
  expect_values(r.keep.select(1, 0), {20}, ones({20}).to_vector<double>());
}

TEST(NoisyTopKGate, MoELayerMatchesBruteForceInEval) {
  for (bool with_policy : {false, true}) {
    SCOPED_TRACE(with_policy ? "threshold policy" : "no policy");
    manual_seed(11);
    NoisyTopKGateOptions o = noisy_options(6, 4, 2);
    if (with_policy) {
      o.second_expert =
          SecondExpertOptions{.eval = SecondExpertPolicy::Threshold, .threshold_eval = 0.35};
    }
    auto gate = std::make_shared<NoisyTopKGate>(o);
    Generator init(3);
    set_weights(*gate, randn({4, 6}, kFloat64, &init), randn({4, 6}, kFloat64, &init));
    MoE moe({.d_model = 6,
             .hidden = 8,
             .num_experts = 4,
             .k = 2,
             .dropless = true,
             .tensor_options = kFloat64},
            gate);
    moe.eval();
    ASSERT_FALSE(gate->is_training());
    Tensor x = randn({2, 5, 6}, kFloat64, &init).requires_grad_();
    // W_noise is unused without noise: it gets no gradient on either path.
    const MoEOutput out = testing::expect_moe_matches_reference(moe, x);
    const Tensor keep = gate->route(x.reshape({-1, 6})).keep;
    const int64_t dropped = with_policy ? 20 - keep.to(kInt64).sum().item<int64_t>() : 0;
    EXPECT_EQ(out.dropped, dropped);
    if (with_policy) {
      EXPECT_GT(dropped, 0);
      EXPECT_LT(dropped, 10);
    }
    EXPECT_FALSE(gate->noise_weight.grad().defined());
  }
}

TEST(NoisyTopKGate, Errors) {
  EXPECT_MG_ERROR(NoisyTopKGate(noisy_options(3, 2, 3)), "k=3 must be in [1, num_experts=2]");
  EXPECT_MG_ERROR(NoisyTopKGate(noisy_options(0, 2, 1)), "must be positive");
  NoisyTopKGateOptions o = noisy_options(3, 4, 1);
  o.second_expert = SecondExpertOptions{};
  EXPECT_MG_ERROR(NoisyTopKGate{o}, "needs k == 2, got k=1");
  o = noisy_options(3, 4, 2);
  o.noise_epsilon = -1;
  EXPECT_MG_ERROR(NoisyTopKGate{o}, "non-negative");
  o = noisy_options(3, 4, 2);
  o.cv_correction = 2;
  EXPECT_MG_ERROR(NoisyTopKGate{o}, "cv_correction must be 0 or 1");
  NoisyTopKGate gate(noisy_options(3, 4, 2));
  EXPECT_MG_ERROR(gate.route(zeros({2, 5}, kFloat64)), "input must be [tokens, 3]");
  EXPECT_MG_ERROR(gate.route(zeros({0, 3}, kFloat64)), "at least one token");
  EXPECT_MG_ERROR(gate.route(zeros({3}, kFloat64)), "input must be [tokens, 3]");
}

}  // namespace
}  // namespace mixgrad::models
