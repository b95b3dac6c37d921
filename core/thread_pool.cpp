#include "core/thread_pool.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MG_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MG_CPU_RELAX() asm volatile("yield")
#else
#define MG_CPU_RELAX() ((void)0)
#endif

namespace mixgrad::pool {

namespace {

thread_local bool t_in_part = false;

// How long an idle worker spins for the next job before sleeping, and how long a caller spins
// for parts claimed by others. On an idle machine a long spin pays: the jobs of a training step
// come a few to a few hundred microseconds apart, and a worker woken from sleep costs the caller
// a system call and arrives late. When the machine is oversubscribed (another process wants the
// core), spinning takes time from the threads doing the work, so after a spinning thread notices
// it was descheduled, every thread spins only briefly for a while. MIXGRAD_SPIN_US sets the long
// spin (0: always sleep at once).
using Clock = std::chrono::steady_clock;
constexpr std::chrono::nanoseconds kShortSpin{5'000};
// A gap this long between two looks at the clock in a spin loop means the thread lost its core.
constexpr std::chrono::nanoseconds kDescheduledGap{150'000};
// How long spins stay short after a thread noticed it was descheduled.
constexpr std::chrono::nanoseconds kContendedFor{50'000'000};

std::chrono::nanoseconds long_spin() {
  static const std::chrono::nanoseconds value = [] {
    if (const char* env = std::getenv("MIXGRAD_SPIN_US"); env && *env)
      return std::chrono::nanoseconds(std::max<int64_t>(0, std::atoll(env)) * 1000);
    return std::chrono::nanoseconds(500'000);
  }();
  return value;
}

// Until when (steady_clock nanoseconds) spins stay short.
std::atomic<int64_t> g_contended_until{0};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Spins until pred() holds or the spin time has passed; returns pred().
template <class Pred>
bool spin_until(Pred pred) {
  if (pred()) return true;
  int64_t last = now_ns();
  const std::chrono::nanoseconds budget = last < g_contended_until.load(std::memory_order_relaxed)
                                              ? std::min(kShortSpin, long_spin())
                                              : long_spin();
  const int64_t deadline = last + budget.count();
  for (int i = 1;; ++i) {
    MG_CPU_RELAX();
    if (pred()) return true;
    if (i % 32 == 0) {
      const int64_t now = now_ns();
      if (now - last > kDescheduledGap.count()) {
        g_contended_until.store(now + kContendedFor.count(), std::memory_order_relaxed);
        return pred();
      }
      if (now >= deadline) return false;
      last = now;
    }
  }
}

int default_threads() {
  for (const char* name : {"MIXGRAD_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* env = std::getenv(name); env && *env) {
      const int n = std::atoi(env);
      if (n >= 1) return n;
    }
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// One worker's wake-up word, on its own cache line so that spinning workers do not share one.
struct alignas(64) WorkerSignal {
  std::atomic<uint32_t> generation{0};
  std::atomic<bool> sleeping{false};
};

class ThreadPool {
 public:
  ThreadPool() : threads_(default_threads()) {}

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  // The workers are resized by the next job, so this is safe anywhere, even inside a part.
  void set_threads(int threads) { threads_.store(threads, std::memory_order_relaxed); }

  void run(int64_t parts, int64_t max_threads, PartFunction f) {
    if (t_in_part || std::min<int64_t>({parts, max_threads, threads()}) < 2) {
      run_serially(parts, f);
      return;
    }
    // Callers on other threads (a data loader's prefetch thread, user threads) take turns; none
    // can wait for another's job while holding the pool, since parts never wait on callers.
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    start_workers();
    const int64_t helpers =
        std::min<int64_t>({parts, max_threads, static_cast<int64_t>(workers_.size()) + 1}) - 1;
    if (helpers < 1) {
      run_serially(parts, f);
      return;
    }
    function_ = f;
    done_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    // Publishing the ticket makes the fields above visible to every thread that reads it.
    const uint64_t generation = (ticket_.load(std::memory_order_relaxed) >> 32) + 1;
    ticket_.store(generation << 32 | static_cast<uint64_t>(parts) << 16, std::memory_order_seq_cst);
    for (int64_t w = 0; w < helpers; ++w) wake(*signals_[w]);

    t_in_part = true;
    claim_parts();
    t_in_part = false;
    wait_until_done(parts);
    if (failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
  }

 private:
  static void run_serially(int64_t parts, PartFunction f) {
    const bool outer = t_in_part;
    t_in_part = true;
    try {
      for (int64_t p = 0; p < parts; ++p) f.call(f.context, p);
    } catch (...) {
      t_in_part = outer;
      throw;
    }
    t_in_part = outer;
  }

  static void wake(WorkerSignal& s) {
    s.generation.fetch_add(1, std::memory_order_seq_cst);
    if (s.sleeping.load(std::memory_order_seq_cst)) s.generation.notify_one();
  }

  // Claims and runs parts of the current job until none is left unclaimed.
  void claim_parts() {
    for (;;) {
      // One snapshot of the ticket decides: a part of the job it names is free, and the
      // exchange succeeds only if that job is still the current one.
      uint64_t ticket = ticket_.load(std::memory_order_acquire);
      const int64_t part = static_cast<int64_t>(ticket & 0xffff);
      const int64_t parts = static_cast<int64_t>((ticket >> 16) & 0xffff);
      if (part >= parts) return;
      if (!ticket_.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel)) continue;
      // A claimed part keeps its job alive (its caller waits for it), so function_ is this
      // job's.
      try {
        function_.call(function_.context, part);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!failed_.load(std::memory_order_relaxed)) {
          error_ = std::current_exception();
          failed_.store(true, std::memory_order_release);
        }
      }
      if (static_cast<int64_t>(done_.fetch_add(1, std::memory_order_seq_cst)) + 1 == parts &&
          caller_sleeping_.load(std::memory_order_seq_cst))
        done_.notify_one();
    }
  }

  void wait_until_done(int64_t parts) {
    const auto all = static_cast<uint32_t>(parts);
    auto finished = [&] { return done_.load(std::memory_order_acquire) == all; };
    if (spin_until(finished)) return;
    caller_sleeping_.store(true, std::memory_order_seq_cst);
    for (uint32_t seen = done_.load(std::memory_order_seq_cst); seen != all;
         seen = done_.load(std::memory_order_seq_cst))
      done_.wait(seen, std::memory_order_seq_cst);
    caller_sleeping_.store(false, std::memory_order_relaxed);
  }

  void worker_loop(WorkerSignal& s) {
    t_in_part = true;  // a part's own parallel loops run on its thread
    // The signal's value when it was created, not when this thread got to run: a wake-up (or
    // the stop) that came before the thread started must not be missed.
    uint32_t seen = 0;
    for (;;) {
      auto signalled = [&] { return s.generation.load(std::memory_order_acquire) != seen; };
      if (!spin_until(signalled)) {
        s.sleeping.store(true, std::memory_order_seq_cst);
        s.generation.wait(seen, std::memory_order_seq_cst);
        s.sleeping.store(false, std::memory_order_relaxed);
      }
      seen = s.generation.load(std::memory_order_acquire);
      if (stopping_.load(std::memory_order_acquire)) return;
      claim_parts();
    }
  }

  // Called with job_mutex_ held.
  void start_workers() {
    if (owner_ != getpid()) {
      // A forked child has none of its parent's threads: forget them (the handles cannot be
      // joined or destroyed here, so they are left behind).
      new std::vector<std::thread>(std::move(workers_));
      workers_.clear();
      owner_ = getpid();
    }
    const int wanted = threads() - 1;
    if (static_cast<int>(workers_.size()) == wanted) return;
    stop_workers();
    signals_.clear();
    for (int w = 0; w < wanted; ++w) signals_.push_back(std::make_unique<WorkerSignal>());
    for (int w = 0; w < wanted; ++w)
      workers_.emplace_back([this, s = signals_[w].get()] { worker_loop(*s); });
  }

  // Called with job_mutex_ held.
  void stop_workers() {
    if (workers_.empty()) return;
    stopping_.store(true, std::memory_order_release);
    for (auto& s : signals_) wake(*s);
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    stopping_.store(false, std::memory_order_relaxed);
  }

  std::atomic<int> threads_;
  pid_t owner_ = getpid();  // the process whose threads workers_ holds
  std::mutex job_mutex_;    // one job at a time; a second caller runs its parts itself
  std::vector<std::thread> workers_;
  std::vector<std::unique_ptr<WorkerSignal>> signals_;
  std::atomic<bool> stopping_{false};

  // The current job. ticket_ = generation << 32 | parts << 16 | next unclaimed part.
  alignas(64) std::atomic<uint64_t> ticket_{0};
  PartFunction function_{};
  alignas(64) std::atomic<uint32_t> done_{0};  // 32 bits: waited on as a futex directly
  std::atomic<bool> caller_sleeping_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

// Never destroyed: workers may still be asleep in it when static destructors run at exit.
ThreadPool& pool() {
  static ThreadPool* instance = new ThreadPool;
  return *instance;
}

}  // namespace

void run_parts(int64_t parts, int64_t max_threads, PartFunction f) {
  MG_CHECK(parts <= kMaxParts, "parallel_for", "too many parts for one job: ", parts, " (at most ",
           kMaxParts, ")");
  if (parts <= 0) return;
  pool().run(parts, max_threads, f);
}

bool in_pool_part() {
  return t_in_part;
}

int pool_threads() {
  return pool().threads();
}

void set_pool_threads(int threads) {
  pool().set_threads(threads);
}

}  // namespace mixgrad::pool
