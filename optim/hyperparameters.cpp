#include "optim/hyperparameters.h"

#include <cmath>

namespace mixgrad::optim::detail {

namespace {

bool finite(double v) {
  return std::isfinite(v);
}
bool decay_rate(double v) {
  return v >= 0 && v < 1;
}

constexpr const char* kNonNegative = "a finite number >= 0";

constexpr HyperParameter kHyperParameters[] = {
    {"lr", &ParamGroup::lr, finite_non_negative, kNonNegative},
    {"weight_decay", &ParamGroup::weight_decay, finite_non_negative, kNonNegative},
    {"momentum", &ParamGroup::momentum, finite_non_negative, kNonNegative},
    {"dampening", &ParamGroup::dampening, finite, "finite"},
    {"beta1", &ParamGroup::beta1, decay_rate, "in [0, 1)"},
    {"beta2", &ParamGroup::beta2, decay_rate, "in [0, 1)"},
    {"eps", &ParamGroup::eps, finite_non_negative, kNonNegative},
};

}  // namespace

bool finite_non_negative(double v) {
  return std::isfinite(v) && v >= 0;
}

std::span<const HyperParameter> hyperparameters() {
  return kHyperParameters;
}

const HyperParameter* find_hyperparameter(std::string_view name) {
  for (const HyperParameter& hp : kHyperParameters)
    if (name == hp.name) return &hp;
  return nullptr;
}

}  // namespace mixgrad::optim::detail
