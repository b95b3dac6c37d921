#pragma once
// Per-device memory allocation. Each backend registers one Allocator for its DeviceType; storage
// asks for memory only through this interface, so a CUDA allocator plugs in without touching ops.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/device.h"

namespace mixgrad {

struct AllocatorStats {
  std::size_t allocated = 0;       // bytes handed out and not yet freed
  std::size_t reserved = 0;        // bytes held from the system (handed out + cached)
  std::size_t peak_allocated = 0;  // high-water mark of `allocated`
  std::size_t system_allocs = 0;   // times the allocator went to the system for memory
  std::size_t cache_hits = 0;      // allocations served from the cache
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  // Returns cached blocks to the system.
  virtual void empty_cache() = 0;
  // Restarts peak_allocated from the current allocation.
  virtual void reset_peak_stats() = 0;
};

// The allocator of a device; throws Error when its backend is unavailable or the device index
// does not exist.
Allocator& allocator_for(Device device);
// Each backend registers, per device type, a function returning the allocator of a device index
// (throwing Error for an index that does not exist).
using AllocatorGetter = Allocator& (*)(int device_index);
void register_allocator(DeviceType type, AllocatorGetter getter);

// Statistics of the device's allocator, and a way to drop its cached blocks.
AllocatorStats memory_stats(Device device = Device::cpu());
void empty_cache(Device device = Device::cpu());
void reset_peak_memory_stats(Device device = Device::cpu());

}  // namespace mixgrad
