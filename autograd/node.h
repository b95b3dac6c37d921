#pragma once
// A recorded op in the backward graph. A Node receives the gradients of its forward outputs and
// adds the gradients of its forward inputs into GradSinks that point at the next nodes' buffers.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "autograd/hooks.h"
#include "core/tensor.h"

namespace mixgrad {

class Node;

// The gradient of a forward input flows to output `input_nr` of `node` (the producer of that
// input, or the AccumulateGrad node of a leaf). An empty edge means "no gradient needed".
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;
  bool valid() const { return node != nullptr; }
};

// Shape/dtype/device of a forward output: enough to build its gradient buffer.
struct TensorMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
  static TensorMeta of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }
};

// Where one input's gradient goes while a node runs its backward. Gradients added here
// accumulate into the engine's buffer for the producing node; the buffer is created lazily, and
// region writes (buffer().narrow(...).add_(g)) touch only that region, never a full temporary.
class GradSink {
 public:
  GradSink() = default;
  GradSink(Tensor* buffer, char* owned, const TensorMeta* meta)
      : buffer_(buffer), owned_(owned), meta_(meta) {}
  // False when this input needs no gradient: skip computing it.
  bool needed() const { return buffer_ != nullptr; }
  // buffer += g. `g` may carry broadcast dims of the input; they are summed away here.
  void add(const Tensor& g);
  // The full-size gradient buffer (zero-filled on first use) for region-wise accumulation.
  Tensor& buffer();
  const TensorMeta& meta() const { return *meta_; }

 private:
  Tensor* buffer_ = nullptr;
  char* owned_ = nullptr;  // whether *buffer_ is ours to modify in place
  const TensorMeta* meta_ = nullptr;
};

using InputGrads = std::span<GradSink>;

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node(std::string name, std::vector<Edge> next_edges, std::vector<TensorMeta> output_meta)
      : name_(std::move(name)),
        next_edges_(std::move(next_edges)),
        output_meta_(std::move(output_meta)) {}
  virtual ~Node();

  // `grad_outputs[i]` is the gradient of forward output i, or undefined if none reached it.
  virtual void apply(const std::vector<Tensor>& grad_outputs, InputGrads grad_inputs) = 0;
  // Drops saved tensors and output hooks after backward (unless retain_graph); apply()
  // afterwards throws.
  virtual void release();
  bool released() const { return released_; }

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const std::vector<TensorMeta>& output_meta() const { return output_meta_; }
  std::size_t num_outputs() const { return output_meta_.size(); }

  // Non-leaf tensors that asked retain_grad(), by output index.
  std::vector<std::weak_ptr<TensorImpl>>& retained_outputs() { return retained_outputs_; }

  // Hooks on the gradient of forward output `nr` (Tensor::register_hook on a non-leaf).
  HookId add_output_hook(uint32_t nr, GradHook hook);
  bool remove_output_hook(HookId id);
  // The hooks the engine runs on the gradient of output `nr` before apply(); null when none.
  virtual const GradHooks* hooks_for_output(uint32_t nr) const;

 protected:
  bool released_ = false;

 private:
  std::string name_;
  std::vector<Edge> next_edges_;
  std::vector<TensorMeta> output_meta_;
  std::vector<std::weak_ptr<TensorImpl>> retained_outputs_;
  std::vector<GradHooks> output_hooks_;  // by output index; empty unless a hook was registered
};

// Sink node of a leaf tensor that requires grad: accumulates into its .grad().
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  void apply(const std::vector<Tensor>& grad_outputs, InputGrads grad_inputs) override;
  void accumulate(Tensor grad, bool owned);
  // The leaf's own hooks (they live on the leaf, since this node only lives with a graph).
  const GradHooks* hooks_for_output(uint32_t nr) const override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

}  // namespace mixgrad
