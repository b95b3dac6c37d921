#include "nn/batch_norm.h"

#include <string>

#include "nn/repr.h"
#include "ops/normalization.h"

namespace mixgrad::nn {

namespace {

const char* flag(bool on) {
  return on ? "true" : "false";
}

}  // namespace

BatchNormBase::BatchNormBase(const char* name, int64_t num_features, double eps,
                             std::optional<double> momentum, bool affine, bool track_running_stats,
                             TensorOptions options)
    : num_features_(num_features), eps_(eps), momentum_(momentum) {
  MG_CHECK(num_features >= 1, name, "num_features must be positive, got ", num_features);
  MG_CHECK(eps >= 0, name, "eps must be non-negative, got ", eps);
  MG_CHECK(!momentum || (*momentum >= 0 && *momentum <= 1), name,
           "momentum must be in [0, 1], got ", momentum.value_or(0));
  options.requires_grad_ = false;
  if (affine) {
    weight = register_parameter("weight", ones({num_features}, options));
    bias = register_parameter("bias", zeros({num_features}, options));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}, options));
    running_var = register_buffer("running_var", ones({num_features}, options));
    num_batches_tracked = register_buffer(
        "num_batches_tracked", zeros({}, TensorOptions(DType::Int64).device(options.device_)));
  }
}

Tensor BatchNormBase::forward(const Tensor& input) {
  check_input_rank(input);
  const bool update_stats = is_training() && running_mean.defined();
  double factor = momentum_.value_or(0.0);
  int64_t batches = 0;
  if (update_stats) {
    batches = num_batches_tracked.item<int64_t>() + 1;
    if (!momentum_) factor = 1.0 / static_cast<double>(batches);
  }
  // Without tracked statistics every batch normalises with its own, in eval mode too.
  Tensor out = batch_norm(input, running_mean, running_var, weight, bias,
                          is_training() || !running_mean.defined(), factor, eps_);
  if (update_stats) num_batches_tracked.fill_(batches);  // only once the op has succeeded
  return out;
}

std::string BatchNormBase::extra_repr() const {
  return std::to_string(num_features_) + ", eps=" + format_number(eps_) +
         ", momentum=" + (momentum_ ? format_number(*momentum_) : std::string("none")) +
         ", affine=" + flag(weight.defined()) +
         ", track_running_stats=" + flag(running_mean.defined());
}

BatchNorm1d::BatchNorm1d(int64_t num_features, double eps, std::optional<double> momentum,
                         bool affine, bool track_running_stats, TensorOptions options)
    : BatchNormBase("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats,
                    options) {}

void BatchNorm1d::check_input_rank(const Tensor& input) const {
  MG_CHECK(input.defined() && (input.dim() == 2 || input.dim() == 3), "BatchNorm1d",
           "expected input of shape [N, C] or [N, C, L], got ",
           input.defined() ? detail::to_str(input.shape()) : std::string("an undefined tensor"));
}

BatchNorm2d::BatchNorm2d(int64_t num_features, double eps, std::optional<double> momentum,
                         bool affine, bool track_running_stats, TensorOptions options)
    : BatchNormBase("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats,
                    options) {}

void BatchNorm2d::check_input_rank(const Tensor& input) const {
  MG_CHECK(input.defined() && input.dim() == 4, "BatchNorm2d",
           "expected input of shape [N, C, H, W], got ",
           input.defined() ? detail::to_str(input.shape()) : std::string("an undefined tensor"));
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine,
                     TensorOptions options)
    : num_groups_(num_groups), num_channels_(num_channels), eps_(eps) {
  MG_CHECK(num_channels >= 1 && num_groups >= 1 && num_channels % num_groups == 0, "GroupNorm",
           "num_groups ", num_groups, " must be positive and divide num_channels ", num_channels);
  MG_CHECK(eps >= 0, "GroupNorm", "eps must be non-negative, got ", eps);
  options.requires_grad_ = false;
  if (affine) {
    weight = register_parameter("weight", ones({num_channels}, options));
    bias = register_parameter("bias", zeros({num_channels}, options));
  }
}

Tensor GroupNorm::forward(const Tensor& input) {
  return group_norm(input, num_groups_, weight, bias, eps_);
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups_) + ", " + std::to_string(num_channels_) +
         ", eps=" + format_number(eps_) + ", affine=" + flag(weight.defined());
}

}  // namespace mixgrad::nn
