#pragma once
// Parallel loops on the host, for every CPU kernel and any other host code: parts of a loop run
// on mixgrad's thread pool (core/thread_pool.h), whose parts any free thread claims, so a
// descheduled thread holds up a job only by the part it is running.
#include <algorithm>
#include <cstdint>
#include <utility>

#include "core/thread_pool.h"

namespace mixgrad {

// Threads used by CPU kernels: the caller plus n - 1 pool workers. OpenBLAS runs single-threaded
// on every thread that calls it through mixgrad (large products are split by the pool instead);
// for that, such a thread's own OpenMP thread count is set to 1 on its first product, which also
// makes the caller's own OpenMP loops on that thread single-threaded.
// Default: MIXGRAD_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this process may run on.
void set_num_threads(int n);
int get_num_threads();

// A split loop gets up to this many parts per thread, so that when one thread is descheduled
// the others take over its share instead of waiting for it.
inline constexpr int64_t kPartsPerThread = 4;

namespace pool_detail {
template <class F>
void call_part(void* f, int64_t part) {
  (*static_cast<F*>(f))(part);
}
template <class F>
void run_parts(int64_t parts, int64_t threads, F& f) {
  pool::run_parts(parts, threads, pool::PartFunction{&call_part<F>, &f});
}
}  // namespace pool_detail

// Whether the caller is running inside a parallel part, where loops run serially.
inline bool in_parallel() {
  return pool::in_pool_part();
}

// Calls f(begin, end) on disjoint chunks covering [0, n), in parallel when n >= 2 * grain and we
// are not already inside a parallel part; each chunk has at least `grain` elements.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int64_t by_grain = n / std::max<int64_t>(grain, 1);
  const int64_t threads = in_parallel() ? 1 : std::min<int64_t>(get_num_threads(), by_grain);
  if (threads < 2) {
    f(int64_t{0}, n);
    return;
  }
  const int64_t parts = std::min({by_grain, threads * kPartsPerThread, pool::kMaxParts});
  auto part = [&](int64_t p) { f(n * p / parts, n * (p + 1) / parts); };
  pool_detail::run_parts(parts, threads, part);
}

// Splits [0, n) into `workers` contiguous ranges in worker order (empty only when n is below
// the worker count) and runs body(w, begin, end) exactly once for every w, in parallel. The
// worker index lets each part use its own buffers and keep partial results for the caller to
// combine in worker order, the same bits for the same worker count. Parts are claimed by
// whichever thread is free, so two parts may run one after another on one thread (a part must
// not wait for another). Returns `workers` (every part ran). For fewer than 2 workers, runs
// body(0, 0, n) on the caller. Rethrows the first exception a part threw, once all have
// finished. Per-thread state (such as grad mode) is the running thread's, not the caller's.
template <class F>
int64_t parallel_split(int64_t n, int64_t workers, F&& body) {
  if (workers < 2) {
    body(int64_t{0}, int64_t{0}, n);
    return 1;
  }
  auto part = [&](int64_t w) { body(w, n * w / workers, n * (w + 1) / workers); };
  pool_detail::run_parts(workers, workers, part);
  return workers;
}

}  // namespace mixgrad
