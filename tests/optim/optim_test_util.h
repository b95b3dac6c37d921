#pragma once
// Helpers shared by the optimizer tests.
#include <optim/optim.h>

#include <string>
#include <vector>

#include "common/test_util.h"

namespace mixgrad::optim::testing {

// A float64 leaf parameter that requires grad.
inline Tensor param(std::vector<double> values) {
  return tensor(values).requires_grad_();
}

// Sets p's gradient to `values` (same shape as p, p's dtype).
inline void set_grad(const Tensor& p, std::vector<double> values) {
  p.set_grad(tensor(values).to(p.dtype()).reshape(p.shape()));
}

// Sets each parameter's gradient and takes one step.
inline void step_with(Optimizer& opt, const std::vector<Tensor>& params,
                      const std::vector<std::vector<double>>& grads) {
  for (size_t i = 0; i < params.size(); ++i) set_grad(params[i], grads[i]);
  opt.step();
}

// Two states are the same: equal scalars, and tensors with equal names, shapes, dtypes and bits.
inline void expect_same_state(const OptimizerState& a, const OptimizerState& b) {
  EXPECT_EQ(a.scalars, b.scalars);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    ASSERT_EQ(a.tensors[i].second.dtype(), b.tensors[i].second.dtype());
    EXPECT_EQ(a.tensors[i].second.shape(), b.tensors[i].second.shape());
    EXPECT_EQ(a.tensors[i].second.to_vector<double>(), b.tensors[i].second.to_vector<double>())
        << a.tensors[i].first;
  }
}

}  // namespace mixgrad::optim::testing
