#pragma once
// Module: the base of every layer and model. A module owns named parameters, buffers and
// submodules; everything else (naming, recursion, printing, device/dtype moves, checkpoints)
// follows from that registry.
//
//   struct Net : mg::nn::Module {
//     mg::nn::Linear fc1{4, 16};                                  // held by value ...
//     std::shared_ptr<mg::nn::Linear> fc2 = std::make_shared<mg::nn::Linear>(16, 1);  // ... or not
//     Net() {
//       register_module("fc1", fc1);
//       register_module("fc2", fc2);
//     }
//     mg::Tensor forward(const mg::Tensor& x) override { return (*fc2)(mg::relu(fc1(x))); }
//   };
//
// Modules are neither copyable nor movable: a parent keeps pointers to the members it registered,
// so a module must stay where it was built (hold it by value in its parent, or by shared_ptr).
#include <concepts>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mixgrad::nn {

class Module;
using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

// Forward hooks see the module's tensor inputs and outputs. A pre-hook may rewrite the inputs, a
// hook may rewrite the outputs; both run only when registered, so modules without hooks pay
// nothing.
using ForwardPreHook = std::function<void(Module& module, std::vector<Tensor>& inputs)>;
using ForwardHook = std::function<void(Module& module, const std::vector<Tensor>& inputs,
                                       std::vector<Tensor>& outputs)>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The single-tensor forward that Sequential chains. Modules with other signatures (losses,
  // MoE layers returning auxiliary losses) define their own call operator instead; the default
  // throws.
  virtual Tensor forward(const Tensor& input);
  // forward() with the forward hooks around it.
  Tensor operator()(const Tensor& input);

  // Registration. Names must be non-empty, contain no '.', and be unique within the module
  // (across parameters, buffers and submodules); violations throw mixgrad::Error.
  // Returns the registered handle: it shares its data with the registry, so keep it as a member.
  // Parameters are leaves; `requires_grad` needs a floating dtype.
  Tensor register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  // Buffers are state that is not trained (running statistics, masks); `persistent` buffers
  // are part of state_dict() and checkpoints.
  Tensor register_buffer(const std::string& name, Tensor value, bool persistent = true);
  // Registers a submodule held by shared pointer; returns it for one-line member initialisation.
  template <std::derived_from<Module> M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Registers a submodule held by value inside this module (not owned by the registry: it must
  // live as long as this module, which is true of members).
  template <std::derived_from<Module> M>
  M& register_module(const std::string& name, M& member) {
    add_child(name, std::shared_ptr<Module>(std::shared_ptr<Module>(), &member));
    return member;
  }

  // Puts `module` in the place of the submodule registered as `name` (same name, same position
  // in every listing); the old one is no longer part of this module. Returns `module`. Throws
  // Error if no submodule has that name or `module` is null.
  std::shared_ptr<Module> replace_module(const std::string& name, std::shared_ptr<Module> module);

  // Recursive views, in registration order, with dotted names ("experts.3.w1"). A tensor or
  // module registered under several names (tied weights, a shared expert) appears once.
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedModules named_children() const;
  // This module (under `prefix`, "" by default) and every descendant, depth first.
  std::vector<std::pair<std::string, Module*>> named_modules(const std::string& prefix = "");
  // Parameter or buffer by dotted name; throws if there is none.
  Tensor find_tensor(const std::string& dotted_name) const;

  // Parameters and persistent buffers under every name, detached: what a checkpoint holds.
  NamedTensors state_dict() const;
  // Copies `state` into this module's tensors in place. Every mismatch (missing or unexpected
  // name with `strict`, shape, dtype) is reported in one Error before anything is written.
  void load_state_dict(const NamedTensors& state, bool strict = true);
  // The checks of load_state_dict without the copy: throws the same Error, writes nothing.
  void check_state_dict(const NamedTensors& state, bool strict = true) const;

  // Training mode switches dropout and similar layers; applies recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves/converts every parameter, buffer and gradient in place: the module's own handles and
  // copies of them (member fields, parameters() lists) see the change. Views taken earlier keep
  // the old data, and so does optimizer state: build optimizers after to(). to(dtype) converts
  // floating tensors only.
  Module& to(Device device);
  Module& to(DType dtype);
  void zero_grad();
  // Applies fn to this module and every descendant.
  void apply(const std::function<void(Module&)>& fn);

  int64_t num_parameters(bool trainable_only = false) const;

  // Class name shown in printouts; defaults to the demangled C++ class name without namespaces.
  virtual std::string type_name() const;
  // Constructor arguments shown in printouts, e.g. "in_features=4, out_features=8, bias=true".
  virtual std::string extra_repr() const { return ""; }
  // The module tree, one line per module, with parameter shapes and counts.
  std::string to_string() const;

  HookId register_forward_pre_hook(ForwardPreHook hook);
  HookId register_forward_hook(ForwardHook hook);
  // Removes a hook of either kind; unknown ids throw.
  void remove_hook(HookId id);
  bool has_forward_hooks() const { return !pre_hooks_.empty() || !hooks_.empty(); }

 protected:
  // body(inputs...) between the forward hooks: the one way a call operator runs hooks, whatever
  // tensors its forward takes. Costs nothing when no hook is registered.
  template <class Body, class... Inputs>
  Tensor call_hooked(Body&& body, const Inputs&... inputs) {
    if (!has_forward_hooks()) return body(inputs...);
    return run_hooks({inputs...}, [&](const std::vector<Tensor>& in) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return body(in[I]...);
      }
      (std::index_sequence_for<Inputs...>{});
    });
  }

 private:
  struct Buffer {
    Tensor tensor;
    bool persistent;
  };
  // Pre-hooks, body, hooks. Throws Error if a hook changes the number of inputs or outputs.
  Tensor run_hooks(std::vector<Tensor> inputs,
                   const std::function<Tensor(const std::vector<Tensor>&)>& body);
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_not_containing_this(const std::string& name, Module& child, const char* what);
  // `seen` (optional) drops tensors already collected.
  void collect_tensors(const std::string& prefix, bool recurse, bool parameters,
                       bool persistent_only, NamedTensors& out,
                       std::unordered_set<const TensorImpl*>* seen) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out,
                       std::unordered_set<const Module*>& seen);
  // (target, source) pairs to copy, or the Error listing every mismatch.
  std::vector<std::pair<Tensor, Tensor>> plan_load(const NamedTensors& state, bool strict) const;
  void print_tree(std::ostream& os, const std::string& indent) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Buffer>> buffers_;
  NamedModules children_;
  bool training_ = true;
  HookId next_hook_id_ = 1;
  std::vector<std::pair<HookId, ForwardPreHook>> pre_hooks_;
  std::vector<std::pair<HookId, ForwardHook>> hooks_;
};

std::ostream& operator<<(std::ostream& os, const Module& module);

}  // namespace mixgrad::nn
