// words-moe / words-mlp: the word-list pipeline (filtering, examples, the held-out split), a few
// training steps, and the sampled words, on small word lists written by the tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/scratch_dir.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/grad_mode.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "zoo/zoo.h"

namespace mg = mixgrad;
using mg::testing::ScratchDir;

namespace {

constexpr int64_t kBegin = 0, kEnd = 27, kContext = 8;

// Pronounceable pseudo-words: every pair and some triples of 15 syllables (540 words), so that a
// small model finds structure to learn in a few steps.
std::vector<std::string> syllable_words() {
  const std::vector<std::string> syl = {"ba", "ce", "di", "fo", "gu", "ka", "le", "mi",
                                        "no", "pu", "ra", "se", "ti", "vo", "zu"};
  std::vector<std::string> words;
  for (const auto& a : syl) {
    for (const auto& b : syl) words.push_back(a + b);
  }
  for (size_t i = 0; i < syl.size(); ++i) {
    for (size_t j = 0; j < syl.size(); ++j) {
      for (size_t k = 0; k < syl.size(); k += 7)
        words.push_back(syl[i] + syl[j] + syl[(k + i) % 15]);
    }
  }
  return words;
}

void write_words(const ScratchDir& dir, const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  dir.write_text("words", text);
}

std::unique_ptr<mg::zoo::Task> make_task(const std::string& name, uint64_t seed) {
  const mg::zoo::ModelEntry& entry = mg::zoo::find_model(name);
  mg::manual_seed(seed);
  return entry.make(mg::zoo::resolve(entry, {.seed = seed}));
}

struct Decoded {
  std::vector<std::string> words;
  std::vector<int64_t> first_row;  // of each word
};

// The words a dataset's examples spell, read back the way the model sees them: a word starts
// at an all-padding context and ends at the end symbol. Every context must be the previous 8
// symbols of the word so far, padded with the begin symbol.
Decoded decode(const mg::data::Dataset& data) {
  Decoded out;
  const auto all = data.get_batch([&] {
    std::vector<int64_t> rows(static_cast<size_t>(data.size()));
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
    return rows;
  }());
  EXPECT_EQ(all.input.dtype(), mg::kInt64);
  EXPECT_EQ(all.target.dtype(), mg::kInt64);
  EXPECT_EQ(all.input.size(1), kContext);
  const std::vector<int64_t> inputs = all.input.contiguous().to_vector<int64_t>();
  const std::vector<int64_t> targets = all.target.to_vector<int64_t>();
  std::vector<int64_t> padded;
  std::string word;
  for (int64_t row = 0; row < data.size(); ++row) {
    if (word.empty() && padded.empty()) {
      padded.assign(kContext, kBegin);
      out.first_row.push_back(row);
    }
    const std::vector<int64_t> expected(padded.end() - kContext, padded.end());
    const std::vector<int64_t> context(inputs.begin() + row * kContext,
                                       inputs.begin() + (row + 1) * kContext);
    EXPECT_EQ(context, expected) << "row " << row << " of word '" << word << "'";
    const int64_t t = targets[static_cast<size_t>(row)];
    if (t == kEnd) {
      out.words.push_back(word);
      word.clear();
      padded.clear();
      continue;
    }
    EXPECT_TRUE(t >= 1 && t <= 26) << "row " << row << " target " << t;
    word += static_cast<char>('a' + t - 1);
    padded.push_back(t);
  }
  EXPECT_TRUE(word.empty()) << "the examples end inside a word";
  return out;
}

std::vector<int64_t> row_input(const mg::data::Dataset& data, int64_t row) {
  return data.get(row).input.contiguous().to_vector<int64_t>();
}
int64_t row_target(const mg::data::Dataset& data, int64_t row) {
  return data.get(row).target.item<int64_t>();
}
// The report's sampled words, the first field of each listed line.
std::vector<std::string> listed_samples(const std::string& report) {
  std::vector<std::string> words;
  std::istringstream lines(report);
  bool listing = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("sampled words") != std::string::npos) {
      listing = true;
      continue;
    }
    if (listing && line.rfind("    ", 0) == 0) {
      std::istringstream fields(line);
      std::string w;
      fields >> w;
      words.push_back(w);
    } else if (listing) {
      listing = false;
    }
  }
  return words;
}

int64_t sym(char c) {
  return c - 'a' + 1;
}

}  // namespace

