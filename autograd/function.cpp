#include "autograd/function.h"

#include <span>

#include "autograd/autograd_meta.h"

namespace mixgrad {

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  tensor_ = t.detach();
  version_ = t.version();
}

const Tensor& SavedTensor::get() const {
  if (tensor_.defined() && tensor_.version() != version_)
    throw Error("backward", "a tensor of shape " + detail::to_str(tensor_.shape()) +
                                " saved for the gradient was modified by an in-place operation "
                                "(saved at version " +
                                std::to_string(version_) + ", now " +
                                std::to_string(tensor_.version()) +
                                "); use an out-of-place op or clone() before modifying it");
  return tensor_;
}

namespace {

template <class Range>
bool should_record_range(const Range& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

class FunctionNode final : public Node {
 public:
  FunctionNode(const char* name, std::vector<Edge> edges, std::vector<TensorMeta> meta,
               MultiBackwardFn fn)
      : Node(name, std::move(edges), std::move(meta)), multi_(std::move(fn)) {}
  // One output: the function is kept as given, not wrapped in a second std::function (a heap
  // block and an indirect call fewer per recorded op).
  FunctionNode(const char* name, std::vector<Edge> edges, std::vector<TensorMeta> meta,
               BackwardFn fn)
      : Node(name, std::move(edges), std::move(meta)), single_(std::move(fn)) {}
  void apply(const std::vector<Tensor>& grads, InputGrads inputs) override {
    if (single_) {
      if (grads[0].defined()) single_(grads[0], inputs);
    } else {
      multi_(grads, inputs);
    }
  }
  void release() override {
    // Frees the saved tensors captured by the lambda.
    multi_ = nullptr;
    single_ = nullptr;
    Node::release();
  }

 private:
  MultiBackwardFn multi_;
  BackwardFn single_;
};

// Makes `outputs` the outputs of a new FunctionNode over `inputs`' gradient edges.
template <class Fn>
void attach_node(const char* name, std::span<Tensor> outputs, const std::vector<Tensor>& inputs,
                 Fn&& backward) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) edges.push_back(t.defined() ? gradient_edge(t) : Edge{});
  std::vector<TensorMeta> meta;
  meta.reserve(outputs.size());
  for (const Tensor& t : outputs) meta.push_back(TensorMeta::of(t));
  auto node = std::make_shared<FunctionNode>(name, std::move(edges), std::move(meta),
                                             std::forward<Fn>(backward));
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = outputs[i];
    if (!out.is_floating_point()) continue;
    AutogradMeta& m = out.impl().autograd_meta();
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = i;
  }
}

}  // namespace

bool should_record(std::initializer_list<Tensor> inputs) {
  return should_record_range(inputs);
}
bool should_record(const std::vector<Tensor>& inputs) {
  return should_record_range(inputs);
}

void record(const char* name, std::vector<Tensor> outputs, const std::vector<Tensor>& inputs,
            MultiBackwardFn backward) {
  if (!should_record(inputs)) return;
  attach_node(name, outputs, inputs, std::move(backward));
}

void record(const char* name, const Tensor& output, const std::vector<Tensor>& inputs,
            BackwardFn backward) {
  if (!should_record(inputs)) return;
  Tensor out = output;  // shares output's TensorImpl, whose autograd meta is set
  attach_node(name, std::span<Tensor>(&out, 1), inputs, std::move(backward));
}

}  // namespace mixgrad
