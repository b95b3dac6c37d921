#pragma once
// The CPU backend's thread pool is OpenMP; this is the one place kernels reach it from.
#include <algorithm>
#include <cstdint>
#include <exception>

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

// Whether the caller is already inside a parallel region, where parallel_for runs serially and
// OpenBLAS (its OpenMP build) stays on the calling thread.
inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

// Splits [0, n) among a team of up to `workers` threads: body(w, begin, end) runs once on each
// thread w, the ranges contiguous and in worker order (empty only when n is below the team size).
// Unlike parallel_for, the worker index lets each thread use its own buffers and keep partial
// results for the caller to combine in worker order, the same bits for the same team. Returns
// the team size, which OpenMP may make smaller than `workers`: only workers [0, team) ran.
// Without OpenMP, or for fewer than 2 workers, runs body(0, 0, n) on the caller and returns 1.
// Rethrows the first exception a worker threw, once all have finished. Per-thread state (such
// as grad mode) is the workers' own, not the caller's.
template <class F>
int64_t parallel_split(int64_t n, int64_t workers, F&& body) {
#ifdef _OPENMP
  if (workers > 1) {
    std::exception_ptr error;
    int64_t team = workers;
#pragma omp parallel num_threads(static_cast <int>(workers))
    {
      const int64_t w = omp_get_thread_num(), nt = omp_get_num_threads();
      if (w == 0) team = nt;
      try {
        body(w, n * w / nt, n * (w + 1) / nt);
      } catch (...) {
#pragma omp critical(mixgrad_parallel_split)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    return team;
  }
#endif
  (void)workers;
  body(int64_t{0}, int64_t{0}, n);
  return 1;
}

}  // namespace cpu
}  // namespace mixgrad
