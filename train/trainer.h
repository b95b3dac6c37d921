#pragma once
// fit(): an optional helper for the usual epoch loop. It owns no model or optimizer: the caller's
// step function does the forward, backward and update, and returns the batch loss; fit() runs
// the epochs, averages the loss per epoch (weighted by batch size), calls an evaluation after
// each epoch, drives a ProgressBar and writes one CSV row per epoch. Skip it for anything
// unusual; a hand-written loop with ProgressBar and CsvLogger is just as good.
//
//   auto result = train::fit({.epochs = 10, .csv_path = "run.csv"}, loader,
//       [&](const auto& batch) {
//         optimizer.zero_grad();
//         auto loss = mg::cross_entropy(model(batch.x), batch.y);
//         loss.backward();
//         optimizer.step();
//         return train::StepResult{loss.item<double>(), batch.x.size(0)};
//       },
//       [&](int64_t) { return train::Metrics{{"val_acc", accuracy(model, val_set)}}; });
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "train/csv_logger.h"
#include "train/metrics.h"
#include "train/progress_bar.h"

namespace mixgrad::train {

// What a training step reports: its mean loss and how many items (samples) the batch held,
// which is the weight of the loss in the epoch mean. A step may also return just the loss (a
// number), which counts as one item.
struct StepResult {
  double loss = 0.0;
  int64_t items = 1;
};

// Evaluation results by name, e.g. {{"val_loss", 0.31}, {"val_acc", 0.92}}.
using Metrics = std::map<std::string, double>;
// Called after each epoch's training with the (1-based) epoch number.
using EvaluateFn = std::function<Metrics(int64_t epoch)>;

struct FitOptions {
  int64_t epochs = 1;
  // Show a ProgressBar on `progress_out` (nullptr: std::cerr).
  bool progress = true;
  std::ostream* progress_out = nullptr;
  // Its clock also times the epochs (the "seconds" column).
  ProgressOptions progress_options = {};
  // Write one row per epoch here: epoch, train_loss, the evaluation metrics (sorted by name),
  // seconds.
  std::optional<std::string> csv_path = {};
  CsvMode csv_mode = CsvMode::kTruncate;
};

struct EpochRecord {
  int64_t epoch = 0;        // 1-based
  double train_loss = 0.0;  // item-weighted mean of the step losses; NaN if no items
  int64_t batches = 0;      // steps run
  int64_t items = 0;        // items seen
  Metrics eval = {};        // what evaluate returned (empty without evaluate)
  double seconds = 0.0;     // training plus evaluation time
};

struct FitResult {
  std::vector<EpochRecord> history;  // one record per epoch, in order
};

namespace detail {

// The bookkeeping shared by both fit() entry points: progress, averaging, evaluation, CSV.
class FitLoop {
 public:
  // Throws Error if options.epochs < 1 or the CSV file cannot be opened for writing.
  FitLoop(const FitOptions& options, EvaluateFn evaluate);
  void start_epoch(int64_t epoch, int64_t batches);
  // Throws Error if step.items < 0.
  void record(const StepResult& step);
  // Evaluates, logs and stores the epoch. Throws Error if an evaluation metric is named
  // epoch, train_loss or seconds.
  void finish_epoch();
  FitResult take_result() { return std::move(result_); }

 private:
  const FitOptions& options_;
  EvaluateFn evaluate_;
  Clock clock_;
  std::optional<ProgressBar> bar_;
  std::optional<CsvLogger> csv_;  // opened after the first evaluation names its columns
  RunningMean loss_;
  EpochRecord epoch_;
  double epoch_start_ = 0.0;
  FitResult result_;
};

inline StepResult as_step_result(const StepResult& result) {
  return result;
}
inline StepResult as_step_result(double loss) {
  return {loss, 1};
}

// The batch count a range declares through size() (as len(loader) in PyTorch), else 0:
// unknown, which only hides the total and the ETA in the progress bar.
template <class Batches>
int64_t declared_batch_count(const Batches& batches) {
  if constexpr (requires { std::size(batches); }) {
    return static_cast<int64_t>(std::size(batches));
  } else {
    return 0;
  }
}

}  // namespace detail

// Anything a range-for loop can walk: a std::vector of batches, a DataLoader, ...
template <class Batches>
concept BatchRange = requires(Batches& b) {
  std::begin(b);
  std::end(b);
};

// Runs options.epochs epochs of `batches_per_epoch` calls train_step(epoch, batch) (epoch
// 1-based, batch 0-based), then evaluate(epoch) if given. Returns the per-epoch history.
// Throws Error on epochs < 1, batches_per_epoch < 0, an empty train_step, a step reporting
// items < 0, or a CSV problem; whatever train_step or evaluate throws propagates unchanged
// (rows of finished epochs stay in the CSV file).
FitResult fit(const FitOptions& options, int64_t batches_per_epoch,
              const std::function<StepResult(int64_t epoch, int64_t batch)>& train_step,
              const EvaluateFn& evaluate = {});

// The same over a range of batches, walked once per epoch: train_step(batch) returns the loss
// (a number) or a StepResult.
template <BatchRange Batches, class Step>
FitResult fit(const FitOptions& options, Batches&& batches, Step&& train_step,
              const EvaluateFn& evaluate = {}) {
  detail::FitLoop loop(options, evaluate);
  for (int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    loop.start_epoch(epoch, detail::declared_batch_count(batches));
    for (auto&& batch : batches) loop.record(detail::as_step_result(train_step(batch)));
    loop.finish_epoch();
  }
  return loop.take_result();
}

}  // namespace mixgrad::train
