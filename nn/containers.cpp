#include "nn/containers.h"

#include <algorithm>

namespace mixgrad::nn {

void ModuleList::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(items_.size()), module);
  items_.push_back(std::move(module));
}

const std::shared_ptr<Module>& ModuleList::operator[](int64_t index) const {
  const auto n = static_cast<int64_t>(items_.size());
  MG_CHECK(index >= -n && index < n, type_name() + "[]", "index ", index, " is out of range for ",
           n, " modules");
  return items_[static_cast<std::size_t>(index < 0 ? index + n : index)];
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& module : *this) x = (*module)(x);
  return x;
}

void ModuleDict::insert(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, module);
  items_.emplace_back(name, std::move(module));
}

bool ModuleDict::contains(const std::string& name) const {
  return std::any_of(items_.begin(), items_.end(), [&](const auto& e) { return e.first == name; });
}

const std::shared_ptr<Module>& ModuleDict::operator[](const std::string& name) const {
  auto it =
      std::find_if(items_.begin(), items_.end(), [&](const auto& e) { return e.first == name; });
  MG_CHECK(it != items_.end(), type_name() + "[]", "no module named '", name, "'");
  return it->second;
}

}  // namespace mixgrad::nn
