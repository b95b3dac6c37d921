// words-transformer: a causal MoE Transformer language model (models/moe_transformer_lm.h) over
// the characters of whole English words. Each word is one sequence: the begin symbol, then its
// letters, predicting the letters and the end symbol (the same predictions per word as
// words-moe, so nats per character compare directly).
#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/generator.h"
#include "core/grad_mode.h"
#include "models/moe_transformer_lm.h"
#include "ops/ops.h"
#include "zoo/words_data.h"
#include "zoo/zoo.h"

namespace mixgrad::zoo {

namespace {

using words::kBegin;
using words::kEnd;
using words::kVocab;

constexpr int64_t kMaxPositions = 64;  // longer words are left out
constexpr int64_t kIgnore = -100;      // the padding's target: no loss

models::MoETransformerLMOptions lm_options(const Settings& s) {
  models::MoETransformerLMOptions o;
  o.vocab_size = kVocab;
  o.d_model = 64;
  o.num_layers = 2;
  o.num_heads = 4;
  o.num_kv_heads = 2;
  o.max_seq_len = kMaxPositions;
  o.num_experts = s.experts;
  o.k = s.top_k;
  o.expert_hidden = 128;
  return o;
}

// Rows of [begin, letters..., padding] as input and [letters..., end, ignored...] as target,
// int64 [N, L] each, L = the longest word plus one. Words longer than the model's positions
// allow are left out (none in Debian's lists, whose longest word has 22 letters).
std::shared_ptr<data::TensorDataset> make_sequences(const std::vector<std::string>& list) {
  int64_t length = 1;
  for (const std::string& w : list) {
    if (static_cast<int64_t>(w.size()) < kMaxPositions)
      length = std::max(length, static_cast<int64_t>(w.size()) + 1);
  }
  std::vector<int64_t> inputs, targets;
  for (const std::string& w : list) {
    const auto n = static_cast<int64_t>(w.size());
    if (n >= kMaxPositions) continue;
    inputs.push_back(kBegin);
    for (const char c : w) {
      inputs.push_back(words::symbol(c));
      targets.push_back(words::symbol(c));
    }
    targets.push_back(kEnd);
    inputs.insert(inputs.end(), static_cast<size_t>(length - n - 1), kBegin);
    targets.insert(targets.end(), static_cast<size_t>(length - n - 1), kIgnore);
  }
  const auto rows = static_cast<int64_t>(targets.size()) / length;
  return std::make_shared<data::TensorDataset>(tensor(inputs, Shape{rows, length}),
                                               tensor(targets, Shape{rows, length}));
}

class WordsTransformerTask : public Task {
 public:
  explicit WordsTransformerTask(const Settings& s)
      : model_(lm_options(s)), seed_(s.seed), device_(s.device) {
    model_.to(s.device);
  }
  nn::Module& module() override { return model_; }

  void load_data(const std::string& dir) override {
    lists_ = words::load_word_lists(dir);
    train_data_ = make_sequences(lists_.train);
    test_data_ = make_sequences(lists_.test);
  }
  std::shared_ptr<const data::Dataset> train_data() const override { return train_data_; }
  std::shared_ptr<const data::Dataset> test_data() const override { return test_data_; }

  StepOutput forward(const data::Example& batch) override {
    // The batch's longest word decides its length: the padding after it costs nothing.
    const Tensor real = ne(batch.target, scalar_tensor(kIgnore, kInt64).to(batch.target.device()));
    const int64_t length = real.sum(Shape{1}).max().item<int64_t>();
    const Tensor target = batch.target.narrow(1, 0, length);
    const models::LMOutput out = model_(batch.input.narrow(1, 0, length));
    const Tensor task = cross_entropy(out.logits.reshape({-1, kVocab}), target.reshape({-1}),
                                      Reduction::Mean, 0.0, kIgnore);
    StepOutput step;
    step.loss = task + out.aux_loss;
    NoGradGuard no_grad;
    step.items = real.sum().item<int64_t>();
    step.task_loss = task.item<double>();
    step.metric_sum = step.task_loss * static_cast<double>(step.items);
    for (const Tensor& load : out.tokens_per_expert) {  // summed over the MoE layers
      if (!load.defined()) continue;
      step.tokens_per_expert =
          step.tokens_per_expert.defined() ? step.tokens_per_expert + load : load.clone();
    }
    step.dropped = out.dropped;
    return step;
  }

  int64_t active_parameters() override { return model_.active_parameters(); }

  void report(std::ostream& out, const std::string& out_dir) override {
    words::report_samples(out, out_dir, sample_words(), lists_, seed_);
  }

 private:
  // kSamples words drawn symbol by symbol, all at once, with the key/value cache: each step
  // feeds only the newest symbols. A fresh generator seeded with the task's seed makes them the
  // same on every call.
  std::vector<std::string> sample_words() {
    const bool was_training = model_.is_training();
    model_.eval();
    NoGradGuard no_grad;
    Generator gen(seed_);
    constexpr int64_t n = words::kSamples;
    const int64_t steps = std::min(words::kMaxSampleLength, kMaxPositions);
    models::LMCache cache = model_.make_cache(steps);
    std::vector<int64_t> next(n, kBegin);
    std::vector<std::string> samples(n);
    std::vector<bool> done(n, false);
    for (int64_t step = 0; step < steps; ++step) {
      const Tensor input = tensor(next, Shape{n, 1}).to(device_);
      const Tensor logits = model_(input, &cache).logits.select(1, 0);
      const std::vector<float> probs =
          softmax(logits.to(kFloat32), 1).to(Device::cpu()).to_vector<float>();
      const std::vector<double> uniform =
          rand({n}, TensorOptions(kFloat64), &gen).to_vector<double>();
      for (int64_t i = 0; i < n; ++i) {
        if (done[i]) continue;
        next[i] = words::draw_symbol(probs.data() + i * kVocab, step == 0, uniform[i]);
        if (next[i] == kEnd) {
          done[i] = true;
          continue;
        }
        samples[i] += words::letter(next[i]);
      }
      if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    }
    model_.train(was_training);
    return samples;
  }

  models::MoETransformerLM model_;
  uint64_t seed_;
  Device device_;
  std::shared_ptr<data::TensorDataset> train_data_, test_data_;
  words::WordLists lists_;
};

}  // namespace

std::vector<ModelEntry> words_transformer_models() {
  return {{.name = "words-transformer",
           .description = "causal MoE Transformer over whole words: 2 pre-RMSNorm blocks (d 64, "
                          "4 query heads sharing 2 key/value heads, rotary), top-k of 8 SwiGLU "
                          "experts of width 128 per block, tied head; samples with the "
                          "key/value cache",
           .data = words::kDataDescription,
           .default_data_dir = words::kDefaultDir,
           .metric = {"nats_per_char", false},
           .items = "tokens",
           .defaults = {.epochs = 8,
                        .batch = 128,
                        .lr = 3e-3,
                        .experts = 8,
                        .top_k = 2,
                        .seed = 0,
                        .data_dir = {}},
           .routed = true,
           .make = [](const Settings& s) -> std::unique_ptr<Task> {
             return std::make_unique<WordsTransformerTask>(s);
           }}};
}

}  // namespace mixgrad::zoo
