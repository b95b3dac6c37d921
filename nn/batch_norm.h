#pragma once
// Batch and group normalisation layers (see ops/normalization.h for the math).
#include <cstdint>
#include <optional>

#include "nn/module.h"
#include "ops/creation.h"

namespace mixgrad::nn {

// What BatchNorm1d and BatchNorm2d share. In training mode (or without track_running_stats)
// batches are normalised with their own statistics, and the running statistics, when tracked,
// are updated with `momentum` (nullopt: a cumulative average over num_batches_tracked batches);
// in eval mode the running statistics normalise. Parameters weight (ones) and bias (zeros) with
// `affine`; buffers running_mean (zeros), running_var (ones) and num_batches_tracked (int64
// scalar) with `track_running_stats`, all saved in state_dict().
class BatchNormBase : public Module {
 public:
  // Throws Error (from the op) for an input of the wrong rank or channel count, or a training
  // batch with one value per channel; nothing is updated then.
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }

  Tensor weight;  // undefined without affine
  Tensor bias;
  Tensor running_mean;  // undefined without track_running_stats
  Tensor running_var;
  Tensor num_batches_tracked;

 protected:
  // Throws Error for num_features < 1, eps < 0 or momentum outside [0, 1].
  BatchNormBase(const char* name, int64_t num_features, double eps, std::optional<double> momentum,
                bool affine, bool track_running_stats, TensorOptions options);
  // Throws Error naming the module unless `input` has a rank this module accepts.
  virtual void check_input_rank(const Tensor& input) const = 0;

 private:
  int64_t num_features_;
  double eps_;
  std::optional<double> momentum_;
};

// Batch norm over [N, C] or [N, C, L] inputs (C = num_features).
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true, TensorOptions options = {});

 protected:
  void check_input_rank(const Tensor& input) const override;
};

// Batch norm over [N, C, H, W] inputs (C = num_features).
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true, TensorOptions options = {});

 protected:
  void check_input_rank(const Tensor& input) const override;
};

// Group norm over [N, C, *] inputs (C = num_channels, split into num_groups groups); with
// `affine`, a per-channel weight (ones) and bias (zeros). Same in training and eval mode.
class GroupNorm : public Module {
 public:
  // Throws Error unless num_groups >= 1 divides num_channels >= 1, or for eps < 0.
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true,
            TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  Tensor weight;  // undefined without affine
  Tensor bias;

 private:
  int64_t num_groups_;
  int64_t num_channels_;
  double eps_;
};

}  // namespace mixgrad::nn
