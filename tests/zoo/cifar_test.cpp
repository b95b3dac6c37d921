// The CIFAR-10 zoo models (cifar10-moe, cifar10-resnet-moe) on small generated files in the
// CIFAR-10 binary format: they learn, are deterministic, survive a checkpoint round trip through
// the real `mixgrad` binary, and explain missing or malformed data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/parallel.h"
#include "common/test_util.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/grad_mode.h"
#include "data/dataloader.h"
#include "optim/adam.h"
#include "zoo/zoo.h"
#include "zoo/zoo_test_util.h"

namespace mg = mixgrad;
namespace fs = std::filesystem;
using mg::testing::ScratchDir;

namespace {

constexpr int kRecordPixels = 3 * 32 * 32;
const char* const kModels[] = {"cifar10-moe", "cifar10-resnet-moe"};

// `images` records in the CIFAR-10 binary format, label (first + i) % 10. Pixels are noise in
// [0, 128); class c raises colour plane c % 3 by 127 in the pattern c / 3: horizontal stripes,
// vertical stripes, a 4x4 checkerboard or the whole plane. The patterns differ in what they
// are, not only where, so the ResNet (which pools globally) can tell them apart too.
std::string cifar_records(int images, uint32_t seed, int first = 0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 127);
  std::string bytes;
  bytes.reserve(static_cast<std::size_t>(images) * (kRecordPixels + 1));
  for (int i = 0; i < images; ++i) {
    const int label = (first + i) % 10;
    bytes.push_back(static_cast<char>(label));
    for (int p = 0; p < kRecordPixels; ++p) {
      const int plane = p / 1024, row = p % 1024 / 32, col = p % 32;
      bool on = false;
      switch (label / 3) {
        case 0:
          on = row % 4 < 2;
          break;
        case 1:
          on = col % 4 < 2;
          break;
        case 2:
          on = (row / 4 + col / 4) % 2 == 0;
          break;
        default:
          on = true;
      }
      const bool raised = plane == label % 3 && on;
      bytes.push_back(static_cast<char>(noise(rng) + (raised ? 127 : 0)));
    }
  }
  return bytes;
}

// data_batch_1.bin with `train` images (and data_batch_3.bin with `extra` more when > 0) and
// test_batch.bin with `test` images.
void write_cifar_dir(const ScratchDir& dir, int train, int test, int extra = 0) {
  dir.write_text("data_batch_1.bin", cifar_records(train, 1));
  if (extra > 0) dir.write_text("data_batch_3.bin", cifar_records(extra, 3, 5));
  dir.write_text("test_batch.bin", cifar_records(test, 2, 7));
}

// One CPU thread while a test trains: these tests run on shared two-core machines that are
// often oversubscribed (ctest -j2 beside other suites), where a second thread has no core to
// run on. Restores the previous count.
struct OneThread : mg::testing::ScopedNumThreads {
  OneThread() : ScopedNumThreads(1) {}
};

struct Pass {
  double loss = 0.0, accuracy = 0.0;
  int64_t dropped = 0;
};

Pass evaluate(mg::zoo::Task& task) {
  task.module().eval();
  mg::NoGradGuard no_grad;
  mg::data::DataLoader loader(task.test_data(), {.batch_size = 50});
  Pass pass;
  int64_t items = 0;
  for (const mg::data::Example& batch : loader) {
    const mg::zoo::StepOutput out = task.forward(batch);
    pass.loss += out.task_loss * static_cast<double>(out.items);
    pass.accuracy += out.metric_sum;
    pass.dropped += out.dropped;
    items += out.items;
  }
  pass.loss /= static_cast<double>(items);
  pass.accuracy /= static_cast<double>(items);
  return pass;
}

