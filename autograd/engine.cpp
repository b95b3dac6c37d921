// The engine counts, with one walk from the roots, how many edges lead into every reachable
// node; a node becomes ready when all of them have delivered their gradient. Nodes run from an
// explicit stack (no recursion, so deep graphs cannot overflow the call stack), each once.
#include "autograd/engine.h"

#include <atomic>
#include <unordered_map>
#include <unordered_set>

#include "autograd/autograd_meta.h"
#include "core/grad_mode.h"
#include "ops/creation.h"

namespace mixgrad::autograd {

namespace {

// The callbacks and the description of the backward pass running on this thread (null and
// empty outside one).
thread_local std::vector<std::function<void()>>* t_callbacks = nullptr;
thread_local PassInfo t_pass;
std::atomic<uint64_t> g_passes{0};

// Installs a pass's callback list and description for its lifetime, restoring the outer ones (a
// backward run from a hook) afterwards, also when the pass throws.
class CallbackScope {
 public:
  explicit CallbackScope(bool accumulates) : outer_(t_callbacks), outer_pass_(t_pass) {
    t_callbacks = &callbacks_;
    t_pass = {++g_passes, accumulates};
  }
  ~CallbackScope() {
    t_callbacks = outer_;
    t_pass = outer_pass_;
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
  void run() {
    for (size_t i = 0; i < callbacks_.size(); ++i) {
      auto fn = std::move(callbacks_[i]);  // fn may queue more, which moves the vector
      fn();
    }
  }

 private:
  std::vector<std::function<void()>> callbacks_;
  std::vector<std::function<void()>>* outer_;
  PassInfo outer_pass_;
};

struct NodeState {
  int dependencies = 0;
  std::vector<Tensor> buffers;    // gradient of each forward output
  std::vector<char> owned_flags;  // whether buffers[i] may be modified in place
};

struct Capture {
  Node* node;
  uint32_t output_nr;
};

class GraphTask {
 public:
  GraphTask(bool retain_graph, bool accumulate)
      : retain_graph_(retain_graph), accumulate_(accumulate) {}

  void run(const std::vector<Edge>& roots, const std::vector<Tensor>& root_grads,
           const std::vector<Capture>& captures, std::vector<Tensor>* captured) {
    CallbackScope callbacks(accumulate_);
    count_dependencies(roots);
    if (!captures.empty()) mark_leading_to(captures);
    for (size_t i = 0; i < roots.size(); ++i) {
      NodeState& s = state(roots[i].node.get());
      add_to_buffer(s, roots[i].input_nr, root_grads[i], false);
    }
    std::vector<Node*> ready;
    for (const Edge& r : roots)
      if (state(r.node.get()).dependencies == 0) push_once(ready, r.node.get());

    NoGradGuard no_grad;
    while (!ready.empty()) {
      Node* node = ready.back();
      ready.pop_back();
      NodeState& s = state(node);
      // Tensor hooks see the gradient before anything consumes it: the node, retain_grad(), a
      // capture of grad(). Nodes that grad() skips entirely run none.
      if (captures.empty() || leads_to_capture_.count(node)) run_hooks(node, s);
      for (size_t c = 0; c < captures.size(); ++c)
        if (captures[c].node == node) (*captured)[c] = s.buffers[captures[c].output_nr];
      // grad() runs only what leads to a requested input; the rest of the graph is left intact.
      if (!captures.empty() && !feeds_capture(node)) {
        states_.erase(node);
        continue;
      }
      execute(node, s);
      for (const Edge& e : node->next_edges()) {
        if (!e.valid()) continue;
        if (--state(e.node.get()).dependencies == 0) ready.push_back(e.node.get());
      }
      states_.erase(node);  // frees the gradient buffers as soon as they are consumed
    }
    callbacks.run();
  }

 private:
  NodeState& state(Node* n) {
    auto it = states_.find(n);
    if (it != states_.end()) return it->second;
    NodeState& s = states_[n];
    s.buffers.resize(n->num_outputs());
    s.owned_flags.assign(n->num_outputs(), 0);
    return s;
  }

  static void push_once(std::vector<Node*>& v, Node* n) {
    for (Node* m : v)
      if (m == n) return;
    v.push_back(n);
  }

  // Marks every node from which a captured node can be reached (the captures included).
  void mark_leading_to(const std::vector<Capture>& captures) {
    std::vector<Node*> stack;
    for (const Capture& c : captures)
      if (leads_to_capture_.insert(c.node).second) stack.push_back(c.node);
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (Node* parent : parents_[n])
        if (leads_to_capture_.insert(parent).second) stack.push_back(parent);
    }
  }

  // Whether running `node` can deliver a gradient to a captured node.
  bool feeds_capture(Node* node) const {
    for (const Edge& e : node->next_edges())
      if (e.valid() && leads_to_capture_.count(e.node.get())) return true;
    return false;
  }

  void count_dependencies(const std::vector<Edge>& roots) {
    std::vector<Node*> stack;
    std::unordered_map<Node*, bool> seen;
    for (const Edge& r : roots) {
      if (!seen[r.node.get()]) {
        seen[r.node.get()] = true;
        stack.push_back(r.node.get());
        state(r.node.get());
      }
    }
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next_edges()) {
        if (!e.valid()) continue;
        ++state(e.node.get()).dependencies;
        parents_[e.node.get()].push_back(n);
        if (!seen[e.node.get()]) {
          seen[e.node.get()] = true;
          stack.push_back(e.node.get());
        }
      }
    }
  }

