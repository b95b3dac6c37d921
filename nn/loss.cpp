#include "nn/loss.h"

#include "nn/repr.h"

namespace mixgrad::nn {

Tensor Loss::operator()(const Tensor& input, const Tensor& target) {
  return call_hooked([this](const Tensor& x, const Tensor& y) { return compute(x, y); }, input,
                     target);
}

std::string Loss::extra_repr() const {
  switch (reduction_) {
    case Reduction::None:
      return "reduction=none";
    case Reduction::Sum:
      return "reduction=sum";
    case Reduction::Mean:
      break;
  }
  return "";
}

namespace {
std::string join_repr(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + ", " + b;
}
}  // namespace

Tensor MSELoss::compute(const Tensor& input, const Tensor& target) {
  return mse_loss(input, target, reduction_);
}

Tensor L1Loss::compute(const Tensor& input, const Tensor& target) {
  return l1_loss(input, target, reduction_);
}

Tensor SmoothL1Loss::compute(const Tensor& input, const Tensor& target) {
  return smooth_l1_loss(input, target, reduction_, beta_);
}
std::string SmoothL1Loss::extra_repr() const {
  return join_repr(Loss::extra_repr(), "beta=" + format_number(beta_));
}

Tensor CrossEntropyLoss::compute(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, reduction_, label_smoothing_, ignore_index_);
}
std::string CrossEntropyLoss::extra_repr() const {
  std::string repr = Loss::extra_repr();
  if (label_smoothing_ != 0) {
    repr = join_repr(repr, "label_smoothing=" + format_number(label_smoothing_));
  }
  return repr;
}

Tensor NLLLoss::compute(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, reduction_, ignore_index_);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(Reduction reduction, Tensor pos_weight)
    : Loss(reduction), pos_weight_(std::move(pos_weight)) {
  if (pos_weight_.defined()) register_buffer("pos_weight", pos_weight_);
}
Tensor BCEWithLogitsLoss::compute(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, reduction_, Tensor(), pos_weight_);
}

}  // namespace mixgrad::nn
