#include "common/test_util.h"
#include "core/host_allocator.h"

namespace mg = mixgrad;

TEST(CachingAllocator, SizeClassesBoundWaste) {
  using A = mg::CachingAllocator;
  EXPECT_EQ(A::size_class(1), 256u);
  EXPECT_EQ(A::size_class(256), 256u);
  EXPECT_EQ(A::size_class(257), 320u);
  EXPECT_EQ(A::size_class(1024), 1024u);
  EXPECT_EQ(A::size_class(1025), 1280u);
  for (std::size_t n : {300u, 5000u, 123456u, 9999999u}) {
    EXPECT_GE(A::size_class(n), n);
    EXPECT_LE(A::size_class(n), n + n / 4 + 1);
  }
}

TEST(CachingAllocator, ReusesFreedBlocks) {
  mg::CachingAllocator alloc(std::size_t{1} << 30);
  void* a = alloc.allocate(1 << 20);
  alloc.deallocate(a, 1 << 20);
  void* b = alloc.allocate((1 << 20) - 100);  // same size class
  EXPECT_EQ(a, b);
  auto s = alloc.stats();
  EXPECT_EQ(s.system_allocs, 1u);
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.allocated, std::size_t{1} << 20);
  alloc.deallocate(b, (1 << 20) - 100);
  EXPECT_EQ(alloc.stats().allocated, 0u);
  EXPECT_EQ(alloc.stats().reserved, std::size_t{1} << 20);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved, 0u);
}

TEST(CachingAllocator, RespectsCacheLimit) {
  mg::CachingAllocator alloc(4096);
  void* a = alloc.allocate(8192);
  alloc.deallocate(a, 8192);  // larger than the cache limit: returned to the system
  EXPECT_EQ(alloc.stats().reserved, 0u);
}

TEST(CachingAllocator, TrainingLoopStopsGoingToTheSystem) {
  // Temporaries of a repeated computation are served from the cache after the first step.
  auto step = [] {
    auto x = mg::randn({256, 256});
    auto y = (x * 2 + 1).relu().sum();
    return y.item<float>();
  };
  step();
  const auto before = mg::memory_stats().system_allocs;
  for (int i = 0; i < 20; ++i) step();
  EXPECT_EQ(mg::memory_stats().system_allocs, before);
}
