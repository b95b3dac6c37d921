#pragma once
// Exports the backward graph recorded behind tensors to Graphviz DOT, through Boost.Graph.
#include <iosfwd>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mixgrad {

// One vertex per recorded op or leaf (labelled with its name and output shapes), one edge per
// data flow from an input's producer to the op that consumed it. A leaf found in `leaf_names`
// (e.g. module.named_parameters()) is labelled with its name, other leaves "leaf".
std::string to_dot(const std::vector<Tensor>& roots, const NamedTensors& leaf_names = {});
inline std::string to_dot(const Tensor& root, const NamedTensors& leaf_names = {}) {
  return to_dot(std::vector<Tensor>{root}, leaf_names);
}
void write_dot(std::ostream& os, const std::vector<Tensor>& roots,
               const NamedTensors& leaf_names = {});

}  // namespace mixgrad
