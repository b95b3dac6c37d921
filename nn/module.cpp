#include "nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "autograd/autograd_meta.h"
#include "core/grad_mode.h"

namespace mixgrad::nn {
namespace {

// Points every handle of `target` at `replacement`'s data: member fields, optimizers and the
// registry all share one TensorImpl, so rewriting it in place is what keeps them in sync.
void rebind_data(const Tensor& target, const Tensor& replacement) {
  TensorImpl& impl = target.impl();
  const TensorImpl& src = replacement.impl();
  impl.storage = src.storage;
  impl.sizes = src.sizes;
  impl.strides = src.strides;
  impl.offset = src.offset;
  impl.dtype = src.dtype;
  impl.is_view = false;
}

template <class Convert>
void convert_in_place(const Tensor& t, Convert&& convert) {
  NoGradGuard no_grad;
  Tensor converted = convert(t.detach());
  if (converted.storage() == t.storage()) return;  // already there
  Tensor grad = t.impl().autograd ? t.grad() : Tensor();
  rebind_data(t, converted);
  if (auto& meta = t.impl().autograd) {
    // The cached AccumulateGrad describes the old dtype/device; the next graph makes a new one.
    meta->grad_accumulator.reset();
    if (grad.defined()) meta->grad = convert(grad);
  }
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// "float32[8, 4]", plus the device when it is not the CPU.
std::string summary(const Tensor& t) {
  std::string s = std::string(dtype_name(t.dtype())) + detail::to_str(t.shape());
  return t.device() == Device::cpu() ? s : s + " on " + describe(t.device());
}

std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

Module::~Module() = default;

Tensor Module::forward(const Tensor&) {
  throw Error(type_name() + ".forward",
              "this module does not take a single tensor; call it with its own arguments");
}

Tensor Module::operator()(const Tensor& input) {
  return call_hooked([this](const Tensor& x) { return forward(x); }, input);
}

Tensor Module::run_hooks(std::vector<Tensor> inputs,
                         const std::function<Tensor(const std::vector<Tensor>&)>& body) {
  const std::size_t arity = inputs.size();
  // Copies: a hook may remove itself (or others) while running.
  auto pre_hooks = pre_hooks_;
  for (auto& [id, hook] : pre_hooks) hook(*this, inputs);
  MG_CHECK(inputs.size() == arity, type_name() + ".forward", "a forward pre-hook left ",
           inputs.size(), " inputs; this module takes ", arity);
  std::vector<Tensor> outputs{body(inputs)};
  auto hooks = hooks_;
  for (auto& [id, hook] : hooks) hook(*this, inputs, outputs);
  MG_CHECK(outputs.size() == 1, type_name() + ".forward", "a forward hook left ", outputs.size(),
           " outputs; this module returns 1");
  return outputs[0];
}

void Module::check_new_name(const std::string& name, const char* what) const {
  const std::string op = type_name() + "." + what;
  MG_CHECK(!name.empty(), op, "name must not be empty");
  MG_CHECK(name.find('.') == std::string::npos, op, "name '", name,
           "' must not contain '.' (dots separate nested module names)");
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
  };
  MG_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), op, "name '", name,
           "' is already registered in this module");
}

Tensor Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name, "register_parameter");
  MG_CHECK(value.defined(), type_name() + ".register_parameter", "parameter '", name,
           "' is an undefined tensor");
  MG_CHECK(value.is_leaf(), type_name() + ".register_parameter", "parameter '", name,
           "' has a grad_fn; register a leaf (use detach())");
  value.requires_grad_(requires_grad);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value, bool persistent) {
  check_new_name(name, "register_buffer");
  MG_CHECK(value.defined(), type_name() + ".register_buffer", "buffer '", name,
           "' is an undefined tensor");
  MG_CHECK(value.is_leaf(), type_name() + ".register_buffer", "buffer '", name,
           "' has a grad_fn; register state, not a graph (use detach())");
  buffers_.emplace_back(name, Buffer{value, persistent});
  return value;
}

std::shared_ptr<Module> Module::replace_module(const std::string& name,
                                               std::shared_ptr<Module> module) {
  MG_CHECK(module != nullptr, type_name() + ".replace_module", "submodule '", name, "' is null");
  check_not_containing_this(name, *module, "replace_module");
  for (auto& [child_name, child] : children_) {
    if (child_name != name) continue;
    child = module;
    return module;
  }
  throw Error(type_name() + ".replace_module", "no submodule is registered as '" + name + "'");
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name, "register_module");
  MG_CHECK(child != nullptr, type_name() + ".register_module", "submodule '", name, "' is null");
  check_not_containing_this(name, *child, "register_module");
  children_.emplace_back(name, std::move(child));
}

