// softmax / log_softmax: one fused kernel each way. The backward needs only the forward output,
// so that is what gets saved.
#include "ops/softmax.h"

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/copy.h"
#include "ops/creation.h"

namespace mixgrad {

namespace {

Tensor softmax_op(const char* name, const Tensor& x, int64_t dim, bool log) {
  MG_CHECK(x.defined(), name, "got an undefined tensor");
  const int64_t d = wrap_dim(dim, x.dim(), name);
  // Integer and bool inputs are computed in the default float dtype, as in PyTorch.
  const DType dtype = x.is_floating_point() ? x.dtype() : default_dtype();
  Tensor in = to(x, dtype);
  Tensor out = empty(x.shape(), TensorOptions(dtype).device(x.device()));
  kernels::softmax(x.device(), out, in, d, log);
  record(name, out, {in}, [saved = save(out), d, log](const Tensor& g, InputGrads grads) {
    if (!grads[0].needed()) return;
    const Tensor& y = saved.get();
    Tensor grad_in = empty(y.shape(), options_of(y));
    kernels::softmax_backward(y.device(), grad_in, to(g, y.dtype()), y, d, log);
    grads[0].add(grad_in);
  });
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return softmax_op("softmax", x, dim, false);
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_op("log_softmax", x, dim, true);
}

}  // namespace mixgrad
