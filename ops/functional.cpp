// Neural-network functionals, composed from the generic ops (so every backend gets them and
// their gradients for free).
#include "ops/functional.h"

#include <initializer_list>
#include <utility>

#include "autograd/function.h"
#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  MG_CHECK(weight.dim() == 2, "linear", "weight must be [out, in], got shape ", weight.shape());
  MG_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear", "input of shape ", x.shape(),
           " does not match weight of shape ", weight.shape(), " (expected last dim ",
           weight.size(1), ")");
  if (bias.defined()) {
    MG_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear", "bias of shape ",
             bias.shape(), " does not match weight of shape ", weight.shape());
  }
  if (x.dim() == 2) return bias.defined() ? addmm(bias, x, t(weight)) : mm(x, t(weight));
  // Fold leading dims into rows so the whole layer is one GEMM.
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor rows = reshape(x, {-1, x.size(-1)});
  Tensor y = bias.defined() ? addmm(bias, rows, t(weight)) : mm(rows, t(weight));
  return reshape(y, out_shape);
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  MG_CHECK(weight.dim() == 2, "embedding", "weight must be [num_embeddings, dim], got shape ",
           weight.shape());
  MG_CHECK(!indices.is_floating_point() && indices.dtype() != DType::Bool, "embedding",
           "indices must be int64 or int32, got ", indices.dtype());
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  return reshape(index_select(weight, 0, reshape(indices, {-1})), out_shape);
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const int64_t n = static_cast<int64_t>(normalized_shape.size());
  MG_CHECK(n >= 1 && n <= x.dim(), "layer_norm", "normalized_shape ", normalized_shape,
           " does not fit input of shape ", x.shape());
  const Shape trailing(x.shape().end() - n, x.shape().end());
  MG_CHECK(trailing == normalized_shape, "layer_norm", "input of shape ", x.shape(),
           " does not end in normalized_shape ", normalized_shape);
  MG_CHECK(x.is_floating_point(), "layer_norm", "expected a floating input, got ", x.dtype());
  for (const Tensor* p : {&weight, &bias}) {
    if (p->defined()) {
      MG_CHECK(p->shape() == normalized_shape, "layer_norm", "weight/bias of shape ", p->shape(),
               " must equal normalized_shape ", normalized_shape);
    }
  }
  Shape dims;
  for (int64_t d = x.dim() - n; d < x.dim(); ++d) dims.push_back(d);
  Tensor mu = mean(x, dims, true);
  Tensor centered = x - mu;
  Tensor variance = mean(square(centered), dims, true);  // biased, as PyTorch
  Tensor y = centered * rsqrt(variance + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  MG_CHECK(p >= 0 && p <= 1, "dropout", "probability must be in [0, 1], got ", p);
  MG_CHECK(x.is_floating_point(), "dropout", "expected a floating input, got ", x.dtype());
  if (!training || p == 0) return x;
  if (p == 1) return x * zeros_like(x);
  Tensor keep = ge(rand(x.shape(), options_of(x), gen), p);
  return x * keep.to(x.dtype()) * (1.0 / (1.0 - p));
}

