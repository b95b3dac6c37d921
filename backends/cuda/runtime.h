#pragma once
// Internal CUDA runtime helpers shared by the backend's files (host code only).
#include <cuda_runtime_api.h>

#include "backends/cuda_api.h"
#include "backends/cuda_runtime_hooks.h"

namespace mixgrad::cuda {

// Throws Error("cuda", "<call> failed: <status name> (<description>)").
[[noreturn]] void throw_cuda_error(const char* call, cudaError_t status);

// Throws Error naming the failing call and the CUDA status (e.g. "cudaErrorMemoryAllocation").
#define MG_CUDA_CHECK(expr)                                                                        \
  do {                                                                                             \
    const cudaError_t mg_cuda_status_ = (expr);                                                    \
    if (mg_cuda_status_ != cudaSuccess) ::mixgrad::cuda::throw_cuda_error(#expr, mg_cuda_status_); \
  } while (0)
// After a <<<...>>> launch: a bad configuration is reported here, not at the next sync.
#define MG_CUDA_LAUNCH_CHECK() MG_CUDA_CHECK(cudaGetLastError())

// The backend's answers to the public API (installed by register_backend in register.cpp).
const backend_hooks::RuntimeHooks& runtime_hooks();

// Throws Error naming `op` unless `index` is a usable device (also when no GPU is present).
void check_device(int index, const char* op);

inline cudaStream_t native_stream(const Stream& s) {
  return static_cast<cudaStream_t>(s.native_handle());
}

// Makes device `index` current for the scope, restoring the previous one after.
class DeviceIndexGuard {
 public:
  explicit DeviceIndexGuard(int index);
  ~DeviceIndexGuard();
  DeviceIndexGuard(const DeviceIndexGuard&) = delete;
  DeviceIndexGuard& operator=(const DeviceIndexGuard&) = delete;

 private:
  int previous_;
  bool switched_;
};

// The stream work on `t` runs on: the current stream of t's device (see backends/cuda_api.h).
inline cudaStream_t stream_of(const Tensor& t) {
  return native_stream(current_stream(t.device().index));
}

// Makes t's device current for the scope (kernel launches and cuBLAS calls need it).
class TensorDeviceGuard {
 public:
  explicit TensorDeviceGuard(const Tensor& t) : guard_(t.device().index) {}

 private:
  DeviceIndexGuard guard_;
};

// Scratch device memory (e.g. CUB temp storage) from the caching allocator, freed with the
// Tensor (a byte tensor on like's device, tied to the current stream).
Tensor workspace(std::size_t nbytes, const Tensor& like);

}  // namespace mixgrad::cuda
