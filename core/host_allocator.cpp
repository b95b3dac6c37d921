#include "core/host_allocator.h"

#include <bit>
#include <cstdlib>
#include <new>

#include "core/error.h"
#include "core/shape.h"

namespace mixgrad {

namespace {
constexpr std::size_t kAlignment = 64;  // a cache line, and enough for AVX-512 loads
}

CachingAllocator::CachingAllocator(std::size_t max_cached_bytes)
    : max_cached_bytes_(max_cached_bytes) {}

CachingAllocator::~CachingAllocator() {
  empty_cache();
}

std::size_t CachingAllocator::size_class(std::size_t nbytes) {
  if (nbytes <= 256) return 256;
  const std::size_t top = std::bit_floor(nbytes);  // highest power of two <= nbytes
  const std::size_t step = top / 4;
  return (nbytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(std::size_t nbytes) {
  // size_class rounds up by at most a quarter: refuse what it could not round without wrapping.
  MG_CHECK(nbytes <= kMaxTensorBytes, "allocate", "cannot allocate ", nbytes,
           " bytes (more than the largest tensor, ", kMaxTensorBytes, " bytes)");
  const std::size_t size = size_class(nbytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_lists_.find(size);
    if (it != free_lists_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      cached_bytes_ -= size;
      stats_.allocated += size;
      stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
      ++stats_.cache_hits;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (p == nullptr) {
    empty_cache();
    p = std::aligned_alloc(kAlignment, size);
  }
  MG_CHECK(p != nullptr, "allocate", "out of CPU memory allocating ", nbytes, " bytes");
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocated += size;
  stats_.reserved += size;
  stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
  ++stats_.system_allocs;
  return p;
}

void CachingAllocator::deallocate(void* ptr, std::size_t nbytes) {
  if (ptr == nullptr) return;
  const std::size_t size = size_class(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocated -= size;
  if (cached_bytes_ + size > max_cached_bytes_) {
    std::free(ptr);
    stats_.reserved -= size;
    return;
  }
  free_lists_[size].push_back(ptr);
  cached_bytes_ += size;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, blocks] : free_lists_) {
    for (void* p : blocks) std::free(p);
    stats_.reserved -= size * blocks.size();
  }
  free_lists_.clear();
  cached_bytes_ = 0;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated = stats_.allocated;
}

CachingAllocator& host_allocator() {
  // Leaked on purpose: tensors in static storage may be freed after main returns.
  static auto* instance = new CachingAllocator(std::size_t{4} << 30);
  return *instance;
}

}  // namespace mixgrad
