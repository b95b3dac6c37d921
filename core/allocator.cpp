#include "core/allocator.h"

#include <array>

#include "core/error.h"
#include "core/host_allocator.h"

namespace mixgrad {

namespace {
Allocator& cpu_allocator(int) {
  return host_allocator();
}
// Host memory is core's; other backends register their allocators when linked in (a static
// initialiser of the backend library, see backends/cuda/register.cpp).
std::array<AllocatorGetter, kNumDeviceTypes>& registry() {
  static std::array<AllocatorGetter, kNumDeviceTypes> table = [] {
    std::array<AllocatorGetter, kNumDeviceTypes> t{};
    t[static_cast<int>(DeviceType::CPU)] = &cpu_allocator;
    return t;
  }();
  return table;
}
}  // namespace

void register_allocator(DeviceType type, AllocatorGetter getter) {
  registry()[static_cast<int>(type)] = getter;
}

Allocator& allocator_for(Device device) {
  AllocatorGetter get = registry()[static_cast<int>(device.type)];
  MG_CHECK(get != nullptr, "allocate", "no allocator for device ", describe(device),
           " (the program does not link that backend: mixgrad::cuda for CUDA)");
  return get(device.index);
}

AllocatorStats memory_stats(Device device) {
  return allocator_for(device).stats();
}
void empty_cache(Device device) {
  allocator_for(device).empty_cache();
}
void reset_peak_memory_stats(Device device) {
  allocator_for(device).reset_peak_stats();
}

}  // namespace mixgrad
