#pragma once
// The sparse Mixture-of-Experts layer: a top-k gate routes each token to k of E experts; tokens
// are sorted by expert (stable), every expert runs once on its rows (the default FFN experts
// through grouped matrix products), and the outputs are scatter-added back weighted by the gates.
// Expert capacity (train and eval factors, min_capacity) drops the token-slots beyond an
// expert's capacity, or `dropless` keeps them all.
#include "models/experts.h"
#include "models/feed_forward.h"
#include "models/ffn_experts.h"
#include "models/gate.h"
#include "models/top_k_gate.h"
#include "nn/containers.h"

namespace mixgrad::models {

struct MoEOptions {
  int64_t d_model = 0;
  int64_t hidden = 0;  // the default FFN experts' width (unused with user-supplied experts)
  int64_t num_experts = 0;
  int64_t k = 2;
  TopKMode gate_mode = TopKMode::SoftmaxThenTopK;
  Activation activation = Activation::GELU;
  bool expert_bias = true;
  double switch_loss_coef = 1e-2;
  double z_loss_coef = 0.0;
  // Capacity per expert: max(min(T, floor(T * factor / E)), min_capacity) token-slots.
  double capacity_factor_train = 1.25;
  double capacity_factor_eval = 2.0;
  int64_t min_capacity = 4;
  bool dropless = false;  // no capacity: every token-slot is computed
  // DeepSeekMoE-style shared experts that see every token, added to the routed output. n shared
  // experts of width h are one FFN of width n * h (the sum of n FFNs is exactly that).
  int64_t shared_experts = 0;
  int64_t shared_hidden = 0;  // 0: the routed experts' hidden
  TensorOptions tensor_options = {};
};

// Expert capacity per expert: max(min(T, floor(T * factor / E)), min_capacity) token-slots.
struct ExpertCapacity {
  double factor_train = 1.25;
  double factor_eval = 2.0;
  int64_t min_capacity = 4;
  bool dropless = false;
};

// Where the experts of an MoE layer live when they are spread over several processes (expert
// parallelism; dist::shard_experts installs an implementation). The layer then holds only this
// process's experts, while its gate still routes over all of them.
class ExpertPlacement {
 public:
  virtual ~ExpertPlacement() = default;
  // The layer's experts over all processes; this process holds experts
  // [first_expert(), first_expert() + local_experts()).
  virtual int64_t num_experts() const = 0;
  virtual int64_t first_expert() const = 0;
  virtual int64_t local_experts() const = 0;
  // The capacity queue over the tokens of every process of the layer's group, as if they were
  // one batch in rank order: each (token, slot) pair's position in its expert's queue (int64
  // [T, k], the rule of expert_positions) and the number of tokens of all processes.
  struct Queue {
    Tensor positions;
    int64_t tokens = 0;
  };
  virtual Queue queue(const Tensor& expert_index, int64_t num_experts) = 0;
  // rows [R, d] sorted by expert with counts int64 [num_experts] -> every row's expert output
  // [R, d], each computed by the process holding its expert (`local`: this process's experts).
  // Collective over the group.
  virtual Tensor run(const Tensor& rows, const Tensor& counts, Experts& local) = 0;
};

// The expert half of an MoE layer, shared by MoE and HierarchicalMoE: applies capacity (unless
// dropless or the gate bounds the load), sorts the token-slots by expert, runs every expert once
// on its rows and combines the outputs. tokens [T, d] -> output [T, d] plus statistics.
// With a placement, the capacity queue spans every process's tokens and the rows travel to
// the processes holding their experts. Throws Error if the experts do not return [rows, d].
MoEOutput run_routed_experts(const Tensor& tokens, const Routing& routing, Experts& experts,
                             const ExpertCapacity& capacity, bool training,
                             ExpertPlacement* placement = nullptr);

class MoE : public FeedForward {
 public:
  // With no gate given, a TopKGate built from the options (k, gate_mode, loss coefficients); with
  // no experts given, FFNExperts built from the options (hidden, activation, expert_bias). User
  // experts (ExpertList, BatchedExperts or any Experts) must map width d_model to d_model.
  // Throws Error for bad options, a capacity factor <= 0, or a gate or experts whose expert count
  // (or the gate's width) differs from the options'.
  explicit MoE(MoEOptions options, std::shared_ptr<Gate> gate = nullptr,
               std::shared_ptr<Experts> experts = nullptr);
  // x [..., d_model] -> output of the same shape plus losses and routing statistics.
  MoEOutput operator()(const Tensor& x) override;
  std::string extra_repr() const override;
  const MoEOptions& options() const { return options_; }

  std::shared_ptr<Gate> gate;
  // All E experts, or with a placement this process's share of them.
  std::shared_ptr<Experts> experts;
  std::shared_ptr<nn::Sequential> shared;  // null without shared experts
  // Null: every expert is in this process. Set by dist::shard_experts.
  std::shared_ptr<ExpertPlacement> placement;

 private:
  MoEOptions options_;
};

}  // namespace mixgrad::models
