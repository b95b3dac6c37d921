#pragma once
// The hyperparameters a ParamGroup can carry, each with the range it must lie in. Internal to
// optim/: one table fills a group's defaults, validates it, and names the group.<g>.<name>
// scalars of a state.
#include <optional>
#include <span>
#include <string_view>

#include "optim/optimizer.h"

namespace mixgrad::optim::detail {

struct HyperParameter {
  const char* name;
  std::optional<double> ParamGroup::*field;
  bool (*valid)(double);
  const char* requirement;  // completes "<name> = <value> must be ..."
};

std::span<const HyperParameter> hyperparameters();
// The entry called `name`, or nullptr.
const HyperParameter* find_hyperparameter(std::string_view name);

// Finite and >= 0 (learning rates, decay factors, epochs).
bool finite_non_negative(double v);

}  // namespace mixgrad::optim::detail
