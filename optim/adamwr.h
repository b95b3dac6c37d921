#pragma once
// AdamWR: AdamW with cosine annealing and warm restarts (Loshchilov & Hutter, "Decoupled Weight
// Decay Regularization"), the optimizer MANN was trained with. A schedule multiplier eta_t
// scales both the Adam step and the weight decay (the paper's Algorithm 2):
//   p = p - eta_t * (lr * m_hat / (sqrt(v_hat) + eps) + wd * p)
//   eta_t = cosine_annealing(1, eta_min, t_cur, t_i), (t_cur, t_i) = warm_restart_position(epoch)
// Unlike AdamW's, this wd is not multiplied by lr (it is the paper's lambda). With
// normalized_weight_decay, the group's weight_decay is the paper's lambda_norm and
//   wd = weight_decay * sqrt(batch_size / (dataset_size * t_i)),
// so the decay adapts to the length of each period.
#include <optional>

#include "optim/adam.h"
#include "optim/lr_scheduler.h"

namespace mixgrad::optim {

struct WeightDecayNormalization {
  int64_t batch_size = 0;
  int64_t dataset_size = 0;  // training points per epoch
};

struct AdamWROptions {
  // weight_decay unset: 1e-5 (at the default lr of 1e-3, AdamW's default decay per step).
  AdamOptions adam = {};
  int64_t t0 = 1;      // epochs in the first period
  int64_t t_mult = 1;  // each period is t_mult times longer than the one before
  // > 0: each step() advances the schedule by 1 / steps_per_epoch epochs.
  // 0: the caller places it with set_epoch() (fractional epochs allowed).
  int64_t steps_per_epoch = 0;
  double eta_min = 0;  // multiplier at the end of every period, in [0, 1]
  std::optional<WeightDecayNormalization> normalized_weight_decay = std::nullopt;
};

class AdamWR final : public AdamW {
 public:
  // Throws Error for bad parameters or hyperparameters (see Optimizer), t0 < 1, t_mult < 1,
  // steps_per_epoch < 0, eta_min outside [0, 1] or a normalisation with sizes < 1.
  AdamWR(std::vector<Tensor> params, AdamWROptions options);
  AdamWR(std::vector<ParamGroup> groups, AdamWROptions options);

  // Places the schedule at `epoch` (fractional: epoch + batch / batches_per_epoch) for the next
  // step(). Throws Error for a negative or non-finite epoch, or when steps_per_epoch > 0 (the
  // schedule then follows the step count).
  void set_epoch(double epoch);
  // The schedule position the next step() uses.
  double epoch() const;
  RestartPosition position() const;
  // eta_t at the current position.
  double multiplier() const;
  // The weight decay of a group before eta_t scales it (normalised if asked for).
  double effective_weight_decay(size_t group = 0) const;

 protected:
  StepScales step_scales(const ParamGroup& group) const override;
  std::map<std::string, std::string> config() const override;
  void save_extra(std::map<std::string, std::string>& scalars) const override;
  std::function<void()> load_extra(const std::map<std::string, std::string>& extras,
                                   std::vector<std::string>& problems) override;

 private:
  double weight_decay_of(const ParamGroup& group) const;

  int64_t t0_;
  int64_t t_mult_;
  int64_t steps_per_epoch_;
  double eta_min_;
  std::optional<WeightDecayNormalization> normalization_;
  double epoch_ = 0;  // position when the caller drives the schedule (steps_per_epoch == 0)
};

}  // namespace mixgrad::optim
