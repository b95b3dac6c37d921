// kernels::copy on CUDA: within a device (copy_on_device), between devices, and to and from the
// host. Dtype conversion and strided layouts are always handled on the GPU, so the host side of a
// transfer is one dense block of the source's dtype moved through a pinned buffer.
#include <cstring>

#include "backends/cuda/allocator.h"
#include "backends/cuda/copy_device.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/runtime.h"
#include "core/factory.h"

namespace mixgrad::cuda {

namespace {
cudaStream_t stream_on(const Tensor& t) {
  return native_stream(current_stream(t.device().index));
}

std::size_t nbytes_of(const Tensor& t) {
  return static_cast<std::size_t>(t.numel()) * t.element_size();
}

// t without its broadcast (stride-0) dims: those become size 1, so only distinct elements travel.
Tensor compact(const Tensor& t) {
  Shape sizes = t.shape();
  for (std::size_t d = 0; d < sizes.size(); ++d)
    if (t.strides()[d] == 0) sizes[d] = 1;
  return alias_with_layout(t, sizes, t.strides(), t.storage_offset());
}

// A dense tensor on the CPU with t's values, t itself when it already is one.
Tensor dense_on_host(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = empty(t.shape(), TensorOptions(t.dtype()));
  kernels::copy(Device::cpu(), out, t);
  return out;
}

// Re-expands a compacted dense tensor to `full`'s shape with stride 0 on the broadcast dims.
Tensor expand_to(const Tensor& dense, const Tensor& full) {
  Shape strides = dense.strides();
  for (std::size_t d = 0; d < strides.size(); ++d)
    if (full.strides()[d] == 0) strides[d] = 0;
  return alias_with_layout(dense, full.shape(), strides, dense.storage_offset());
}

void upload(const Tensor& dst, const Tensor& src) {
  const Tensor host = dense_on_host(compact(src));
  const cudaStream_t stream = stream_on(dst);
  DeviceIndexGuard guard(dst.device().index);
  const bool direct =
      dst.dtype() == src.dtype() && dst.is_contiguous() && host.numel() == dst.numel();
  const Tensor landing = direct ? dst : empty(host.shape(), options_of(host).device(dst.device()));
  PinnedBuffer staging(nbytes_of(host), dst.device().index);
  std::memcpy(staging.data(), host.data_ptr(), nbytes_of(host));
  MG_CUDA_CHECK(cudaMemcpyAsync(landing.data_ptr(), staging.data(), nbytes_of(host),
                                cudaMemcpyHostToDevice, stream));
  staging.record(stream);
  if (!direct) copy_on_device(dst, expand_to(landing, src));
}

void download(const Tensor& dst, const Tensor& src) {
  const Tensor source = compact(src);
  DeviceIndexGuard guard(src.device().index);
  const cudaStream_t stream = stream_on(src);
  // Dense, in dst's dtype, on the device: the host only has to place bytes.
  Tensor packed = source;
  if (!source.is_contiguous() || source.dtype() != dst.dtype()) {
    packed = empty(source.shape(), TensorOptions(dst.dtype()).device(src.device()));
    copy_on_device(packed, source);
  }
  PinnedBuffer staging(nbytes_of(packed), src.device().index);
  MG_CUDA_CHECK(cudaMemcpyAsync(staging.data(), packed.data_ptr(), nbytes_of(packed),
                                cudaMemcpyDeviceToHost, stream));
  staging.record(stream);
  MG_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (dst.is_contiguous() && packed.numel() == dst.numel()) {
    std::memcpy(dst.data_ptr(), staging.data(), nbytes_of(packed));
  } else {
    const Tensor host = from_blob(staging.data(), packed.shape(), packed.dtype());
    kernels::copy(Device::cpu(), dst, expand_to(host, src));  // through the dispatch point
  }
}

void peer_copy(const Tensor& dst, const Tensor& src) {
  const Tensor source = compact(src);
  Tensor packed = source;
  {
    DeviceIndexGuard guard(src.device().index);
    if (!source.is_contiguous()) {
      packed = empty(source.shape(), options_of(source));
      copy_on_device(packed, source);
    }
    // The destination stream cannot see the source stream's order; wait for it here.
    MG_CUDA_CHECK(cudaStreamSynchronize(stream_on(src)));
  }
  DeviceIndexGuard guard(dst.device().index);
  const Tensor landed = empty(packed.shape(), options_of(packed).device(dst.device()));
  MG_CUDA_CHECK(cudaMemcpyPeerAsync(landed.data_ptr(), dst.device().index, packed.data_ptr(),
                                    src.device().index, nbytes_of(packed), stream_on(dst)));
  copy_on_device(dst, expand_to(landed, src));
  // `packed` may be freed into the source device's cache when we return, while the copy above
  // still reads it from another stream.
  MG_CUDA_CHECK(cudaStreamSynchronize(stream_on(dst)));
}
}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  const bool dst_on_gpu = dst.device().is_cuda(), src_on_gpu = src.device().is_cuda();
  if (dst_on_gpu && src_on_gpu) {
    if (dst.device() == src.device())
      copy_on_device(dst, src);
    else
      peer_copy(dst, src);
  } else if (dst_on_gpu) {
    upload(dst, src);
  } else {
    download(dst, src);
  }
}

}  // namespace mixgrad::cuda
