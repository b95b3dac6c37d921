#pragma once
// Counts the calls a CPU kernel of the kernel table receives, for tests that check how many
// kernel launches an op or a module costs (one GEMM per layer, no hidden copies).
#include <type_traits>
#include <utility>

#include "backends/kernels.h"

namespace mixgrad::testing {

// Swaps `kernel`'s CPU function for a counting wrapper while this object lives, then restores
// it. One counter per kernel at a time (the count is per kernel, not per object).
//
//   CallCounter<kernels::gemm> gemm;
//   model(x);
//   EXPECT_EQ(gemm.calls(), 4);
template <auto& kernel>
class CallCounter {
  using Fn = typename std::remove_reference_t<decltype(kernel)>::Fn;

 public:
  CallCounter() {
    original_ = kernel.get(Device::cpu());
    calls_ = 0;
    kernel.set(DeviceType::CPU, &Counting<Fn>::call);
  }
  ~CallCounter() { kernel.set(DeviceType::CPU, original_); }
  CallCounter(const CallCounter&) = delete;
  CallCounter& operator=(const CallCounter&) = delete;
  int calls() const { return calls_; }

 private:
  template <class F>
  struct Counting;
  template <class R, class... A>
  struct Counting<R (*)(A...)> {
    static R call(A... args) {
      ++calls_;
      return original_(std::forward<A>(args)...);
    }
  };
  static inline Fn original_ = nullptr;
  static inline int calls_ = 0;
};

}  // namespace mixgrad::testing