// Builds `model` from `user` (batch 20 unless set) seeded as `mixgrad train` seeds it, trains
// it `epochs` epochs with Adam at a constant rate and returns each step's loss; the trained task
// is left in `task`.
std::vector<double> train(const std::string& model, const std::string& dir, int64_t epochs,
                          std::unique_ptr<mg::zoo::Task>& task, mg::zoo::Settings user = {}) {
  const mg::zoo::ModelEntry& entry = mg::zoo::find_model(model);
  user.batch = user.batch > 0 ? user.batch : 20;
  const mg::zoo::Settings settings = mg::zoo::resolve(entry, user);
  mg::manual_seed(settings.seed);
  task = entry.make(settings);
  task->load_data(dir);
  mg::data::DataLoader loader(
      task->train_data(), {.batch_size = settings.batch, .shuffle = true, .seed = settings.seed});
  mg::optim::Adam optimizer(task->module().parameters(), {.lr = settings.lr});
  std::vector<double> losses;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    loader.set_epoch(epoch);
    task->module().train();
    for (const mg::data::Example& batch : loader) {
      optimizer.zero_grad();
      const mg::zoo::StepOutput out = task->forward(batch);
      out.loss.backward();
      optimizer.step();
      losses.push_back(out.task_loss);
    }
  }
  return losses;
}

// The number after the last `"key":` in `json_lines` (the last epoch's, for train).
double json_number(const std::string& json_lines, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const std::size_t at = json_lines.rfind(needle);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no " << key << " in:\n" << json_lines;
    return std::nan("");
  }
  return std::strtod(json_lines.c_str() + at + needle.size(), nullptr);
}

void expect_no_data_error(const std::string& message) {
  for (const char* part : {"not shipped", "https://www.cs.toronto.edu/~kriz/cifar.html",
                           "cifar-10-binary.tar.gz", "data_batch_1.bin", "test_batch.bin"}) {
    EXPECT_NE(message.find(part), std::string::npos) << "no '" << part << "' in: " << message;
  }
}

}  // namespace

TEST(CifarZoo, EveryModelLearnsTheGeneratedClasses) {
  // The LeNet's top-1 routing moves images between experts while it learns, so it needs more
  // (cheap) steps than the ResNet.
  const struct {
    const char* model;
    int train_images;
    int64_t epochs;
  } cases[] = {{"cifar10-moe", 400, 8}, {"cifar10-resnet-moe", 160, 2}};
  OneThread one_thread;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.model);
    ScratchDir dir;
    write_cifar_dir(dir, c.train_images, 100);
    const mg::zoo::ModelEntry& entry = mg::zoo::find_model(c.model);
    mg::manual_seed(0);
    auto untrained = entry.make(mg::zoo::resolve(entry, {}));
    untrained->load_data(dir.dir().string());
    const Pass before = evaluate(*untrained);
    std::unique_ptr<mg::zoo::Task> task;
    const std::vector<double> losses = train(c.model, dir.dir().string(), c.epochs, task);
    const std::size_t per_epoch = static_cast<std::size_t>(c.train_images / 20);
    ASSERT_EQ(losses.size(), per_epoch * static_cast<std::size_t>(c.epochs));
    for (double loss : losses) ASSERT_TRUE(std::isfinite(loss));
    const Pass after = evaluate(*task);
    EXPECT_LT(after.loss, 0.7 * std::min(before.loss, std::log(10.0)));
    EXPECT_GT(after.accuracy, 0.3);  // chance is 0.1
    EXPECT_EQ(after.dropped, 0);
    const double first = std::accumulate(losses.begin(), losses.begin() + per_epoch, 0.0);
    const double last = std::accumulate(losses.end() - per_epoch, losses.end(), 0.0);
    EXPECT_LT(last, 0.8 * first);
  }
}

TEST(CifarZoo, TrainingIsDeterministicForASeed) {
  ScratchDir dir;
  write_cifar_dir(dir, 40, 20);
  OneThread one_thread;
  for (const char* model : kModels) {
    SCOPED_TRACE(model);
    std::unique_ptr<mg::zoo::Task> a, b, c;
    const auto first = train(model, dir.dir().string(), 1, a, {.seed = 5});
    const auto second = train(model, dir.dir().string(), 1, b, {.seed = 5});
    const auto other = train(model, dir.dir().string(), 1, c, {.seed = 6});
    EXPECT_EQ(first, second);
    EXPECT_NE(first, other);
  }
}

