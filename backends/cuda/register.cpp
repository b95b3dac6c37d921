#include "backends/cuda/allocator.h"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

void register_kernels() {
  constexpr DeviceType t = DeviceType::CUDA;
  register_allocator(t, device_allocator_for_registry);
  kernels::copy.set(t, copy);
  kernels::fill.set(t, fill);
  kernels::arange.set(t, arange);
  kernels::unary.set(t, unary);
  kernels::binary.set(t, binary);
  kernels::where.set(t, where);
  kernels::reduce.set(t, reduce);
  kernels::cumsum.set(t, cumsum);
  kernels::gemm.set(t, gemm);
  kernels::grouped_gemm.set(t, grouped_gemm);
  kernels::im2col.set(t, im2col);
  kernels::col2im.set(t, col2im);
  kernels::gather.set(t, gather);
  kernels::scatter.set(t, scatter);
  kernels::index_select.set(t, index_select);
  kernels::index_scatter.set(t, index_scatter);
  kernels::sort.set(t, sort);
  kernels::topk.set(t, topk);
  kernels::softmax.set(t, softmax);
  kernels::softmax_backward.set(t, softmax_backward);
  kernels::norm_moments.set(t, norm_moments);
  kernels::norm_affine.set(t, norm_affine);
  kernels::norm_backward_sums.set(t, norm_backward_sums);
  kernels::pool2d.set(t, pool2d);
  kernels::pool2d_backward.set(t, pool2d_backward);
  kernels::uniform.set(t, uniform);
  kernels::normal.set(t, normal);
  kernels::randint.set(t, randint);
  kernels::bincount.set(t, bincount);
  kernels::nonzero.set(t, nonzero);
}

}  // namespace mixgrad::cuda
