// batch_norm and group_norm: validation here, the element loops in the norm_* kernels (one pass
// for the statistics, one fused normalise + affine pass; backward: one pass of sums, one fused
// pass). Per-channel coefficients are tiny [C] tensors computed with ordinary ops.
#include "ops/normalization.h"

#include <initializer_list>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad {

namespace {

// Product of the dims after the channel dim.
int64_t spatial_size(const Tensor& x) {
  int64_t s = 1;
  for (int64_t d = 2; d < x.dim(); ++d) s *= x.size(d);
  return s;
}

void check_input(const char* op, const Tensor& input, double eps) {
  MG_CHECK(input.defined(), op, "got an undefined input");
  MG_CHECK(input.dim() >= 2, op, "expected input of shape [N, C, *] (at least 2 dims), got ",
           input.shape());
  MG_CHECK(input.is_floating_point(), op, "expected a floating input, got ", input.dtype());
  MG_CHECK(eps >= 0, op, "eps must be non-negative, got ", eps);
}

// An optional per-channel tensor must be [C] with the input's dtype and device.
void check_channel_tensor(const char* op, const char* name, const Tensor& t, const Tensor& input) {
  if (!t.defined()) return;
  const int64_t channels = input.size(1);
  MG_CHECK(t.dim() == 1 && t.size(0) == channels, op, name, " of shape ", t.shape(),
           " does not match input of shape ", input.shape(), " (expected [", channels, "])");
  MG_CHECK(t.dtype() == input.dtype(), op, name, " has dtype ", t.dtype(), " but input has ",
           input.dtype());
  MG_CHECK(t.device() == input.device(), op, name, " is on ", describe(t.device()),
           " but input is on ", describe(input.device()));
}

// out = x * scale[c] + shift[c] over x viewed as [B, C, S].
Tensor scale_shift(const Tensor& x, const Shape& out_shape, const Tensor& scale,
                   const Tensor& shift) {
  Tensor out = empty(out_shape, options_of(x));
  kernels::norm_affine(x.device(), out.view(x.shape()), x, scale, Tensor(), Tensor(), shift);
  return out;
}

// The [B, C, S] view of a gradient, in the forward's dtype.
Tensor grad_view(const Tensor& g, DType dtype, const Shape& bcs) {
  return contiguous(to(g, dtype)).view(bcs);
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  constexpr const char* op = "batch_norm";
  check_input(op, input, eps);
  check_channel_tensor(op, "running_mean", running_mean, input);
  check_channel_tensor(op, "running_var", running_var, input);
  check_channel_tensor(op, "weight", weight, input);
  check_channel_tensor(op, "bias", bias, input);
  MG_CHECK(running_mean.defined() == running_var.defined(), op,
           "running_mean and running_var must be both defined or both undefined");
  MG_CHECK(training || running_mean.defined(), op,
           "running_mean and running_var must be defined in evaluation mode");
  // Momentum only weighs running-statistic updates: evaluation ignores it, as PyTorch does.
  MG_CHECK(!training || (momentum >= 0 && momentum <= 1), op, "momentum must be in [0, 1], got ",
           momentum);
  const int64_t n = input.size(0), channels = input.size(1), spatial = spatial_size(input);
  const int64_t count = n * spatial;  // values per channel
  MG_CHECK(!training || count > 1, op,
           "Expected more than 1 value per channel when training, got input of shape ",
           input.shape());

  const Device device = input.device();
  const TensorOptions opts = options_of(input);
  const Shape bcs{n, channels, spatial};
  Tensor x = contiguous(input).view(bcs);
  Tensor mean, invstd, out;
  {
    NoGradGuard no_grad;
    if (training) {
      mean = empty({channels}, opts);
      Tensor var = empty({channels}, opts);
      kernels::norm_moments(device, mean, var, x);
      invstd = rsqrt(var + eps);
      if (running_mean.defined()) {
        const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
        Tensor running_mean_handle = running_mean, running_var_handle = running_var;
        running_mean_handle.mul_(1 - momentum).add_(mean, momentum);
        running_var_handle.mul_(1 - momentum).add_(var, momentum * unbias);
      }
    } else {
      mean = running_mean.clone();  // a snapshot: later training steps update the running stats
      invstd = rsqrt(running_var + eps);
    }
    Tensor scale = weight.defined() ? weight * invstd : invstd;
    Tensor shift = bias.defined() ? bias - mean * scale : -(mean * scale);
    out = scale_shift(x, input.shape(), scale, shift);
  }
  record(op, out, {input, weight, bias},
         [sx = save(x), sw = save(weight), mean, invstd, training, count, bcs,
          shape = input.shape()](const Tensor& g, InputGrads in) {
           const Tensor& xs = sx.get();
           const Tensor& w = sw.get();
           const Device device = xs.device();
           const TensorOptions opts = options_of(xs);
           Tensor dy = grad_view(g, xs.dtype(), bcs);
           Tensor sum_dy, sum_dy_xc;
           if (training || in[1].needed() || in[2].needed()) {
             sum_dy = empty({bcs[1]}, opts);
             sum_dy_xc = empty({bcs[1]}, opts);
             kernels::norm_backward_sums(device, sum_dy, sum_dy_xc, dy, xs, mean);
           }
           if (in[1].needed()) in[1].add(sum_dy_xc * invstd);
           if (in[2].needed()) in[2].add(sum_dy);
           if (!in[0].needed()) return;
           Tensor k = w.defined() ? w * invstd : invstd;
           Tensor dx = empty(shape, opts);
           if (training) {
             // dx = k (dy - mean(dy) - (x - mean) invstd^2 mean(dy (x - mean))), linear in dy
             // and x with per-channel coefficients.
             const double inv_count = 1.0 / static_cast<double>(count);
             Tensor x_coef = -(k * square(invstd) * sum_dy_xc * inv_count);
             Tensor shift = -(x_coef * mean) - k * sum_dy * inv_count;
             kernels::norm_affine(device, dx.view(bcs), dy, k, xs, x_coef, shift);
           } else {  // the running statistics are constants: an affine map
             kernels::norm_affine(device, dx.view(bcs), dy, k, Tensor(), Tensor(), Tensor());
           }
           in[0].add(dx);
         });
  return out;
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  constexpr const char* op = "group_norm";
  check_input(op, input, eps);
  const int64_t n = input.size(0), channels = input.size(1), spatial = spatial_size(input);
  MG_CHECK(num_groups > 0 && channels % num_groups == 0, op, "num_groups ", num_groups,
           " must be positive and divide the number of channels of input of shape ", input.shape());
  check_channel_tensor(op, "weight", weight, input);
  check_channel_tensor(op, "bias", bias, input);

  const Device device = input.device();
  const TensorOptions opts = options_of(input);
  const int64_t per_group = channels / num_groups;
  const Shape groups{n, num_groups, per_group};  // per-(sample, channel) coefficients
  const Shape group_stat{n, num_groups, 1};
  // Statistics see each (sample, group) as one channel; the affine pass each (sample, channel).
  const Shape rows{1, n * channels, spatial};
  Tensor x = contiguous(input).view({1, n * num_groups, per_group * spatial});
  Tensor mean, rstd, out;
  {
    NoGradGuard no_grad;
    mean = empty({n * num_groups}, opts);
    Tensor var = empty({n * num_groups}, opts);
    kernels::norm_moments(device, mean, var, x);
    rstd = rsqrt(var + eps).view(group_stat);
    mean = mean.view(group_stat);
    Tensor scale =
        weight.defined() ? rstd * weight.view({1, num_groups, per_group}) : rstd.expand(groups);
    Tensor shift = -(mean * scale);
    if (bias.defined()) shift = shift + bias.view({1, num_groups, per_group});
    out = scale_shift(x.view(rows), input.shape(), contiguous(scale).view({-1}),
                      contiguous(shift).view({-1}));
  }
  record(op, out, {input, weight, bias},
         [sx = save(x.view(rows)), sw = save(weight), mean, rstd, rows, groups,
          shape = input.shape()](const Tensor& g, InputGrads in) {
           const Tensor& xs = sx.get();
           const Tensor& w = sw.get();
           const Device device = xs.device();
           const TensorOptions opts = options_of(xs);
           Tensor dy = grad_view(g, xs.dtype(), rows);
           // Per (sample, channel): db = sum(dy), ds = sum(dy * x).
           Tensor db = empty({rows[1]}, opts), ds = empty({rows[1]}, opts);
           kernels::norm_backward_sums(device, db, ds, dy, xs, Tensor());
           db = db.view(groups);
           ds = ds.view(groups);
           const Shape channel_shape{groups[1] * groups[2]};
           if (in[1].needed()) in[1].add(sum((ds - db * mean) * rstd, {0}).view(channel_shape));
           if (in[2].needed()) in[2].add(sum(db, {0}).view(channel_shape));
           if (!in[0].needed()) return;
           Tensor w3 = w.defined() ? w.view({1, groups[1], groups[2]}) : Tensor();
           Tensor ds_g = sum(w.defined() ? ds * w3 : ds, {2}, true);
           Tensor db_g = sum(w.defined() ? db * w3 : db, {2}, true);
           const double inv_count = 1.0 / static_cast<double>(groups[2] * rows[2]);
           // dx = rstd w dy + x_coef x + shift, x_coef and shift per (sample, group).
           Tensor x_coef = (db_g * mean - ds_g) * rstd * square(rstd) * inv_count;
           Tensor shift = -(x_coef * mean) - db_g * rstd * inv_count;
           Tensor dy_coef = w.defined() ? rstd * w3 : rstd.expand(groups);
           auto per_channel = [&](const Tensor& t) {
             return contiguous(t.expand(groups)).view({-1});
           };
           Tensor dx = empty(shape, opts);
           kernels::norm_affine(device, dx.view(rows), dy, per_channel(dy_coef), xs,
                                per_channel(x_coef), per_channel(shift));
           in[0].add(dx);
         });
  return out;
}

}  // namespace mixgrad
