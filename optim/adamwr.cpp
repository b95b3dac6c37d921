#include "optim/adamwr.h"

#include <cmath>

#include "optim/hyperparameters.h"
#include "optim/state_text.h"

namespace mixgrad::optim {

namespace {

using detail::format_double;
using detail::format_int;

constexpr const char* kEpochScalar = "schedule.epoch";

const AdamWROptions& checked(const AdamWROptions& o) {
  MG_CHECK(o.t0 >= 1 && o.t_mult >= 1, "AdamWR", "t0 = ", o.t0, " and t_mult = ", o.t_mult,
           " must both be >= 1");
  MG_CHECK(o.steps_per_epoch >= 0, "AdamWR", "steps_per_epoch = ", o.steps_per_epoch,
           " must be >= 0 (0: set_epoch() drives the schedule)");
  MG_CHECK(o.eta_min >= 0 && o.eta_min <= 1, "AdamWR", "eta_min = ", format_double(o.eta_min),
           " must be in [0, 1]");
  if (o.normalized_weight_decay)
    MG_CHECK(
        o.normalized_weight_decay->batch_size >= 1 && o.normalized_weight_decay->dataset_size >= 1,
        "AdamWR", "weight decay normalisation needs batch_size >= 1 and dataset_size >= 1, got ",
        o.normalized_weight_decay->batch_size, " and ", o.normalized_weight_decay->dataset_size);
  return o;
}

}  // namespace

AdamWR::AdamWR(std::vector<Tensor> params, AdamWROptions options)
    : AdamWR(single_group(std::move(params)), std::move(options)) {}

AdamWR::AdamWR(std::vector<ParamGroup> groups, AdamWROptions options)
    : AdamW("AdamWR", std::move(groups), checked(options).adam, 1e-5),
      t0_(options.t0),
      t_mult_(options.t_mult),
      steps_per_epoch_(options.steps_per_epoch),
      eta_min_(options.eta_min),
      normalization_(options.normalized_weight_decay) {}

void AdamWR::set_epoch(double epoch) {
  MG_CHECK(steps_per_epoch_ == 0, "AdamWR.set_epoch", "the schedule follows the step count (",
           steps_per_epoch_, " steps per epoch); construct with steps_per_epoch = 0 to place it");
  MG_CHECK(detail::finite_non_negative(epoch), "AdamWR.set_epoch", "epoch = ", format_double(epoch),
           " must be finite and >= 0");
  epoch_ = epoch;
}

double AdamWR::epoch() const {
  if (steps_per_epoch_ == 0) return epoch_;
  return static_cast<double>(step_count()) / static_cast<double>(steps_per_epoch_);
}

RestartPosition AdamWR::position() const {
  return warm_restart_position(epoch(), t0_, t_mult_);
}

double AdamWR::multiplier() const {
  const RestartPosition at = position();
  return cosine_annealing(1.0, eta_min_, at.t_cur, at.t_i);
}

double AdamWR::weight_decay_of(const ParamGroup& group) const {
  const double wd = group.weight_decay.value();
  if (!normalization_) return wd;
  return wd * std::sqrt(static_cast<double>(normalization_->batch_size) /
                        (static_cast<double>(normalization_->dataset_size) * position().t_i));
}

double AdamWR::effective_weight_decay(size_t group) const {
  MG_CHECK(group < param_groups().size(), "AdamWR.effective_weight_decay", "group ", group,
           " out of range for ", param_groups().size(), " groups");
  return weight_decay_of(param_groups()[group]);
}

Adam::StepScales AdamWR::step_scales(const ParamGroup& group) const {
  const double eta = multiplier();
  return {eta * group.lr.value(), eta * weight_decay_of(group)};
}

std::map<std::string, std::string> AdamWR::config() const {
  std::map<std::string, std::string> c = AdamW::config();
  c["t0"] = format_int(t0_);
  c["t_mult"] = format_int(t_mult_);
  c["steps_per_epoch"] = format_int(steps_per_epoch_);
  c["eta_min"] = format_double(eta_min_);
  c["wd_batch_size"] = format_int(normalization_ ? normalization_->batch_size : 0);
  c["wd_dataset_size"] = format_int(normalization_ ? normalization_->dataset_size : 0);
  return c;
}

void AdamWR::save_extra(std::map<std::string, std::string>& scalars) const {
  if (steps_per_epoch_ == 0) scalars[kEpochScalar] = format_double(epoch_);
}

std::function<void()> AdamWR::load_extra(const std::map<std::string, std::string>& extras,
                                         std::vector<std::string>& problems) {
  if (steps_per_epoch_ > 0) return AdamW::load_extra(extras, problems);
  std::map<std::string, std::string> unknown = extras;
  const auto it = unknown.find(kEpochScalar);
  std::optional<double> epoch;
  if (it == unknown.end()) {
    problems.push_back(std::string("missing scalar '") + kEpochScalar + "'");
  } else {
    epoch = detail::parse_double(it->second);
    if (!epoch || !detail::finite_non_negative(*epoch))
      problems.push_back(std::string("'") + kEpochScalar + "' = '" + it->second +
                         "' is not a finite number >= 0");
    unknown.erase(it);
  }
  AdamW::load_extra(unknown, problems);
  return [this, epoch] { epoch_ = epoch.value_or(0); };
}

}  // namespace mixgrad::optim
