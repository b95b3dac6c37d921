#include "models/hierarchical_moe.h"

#include "nn/init.h"
#include "ops/ops.h"

namespace mixgrad::models {

HierarchicalMoE::HierarchicalMoE(HierarchicalMoEOptions options)
    : outer({.d_model = options.d_model,
             .num_experts = options.groups,
             .k = options.k_groups,
             .switch_loss_coef = options.switch_loss_coef,
             .z_loss_coef = options.z_loss_coef,
             .tensor_options = options.tensor_options}),
      experts({.num_experts = options.groups * options.experts_per_group,
               .d_model = options.d_model,
               .hidden = options.hidden,
               .activation = options.activation,
               .tensor_options = options.tensor_options}),
      options_(options) {
  MG_CHECK(options.experts_per_group > 0, "HierarchicalMoE",
           "experts_per_group must be positive, got ", options.experts_per_group);
  MG_CHECK(options.k_experts >= 1 && options.k_experts <= options.experts_per_group,
           "HierarchicalMoE", "k_experts=", options.k_experts, " must be in [1, ",
           options.experts_per_group, "]");
  inner_weight = register_parameter(
      "inner_weight",
      nn::init::fan_in_uniform({options.groups, options.d_model, options.experts_per_group},
                               options.d_model, options.tensor_options));
  register_module("outer", outer);
  register_module("experts", experts);
}

Routing HierarchicalMoE::route(const Tensor& tokens) {
  const int64_t groups = options_.groups, per_group = options_.experts_per_group;
  const int64_t k1 = options_.k_groups, k2 = options_.k_experts, t = tokens.size(0);
  Routing first = outer.route(tokens);
  // (token, group) pairs sorted by group: each group's inner gate is one slice of a grouped
  // matrix product.
  const DispatchPlan by_group = make_dispatch_plan(first.expert_index, groups);
  const Tensor inner_probs =
      softmax(grouped_matmul(dispatch(tokens, by_group), inner_weight, by_group.counts), 1);
  ValuesIndices top = topk(inner_probs, k2, 1);
  const Tensor inner_gates = top.values / top.values.sum({1}, true);
  // Back to (token, slot) order.
  const Tensor to_pairs = argsort(by_group.order, 0, false, true);
  const Tensor pair_gates = index_select(inner_gates, 0, to_pairs);    // [T*k1, k2]
  const Tensor pair_experts = index_select(top.indices, 0, to_pairs);  // [T*k1, k2]
  const Tensor pair_groups = first.expert_index.reshape({t * k1, 1});
  Routing r;
  r.expert_index = (pair_groups * per_group + pair_experts).reshape({t, k1 * k2});
  r.gates = (first.gates.reshape({t * k1, 1}) * pair_gates).reshape({t, k1 * k2});
  r.probs = first.probs;
  // Inner Switch losses: per group, E_g * sum_j f_gj * P_gj over the rows the group received.
  const Tensor row_groups = index_select(first.expert_index.reshape({-1}), 0, by_group.order);
  const Tensor rows = by_group.counts.to(inner_probs.dtype());
  const Tensor prob_mean =
      index_add(zeros({groups, per_group}, inner_probs.dtype()), 0, row_groups, inner_probs) /
      rows.clamp(1, std::nullopt).unsqueeze(1);
  const Tensor slot_counts =
      bincount((row_groups.unsqueeze(1) * per_group + top.indices).reshape({-1}), Tensor(),
               groups * per_group)
          .reshape({groups, per_group})
          .to(inner_probs.dtype());
  const Tensor fraction = slot_counts / (rows * k2).clamp(1, std::nullopt).unsqueeze(1);
  const Tensor received = gt(rows, 0).to(inner_probs.dtype());
  const Tensor inner_loss = ((fraction * prob_mean).sum({1}) * received).sum() *
                            (options_.switch_loss_coef * per_group) /
                            received.sum().clamp(1, std::nullopt);
  r.losses = first.losses;
  r.losses.emplace_back("inner_switch", inner_loss);
  r.aux_loss = first.aux_loss + inner_loss;
  return r;
}

MoEOutput HierarchicalMoE::operator()(const Tensor& x) {
  const int64_t d = options_.d_model;
  MG_CHECK(x.dim() >= 1 && x.size(-1) == d, "HierarchicalMoE", "input must be [..., ", d, "], got ",
           describe(x));
  const Tensor tokens = x.reshape({-1, d});
  MoEOutput out =
      run_routed_experts(tokens, route(tokens), experts, options_.capacity, is_training());
  out.output = out.output.reshape(x.shape());
  return out;
}

std::string HierarchicalMoE::extra_repr() const {
  return "groups=" + std::to_string(options_.groups) +
         ", experts_per_group=" + std::to_string(options_.experts_per_group) + ", k=(" +
         std::to_string(options_.k_groups) + ", " + std::to_string(options_.k_experts) + ")";
}

}  // namespace mixgrad::models
