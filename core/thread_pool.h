#pragma once
// mixgrad's host thread pool (used by CPU kernels through core/parallel.h): the caller and up to
// get_num_threads() - 1 workers run the parts of one job, each part claimed from a shared counter
// by whichever thread is free first.
//
// Why not fork/join (OpenMP): a fork/join region ends only when every thread of its team has
// arrived, so on a shared machine one descheduled thread stalls the whole step for a scheduler
// time slice, region after region (measured in issue 16: a 2-thread training step 5.8x slower
// than 1 thread beside one busy process). Here the caller starts on the parts at once and waits
// only for parts another thread has already claimed; a worker that wakes late finds nothing left.
// Idle workers spin for a bounded time (so back-to-back jobs find them awake), then sleep.
#include <cstdint>

namespace mixgrad::pool {

// The most parts one job may have.
inline constexpr int64_t kMaxParts = 0xffff;

// A borrowed callable: call(context, part).
struct PartFunction {
  void (*call)(void* context, int64_t part);
  void* context;
};

// Runs f(p) exactly once for every part p in [0, parts), on the calling thread and on about
// `max_threads - 1` pool workers (a worker finishing another job may join); returns when every
// part has finished. Parts may run in any order and on any thread, never two at once on one
// thread. Runs every part on the caller, in order, when parts or max_threads is below 2 or when
// called from inside a part (nesting); a caller on another thread waits for the current job.
// Rethrows the first exception a part threw: on the pool once all parts are done, on the caller
// at once.
void run_parts(int64_t parts, int64_t max_threads, PartFunction f);

// Whether the calling thread is running a part of a pool job (or is a pool worker).
bool in_pool_part();

// Threads a job may use: the pool's workers plus the caller.
int pool_threads();
void set_pool_threads(int threads);

}  // namespace mixgrad::pool