TEST(WordsData, KeepsLowercaseWordsAndBuildsOneExamplePerSymbol) {
  ScratchDir dir;
  std::vector<std::string> lines = syllable_words();
  // Proper nouns, possessives, accents and blank lines go; a CRLF line and a repeat count once.
  lines.insert(lines.begin(), {"Cat", "cat's", "caf\xc3\xa9", "", "cat\r", "encyclopedia", "cat"});
  write_words(dir, lines);
  auto task = make_task("words-moe", 1);
  task->load_data(dir.dir().string());

  std::set<std::string> expected(lines.begin() + 7, lines.end());
  expected.insert({"cat", "encyclopedia"});
  const Decoded train = decode(*task->train_data());
  const Decoded test = decode(*task->test_data());
  std::set<std::string> seen;
  int64_t symbols = 0;
  for (const Decoded* split : {&train, &test}) {
    for (const std::string& w : split->words) {
      EXPECT_TRUE(seen.insert(w).second) << w << " appears twice";
      symbols += static_cast<int64_t>(w.size()) + 1;
    }
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(task->train_data()->size() + task->test_data()->size(), symbols);

  // The rows of two known words, spelled out by hand.
  for (const char* w : {"cat", "encyclopedia"}) {
    const Decoded& split = std::count(train.words.begin(), train.words.end(), w) ? train : test;
    const auto& data = &split == &train ? *task->train_data() : *task->test_data();
    const auto at = std::find(split.words.begin(), split.words.end(), w) - split.words.begin();
    const int64_t r = split.first_row[static_cast<size_t>(at)];
    if (std::string(w) == "cat") {
      EXPECT_EQ(row_input(data, r), std::vector<int64_t>(8, kBegin));
      EXPECT_EQ(row_target(data, r), sym('c'));
      EXPECT_EQ(row_input(data, r + 2),
                (std::vector<int64_t>{0, 0, 0, 0, 0, 0, sym('c'), sym('a')}));
      EXPECT_EQ(row_target(data, r + 2), sym('t'));
      EXPECT_EQ(row_input(data, r + 3),
                (std::vector<int64_t>{0, 0, 0, 0, 0, sym('c'), sym('a'), sym('t')}));
      EXPECT_EQ(row_target(data, r + 3), kEnd);
    } else {
      const auto letters = [](const std::string& s) {
        std::vector<int64_t> v;
        for (char c : s) v.push_back(sym(c));
        return v;
      };
      EXPECT_EQ(row_input(data, r + 3),
                (std::vector<int64_t>{0, 0, 0, 0, 0, sym('e'), sym('n'), sym('c')}));
      EXPECT_EQ(row_target(data, r + 3), sym('y'));
      EXPECT_EQ(row_input(data, r + 10), letters("cycloped"));
      EXPECT_EQ(row_target(data, r + 10), sym('i'));
      EXPECT_EQ(row_input(data, r + 12), letters("clopedia"));
      EXPECT_EQ(row_target(data, r + 12), kEnd);
    }
  }
}

TEST(WordsData, HeldOutSplitIsDisjointAndFixedByTheWordAlone) {
  ScratchDir a, b;
  const std::vector<std::string> words = syllable_words();
  write_words(a, words);
  // Another list: the second half of the words in reverse order, plus others.
  std::vector<std::string> other(words.rbegin(),
                                 words.rbegin() + static_cast<long>(words.size() / 2));
  for (const char* w : {"alpha", "beta", "gamma", "delta", "epsilon"}) other.emplace_back(w);
  write_words(b, other);

  auto first = make_task("words-moe", 1);
  auto again = make_task("words-mlp", 99);  // another seed and model: the same split
  auto changed = make_task("words-moe", 2);
  first->load_data(a.dir().string());
  again->load_data(a.dir().string());
  changed->load_data(b.dir().string());

  const Decoded train = decode(*first->train_data()), test = decode(*first->test_data());
  ASSERT_FALSE(test.words.empty());
  const double test_share =
      static_cast<double>(test.words.size()) / static_cast<double>(words.size());
  EXPECT_GT(test_share, 0.05);
  EXPECT_LT(test_share, 0.15);
  const std::set<std::string> train_set(train.words.begin(), train.words.end());
  const std::set<std::string> test_set(test.words.begin(), test.words.end());
  for (const std::string& w : test_set) EXPECT_FALSE(train_set.count(w)) << w << " in both";

  EXPECT_EQ(first->train_data()->get_batch({0, 1, 2, 3}).input.to_vector<int64_t>(),
            again->train_data()->get_batch({0, 1, 2, 3}).input.to_vector<int64_t>());
  EXPECT_EQ(decode(*again->train_data()).words, train.words);
  EXPECT_EQ(decode(*again->test_data()).words, test.words);

  // A word keeps its side whatever else the list holds.
  for (const std::string& w : decode(*changed->train_data()).words) {
    if (test_set.count(w)) ADD_FAILURE() << w << " moved from test to train";
  }
  for (const std::string& w : decode(*changed->test_data()).words) {
    if (train_set.count(w)) ADD_FAILURE() << w << " moved from train to test";
  }
}

TEST(WordsData, MissingOrEmptyListNamesTheFileAndThePackage) {
  ScratchDir dir;
  auto task = make_task("words-moe", 0);
  const auto error_of = [&] {
    try {
      task->load_data(dir.dir().string());
    } catch (const mg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string file = (dir.dir() / "words").string();
  std::string message = error_of();
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("wamerican"), std::string::npos) << message;

  write_words(dir, {"Paris", "don't", "na\xc3\xafve", ""});
  message = error_of();
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("wamerican"), std::string::npos) << message;

  // One word cannot fill both sides of the split.
  write_words(dir, {"solitary"});
  message = error_of();
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("held-out"), std::string::npos) << message;
}

