// Devices, streams and errors of the CUDA backend (the public API of backends/cuda_api.h).
#include "backends/cuda/runtime.h"

#include <atomic>
#include <string>
#include <vector>

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

int resolve(int device) {
  return device < 0 ? current_device() : device;
}

// Per host thread and device: the stream ops use (empty = the device's default stream).
thread_local std::vector<Stream> current_streams;

std::atomic<bool> tf32_allowed{false};
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

bool is_built() {
  return true;
}

bool is_available() {
  return probe().count > 0;
}

int device_count() {
  return probe().count;
}

int current_device() {
  if (!is_available()) return 0;
  int d = 0;
  MG_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

void set_device(int index) {
  check_device(index, "cuda::set_device");
  MG_CUDA_CHECK(cudaSetDevice(index));
}

void synchronize(int device) {
  const int d = resolve(device);
  check_device(d, "cuda::synchronize");
  DeviceIndexGuard guard(d);
  MG_CUDA_CHECK(cudaDeviceSynchronize());
}

Stream Stream::default_stream(int device) {
  const int d = resolve(device);
  check_device(d, "cuda::Stream::default_stream");
  return Stream(d, nullptr, nullptr);  // the legacy default stream, as PyTorch uses
}

Stream Stream::create(int device, bool high_priority) {
  const int d = resolve(device);
  check_device(d, "cuda::Stream::create");
  DeviceIndexGuard guard(d);
  int least = 0, greatest = 0;  // numerically lower is higher priority
  MG_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  cudaStream_t s = nullptr;
  MG_CUDA_CHECK(
      cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, high_priority ? greatest : least));
  std::shared_ptr<void> owner(s, [d](void* handle) {
    // The allocator may still hold blocks tied to this stream; they stay valid memory, and
    // cudaStreamDestroy lets queued work finish first.
    DeviceIndexGuard g(d);
    (void)cudaStreamDestroy(static_cast<cudaStream_t>(handle));
  });
  return Stream(d, s, std::move(owner));
}

void Stream::synchronize() const {
  DeviceIndexGuard guard(device_);
  MG_CUDA_CHECK(cudaStreamSynchronize(native_stream(*this)));
}

bool Stream::query() const {
  DeviceIndexGuard guard(device_);
  const cudaError_t status = cudaStreamQuery(native_stream(*this));
  if (status == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  MG_CUDA_CHECK(status);
  return true;
}

void Stream::wait(const Stream& other) const {
  DeviceIndexGuard guard(other.device_);
  cudaEvent_t event = nullptr;
  MG_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  MG_CUDA_CHECK(cudaEventRecord(event, native_stream(other)));
  const cudaError_t status = cudaStreamWaitEvent(native_stream(*this), event, 0);
  (void)cudaEventDestroy(event);  // released once the wait has consumed it
  MG_CUDA_CHECK(status);
}

Stream current_stream(int device) {
  const int d = resolve(device);
  if (d < static_cast<int>(current_streams.size())) return current_streams[d];
  return Stream::default_stream(d);
}

void set_current_stream(const Stream& stream) {
  const int d = stream.device_index();
  while (static_cast<int>(current_streams.size()) <= d)
    current_streams.push_back(Stream::default_stream(static_cast<int>(current_streams.size())));
  current_streams[d] = stream;
}

StreamGuard::StreamGuard(const Stream& stream) : previous_(current_stream(stream.device_index())) {
  set_current_stream(stream);
}

StreamGuard::~StreamGuard() {
  set_current_stream(previous_);
}

void record_stream(const Tensor& t, const Stream& stream) {
  MG_CHECK(t.device().is_cuda(), "cuda::record_stream", "tensor is on ", describe(t.device()),
           ", not on a CUDA device");
  MG_CHECK(t.device().index == stream.device_index(), "cuda::record_stream", "tensor is on ",
           describe(t.device()), " but the stream on cuda:", stream.device_index());
  device_allocator(t.device().index).record_stream(t.storage()->data(), native_stream(stream));
}

void set_allow_tf32(bool allow) {
  tf32_allowed = allow;
}

bool allow_tf32() {
  return tf32_allowed;
}

}  // namespace mixgrad::cuda
