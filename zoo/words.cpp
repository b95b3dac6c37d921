// Character-level language models of English words (Debian's word list): the previous 8
// characters, embedded and concatenated, go through a d-wide stem, one feed-forward block with a
// residual connection (sparse top-k MoE, or the dense MLP with the same active compute) and a
// head over the characters. words_transformer.cpp has the causal Transformer with MoE blocks.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/generator.h"
#include "core/grad_mode.h"
#include "models/moe.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "zoo/classification.h"
#include "zoo/words_data.h"
#include "zoo/zoo.h"

namespace mixgrad::zoo {

namespace {

using words::kBegin;
using words::kEnd;
using words::kMaxSampleLength;
using words::kSamples;
using words::kVocab;

constexpr int64_t kContext = 8;  // characters the model sees
constexpr int64_t kEmbed = 16;   // per character
constexpr int64_t kWidth = 128;  // d_model of the block
constexpr int64_t kExpertHidden = 128;
constexpr int64_t kDenseHidden = 2 * kExpertHidden;  // words-mlp: the active width of top-2

// One example per predicted symbol of every word, the words in order and each word's examples
// in order: input int64 [N, 8] (the previous characters, left-padded with kBegin), target int64
// [N] (the next letter, or kEnd after the last).
std::shared_ptr<data::TensorDataset> make_examples(const std::vector<std::string>& words) {
  std::vector<int64_t> inputs, targets;
  for (const std::string& word : words) {
    std::vector<int64_t> padded(kContext, kBegin);
    for (const char c : word) padded.push_back(words::symbol(c));
    padded.push_back(kEnd);
    for (size_t i = kContext; i < padded.size(); ++i) {
      inputs.insert(inputs.end(), padded.begin() + static_cast<int64_t>(i) - kContext,
                    padded.begin() + static_cast<int64_t>(i));
      targets.push_back(padded[i]);
    }
  }
  const auto n = static_cast<int64_t>(targets.size());
  return std::make_shared<data::TensorDataset>(tensor(inputs, Shape{n, kContext}),
                                               tensor(targets, Shape{n}));
}

class WordModel : public nn::Module {
 public:
  WordModel(bool sparse, int64_t experts, int64_t top_k) {
    embed = std::make_shared<nn::Embedding>(kVocab, kEmbed);
    stem = std::make_shared<nn::Linear>(kContext * kEmbed, kWidth);
    norm = std::make_shared<nn::LayerNorm>(Shape{kWidth});
    head = std::make_shared<nn::Linear>(kWidth, kVocab);
    register_module("embed", embed);
    register_module("stem", stem);
    register_module("norm", norm);
    if (sparse) {
      // Capacity counts tokens: 1.25 k leaves each expert 1.25 times its even share of the T k
      // slots in training; E gives every expert room for all T tokens, so evaluation (and
      // sampling) drops nothing.
      moe = std::make_shared<models::MoE>(
          models::MoEOptions{.d_model = kWidth,
                             .hidden = kExpertHidden,
                             .num_experts = experts,
                             .k = top_k,
                             .capacity_factor_train = 1.25 * static_cast<double>(top_k),
                             .capacity_factor_eval = static_cast<double>(experts)});
      register_module("moe", moe);
    } else {
      // The same multiply-adds per token as words-moe's default top-2 experts.
      mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(kWidth, kDenseHidden),
                                             std::make_shared<nn::GELU>(),
                                             std::make_shared<nn::Linear>(kDenseHidden, kWidth));
      register_module("mlp", mlp);
    }
    register_module("head", head);
  }

  // context int64 [N, 8] -> logits [N, 28] as `output`, with the block's routing.
  models::MoEOutput operator()(const Tensor& context) {
    const Tensor h = gelu((*stem)((*embed)(context).reshape({-1, kContext * kEmbed})));
    const Tensor x = (*norm)(h);
    models::MoEOutput out;
    if (moe) {
      out = (*moe)(x);
    } else {
      out.output = (*mlp)(x);
    }
    out.output = (*head)(h + out.output);
    return out;
  }

  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::Linear> stem;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<models::MoE> moe;
  std::shared_ptr<nn::Sequential> mlp;
  std::shared_ptr<nn::Linear> head;
};

class WordsTask : public Task {
 public:
  WordsTask(bool sparse, const Settings& s)
      : model_(sparse, s.experts, s.top_k), top_k_(s.top_k), seed_(s.seed), device_(s.device) {
    model_.to(s.device);
  }
  nn::Module& module() override { return model_; }

