#pragma once
// Generic mixture-of-experts routing: turning per-token expert choices into expert-sorted rows
// (dispatch) and summing gated expert outputs back into tokens (combine), plus the capacity and
// balancing-loss helpers the MoE family shares. Definitions follow
// shared/reference/moe-math.md. Everything is composed from generic ops (stable argsort,
// bincount, cumsum, index_select, index_add), so it runs on every backend and is differentiable.
//
// Typical use for T tokens, top-k choices among E experts:
//   DispatchPlan plan = make_dispatch_plan(expert_index, E);        // [T, k] int64 choices
//   Tensor rows = dispatch(x, plan);                               // [plan rows, d]
//   auto offsets = plan.offsets.to_vector<int64_t>();
//   ... expert e computes rows.narrow(0, offsets[e], offsets[e + 1] - offsets[e]) ...
//   Tensor y = combine(expert_rows_out, gates, plan);              // [T, d_out]
#include <cstdint>

#include "core/tensor.h"

namespace mixgrad {

// Where each kept (token, slot) pair goes. Pairs are numbered flat as token * k + slot; the
// plan's rows are those pairs sorted stably by expert, so within one expert they stay in
// (token, slot) order. Dropped pairs (see `keep` below) have no row.
struct DispatchPlan {
  Tensor order;        // int64 [rows]: flat (token * k + slot) index of each row
  Tensor token_index;  // int64 [rows]: token of each row
  Tensor counts;       // int64 [E]: rows per expert
  Tensor offsets;      // int64 [E + 1]: expert e owns rows [offsets[e], offsets[e + 1])
  int64_t num_tokens = 0;
  int64_t top_k = 0;
  int64_t num_experts = 0;
  int64_t dropped = 0;  // pairs excluded by `keep`; rows == num_tokens * top_k - dropped

  int64_t rows() const { return num_tokens * top_k - dropped; }
};

// Builds the plan from expert_index (int64 or int32, [T, k], values in [0, num_experts)).
// `keep`, if given, is a bool [T, k] mask; pairs where it is false are left out of the plan
// (no expert computes them, combine adds nothing for them). Throws Error for a non-2-D or
// non-integer expert_index, num_experts < 1, an expert id outside [0, num_experts) (naming the
// value), or a keep mask that is not bool of the same shape.
DispatchPlan make_dispatch_plan(const Tensor& expert_index, int64_t num_experts,
                                const Tensor& keep = Tensor());

// The plan's rows of x [T, d]: out[r] = x[token_index[r]], shape [rows, d]. Differentiable wrt x
// (gradients of a token's rows add up). Throws Error if x is not [plan.num_tokens, d].
Tensor dispatch(const Tensor& x, const DispatchPlan& plan);

// out[token] = sum over the token's kept slots of gates[token, slot] * expert_out[row], shape
// [T, d]; dropped slots contribute nothing. expert_out [rows, d] is in plan order; gates is
// floating [T, k]. Differentiable wrt expert_out and gates (a gate's gradient is
// dot(grad_out[token], expert_out[row]); dropped gates get 0). Throws Error on shape mismatch
// with the plan (rows, T or k) or non-floating inputs.
Tensor combine(const Tensor& expert_out, const Tensor& gates, const DispatchPlan& plan);

// Position of each (token, slot) in its expert's queue when queues are filled in token order,
// all first choices before any second choice (slot s starts after every slot < s choice of the
// same expert), as the capacity rule in moe-math.md. int64 [T, k]; a pair is dropped when its
// position >= capacity, e.g. keep = lt(expert_positions(...), capacity). Same errors as
// make_dispatch_plan.
Tensor expert_positions(const Tensor& expert_index, int64_t num_experts);

// Expert capacity for a group of `tokens`: max(min(tokens, floor(tokens * capacity_factor /
// num_experts)), min_capacity). Throws Error for capacity_factor <= 0 (or not finite),
// tokens < 0, num_experts < 1 or min_capacity < 0.
int64_t expert_capacity(int64_t tokens, int64_t num_experts, double capacity_factor,
                        int64_t min_capacity = 4);

// Standard normal CDF, Phi(x) = (1 + erf(x / sqrt(2))) / 2, for floating x (integers become the
// default float). Differentiable (gradient: the normal density). Computed through erf, so in
// float32 the far lower tail (x < about -5.5) rounds to 0 rather than a tiny positive value.
Tensor normal_cdf(const Tensor& x);

// Squared coefficient of variation var(v) / (mean(v)^2 + 1e-10) of a floating 1-D vector, as a
// 0-dim tensor. `correction` 0 (default) is the population variance of Shazeer et al.'s
// tensor2tensor code; 1 gives the unbiased variance of the PyTorch port (torch.var default).
// Vectors of 0 or 1 elements give 0 (no division); zero variance gives 0, never NaN.
// Differentiable. Throws Error for a non-1-D or non-floating v, or correction not 0 or 1.
Tensor cv_squared(const Tensor& v, int64_t correction = 0);

}  // namespace mixgrad
