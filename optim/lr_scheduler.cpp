#include "optim/lr_scheduler.h"

#include <cmath>
#include <numbers>

#include "optim/hyperparameters.h"
#include "optim/state_text.h"

namespace mixgrad::optim {

namespace {

using detail::finite_non_negative;
using detail::format_double;

}  // namespace

double cosine_annealing(double eta_max, double eta_min, double t_cur, double t_i) {
  return eta_min + (eta_max - eta_min) * (1 + std::cos(std::numbers::pi * t_cur / t_i)) / 2;
}

RestartPosition warm_restart_position(double epoch, int64_t t0, int64_t t_mult) {
  MG_CHECK(finite_non_negative(epoch), "warm_restart_position", "epoch = ", format_double(epoch),
           " must be finite and >= 0");
  MG_CHECK(t0 >= 1 && t_mult >= 1, "warm_restart_position", "t0 = ", t0, " and t_mult = ", t_mult,
           " must both be >= 1");
  const double first = static_cast<double>(t0);
  if (t_mult == 1) {
    double restarts = std::floor(epoch / first);
    if (epoch - restarts * first < 0) restarts -= 1;  // the division rounded up to a boundary
    return {epoch - restarts * first, first, static_cast<int64_t>(restarts)};
  }
  double start = 0, length = first;
  int64_t restarts = 0;
  while (epoch >= start + length) {
    start += length;
    length *= static_cast<double>(t_mult);
    ++restarts;
  }
  return {epoch - start, length, restarts};
}

// ---- LRScheduler ----

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name, std::vector<double> base_lrs)
    : optimizer_(&optimizer), name_(std::move(name)), base_lrs_(std::move(base_lrs)) {
  if (base_lrs_.empty())
    for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
      base_lrs_.push_back(optimizer.lr(g));
}

LRScheduler::~LRScheduler() = default;

void LRScheduler::step() {
  epoch_ += 1;
  apply();
}

void LRScheduler::step(double epoch) {
  MG_CHECK(finite_non_negative(epoch), name_ + ".step", "epoch = ", format_double(epoch),
           " must be finite and >= 0");
  epoch_ = epoch;
  apply();
}

void LRScheduler::apply() {
  const size_t groups = optimizer_->param_groups().size();
  MG_CHECK(groups == base_lrs_.size(), name_, "the optimizer has ", groups,
           " parameter groups but the scheduler was made for ", base_lrs_.size());
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(lr_at(base, epoch_));
  for (size_t g = 0; g < groups; ++g) optimizer_->set_lr(g, lrs[g]);
  last_lr_ = std::move(lrs);
}

OptimizerState LRScheduler::state_dict() const {
  OptimizerState out;
  out.scalars["scheduler"] = name_;
  out.scalars["epoch"] = format_double(epoch_);
  for (size_t g = 0; g < base_lrs_.size(); ++g)
    out.scalars["base_lr." + std::to_string(g)] = format_double(base_lrs_[g]);
  return out;
}

void LRScheduler::load_state_dict(const OptimizerState& state) {
  std::vector<std::string> problems;
  if (!state.tensors.empty()) problems.push_back("a scheduler state has no tensors");
  std::optional<double> epoch;
  std::vector<std::optional<double>> base_lrs(optimizer_->param_groups().size());
  bool has_name = false;
  for (const auto& [name, value] : state.scalars) {
    const auto parts = detail::split_name(name);
    const auto number = detail::parse_double(value);
    if (name == "scheduler") {
      has_name = true;
      if (value != name_) problems.push_back("the state is from " + value + ", not " + name_);
    } else if (name == "epoch") {
      if (!number || !finite_non_negative(*number))
        problems.push_back("'epoch' = '" + value + "' is not a finite number >= 0");
      epoch = number.value_or(0);
    } else if (parts.size() == 2 && parts[0] == "base_lr" && detail::parse_index(parts[1]) &&
               *detail::parse_index(parts[1]) < base_lrs.size()) {
      if (!number || !finite_non_negative(*number))
        problems.push_back("'" + name + "' = '" + value + "' is not a finite number >= 0");
      base_lrs[*detail::parse_index(parts[1])] = number.value_or(0);
    } else {
      problems.push_back("unknown scalar '" + name + "'");
    }
  }
  if (!has_name) problems.push_back("missing scalar 'scheduler'");
  if (!epoch) problems.push_back("missing scalar 'epoch'");
  for (size_t g = 0; g < base_lrs.size(); ++g)
    if (!base_lrs[g]) problems.push_back("missing scalar 'base_lr." + std::to_string(g) + "'");
  detail::throw_if_problems(name_ + ".load_state_dict", problems);
  std::vector<double> restored;
  for (const auto& lr : base_lrs) restored.push_back(*lr);
  base_lrs_ = std::move(restored);
  epoch_ = *epoch;
  apply();
}

