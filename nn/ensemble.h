#pragma once
// Ensembles from modules: stack_modules turns N structurally identical modules (one MLP per
// ensemble member, say) into one StackedModules whose parameters are the members' parameters
// stacked along a new leading dim, and whose forward runs every member at once: one batched GEMM
// per Linear layer, as fast as a hand-stacked ensemble (functorch's combine_state_for_ensemble +
// vmap, without the per-call overhead). unstack_into copies the stacked parameters back.
//
//   std::vector<std::shared_ptr<mg::nn::Module>> members = ...;  // 8 Sequential MLPs
//   auto ensemble = mg::nn::stack_modules(members);  // "0.weight": [8, out, in], "0.bias": [8,
//   out] mg::Tensor y = (*ensemble)(x);                   // x [B, in] or [8, B, in] -> [8, B, out]
//   ... train `ensemble` like any module ...
//   mg::nn::unstack_into(*ensemble, members);
//
// Which layer types have a batched form is a table (register_stacked_form). Built in: Linear,
// Sequential, Identity, ReLU, Tanh, Sigmoid, GELU, ELU, LeakyReLU, Softplus and Dropout.
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace mixgrad::nn {

class StackedModules;

// Runs one layer for all N members at once: `input` is [N, ...] (member i's input at index i)
// and so is the result. `layer` holds the stacked parameters (layer.stacked_parameter("weight")
// is [N, ...]), the stacked children and the training mode.
using StackedForward = std::function<Tensor(StackedModules& layer, const Tensor& input)>;
// Builds a layer type's StackedForward from member 0's layer, capturing the options it needs
// (the members agree on them: stacking compares their extra_repr(), so a registered type's
// extra_repr must show every option that changes its forward). It must not keep a reference to
// the member: a stacked module does not depend on its members.
using StackedFormFactory = std::function<StackedForward(const Module& member)>;

// Registers (or replaces) the batched form of the layer type `type`: the exact dynamic type, so
// a subclass needs its own entry. Thread-safe; affects later stack_modules calls.
void register_stacked_form(std::type_index type, StackedFormFactory factory);
template <std::derived_from<Module> M>
void register_stacked_form(std::function<StackedForward(const M& member)> factory) {
  register_stacked_form(typeid(M), [factory = std::move(factory)](const Module& member) {
    return factory(static_cast<const M&>(member));
  });
}
// Whether stack_modules can stack layers like `layer`: its dynamic type has a registered form,
// or it is an ElementwiseActivation (nn/activation.h), whose function is its batched form.
bool has_stacked_form(const Module& layer);

// N modules run as one. The top-level StackedModules mirrors the members' top module, and holds
// one nested StackedModules per submodule under the same name, so parameter names are the
// members' ("0.weight"), each with a leading dim N. An ordinary Module otherwise: train/eval,
// printing, optimizers, state_dict, to(), hooks.
class StackedModules : public Module {
 public:
  // Stacks copies of the members' parameters (no link to the members remains) and takes member
  // 0's training mode. `member_input_dim` is the number of dims of one member's input, batch
  // included: 2 for MLPs ([B, in]). Throws Error for an empty list, a null member, a
  // member_input_dim below 1, and the stack_modules errors.
  explicit StackedModules(const std::vector<std::shared_ptr<Module>>& modules,
                          int64_t member_input_dim = 2);

  // Top level: an input with member_input_dim dims is shared by every member (broadcast, not
  // copied); one with member_input_dim + 1 dims and leading dim N holds one input per member.
  // Either way the result is [N, ...]. A nested layer takes [N, ...] only. Throws Error for other
  // shapes, and the layers' own errors (a Linear's input width, say).
  Tensor forward(const Tensor& input) override;

  int64_t num_members() const { return num_members_; }
  // The members' module type at this node ("Sequential", "Linear").
  const std::string& member_type() const { return member_type_; }
  // This node's dotted path in the members ("" at the top).
  const std::string& path() const { return path_; }
  // "layer '0.2' (Linear)", or "the top-level Linear": for error messages of stacked forwards.
  std::string layer_name() const;
  // This node's own stacked parameter `name` ([N, ...]); throws Error if there is none.
  const Tensor& stacked_parameter(const std::string& name) const;
  // This node's stacked submodules, in the members' order.
  const std::vector<std::shared_ptr<StackedModules>>& stacked_children() const { return children_; }

  // "StackedModules" at the top, the members' type inside.
  std::string type_name() const override;
  // The members' extra_repr; at the top prefixed with the member count and type.
  std::string extra_repr() const override;

 private:
  friend void unstack_into(const Module& stacked,
                           const std::vector<std::shared_ptr<Module>>& modules);

  StackedModules(const std::vector<const Module*>& members, std::string path);
  void build(const std::vector<const Module*>& members);
  // Throws Error naming `what` and the first difference between `member` and this node's members.
  void check_matches(const Module& member, const std::string& what) const;
  // Copies slice `index` of every stacked parameter into `member`'s (which matches).
  void copy_slice_into(const Module& member, int64_t index) const;

  int64_t num_members_ = 0;
  std::string path_;
  bool top_ = false;
  int64_t member_input_dim_ = 0;
  std::type_index member_type_id_ = typeid(void);
  std::string member_type_;
  std::string member_repr_;
  NamedTensors own_;  // this node's stacked parameters, registration order
  std::vector<std::string> child_names_;
  std::vector<std::shared_ptr<StackedModules>> children_;
  StackedForward forward_;
};

// StackedModules(modules, member_input_dim): N >= 1 modules with the same structure (same dynamic
// types, child names, parameter names, shapes, dtypes, devices and requires_grad, and the same
// options as shown by extra_repr) and no buffers or forward hooks, every layer of a type with a
// batched form. Throws Error naming the first difference ("member 2 differs from member 0:
// parameter '0.weight' has shape [16, 10], expected [16, 12]") or the unsupported layer
// ("layer '2' is a BatchNorm1d, which has no batched form").
std::shared_ptr<StackedModules> stack_modules(const std::vector<std::shared_ptr<Module>>& modules,
                                              int64_t member_input_dim = 2);

// Copies slice i of every parameter of `stacked` (a StackedModules) into modules[i]'s, in place
// and without recording gradients. Throws Error, writing nothing, when `stacked` is not a
// StackedModules, the count differs from its member count, a module is null, or a module's
// structure differs from the stacked members' (types, options, parameter names and shapes).
void unstack_into(const Module& stacked, const std::vector<std::shared_ptr<Module>>& modules);

}  // namespace mixgrad::nn
