#pragma once
// Collectives on tensors over a Group (default: the world). Every process of the group calls
// the same collective in the same order with tensors of the same dtype and matching shapes;
// a call that finds no partner within dist::timeout() throws Error (see dist/communicator.h).
// Tensors on CUDA travel through host memory; float16/bfloat16 (CUDA only) travel and are
// reduced as float32.
//
// The functional forms are differentiable, with the total loss taken as the sum of every
// process's loss (as torch.distributed.nn): the backward of all_reduce(sum) is all_reduce(sum)
// of the gradients, of all_gather a reduce_scatter, of reduce_scatter an all_gather, of
// broadcast a sum at the root, and of all_to_all the reverse all_to_all. Their backward is
// itself a collective, so every process must run backward through them too.
#include <span>
#include <vector>

#include "core/tensor.h"
#include "dist/process_group.h"

namespace mixgrad::dist {

// Element-wise reduction of x over the group; every process gets the result (same shape).
// Differentiable for Sum and Mean. Throws Error for a bool tensor or a Mean of integers.
Tensor all_reduce(const Tensor& x, ReduceOp op = ReduceOp::Sum, const Group& group = world());
// The same, in place and not recorded (gradient synchronisation, statistics).
void all_reduce_(const Tensor& x, ReduceOp op = ReduceOp::Sum, const Group& group = world());

// The root's x on every process (each passes a tensor of the root's shape and dtype).
Tensor broadcast(const Tensor& x, int root, const Group& group = world());

// Every process's x [n, ...] concatenated along dim 0 in rank order: [size * n, ...]. Throws
// Error for a 0-dim x.
Tensor all_gather(const Tensor& x, const Group& group = world());

// x [size * n, ...]: rank r receives block r (rows [r * n, (r + 1) * n)) reduced over the
// group, [n, ...]. Sum or Mean are differentiable. Throws Error unless size divides x.size(0).
Tensor reduce_scatter(const Tensor& x, ReduceOp op = ReduceOp::Sum, const Group& group = world());

// Rows of x travel between ranks: the first send_rows[0] rows of x go to rank 0, the next
// send_rows[1] to rank 1, ...; the result holds recv_rows[r] rows from each rank r in rank
// order. Counts must agree pairwise (what r sends to q is what q expects from r; exchange them
// with all_to_all_counts). Throws Error unless both lists have one entry per rank and
// send_rows sums to x.size(0).
Tensor all_to_all(const Tensor& x, std::span<const int64_t> send_rows,
                  std::span<const int64_t> recv_rows, const Group& group = world());

// Seconds this process has spent in all_to_all (forward and backward) so far: the expert
// exchange of expert-parallel MoE layers.
double all_to_all_seconds();

// counts [size * m] (m values for each rank, in rank order) -> the m values every rank sent
// this one, in rank order: the usual first step of an all_to_all with variable sizes.
std::vector<int64_t> all_to_all_counts(std::span<const int64_t> counts,
                                       const Group& group = world());

// Blocks until every process of the group has arrived.
void barrier(const Group& group = world());

}  // namespace mixgrad::dist