  static void add_to_buffer(NodeState& s, uint32_t nr, const Tensor& g, bool owned) {
    if (!s.buffers[nr].defined()) {
      s.buffers[nr] = g;
      s.owned_flags[nr] = owned;
    } else if (s.owned_flags[nr]) {
      s.buffers[nr].add_(g);
    } else {
      s.buffers[nr] = s.buffers[nr] + g;
      s.owned_flags[nr] = 1;
    }
  }

  static void run_hooks(Node* node, NodeState& s) {
    for (uint32_t i = 0; i < s.buffers.size(); ++i) {
      const GradHooks* hooks = node->hooks_for_output(i);
      if (!hooks || !s.buffers[i].defined()) continue;
      s.buffers[i] = hooks->run(std::move(s.buffers[i]), node->output_meta()[i]);
      s.owned_flags[i] = 0;  // a hook may have kept a reference to the gradient it saw
    }
  }

  void execute(Node* node, NodeState& s) {
    const size_t retained = accumulate_ ? node->retained_outputs().size() : 0;  // grad(): no .grad
    for (uint32_t i = 0; i < s.buffers.size() && i < retained; ++i) {
      auto impl = node->retained_outputs()[i].lock();
      if (impl && s.buffers[i].defined()) {
        Tensor t(impl);
        Tensor old = t.grad();
        t.set_grad(old.defined() ? old + s.buffers[i] : s.buffers[i].clone());
      }
    }
    if (auto* acc = dynamic_cast<AccumulateGrad*>(node)) {
      if (accumulate_ && s.buffers[0].defined())
        acc->accumulate(std::move(s.buffers[0]), s.owned_flags[0]);
      return;
    }
    if (node->released())
      throw Error("backward", "trying to backward through the graph a second time (node '" +
                                  node->name() +
                                  "' already freed its saved tensors); pass retain_graph=true "
                                  "to the first backward call");
    const auto& edges = node->next_edges();
    std::vector<GradSink> sinks(edges.size());
    for (size_t i = 0; i < edges.size(); ++i) {
      if (!edges[i].valid()) continue;
      NodeState& next = state(edges[i].node.get());
      const uint32_t nr = edges[i].input_nr;
      sinks[i] =
          GradSink(&next.buffers[nr], &next.owned_flags[nr], &edges[i].node->output_meta()[nr]);
    }
    node->apply(s.buffers, InputGrads(sinks));
    if (!retain_graph_) node->release();
  }

  bool retain_graph_;
  bool accumulate_;
  std::unordered_map<Node*, NodeState> states_;
  std::unordered_map<Node*, std::vector<Node*>> parents_;  // reverse edges, for grad()
  std::unordered_set<Node*> leads_to_capture_;
};

struct Roots {
  std::vector<Edge> edges;
  std::vector<Tensor> grads;
};

Roots make_roots(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
  MG_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "backward", "got ",
           outputs.size(), " outputs but ", grad_outputs.size(), " gradients");
  Roots r;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    MG_CHECK(out.defined() && out.requires_grad(), "backward", "output ", i,
             " does not require grad and has no grad_fn (did every input have "
             "requires_grad=false, or was it computed under NoGradGuard?)");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      MG_CHECK(out.numel() == 1, "backward",
               "grad can be implicitly created only for outputs "
               "with one element, got shape ",
               out.shape(), "; pass a gradient");
      g = ones_like(out);
    } else {
      MG_CHECK(g.shape() == out.shape(), "backward", "gradient of shape ", g.shape(),
               " does not match output of shape ", out.shape());
      MG_CHECK(g.device() == out.device(), "backward", "gradient on ", describe(g.device()),
               " for output on ", describe(out.device()));
      if (g.dtype() != out.dtype()) g = g.to(out.dtype());
    }
    r.edges.push_back(gradient_edge(out));
    r.grads.push_back(g);
  }
  return r;
}

}  // namespace

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph) {
  Roots r = make_roots(outputs, grad_outputs);
  GraphTask(retain_graph, /*accumulate=*/true).run(r.edges, r.grads, {}, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool allow_unused) {
  Roots r = make_roots(outputs, grad_outputs);
  std::vector<Capture> captures;
  std::vector<Edge> keep_alive;
  for (size_t i = 0; i < inputs.size(); ++i) {
    MG_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "autograd::grad", "input ", i,
             " does not require grad");
    Edge e = gradient_edge(inputs[i]);
    keep_alive.push_back(e);
    captures.push_back({e.node.get(), e.input_nr});
  }
  std::vector<Tensor> result(inputs.size());
  GraphTask(retain_graph, /*accumulate=*/false).run(r.edges, r.grads, captures, &result);
  for (size_t i = 0; i < result.size(); ++i) {
    MG_CHECK(result[i].defined() || allow_unused, "autograd::grad", "input ", i,
             " was not used to compute the outputs (pass allow_unused=true to get an undefined "
             "gradient instead)");
    if (result[i].defined() && result[i].shape() != inputs[i].shape())
      result[i] = result[i].expand(inputs[i].shape()).contiguous();
  }
  return result;
}

void queue_callback(std::function<void()> fn) {
  MG_CHECK(t_callbacks != nullptr, "autograd::queue_callback",
           "no backward pass is running on this thread (queue callbacks from a hook or a "
           "backward function)");
  MG_CHECK(static_cast<bool>(fn), "autograd::queue_callback", "got an empty function");
  t_callbacks->push_back(std::move(fn));
}

PassInfo current_pass() {
  return t_pass;
}

}  // namespace mixgrad::autograd
