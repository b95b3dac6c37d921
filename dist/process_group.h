#pragma once
// Processes that train together. dist::init() reads the environment that `mpirun` gives each
// process and joins the MPI world; run without mpirun, the program is a world of one process and
// every collective is a copy. Groups split the world, as DeepSpeed and Megatron do for expert
// parallelism:
//
//   mg::dist::init();                                    // rank(), world_size()
//   auto groups = mg::dist::parallel_groups(/*expert_parallel=*/2);
//   // groups.expert: the ranks that share one copy of the experts between them
//   // groups.expert_data: the ranks holding the same experts (their gradients are averaged)
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace mixgrad::dist {

// A handle to a set of processes (copyable; every copy names the same group). A default
// Group is empty: the process is not a member (see new_group).
class Group {
 public:
  Group() = default;
  explicit Group(std::shared_ptr<Communicator> comm) : comm_(std::move(comm)) {}
  bool member() const { return comm_ != nullptr; }
  // This process's rank in the group and the group's size. Throw Error for an empty Group.
  int rank() const;
  int size() const;
  // The world ranks of the members, in group rank order.
  std::vector<int> world_ranks() const;
  Communicator& comm() const;
  // "mpi group of 2: world ranks [0, 1]" for messages.
  std::string describe() const;

 private:
  std::shared_ptr<Communicator> comm_;
};

// Joins the world: under mpirun (or any launcher that sets OpenMPI's, PMIx's or MPICH's
// environment) the MPI world, else a world of this process alone. Safe to call again. Throws
// Error when the environment asks for MPI and mixgrad was built without it, or MPI fails.
void init();
bool initialized();
// Whether an MPI launcher (mpirun, srun with PMIx, ...) started this process.
bool launched_by_mpi();
// Leaves the world (MPI_Finalize); also done at exit. Groups must not be used afterwards.
void finalize();
// Ends every process of the world with `status` (MPI_Abort): for a process that failed while
// the others may be waiting for it in a collective. In a world of one, exits with `status`.
[[noreturn]] void abort(int status);

// The world (init() is called if needed), this process's rank in it and its size.
const Group& world();
int rank();
int world_size();

// Collective over the world: the group of the given world ranks (distinct, in [0, size));
// processes outside it get an empty Group. Throws Error for a bad rank list.
Group new_group(const std::vector<int>& world_ranks);

// How a world of E * D processes shares an expert-parallel MoE: `expert` groups of
// expert_parallel consecutive ranks each hold all experts between them; `expert_data` groups
// (ranks with the same position in their expert group) hold the same experts and average their
// gradients; `data` (the world) averages the replicated parameters. Collective over the world;
// throws Error unless expert_parallel >= 1 divides the world size.
struct ParallelGroups {
  Group expert;
  Group expert_data;
  Group data;
};
ParallelGroups parallel_groups(int expert_parallel);

// How long a collective may wait for the others before it throws Error (a rank died or does
// not call the same collective). Default: MIXGRAD_DIST_TIMEOUT seconds, else 600 s.
void set_timeout(std::chrono::milliseconds timeout);
std::chrono::milliseconds timeout();

// Messages larger than this travel in pieces of at most this many bytes (default 64 MiB), so
// no transfer needs a count beyond the transport's int range or a staging buffer of the whole
// tensor. Every process must use the same value (the pieces of a collective must pair up).
// Throws Error for a value < 1.
void set_max_message_bytes(int64_t bytes);
int64_t max_message_bytes();

}  // namespace mixgrad::dist
