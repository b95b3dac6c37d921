// grouped_matmul: one backend grouped_gemm call each for the forward, the input gradient
// (dY_g @ W_g^T, W's matrices passed as a transposed view) and the weight gradient (X_g^T @ dY_g,
// grouped along the inner dim). On the CPU the bias is added per group to its rows; elsewhere it
// is gathered by a group-id vector, by which its gradient also sums the rows.
#include "ops/grouped_matmul.h"

#include <vector>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "core/grad_mode.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/index.h"
#include "ops/view.h"

namespace mixgrad {

namespace {

constexpr const char* kOp = "grouped_matmul";

void check_operands(const Tensor& x, const Tensor& w, const Tensor& group_sizes) {
  MG_CHECK(x.defined() && w.defined() && group_sizes.defined(), kOp, "got an undefined tensor");
  MG_CHECK(x.dim() == 2 && w.dim() == 3, kOp, "expected x [N, in] and w [G, in, out], got shapes ",
           x.shape(), " and ", w.shape());
  MG_CHECK(x.device() == w.device(), kOp, "x and w are on different devices: ", describe(x),
           " and ", describe(w));
  MG_CHECK(x.dtype() == w.dtype() && is_floating(x.dtype()), kOp,
           "expected x and w of the same floating dtype, got ", describe(x), " and ", describe(w));
  MG_CHECK(x.size(1) == w.size(1), kOp, "x of shape ", x.shape(), " cannot be multiplied by w of ",
           "shape ", w.shape(), " (", x.size(1), " != ", w.size(1), ")");
  MG_CHECK(group_sizes.dim() == 1 && group_sizes.dtype() == DType::Int64 &&
               (group_sizes.device().is_cpu() || group_sizes.device() == x.device()),
           kOp, "expected group_sizes as a 1-D int64 tensor on the CPU or on x's device (",
           describe(x.device()), "), got ", describe(group_sizes));
  MG_CHECK(group_sizes.size(0) == w.size(0), kOp, "group_sizes has ", group_sizes.size(0),
           " elements but w of shape ", w.shape(), " has ", w.size(0), " groups");
}

// The group sizes, after checking them (non-negative, summing to the N rows).
std::vector<int64_t> checked_group_sizes(const Tensor& group_sizes, int64_t rows) {
  const std::vector<int64_t> sizes = group_sizes.to_vector<int64_t>();
  int64_t sum = 0;
  for (size_t g = 0; g < sizes.size(); ++g) {
    MG_CHECK(sizes[g] >= 0, kOp, "group ", g, " has negative size ", sizes[g]);
    sum += sizes[g];
  }
  MG_CHECK(sum == rows, kOp, "group sizes sum to ", sum, " but x has ", rows, " rows");
  return sizes;
}

// Group g's index for each row, as a tensor on `device`.
Tensor row_group_ids(const std::vector<int64_t>& sizes, int64_t rows, Device device) {
  std::vector<int64_t> groups;
  groups.reserve(rows);
  for (size_t g = 0; g < sizes.size(); ++g)
    groups.insert(groups.end(), static_cast<size_t>(sizes[g]), static_cast<int64_t>(g));
  return tensor(groups, std::nullopt, TensorOptions(DType::Int64).device(device));
}

Tensor empty_like_shape(const Shape& shape, const Tensor& like) {
  return empty(shape, options_of(like));
}

// The op for a checked x, w, group_sizes; bias may be undefined.
Tensor grouped_product(const Tensor& x, const Tensor& w, const Tensor& group_sizes,
                       const Tensor& bias) {
  // The sizes steer the host-side loop over groups, so a device tensor is read back once here
  // (one sync, as in every grouped GEMM whose group sizes come from the device).
  const Tensor host_sizes = to(group_sizes, Device::cpu());
  const std::vector<int64_t> counts = checked_group_sizes(host_sizes, x.size(0));
  // Group g's id for each output row: the bias gradient sums rows by it, and off the CPU the
  // forward gathers the bias rows by it.
  const bool cpu = x.device().is_cpu();
  const Tensor group_ids = bias.defined() && (!cpu || should_record({bias}))
                               ? row_group_ids(counts, x.size(0), x.device())
                               : Tensor();
  Tensor out = empty_like_shape({x.size(0), w.size(2)}, x);
  {
    NoGradGuard no_grad;
    kernels::grouped_gemm(x.device(), out, x, w, host_sizes, kernels::GroupedDim::M);
    if (bias.defined() && cpu) {
      // Group g's rows are consecutive: one broadcast add of its bias row each, rather than
      // gathering a bias row per output row first (a second output-sized tensor to write and
      // read: 6% of moe_scale_e32_step, perf). On a GPU that would be a kernel launch per
      // group instead of two, so it keeps the gather.
      int64_t first = 0;
      for (int64_t g = 0; g < static_cast<int64_t>(counts.size()); ++g) {
        if (counts[g] > 0) out.narrow(0, first, counts[g]).add_(bias.select(0, g));
        first += counts[g];
      }
    } else if (bias.defined()) {
      out.add_(index_select(bias, 0, group_ids));
    }
  }
  const bool needs_x = should_record({x}), needs_w = should_record({w});
  std::vector<Tensor> inputs{x, w};
  if (bias.defined()) inputs.push_back(bias);
  // Each of x and w is kept only for the other's gradient; sizes are cloned so that a later
  // in-place change of the caller's tensor cannot alter the backward.
  record(kOp, out, inputs,
         [sx = save(needs_w ? x : Tensor()), sw = save(needs_x ? w : Tensor()),
          sizes = group_sizes.device().is_cpu() ? host_sizes.clone() : host_sizes, group_ids,
          x_shape = x.shape(), w_shape = w.shape(),
          bias_shape = bias.defined() ? bias.shape() : Shape{}](const Tensor& g, InputGrads in) {
           if (in[0].needed()) {
             Tensor dx = empty_like_shape(x_shape, g);
             kernels::grouped_gemm(g.device(), dx, g, transpose(sw.get(), 1, 2), sizes,
                                   kernels::GroupedDim::M);
             in[0].add(dx);
           }
           if (in[1].needed()) {
             Tensor dw = empty_like_shape(w_shape, g);
             kernels::grouped_gemm(g.device(), dw, t(sx.get()), g, sizes, kernels::GroupedDim::K);
             in[1].add(dw);
           }
           if (in.size() > 2 && in[2].needed())
             in[2].add(index_add(zeros(bias_shape, options_of(g)), 0, group_ids, g));
         });
  return out;
}

}  // namespace

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& group_sizes) {
  check_operands(x, w, group_sizes);
  return grouped_product(x, w, group_sizes, Tensor());
}

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& group_sizes,
                      const Tensor& bias) {
  check_operands(x, w, group_sizes);
  MG_CHECK(bias.defined(), kOp, "got an undefined bias");
  MG_CHECK(bias.dtype() == x.dtype() && bias.device() == x.device(), kOp, "bias is ",
           describe(bias), " but x is ", describe(x));
  MG_CHECK(bias.shape() == (Shape{w.size(0), w.size(2)}), kOp, "expected bias of shape ",
           Shape{w.size(0), w.size(2)}, " for w of shape ", w.shape(), ", got ", bias.shape());
  return grouped_product(x, w, group_sizes, bias);
}

}  // namespace mixgrad
