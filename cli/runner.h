#pragma once
// The loop every zoo model runs through: one training epoch, an evaluation, and the expert-load
// bookkeeping they share.
#include <cstdint>
#include <vector>

#include "core/device.h"
#include "data/dataloader.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"
#include "train/progress_bar.h"
#include "zoo/task.h"

namespace mixgrad::cli {

// Sums over the batches of one pass.
struct PassStats {
  double loss = 0.0;    // item-weighted mean task loss
  double metric = 0.0;  // metric_sum / items
  int64_t items = 0;
  int64_t batches = 0;
  std::vector<int64_t> expert_slots;  // token-slots each expert computed (empty: dense model)
  int64_t dropped = 0;
  double seconds = 0.0;

  int64_t routed_slots() const;  // sum of expert_slots plus dropped
};

// Which rows of every batch this process takes when several train together (--ep/--dp): the
// index-th of `count` nearly equal parts (DataLoaderOptions::shard_index, shard_count). The
// default takes whole batches.
struct BatchShard {
  int index = 0;
  int count = 1;
};

// One training epoch over `loader` (already sharded when several processes train): forward,
// backward, optimizer and schedule step per batch. `bar` (may be null) shows progress. Throws
// Error if the loss turns NaN or infinite (naming the epoch and batch), rather than training on.
PassStats train_epoch(zoo::Task& task, data::DataLoader& loader, optim::Optimizer& optimizer,
                      optim::LRScheduler& schedule, train::ProgressBar* bar, Device device,
                      int64_t epoch);

// The task's test set in eval mode without gradients, in batches of `batch`.
PassStats evaluate(zoo::Task& task, int64_t batch, Device device, const BatchShard& shard = {});

}  // namespace mixgrad::cli
