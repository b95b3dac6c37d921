#pragma once
// Testing utilities: a finite-difference check of an op's backward, in float64 (for checking
// the backward of an op or a custom autograd::Function, as torch.autograd.gradcheck).
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mixgrad {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-5;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
  uint64_t seed = 0;  // for the random projection of the outputs
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // what mismatched, where (empty when ok)
  explicit operator bool() const { return ok; }
};

// Compares the backward of `fn` at `inputs` with central finite differences. Inputs that require
// grad must be float64 and are perturbed one element at a time; `fn` may return several
// tensors. The scalar differentiated is sum_i <outputs_i, r_i> with fixed random r_i, so one
// backward pass checks the whole vector-Jacobian product.
GradcheckResult gradcheck(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});
// Single-output convenience.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

std::ostream& operator<<(std::ostream& os, const GradcheckResult& r);

}  // namespace mixgrad
