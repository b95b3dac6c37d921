// Optimizer::state_dict and load_state_dict: the whole state as named tensors and exact decimal
// scalars, and its restoration, checked completely before anything changes.
#include <set>

#include "core/grad_mode.h"
#include "optim/hyperparameters.h"
#include "optim/optimizer.h"
#include "optim/state_text.h"

namespace mixgrad::optim {

namespace detail {

// Reads a snapshot into a candidate state next to the optimizer's, collecting every problem;
// install() swaps it in once there are none.
class StateLoader {
 public:
  explicit StateLoader(Optimizer& opt) : opt_(opt), groups_(opt.groups_) {
    for (const ParamGroup& g : groups_)
      state_.emplace_back(g.params.size(), ParamState{0, std::vector<Tensor>(opt.buffers_.size())});
    fields_seen_.resize(groups_.size());
  }

  void read(const OptimizerState& in) {
    for (const auto& [name, value] : in.scalars) read_scalar(name, value);
    for (const auto& [name, t] : in.tensors) read_tensor(name, t);
    check_complete();
    install_extras_ = opt_.load_extra(extras_, problems_);
  }

  const std::vector<std::string>& problems() const { return problems_; }

  void install() {
    {
      NoGradGuard no_grad;  // private copies: the snapshot and the optimizer stay independent
      for (size_t g = 0; g < state_.size(); ++g)
        for (size_t i = 0; i < state_[g].size(); ++i)
          for (Tensor& b : state_[g][i].buffers)
            if (b.defined()) b = b.to(groups_[g].params[i].device()).clone();
    }
    opt_.groups_ = std::move(groups_);
    opt_.state_ = std::move(state_);
    opt_.step_count_ = step_.value_or(0);
    if (install_extras_) install_extras_();
  }

 private:
  void read_scalar(const std::string& name, const std::string& value) {
    const auto parts = split_name(name);
    if (name == "optimizer") {
      has_name_ = true;
      if (value != opt_.name_)
        problems_.push_back("the state is from " + value + ", not " + opt_.name_);
    } else if (name == "step") {
      step_ = parse_int(value).value_or(-1);
      if (*step_ < 0) problems_.push_back("'step' = " + quoted(value) + " is not an integer >= 0");
    } else if (parts.size() == 2 && parts[0] == "config") {
      read_setting(name, std::string(parts[1]), value);
    } else if (parts.size() == 3 && parts[0] == "group" && parse_index(parts[1])) {
      read_group_field(name, *parse_index(parts[1]), std::string(parts[2]), value);
    } else if (parts.size() == 4 && parts[0] == "state" && parts[3] == "step") {
      const auto where = locate(parts[1], parts[2], name);
      if (!where) return;
      const auto v = parse_int(value);
      if (!v || *v < 1)
        problems_.push_back(quoted(name) + " = " + quoted(value) + " is not an integer >= 1");
      else
        state_[where->first][where->second].step = *v;
    } else {
      extras_[name] = value;  // the subclass's, or unknown
    }
  }

  void read_setting(const std::string& name, const std::string& key, const std::string& value) {
    const auto it = settings_.find(key);
    if (it == settings_.end()) {
      problems_.push_back("unknown setting " + quoted(name));
      return;
    }
    settings_seen_.insert(key);
    if (value != it->second)
      problems_.push_back(quoted(name) + " is " + quoted(value) + " in the state but " +
                          quoted(it->second) + " in this optimizer");
  }

  void read_group_field(const std::string& name, size_t g, const std::string& field,
                        const std::string& value) {
    state_groups_ = std::max(state_groups_, g + 1);
    if (g >= groups_.size()) return;  // reported once, as a count mismatch
    if (field == "params") {
      const auto count = parse_index(value);
      if (!count || *count != groups_[g].params.size())
        problems_.push_back(quoted(name) + " = " + quoted(value) + " but group " +
                            std::to_string(g) + " has " + std::to_string(groups_[g].params.size()) +
                            " parameters");
      fields_seen_[g].insert(field);
      return;
    }
    const HyperParameter* hp = find_hyperparameter(field);
    if (!hp || !(opt_.defaults_.*hp->field).has_value()) {
      problems_.push_back("unknown scalar " + quoted(name));
      return;
    }
    fields_seen_[g].insert(field);
    if (const auto v = parse_double(value))
      groups_[g].*hp->field = *v;  // range-checked with the whole group in check_complete()
    else
      problems_.push_back(quoted(name) + " = " + quoted(value) + " is not a number");
  }

  void read_tensor(const std::string& name, const Tensor& t) {
    tensor_names_.insert(name);
    const auto parts = split_name(name);
    const auto& buffers = opt_.buffers_;
    size_t k = 0;
    while (parts.size() == 4 && k < buffers.size() && parts[3] != buffers[k].name) ++k;
    if (parts.size() != 4 || parts[0] != "state" || k == buffers.size()) {
      problems_.push_back("unknown tensor " + quoted(name));
      return;
    }
    const auto where = locate(parts[1], parts[2], name);
    if (!where) return;
    const auto [g, i] = *where;
    const Tensor& p = groups_[g].params[i];
    Tensor& slot = state_[g][i].buffers[k];
    if (!t.defined())
      problems_.push_back("tensor " + quoted(name) + " is undefined");
    else if (t.shape() != p.shape() || t.dtype() != p.dtype())
      problems_.push_back("tensor " + quoted(name) + " is " + describe(t) + " but " +
                          param_label(g, i) + " is " + describe(p));
    else if (slot.defined())
      problems_.push_back("tensor " + quoted(name) + " is given twice");
    else
      slot = t;
  }

