// Device-to-device copy: one memcpy when the bytes already line up, else an element-wise
// conversion kernel.
#include "backends/cuda/common.cuh"
#include "backends/cuda/copy_device.h"
#include "backends/cuda/elementwise_loop.cuh"

namespace mixgrad::cuda {

namespace {
template <class To, class From>
struct ConvertFn {
  __device__ To operator()(From v) const { return convert<To>(v); }
};
}  // namespace

void copy_on_device(const Tensor& dst, const Tensor& src) {
  MG_CHECK(dst.device() == src.device(), "copy", "expected tensors on one device, got ",
           describe(dst.device()), " and ", describe(src.device()));
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    if (dst.data_ptr() == src.data_ptr()) return;  // memcpy's ranges must not overlap
    TensorDeviceGuard guard(dst);
    MG_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(),
                                  static_cast<std::size_t>(dst.numel()) * dst.element_size(),
                                  cudaMemcpyDeviceToDevice, stream_of(dst)));
    return;
  }
  dispatch_cuda_dtype(dst.dtype(), "copy", [&]<class D>() {
    dispatch_cuda_dtype(src.dtype(), "copy",
                        [&]<class S>() { map_elements<D, S>(dst, ConvertFn<D, S>{}, src); });
  });
}

}  // namespace mixgrad::cuda
