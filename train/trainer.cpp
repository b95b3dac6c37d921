#include "train/trainer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "core/error.h"

namespace mixgrad::train {
namespace {

const char* const kFixedColumns[] = {"epoch", "train_loss", "seconds"};

// The CSV columns depend on what the first evaluation returns, so the logger opens only after
// the first epoch; checking the path up front keeps a typo from costing an epoch of training.
void check_writable(const std::string& path) {
  std::ofstream probe(path, std::ios::app);
  MG_CHECK(probe.is_open(), "fit", "cannot open CSV file '", path,
           "' for writing: ", std::string(std::strerror(errno)));
}

}  // namespace

namespace detail {

FitLoop::FitLoop(const FitOptions& options, EvaluateFn evaluate)
    : options_(options), evaluate_(std::move(evaluate)) {
  MG_CHECK(options.epochs >= 1, "fit", "epochs must be >= 1, got ", options.epochs);
  clock_ = options.progress_options.clock ? options.progress_options.clock : steady_seconds;
  if (options.progress) {
    bar_.emplace(options.progress_out ? *options.progress_out : std::cerr,
                 options.progress_options);
  }
  if (options.csv_path) check_writable(*options.csv_path);
}

void FitLoop::start_epoch(int64_t epoch, int64_t batches) {
  epoch_ = EpochRecord{.epoch = epoch};
  loss_.reset();
  epoch_start_ = clock_();
  if (bar_) bar_->start_epoch(epoch, options_.epochs, batches);
}

void FitLoop::record(const StepResult& step) {
  MG_CHECK(step.items >= 0, "fit", "a training step reported ", step.items, " items in epoch ",
           epoch_.epoch, ", batch ", epoch_.batches);
  loss_.add(step.loss, static_cast<double>(step.items));
  ++epoch_.batches;
  epoch_.items += step.items;
  if (bar_) bar_->step(step.loss, step.items);
}

void FitLoop::finish_epoch() {
  epoch_.train_loss = loss_.mean();
  if (evaluate_) epoch_.eval = evaluate_(epoch_.epoch);
  for (const char* fixed : kFixedColumns) {
    MG_CHECK(!epoch_.eval.contains(fixed), "fit", "evaluate returned a metric named '", fixed,
             "', which is a column fit() fills itself");
  }
  epoch_.seconds = clock_() - epoch_start_;
  if (bar_) bar_->finish_epoch({epoch_.eval.begin(), epoch_.eval.end()});
  if (options_.csv_path) {
    if (!csv_) {
      std::vector<std::string> columns = {"epoch", "train_loss"};
      for (const auto& metric : epoch_.eval) columns.push_back(metric.first);
      columns.push_back("seconds");
      csv_.emplace(*options_.csv_path, std::move(columns), options_.csv_mode);
    }
    std::vector<CsvLogger::Cell> row = {{"epoch", epoch_.epoch}, {"train_loss", epoch_.train_loss}};
    row.insert(row.end(), epoch_.eval.begin(), epoch_.eval.end());
    row.emplace_back("seconds", epoch_.seconds);
    csv_->log(row);
  }
  result_.history.push_back(std::move(epoch_));
}

}  // namespace detail

FitResult fit(const FitOptions& options, int64_t batches_per_epoch,
              const std::function<StepResult(int64_t epoch, int64_t batch)>& train_step,
              const EvaluateFn& evaluate) {
  MG_CHECK(batches_per_epoch >= 0, "fit", "batches_per_epoch must be >= 0, got ",
           batches_per_epoch);
  MG_CHECK(static_cast<bool>(train_step), "fit", "train_step is empty");
  detail::FitLoop loop(options, evaluate);
  for (int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    loop.start_epoch(epoch, batches_per_epoch);
    for (int64_t batch = 0; batch < batches_per_epoch; ++batch) {
      loop.record(train_step(epoch, batch));
    }
    loop.finish_epoch();
  }
  return loop.take_result();
}

}  // namespace mixgrad::train
