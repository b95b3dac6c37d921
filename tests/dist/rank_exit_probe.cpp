// A training step in which the last rank dies (SIGKILL, as an OOM kill or a crashed node would)
// while the others wait in a collective: they must fail with a clear Error within the timeout,
// never hang. Run under mpirun by the test dist.rank_exit (tests/CMakeLists.txt), which checks
// what the surviving ranks print.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "dist/dist.h"
#include "ops/creation.h"

namespace mg = mixgrad;

int main(int argc, char** argv) {
  const double timeout_s = argc > 1 ? std::atof(argv[1]) : 3.0;
  mg::dist::init();
  mg::dist::set_timeout(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  const int rank = mg::dist::rank(), last = mg::dist::world_size() - 1;
  mg::Tensor grad = mg::ones({1000});
  for (int step = 0;; ++step) {
    if (rank == last && step == 3) std::raise(SIGKILL);
    const auto start = std::chrono::steady_clock::now();
    try {
      mg::dist::all_reduce_(grad);
    } catch (const mg::Error& e) {
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("rank %d caught at step %d after %.1f s: %s\n", rank, step, waited, e.what());
      std::fflush(stdout);
      // Later collectives fail at once instead of waiting again.
      try {
        mg::dist::barrier();
      } catch (const mg::Error& again) {
        std::printf("rank %d then: %s\n", rank, again.what());
      }
      std::fflush(stdout);
      return 0;
    }
  }
}