TEST(WordsModel, MoETrainsOnASliceAndItsLossFalls) {
  ScratchDir dir;
  write_words(dir, syllable_words());
  auto task = make_task("words-moe", 3);
  task->load_data(dir.dir().string());
  const auto& data = *task->train_data();
  ASSERT_GE(data.size(), 1024);
  std::vector<int64_t> slice(512);
  for (size_t i = 0; i < slice.size(); ++i) slice[i] = static_cast<int64_t>(i) * 2;
  const mg::data::Example held = data.get_batch(slice);

  const auto eval_loss = [&] {
    task->module().eval();
    mg::NoGradGuard no_grad;
    const mg::zoo::StepOutput out = task->forward(held);
    EXPECT_EQ(out.items, 512);
    EXPECT_EQ(out.dropped, 0) << "evaluation must drop no token-slot";
    EXPECT_NEAR(out.metric_sum, out.task_loss * 512, 1e-6 * out.metric_sum);
    EXPECT_EQ(out.tokens_per_expert.sum().item<int64_t>(), 512 * 2);
    return out.task_loss;
  };
  const double before = eval_loss();

  task->module().train();
  mg::optim::Adam optimizer(task->module().parameters(), {.lr = 3e-3});
  for (int step = 0; step < 40; ++step) {
    std::vector<int64_t> rows(slice.begin() + (step % 4) * 128,
                              slice.begin() + (step % 4 + 1) * 128);
    optimizer.zero_grad();
    const mg::zoo::StepOutput out = task->forward(data.get_batch(rows));
    ASSERT_EQ(out.loss.dim(), 0);
    EXPECT_EQ(out.items, 128);
    // Every token-slot is either computed by its expert or dropped for capacity.
    EXPECT_EQ(out.tokens_per_expert.sum().item<int64_t>() + out.dropped, 128 * 2);
    // The optimised loss carries the balancing loss on top of the cross-entropy.
    EXPECT_GT(out.loss.item<double>(), out.task_loss);
    out.loss.backward();
    optimizer.step();
  }
  const double after = eval_loss();
  RecordProperty("loss_before", std::to_string(before));
  RecordProperty("loss_after", std::to_string(after));
  EXPECT_LT(after, before - 0.5) << "before " << before << ", after " << after;
}

TEST(WordsModel, DenseTwinHasTheActiveComputeAndNoExperts) {
  ScratchDir dir;
  write_words(dir, syllable_words());
  auto moe = make_task("words-moe", 0);
  auto mlp = make_task("words-mlp", 0);
  mlp->load_data(dir.dir().string());
  EXPECT_EQ(mlp->active_parameters(), mlp->module().num_parameters());
  EXPECT_LT(moe->active_parameters(), moe->module().num_parameters());
  // Both top-2 experts of width 128 and the dense MLP of width 256 use as many weights per token.
  EXPECT_NEAR(static_cast<double>(moe->active_parameters()),
              static_cast<double>(mlp->active_parameters()),
              0.03 * static_cast<double>(mlp->active_parameters()));
  const mg::zoo::StepOutput out = mlp->forward(mlp->train_data()->get_batch({0, 1, 2, 3}));
  EXPECT_FALSE(out.tokens_per_expert.defined());
  EXPECT_EQ(out.items, 4);
  EXPECT_TRUE(std::isfinite(out.task_loss));
}

