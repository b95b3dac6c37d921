#pragma once
// Running statistics for training loops.
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace mixgrad::train {

// A weighted running mean, e.g. of per-batch losses weighted by batch size, so that the epoch
// loss equals the mean over samples even when the last batch is short.
class RunningMean {
 public:
  // Adds `value` with `weight` (its item count). Weight 0 is ignored. Throws Error on a negative
  // or non-finite weight; the mean is unchanged then.
  void add(double value, double weight = 1.0) {
    if (!(weight >= 0.0) || std::isinf(weight)) {
      throw Error("RunningMean::add",
                  "weight must be finite and >= 0, got " + std::to_string(weight));
    }
    if (weight == 0.0) return;
    weighted_sum_ += value * weight;
    weight_ += weight;
  }

  // The weighted mean so far; NaN before anything with a positive weight was added.
  double mean() const {
    return weight_ > 0.0 ? weighted_sum_ / weight_ : std::numeric_limits<double>::quiet_NaN();
  }
  // The sum of the weights added so far.
  double total_weight() const { return weight_; }
  bool empty() const { return weight_ == 0.0; }
  void reset() { *this = RunningMean(); }

 private:
  double weighted_sum_ = 0.0;
  double weight_ = 0.0;
};

}  // namespace mixgrad::train