  void load_data(const std::string& dir) override {
    lists_ = words::load_word_lists(dir);
    train_data_ = make_examples(lists_.train);
    test_data_ = make_examples(lists_.test);
  }
  std::shared_ptr<const data::Dataset> train_data() const override { return train_data_; }
  std::shared_ptr<const data::Dataset> test_data() const override { return test_data_; }

  StepOutput forward(const data::Example& batch) override {
    const models::MoEOutput out = model_(batch.input);
    StepOutput step;
    const Tensor task = cross_entropy(out.output, batch.target);
    step.loss = model_.moe ? task + out.aux_loss : task;
    step.items = batch.target.size(0);
    NoGradGuard no_grad;
    step.task_loss = task.item<double>();
    step.metric_sum = step.task_loss * static_cast<double>(step.items);
    if (model_.moe) {
      step.tokens_per_expert = out.tokens_per_expert;
      step.dropped = out.dropped;
    }
    return step;
  }

  int64_t active_parameters() override {
    if (!model_.moe) return model_.num_parameters();
    return active_with_experts(model_.num_parameters(), model_.moe->experts->num_parameters(),
                               model_.moe->options().num_experts, top_k_);
  }

  void report(std::ostream& out, const std::string& out_dir) override {
    words::report_samples(out, out_dir, sample_words(), lists_, seed_);
  }

 private:
  // kSamples words drawn symbol by symbol from the model's softmax, all at once as one batch.
  // A fresh generator seeded with the task's seed makes them the same on every call.
  std::vector<std::string> sample_words() {
    const bool was_training = model_.is_training();
    model_.eval();
    NoGradGuard no_grad;
    Generator gen(seed_);
    std::vector<int64_t> context(kSamples * kContext, kBegin);
    std::vector<std::string> samples(kSamples);
    std::vector<bool> done(kSamples, false);
    for (int64_t step = 0; step < kMaxSampleLength; ++step) {
      const Tensor input = tensor(context, Shape{kSamples, kContext}).to(device_);
      const std::vector<float> probs =
          softmax(model_(input).output.to(kFloat32), 1).to(Device::cpu()).to_vector<float>();
      const std::vector<double> uniform =
          rand({kSamples}, TensorOptions(kFloat64), &gen).to_vector<double>();
      for (int64_t i = 0; i < kSamples; ++i) {
        if (done[i]) continue;
        const int64_t pick = words::draw_symbol(probs.data() + i * kVocab, step == 0, uniform[i]);
        if (pick == kEnd) {
          done[i] = true;
          continue;
        }
        samples[i] += words::letter(pick);
        int64_t* row = context.data() + i * kContext;
        std::copy(row + 1, row + kContext, row);
        row[kContext - 1] = pick;
      }
      if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    }
    model_.train(was_training);
    return samples;
  }

  WordModel model_;
  int64_t top_k_;
  uint64_t seed_;
  Device device_;
  std::shared_ptr<data::TensorDataset> train_data_, test_data_;
  words::WordLists lists_;
};

ModelEntry words_entry(std::string name, std::string description, bool sparse) {
  return {.name = std::move(name),
          .description = std::move(description),
          .data = words::kDataDescription,
          .default_data_dir = words::kDefaultDir,
          .metric = {"nats_per_char", false},
          .items = "tokens",
          .defaults = {.epochs = 8,
                       .batch = 256,
                       .lr = 2e-3,
                       .experts = sparse ? 8 : 0,
                       .top_k = sparse ? 2 : 0,
                       .seed = 0,
                       .data_dir = {}},
          .routed = sparse,
          .make = [sparse](const Settings& s) -> std::unique_ptr<Task> {
            return std::make_unique<WordsTask>(sparse, s);
          }};
}

}  // namespace

std::vector<ModelEntry> words_models() {
  return {words_entry("words-moe",
                      "character model over an 8-letter context: 8x16 embeddings -> 128 stem, "
                      "residual top-k sparse MoE block (GELU experts of width 128), head over "
                      "26 letters + end",
                      true),
          words_entry("words-mlp",
                      "the dense twin of words-moe: one MLP of width 256 (the multiply-adds of "
                      "top-2 experts of width 128)",
                      false)};
}

}  // namespace mixgrad::zoo