void Module::check_not_containing_this(const std::string& name, Module& child, const char* what) {
  bool contains_this = false;
  child.apply([&](Module& m) { contains_this = contains_this || &m == this; });
  MG_CHECK(!contains_this, type_name() + "." + what, "submodule '", name,
           "' contains this module: a module tree cannot have cycles");
}

void Module::collect_tensors(const std::string& prefix, bool recurse, bool parameters,
                             bool persistent_only, NamedTensors& out,
                             std::unordered_set<const TensorImpl*>* seen) const {
  auto add = [&](const std::string& name, const Tensor& t) {
    if (seen == nullptr || seen->insert(&t.impl()).second)
      out.emplace_back(join_name(prefix, name), t);
  };
  if (parameters) {
    for (const auto& [name, t] : parameters_) add(name, t);
  } else {
    for (const auto& [name, b] : buffers_) {
      if (!persistent_only || b.persistent) add(name, b.tensor);
    }
  }
  if (!recurse) return;
  for (const auto& [name, child] : children_) {
    child->collect_tensors(join_name(prefix, name), true, parameters, persistent_only, out, seen);
  }
}

// Shared tensors (tied weights, a module registered twice) appear once, under their first name,
// as in PyTorch: an optimizer must not update a tensor twice.
NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  collect_tensors("", recurse, true, false, out, &seen);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  collect_tensors("", recurse, false, false, out, &seen);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

NamedModules Module::named_children() const {
  // Children held by value are not owned by their pointers; hand them out sharing the
  // parent's ownership (when it has one) so a kept pointer cannot outlive its parent.
  std::shared_ptr<const Module> owner = weak_from_this().lock();
  NamedModules out;
  for (const auto& [name, child] : children_) {
    out.emplace_back(name,
                     child.use_count() == 0 ? std::shared_ptr<Module>(owner, child.get()) : child);
  }
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, Module*>> out;
  std::unordered_set<const Module*> seen;
  collect_modules(prefix, out, seen);
  return out;
}

void Module::collect_modules(const std::string& prefix,
                             std::vector<std::pair<std::string, Module*>>& out,
                             std::unordered_set<const Module*>& seen) {
  if (!seen.insert(this).second) return;
  out.emplace_back(prefix, this);
  for (const auto& [name, child] : children_)
    child->collect_modules(join_name(prefix, name), out, seen);
}

Tensor Module::find_tensor(const std::string& dotted_name) const {
  for (const auto& list : {named_parameters(), named_buffers()}) {
    for (const auto& [name, t] : list) {
      if (name == dotted_name) return t;
    }
  }
  throw Error(type_name() + ".find_tensor", "no parameter or buffer named '" + dotted_name + "'");
}

// Every name, shared tensors included (PyTorch's state_dict keeps tied weights under each
// name); detached, so a state dict is data, not part of any graph.
NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect_tensors("", true, true, false, out, nullptr);
  collect_tensors("", true, false, true, out, nullptr);
  for (auto& [name, t] : out) t = t.detach();
  return out;
}

std::vector<std::pair<Tensor, Tensor>> Module::plan_load(const NamedTensors& state,
                                                         bool strict) const {
  const NamedTensors own = state_dict();
  std::vector<std::string> problems;
  std::vector<std::pair<Tensor, Tensor>> copies;  // target, source
  for (const auto& [name, target] : own) {
    // Named copy: clang 14 cannot capture a structured binding (P1091 came in clang 16).
    const std::string& wanted = name;
    auto it =
        std::find_if(state.begin(), state.end(), [&](const auto& e) { return e.first == wanted; });
    if (it == state.end()) {
      if (strict) problems.push_back("missing '" + name + "'");
      continue;
    }
    const Tensor& source = it->second;
    if (!source.defined()) {
      problems.push_back("'" + name + "' is an undefined tensor");
    } else if (source.shape() != target.shape()) {
      problems.push_back("'" + name + "' has shape " + detail::to_str(source.shape()) +
                         ", the module expects " + detail::to_str(target.shape()));
    } else if (source.dtype() != target.dtype()) {
      problems.push_back("'" + name + "' has dtype " + dtype_name(source.dtype()) +
                         ", the module expects " + dtype_name(target.dtype()));
    } else {
      copies.emplace_back(target, source);
    }
  }
  if (strict) {
    for (const auto& [name, t] : state) {
      const std::string& given = name;  // clang 14: no lambda capture of a structured binding
      bool known =
          std::any_of(own.begin(), own.end(), [&](const auto& e) { return e.first == given; });
      if (!known) problems.push_back("unexpected '" + name + "'");
    }
  }
  if (!problems.empty()) {
    std::string detail = std::to_string(problems.size()) + " mismatch(es), nothing was loaded:";
    for (const auto& p : problems) detail += "\n  " + p;
    throw Error(type_name() + ".load_state_dict", detail);
  }
  return copies;
}

