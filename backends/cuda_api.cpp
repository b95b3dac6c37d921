// The public CUDA API (backends/cuda_api.h): the runtime questions go to the backend's hooks when
// mixgrad::cuda is linked in; the per-thread current stream and the TF32 switch are kept here.
#include "backends/cuda_api.h"

#include <atomic>
#include <vector>

#include "backends/cuda_runtime_hooks.h"
#include "core/error.h"

namespace mixgrad::cuda {

namespace {
std::atomic<const backend_hooks::RuntimeHooks*> installed_hooks{nullptr};

// The hooks, or an Error saying how to get a backend.
const backend_hooks::RuntimeHooks& hooks(const char* op) {
  const backend_hooks::RuntimeHooks* h = installed_hooks.load(std::memory_order_acquire);
  MG_CHECK(h != nullptr, op,
           "this program has no CUDA backend: link the library mixgrad::cuda (built where nvcc "
           "is installed; see README \"Using mixgrad in your project\")");
  return *h;
}

int resolve(int device) {
  return device < 0 ? current_device() : device;
}

// Per host thread and device: the stream ops use (empty = the device's default stream).
thread_local std::vector<Stream> current_streams;

std::atomic<bool> tf32_allowed{false};
}  // namespace

namespace backend_hooks {
void install_runtime_hooks(const RuntimeHooks* hooks) {
  installed_hooks.store(hooks, std::memory_order_release);
}
}  // namespace backend_hooks

bool is_built() {
  return installed_hooks.load(std::memory_order_acquire) != nullptr;
}

bool is_available() {
  return device_count() > 0;
}

int device_count() {
  return is_built() ? hooks("cuda::device_count").device_count() : 0;
}

int current_device() {
  return is_available() ? hooks("cuda::current_device").current_device() : 0;
}

void set_device(int index) {
  hooks("cuda::set_device").set_device(index);
}

void synchronize(int device) {
  const backend_hooks::RuntimeHooks& h = hooks("cuda::synchronize");
  h.synchronize(resolve(device));
}

Stream Stream::default_stream(int device) {
  const backend_hooks::RuntimeHooks& h = hooks("cuda::Stream::default_stream");
  return h.default_stream(resolve(device));
}

Stream Stream::create(int device, bool high_priority) {
  const backend_hooks::RuntimeHooks& h = hooks("cuda::Stream::create");
  return h.create_stream(resolve(device), high_priority);
}

void Stream::synchronize() const {
  hooks("cuda::Stream::synchronize").synchronize(*this);
}

bool Stream::query() const {
  return hooks("cuda::Stream::query").query(*this);
}

void Stream::wait(const Stream& other) const {
  hooks("cuda::Stream::wait").wait(*this, other);
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
  hooks("cuda::record_stream").record_stream(t, stream);
}

// TF32 is a preference; keeping it without a backend lets code set it unconditionally.
void set_allow_tf32(bool allow) {
  tf32_allowed = allow;
}

bool allow_tf32() {
  return tf32_allowed;
}

}  // namespace mixgrad::cuda
