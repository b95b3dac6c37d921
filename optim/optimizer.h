#pragma once
// Optimizer: the base of mixgrad's optimizers (SGD, Adam, AdamW, AdamWR). It owns the parameter
// groups and the per-parameter state, runs every update under NoGradGuard, writing the
// parameters in place, and turns its whole state into named tensors and decimal scalars
// (state_dict) that a checkpoint can store and load_state_dict can restore exactly.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mixgrad::optim {

namespace detail {
class StateLoader;
}

// Parameters that share hyperparameters. Unset fields take the optimizer's defaults; the
// constructor fills them in, so afterwards every hyperparameter the optimizer uses is set (and
// may be changed between steps, e.g. by an LR scheduler). Setting one the optimizer does not use
// (momentum for Adam) is an error.
struct ParamGroup {
  std::vector<Tensor> params = {};
  std::optional<double> lr = std::nullopt;
  std::optional<double> weight_decay = std::nullopt;
  // SGD: momentum factor, and how much of each new gradient the momentum buffer skips.
  std::optional<double> momentum = std::nullopt;
  std::optional<double> dampening = std::nullopt;
  // Adam family: decay rates of the gradient and squared-gradient averages, and the term added
  // to the denominator.
  std::optional<double> beta1 = std::nullopt;
  std::optional<double> beta2 = std::nullopt;
  std::optional<double> eps = std::nullopt;
};

// One group holding all of `params` (what the optimizers' vector<Tensor> constructors use).
std::vector<ParamGroup> single_group(std::vector<Tensor> params);

// A checkpointable snapshot: named tensors and scalars written as decimal strings that parse
// back exactly. Optimizer names (see Optimizer::state_dict):
//   tensors  state.<group>.<param>.<buffer>   e.g. state.0.3.exp_avg
//   scalars  optimizer                         "SGD", "Adam", ...
//            step                              step() calls so far
//            group.<group>.params              number of parameters in the group
//            group.<group>.<hyperparameter>    e.g. group.0.lr = "0.001"
//            state.<group>.<param>.step        updates applied to that parameter
//            config.<setting>                  construction settings that must match on load
//            schedule.epoch                    AdamWR's position, when the caller places it
struct OptimizerState {
  std::vector<std::pair<std::string, Tensor>> tensors = {};
  std::map<std::string, std::string> scalars = {};
};

// What an optimizer keeps for one parameter between steps.
struct ParamState {
  int64_t step = 0;                  // updates applied to this parameter so far
  std::vector<Tensor> buffers = {};  // indexed like the optimizer's buffers(); undefined until used
};

// A per-parameter state tensor an optimizer keeps.
struct BufferSpec {
  std::string name = {};
  bool required_once_stepped = false;  // a parameter that has been updated must have it
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter that has a gradient (parameters without one are skipped), in place
  // and without recording. Throws Error, before changing anything, when a gradient's dtype,
  // shape or device differs from its parameter's, when a hyperparameter is out of range, or
  // when the parameter lists were edited (use add_param_group()).
  virtual void step();
  // Clears the gradients. set_to_none (PyTorch's default) drops them, so the next backward pass
  // stores fresh ones without an extra add; otherwise they are filled with zeros in place (an
  // expanded gradient set by hand is replaced by zeros).
  void zero_grad(bool set_to_none = true);

  // The groups; hyperparameters may be changed between steps, parameter lists may not.
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Adds a group, validated and completed like the constructor's (same errors).
  void add_param_group(ParamGroup group);

  // Learning rate of a group; throws Error for a bad index.
  double lr(size_t group = 0) const;
  // Sets the learning rate of every group / of one group; throws Error for a negative or
  // non-finite lr or a bad index.
  void set_lr(double lr);
  void set_lr(size_t group, double lr);

  // "SGD", "Adam", ... (also the op name in this optimizer's errors).
  const std::string& name() const { return name_; }
  int64_t step_count() const { return step_count_; }
  const std::vector<BufferSpec>& buffers() const { return buffers_; }
  // The state of parameter `index` of `group`; throws Error for bad indices.
  const ParamState& param_state(size_t group, size_t index) const;

  // A snapshot of the whole state (tensors are copies, see OptimizerState for the names).
  OptimizerState state_dict() const;
  // Restores a snapshot taken from an optimizer of the same kind, settings and parameter
  // shapes, hyperparameters included (as PyTorch does). Everything is checked first (names, shapes,
  // dtypes, numbers, group sizes, settings); on any problem it throws one Error listing them all
  // and the optimizer is unchanged. Tensors are copied, so the snapshot stays independent.
  void load_state_dict(const OptimizerState& state);

 protected:
  // `defaults` holds a value for every hyperparameter this optimizer uses (its params are
  // ignored); `buffers` names the per-parameter state tensors. Throws Error for an empty
  // parameter list, undefined, non-floating, non-leaf, overlapping or repeated parameters,
  // a hyperparameter out of range or one the optimizer does not use.
  Optimizer(std::string name, std::vector<ParamGroup> groups, ParamGroup defaults,
            std::vector<BufferSpec> buffers);

  // One parameter's update (grad mode is off; `param` may be written in place; state.step has
  // already been incremented). Must not throw for inputs that passed step()'s checks.
  virtual void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
                      ParamState& state) = 0;
  // Rules across a group's hyperparameters beyond each one's range (SGD: Nesterov momentum);
  // appends a message per problem. Subclasses with rules call check_groups() in their
  // constructor, since the base constructor cannot reach this override.
  virtual void check_group(const ParamGroup& group, const std::string& where,
                           std::vector<std::string>& problems) const;
  // Construction settings a loaded state must match exactly, e.g. {"amsgrad", "1"}.
  virtual std::map<std::string, std::string> config() const;
  // Scalars a subclass adds to the state (AdamWR's schedule position).
  virtual void save_extra(std::map<std::string, std::string>& scalars) const;
  // Checks `extras` (the scalars the base does not know) and returns what installs them (run
  // only if the whole load is valid), or adds problems. The default accepts none.
  virtual std::function<void()> load_extra(const std::map<std::string, std::string>& extras,
                                           std::vector<std::string>& problems);
  // Throws Error(op) if a group's hyperparameters are invalid or a parameter list was edited.
  void check_groups(const std::string& op) const;

 private:
  friend class detail::StateLoader;  // load_state_dict's checks (optimizer_state.cpp)

  // Fills a group's unset hyperparameters from the defaults and checks its parameters against
  // each other and the `seen` ones (which it extends); appends problems instead of throwing.
  void complete_group(ParamGroup& group, size_t index, std::unordered_set<const TensorImpl*>& seen,
                      std::vector<std::string>& problems) const;
  void check_hyperparameters(const ParamGroup& group, size_t index,
                             std::vector<std::string>& problems) const;
  // Appends a checked, completed group with fresh state.
  void register_group(ParamGroup group);

  std::string name_;
  ParamGroup defaults_;
  std::vector<BufferSpec> buffers_;
  std::vector<ParamGroup> groups_;
  // The parameters as registered, to notice edits of the (mutable) groups.
  std::vector<std::vector<Tensor>> registered_;
  std::vector<std::vector<ParamState>> state_;
  int64_t step_count_ = 0;
};

}  // namespace mixgrad::optim