// ---- schedules ----

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  MG_CHECK(step_size >= 1, "StepLR", "step_size = ", step_size, " must be >= 1");
  MG_CHECK(finite_non_negative(gamma), "StepLR", "gamma = ", format_double(gamma),
           " must be finite and >= 0");
  apply();
}

double StepLR::lr_at(double base_lr, double epoch) const {
  return base_lr * std::pow(gamma_, std::floor(epoch / static_cast<double>(step_size_)));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(t_max), eta_min_(eta_min) {
  MG_CHECK(t_max >= 1, "CosineAnnealingLR", "t_max = ", t_max, " must be >= 1");
  MG_CHECK(finite_non_negative(eta_min), "CosineAnnealingLR", "eta_min = ", format_double(eta_min),
           " must be finite and >= 0");
  apply();
}

double CosineAnnealingLR::lr_at(double base_lr, double epoch) const {
  return cosine_annealing(base_lr, eta_min_, epoch, static_cast<double>(t_max_));
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t t0,
                                                         int64_t t_mult, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingWarmRestarts"),
      t0_(t0),
      t_mult_(t_mult),
      eta_min_(eta_min) {
  MG_CHECK(t0 >= 1 && t_mult >= 1, "CosineAnnealingWarmRestarts", "t0 = ", t0,
           " and t_mult = ", t_mult, " must both be >= 1");
  MG_CHECK(finite_non_negative(eta_min), "CosineAnnealingWarmRestarts",
           "eta_min = ", format_double(eta_min), " must be finite and >= 0");
  apply();
}

double CosineAnnealingWarmRestarts::lr_at(double base_lr, double epoch) const {
  const RestartPosition at = warm_restart_position(epoch, t0_, t_mult_);
  return cosine_annealing(base_lr, eta_min_, at.t_cur, at.t_i);
}

namespace {

// The base lrs of a warm-up: those `after` captured (it has already written its own epoch-0 lrs
// into the optimizer, which are not the base ones for every schedule).
std::vector<double> warmup_base_lrs(Optimizer& optimizer, const LRScheduler* after) {
  if (!after) return {};
  MG_CHECK(&after->optimizer() == &optimizer, "LinearWarmup",
           "the schedule after the warm-up drives a different optimizer");
  return after->base_lrs();
}

}  // namespace

LinearWarmup::LinearWarmup(Optimizer& optimizer, int64_t warmup_steps, double start_factor,
                           std::unique_ptr<LRScheduler> after)
    : LRScheduler(optimizer, "LinearWarmup", warmup_base_lrs(optimizer, after.get())),
      warmup_steps_(warmup_steps),
      start_factor_(start_factor),
      after_(std::move(after)) {
  MG_CHECK(warmup_steps >= 1, "LinearWarmup", "warmup_steps = ", warmup_steps, " must be >= 1");
  MG_CHECK(start_factor >= 0 && start_factor <= 1, "LinearWarmup",
           "start_factor = ", format_double(start_factor), " must be in [0, 1]");
  apply();
}

double LinearWarmup::lr_at(double base_lr, double epoch) const {
  const double steps = static_cast<double>(warmup_steps_);
  if (epoch < steps) return base_lr * (start_factor_ + (1 - start_factor_) * epoch / steps);
  return after_ ? after_->lr_at(base_lr, epoch - steps) : base_lr;
}

}  // namespace mixgrad::optim
