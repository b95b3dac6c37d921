#include "optim/optimizer.h"

#include <unordered_set>

#include "core/grad_mode.h"
#include "ops/creation.h"
#include "optim/hyperparameters.h"
#include "optim/state_text.h"
#include "optim/tensor_checks.h"

namespace mixgrad::optim {

namespace {

using detail::finite_non_negative;
using detail::format_double;
using detail::HyperParameter;
using detail::hyperparameters;
using detail::param_label;
using detail::throw_if_problems;

}  // namespace

std::vector<ParamGroup> single_group(std::vector<Tensor> params) {
  return {ParamGroup{.params = std::move(params)}};
}

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups, ParamGroup defaults,
                     std::vector<BufferSpec> buffers)
    : name_(std::move(name)), defaults_(std::move(defaults)), buffers_(std::move(buffers)) {
  defaults_.params.clear();
  std::vector<std::string> problems;
  size_t total = 0;
  for (const ParamGroup& g : groups) total += g.params.size();
  if (total == 0) problems.push_back("got an empty parameter list");
  std::unordered_set<const TensorImpl*> seen;
  for (size_t g = 0; g < groups.size(); ++g) {
    complete_group(groups[g], g, seen, problems);
    check_hyperparameters(groups[g], g, problems);
  }
  throw_if_problems(name_, problems);
  for (ParamGroup& g : groups) register_group(std::move(g));
}

Optimizer::~Optimizer() = default;

void Optimizer::complete_group(ParamGroup& group, size_t index,
                               std::unordered_set<const TensorImpl*>& seen,
                               std::vector<std::string>& problems) const {
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    const std::string label = param_label(index, i);
    if (!p.defined()) {
      problems.push_back(label + " is an undefined tensor");
    } else if (!p.is_floating_point()) {
      problems.push_back(label + " is " + describe(p) +
                         "; only floating-point tensors can be optimised");
    } else if (!p.is_leaf()) {
      problems.push_back(label + " (" + describe(p) +
                         ") is not a leaf; optimise the tensors it was computed from");
    } else if (detail::has_overlapping_elements(p)) {
      problems.push_back(label + " (shape " + mixgrad::detail::to_str(p.shape()) +
                         ") has elements that overlap in memory and cannot be updated in place");
    } else if (!seen.insert(&p.impl()).second) {
      problems.push_back(label + " appears more than once; a parameter may be given only once");
    }
  }
  for (const HyperParameter& hp : hyperparameters()) {
    std::optional<double>& value = group.*hp.field;
    if ((defaults_.*hp.field).has_value()) {
      if (!value) value = defaults_.*hp.field;
    } else if (value) {
      problems.push_back("group " + std::to_string(index) + ": " + hp.name +
                         " is not a hyperparameter of " + name_);
    }
  }
}

void Optimizer::check_hyperparameters(const ParamGroup& group, size_t index,
                                      std::vector<std::string>& problems) const {
  const std::string where = "group " + std::to_string(index);
  for (const HyperParameter& hp : hyperparameters()) {
    if (!(defaults_.*hp.field).has_value()) continue;
    const std::optional<double>& value = group.*hp.field;
    if (!value)
      problems.push_back(where + ": " + hp.name + " is unset");
    else if (!hp.valid(*value))
      problems.push_back(where + ": " + hp.name + " = " + format_double(*value) + " must be " +
                         hp.requirement);
  }
  check_group(group, where, problems);
}

void Optimizer::check_group(const ParamGroup&, const std::string&,
                            std::vector<std::string>&) const {}

std::map<std::string, std::string> Optimizer::config() const {
  return {};
}

void Optimizer::save_extra(std::map<std::string, std::string>&) const {}

std::function<void()> Optimizer::load_extra(const std::map<std::string, std::string>& extras,
                                            std::vector<std::string>& problems) {
  for (const auto& entry : extras)
    problems.push_back("unknown scalar " + detail::quoted(entry.first));
  return {};
}

