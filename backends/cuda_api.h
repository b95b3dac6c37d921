#pragma once
// The CUDA backend's public controls: availability, devices, streams, TF32. Tensors move with
// to(Device::cuda()) and memory statistics come from memory_stats(Device::cuda(i)) (see
// core/allocator.h). Every function here exists in every program: the backend itself is the
// library mixgrad::cuda, which a program links to use a GPU. Without it (or without a GPU)
// is_available() is false and the functions that need a device throw Error.
#include <memory>

#include "core/tensor.h"

namespace mixgrad::cuda {

namespace backend_hooks {
class RuntimeHooks;
}

// Whether this program has the CUDA backend: it links mixgrad::cuda (see README "Using mixgrad
// in your project"), whether or not the machine has a GPU.
bool is_built();
// Whether the backend is built and at least one CUDA device can be used.
bool is_available();
// Number of usable CUDA devices (0 without the backend, a driver or a GPU).
int device_count();

// The device that calls without an explicit index use, per host thread (initially 0).
int current_device();
void set_device(int index);

// Waits until all work queued on the device (-1: the current device) has finished.
void synchronize(int device = -1);

// An ordered queue of device work. Copies of a Stream refer to the same queue; a stream made by
// create() is destroyed when its last copy goes.
class Stream {
 public:
  // The device's default stream (the one every op uses unless a StreamGuard says otherwise).
  static Stream default_stream(int device = -1);
  // A new stream on the device; `high_priority` asks the scheduler to prefer its kernels.
  static Stream create(int device = -1, bool high_priority = false);

  int device_index() const { return device_; }
  // Blocks the host until the stream's queued work is done; query() only asks.
  void synchronize() const;
  bool query() const;
  // Makes this stream wait (on the device, not the host) for work queued so far on `other`.
  void wait(const Stream& other) const;
  // The cudaStream_t, for interoperating with other CUDA code.
  void* native_handle() const { return handle_; }
  friend bool operator==(const Stream& a, const Stream& b) {
    return a.device_ == b.device_ && a.handle_ == b.handle_;
  }

 private:
  friend class backend_hooks::RuntimeHooks;  // the backend makes streams
  Stream(int device, void* handle, std::shared_ptr<void> owner)
      : device_(device), handle_(handle), owner_(std::move(owner)) {}
  int device_ = 0;
  void* handle_ = nullptr;
  std::shared_ptr<void> owner_;
};

// The stream ops on `device` (-1: current device) queue their work on, in this host thread.
Stream current_stream(int device = -1);
void set_current_stream(const Stream& stream);

// Makes `stream` current for its device for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};

// Tells the caching allocator that `t`'s memory is used by work on `stream`, so the memory is
// not handed out again until that work has finished (needed only when a tensor allocated on one
// stream is used on another, as in PyTorch's Tensor.record_stream).
void record_stream(const Tensor& t, const Stream& stream);

// TensorFloat-32 for float32 matrix products: faster on Ampere and later, with 10-bit mantissa
// inputs. Off by default so float32 results stay comparable to the CPU's.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace mixgrad::cuda