TEST(CifarZoo, ParameterCountsAndExpertSettings) {
  for (const char* model : kModels) {
    SCOPED_TRACE(model);
    const mg::zoo::ModelEntry& entry = mg::zoo::find_model(model);
    EXPECT_TRUE(entry.routed);
    for (const mg::zoo::Settings& user : {mg::zoo::Settings{}, mg::zoo::Settings{.experts = 6},
                                          mg::zoo::Settings{.experts = 3, .top_k = 3}}) {
      const mg::zoo::Settings s = mg::zoo::resolve(entry, user);
      auto task = entry.make(s);
      // Active: everything but the E - k experts an image does not use.
      int64_t one_expert = 0, experts = 0;
      for (const auto& [name, p] : task->module().named_parameters()) {
        if (name.starts_with("moe.experts.")) experts += p.numel();
        if (name.starts_with("moe.experts.0.")) one_expert += p.numel();
      }
      EXPECT_EQ(experts, s.experts * one_expert);
      const int64_t total = task->module().num_parameters();
      EXPECT_EQ(task->active_parameters(), total - (s.experts - s.top_k) * one_expert);
      EXPECT_EQ(task->active_parameters() < total, s.top_k < s.experts);
    }
  }
  // The CNN's defaults are the existing model: 8 Linear(84, 84) experts, top-1.
  const mg::zoo::ModelEntry& cnn = mg::zoo::find_model("cifar10-moe");
  EXPECT_EQ(cnn.defaults.experts, 8);
  EXPECT_EQ(cnn.defaults.top_k, 1);
  EXPECT_EQ(cnn.make(mg::zoo::resolve(cnn, {}))->module().num_parameters(),
            456 + 2416 + 48120 + 10164 + 672 + 57120 + 850);
}

TEST(CifarZoo, ReadsTheDataBatchesThatExist) {
  ScratchDir dir;
  write_cifar_dir(dir, 30, 20, 12);  // data_batch_1.bin and data_batch_3.bin
  auto task = mg::zoo::find_model("cifar10-moe")
                  .make(mg::zoo::resolve(mg::zoo::find_model("cifar10-moe"), {}));
  task->load_data(dir.dir().string());
  EXPECT_EQ(task->train_data()->size(), 42);
  EXPECT_EQ(task->test_data()->size(), 20);
  const mg::data::Example first = task->train_data()->get(0);
  EXPECT_EQ(first.input.shape(), (mg::Shape{3, 32, 32}));
  // Standardised per channel: image 0 (class 0) leaves its green plane at noise of mean
  // 63.5 / 255, which lies (63.5 / 255 - 0.4822) / 0.2435 from the CIFAR-10 green mean.
  EXPECT_NEAR(first.input.narrow(0, 1, 1).mean().item<float>(), (63.5 / 255.0 - 0.4822) / 0.2435,
              0.1);
  EXPECT_EQ(task->train_data()->get(31).target.item<int64_t>(), 6);  // data_batch_3's 2nd: 5+1
}

TEST(CifarZoo, MissingDataSaysItIsNotShippedAndHowToGetIt) {
  ScratchDir dir;
  auto task = mg::zoo::find_model("cifar10-resnet-moe")
                  .make(mg::zoo::resolve(mg::zoo::find_model("cifar10-resnet-moe"), {}));
  try {
    task->load_data(dir.path("absent"));
    FAIL() << "no error";
  } catch (const mg::Error& e) {
    expect_no_data_error(e.what());
  }
  // A directory with a test batch but no training batch, and the other way round.
  dir.write_text("test_batch.bin", cifar_records(10, 2));
  try {
    task->load_data(dir.dir().string());
    FAIL() << "no error";
  } catch (const mg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no data_batch_1.bin"), std::string::npos) << e.what();
  }
  fs::remove(dir.path("test_batch.bin"));
  dir.write_text("data_batch_2.bin", cifar_records(10, 2));
  try {
    task->load_data(dir.dir().string());
    FAIL() << "no error";
  } catch (const mg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing " + dir.path("test_batch.bin")),
              std::string::npos)
        << e.what();
  }
  // Without --data the default directory is relative to the working directory.
  ScratchDir cwd;
  const mg::testing::CommandResult c = mg::testing::run_program(
      "/bin/sh", {"-c", "cd \"$1\" && exec \"$2\" train cifar10-moe --epochs 1 --out out", "sh",
                  cwd.dir().string(), MIXGRAD_COMMAND});
  EXPECT_EQ(c.exit_code, 1) << c;
  expect_no_data_error(c.err);
  EXPECT_NE(c.err.find("no directory ./cifar-10-batches-bin"), std::string::npos) << c;
}