void Optimizer::check_groups(const std::string& op) const {
  std::vector<std::string> problems;
  if (groups_.size() != registered_.size()) {
    problems.push_back("the number of parameter groups changed from " +
                       std::to_string(registered_.size()) + " to " +
                       std::to_string(groups_.size()) + "; add groups with add_param_group()");
  } else {
    for (size_t g = 0; g < groups_.size(); ++g) {
      const auto& now = groups_[g].params;
      const auto& registered = registered_[g];
      bool same = now.size() == registered.size();
      for (size_t i = 0; same && i < now.size(); ++i) same = now[i].is_same(registered[i]);
      if (!same)
        problems.push_back("the parameters of group " + std::to_string(g) +
                           " were edited after construction; add parameters with "
                           "add_param_group()");
      check_hyperparameters(groups_[g], g, problems);
    }
  }
  throw_if_problems(op, problems);
}

void Optimizer::add_param_group(ParamGroup group) {
  std::vector<std::string> problems;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& registered : registered_)
    for (const Tensor& p : registered) seen.insert(&p.impl());
  const size_t index = groups_.size();
  complete_group(group, index, seen, problems);
  check_hyperparameters(group, index, problems);
  throw_if_problems(name_ + ".add_param_group", problems);
  register_group(std::move(group));
}

void Optimizer::register_group(ParamGroup group) {
  const size_t n = group.params.size();
  registered_.push_back(group.params);
  state_.emplace_back(n, ParamState{0, std::vector<Tensor>(buffers_.size())});
  groups_.push_back(std::move(group));
}

void Optimizer::step() {
  const std::string op = name_ + ".step";
  check_groups(op);
  std::vector<std::string> problems;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i];
      const Tensor grad = p.grad();
      if (grad.defined() &&
          (grad.dtype() != p.dtype() || grad.shape() != p.shape() || grad.device() != p.device()))
        problems.push_back(param_label(g, i) + ": gradient " + describe(grad) +
                           " does not match the parameter, " + describe(p));
    }
  }
  throw_if_problems(op, problems);
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      Tensor param = groups_[g].params[i];
      const Tensor grad = param.grad();
      if (!grad.defined()) continue;
      ParamState& state = state_[g][i];
      ++state.step;
      update(groups_[g], param, grad, state);
    }
  }
  ++step_count_;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const ParamGroup& group : groups_) {
    for (const Tensor& p : group.params) {
      if (set_to_none) {
        p.zero_grad();
      } else if (Tensor grad = p.grad(); grad.defined()) {
        if (detail::has_overlapping_elements(grad))  // an expanded gradient set by the caller
          p.set_grad(zeros_like(grad));
        else
          grad.zero_();
      }
    }
  }
}

double Optimizer::lr(size_t group) const {
  MG_CHECK(group < groups_.size(), name_ + ".lr", "group ", group, " out of range for ",
           groups_.size(), " groups");
  MG_CHECK(groups_[group].lr.has_value(), name_ + ".lr", "group ", group, " has no lr");
  return *groups_[group].lr;
}

void Optimizer::set_lr(double lr) {
  MG_CHECK(finite_non_negative(lr), name_ + ".set_lr", "lr = ", format_double(lr),
           " must be a finite number >= 0");
  for (ParamGroup& g : groups_) g.lr = lr;
}

void Optimizer::set_lr(size_t group, double lr) {
  MG_CHECK(group < groups_.size(), name_ + ".set_lr", "group ", group, " out of range for ",
           groups_.size(), " groups");
  MG_CHECK(finite_non_negative(lr), name_ + ".set_lr", "lr = ", format_double(lr),
           " must be a finite number >= 0");
  groups_[group].lr = lr;
}

const ParamState& Optimizer::param_state(size_t group, size_t index) const {
  MG_CHECK(group < state_.size() && index < state_[group].size(), name_ + ".param_state",
           "no parameter ", index, " in group ", group);
  return state_[group][index];
}

}  // namespace mixgrad::optim
