#pragma once
// The host (CPU) memory allocator: it keeps freed blocks in size-class free lists and hands them
// out again, so a training loop does not page-fault fresh memory for its temporaries on every step.
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"

namespace mixgrad {

class CachingAllocator final : public Allocator {
 public:
  // `max_cached_bytes`: cached blocks beyond this are returned to the system at once.
  explicit CachingAllocator(std::size_t max_cached_bytes);
  ~CachingAllocator() override;
  void* allocate(std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;
  AllocatorStats stats() const override;
  void empty_cache() override;
  void reset_peak_stats() override;

  // Block size actually reserved for a request: 4 classes per power of two above 256 bytes,
  // so rounding wastes at most 25%.
  static std::size_t size_class(std::size_t nbytes);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_lists_;
  std::size_t cached_bytes_ = 0;
  std::size_t max_cached_bytes_;
  AllocatorStats stats_;
};

// The allocator of Device::cpu() (and of the CUDA backend's host staging).
CachingAllocator& host_allocator();

}  // namespace mixgrad
