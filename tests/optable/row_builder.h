#pragma once
// A compact way to write a row: the name, the function, the samples and the float64 bound.
#include <initializer_list>
#include <iterator>
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

// The rows of several parts, in order.
inline std::vector<OpInfo> join_rows(std::initializer_list<std::vector<OpInfo> (*)()> parts) {
  std::vector<OpInfo> all;
  for (auto part : parts) {
    std::vector<OpInfo> rows = part();
    all.insert(all.end(), std::make_move_iterator(rows.begin()),
               std::make_move_iterator(rows.end()));
  }
  return all;
}

// Marks `row` as running in float16 and bfloat16 on CUDA with these bounds, its gradients
// compared too unless `backward` is false.
inline void runs_in_half(OpInfo& row, Tol half, Tol bfloat16, bool backward = true) {
  row.half_tol = half;
  row.bfloat16_tol = bfloat16;
  row.half_backward = backward;
}

// The row called `name` among `rows` (which must exist).
inline OpInfo& row_named(std::vector<OpInfo>& rows, const std::string& name) {
  for (OpInfo& r : rows)
    if (r.name == name) return r;
  throw std::logic_error("no op table row " + name);
}

}  // namespace mixgrad::testing
