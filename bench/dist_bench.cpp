// All-to-all bandwidth of mixgrad::dist::all_to_all (a float32 tensor's rows, through the
// Communicator) next to MPI_Alltoallv called directly on the same bytes, for growing messages.
// Run under mpirun:  mpirun -np 2 build/release/bench/mixgrad-dist-bench [--reps N]
// Rank 0 prints one line per size: bytes to each peer, median microseconds of both, and each
// one's bandwidth (bytes every process sends to the others per second).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dist/dist.h"
#include "ops/creation.h"

namespace mg = mixgrad;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double now_us() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
  mg::dist::init();
  const int p = mg::dist::world_size(), me = mg::dist::rank();
  if (me == 0) {
    std::printf("# %d processes, %d repetitions per size (median); bytes = to each peer\n", p,
                reps);
    std::printf("%12s %14s %14s %12s %12s %7s\n", "bytes", "mixgrad_us", "mpi_us", "mixgrad_MB/s",
                "mpi_MB/s", "ratio");
  }
  const int64_t width = 256;  // floats per row: 1 KiB rows
  for (int64_t rows = 1; rows <= 16384; rows *= 4) {
    const int64_t bytes = rows * width * 4;
    const mg::Tensor x = mg::full({rows * p, width}, static_cast<double>(me));
    std::vector<int64_t> counts(static_cast<size_t>(p), rows);
    std::vector<int> mpi_counts(static_cast<size_t>(p), static_cast<int>(bytes));
    std::vector<int> displs(static_cast<size_t>(p));
    for (int r = 0; r < p; ++r) displs[static_cast<size_t>(r)] = static_cast<int>(r * bytes);
    std::vector<char> send(static_cast<size_t>(bytes * p)), recv(send.size());
    std::vector<double> ours, theirs;
    // Alternating, after one warm-up of each.
    for (int i = -1; i < reps; ++i) {
      mg::dist::barrier();
      double t0 = now_us();
      mg::Tensor y = mg::dist::all_to_all(x, counts, counts);
      double t1 = now_us();
      mg::dist::barrier();
      double t2 = now_us();
      MPI_Alltoallv(send.data(), mpi_counts.data(), displs.data(), MPI_BYTE, recv.data(),
                    mpi_counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD);
      double t3 = now_us();
      if (i >= 0) {
        ours.push_back(t1 - t0);
        theirs.push_back(t3 - t2);
      }
    }
    // The slowest process decides a collective's time.
    double mine[2] = {median(ours), median(theirs)}, slowest[2];
    MPI_Reduce(mine, slowest, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (me == 0) {
      const double moved = static_cast<double>(bytes) * (p - 1);
      std::printf("%12lld %14.1f %14.1f %12.1f %12.1f %7.2f\n", static_cast<long long>(bytes),
                  slowest[0], slowest[1], moved / slowest[0], moved / slowest[1],
                  slowest[0] / slowest[1]);
    }
  }
  return 0;
}
