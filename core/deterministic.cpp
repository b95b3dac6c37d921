#include "core/deterministic.h"

#include <atomic>

namespace mixgrad {

namespace {
// Process-wide rather than thread-local: kernels run on behalf of every thread alike, and a
// data loader thread should not silently opt out of a choice the main thread made.
std::atomic<bool> deterministic{false};
}  // namespace

void set_deterministic_algorithms(bool enabled) {
  deterministic.store(enabled, std::memory_order_relaxed);
}

bool deterministic_algorithms() {
  return deterministic.load(std::memory_order_relaxed);
}

}  // namespace mixgrad
