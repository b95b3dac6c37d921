// rms_norm: validation and the autograd record here, the row loops in the CPU's rms_norm kernels.
// Devices without them run the composite formula, which autograd differentiates.
#include "ops/rms_norm.h"

#include "autograd/function.h"
#include "backends/kernels.h"
#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad {

namespace {

constexpr const char* kOp = "rms_norm";

void check_args(const Tensor& x, const Tensor& weight, double eps) {
  MG_CHECK(x.defined(), kOp, "got an undefined input");
  MG_CHECK(x.dim() >= 1, kOp, "expected input of shape [..., D], got a 0-dim tensor");
  MG_CHECK(x.is_floating_point(), kOp, "expected a floating input, got ", x.dtype());
  MG_CHECK(eps >= 0, kOp, "eps must be non-negative, got ", eps);
  if (!weight.defined()) return;
  MG_CHECK(weight.dim() == 1 && weight.size(0) == x.size(-1), kOp, "weight of shape ",
           weight.shape(), " does not match input of shape ", x.shape(), " (expected [", x.size(-1),
           "])");
  MG_CHECK(weight.dtype() == x.dtype(), kOp, "weight has dtype ", weight.dtype(), " but input has ",
           x.dtype());
  MG_CHECK(weight.device() == x.device(), kOp, "weight is on ", describe(weight.device()),
           " but input is on ", describe(x.device()));
}

}  // namespace

Tensor rms_norm_reference(const Tensor& x, const Tensor& weight, double eps) {
  check_args(x, weight, eps);
  Tensor out = x * rsqrt(mean(square(x), {-1}, true) + eps);
  return weight.defined() ? out * weight : out;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  check_args(x, weight, eps);
  const Device device = x.device();
  if (!kernels::rms_norm.has(device)) return rms_norm_reference(x, weight, eps);

  const TensorOptions opts = options_of(x);
  const int64_t d = x.size(-1);
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < x.dim(); ++i) rows *= x.size(i);
  const Shape matrix{rows, d};
  Tensor xc, wc, rstd, out;
  {
    NoGradGuard no_grad;  // the contiguous copies are the kernel's operands, not graph nodes
    xc = contiguous(x).view(matrix);
    wc = weight.defined() ? contiguous(weight) : Tensor();
    rstd = empty({rows}, opts);
    out = empty(x.shape(), opts);
    kernels::rms_norm(device, out.view(matrix), rstd, xc, wc, eps);
  }
  record(kOp, out, {x, weight},
         [sx = save(xc), sw = save(wc), rstd, shape = x.shape()](const Tensor& g, InputGrads in) {
           const Tensor& xs = sx.get();
           const Tensor& w = sw.get();
           const TensorOptions opts = options_of(xs);
           // The incoming gradient may come in another dtype or layout.
           const Tensor dy = contiguous(to(g, xs.dtype())).view(xs.shape());
           const Tensor dx = in[0].needed() ? empty(xs.shape(), opts) : Tensor();
           const Tensor dw = w.defined() && in[1].needed() ? empty({xs.size(1)}, opts) : Tensor();
           kernels::rms_norm_backward(xs.device(), dx, dw, dy, xs, w, rstd);
           if (dx.defined()) in[0].add(dx.view(shape));
           if (dw.defined()) in[1].add(dw);
         });
  return out;
}

}  // namespace mixgrad