TEST(CifarZoo, MalformedFileGivesTheReadersError) {
  ScratchDir dir;
  write_cifar_dir(dir, 10, 10);
  std::string bytes = cifar_records(10, 2);
  bytes.resize(bytes.size() - 100);
  dir.write_text("test_batch.bin", bytes);
  auto task = mg::zoo::find_model("cifar10-moe")
                  .make(mg::zoo::resolve(mg::zoo::find_model("cifar10-moe"), {}));
  try {
    task->load_data(dir.dir().string());
    FAIL() << "no error";
  } catch (const mg::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(dir.path("test_batch.bin")), std::string::npos) << message;
    EXPECT_NE(message.find("truncated record 9"), std::string::npos) << message;
  }
}

TEST(CifarZoo, CheckpointEvaluatesToTheTrainedTestMetric) {
  ScratchDir dir;
  write_cifar_dir(dir, 50, 40);
  for (const char* model : kModels) {
    SCOPED_TRACE(model);
    const std::string out = dir.path(std::string("run-") + model);
    const mg::testing::CommandResult trained =
        mg::testing::run_mixgrad({"train", model, "--data", dir.dir().string(), "--epochs", "1",
                                  "--batch", "25", "--threads", "1", "--out", out, "--json"});
    ASSERT_EQ(trained.exit_code, 0) << trained;
    const mg::testing::CommandResult evaluated =
        mg::testing::run_mixgrad({"eval", model, "--checkpoint", out + "/checkpoint.safetensors",
                                  "--data", dir.dir().string(), "--threads", "1", "--json"});
    ASSERT_EQ(evaluated.exit_code, 0) << evaluated;
    EXPECT_EQ(json_number(evaluated.out, "test_accuracy"),
              json_number(trained.out, "test_accuracy"));
    EXPECT_EQ(json_number(evaluated.out, "test_loss"), json_number(trained.out, "test_loss"));
    EXPECT_EQ(json_number(trained.out, "dropped_test"), 0.0);
    EXPECT_EQ(json_number(evaluated.out, "dropped"), 0.0);
    EXPECT_EQ(json_number(evaluated.out, "items"), 40.0);
  }
}

#ifdef MIXGRAD_TEST_MPI
TEST(CifarZoo, ExpertParallelCheckpointOfExpertListExpertsGoesOnInOneProcess) {
  // cifar10-moe's experts are an ExpertList: --ep 2 writes their Adam state in parts under one
  // process's parameter order, which eval and --resume in one process read.
  mg::testing::DistCommandEnvironment environment;
  ScratchDir dir;
  write_cifar_dir(dir, 50, 40);
  const std::string out = dir.path("run");
  const std::vector<std::string> common{"--data", dir.dir().string(), "--batch", "26", "--out", out,
                                        "--json"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  const mg::testing::CommandResult trained =
      mg::testing::run_mixgrad(with({"train", "cifar10-moe", "--epochs", "1", "--ep", "2"}));
  ASSERT_EQ(trained.exit_code, 0) << trained;
  const mg::testing::CommandResult evaluated =
      mg::testing::run_mixgrad({"eval", "cifar10-moe", "--checkpoint", out + "/checkpoint",
                                "--data", dir.dir().string(), "--threads", "1", "--json"});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated;
  // Float32 sums over two processes' halves of the test set, against one process's sum.
  EXPECT_NEAR(json_number(evaluated.out, "test_loss"), json_number(trained.out, "test_loss"), 1e-5);
  const mg::testing::CommandResult resumed =
      mg::testing::run_mixgrad(with({"train", "cifar10-moe", "--epochs", "2", "--threads", "1",
                                     "--resume", out + "/checkpoint"}));
  EXPECT_EQ(resumed.exit_code, 0) << resumed;
  EXPECT_EQ(json_number(resumed.out, "epoch"), 2.0);
}
#endif
