// Devices, streams and errors of the CUDA backend: the runtime hooks behind the public API of
// backends/cuda_api.h.
#include "backends/cuda/runtime.h"

#include <string>

#include "backends/cuda/allocator.h"
#include "core/error.h"

namespace mixgrad::cuda {

namespace {
struct DeviceCount {
  int count = 0;
  std::string why_none;  // the runtime's answer when count is 0
};

const DeviceCount& probe() {
  static const DeviceCount result = [] {
    DeviceCount r;
    const cudaError_t status = cudaGetDeviceCount(&r.count);
    if (status != cudaSuccess) {
      r.count = 0;
      r.why_none = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
      (void)cudaGetLastError();  // a failed probe must not poison later error checks
    } else if (r.count == 0) {
      r.why_none = "the CUDA runtime reports 0 devices";
    }
    return r;
  }();
  return result;
}

}  // namespace

void throw_cuda_error(const char* call, cudaError_t status) {
  throw Error("cuda", detail::concat(call, " failed: ", cudaGetErrorName(status), " (",
                                     cudaGetErrorString(status), ")"));
}

void check_device(int index, const char* op) {
  const DeviceCount& d = probe();
  MG_CHECK(d.count > 0, op, "Device::CUDA was requested but no CUDA device is available (",
           d.why_none, ")");
  MG_CHECK(index >= 0 && index < d.count, op, "CUDA device index ", index,
           " does not exist (this machine has ", d.count, " CUDA device", d.count == 1 ? "" : "s",
           ")");
}

DeviceIndexGuard::DeviceIndexGuard(int index) : previous_(0), switched_(false) {
  MG_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != index) {
    MG_CUDA_CHECK(cudaSetDevice(index));
    switched_ = true;
  }
}

DeviceIndexGuard::~DeviceIndexGuard() {
  if (switched_) (void)cudaSetDevice(previous_);
}

namespace {
// The runtime half of the public API (backends/cuda_api.cpp calls it through RuntimeHooks).
class CudaRuntime final : public backend_hooks::RuntimeHooks {
 public:
  int device_count() const override { return probe().count; }

  int current_device() const override {
    int d = 0;
    MG_CUDA_CHECK(cudaGetDevice(&d));
    return d;
  }

  void set_device(int index) const override {
    check_device(index, "cuda::set_device");
    MG_CUDA_CHECK(cudaSetDevice(index));
  }

  void synchronize(int device) const override {
    check_device(device, "cuda::synchronize");
    DeviceIndexGuard guard(device);
    MG_CUDA_CHECK(cudaDeviceSynchronize());
  }

  Stream default_stream(int device) const override {
    check_device(device, "cuda::Stream::default_stream");
    return make_stream(device, nullptr, nullptr);  // the legacy default stream, as PyTorch uses
  }

  Stream create_stream(int device, bool high_priority) const override {
    check_device(device, "cuda::Stream::create");
    DeviceIndexGuard guard(device);
    int least = 0, greatest = 0;  // numerically lower is higher priority
    MG_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    cudaStream_t s = nullptr;
    MG_CUDA_CHECK(
        cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, high_priority ? greatest : least));
    std::shared_ptr<void> owner(s, [device](void* handle) {
      // The allocator may still hold blocks tied to this stream; they stay valid memory, and
      // cudaStreamDestroy lets queued work finish first.
      DeviceIndexGuard g(device);
      (void)cudaStreamDestroy(static_cast<cudaStream_t>(handle));
    });
    return make_stream(device, s, std::move(owner));
  }

  void synchronize(const Stream& stream) const override {
    DeviceIndexGuard guard(stream.device_index());
    MG_CUDA_CHECK(cudaStreamSynchronize(native_stream(stream)));
  }

  bool query(const Stream& stream) const override {
    DeviceIndexGuard guard(stream.device_index());
    const cudaError_t status = cudaStreamQuery(native_stream(stream));
    if (status == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return false;
    }
    MG_CUDA_CHECK(status);
    return true;
  }

  void wait(const Stream& waiter, const Stream& other) const override {
    DeviceIndexGuard guard(other.device_index());
    cudaEvent_t event = nullptr;
    MG_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    MG_CUDA_CHECK(cudaEventRecord(event, native_stream(other)));
    const cudaError_t status = cudaStreamWaitEvent(native_stream(waiter), event, 0);
    (void)cudaEventDestroy(event);  // released once the wait has consumed it
    MG_CUDA_CHECK(status);
  }

  void record_stream(const Tensor& t, const Stream& stream) const override {
    MG_CHECK(t.device().is_cuda(), "cuda::record_stream", "tensor is on ", describe(t.device()),
             ", not on a CUDA device");
    MG_CHECK(t.device().index == stream.device_index(), "cuda::record_stream", "tensor is on ",
             describe(t.device()), " but the stream on cuda:", stream.device_index());
    device_allocator(t.device().index).record_stream(t.storage()->data(), native_stream(stream));
  }
};
}  // namespace

const backend_hooks::RuntimeHooks& runtime_hooks() {
  // Never destroyed: the public API may be called from other static destructors.
  static const CudaRuntime* const runtime = new CudaRuntime;
  return *runtime;
}

}  // namespace mixgrad::cuda
