// The host thread pool (core/thread_pool.h) through parallel_for and
// parallel_split: every index exactly once, exceptions, nesting, concurrent callers, and the
// property it exists for: a busy thread's parts are taken over instead of waited for.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "backends/cpu/parallel.h"
#include "backends/cpu/product_split.h"
#include "common/test_util.h"

namespace mg = mixgrad;
namespace cpu = mixgrad::cpu;
using mixgrad::testing::ScopedNumThreads;

namespace {

// The distinct threads that ran the parts of one job of `parts` parts, each taking a while.
std::set<std::thread::id> threads_of_a_job(int64_t parts) {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  mg::parallel_split(parts, parts, [&](int64_t, int64_t, int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  return ids;
}

}  // namespace

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ScopedNumThreads count(threads);
    for (int64_t n : {1, 2, 7, 100, 1000, 100003}) {
      for (int64_t grain : {1, 3, 64, 50000}) {
        std::vector<std::atomic<int>> hits(n);
        mg::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
          ASSERT_LE(0, begin);
          ASSERT_LT(begin, end);
          ASSERT_LE(end, n);
          for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " grain " << grain;
      }
    }
  }
}

TEST(ThreadPool, ParallelForChunksHoldAtLeastTheGrain) {
  ScopedNumThreads count(4);
  std::atomic<int64_t> smallest{1 << 30};
  mg::parallel_for(1000, 100, [&](int64_t begin, int64_t end) {
    int64_t seen = smallest.load();
    while (end - begin < seen && !smallest.compare_exchange_weak(seen, end - begin)) {
    }
  });
  EXPECT_GE(smallest.load(), 100);
}