namespace {

Tensor reduce_loss(const Tensor& per_element, Reduction reduction, const Tensor& weight_sum) {
  switch (reduction) {
    case Reduction::None:
      return per_element;
    case Reduction::Sum:
      return sum(per_element);
    case Reduction::Mean:
      return weight_sum.defined() ? sum(per_element) / weight_sum : mean(per_element);
  }
  return per_element;
}

// [N, C, d1, ...] -> [N * d1 * ..., C] and targets [N, d1, ...] -> [N * d1 * ...].
struct FlatClasses {
  Tensor scores;
  Tensor target;
  Shape per_sample_shape;
};

FlatClasses flatten_classes(const char* op, const Tensor& scores, const Tensor& target) {
  MG_CHECK(scores.dim() >= 1, op, "expected input of shape [N, C], [N, C, d...] or [C], got ",
           scores.shape());
  MG_CHECK(target.dtype() == DType::Int64 || target.dtype() == DType::Int32, op,
           "target must hold class indices (int64 or int32), or class probabilities of the "
           "input's shape, got ",
           describe(target), " for input of shape ", scores.shape());
  MG_CHECK(target.device() == scores.device(), op, "target on ", target.device(), " but input on ",
           scores.device());
  if (scores.dim() == 1) {  // one unbatched sample: a 0-dim target, a 0-dim per-sample loss
    MG_CHECK(target.dim() == 0, op, "target of shape ", target.shape(),
             " does not match unbatched input of shape ", scores.shape(), " (expected [])");
    FlatClasses f;
    f.scores = unsqueeze(scores, 0);
    f.target = reshape(target, {1}).to(DType::Int64);
    return f;
  }
  Shape expected = scores.shape();
  expected.erase(expected.begin() + 1);
  MG_CHECK(target.shape() == expected, op, "target of shape ", target.shape(),
           " does not match input of shape ", scores.shape(), " (expected ", expected, ")");
  FlatClasses f;
  f.per_sample_shape = expected;
  Tensor s = scores;
  if (scores.dim() > 2) {  // move the class dim last
    Shape order{0};
    for (int64_t d = 2; d < scores.dim(); ++d) order.push_back(d);
    order.push_back(1);
    s = permute(scores, order);
  }
  f.scores = reshape(s, {-1, scores.size(1)});
  f.target = reshape(target, {-1}).to(DType::Int64);
  return f;
}

// The class of the input's dim 1 (dim 0 when unbatched).
int64_t class_dim(const Tensor& scores) {
  return scores.dim() == 1 ? 0 : 1;
}

// `weight`, when given, holds one value per class, of the input's dtype and device.
void check_class_weight(const char* op, const Tensor& weight, const Tensor& scores) {
  if (!weight.defined()) return;
  const int64_t classes = scores.size(class_dim(scores));
  MG_CHECK(weight.dim() == 1 && weight.size(0) == classes, op,
           "weight must hold one value per class (shape [", classes, "]), got shape ",
           weight.shape());
  MG_CHECK(weight.dtype() == scores.dtype() && weight.device() == scores.device(), op, "weight is ",
           describe(weight), " but the input is ", describe(scores));
}

// Per flat sample: the weight of its target class (0 where ignored), and the ignored mask.
struct TargetWeights {
  Tensor safe_target;  // ignored targets replaced by class 0, so that gathers stay in range
  Tensor weight;       // [M] of the scores' dtype
};

TargetWeights target_weights(const FlatClasses& f, const Tensor& class_weight,
                             int64_t ignore_index) {
  const Tensor valid = ne(f.target, ignore_index);
  TargetWeights t;
  t.safe_target = where(valid, f.target, zeros_like(f.target));
  t.weight = valid.to(f.scores.dtype());
  if (class_weight.defined()) {
    // index_select checks the class range; a bad index is reported by the gather below first.
    const Tensor in_range = logical_and(ge(t.safe_target, 0), lt(t.safe_target, f.scores.size(1)));
    t.weight = t.weight * index_select(class_weight, 0,
                                       where(in_range, t.safe_target, zeros_like(t.safe_target)));
  }
  return t;
}

// -scores[m, target[m]] for every flat sample, with an Error naming `op` for a bad class index.
Tensor picked_negative(const char* op, const Tensor& scores, const Tensor& safe_target) {
  try {
    return -squeeze(gather(scores, 1, unsqueeze(safe_target, 1)), 1);
  } catch (const Error& e) {
    throw Error(op, std::string("target holds an invalid class index (") + e.what() + ")");
  }
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction,
                int64_t ignore_index, const Tensor& weight) {
  constexpr const char* op = "nll_loss";
  FlatClasses f = flatten_classes(op, log_probs, target);
  check_class_weight(op, weight, log_probs);
  const TargetWeights t = target_weights(f, weight, ignore_index);
  Tensor loss =
      reshape(picked_negative(op, f.scores, t.safe_target) * t.weight, f.per_sample_shape);
  return reduce_loss(loss, reduction, reduction == Reduction::Mean ? sum(t.weight) : Tensor());
}

namespace {
// Cross-entropy against class probabilities (target of the input's shape), as PyTorch: per
// sample -sum_c weight[c] target[c] log_softmax(input)[c]; the mean divides by the number of
// samples, whatever the weights.
Tensor cross_entropy_with_probabilities(const Tensor& logits, const Tensor& target,
                                        Reduction reduction, double label_smoothing,
                                        int64_t ignore_index, const Tensor& weight) {
  constexpr const char* op = "cross_entropy";
  MG_CHECK(target.shape() == logits.shape(), op, "a floating target holds class probabilities ",
           "and must have the input's shape ", logits.shape(), ", got ", describe(target),
           " (class indices are int64 or int32)");
  MG_CHECK(target.dtype() == logits.dtype() && target.device() == logits.device(), op, "target is ",
           describe(target), " but the input is ", describe(logits));
  MG_CHECK(ignore_index < 0, op, "ignore_index (", ignore_index,
           ") applies to class-index targets only, not to class probabilities");
  const int64_t dim = class_dim(logits);
  const int64_t classes = logits.size(dim);
  Tensor probs = target;
  if (label_smoothing > 0)
    probs = target * (1.0 - label_smoothing) + label_smoothing / static_cast<double>(classes);
  Tensor terms = log_softmax(logits, dim) * probs;
  if (weight.defined()) {
    Shape along_classes(static_cast<std::size_t>(logits.dim()), 1);
    along_classes[static_cast<std::size_t>(dim)] = classes;
    terms = terms * reshape(weight, along_classes);
  }
  return reduce_loss(-sum(terms, {dim}), reduction, Tensor());
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction,
                     double label_smoothing, int64_t ignore_index, const Tensor& weight) {
  constexpr const char* op = "cross_entropy";
  MG_CHECK(label_smoothing >= 0 && label_smoothing <= 1, op,
           "label_smoothing must be in [0, 1], got ", label_smoothing);
  MG_CHECK(logits.is_floating_point(), op, "expected floating logits, got ", logits.dtype());
  MG_CHECK(logits.dim() >= 1, op, "expected input of shape [N, C], [N, C, d...] or [C], got ",
           logits.shape());
  check_class_weight(op, weight, logits);
  if (target.is_floating_point())
    return cross_entropy_with_probabilities(logits, target, reduction, label_smoothing,
                                            ignore_index, weight);
  FlatClasses f = flatten_classes(op, logits, target);
  Tensor logp = log_softmax(f.scores, 1);
  const TargetWeights t = target_weights(f, weight, ignore_index);
  Tensor per_sample = picked_negative(op, logp, t.safe_target) * t.weight;
  if (label_smoothing > 0) {
    // Smoothed target: (1 - eps) on the class, eps / C spread over all classes (each class term
    // weighted by its class weight; ignored samples contribute nothing).
    Tensor spread = weight.defined() ? logp * weight : logp;
    Tensor uniform_term = -mean(spread, {1}) * ne(f.target, ignore_index).to(logp.dtype());
    per_sample = per_sample * (1.0 - label_smoothing) + uniform_term * label_smoothing;
  }
  Tensor loss = reshape(per_sample, f.per_sample_shape);
  return reduce_loss(loss, reduction, reduction == Reduction::Mean ? sum(t.weight) : Tensor());
}

namespace {

void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  MG_CHECK(input.shape() == target.shape(), op, "input of shape ", input.shape(),
           " and target of shape ", target.shape(), " differ");
}

bool broadcasts_to(const Shape& shape, const Shape& target) {
  if (shape.size() > target.size()) return false;
  const size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && shape[i] != target[lead + i]) return false;
  return true;
}

// Checks for the binary cross-entropies: floating tensors, target shaped like the input,
// optional weights that broadcast to it.
void check_binary_loss_args(const char* op, const Tensor& input, const Tensor& target,
                            std::initializer_list<std::pair<const char*, const Tensor*>> weights) {
  check_same_shape(op, input, target);
  MG_CHECK(input.is_floating_point() && target.is_floating_point(), op,
           "input and target must be floating, got ", input.dtype(), " and ", target.dtype());
  for (const auto& [name, w] : weights) {
    if (!w->defined()) continue;
    MG_CHECK(w->is_floating_point(), op, name, " must be floating, got ", w->dtype());
    MG_CHECK(broadcasts_to(w->shape(), input.shape()), op, name, " of shape ", w->shape(),
             " does not broadcast to the input shape ", input.shape());
  }
}

Tensor weighted_loss(const Tensor& per_element, const Tensor& weight, Reduction reduction) {
  return reduce_loss(weight.defined() ? per_element * weight : per_element, reduction, Tensor());
}

// log(1 + exp(-x)) without overflow for any x: log1p(exp(-|x|)) + max(-x, 0).
Tensor softplus_of_negated(const Tensor& x) {
  return log1p(exp(-abs(x))) + relu(-x);
}

// Clamped as PyTorch does, so that p = 0 or 1 gives a finite loss.
Tensor clamped_log(const Tensor& x) {
  return clamp(log(x), -100.0, std::nullopt);
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape("mse_loss", input, target);
  return reduce_loss(square(input - target), reduction, Tensor());
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape("l1_loss", input, target);
  return reduce_loss(abs(input - target), reduction, Tensor());
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  MG_CHECK(beta >= 0, "smooth_l1_loss", "beta must be non-negative, got ", beta);
  // The quadratic branch divides by beta; even unselected, its gradient would be 0 / 0.
  if (beta == 0) return l1_loss(input, target, reduction);
  check_same_shape("smooth_l1_loss", input, target);
  Tensor diff = input - target;
  Tensor dist = abs(diff);
  Tensor loss = where(lt(dist, beta), square(diff) * (0.5 / beta), dist - 0.5 * beta);
  return reduce_loss(loss, reduction, Tensor());
}

// The per-element loss has its own backward: composing it would give the kink of |x| at x = 0 a
// zero derivative (the true one is sigmoid(x) - y).
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction, const Tensor& weight,
                                        const Tensor& pos_weight) {
  const char* op = "binary_cross_entropy_with_logits";
  check_binary_loss_args(op, logits, target, {{"weight", &weight}, {"pos_weight", &pos_weight}});
  Tensor loss;
  {
    NoGradGuard no_grad;
    Tensor sp = softplus_of_negated(logits);
    if (pos_weight.defined()) sp = (1 + (pos_weight - 1) * target) * sp;
    loss = (1 - target) * logits + sp;
  }
  record(op, loss, {logits, target, pos_weight},
         [sx = save(logits), sy = save(target), spw = save(pos_weight)](const Tensor& g,
                                                                        InputGrads in) {
           const Tensor& x = sx.get();
           const Tensor& y = sy.get();
           const Tensor& pw = spw.get();
           if (in[0].needed()) {  // (1 - y) - (1 + (pw - 1) y) sigmoid(-x)
             Tensor s = sigmoid(-x);
             if (pw.defined()) s = (1 + (pw - 1) * y) * s;
             in[0].add(g * ((1 - y) - s));
           }
           if (!in[1].needed() && !in[2].needed()) return;
           Tensor sp = softplus_of_negated(x);
           if (in[1].needed()) in[1].add(g * (pw.defined() ? (pw - 1) * sp - x : -x));
           if (in[2].needed()) in[2].add(g * y * sp);
         });
  return weighted_loss(loss, weight, reduction);
}

