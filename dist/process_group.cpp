#include "dist/process_group.h"

#include <cstdlib>
#include <mutex>
#include <set>

#include "core/error.h"
#include "dist/transports.h"

namespace mixgrad::dist {

namespace {

struct State {
  std::mutex mutex;
  Group world;
  bool finalized = false;
  std::chrono::milliseconds timeout{0};
  int64_t max_message_bytes = int64_t{64} << 20;
};

State& state() {
  static State* s = [] {
    auto* created = new State;  // never destroyed: groups may outlive static destruction
    const char* env = std::getenv("MIXGRAD_DIST_TIMEOUT");
    const double seconds = env ? std::atof(env) : 0.0;
    created->timeout = std::chrono::milliseconds(seconds > 0 ? static_cast<int64_t>(seconds * 1000)
                                                             : int64_t{600} * 1000);
    return created;
  }();
  return *s;
}

void finalize_at_exit() {
  finalize();
}

}  // namespace

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Mean:
      return "mean";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Min:
      return "min";
    case ReduceOp::Product:
      return "product";
  }
  return "?";
}

int Group::rank() const {
  return comm().rank();
}

int Group::size() const {
  return comm().size();
}

std::vector<int> Group::world_ranks() const {
  std::vector<int> ranks;
  for (int r = 0; r < size(); ++r) ranks.push_back(comm().world_rank_of(r));
  return ranks;
}

Communicator& Group::comm() const {
  MG_CHECK(comm_ != nullptr, "dist", "this process is not a member of the group");
  return *comm_;
}

std::string Group::describe() const {
  if (!comm_) return "an empty group";
  std::string s = comm_->transport() + " group of " + std::to_string(size()) + ": world ranks [";
  for (int r = 0; r < size(); ++r) s += (r ? ", " : "") + std::to_string(comm_->world_rank_of(r));
  return s + "]";
}

void init() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.world.member()) return;
  MG_CHECK(!s.finalized, "dist.init", "the world was finalized; it cannot be joined again");
  s.world = Group(detail::mpi_launched() ? detail::mpi_world() : detail::local_world());
  std::atexit(finalize_at_exit);
}

bool launched_by_mpi() {
  return detail::mpi_launched();
}

bool initialized() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.world.member();
}

void finalize() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (!s.world.member()) return;
  s.world = Group();
  s.finalized = true;
  detail::mpi_finalize();
}

void abort(int status) {
  if (initialized() && world_size() > 1) detail::mpi_abort(status);
  std::exit(status);
}

const Group& world() {
  init();
  return state().world;
}

int rank() {
  return world().rank();
}

int world_size() {
  return world().size();
}

Group new_group(const std::vector<int>& world_ranks) {
  const Group& w = world();
  std::set<int> seen;
  for (int r : world_ranks) {
    MG_CHECK(r >= 0 && r < w.size(), "dist.new_group", "rank ", r, " is not in the world of ",
             w.size());
    MG_CHECK(seen.insert(r).second, "dist.new_group", "rank ", r, " is listed twice");
  }
  int position = -1;
  for (size_t i = 0; i < world_ranks.size(); ++i)
    if (world_ranks[i] == w.rank()) position = static_cast<int>(i);
  return Group(w.comm().split(position < 0 ? -1 : 0, position));
}

ParallelGroups parallel_groups(int expert_parallel) {
  const Group& w = world();
  MG_CHECK(expert_parallel >= 1 && w.size() % expert_parallel == 0, "dist.parallel_groups",
           "the expert-parallel size must divide the world size ", w.size(), ", got ",
           expert_parallel);
  const int me = w.rank();
  ParallelGroups g;
  g.expert = Group(w.comm().split(me / expert_parallel, me));
  g.expert_data = Group(w.comm().split(me % expert_parallel, me));
  g.data = w;
  return g;
}

void set_timeout(std::chrono::milliseconds timeout) {
  MG_CHECK(timeout.count() > 0, "dist.set_timeout", "the timeout must be positive, got ",
           timeout.count(), " ms");
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.timeout = timeout;
}

std::chrono::milliseconds timeout() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.timeout;
}

void set_max_message_bytes(int64_t bytes) {
  MG_CHECK(bytes >= 1, "dist.set_max_message_bytes", "the size must be at least 1, got ", bytes);
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.max_message_bytes = bytes;
}

int64_t max_message_bytes() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.max_message_bytes;
}

}  // namespace mixgrad::dist
