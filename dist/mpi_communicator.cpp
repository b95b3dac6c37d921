// The MPI transport. Every collective is started non-blocking and then polled, so that a wait
// can end with an Error at the timeout (a dead rank would otherwise block the others forever)
// and so that a waiting process sleeps instead of spinning on a shared core. Large buffers
// travel in pieces of at most max_message_bytes(); all-to-all is point-to-point, because each
// pair knows the size of its own message while no rank knows every pair's.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"
#include "dist/process_group.h"
#include "dist/transports.h"

#ifdef MIXGRAD_WITH_MPI
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace mixgrad::dist::detail {

bool mpi_launched() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

#ifndef MIXGRAD_WITH_MPI

bool mpi_built() {
  return false;
}
std::shared_ptr<Communicator> mpi_world() {
  throw Error("dist.init",
              "this process was started by an MPI launcher, but mixgrad was built without MPI "
              "(install libopenmpi-dev and reconfigure)");
}
void mpi_finalize() {}
void mpi_abort(int) {}

#else

namespace {

bool g_any_failed = false;  // a collective was abandoned: MPI_Finalize could block forever

bool mpi_finalized() {
  int done = 0;
  MPI_Finalized(&done);
  return done != 0;
}

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

void check_mpi(int code, const char* op, const char* call) {
  if (code != MPI_SUCCESS) throw Error(op, std::string(call) + " failed: " + mpi_error_text(code));
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int32:
      return MPI_INT32_T;
    case DType::Int64:
      return MPI_INT64_T;
    default:
      return MPI_DATATYPE_NULL;  // refused by check_reducible first
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max:
      return MPI_MAX;
    case ReduceOp::Min:
      return MPI_MIN;
    case ReduceOp::Product:
      return MPI_PROD;
    default:
      return MPI_SUM;
  }
}

std::string seconds_text(std::chrono::milliseconds d) {
  std::ostringstream text;
  text << std::chrono::duration<double>(d).count() << " s";
  return text.str();
}

// Bytes per transfer: the user's bound, and never beyond MPI's int counts.
int64_t piece_bytes() {
  return std::min<int64_t>(max_message_bytes(), INT_MAX);
}

class MpiCommunicator : public Communicator, public std::enable_shared_from_this<MpiCommunicator> {
 public:
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) {
    check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "dist", "MPI_Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(comm_, &rank_), "dist", "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "dist", "MPI_Comm_size");
    MPI_Group mine, world;
    MPI_Comm_group(comm_, &mine);
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    std::vector<int> ranks(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) ranks[static_cast<size_t>(r)] = r;
    world_ranks_.resize(ranks.size());
    MPI_Group_translate_ranks(mine, size_, ranks.data(), world, world_ranks_.data());
    MPI_Group_free(&mine);
    MPI_Group_free(&world);
  }
  ~MpiCommunicator() override {
    if (!failed() && !mpi_finalized()) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int world_rank_of(int rank) const override {
    MG_CHECK(rank >= 0 && rank < size_, "dist", "rank ", rank, " is not in a group of ", size_);
    return world_ranks_[static_cast<size_t>(rank)];
  }
  std::string transport() const override { return "mpi"; }

  void all_reduce(void* data, int64_t count, DType dtype, ReduceOp op) override {
    start_all_reduce(data, count, dtype, op)->wait();
  }

  std::unique_ptr<PendingReduction> start_all_reduce(void* data, int64_t count, DType dtype,
                                                     ReduceOp op) override {
    const char* name = "dist.all_reduce";
    check_usable(name);
    check_reducible(name, dtype, op);
    const int64_t size = static_cast<int64_t>(dtype_size(dtype));
    const int64_t step = std::max<int64_t>(1, piece_bytes() / size);
    auto pending = std::make_unique<Pending>(shared_from_this(), name);
    for (int64_t at = 0; at < count; at += step) {
      MPI_Request request;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(data) + at * size,
                               static_cast<int>(std::min(step, count - at)), mpi_type(dtype),
                               mpi_op(op), comm_, &request),
                name, "MPI_Iallreduce");
      pending->requests.push_back(request);
    }
    return pending;
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    const char* name = "dist.broadcast";
    check_usable(name);
    MG_CHECK(root >= 0 && root < size_, name, "root ", root, " is not in a group of ", size_);
    std::vector<MPI_Request> requests;
    for_pieces(bytes, [&](int64_t at, int n) {
      requests.emplace_back();
      check_mpi(
          MPI_Ibcast(static_cast<char*>(data) + at, n, MPI_BYTE, root, comm_, &requests.back()),
          name, "MPI_Ibcast");
    });
    wait(requests, name);
  }

  void all_gather(const void* send, int64_t bytes, void* recv) override {
    const char* name = "dist.all_gather";
    check_usable(name);
    if (bytes <= piece_bytes()) {
      std::vector<MPI_Request> requests(1);
      check_mpi(MPI_Iallgather(send, static_cast<int>(bytes), MPI_BYTE, recv,
                               static_cast<int>(bytes), MPI_BYTE, comm_, requests.data()),
                name, "MPI_Iallgather");
      wait(requests, name);
      return;
    }
    // Piece by piece through a staging buffer of one piece per rank.
    std::vector<char> staging(static_cast<size_t>(piece_bytes() * size_));
    for_pieces(bytes, [&](int64_t at, int n) {
      std::vector<MPI_Request> requests(1);
      check_mpi(MPI_Iallgather(static_cast<const char*>(send) + at, n, MPI_BYTE, staging.data(), n,
                               MPI_BYTE, comm_, requests.data()),
                name, "MPI_Iallgather");
      wait(requests, name);
      for (int r = 0; r < size_; ++r)
        std::memcpy(static_cast<char*>(recv) + r * bytes + at, staging.data() + int64_t{r} * n,
                    static_cast<size_t>(n));
    });
  }

  void reduce_scatter(const void* send, void* recv, int64_t count, DType dtype,
                      ReduceOp op) override {
    const char* name = "dist.reduce_scatter";
    check_usable(name);
    check_reducible(name, dtype, op);
    const int64_t size = static_cast<int64_t>(dtype_size(dtype));
    const int64_t step = std::max<int64_t>(1, piece_bytes() / size);
    if (count <= step) {
      std::vector<MPI_Request> requests(1);
      check_mpi(MPI_Ireduce_scatter_block(send, recv, static_cast<int>(count), mpi_type(dtype),
                                          mpi_op(op), comm_, requests.data()),
                name, "MPI_Ireduce_scatter_block");
      wait(requests, name);
      return;
    }
    // Piece by piece: the same slice of every rank's block, packed.
    std::vector<char> staging(static_cast<size_t>(step * size * size_));
    for (int64_t at = 0; at < count; at += step) {
      const int64_t n = std::min(step, count - at);
      for (int r = 0; r < size_; ++r)
        std::memcpy(staging.data() + r * n * size,
                    static_cast<const char*>(send) + (r * count + at) * size,
                    static_cast<size_t>(n * size));
      std::vector<MPI_Request> requests(1);
      check_mpi(MPI_Ireduce_scatter_block(staging.data(), static_cast<char*>(recv) + at * size,
                                          static_cast<int>(n), mpi_type(dtype), mpi_op(op), comm_,
                                          requests.data()),
                name, "MPI_Ireduce_scatter_block");
      wait(requests, name);
    }
  }

  void all_to_all(const void* send, std::span<const int64_t> send_bytes, void* recv,
                  std::span<const int64_t> recv_bytes) override {
    const char* name = "dist.all_to_all";
    check_usable(name);
    MG_CHECK(send_bytes.size() == static_cast<size_t>(size_) &&
                 recv_bytes.size() == static_cast<size_t>(size_),
             name, "expects one send and one receive size per rank (", size_, "), got ",
             send_bytes.size(), " and ", recv_bytes.size());
    std::vector<MPI_Request> requests;
    const auto* from = static_cast<const char*>(send);
    auto* to = static_cast<char*>(recv);
    int64_t send_at = 0, recv_at = 0;
    for (int r = 0; r < size_; ++r) {
      const int64_t out = send_bytes[static_cast<size_t>(r)];
      const int64_t in = recv_bytes[static_cast<size_t>(r)];
      MG_CHECK(out >= 0 && in >= 0, name, "negative size for rank ", r);
      if (r == rank_) {
        MG_CHECK(out == in, name, "rank ", r, " sends itself ", out, " bytes but expects ", in);
        if (out > 0) std::memcpy(to + recv_at, from + send_at, static_cast<size_t>(out));
      } else {
        for_pieces(in, [&](int64_t at, int n) {
          requests.emplace_back();
          check_mpi(
              MPI_Irecv(to + recv_at + at, n, MPI_BYTE, r, kAllToAllTag, comm_, &requests.back()),
              name, "MPI_Irecv");
        });
        for_pieces(out, [&](int64_t at, int n) {
          requests.emplace_back();
          check_mpi(
              MPI_Isend(from + send_at + at, n, MPI_BYTE, r, kAllToAllTag, comm_, &requests.back()),
              name, "MPI_Isend");
        });
      }
      send_at += out;
      recv_at += in;
    }
    wait(requests, name);
  }

  void barrier() override {
    const char* name = "dist.barrier";
    check_usable(name);
    std::vector<MPI_Request> requests(1);
    check_mpi(MPI_Ibarrier(comm_, requests.data()), name, "MPI_Ibarrier");
    wait(requests, name);
  }

  std::shared_ptr<Communicator> split(int color, int key) override {
    const char* name = "dist.split";
    check_usable(name);
    MPI_Comm part = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &part), name,
              "MPI_Comm_split");
    if (part == MPI_COMM_NULL) return nullptr;
    return std::make_shared<MpiCommunicator>(part);
  }

  // Polls until every request completed; throws Error (and marks the communicator failed) at
  // the timeout. Short waits poll a little before sleeping, long ones sleep up to 1 ms at a time.
  void wait(std::vector<MPI_Request>& requests, const char* op) {
    if (requests.empty()) return;
    check_usable(op);
    const auto start = std::chrono::steady_clock::now();
    const auto limit = timeout();
    auto pause = std::chrono::microseconds(5);
    for (int polls = 0;; ++polls) {
      int done = 0;
      const int code = MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done,
                                   MPI_STATUSES_IGNORE);
      if (code != MPI_SUCCESS) fail(op, "MPI reported: " + mpi_error_text(code));
      if (done) return;
      if (polls < 100) continue;
      if (std::chrono::steady_clock::now() - start > limit)
        fail(op, "no answer from the group within " + seconds_text(limit) +
                     ": a rank has exited or is not calling the same collective");
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

  bool test(std::vector<MPI_Request>& requests, const char* op) {
    check_usable(op);
    int done = 0;
    const int code =
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
    if (code != MPI_SUCCESS) fail(op, "MPI reported: " + mpi_error_text(code));
    return done != 0;
  }

 private:
  static constexpr int kAllToAllTag = 0x6d67;

  struct Pending : PendingReduction {
    Pending(std::shared_ptr<MpiCommunicator> c, const char* n) : comm(std::move(c)), name(n) {}
    bool ready() override { return comm->test(requests, name); }
    void wait() override { comm->wait(requests, name); }
    std::shared_ptr<MpiCommunicator> comm;
    const char* name;
    std::vector<MPI_Request> requests;
  };

  bool failed() const { return !failure_.empty(); }

  // After any abandoned collective nothing more goes through MPI: a later call could let MPI
  // progress the abandoned requests into buffers that no longer exist.
  void check_usable(const char* op) const {
    MG_CHECK(!failed(), op, "this group (", size_, " processes) failed earlier: ", failure_);
    MG_CHECK(!g_any_failed, op,
             "a collective of another group failed earlier; this process can no longer "
             "communicate");
    MG_CHECK(!mpi_finalized(), op, "MPI was finalized (dist::finalize)");
  }

  [[noreturn]] void fail(const char* op, const std::string& why) {
    failure_ = std::string(op) + ": " + why;
    g_any_failed = true;
    throw Error(op, why + " (rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
                        ", world rank " + std::to_string(world_ranks_[static_cast<size_t>(rank_)]) +
                        ")");
  }

  template <class F>
  static void for_pieces(int64_t bytes, F&& f) {
    const int64_t step = piece_bytes();
    for (int64_t at = 0; at < bytes; at += step)
      f(at, static_cast<int>(std::min(step, bytes - at)));
  }

  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
  std::vector<int> world_ranks_;
  std::string failure_;
};

}  // namespace

bool mpi_built() {
  return true;
}

std::shared_ptr<Communicator> mpi_world() {
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "dist.init",
              "MPI_Init_thread");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm world;
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &world), "dist.init", "MPI_Comm_dup");
  return std::make_shared<MpiCommunicator>(world);
}

void mpi_abort(int status) {
  MPI_Abort(MPI_COMM_WORLD, status);
}

void mpi_finalize() {
  int ready = 0;
  MPI_Initialized(&ready);
  // After an abandoned collective MPI_Finalize may wait for it forever: leave MPI as it is.
  if (ready && !mpi_finalized() && !g_any_failed) MPI_Finalize();
}

#endif

}  // namespace mixgrad::dist::detail