TEST(WordsModel, SamplesAreLowercaseWordsAndFixedByTheSeed) {
  ScratchDir dir, out_a, out_b;
  write_words(dir, syllable_words());
  const auto sampled = [&](uint64_t weights_seed, uint64_t seed, const ScratchDir* out_dir,
                           std::string* text) {
    const mg::zoo::ModelEntry& entry = mg::zoo::find_model("words-moe");
    mg::manual_seed(weights_seed);
    auto task = entry.make(mg::zoo::resolve(entry, {.seed = seed}));
    task->load_data(dir.dir().string());
    std::ostringstream report;
    task->report(report, out_dir ? out_dir->dir().string() : "");
    EXPECT_TRUE(task->module().is_training()) << "report() must restore the training mode";
    if (text) *text = report.str();
    return listed_samples(report.str());
  };

  std::string text;
  const std::vector<std::string> a = sampled(5, 5, &out_a, &text);
  ASSERT_EQ(a.size(), 20u) << text;
  for (const std::string& w : a) {
    EXPECT_FALSE(w.empty());
    EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; })) << w;
  }
  EXPECT_NE(text.find("of 20 are not in the training list"), std::string::npos) << text;

  std::ifstream file(out_a.dir() / "samples.txt");
  std::vector<std::string> saved;
  for (std::string line; std::getline(file, line);) saved.push_back(line);
  EXPECT_EQ(saved, a);

  EXPECT_EQ(sampled(5, 5, nullptr, nullptr), a);  // the same model and seed: the same words
  EXPECT_NE(sampled(5, 6, &out_b, nullptr), a);   // the same model, another sampling seed
  EXPECT_TRUE(out_b.listing() == std::vector<std::string>{"samples.txt"});
}

TEST(WordsTransformer, SequencesSpellEachWordFromTheBeginSymbol) {
  ScratchDir dir;
  write_words(dir, {"cat", "encyclopedia", "dog", "emu", "gnu", "ox",  "yak", "bee", "ant", "owl",
                    "bat", "cod",          "eel", "elk", "hen", "jay", "koi", "pig", "ram", "rat"});
  auto task = make_task("words-transformer", 0);
  task->load_data(dir.dir().string());
  const auto& data = *task->train_data();
  const mg::data::Example first = data.get(0);
  const int64_t length = first.input.size(0);
  // Every row: begin, letters, padding; targets: letters, end, then ignored (-100).
  for (int64_t r = 0; r < data.size(); ++r) {
    const std::vector<int64_t> in = data.get(r).input.to_vector<int64_t>();
    const std::vector<int64_t> target = data.get(r).target.to_vector<int64_t>();
    ASSERT_EQ(static_cast<int64_t>(in.size()), length);
    EXPECT_EQ(in[0], kBegin);
    int64_t n = 0;
    while (target[static_cast<size_t>(n)] != kEnd) {
      EXPECT_EQ(in[static_cast<size_t>(n + 1)], target[static_cast<size_t>(n)]);
      ++n;
    }
    for (int64_t t = n + 1; t < length; ++t) EXPECT_EQ(target[static_cast<size_t>(t)], -100);
  }
  // "encyclopedia" (12 letters) sets the length if it is in this split.
  EXPECT_LE(length, 13);
}

TEST(WordsTransformer, TrainsOnASliceAndSamplesWithTheCache) {
  ScratchDir dir;
  write_words(dir, syllable_words());
  auto task = make_task("words-transformer", 3);
  task->load_data(dir.dir().string());
  const auto& data = *task->train_data();
  std::vector<int64_t> slice(256);
  for (size_t i = 0; i < slice.size(); ++i) slice[i] = static_cast<int64_t>(i);
  const mg::data::Example held = data.get_batch(slice);
  const auto eval_loss = [&] {
    task->module().eval();
    mg::NoGradGuard no_grad;
    const mg::zoo::StepOutput out = task->forward(held);
    EXPECT_EQ(out.dropped, 0) << "evaluation must drop no token-slot";
    // One prediction per letter plus the end: the items are the batch's real tokens.
    EXPECT_EQ(out.items,
              mg::ne(held.target, mg::scalar_tensor(-100, mg::kInt64)).sum().item<int64_t>());
    return out.task_loss;
  };
  const double before = eval_loss();
  task->module().train();
  mg::optim::Adam optimizer(task->module().parameters(), {.lr = 3e-3});
  for (int step = 0; step < 30; ++step) {
    std::vector<int64_t> rows(slice.begin() + (step % 4) * 64, slice.begin() + (step % 4 + 1) * 64);
    optimizer.zero_grad();
    const mg::zoo::StepOutput out = task->forward(data.get_batch(rows));
    EXPECT_GT(out.loss.item<double>(), out.task_loss);  // the balancing loss rides along
    out.loss.backward();
    optimizer.step();
  }
  const double after = eval_loss();
  EXPECT_LT(after, before - 0.5) << "before " << before << ", after " << after;

  task->module().train();
  std::ostringstream report, again;
  task->report(report, "");
  task->report(again, "");
  EXPECT_EQ(report.str(), again.str());  // fixed by the seed
  const std::vector<std::string> words = listed_samples(report.str());
  ASSERT_EQ(words.size(), 20u) << report.str();
  for (const std::string& w : words) {
    EXPECT_FALSE(w.empty());
    for (char c : w) EXPECT_TRUE(c >= 'a' && c <= 'z') << w;
  }
  EXPECT_TRUE(task->module().is_training());
}
