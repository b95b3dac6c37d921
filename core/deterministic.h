#pragma once
// A process-wide switch, like PyTorch's torch.use_deterministic_algorithms, that trades speed for
// results that are bit-identical from run to run.
//
// CPU kernels are always deterministic: where several writes may hit one element they walk them
// in a fixed order. Some CUDA kernels instead add through atomics (scatter_add, index_add and so
// the backward of gather, index_select and embedding, weighted bincount), so floating-point sums
// come out in whatever order the threads reach memory and can differ in the last bits between
// runs. With the switch on those kernels sort the writes by target first and add each target's
// contributions sequentially in the CPU's order instead (float32/float64 results are then
// bitwise equal to the CPU's), at the cost of a radix sort and of one thread per target: a
// target hit by many writes is summed serially. Integer and bool results never depend on the
// order, so they keep the fast kernels. max_pool2d's backward gathers each input's gradient
// over its covering windows in the CPU's order instead of adding through atomics.
//
// Off by default. The switch is read when a kernel is launched; flip it between ops, not while
// other threads are launching work whose determinism matters.
namespace mixgrad {

void set_deterministic_algorithms(bool enabled);
bool deterministic_algorithms();

// Sets the switch for its lifetime, then restores the previous value.
class DeterministicGuard {
 public:
  explicit DeterministicGuard(bool enabled = true) : previous_(deterministic_algorithms()) {
    set_deterministic_algorithms(enabled);
  }
  ~DeterministicGuard() { set_deterministic_algorithms(previous_); }
  DeterministicGuard(const DeterministicGuard&) = delete;
  DeterministicGuard& operator=(const DeterministicGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace mixgrad