TEST(ThreadPool, ParallelSplitRunsEveryWorkerOnceWithOrderedRanges) {
  ScopedNumThreads count(2);
  for (int64_t workers : {2, 3, 5, 16}) {
    for (int64_t n : {0, 1, 4, 97}) {
      std::vector<std::pair<int64_t, int64_t>> ranges(workers, {-1, -1});
      std::vector<std::atomic<int>> runs(workers);
      const int64_t team = mg::parallel_split(n, workers, [&](int64_t w, int64_t b, int64_t e) {
        runs[w].fetch_add(1);
        ranges[w] = {b, e};
      });
      EXPECT_EQ(team, workers);
      int64_t next = 0;
      for (int64_t w = 0; w < workers; ++w) {
        EXPECT_EQ(runs[w].load(), 1);
        EXPECT_EQ(ranges[w].first, next);
        next = ranges[w].second;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(ThreadPool, UsesAtMostTheSetThreadCount) {
  for (int threads : {1, 2, 3}) {
    ScopedNumThreads count(threads);
    EXPECT_EQ(mg::get_num_threads(), threads);
    std::mutex mutex;
    std::set<std::thread::id> ids;
    mg::parallel_split(64, 64, [&](int64_t, int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    });
    EXPECT_LE(static_cast<int>(ids.size()), threads);
    if (threads == 1) {
      EXPECT_EQ(*ids.begin(), std::this_thread::get_id());
    }
  }
}

// The caller does not wait for a thread that is busy elsewhere (here: blocked in a part until
// all other parts are done). A fork/join split, which gives each thread a fixed share, would
// never finish the other parts and the part would time out.
TEST(ThreadPool, BusyThreadsPartsAreTakenOverByTheOthers) {
  ScopedNumThreads count(2);
  const std::thread::id caller = std::this_thread::get_id();
  int off_caller = 0;  // parts a worker ran: the test exercised the take-over at least once
  for (int round = 0; round < 20; ++round) {
    constexpr int64_t kParts = 16;
    std::atomic<int> done{0};
    std::atomic<bool> timed_out{false};
    mg::parallel_split(kParts, kParts, [&](int64_t, int64_t, int64_t) {
      if (std::this_thread::get_id() != caller) {
        ++off_caller;  // only ever one worker at 2 threads
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (done.load() < kParts - 1 && !timed_out.load()) {
          if (std::chrono::steady_clock::now() > deadline) timed_out = true;
          std::this_thread::yield();
        }
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // time for a worker to wake
      }
      done.fetch_add(1);
    });
    EXPECT_FALSE(timed_out.load());
    EXPECT_EQ(done.load(), kParts);
  }
  EXPECT_GT(off_caller, 0);
}

TEST(ThreadPool, RethrowsAPartsExceptionAndStaysUsable) {
  ScopedNumThreads count(2);
  EXPECT_THROW(mg::parallel_split(8, 8,
                                  [](int64_t w, int64_t, int64_t) {
                                    if (w == 5) throw std::runtime_error("part 5");
                                  }),
               std::runtime_error);
  EXPECT_FALSE(mg::in_parallel());
  std::atomic<int64_t> sum{0};
  mg::parallel_for(1000, 10, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  // Still a pool: a worker wakes and takes parts of a job long enough to wait for it.
  EXPECT_EQ(threads_of_a_job(32).size(), 2u);
}

TEST(ThreadPool, SleepingWorkersWakeForLaterJobs) {
  ScopedNumThreads count(2);
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past any spin: asleep
    EXPECT_EQ(threads_of_a_job(32).size(), 2u) << "round " << round;
  }
}

TEST(ThreadPool, SetNumThreadsInsideAPartTakesEffectForTheNextJob) {
  ScopedNumThreads count(2);
  mg::parallel_split(4, 4, [](int64_t w, int64_t, int64_t) {
    if (w == 0) mg::set_num_threads(3);
  });
  EXPECT_EQ(mg::get_num_threads(), 3);
  EXPECT_LE(threads_of_a_job(48).size(), 3u);
}

TEST(ThreadPool, NestedLoopsRunInsideTheirPart) {
  ScopedNumThreads count(2);
  std::vector<std::atomic<int>> hits(64 * 64);
  mg::parallel_for(64, 1, [&](int64_t b, int64_t e) {
    EXPECT_TRUE(mg::in_parallel());
    for (int64_t i = b; i < e; ++i)
      mg::parallel_for(64, 1, [&](int64_t b2, int64_t e2) {
        for (int64_t j = b2; j < e2; ++j) hits[i * 64 + j].fetch_add(1);
      });
  });
  EXPECT_FALSE(mg::in_parallel());
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPool, ConcurrentCallersEachGetEveryIndexOnce) {
  ScopedNumThreads count(2);
  constexpr int kCallers = 4;
  constexpr int64_t kN = 20000;
  std::vector<std::vector<std::atomic<int>>> hits(kCallers);
  for (auto& h : hits) h = std::vector<std::atomic<int>>(kN);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      for (int round = 0; round < 50; ++round)
        mg::parallel_for(kN, 100, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[c][i].fetch_add(1);
        });
    });
  for (auto& t : callers) t.join();
  for (auto& h : hits)
    for (auto& x : h) ASSERT_EQ(x.load(), 50);
}

TEST(ThreadPool, SetNumThreadsRejectsZero) {
  EXPECT_THROW(mg::set_num_threads(0), mg::Error);
}

TEST(ProductSplit, PiecesCoverEveryOutputElementOnce) {
  struct Case {
    std::vector<cpu::ProductShape> shapes;
  };
  const std::vector<Case> cases{
      {{{1024, 1024, 64}}},                                // one large product, cut by rows
      {{{40, 2000, 300}}},                                 // wide: cut by columns
      {{{0, 10, 10}, {300, 300, 300}, {5, 3, 2}}},         // empty, large, tiny
      {std::vector<cpu::ProductShape>(40, {64, 64, 64})},  // many equal products
      {{{31, 31, 100000}}},                                // too narrow to cut
  };
  for (int threads : {1, 2, 4}) {
    ScopedNumThreads count(threads);
    for (const Case& c : cases) {
      std::vector<std::vector<std::atomic<int>>> hits(c.shapes.size());
      for (size_t i = 0; i < c.shapes.size(); ++i)
        hits[i] = std::vector<std::atomic<int>>(c.shapes[i].m * c.shapes[i].n);
      cpu::run_products(
          static_cast<int64_t>(c.shapes.size()), [&](int64_t i) { return c.shapes[i]; },
          [&](const cpu::ProductPiece& p) {
            const cpu::ProductShape s = c.shapes[p.product];
            const int64_t r0 = p.rows ? p.begin : 0, r1 = p.rows ? p.end : s.m;
            const int64_t c0 = p.rows ? 0 : p.begin, c1 = p.rows ? s.n : p.end;
            ASSERT_LE(r1, s.m);
            ASSERT_LE(c1, s.n);
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t col = c0; col < c1; ++col) hits[p.product][r * s.n + col].fetch_add(1);
          });
      for (auto& h : hits)
        for (auto& x : h) ASSERT_EQ(x.load(), 1);
    }
  }
}
