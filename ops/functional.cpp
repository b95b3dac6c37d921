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
  MG_CHECK(scores.dim() >= 2, op, "expected input of shape [N, C] or [N, C, d...], got ",
           scores.shape());
  MG_CHECK(target.dtype() == DType::Int64 || target.dtype() == DType::Int32, op,
           "target must hold class indices (int64 or int32), got ", target.dtype());
  MG_CHECK(target.device() == scores.device(), op, "target on ", target.device(), " but input on ",
           scores.device());
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

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction,
                int64_t ignore_index) {
  FlatClasses f = flatten_classes("nll_loss", log_probs, target);
  Tensor valid = ne(f.target, ignore_index);
  Tensor safe_target = where(valid, f.target, zeros_like(f.target));
  Tensor picked;
  try {
    picked = squeeze(gather(f.scores, 1, unsqueeze(safe_target, 1)), 1);
  } catch (const Error& e) {
    throw Error("nll_loss", std::string("target holds an invalid class index (") + e.what() + ")");
  }
  Tensor mask = valid.to(f.scores.dtype());
  Tensor loss = reshape(-picked * mask, f.per_sample_shape);
  return reduce_loss(loss, reduction, reduction == Reduction::Mean ? sum(mask) : Tensor());
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction,
                     double label_smoothing, int64_t ignore_index) {
  MG_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy",
           "label_smoothing must be in [0, 1], got ", label_smoothing);
  MG_CHECK(logits.is_floating_point(), "cross_entropy", "expected floating logits, got ",
           logits.dtype());
  FlatClasses f = flatten_classes("cross_entropy", logits, target);
  Tensor logp = log_softmax(f.scores, 1);
  Tensor valid = ne(f.target, ignore_index);
  Tensor safe_target = where(valid, f.target, zeros_like(f.target));
  Tensor nll;
  try {
    nll = -squeeze(gather(logp, 1, unsqueeze(safe_target, 1)), 1);
  } catch (const Error& e) {
    throw Error("cross_entropy",
                std::string("target holds an invalid class index (") + e.what() + ")");
  }
  Tensor per_sample = nll;
  if (label_smoothing > 0) {
    // Smoothed target: (1 - eps) on the class, eps / C spread over all classes.
    Tensor uniform_term = -mean(logp, {1});
    per_sample = nll * (1.0 - label_smoothing) + uniform_term * label_smoothing;
  }
  Tensor mask = valid.to(logp.dtype());
  Tensor loss = reshape(per_sample * mask, f.per_sample_shape);
  return reduce_loss(loss, reduction, reduction == Reduction::Mean ? sum(mask) : Tensor());
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