void Module::check_state_dict(const NamedTensors& state, bool strict) const {
  plan_load(state, strict);
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  auto copies = plan_load(state, strict);
  NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.detach().copy_(source.to(target.device()));
}

void Module::train(bool on) {
  apply([on](Module& m) { m.training_ = on; });
}

Module& Module::to(Device device) {
  apply([device](Module& m) {
    auto move = [device](const Tensor& t) { return t.to(device); };
    for (auto& [name, t] : m.parameters_) convert_in_place(t, move);
    for (auto& [name, b] : m.buffers_) convert_in_place(b.tensor, move);
  });
  return *this;
}

Module& Module::to(DType dtype) {
  MG_CHECK(is_floating(dtype), type_name() + ".to", "modules convert to floating dtypes only, got ",
           dtype);
  apply([dtype](Module& m) {
    auto cast = [dtype](const Tensor& t) { return t.to(dtype); };
    for (auto& [name, t] : m.parameters_) {
      if (t.is_floating_point()) convert_in_place(t, cast);
    }
    for (auto& [name, b] : m.buffers_) {
      if (b.tensor.is_floating_point()) convert_in_place(b.tensor, cast);
    }
  });
  return *this;
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.zero_grad();
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, module] : named_modules()) fn(*module);
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

std::string Module::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  // "mixgrad::nn::Linear" -> "Linear"; template arguments keep their namespaces.
  std::size_t template_start = name.find('<');
  std::size_t cut = name.rfind("::", template_start);
  return cut == std::string::npos ? name : name.substr(cut + 2);
}

void Module::print_tree(std::ostream& os, const std::string& indent) const {
  std::vector<std::string> own;  // "weight: float32[8, 4]"
  for (const auto& [name, t] : parameters_) {
    own.push_back(name + ": " + summary(t) + (t.requires_grad() ? "" : " (frozen)"));
  }
  for (const auto& [name, b] : buffers_) {
    own.push_back(name + ": " + summary(b.tensor) + " (buffer" +
                  (b.persistent ? "" : ", not saved") + ")");
  }
  if (children_.empty()) {  // leaf modules fit on one line
    os << type_name() << "(" << extra_repr() << ")";
    for (std::size_t i = 0; i < own.size(); ++i) os << (i == 0 ? " {" : ", ") << own[i];
    if (!own.empty()) os << "}";
    return;
  }
  const std::string inner = indent + "  ";
  os << type_name() << "(\n";
  if (!extra_repr().empty()) os << inner << extra_repr() << "\n";
  for (const auto& line : own) os << inner << line << "\n";
  for (const auto& [name, child] : children_) {
    os << inner << "(" << name << "): ";
    child->print_tree(os, inner);
    os << "\n";
  }
  os << indent << ")";
}

std::string Module::to_string() const {
  std::ostringstream os;
  print_tree(os, "");
  const int64_t total = num_parameters();
  const int64_t trainable = num_parameters(true);
  os << "\n" << with_thousands(total) << " parameters";
  if (trainable != total) os << " (" << with_thousands(trainable) << " trainable)";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& module) {
  return os << module.to_string();
}

HookId Module::register_forward_pre_hook(ForwardPreHook hook) {
  MG_CHECK(hook != nullptr, type_name() + ".register_forward_pre_hook", "hook is empty");
  pre_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

HookId Module::register_forward_hook(ForwardHook hook) {
  MG_CHECK(hook != nullptr, type_name() + ".register_forward_hook", "hook is empty");
  hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_hook(HookId id) {
  auto erase = [id](auto& list) {
    return std::erase_if(list, [id](const auto& e) { return e.first == id; }) > 0;
  };
  MG_CHECK(erase(pre_hooks_) || erase(hooks_), type_name() + ".remove_hook", "no hook with id ", id,
           " on this module");
}

}  // namespace mixgrad::nn
