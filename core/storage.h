#pragma once
// A block of device memory shared by a tensor and all its views. It also carries the version
// counter that in-place ops bump, so every view of the same memory sees the same version.
#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/device.h"

namespace mixgrad {

class Storage {
 public:
  // Owned memory from the device's allocator.
  Storage(std::size_t nbytes, Device device);
  // Borrowed memory (from_blob): `deleter` (may be empty) runs when the last tensor lets go.
  Storage(void* data, std::size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_;
  std::size_t nbytes_;
  Device device_;
  bool owned_;
  std::function<void(void*)> deleter_;
  uint64_t version_ = 0;
};

}  // namespace mixgrad
