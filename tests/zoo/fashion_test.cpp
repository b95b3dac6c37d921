// The Fashion-MNIST models through the zoo API, on small generated data: they learn, they train
// reproducibly, evaluation drops no token, and the active-parameter count is what the named
// parameters say.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/generator.h"
#include "core/grad_mode.h"
#include "data/dataloader.h"
#include "optim/adam.h"
#include "zoo/zoo.h"
#include "zoo/zoo_test_util.h"

namespace mg = mixgrad;
using mg::testing::TempDir;

namespace {

constexpr int64_t kBatch = 32;

// Generated Fashion-MNIST (plain, uncompressed IDX files) shared by the tests.
const std::string& data_dir() {
  static TempDir dir;
  static const std::string path = [] {
    mg::testing::write_fashion_mnist(dir.dir(), {.gzip = false});
    return dir.dir().string();
  }();
  return path;
}

std::unique_ptr<mg::zoo::Task> make_task(const std::string& model, mg::zoo::Settings user = {}) {
  const mg::zoo::ModelEntry& entry = mg::zoo::find_model(model);
  const mg::zoo::Settings settings = mg::zoo::resolve(entry, user);
  mg::manual_seed(settings.seed);
  return entry.make(settings);
}

// The task loss of each of `steps` Adam steps on shuffled batches, as `mixgrad train` runs them.
std::vector<double> train_losses(const std::string& model, int64_t steps, uint64_t seed) {
  auto task = make_task(model, {.batch = kBatch, .seed = seed});
  task->load_data(data_dir());
  mg::data::DataLoader loader(task->train_data(),
                              {.batch_size = kBatch, .shuffle = true, .seed = seed});
  mg::optim::Adam optimizer(task->module().parameters(), {.lr = 1e-3});
  task->module().train();
  std::vector<double> losses;
  while (static_cast<int64_t>(losses.size()) < steps) {
    for (const mg::data::Example& batch : loader) {
      optimizer.zero_grad();
      const mg::zoo::StepOutput out = task->forward(batch);
      EXPECT_EQ(out.items, batch.target.size(0));
      losses.push_back(out.task_loss);
      out.loss.backward();
      optimizer.step();
      if (static_cast<int64_t>(losses.size()) == steps) break;
    }
  }
  return losses;
}

double mean(std::vector<double>::const_iterator begin, std::vector<double>::const_iterator end) {
  return std::accumulate(begin, end, 0.0) / static_cast<double>(end - begin);
}

}  // namespace

class FashionModels : public ::testing::TestWithParam<std::string> {};

TEST_P(FashionModels, LossFallsWithinTwentySteps) {
  const std::vector<double> losses = train_losses(GetParam(), 20, 1);
  ASSERT_EQ(losses.size(), 20u);
  for (double l : losses) ASSERT_TRUE(std::isfinite(l));
  const double first = mean(losses.begin(), losses.begin() + 4);
  const double last = mean(losses.end() - 4, losses.end());
  // An untrained model starts near ln 10 = 2.3 on ten classes; the generated classes are easy
  // enough to more than halve the loss within 20 steps, far beyond batch-to-batch noise.
  EXPECT_GT(losses.front(), 2.0);
  EXPECT_LT(last, 0.5 * first) << "first steps " << first << ", last steps " << last;
}

INSTANTIATE_TEST_SUITE_P(Fashion, FashionModels,
                         ::testing::Values("fashion-moe", "fashion-mlp", "fashion-hmoe"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(FashionTraining, IsDeterministicForASeed) {
  const std::vector<double> a = train_losses("fashion-moe", 6, 7);
  const std::vector<double> b = train_losses("fashion-moe", 6, 7);
  EXPECT_EQ(a, b);
  // The seed matters: another one initialises and shuffles differently.
  EXPECT_NE(a, train_losses("fashion-moe", 6, 8));
}

// All-identical images route every token of a batch to the same experts: more than a training
// capacity can hold. Evaluation must compute every one of them.
TEST(FashionEval, MoEModelsDropNothingWhereTrainingWould) {
  TempDir dir;
  mg::testing::write_fashion_mnist(dir.dir(),
                                   {.train = 64, .test = 64, .gzip = false, .identical = true});
  for (const char* model : {"fashion-moe", "fashion-hmoe"}) {
    SCOPED_TRACE(model);
    auto task = make_task(model);
    task->load_data(dir.dir().string());
    mg::data::DataLoader loader(task->test_data(), {.batch_size = 64});
    const mg::data::Example batch = *loader.begin();
    mg::NoGradGuard no_grad;

    task->module().train();
    const mg::zoo::StepOutput train = task->forward(batch);
    ASSERT_GT(train.dropped, 0) << "the batch does not overflow the training capacity";

    task->module().eval();
    const mg::zoo::StepOutput eval = task->forward(batch);
    EXPECT_EQ(eval.dropped, 0);
    // Every token's 2 expert slots were computed.
    ASSERT_TRUE(eval.tokens_per_expert.defined());
    EXPECT_EQ(eval.tokens_per_expert.sum().item<int64_t>(), 64 * 2);
    EXPECT_EQ(train.tokens_per_expert.sum().item<int64_t>() + train.dropped, 64 * 2);
  }
}

// One expert's parameters, from the stacked expert tensors [E, ...] named `prefix`*.
int64_t one_expert_parameters(const mg::nn::Module& module, const std::string& prefix,
                              int64_t experts) {
  int64_t per_expert = 0;
  for (const auto& [name, p] : module.named_parameters()) {
    if (!name.starts_with(prefix)) continue;
    EXPECT_EQ(p.size(0), experts) << name;
    per_expert += p.numel() / p.size(0);
  }
  EXPECT_GT(per_expert, 0) << "no parameter named " << prefix << "*";
  return per_expert;
}

TEST(FashionParameters, ActiveAreTotalLessTheUnusedExperts) {
  const struct {
    std::string model;
    mg::zoo::Settings settings;
    std::string experts_prefix;
    int64_t experts, unused;
  } cases[] = {
      {"fashion-moe", {}, "moe.experts.", 8, 6},
      {"fashion-moe", {.experts = 4, .top_k = 1}, "moe.experts.", 4, 3},
      {"fashion-hmoe", {}, "hmoe.experts.", 8, 6},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.model + " with " + std::to_string(c.experts) + " experts");
    auto task = make_task(c.model, c.settings);
    const int64_t total = task->module().num_parameters();
    const int64_t per_expert = one_expert_parameters(task->module(), c.experts_prefix, c.experts);
    EXPECT_EQ(task->active_parameters(), total - c.unused * per_expert);
  }
  auto mlp = make_task("fashion-mlp");
  EXPECT_EQ(mlp->active_parameters(), mlp->module().num_parameters());
}
