#include "core/storage.h"

#include "core/allocator.h"

namespace mixgrad {

Storage::Storage(std::size_t nbytes, Device device)
    : data_(nbytes ? allocator_for(device).allocate(nbytes) : nullptr),
      nbytes_(nbytes),
      device_(device),
      owned_(true) {}

Storage::Storage(void* data, std::size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (owned_) {
    if (data_) allocator_for(device_).deallocate(data_, nbytes_);
  } else if (deleter_) {
    deleter_(data_);
  }
}

}  // namespace mixgrad
