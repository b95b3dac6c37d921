#pragma once
// The seam between the public CUDA API (backends/cuda_api.h, part of every program) and the CUDA
// backend library (mixgrad::cuda), as PyTorch's CUDAHooksInterface separates libtorch_cpu from
// libtorch_cuda: the backend installs its hooks when it is linked in, and a program without it
// pays for no CUDA library at all. Only backends/cuda_api.cpp and backends/cuda/ use this file.
#include <memory>

#include "backends/cuda_api.h"

namespace mixgrad::cuda::backend_hooks {

// What only the CUDA runtime can answer. Device arguments are resolved indices (never -1).
class RuntimeHooks {
 public:
  virtual ~RuntimeHooks() = default;
  virtual int device_count() const = 0;
  virtual int current_device() const = 0;
  virtual void set_device(int index) const = 0;
  virtual void synchronize(int device) const = 0;
  virtual Stream default_stream(int device) const = 0;
  virtual Stream create_stream(int device, bool high_priority) const = 0;
  virtual void synchronize(const Stream& stream) const = 0;
  virtual bool query(const Stream& stream) const = 0;
  virtual void wait(const Stream& waiter, const Stream& other) const = 0;
  virtual void record_stream(const Tensor& t, const Stream& stream) const = 0;

 protected:
  static Stream make_stream(int device, void* handle, std::shared_ptr<void> owner) {
    return Stream(device, handle, std::move(owner));
  }
};

// Called once by the backend library as the program starts; `hooks` lives for the whole program.
void install_runtime_hooks(const RuntimeHooks* hooks);

}  // namespace mixgrad::cuda::backend_hooks
