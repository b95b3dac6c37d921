#pragma once
// The CPU backend's thread pool is OpenMP; this is the one place kernels reach it from.
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mixgrad {

// Threads used by CPU kernels (and OpenBLAS, which shares the OpenMP pool).
void set_num_threads(int n);
int get_num_threads();

namespace cpu {

// Minimum work (elements) per thread before a loop is split.
inline constexpr int64_t kGrainSize = 32768;

// Calls f(begin, end) on disjoint chunks covering [0, n), in parallel when n >= grain and we are
// not already inside a parallel region.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t threads = std::min<int64_t>(max_threads, std::max<int64_t>(1, n / grain));
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const int64_t tid = omp_get_thread_num();
      const int64_t nt = omp_get_num_threads();
      const int64_t chunk = (n + nt - 1) / nt;
      const int64_t begin = tid * chunk;
      const int64_t end = std::min(n, begin + chunk);
      if (begin < end) f(begin, end);
    }
    return;
  }
#endif
  (void)grain;
  f(int64_t{0}, n);
}

}  // namespace cpu
}  // namespace mixgrad
