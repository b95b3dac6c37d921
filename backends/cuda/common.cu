#include "backends/cuda/common.cuh"
#include "core/factory.h"

namespace mixgrad::cuda {

IndexCheck::IndexCheck(const Tensor& like)
    : buffer_(empty({2}, TensorOptions(kInt64).device(like.device()))), stream_(stream_of(like)) {
  auto* words = static_cast<unsigned long long*>(buffer_.data_ptr());
  slot_ = Slot{words, reinterpret_cast<long long*>(words + 1)};
  MG_CUDA_CHECK(cudaMemsetAsync(words, 0, 2 * sizeof(unsigned long long), stream_));
}

std::optional<int64_t> IndexCheck::reported() const {
  long long host[2] = {0, 0};
  MG_CUDA_CHECK(
      cudaMemcpyAsync(host, buffer_.data_ptr(), sizeof(host), cudaMemcpyDeviceToHost, stream_));
  MG_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (host[0] == 0) return std::nullopt;
  return static_cast<int64_t>(host[1]);
}

void IndexCheck::check(const char* op, int64_t dim, int64_t size, bool negative_allowed) const {
  if (const std::optional<int64_t> bad = reported())
    detail::throw_index_out_of_bounds(op, *bad, dim, size, negative_allowed);
}

Tensor workspace(std::size_t nbytes, const Tensor& like) {
  return empty({static_cast<int64_t>(nbytes)}, TensorOptions(DType::Bool).device(like.device()));
}

}  // namespace mixgrad::cuda
