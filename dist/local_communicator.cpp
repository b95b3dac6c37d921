// The world of one process: every collective is a copy (or nothing).
#include <cstring>

#include "core/error.h"
#include "dist/transports.h"

namespace mixgrad::dist::detail {

namespace {

class DoneReduction : public PendingReduction {
 public:
  bool ready() override { return true; }
  void wait() override {}
};

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int world_rank_of(int rank) const override {
    MG_CHECK(rank == 0, "dist", "rank ", rank, " is not in a group of 1");
    return 0;
  }
  std::string transport() const override { return "local"; }

  void all_reduce(void*, int64_t, DType dtype, ReduceOp op) override {
    check_reducible("dist.all_reduce", dtype, op);
  }
  std::unique_ptr<PendingReduction> start_all_reduce(void*, int64_t, DType dtype,
                                                     ReduceOp op) override {
    check_reducible("dist.all_reduce", dtype, op);
    return std::make_unique<DoneReduction>();
  }
  void broadcast(void*, int64_t, int root) override {
    MG_CHECK(root == 0, "dist.broadcast", "root ", root, " is not in a group of 1");
  }
  void all_gather(const void* send, int64_t bytes, void* recv) override { copy(recv, send, bytes); }
  void reduce_scatter(const void* send, void* recv, int64_t count, DType dtype,
                      ReduceOp op) override {
    check_reducible("dist.reduce_scatter", dtype, op);
    copy(recv, send, count * static_cast<int64_t>(dtype_size(dtype)));
  }
  void all_to_all(const void* send, std::span<const int64_t> send_bytes, void* recv,
                  std::span<const int64_t> recv_bytes) override {
    MG_CHECK(send_bytes.size() == 1 && recv_bytes.size() == 1 && send_bytes[0] == recv_bytes[0],
             "dist.all_to_all", "a group of 1 sends to itself what it receives");
    copy(recv, send, send_bytes[0]);
  }
  void barrier() override {}
  std::shared_ptr<Communicator> split(int color, int) override {
    return color < 0 ? nullptr : std::make_shared<LocalCommunicator>();
  }

 private:
  static void copy(void* to, const void* from, int64_t bytes) {
    if (bytes > 0 && to != from) std::memmove(to, from, static_cast<size_t>(bytes));
  }
};

}  // namespace

std::shared_ptr<Communicator> local_world() {
  return std::make_shared<LocalCommunicator>();
}

void check_reducible(const char* op, DType dtype, ReduceOp reduce) {
  MG_CHECK(dtype == DType::Float32 || dtype == DType::Float64 || dtype == DType::Int32 ||
               dtype == DType::Int64,
           op, "the transport reduces float32, float64, int32 and int64, not ", dtype);
  MG_CHECK(reduce != ReduceOp::Mean, op, "the transport has no mean (reduce a sum and divide)");
}

}  // namespace mixgrad::dist::detail
