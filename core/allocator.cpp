#include "core/allocator.h"

#include <array>

#include "backends/cpu/caching_allocator.h"
#include "core/error.h"

namespace mixgrad {

namespace {
std::array<Allocator*, kNumDeviceTypes>& registry() {
  static std::array<Allocator*, kNumDeviceTypes> table = [] {
    std::array<Allocator*, kNumDeviceTypes> t{};
    t[static_cast<int>(DeviceType::CPU)] = &cpu::caching_allocator();
    return t;
  }();
  return table;
}
}  // namespace

void register_allocator(DeviceType type, Allocator* allocator) {
  registry()[static_cast<int>(type)] = allocator;
}

Allocator& allocator_for(Device device) {
  Allocator* a = registry()[static_cast<int>(device.type)];
  MG_CHECK(a != nullptr, "allocate", "no allocator for device ", describe(device),
           " (mixgrad was built without this backend, or no such device is present)");
  return *a;
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
