#pragma once
// Containers of submodules: Sequential chains single-tensor forwards, ModuleList and ModuleDict
// just hold modules so that their parameters are registered (e.g. a list of experts).
#include <concepts>
#include <memory>
#include <string>

#include "nn/module.h"

namespace mixgrad::nn {

// Modules registered under their position, "0", "1", ...: parameter names read "layers.2.weight".
class ModuleList : public Module {
 public:
  ModuleList() = default;
  template <std::derived_from<Module>... M>
  explicit ModuleList(std::shared_ptr<M>... modules) {
    (push_back(std::move(modules)), ...);
  }

  void push_back(std::shared_ptr<Module> module);
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  // Bounds-checked; negative indices count from the end.
  const std::shared_ptr<Module>& operator[](int64_t index) const;
  // The module at `index` as its concrete type; throws if it is not an M.
  template <std::derived_from<Module> M>
  std::shared_ptr<M> at(int64_t index) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[index]);
    MG_CHECK(typed != nullptr, type_name() + ".at", "module ", index, " is a ",
             (*this)[index]->type_name(), ", not the requested type");
    return typed;
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

// Applies its modules in order: Sequential(fc1, relu, fc2)(x) == fc2(relu(fc1(x))).
class Sequential : public ModuleList {
 public:
  using ModuleList::ModuleList;
  Tensor forward(const Tensor& input) override;
};

// Modules by name, in insertion order; names follow the registration rules (no dots).
class ModuleDict : public Module {
 public:
  void insert(const std::string& name, std::shared_ptr<Module> module);
  bool contains(const std::string& name) const;
  const std::shared_ptr<Module>& operator[](const std::string& name) const;
  template <std::derived_from<Module> M>
  std::shared_ptr<M> at(const std::string& name) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[name]);
    MG_CHECK(typed != nullptr, type_name() + ".at", "module '", name, "' is a ",
             (*this)[name]->type_name(), ", not the requested type");
    return typed;
  }
  std::size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  NamedModules items_;
};

}  // namespace mixgrad::nn
