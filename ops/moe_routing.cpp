// MoE routing, composed from generic ops: a stable argsort by expert gives the dispatch order,
// bincount + cumsum the per-expert ranges, index_select/index_add move rows (and carry the
// gradients). Nothing here needs its own kernel.
#include "ops/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "autograd/function.h"
#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad {

namespace {

TensorOptions int64_on(const Tensor& like) {
  return TensorOptions(kInt64).device(like.device());
}

// expert_index validated ([T, k], integer, ids in [0, num_experts)) and converted to int64.
Tensor checked_expert_index(const char* op, const Tensor& expert_index, int64_t num_experts) {
  MG_CHECK(expert_index.defined(), op, "got an undefined expert_index");
  MG_CHECK(expert_index.dtype() == DType::Int64 || expert_index.dtype() == DType::Int32, op,
           "expert_index must be int64 or int32, got ", expert_index.dtype());
  MG_CHECK(expert_index.dim() == 2, op, "expert_index must be [tokens, k], got shape ",
           expert_index.shape());
  MG_CHECK(num_experts >= 1, op, "num_experts must be at least 1, got ", num_experts);
  Tensor ids = expert_index.to(kInt64);
  if (ids.numel() > 0) {
    const int64_t lo = amin(ids).item<int64_t>();
    const int64_t hi = amax(ids).item<int64_t>();
    MG_CHECK(lo >= 0, op, "expert id ", lo, " is out of range [0, ", num_experts, ")");
    MG_CHECK(hi < num_experts, op, "expert id ", hi, " is out of range [0, ", num_experts, ")");
  }
  return ids;
}

// Exclusive prefix sum of a 1-D int64 tensor: [0, c0, c0 + c1, ...], one longer than counts.
Tensor exclusive_offsets(const Tensor& counts) {
  return cat({zeros({1}, int64_on(counts)), cumsum(counts, 0)});
}

void check_plan(const char* op, const DispatchPlan& plan) {
  MG_CHECK(plan.order.defined() && plan.token_index.defined() && plan.offsets.defined(), op,
           "the dispatch plan is empty; build it with make_dispatch_plan");
  MG_CHECK(plan.order.numel() == plan.rows() && plan.token_index.numel() == plan.rows(), op,
           "the dispatch plan is inconsistent: ", plan.order.numel(), " rows for ", plan.num_tokens,
           " tokens x k = ", plan.top_k, " with ", plan.dropped, " dropped");
}

}  // namespace

DispatchPlan make_dispatch_plan(const Tensor& expert_index, int64_t num_experts,
                                const Tensor& keep) {
  const char* op = "make_dispatch_plan";
  Tensor ids = checked_expert_index(op, expert_index, num_experts);
  NoGradGuard no_grad;
  DispatchPlan plan;
  plan.num_tokens = ids.size(0);
  plan.top_k = ids.size(1);
  plan.num_experts = num_experts;
  const int64_t pairs = ids.numel();
  Tensor flat = reshape(ids, {-1});
  // Dropped pairs get the key num_experts, so the stable sort moves them past every kept row
  // and cutting the tail removes them without disturbing the kept order.
  Tensor key = flat;
  if (keep.defined()) {
    MG_CHECK(keep.dtype() == DType::Bool && keep.shape() == expert_index.shape(), op,
             "keep must be a bool mask of shape ", expert_index.shape(), ", got ", keep.dtype(),
             " of shape ", keep.shape());
    Tensor keep_flat = reshape(keep, {-1});
    plan.dropped = pairs - sum(keep_flat).item<int64_t>();
    key = where(keep_flat, flat, full({1}, num_experts, int64_on(flat)));
  }
  const int64_t rows = pairs - plan.dropped;
  plan.order =
      narrow(argsort(key, 0, /*descending=*/false, /*stable=*/true), 0, 0, rows).contiguous();
  plan.counts = bincount(index_select(flat, 0, plan.order), Tensor(), num_experts);
  plan.offsets = exclusive_offsets(plan.counts);
  Tensor token_of_pair =
      reshape(expand(unsqueeze(arange(plan.num_tokens, int64_on(flat)), 1), ids.shape()), {-1});
  plan.token_index = index_select(token_of_pair, 0, plan.order);
  return plan;
}

Tensor dispatch(const Tensor& x, const DispatchPlan& plan) {
  const char* op = "dispatch";
  check_plan(op, plan);
  MG_CHECK(x.defined() && x.dim() == 2 && x.size(0) == plan.num_tokens, op,
           "x must be [tokens, d] with ", plan.num_tokens, " tokens as in the plan, got shape ",
           x.defined() ? x.shape() : Shape{});
  return index_select(x, 0, plan.token_index);
}

