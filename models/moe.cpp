#include "models/moe.h"

#include "core/grad_mode.h"
#include "nn/linear.h"
#include "nn/repr.h"
#include "ops/ops.h"

namespace mixgrad::models {

namespace {

std::shared_ptr<Gate> default_gate(const MoEOptions& o) {
  return std::make_shared<TopKGate>(TopKGateOptions{.d_model = o.d_model,
                                                    .num_experts = o.num_experts,
                                                    .k = o.k,
                                                    .mode = o.gate_mode,
                                                    .switch_loss_coef = o.switch_loss_coef,
                                                    .z_loss_coef = o.z_loss_coef,
                                                    .tensor_options = o.tensor_options});
}

std::shared_ptr<Experts> default_experts(const MoEOptions& o) {
  return std::make_shared<FFNExperts>(FFNExpertsOptions{.num_experts = o.num_experts,
                                                        .d_model = o.d_model,
                                                        .hidden = o.hidden,
                                                        .activation = o.activation,
                                                        .bias = o.expert_bias,
                                                        .tensor_options = o.tensor_options});
}

}  // namespace

MoE::MoE(MoEOptions options, std::shared_ptr<Gate> custom_gate,
         std::shared_ptr<Experts> custom_experts)
    : gate(custom_gate ? std::move(custom_gate) : default_gate(options)),
      experts(custom_experts ? std::move(custom_experts) : default_experts(options)),
      options_(options) {
  MG_CHECK(options.capacity_factor_train > 0 && options.capacity_factor_eval > 0, "MoE",
           "capacity factors must be positive, got train=", options.capacity_factor_train,
           " eval=", options.capacity_factor_eval);
  MG_CHECK(gate->num_experts() == options.num_experts && gate->d_model() == options.d_model, "MoE",
           "the gate routes ", gate->num_experts(), " experts of width ", gate->d_model(),
           "; the layer has ", options.num_experts, " of width ", options.d_model);
  register_module("gate", gate);
  MG_CHECK(experts->num_experts() == options.num_experts, "MoE", "the experts module (",
           experts->type_name(), ") has ", experts->num_experts(), " experts; the layer has ",
           options.num_experts);
  MG_CHECK(options.shared_experts >= 0 && options.shared_hidden >= 0, "MoE",
           "shared_experts and shared_hidden must not be negative");
  if (options.shared_experts > 0) {
    const int64_t width = options.shared_experts *
                          (options.shared_hidden > 0 ? options.shared_hidden : options.hidden);
    MG_CHECK(width > 0, "MoE", "shared experts need shared_hidden or hidden to be positive");
    shared = std::make_shared<nn::Sequential>(
        std::make_shared<nn::Linear>(options.d_model,
                                     activation_input_width(options.activation, width),
                                     options.expert_bias, options.tensor_options),
        make_activation(options.activation),
        std::make_shared<nn::Linear>(width, options.d_model, options.expert_bias,
                                     options.tensor_options));
  }
  register_module("experts", experts);
  if (shared) register_module("shared", shared);
}

MoEOutput run_routed_experts(const Tensor& tokens, const Routing& routing, Experts& experts,
                             const ExpertCapacity& capacity, bool training,
                             ExpertPlacement* placement) {
  const int64_t e = placement ? placement->num_experts() : experts.num_experts();
  MG_CHECK(!placement || experts.num_experts() == placement->local_experts(), "MoE",
           "this process holds ", placement ? placement->local_experts() : 0,
           " experts, but the experts module (", experts.type_name(), ") has ",
           experts.num_experts());
  Tensor keep = routing.keep;
  if (!capacity.dropless && !routing.load_bounded) {
    const double factor = training ? capacity.factor_train : capacity.factor_eval;
    ExpertPlacement::Queue queue =
        placement
            ? placement->queue(routing.expert_index, e)
            : ExpertPlacement::Queue{expert_positions(routing.expert_index, e), tokens.size(0)};
    const int64_t limit = expert_capacity(queue.tokens, e, factor, capacity.min_capacity);
    Tensor within = lt(queue.positions, limit);
    keep = keep.defined() ? logical_and(keep, within) : within;
  }
  const DispatchPlan plan = make_dispatch_plan(routing.expert_index, e, keep);
  const Tensor rows = dispatch(tokens, plan);
  const Tensor expert_out =
      placement ? placement->run(rows, plan.counts, experts) : experts.forward(rows, plan.counts);
  MG_CHECK(expert_out.shape() == rows.shape(), "MoE", "the experts (", experts.type_name(),
           ") must return one row of width ", tokens.size(1), " per row; they mapped ",
           describe(rows), " to ", describe(expert_out));
  MoEOutput out;
  out.output = combine(expert_out, routing.gates, plan);
  out.aux_loss = routing.aux_loss;
  out.tokens_per_expert = plan.counts;
  out.dropped = plan.dropped;
  {
    NoGradGuard no_grad;
    const Tensor p = routing.probs;
    out.gate_entropy = -(p * log(p.clamp(1e-30, std::nullopt))).sum({1}).mean();
  }
  return out;
}

MoEOutput MoE::operator()(const Tensor& x) {
  const int64_t d = options_.d_model;
  MG_CHECK(x.dim() >= 1 && x.size(-1) == d, "MoE", "input must be [..., ", d, "], got ",
           describe(x));
  const Tensor tokens = x.reshape({-1, d});
  const ExpertCapacity capacity{.factor_train = options_.capacity_factor_train,
                                .factor_eval = options_.capacity_factor_eval,
                                .min_capacity = options_.min_capacity,
                                .dropless = options_.dropless};
  MoEOutput out = run_routed_experts(tokens, gate->route(tokens), *experts, capacity, is_training(),
                                     placement.get());
  if (shared) out.output = out.output + (*shared)(tokens);
  out.output = out.output.reshape(x.shape());
  return out;
}

std::string MoE::extra_repr() const {
  return "k=" + std::to_string(options_.k) +
         (options_.dropless
              ? ", dropless"
              : ", capacity_factor=" + nn::format_number(options_.capacity_factor_train));
}

}  // namespace mixgrad::models
