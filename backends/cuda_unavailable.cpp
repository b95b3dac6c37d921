// The public CUDA API of a build without the CUDA backend: nothing is available, and whatever
// needs a device says how to get one.
#include "backends/cuda_api.h"
#include "core/error.h"

namespace mixgrad::cuda {

namespace {
[[noreturn]] void unavailable(const char* op) {
  throw Error(op,
              "mixgrad was built without the CUDA backend (configure with MIXGRAD_CUDA=ON "
              "where nvcc is installed)");
}
}  // namespace

bool is_built() {
  return false;
}
bool is_available() {
  return false;
}
int device_count() {
  return 0;
}
int current_device() {
  return 0;
}
void set_device(int) {
  unavailable("cuda::set_device");
}
void synchronize(int) {
  unavailable("cuda::synchronize");
}
Stream Stream::default_stream(int) {
  unavailable("cuda::Stream::default_stream");
}
Stream Stream::create(int, bool) {
  unavailable("cuda::Stream::create");
}
void Stream::synchronize() const {
  unavailable("cuda::Stream::synchronize");
}
bool Stream::query() const {
  unavailable("cuda::Stream::query");
}
void Stream::wait(const Stream&) const {
  unavailable("cuda::Stream::wait");
}
Stream current_stream(int) {
  unavailable("cuda::current_stream");
}
void set_current_stream(const Stream&) {
  unavailable("cuda::set_current_stream");
}
StreamGuard::StreamGuard(const Stream& s) : previous_(s) {
  unavailable("cuda::StreamGuard");
}
StreamGuard::~StreamGuard() = default;
void record_stream(const Tensor&, const Stream&) {
  unavailable("cuda::record_stream");
}
// TF32 is a preference; keeping it lets code set it unconditionally.
namespace {
bool tf32_allowed = false;
}
void set_allow_tf32(bool allow) {
  tf32_allowed = allow;
}
bool allow_tf32() {
  return tf32_allowed;
}

}  // namespace mixgrad::cuda
