#include "cli/runner.h"

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/grad_mode.h"
#include "train/metrics.h"

namespace mixgrad::cli {

namespace {

// Accumulates one pass; the expert counts stay on the device until the pass ends, so a step
// does not wait for them.
class PassAccumulator {
 public:
  void add(const zoo::StepOutput& step) {
    loss_.add(step.task_loss, static_cast<double>(step.items));
    metric_sum_ += step.metric_sum;
    items_ += step.items;
    ++batches_;
    dropped_ += step.dropped;
    if (step.tokens_per_expert.defined()) {
      slots_ = slots_.defined() ? slots_ + step.tokens_per_expert : step.tokens_per_expert.clone();
    }
  }
  PassStats finish(double seconds) const {
    PassStats s;
    s.loss = loss_.mean();
    s.metric = items_ > 0 ? metric_sum_ / static_cast<double>(items_) : std::nan("");
    s.items = items_;
    s.batches = batches_;
    if (slots_.defined()) s.expert_slots = slots_.to(Device::cpu()).to_vector<int64_t>();
    s.dropped = dropped_;
    s.seconds = seconds;
    return s;
  }

 private:
  train::RunningMean loss_;
  double metric_sum_ = 0.0;
  int64_t items_ = 0, batches_ = 0, dropped_ = 0;
  Tensor slots_;
};

data::Example to_device(const data::Example& batch, Device device) {
  if (device == Device::cpu()) return batch;
  return {batch.input.to(device), batch.target.defined() ? batch.target.to(device) : Tensor()};
}

}  // namespace

int64_t PassStats::routed_slots() const {
  return std::accumulate(expert_slots.begin(), expert_slots.end(), int64_t{0}) + dropped;
}

PassStats train_epoch(zoo::Task& task, data::DataLoader& loader, optim::Optimizer& optimizer,
                      optim::LRScheduler& schedule, train::ProgressBar* bar, Device device,
                      int64_t epoch) {
  task.module().train();
  PassAccumulator pass;
  const double start = train::steady_seconds();
  int64_t batch_index = 0;
  for (const data::Example& batch : loader) {
    optimizer.zero_grad();
    const zoo::StepOutput step = task.forward(to_device(batch, device));
    MG_CHECK(std::isfinite(step.task_loss), "train", "the loss became ", step.task_loss,
             " at epoch ", epoch, ", batch ", batch_index, " (try a smaller --lr)");
    step.loss.backward();
    optimizer.step();
    schedule.step();
    pass.add(step);
    if (bar != nullptr) {
      bar->step(step.task_loss, step.items,
                step.items > 0 ? step.metric_sum / static_cast<double>(step.items) : 0.0);
    }
    ++batch_index;
  }
  return pass.finish(train::steady_seconds() - start);
}

PassStats evaluate(zoo::Task& task, int64_t batch, Device device, const BatchShard& shard) {
  task.module().eval();
  NoGradGuard no_grad;
  data::DataLoader loader(
      task.test_data(),
      {.batch_size = batch, .shard_index = shard.index, .shard_count = shard.count});
  PassAccumulator pass;
  const double start = train::steady_seconds();
  for (const data::Example& b : loader) pass.add(task.forward(to_device(b, device)));
  return pass.finish(train::steady_seconds() - start);
}

}  // namespace mixgrad::cli