// Own backward for PyTorch's gradient, which stays finite where p = 0 or 1 (through the clamped
// logs the composition would give 0 / 0 there).
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, Reduction reduction,
                            const Tensor& weight) {
  const char* op = "binary_cross_entropy";
  check_binary_loss_args(op, probs, target, {{"weight", &weight}});
  Tensor loss;
  {
    NoGradGuard no_grad;
    if (probs.numel() > 0) {
      const double lo = probs.min().item<double>(), hi = probs.max().item<double>();
      MG_CHECK(lo >= 0 && hi <= 1, op, "probabilities must lie in [0, 1], got values in [", lo,
               ", ", hi, "]");
    }
    loss = -(target * clamped_log(probs) + (1 - target) * clamped_log(1 - probs));
  }
  record(op, loss, {probs, target},
         [sp = save(probs), sy = save(target)](const Tensor& g, InputGrads in) {
           const Tensor& p = sp.get();
           const Tensor& y = sy.get();
           if (in[0].needed()) in[0].add(g * (p - y) / clamp(p * (1 - p), 1e-12, std::nullopt));
           if (in[1].needed()) in[1].add(g * (clamped_log(1 - p) - clamped_log(p)));
         });
  return weighted_loss(loss, weight, reduction);
}

}  // namespace mixgrad
