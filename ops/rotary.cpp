// apply_rotary: validation and the autograd record here, the rotation in the CPU's rotary
// kernel. A rotation's transpose is the rotation by the opposite angle, so the backward is the
// same kernel with `inverse`. Devices without it run the composite form, which autograd
// differentiates.
#include "ops/rotary.h"

#include "autograd/function.h"
#include "backends/kernels.h"
#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad {

namespace {

constexpr const char* kOp = "apply_rotary";

void check_table(const char* name, const Tensor& table, const Tensor& x) {
  MG_CHECK(table.defined(), kOp, "got an undefined ", name);
  MG_CHECK(table.dim() == 2 && table.size(0) == x.size(-2), kOp, name, " of shape ", table.shape(),
           " does not match x of shape ", x.shape(), " (expected [", x.size(-2), ", R/2])");
  MG_CHECK(table.dtype() == x.dtype(), kOp, name, " has dtype ", table.dtype(), " but x has ",
           x.dtype());
  MG_CHECK(table.device() == x.device(), kOp, name, " is on ", describe(table.device()),
           " but x is on ", describe(x.device()));
}

// Checks the arguments; returns R / 2, the number of rotated pairs.
int64_t check_args(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  MG_CHECK(x.defined(), kOp, "got an undefined x");
  MG_CHECK(x.dim() >= 2, kOp, "expected x of shape [..., T, D] (at least 2 dims), got ", x.shape());
  MG_CHECK(x.is_floating_point(), kOp, "expected a floating x, got ", x.dtype());
  check_table("cos", cos, x);
  check_table("sin", sin, x);
  MG_CHECK(cos.shape() == sin.shape(), kOp, "cos of shape ", cos.shape(), " and sin of shape ",
           sin.shape(), " differ");
  // R = 2 * cos.size(1) is even by construction; it must fit in the row.
  const int64_t half = cos.size(1);
  MG_CHECK(2 * half <= x.size(-1), kOp, "R = ", 2 * half, " rotated features (cos of shape ",
           cos.shape(), ") exceed the D = ", x.size(-1), " of x of shape ", x.shape());
  return half;
}

}  // namespace

Tensor apply_rotary_reference(const Tensor& x, const Tensor& cos, const Tensor& sin,
                              RotaryLayout layout) {
  const int64_t half = check_args(x, cos, sin), d = x.size(-1);
  Tensor a, b;
  if (layout == RotaryLayout::HalfSplit) {
    a = narrow(x, -1, 0, half);
    b = narrow(x, -1, half, half);
  } else {
    const Tensor pairs = unflatten(narrow(x, -1, 0, 2 * half), -1, {half, 2});
    a = select(pairs, -1, 0);
    b = select(pairs, -1, 1);
  }
  const Tensor ra = a * cos - b * sin, rb = b * cos + a * sin;
  const Tensor rotated =
      layout == RotaryLayout::HalfSplit ? cat({ra, rb}, -1) : flatten(stack({ra, rb}, -1), -2);
  if (2 * half == d) return rotated;
  return cat({rotated, narrow(x, -1, 2 * half, d - 2 * half)}, -1);
}

Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout) {
  check_args(x, cos, sin);
  const Device device = x.device();
  // The kernel's backward gives x its gradient only: tables that require one (learned angles)
  // take the composite path, as on devices without the kernel.
  if (!kernels::rotary.has(device) || should_record({cos, sin}))
    return apply_rotary_reference(x, cos, sin, layout);

  int64_t batch = 1;
  for (int64_t i = 0; i + 2 < x.dim(); ++i) batch *= x.size(i);
  const Shape btd{batch, x.size(-2), x.size(-1)};
  Tensor cos_c, sin_c, out;
  {
    NoGradGuard no_grad;  // the contiguous copies are the kernel's operands, not graph nodes
    const Tensor xc = contiguous(x).view(btd);
    cos_c = contiguous(cos);
    sin_c = contiguous(sin);
    out = empty(x.shape(), options_of(x));
    kernels::rotary(device, out.view(btd), xc, cos_c, sin_c, layout == RotaryLayout::Interleaved,
                    false);
  }
  record(kOp, out, {x},
         [sc = save(cos_c), ss = save(sin_c), layout, btd, shape = x.shape()](const Tensor& g,
                                                                              InputGrads in) {
           const Tensor& c = sc.get();
           const Tensor dy = contiguous(to(g, c.dtype())).view(btd);
           Tensor dx = empty(shape, options_of(c));
           kernels::rotary(c.device(), dx.view(btd), dy, c, ss.get(),
                           layout == RotaryLayout::Interleaved, true);
           in[0].add(dx);
         });
  return out;
}

}  // namespace mixgrad
