#pragma once
// The expert half of an MoE layer as one interface: given the token rows sorted by expert and how
// many rows each expert received, return every row's expert output. MoE takes any
// implementation: FFNExperts (stacked weights, two grouped GEMMs for the whole layer), ExpertList
// (any module per expert) and BatchedExperts (one user module over [E, capacity, d]).
#include "nn/module.h"

namespace mixgrad::models {

class Experts : public nn::Module {
 public:
  using nn::Module::forward;
  // rows [R, d] sorted by expert, counts int64 [E] summing to R -> [R, d_out]: expert e
  // applied to the counts[e] rows that follow those of experts 0..e-1.
  virtual Tensor forward(const Tensor& rows, const Tensor& counts) = 0;
  // Expert e on any rows [N, d] -> [N, d_out]: dense references and inspection.
  virtual Tensor expert(int64_t e, const Tensor& x) = 0;
  virtual int64_t num_experts() const = 0;
  // A module holding only experts [first, first + count) of this one, numbered from 0 and with
  // the same values (expert parallelism keeps one such share per process). Draws no random
  // numbers. The default throws Error: not every kind of experts can be cut apart.
  virtual std::shared_ptr<Experts> shard(int64_t first, int64_t count) const;
};

// Throws Error naming `who` unless [first, first + count) is a non-empty range of experts
// within [0, num_experts).
void check_expert_range(const char* who, int64_t first, int64_t count, int64_t num_experts);

// Throws Error naming `who` unless counts is an int64 [num_experts] tensor of non-negative
// values summing to rows.size(0) (rows must be 2-D); returns the counts as host integers.
std::vector<int64_t> check_expert_counts(const char* who, const Tensor& rows, const Tensor& counts,
                                         int64_t num_experts);

}  // namespace mixgrad::models