Tensor combine(const Tensor& expert_out, const Tensor& gates, const DispatchPlan& plan) {
  const char* op = "combine";
  check_plan(op, plan);
  MG_CHECK(expert_out.defined() && gates.defined(), op, "got an undefined tensor");
  MG_CHECK(expert_out.dim() == 2 && expert_out.size(0) == plan.rows(), op,
           "expert_out must be [rows, d] with the plan's ", plan.rows(), " rows, got shape ",
           expert_out.shape());
  MG_CHECK(gates.shape() == Shape({plan.num_tokens, plan.top_k}), op, "gates must be [",
           plan.num_tokens, ", ", plan.top_k, "] (tokens, k) as in the plan, got shape ",
           gates.shape());
  MG_CHECK(expert_out.is_floating_point() && gates.is_floating_point(), op,
           "expert_out and gates must be floating, got ", expert_out.dtype(), " and ",
           gates.dtype());
  Tensor row_gates = index_select(reshape(gates, {-1}), 0, plan.order);
  Tensor weighted = expert_out * unsqueeze(row_gates, 1);
  Tensor out = zeros({plan.num_tokens, expert_out.size(1)}, options_of(weighted));
  return index_add(out, 0, plan.token_index, weighted);
}

Tensor expert_positions(const Tensor& expert_index, int64_t num_experts) {
  Tensor ids = checked_expert_index("expert_positions", expert_index, num_experts);
  NoGradGuard no_grad;
  // Slot-major order (all slot-0 choices in token order, then slot 1, ...) is the queue order,
  // so a pair's position is its rank within its expert after a stable sort of that order.
  Tensor queue = reshape(t(ids), {-1});
  Tensor perm = argsort(queue, 0, /*descending=*/false, /*stable=*/true);
  Tensor starts = exclusive_offsets(bincount(queue, Tensor(), num_experts));
  Tensor rank = arange(queue.numel(), int64_on(queue)) -
                index_select(starts, 0, index_select(queue, 0, perm));
  Tensor positions = scatter(zeros_like(queue), 0, perm, rank);
  return t(reshape(positions, {ids.size(1), ids.size(0)})).contiguous();
}

int64_t expert_capacity(int64_t tokens, int64_t num_experts, double capacity_factor,
                        int64_t min_capacity) {
  const char* op = "expert_capacity";
  MG_CHECK(std::isfinite(capacity_factor) && capacity_factor > 0, op,
           "capacity_factor must be positive, got ", capacity_factor);
  MG_CHECK(tokens >= 0, op, "tokens must be non-negative, got ", tokens);
  MG_CHECK(num_experts >= 1, op, "num_experts must be at least 1, got ", num_experts);
  MG_CHECK(min_capacity >= 0, op, "min_capacity must be non-negative, got ", min_capacity);
  // Capped at `tokens` while still a double: a huge factor must not overflow the conversion.
  const double share =
      std::floor(static_cast<double>(tokens) * capacity_factor / static_cast<double>(num_experts));
  const int64_t capacity =
      share >= static_cast<double>(tokens) ? tokens : static_cast<int64_t>(share);
  return std::max(capacity, min_capacity);
}

Tensor normal_cdf(const Tensor& x) {
  MG_CHECK(x.defined(), "normal_cdf", "got an undefined tensor");
  const Tensor xf = x.is_floating_point() ? x : x.to(default_dtype());
  Tensor y;
  {
    NoGradGuard no_grad;
    y = (erf(xf * std::numbers::sqrt2 * 0.5) + 1) * 0.5;
  }
  record("normal_cdf", y, {xf}, [sx = save(xf)](const Tensor& g, InputGrads in) {
    const double inv_sqrt_2pi = std::numbers::inv_sqrtpi / std::numbers::sqrt2;
    in[0].add(g * exp(square(sx.get()) * -0.5) * inv_sqrt_2pi);
  });
  return y;
}

Tensor cv_squared(const Tensor& v, int64_t correction) {
  const char* op = "cv_squared";
  MG_CHECK(v.defined() && v.dim() == 1 && v.is_floating_point(), op,
           "expects a floating 1-D tensor, got ", v.defined() ? v.dtype() : DType::Float32,
           " of shape ", v.defined() ? v.shape() : Shape{});
  MG_CHECK(correction == 0 || correction == 1, op, "correction must be 0 or 1, got ", correction);
  if (v.numel() <= 1) return zeros({}, options_of(v));
  return var(v, {}, correction) / (square(mean(v)) + 1e-10);
}

}  // namespace mixgrad
