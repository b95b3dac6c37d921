#include "train/trainer.h"

#include <cmath>
#include <forward_list>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/test_util.h"
#include "train_test_util.h"

namespace train = mixgrad::train;
using train::FitOptions;
using train::Metrics;
using train::StepResult;
using train::testing::FakeClock;
using train::testing::read_file;
using train::testing::TempDir;

namespace {

// Options whose progress goes to `out` as plain summary lines, timed by `clock`.
FitOptions quiet_options(int64_t epochs, FakeClock& clock, std::ostringstream& out) {
  FitOptions options;
  options.epochs = epochs;
  options.progress_out = &out;
  options.progress_options.mode = train::ProgressMode::kPlain;
  options.progress_options.line_interval_s = 0;
  options.progress_options.clock = clock.fn();
  return options;
}

}  // namespace

TEST(Fit, RunsEveryStepAndAveragesTheLossByItems) {
  FakeClock clock;
  std::ostringstream out;
  std::vector<std::pair<int64_t, int64_t>> calls;
  auto result = train::fit(quiet_options(3, clock, out), 4, [&](int64_t epoch, int64_t batch) {
    calls.emplace_back(epoch, batch);
    clock.now += 0.5;
    // Loss 10e + b with b + 1 items: the epoch mean is (100e + 20) / 10 = 10e + 2.
    return StepResult{static_cast<double>(10 * epoch + batch), batch + 1};
  });
  ASSERT_EQ(calls.size(), 12u);
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i],
              std::make_pair(static_cast<int64_t>(i / 4 + 1), static_cast<int64_t>(i % 4)));
  }
  ASSERT_EQ(result.history.size(), 3u);
  for (int64_t e = 1; e <= 3; ++e) {
    const auto& record = result.history[e - 1];
    EXPECT_EQ(record.epoch, e);
    EXPECT_EQ(record.train_loss, 10.0 * e + 2);
    EXPECT_EQ(record.batches, 4);
    EXPECT_EQ(record.items, 10);
    EXPECT_EQ(record.seconds, 2.0);
    EXPECT_TRUE(record.eval.empty());
  }
  EXPECT_EQ(out.str(),
            "epoch 1/3  batch 4/4  loss 12  5 it/s  elapsed 00:00:02\n"
            "epoch 2/3  batch 4/4  loss 22  5 it/s  elapsed 00:00:02\n"
            "epoch 3/3  batch 4/4  loss 32  5 it/s  elapsed 00:00:02\n");
}

TEST(Fit, EvaluatesAfterEachEpochAndWritesOneCsvRowPerEpoch) {
  TempDir dir;
  FakeClock clock;
  std::ostringstream out;
  FitOptions options = quiet_options(3, clock, out);
  options.csv_path = dir.path("fit.csv");
  std::vector<std::string> events;
  auto step = [&](int64_t epoch, int64_t batch) {
    events.push_back("step " + std::to_string(epoch) + "." + std::to_string(batch));
    clock.now += 0.5;
    return StepResult{static_cast<double>(10 * epoch + batch), batch + 1};
  };
  auto evaluate = [&](int64_t epoch) {
    events.push_back("eval " + std::to_string(epoch));
    clock.now += 0.25;
    return Metrics{{"val_loss", 1.0 / epoch}, {"val_acc", 0.5 * epoch}};
  };
  auto result = train::fit(options, 2, step, evaluate);
  EXPECT_EQ(events,
            (std::vector<std::string>{"step 1.0", "step 1.1", "eval 1", "step 2.0", "step 2.1",
                                      "eval 2", "step 3.0", "step 3.1", "eval 3"}));
  // Epoch e: loss (10e * 1 + (10e + 1) * 2) / 3 = 10e + 2/3; 1.25 s each.
  EXPECT_EQ(read_file(*options.csv_path),
            "epoch,train_loss,val_acc,val_loss,seconds\n"
            "1,10.666666666666666,0.5,1,1.25\n"
            "2,20.666666666666668,1,0.5,1.25\n"
            "3,30.666666666666668,1.5,0.3333333333333333,1.25\n");
  ASSERT_EQ(result.history.size(), 3u);
  EXPECT_EQ(result.history[2].eval, (Metrics{{"val_acc", 1.5}, {"val_loss", 1.0 / 3}}));
  EXPECT_EQ(result.history[2].seconds, 1.25);
  EXPECT_EQ(out.str().substr(0, out.str().find('\n') + 1),
            "epoch 1/3  batch 2/2  loss 10.67  2.4 it/s  elapsed 00:00:01  val_acc 0.5  "
            "val_loss 1\n");
}

TEST(Fit, AppendsToAnExistingCsvWithTheSameColumns) {
  TempDir dir;
  FakeClock clock;
  std::ostringstream out;
  FitOptions options = quiet_options(1, clock, out);
  options.csv_path = dir.path("fit.csv");
  auto step = [&](int64_t, int64_t) {
    clock.now += 1;
    return StepResult{0.5, 2};
  };
  train::fit(options, 1, step);
  options.csv_mode = train::CsvMode::kAppend;
  train::fit(options, 1, step);
  EXPECT_EQ(read_file(*options.csv_path), "epoch,train_loss,seconds\n1,0.5,1\n1,0.5,1\n");
}

