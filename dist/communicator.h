#pragma once
// The transport under dist/: a set of processes that run collectives together. The MPI
// communicator (dist/mpi_communicator.cpp) is one implementation, the single-process one
// (dist/local_communicator.cpp) another; an NCCL one can be added beside them without changing
// the tensor collectives (dist/collectives.h) or the model code above them.
//
// Buffers are host memory. Every call is collective: each process of the communicator makes the
// same calls in the same order, with matching sizes. A call that does not complete within the
// timeout (dist::set_timeout) throws Error and leaves the communicator failed: every later call
// throws at once, since a collective that was abandoned half-way cannot be resumed.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/dtype.h"

namespace mixgrad::dist {

enum class ReduceOp { Sum, Mean, Max, Min, Product };

const char* reduce_op_name(ReduceOp op);

// A reduction started by Communicator::start_all_reduce, completed by wait().
class PendingReduction {
 public:
  virtual ~PendingReduction() = default;
  // Whether it has completed (drives the transport's progress; never blocks).
  virtual bool ready() = 0;
  // Blocks until it completes; throws Error at the timeout.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank in the world of this communicator's member `rank`.
  virtual int world_rank_of(int rank) const = 0;
  virtual std::string transport() const = 0;  // "mpi", "local"

  // data[0, count) of `dtype` (Float32, Float64, Int32, Int64) reduced element-wise over every
  // process; every process receives the result. Mean is not a transport operation (the tensor
  // layer divides a Sum).
  virtual void all_reduce(void* data, int64_t count, DType dtype, ReduceOp op) = 0;
  // The same, started and left running, for overlapping communication with computation.
  virtual std::unique_ptr<PendingReduction> start_all_reduce(void* data, int64_t count, DType dtype,
                                                             ReduceOp op) = 0;
  // root's data[0, bytes) copied to every process.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Every process's send[0, bytes) concatenated in rank order into recv[0, size * bytes).
  virtual void all_gather(const void* send, int64_t bytes, void* recv) = 0;
  // send holds size() blocks of `count` elements; block r, reduced over every process, goes to
  // rank r's recv[0, count).
  virtual void reduce_scatter(const void* send, void* recv, int64_t count, DType dtype,
                              ReduceOp op) = 0;
  // send holds one packed piece per rank (send_bytes[r] bytes for rank r, in rank order); recv
  // receives one packed piece from every rank (recv_bytes[r] bytes from rank r). The sizes
  // must agree pairwise: what r sends to q is what q expects from r.
  virtual void all_to_all(const void* send, std::span<const int64_t> send_bytes, void* recv,
                          std::span<const int64_t> recv_bytes) = 0;
  virtual void barrier() = 0;
  // Collective over this communicator: the processes passing the same color >= 0 form a new
  // communicator, ranked by key (then by rank here); a negative color gives null.
  virtual std::shared_ptr<Communicator> split(int color, int key) = 0;
};

}  // namespace mixgrad::dist