  // Everything that must be present is, and every group's hyperparameters are in range.
  void check_complete() {
    if (!has_name_) problems_.push_back("missing scalar 'optimizer'");
    if (!step_) problems_.push_back("missing scalar 'step'");
    for (const auto& entry : settings_)
      if (!settings_seen_.count(entry.first))
        problems_.push_back("missing scalar " + quoted("config." + entry.first));
    if (state_groups_ != groups_.size())
      problems_.push_back("the state has " + std::to_string(state_groups_) +
                          " parameter groups, this optimizer " + std::to_string(groups_.size()));
    for (size_t g = 0; g < groups_.size() && g < state_groups_; ++g) {
      const std::string prefix = "group." + std::to_string(g) + ".";
      if (!fields_seen_[g].count("params"))
        problems_.push_back("missing scalar " + quoted(prefix + "params"));
      for (const HyperParameter& hp : hyperparameters())
        if ((opt_.defaults_.*hp.field).has_value() && !fields_seen_[g].count(hp.name))
          problems_.push_back("missing scalar " + quoted(prefix + hp.name));
      opt_.check_hyperparameters(groups_[g], g, problems_);
    }
    for (size_t g = 0; g < state_.size(); ++g)
      for (size_t i = 0; i < state_[g].size(); ++i) check_param_state(g, i);
  }

  // A stepped parameter has every required buffer; buffers come with a step count.
  void check_param_state(size_t g, size_t i) {
    const ParamState& s = state_[g][i];
    for (size_t k = 0; k < opt_.buffers_.size(); ++k) {
      const std::string name = state_prefix(g, i) + opt_.buffers_[k].name;
      if (s.step == 0 && s.buffers[k].defined())
        problems_.push_back("tensor " + quoted(name) + " belongs to a parameter without " +
                            quoted(state_prefix(g, i) + "step"));
      else if (s.step > 0 && opt_.buffers_[k].required_once_stepped && !s.buffers[k].defined() &&
               !tensor_names_.count(name))  // a present but bad tensor is reported already
        problems_.push_back("missing tensor " + quoted(name));
    }
  }

  // The (group, index) of "<group>.<index>" in a state name; reports names out of range.
  std::optional<std::pair<size_t, size_t>> locate(std::string_view g_text, std::string_view i_text,
                                                  const std::string& name) {
    const auto g = parse_index(g_text), i = parse_index(i_text);
    if (!g || !i || *g >= groups_.size() || *i >= groups_[*g].params.size()) {
      problems_.push_back(quoted(name) + " names no parameter of this optimizer");
      return std::nullopt;
    }
    return std::make_pair(*g, *i);
  }

  Optimizer& opt_;
  const std::map<std::string, std::string> settings_ = opt_.config();
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;
  std::optional<int64_t> step_;
  bool has_name_ = false;
  std::set<std::string> settings_seen_;
  std::vector<std::set<std::string>> fields_seen_;
  size_t state_groups_ = 0;  // groups the snapshot describes
  std::set<std::string> tensor_names_;
  std::map<std::string, std::string> extras_;
  std::function<void()> install_extras_;
  std::vector<std::string> problems_;
};

}  // namespace detail

OptimizerState Optimizer::state_dict() const {
  using detail::format_double;
  using detail::format_int;
  NoGradGuard no_grad;
  OptimizerState out;
  out.scalars["optimizer"] = name_;
  out.scalars["step"] = format_int(step_count_);
  for (const auto& [key, value] : config()) out.scalars["config." + key] = value;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = "group." + std::to_string(g) + ".";
    out.scalars[prefix + "params"] = format_int(static_cast<int64_t>(groups_[g].params.size()));
    for (const detail::HyperParameter& hp : detail::hyperparameters())
      if (const auto& value = groups_[g].*hp.field; value)
        out.scalars[prefix + hp.name] = format_double(*value);
    for (size_t i = 0; i < state_[g].size(); ++i) {
      const ParamState& s = state_[g][i];
      if (s.step == 0) continue;
      const std::string names = detail::state_prefix(g, i);
      out.scalars[names + "step"] = format_int(s.step);
      for (size_t k = 0; k < buffers_.size(); ++k)
        if (s.buffers[k].defined())
          out.tensors.emplace_back(names + buffers_[k].name, s.buffers[k].clone());
    }
  }
  save_extra(out.scalars);
  return out;
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  detail::StateLoader loader(*this);
  loader.read(state);
  detail::throw_if_problems(name_ + ".load_state_dict", loader.problems());
  loader.install();
}

}  // namespace mixgrad::optim
