#include "nn/ensemble.h"

#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "core/grad_mode.h"
#include "nn/activation.h"
#include "nn/containers.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "ops/elementwise.h"
#include "ops/functional.h"
#include "ops/join.h"
#include "ops/linalg.h"
#include "ops/view.h"

namespace mixgrad::nn {
namespace {

// ---- batched forms of the built-in layers ---------------------------------------------------

// y[i] = x[i] @ weight[i]^T + bias[i] for every member i in one batched GEMM. The transposed
// weight is a view and a shared input arrives broadcast (batch stride 0), so nothing is copied.
Tensor stacked_linear(StackedModules& layer, const Tensor& x, int64_t in_features, bool has_bias) {
  const int64_t n = layer.num_members();
  MG_CHECK(x.dim() >= 3 && x.size(-1) == in_features, "StackedModules", layer.layer_name(),
           " expects input [", n, ", batch..., ", in_features, "], got ", describe(x));
  const Tensor rows = x.dim() == 3 ? x : reshape(x, {n, -1, in_features});
  const Tensor weight_t = transpose(layer.stacked_parameter("weight"), 1, 2);  // [N, in, out]
  Tensor y = has_bias ? baddbmm(unsqueeze(layer.stacked_parameter("bias"), 1), rows, weight_t)
                      : bmm(rows, weight_t);
  if (x.dim() == 3) return y;
  Shape out_shape = x.shape();
  out_shape.back() = y.size(-1);
  return reshape(y, out_shape);
}

std::unordered_map<std::type_index, StackedFormFactory> builtin_forms() {
  std::unordered_map<std::type_index, StackedFormFactory> table;
  table[typeid(Linear)] = [](const Module& member) -> StackedForward {
    const auto& linear = static_cast<const Linear&>(member);
    return [in = linear.in_features(), has_bias = linear.bias.defined()](StackedModules& layer,
                                                                         const Tensor& x) {
      return stacked_linear(layer, x, in, has_bias);
    };
  };
  table[typeid(Sequential)] = [](const Module&) -> StackedForward {
    return [](StackedModules& layer, const Tensor& input) {
      Tensor x = input;
      for (const auto& child : layer.stacked_children()) x = (*child)(x);
      return x;
    };
  };
  table[typeid(Dropout)] = [](const Module& member) -> StackedForward {
    const auto& d = static_cast<const Dropout&>(member);
    // One mask over all members; the stacked layer's own training mode decides.
    return [p = d.p(), generator = d.generator()](StackedModules& layer, const Tensor& x) {
      return dropout(x, p, layer.is_training(), generator);
    };
  };
  table[typeid(Flatten)] = [](const Module& member) -> StackedForward {
    // The member's non-negative dims move up by one behind the leading member dim.
    const auto& f = static_cast<const Flatten&>(member);
    auto shift = [](int64_t d) { return d >= 0 ? d + 1 : d; };
    return [start = shift(f.start_dim()), end = shift(f.end_dim())](
               StackedModules&, const Tensor& x) { return flatten(x, start, end); };
  };
  return table;
}

struct FormTable {
  std::mutex mutex;
  std::unordered_map<std::type_index, StackedFormFactory> forms = builtin_forms();
};

FormTable& form_table() {
  static FormTable table;
  return table;
}

// A registered form for the member's type, else, for any element-wise activation, its own
// function run once on the whole [N, ...] tensor (with the member's options).
std::optional<StackedFormFactory> find_form(const Module& member) {
  {
    FormTable& table = form_table();
    std::lock_guard lock(table.mutex);
    auto it = table.forms.find(typeid(member));
    if (it != table.forms.end()) return it->second;
  }
  // (A subclass that added parameters or submodules is not just its function any more.)
  if (dynamic_cast<const ElementwiseActivation*>(&member) == nullptr ||
      !member.named_parameters().empty() || !member.named_children().empty())
    return std::nullopt;
  return [](const Module& m) -> StackedForward {
    return [function = static_cast<const ElementwiseActivation&>(m).function()](
               StackedModules&, const Tensor& x) { return function(x); };
  };
}

// ---- structure checks -----------------------------------------------------------------------

struct ParameterInfo {
  std::string name;
  Shape shape;  // one member's
  DType dtype;
  Device device;
  bool requires_grad;
};

// What must agree between the members at one node of the module tree.
struct LayerSignature {
  std::type_index type;
  std::string type_name;
  std::string options;  // extra_repr()
  std::vector<ParameterInfo> parameters;
  std::vector<std::string> children;
};

LayerSignature signature_of(const Module& m) {
  LayerSignature s{typeid(m), m.type_name(), m.extra_repr(), {}, {}};
  for (const auto& [name, t] : m.named_parameters(false))
    s.parameters.push_back({name, t.shape(), t.dtype(), t.device(), t.requires_grad()});
  for (const auto& [name, child] : m.named_children()) s.children.push_back(name);
  return s;
}

std::string join_path(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

std::string describe_layer(const std::string& path, const std::string& type) {
  return path.empty() ? "the top-level " + type : "layer '" + path + "' (" + type + ")";
}

std::string list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (const auto& name : names) out += (out.size() > 1 ? ", " : "") + name;
  return out + "]";
}

// The first way `got` differs from `expected` at `path`, or "" when they agree. `layout` also
// compares dtypes, devices and requires_grad (needed to stack, not to copy back).
std::string first_difference(const LayerSignature& expected, const LayerSignature& got,
                             const std::string& path, bool layout) {
  const std::string where = path.empty() ? "the top-level module" : "layer '" + path + "'";
  if (got.type != expected.type)
    return where + " is a " + got.type_name + ", expected a " + expected.type_name;
  const std::string layer = describe_layer(path, got.type_name);
  if (got.options != expected.options)
    return layer + " has options '" + got.options + "', expected '" + expected.options + "'";
  std::vector<std::string> got_names, expected_names;
  for (const auto& p : got.parameters) got_names.push_back(p.name);
  for (const auto& p : expected.parameters) expected_names.push_back(p.name);
  if (got_names != expected_names)
    return layer + " has parameters " + list(got_names) + ", expected " + list(expected_names);
  for (std::size_t i = 0; i < got.parameters.size(); ++i) {
    const ParameterInfo &g = got.parameters[i], &e = expected.parameters[i];
    const std::string param = "parameter '" + join_path(path, g.name) + "'";
    if (g.shape != e.shape)
      return param + " has shape " + detail::to_str(g.shape) + ", expected " +
             detail::to_str(e.shape);
    if (!layout) continue;
    if (g.dtype != e.dtype)
      return param + " has dtype " + dtype_name(g.dtype) + ", expected " + dtype_name(e.dtype);
    if (g.device != e.device)
      return param + " is on " + describe(g.device) + ", expected " + describe(e.device);
    if (g.requires_grad != e.requires_grad)
      return param + (g.requires_grad ? " requires grad" : " is frozen") + ", expected it " +
             (e.requires_grad ? "to require grad" : "frozen");
  }
  if (got.children != expected.children)
    return layer + " has submodules " + list(got.children) + ", expected " +
           list(expected.children);
  return "";
}

// The named child of each module (they have the same child names).
std::vector<const Module*> children_named(const std::vector<const Module*>& modules,
                                          std::size_t index) {
  std::vector<const Module*> out;
  for (const Module* m : modules) out.push_back(m->named_children()[index].second.get());
  return out;
}

}  // namespace

void register_stacked_form(std::type_index type, StackedFormFactory factory) {
  MG_CHECK(factory != nullptr, "register_stacked_form", "factory is empty");
  FormTable& table = form_table();
  std::lock_guard lock(table.mutex);
  table.forms[type] = std::move(factory);
}

bool has_stacked_form(const Module& layer) {
  return find_form(layer).has_value();
}

// ---- StackedModules -------------------------------------------------------------------------

StackedModules::StackedModules(const std::vector<std::shared_ptr<Module>>& modules,
                               int64_t member_input_dim)
    : top_(true), member_input_dim_(member_input_dim) {
  MG_CHECK(!modules.empty(), "stack_modules", "needs at least one module, got an empty list");
  MG_CHECK(member_input_dim >= 1, "stack_modules", "member_input_dim must be at least 1, got ",
           member_input_dim);
  std::vector<const Module*> members;
  for (std::size_t i = 0; i < modules.size(); ++i) {
    MG_CHECK(modules[i] != nullptr, "stack_modules", "module ", i, " is null");
    members.push_back(modules[i].get());
  }
  build(members);
  train(modules[0]->is_training());
}

StackedModules::StackedModules(const std::vector<const Module*>& members, std::string path)
    : path_(std::move(path)) {
  build(members);
}

void StackedModules::build(const std::vector<const Module*>& members) {
  const Module& first = *members[0];
  const LayerSignature expected = signature_of(first);
  for (std::size_t i = 1; i < members.size(); ++i) {
    const std::string difference =
        first_difference(expected, signature_of(*members[i]), path_, true);
    MG_CHECK(difference.empty(), "stack_modules", "member ", i,
             " differs from member 0: ", difference);
  }
  const std::string where = path_.empty() ? "the top-level module" : "layer '" + path_ + "'";
  std::optional<StackedFormFactory> form = find_form(first);
  MG_CHECK(form.has_value(), "stack_modules", where, " is a ", expected.type_name,
           ", which has no batched form (see register_stacked_form)");
  MG_CHECK(first.named_buffers(false).empty(), "stack_modules", where, " is a ", expected.type_name,
           " with buffers, which stack_modules does not stack");
  for (std::size_t i = 0; i < members.size(); ++i) {
    MG_CHECK(!members[i]->has_forward_hooks(), "stack_modules", where, " of member ", i,
             " has forward hooks, which the stacked module would not run");
  }

  num_members_ = static_cast<int64_t>(members.size());
  member_type_id_ = expected.type;
  member_type_ = expected.type_name;
  member_repr_ = expected.options;
  {
    NoGradGuard no_grad;
    for (const ParameterInfo& p : expected.parameters) {
      std::vector<Tensor> slices;
      for (const Module* m : members) slices.push_back(m->find_tensor(p.name).detach());
      own_.emplace_back(p.name, register_parameter(p.name, stack(slices, 0), p.requires_grad));
    }
  }
  for (std::size_t c = 0; c < expected.children.size(); ++c) {
    const std::string& name = expected.children[c];
    std::shared_ptr<StackedModules> child(
        new StackedModules(children_named(members, c), join_path(path_, name)));
    child_names_.push_back(name);
    children_.push_back(register_module(name, child));
  }
  forward_ = (*form)(first);
}

Tensor StackedModules::forward(const Tensor& input) {
  MG_CHECK(input.defined(), "StackedModules", layer_name(), " got an undefined input");
  if (!top_) {
    MG_CHECK(input.dim() >= 1 && input.size(0) == num_members_, "StackedModules", layer_name(),
             " expects input [", num_members_, ", ...], got ", describe(input));
    return forward_(*this, input);
  }
  if (input.dim() == member_input_dim_ + 1 && input.size(0) == num_members_)
    return forward_(*this, input);
  MG_CHECK(input.dim() == member_input_dim_, "StackedModules", "expected an input of ",
           member_input_dim_, " dims (shared by all ", num_members_, " members) or of ",
           member_input_dim_ + 1, " dims with leading dim ", num_members_,
           " (one per member), got ", describe(input));
  Shape shared = input.shape();
  shared.insert(shared.begin(), num_members_);
  return forward_(*this, expand(unsqueeze(input, 0), shared));
}

std::string StackedModules::layer_name() const {
  return describe_layer(path_, member_type_);
}

const Tensor& StackedModules::stacked_parameter(const std::string& name) const {
  for (const auto& [own_name, t] : own_) {
    if (own_name == name) return t;
  }
  throw Error("StackedModules", layer_name() + " has no parameter '" + name + "'");
}

std::string StackedModules::type_name() const {
  return top_ ? "StackedModules" : member_type_;
}

std::string StackedModules::extra_repr() const {
  if (!top_) return member_repr_;
  std::string out = "members=" + std::to_string(num_members_) + ", module=" + member_type_;
  return member_repr_.empty() ? out : out + ", " + member_repr_;
}

void StackedModules::check_matches(const Module& member, const std::string& what) const {
  LayerSignature expected{member_type_id_, member_type_, member_repr_, {}, child_names_};
  for (const auto& [name, t] : own_) {
    const Shape& s = t.shape();
    expected.parameters.push_back(
        {name, Shape(s.begin() + 1, s.end()), t.dtype(), t.device(), t.requires_grad()});
  }
  const std::string difference = first_difference(expected, signature_of(member), path_, false);
  MG_CHECK(difference.empty(), "unstack_into", what,
           " does not match the stacked modules: ", difference);
  const NamedModules member_children = member.named_children();
  for (std::size_t c = 0; c < children_.size(); ++c)
    children_[c]->check_matches(*member_children[c].second, what);
}

void StackedModules::copy_slice_into(const Module& member, int64_t index) const {
  for (const auto& [name, t] : own_) member.find_tensor(name).detach().copy_(select(t, 0, index));
  const NamedModules member_children = member.named_children();
  for (std::size_t c = 0; c < children_.size(); ++c)
    children_[c]->copy_slice_into(*member_children[c].second, index);
}

std::shared_ptr<StackedModules> stack_modules(const std::vector<std::shared_ptr<Module>>& modules,
                                              int64_t member_input_dim) {
  return std::make_shared<StackedModules>(modules, member_input_dim);
}

void unstack_into(const Module& stacked, const std::vector<std::shared_ptr<Module>>& modules) {
  const auto* top = dynamic_cast<const StackedModules*>(&stacked);
  MG_CHECK(top != nullptr, "unstack_into", "expected a StackedModules (from stack_modules), got a ",
           stacked.type_name());
  MG_CHECK(static_cast<int64_t>(modules.size()) == top->num_members(), "unstack_into",
           "the stacked modules have ", top->num_members(), " members, got ", modules.size(),
           " modules");
  for (std::size_t i = 0; i < modules.size(); ++i) {
    MG_CHECK(modules[i] != nullptr, "unstack_into", "module ", i, " is null");
    top->check_matches(*modules[i], "module " + std::to_string(i));
  }
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < modules.size(); ++i)
    top->copy_slice_into(*modules[i], static_cast<int64_t>(i));
}

}  // namespace mixgrad::nn
