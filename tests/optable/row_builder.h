#pragma once
// A compact way to write a row: the name, the function, the samples and the float64 bound.
#include <stdexcept>

#include "optable/op_info.h"

namespace mixgrad::testing {

using In = const std::vector<Tensor>&;

inline OpInfo make_row(std::string name, OpFn fn, std::vector<Sample> samples, Tol tol = kExact,
                       bool differentiable = true) {
  OpInfo r;
  r.name = std::move(name);
  r.fn = std::move(fn);
  r.samples = std::move(samples);
  r.tol = tol;
  r.differentiable = differentiable;
  return r;
}

// The row called `name` among `rows` (which must exist).
inline OpInfo& row_named(std::vector<OpInfo>& rows, const std::string& name) {
  for (OpInfo& r : rows)
    if (r.name == name) return r;
  throw std::logic_error("no op table row " + name);
}

}  // namespace mixgrad::testing
