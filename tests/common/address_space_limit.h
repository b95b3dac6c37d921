#pragma once
// Makes allocations fail on purpose: for the tests that a reader asked for more memory than
// there is reports an Error rather than letting std::bad_alloc escape.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>

namespace mixgrad::testing {

// Lowers the process's address-space limit to what it maps now plus `headroom` bytes, and
// restores the old limit on destruction. Keep the scope to the one call under test: anything
// else that maps memory meanwhile (a new thread's stack) fails too.
class ScopedAddressSpaceLimit {
 public:
  explicit ScopedAddressSpaceLimit(std::size_t headroom) {
    EXPECT_EQ(getrlimit(RLIMIT_AS, &saved_), 0);
    std::size_t mapped_pages = 0;
    std::ifstream("/proc/self/statm") >> mapped_pages;
    EXPECT_GT(mapped_pages, 0u) << "cannot read /proc/self/statm";
    rlimit lowered = saved_;
    lowered.rlim_cur = mapped_pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) + headroom;
    EXPECT_EQ(setrlimit(RLIMIT_AS, &lowered), 0);
  }
  ~ScopedAddressSpaceLimit() { setrlimit(RLIMIT_AS, &saved_); }
  ScopedAddressSpaceLimit(const ScopedAddressSpaceLimit&) = delete;
  ScopedAddressSpaceLimit& operator=(const ScopedAddressSpaceLimit&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace mixgrad::testing
