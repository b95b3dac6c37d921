// Workloads named in the foundation issue: the backward of a sparse MoE whose experts live in
// one stacked weight used through W[e], a training step's trips to the system allocator, and
// the fixed cost of one small op.
#include <benchmark/benchmark.h>
#include <mixgrad.h>

#include <string>

#include "io/safetensors_header.h"

namespace {

// 16 experts stored as W [E, d, d]; tokens split evenly, each expert applied through W[e].
void BM_StackedExpertsForwardBackward(benchmark::State& state) {
  const int64_t experts = 16, d = state.range(0), tokens_per_expert = 32;
  mg::Generator gen(0);
  auto w = (mg::randn({experts, d, d}, {}, &gen) * 0.05).detach().requires_grad_();
  auto x = mg::randn({experts * tokens_per_expert, d}, {}, &gen);
  std::size_t peak_backward = 0;
  for (auto _ : state) {
    mg::Tensor loss;
    for (int64_t e = 0; e < experts; ++e) {
      auto xe = x.narrow(0, e * tokens_per_expert, tokens_per_expert);
      auto term = mg::matmul(xe, w[e]).sum();
      loss = loss.defined() ? loss + term : term;
    }
    mg::reset_peak_memory_stats();
    const std::size_t before = mg::memory_stats().allocated;
    loss.backward();
    peak_backward = mg::memory_stats().peak_allocated - before;
    w.zero_grad();
  }
  const double weight_bytes = static_cast<double>(experts * d * d * sizeof(float));
  state.counters["backward_peak_over_weight"] = static_cast<double>(peak_backward) / weight_bytes;
}
BENCHMARK(BM_StackedExpertsForwardBackward)->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond);

// A small MLP training step; counts how often it still goes to the system for memory.
void BM_MlpTrainingStep(benchmark::State& state) {
  mg::Generator gen(1);
  auto w1 = (mg::randn({256, 512}, {}, &gen) * 0.05).detach().requires_grad_();
  auto w2 = (mg::randn({512, 10}, {}, &gen) * 0.05).detach().requires_grad_();
  auto x = mg::randn({256, 256}, {}, &gen);
  auto target = mg::randint(0, 10, {256}, {}, &gen);
  auto step = [&] {
    auto loss = mg::cross_entropy(mg::matmul(mg::relu(mg::matmul(x, w1)), w2), target);
    loss.backward();
    mg::NoGradGuard no_grad;
    for (mg::Tensor* p : {&w1, &w2}) {
      p->sub_(p->grad() * 0.01);
      p->zero_grad();
    }
  };
  step();
  const auto system_before = mg::memory_stats().system_allocs;
  int64_t steps = 0;
  for (auto _ : state) {
    step();
    ++steps;
  }
  state.counters["system_allocs_per_step"] =
      static_cast<double>(mg::memory_stats().system_allocs - system_before) /
      static_cast<double>(steps);
}
BENCHMARK(BM_MlpTrainingStep)->Unit(benchmark::kMicrosecond);

// The fixed cost of one recorded element-wise op on a tiny tensor (MoE runs many of these).
void BM_SmallOpOverhead(benchmark::State& state) {
  auto a = mg::randn({16}).requires_grad_();
  auto b = mg::randn({16});
  for (auto _ : state) benchmark::DoNotOptimize(mg::add(a, b));
}
BENCHMARK(BM_SmallOpOverhead);

// Decoding a safetensors header of N one-element entries (issue 17: it must be linear in N; the
// old duplicate-key parse callback took 11 s for 40k entries).
void BM_SafetensorsHeaderDecode(benchmark::State& state) {
  namespace format = mg::io::safetensors_format;
  const auto n = static_cast<std::size_t>(state.range(0));
  std::string text = "{";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) text += ",";
    text += "\"layer" + std::to_string(i) + ".weight\":{\"dtype\":\"F32\",\"shape\":[1],";
    text += "\"data_offsets\":[" + std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
  }
  text += "}";
  const format::ErrorContext at{"bench", "header"};
  for (auto _ : state) benchmark::DoNotOptimize(format::decode_header(text, 4 * n, at));
  state.SetComplexityN(state.range(0));
}
BENCHMARK(BM_SafetensorsHeaderDecode)
    ->RangeMultiplier(2)
    ->Range(5000, 40000)
    ->Complexity(benchmark::oN)
    ->Unit(benchmark::kMillisecond);

}  // namespace
