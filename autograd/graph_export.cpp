#include "autograd/graph_export.h"

// GCC 12 reports a false -Wmaybe-uninitialized inside Boost.Graph's edge iterator when it is
// inlined here; the warning is about Boost's optional<> storage, not our code.
#pragma GCC diagnostic push
#ifndef __clang__  // clang has no such warning, and warns about the unknown name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graphviz.hpp>
#include <sstream>
#include <unordered_map>

#include "autograd/autograd_meta.h"

namespace mixgrad {

namespace {

struct VertexInfo {
  std::string label;
  std::string shape;  // Graphviz node shape: ops are boxes, leaves ellipses
};

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, VertexInfo>;

std::string label_of(const Node& node,
                     const std::unordered_map<const Node*, std::string>& leaf_names) {
  std::string label = node.name();
  if (dynamic_cast<const AccumulateGrad*>(&node) != nullptr) {
    const auto named = leaf_names.find(&node);
    label = named != leaf_names.end() ? named->second : "leaf";
  }
  for (const TensorMeta& m : node.output_meta())
    label += "\\n" + std::string(dtype_name(m.dtype)) + detail::to_str(m.shape);
  return label;
}

}  // namespace

void write_dot(std::ostream& os, const std::vector<Tensor>& roots, const NamedTensors& leaf_names) {
  // A leaf's gradient node is what the graph reaches; map those nodes to the names. The edges
  // are kept so that the nodes stay alive (and unique) while the graph is walked.
  std::vector<Edge> keep_alive;
  std::unordered_map<const Node*, std::string> names;
  for (const auto& [name, t] : leaf_names) {
    if (!t.defined() || !t.requires_grad()) continue;
    Edge e = gradient_edge(t);
    if (!e.valid()) continue;
    names.emplace(e.node.get(), name);
    keep_alive.push_back(std::move(e));
  }
  Graph g;
  std::unordered_map<const Node*, Graph::vertex_descriptor> vertex;
  std::vector<const Node*> stack;
  auto vertex_for = [&](const Node* n) {
    auto it = vertex.find(n);
    if (it != vertex.end()) return it->second;
    const bool leaf = dynamic_cast<const AccumulateGrad*>(n) != nullptr;
    auto v = boost::add_vertex(VertexInfo{label_of(*n, names), leaf ? "ellipse" : "box"}, g);
    vertex.emplace(n, v);
    stack.push_back(n);
    return v;
  };
  for (const Tensor& r : roots) {
    Edge e = gradient_edge(r);
    if (e.valid()) {
      keep_alive.push_back(e);
      vertex_for(e.node.get());
    }
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    const auto consumer = vertex.at(n);
    for (const Edge& e : n->next_edges()) {
      if (!e.valid()) continue;
      const auto producer = vertex_for(e.node.get());
      boost::add_edge(producer, consumer, g);  // data flows producer -> consumer
    }
  }
  boost::write_graphviz(os, g, [&g](std::ostream& out, Graph::vertex_descriptor v) {
    out << "[label=\"" << g[v].label << "\", shape=" << g[v].shape << "]";
  });
}

std::string to_dot(const std::vector<Tensor>& roots, const NamedTensors& leaf_names) {
  std::ostringstream os;
  write_dot(os, roots, leaf_names);
  return os.str();
}

}  // namespace mixgrad

#pragma GCC diagnostic pop
