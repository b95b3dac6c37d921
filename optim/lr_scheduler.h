#pragma once
// Learning-rate schedules that write an optimizer's group lrs per step (or epoch). Each schedule
// is a closed form lr_at(base_lr, epoch), so schedules compose (LinearWarmup hands over to any
// other), fractional epochs work everywhere, and resuming is a jump: step(epoch).
//
// Usage (PyTorch's order: optimizer.step() then scheduler.step()):
//   optim::LinearWarmup schedule(opt, /*warmup_steps=*/100, /*start_factor=*/0.01,
//                                std::make_unique<optim::CosineAnnealingLR>(opt, 900));
//   for (...) { loss.backward(); opt.step(); opt.zero_grad(); schedule.step(); }
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace mixgrad::optim {

// eta_min + (eta_max - eta_min) * (1 + cos(pi * t_cur / t_i)) / 2: the half cosine from eta_max
// at t_cur = 0 down to eta_min at t_cur = t_i.
double cosine_annealing(double eta_max, double eta_min, double t_cur, double t_i);

// Where an epoch falls in a warm-restart schedule (SGDR, Loshchilov & Hutter): the first period
// lasts t0 epochs and each next one t_mult times longer, so with t0 = 2, t_mult = 2 the restarts
// are at epochs 2, 6, 14, ...
struct RestartPosition {
  double t_cur;      // epochs since the last restart
  double t_i;        // length of the current period, in epochs
  int64_t restarts;  // restarts so far
};
// Exact at period boundaries (sums of periods, no logarithms). Throws Error unless epoch is
// finite and >= 0, t0 >= 1 and t_mult >= 1.
RestartPosition warm_restart_position(double epoch, int64_t t0, int64_t t_mult);

// The base of the schedulers: captures every group's lr at construction as its base lr, and
// sets lr = lr_at(base lr, epoch) at epoch 0 and on every step. Schedules overwrite the lrs
// rather than scaling them, so give an optimizer one scheduler (compose with LinearWarmup).
class LRScheduler {
 public:
  virtual ~LRScheduler();
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch (or step: whichever unit the schedule counts) and writes the lrs.
  void step();
  // Jumps to `epoch`, which may be fractional (epoch + batch / batches_per_epoch); throws Error
  // unless it is finite and >= 0.
  void step(double epoch);
  double epoch() const { return epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  // The lrs this scheduler last wrote, one per group.
  const std::vector<double>& last_lr() const { return last_lr_; }
  Optimizer& optimizer() const { return *optimizer_; }
  const std::string& name() const { return name_; }

  // The lr of a group with base lr `base_lr` at `epoch` (no side effects).
  virtual double lr_at(double base_lr, double epoch) const = 0;

  // Position and base lrs as scalars: scheduler, epoch, base_lr.<group>.
  OptimizerState state_dict() const;
  // Restores state_dict() output (checked completely first; one Error lists every problem and
  // leaves the scheduler unchanged) and writes the lrs for the restored position.
  void load_state_dict(const OptimizerState& state);

 protected:
  // `base_lrs` defaults to the optimizer's current lrs.
  LRScheduler(Optimizer& optimizer, std::string name, std::vector<double> base_lrs = {});
  // Writes lr_at(base lr, epoch()) into every group. Subclass constructors end with it (the
  // base constructor cannot reach lr_at). Throws Error if groups were added since construction.
  void apply();

 private:
  Optimizer* optimizer_;
  std::string name_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  double epoch_ = 0;
};

// base_lr * gamma^floor(epoch / step_size). Throws Error unless step_size >= 1 and gamma is
// finite and >= 0.
class StepLR final : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(double base_lr, double epoch) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// cosine_annealing(base_lr, eta_min, epoch, t_max): base_lr at 0, eta_min at t_max (and, as in
// PyTorch's closed form, rising again after). Throws Error unless t_max >= 1 and eta_min is
// finite and >= 0.
class CosineAnnealingLR final : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0);
  double lr_at(double base_lr, double epoch) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

// SGDR: cosine_annealing(base_lr, eta_min, t_cur, t_i) with t_cur, t_i from
// warm_restart_position (PyTorch's CosineAnnealingWarmRestarts). step() advances one epoch,
// step(epoch) takes fractional epochs. Throws Error unless t0 >= 1, t_mult >= 1 and eta_min is
// finite and >= 0.
class CosineAnnealingWarmRestarts final : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t t0, int64_t t_mult = 1,
                              double eta_min = 0);
  double lr_at(double base_lr, double epoch) const override;

 private:
  int64_t t0_;
  int64_t t_mult_;
  double eta_min_;
};

// Linear warm-up: base_lr * (start_factor + (1 - start_factor) * epoch / warmup_steps) for the
// first warmup_steps steps, then `after`'s schedule counted from the end of the warm-up (or the
// base lr when there is none). `after` must drive the same optimizer and is driven by this
// scheduler only. Throws Error unless warmup_steps >= 1 and 0 <= start_factor <= 1.
class LinearWarmup final : public LRScheduler {
 public:
  LinearWarmup(Optimizer& optimizer, int64_t warmup_steps, double start_factor,
               std::unique_ptr<LRScheduler> after = nullptr);
  double lr_at(double base_lr, double epoch) const override;

 private:
  int64_t warmup_steps_;
  double start_factor_;
  std::unique_ptr<LRScheduler> after_;
};

}  // namespace mixgrad::optim