TEST(Fit, OverARangeOfBatches) {
  FakeClock clock;
  std::ostringstream out;
  const std::vector<std::vector<double>> batches = {{1, 2, 3}, {4}, {5, 6}};
  int64_t steps = 0;
  auto result = train::fit(quiet_options(2, clock, out), batches, [&](const auto& batch) {
    ++steps;
    clock.now += 1;
    double sum = 0;
    for (double v : batch) sum += v;
    return StepResult{sum / static_cast<double>(batch.size()), static_cast<int64_t>(batch.size())};
  });
  EXPECT_EQ(steps, 6);
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_EQ(result.history[0].train_loss, 3.5);  // the mean of all six values
  EXPECT_EQ(result.history[1].items, 6);
  EXPECT_EQ(out.str(),
            "epoch 1/2  batch 3/3  loss 3.5  2 it/s  elapsed 00:00:03\n"
            "epoch 2/2  batch 3/3  loss 3.5  2 it/s  elapsed 00:00:03\n");
}

TEST(Fit, ARangeWithoutSizeAndAStepReturningOnlyTheLoss) {
  FakeClock clock;
  std::ostringstream out;
  const std::forward_list<int> batches = {1, 2, 6};  // no size(): the total is unknown
  auto result = train::fit(quiet_options(1, clock, out), batches, [&](int batch) {
    clock.now += 1;
    return static_cast<float>(batch);  // just the loss: one item per batch
  });
  ASSERT_EQ(result.history.size(), 1u);
  EXPECT_EQ(result.history[0].train_loss, 3.0);
  EXPECT_EQ(result.history[0].items, 3);
  EXPECT_EQ(out.str(), "epoch 1/1  batch 3  loss 3  1 it/s  elapsed 00:00:03\n");
}

TEST(Fit, AThrowingStepPropagatesAndKeepsTheFinishedRows) {
  TempDir dir;
  FakeClock clock;
  std::ostringstream out;
  FitOptions options = quiet_options(3, clock, out);
  options.csv_path = dir.path("fit.csv");
  options.progress_options.mode = train::ProgressMode::kInteractive;
  int evaluations = 0;
  auto step = [&](int64_t epoch, int64_t batch) {
    clock.now += 1;
    if (epoch == 2 && batch == 1) throw std::runtime_error("step failed");
    return StepResult{1.0, 1};
  };
  auto evaluate = [&](int64_t) {
    ++evaluations;
    return Metrics{};
  };
  try {
    train::fit(options, 3, step, evaluate);
    ADD_FAILURE() << "fit did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "step failed");
  }
  EXPECT_EQ(evaluations, 1);
  EXPECT_EQ(read_file(*options.csv_path), "epoch,train_loss,seconds\n1,1,3\n");
  // The interrupted epoch's progress line is ended.
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(Fit, NoProgressPrintsNothing) {
  std::ostringstream out;
  FakeClock clock;
  FitOptions options = quiet_options(2, clock, out);
  options.progress = false;
  auto result = train::fit(options, 2, [](int64_t, int64_t) { return StepResult{1.0, 1}; });
  EXPECT_EQ(result.history.size(), 2u);
  EXPECT_EQ(out.str(), "");
}

TEST(Fit, AnEpochWithoutBatchesHasANanLoss) {
  std::ostringstream out;
  FakeClock clock;
  auto result =
      train::fit(quiet_options(1, clock, out), 0, [](int64_t, int64_t) { return StepResult{}; });
  ASSERT_EQ(result.history.size(), 1u);
  EXPECT_TRUE(std::isnan(result.history[0].train_loss));
  EXPECT_EQ(result.history[0].batches, 0);
}

TEST(Fit, Errors) {
  TempDir dir;
  FakeClock clock;
  std::ostringstream out;
  int64_t steps = 0;
  auto step = [&](int64_t, int64_t) {
    ++steps;
    return StepResult{1.0, 1};
  };
  EXPECT_MG_ERROR(train::fit(quiet_options(0, clock, out), 1, step),
                  "fit: epochs must be >= 1, got 0");
  EXPECT_MG_ERROR(train::fit(quiet_options(1, clock, out), -1, step),
                  "batches_per_epoch must be >= 0, got -1");
  EXPECT_MG_ERROR(train::fit(quiet_options(1, clock, out), 1, nullptr), "train_step is empty");
  EXPECT_MG_ERROR(train::fit(quiet_options(1, clock, out), 2,
                             [](int64_t, int64_t) {
                               return StepResult{1.0, -3};
                             }),
                  "a training step reported -3 items in epoch 1, batch 0");
  EXPECT_MG_ERROR(train::fit(quiet_options(1, clock, out), 1, step,
                             [](int64_t) {
                               return Metrics{{"seconds", 1.0}};
                             }),
                  "evaluate returned a metric named 'seconds'");
  // A CSV path that cannot be written fails before any training.
  FitOptions options = quiet_options(1, clock, out);
  const std::string bad_path = dir.path("missing/dir/fit.csv");
  options.csv_path = bad_path;
  steps = 0;
  EXPECT_MG_ERROR(train::fit(options, 1, step), "cannot open CSV file '" + bad_path + "'");
  EXPECT_EQ(steps, 0);
}
