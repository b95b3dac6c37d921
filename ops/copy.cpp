#include "ops/copy.h"

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/creation.h"
#include "ops/inplace.h"
#include "ops/view.h"

namespace mixgrad {

namespace {
// A dense copy of x in `dtype` on `device`, without recording.
Tensor copy_into_new(const Tensor& x, DType dtype, Device device) {
  Tensor out = empty(x.shape(), TensorOptions(dtype).device(device));
  if (device == x.device() || x.device().is_cpu()) {
    kernels::copy(device, out, x);
  } else {
    kernels::copy(x.device(), out, x);  // the non-CPU backend handles transfers both ways
  }
  return out;
}
}  // namespace

Tensor contiguous(const Tensor& x) {
  return x.is_contiguous() ? x : clone(x);
}

Tensor clone(const Tensor& x) {
  Tensor out = copy_into_new(x, x.dtype(), x.device());
  record("clone", out, {x}, [](const Tensor& g, InputGrads in) { in[0].add(g); });
  return out;
}

Tensor to(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = copy_into_new(x, dtype, x.device());
  if (is_floating(dtype))
    record("to", out, {x}, [](const Tensor& g, InputGrads in) { in[0].add(g); });
  return out;
}

Tensor to(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor out = copy_into_new(x, x.dtype(), device);
  record("to", out, {x},
         [src = x.device()](const Tensor& g, InputGrads in) { in[0].add(to(g, src)); });
  return out;
}

Tensor& copy_(Tensor& self, const Tensor& src) {
  const Tensor source = expand(src, self.shape());
  // A copy converts to self's dtype by definition, so any source dtype may be written.
  return apply_inplace(
      self, {.name = "copy_", .result_dtype = self.dtype(), .elementwise = true}, {src},
      [&] {
        if (self.device() == source.device() || source.device().is_cpu())
          kernels::copy(self.device(), self, source);
        else
          kernels::copy(source.device(), self, source);
      },
      [&](const Tensor& current) {
        Tensor s = to(to(source, self.device()), self.dtype());
        Tensor out = copy_into_new(s, self.dtype(), self.device());
        // `current` is overwritten entirely (no gradient), but stays an input so that the result
        // always carries a history while self had one.
        record("copy_", out, {current, s}, [](const Tensor& g, InputGrads in) { in[1].add(g); });
        return out;
      });
}

}  // namespace mixgrad
