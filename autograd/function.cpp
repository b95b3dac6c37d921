#include "autograd/function.h"

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
      : Node(name, std::move(edges), std::move(meta)), fn_(std::move(fn)) {}
  void apply(const std::vector<Tensor>& grads, InputGrads inputs) override { fn_(grads, inputs); }
  void release() override {
    fn_ = nullptr;  // frees the saved tensors captured by the lambda
    Node::release();
  }

 private:
  MultiBackwardFn fn_;
};

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
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) edges.push_back(t.defined() ? gradient_edge(t) : Edge{});
  std::vector<TensorMeta> meta;
  meta.reserve(outputs.size());
  for (const Tensor& t : outputs) meta.push_back(TensorMeta::of(t));
  auto node =
      std::make_shared<FunctionNode>(name, std::move(edges), std::move(meta), std::move(backward));
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = outputs[i];
    if (!out.is_floating_point()) continue;
    AutogradMeta& m = out.impl().autograd_meta();
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = i;
  }
}

void record(const char* name, const Tensor& output, const std::vector<Tensor>& inputs,
            BackwardFn backward) {
  if (!should_record(inputs)) return;
  record(name, std::vector<Tensor>{output}, inputs,
         [fn = std::move(backward)](const std::vector<Tensor>& grads, InputGrads in) {
           if (grads[0].defined()) fn(grads[0], in);
         });
}

}  // namespace mixgrad
