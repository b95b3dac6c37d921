#pragma once
// Data-parallel training (PyTorch's DistributedDataParallel): every process holds a replica of
// the model and trains on its own shard of each batch; after every backward the gradients are
// averaged over the group, so each replica takes the same optimizer step as one process that
// saw the whole batch (with the loss a mean over equal shards).
//
//   mg::dist::init();
//   auto model = std::make_shared<Net>();
//   mg::dist::DataParallel ddp(*model);            // rank 0's parameters copied to every rank
//   for (...) {
//     optimizer.zero_grad();
//     loss_fn((*model)(shard_x), shard_y).backward();  // gradients averaged when it returns
//     optimizer.step();
//   }
//
// Gradients are reduced in buckets (about bucket_bytes each, parameters in reverse
// registration order, which is roughly the order backward produces them): a bucket's
// all-reduce starts from the gradient hooks as soon as its last gradient arrived, overlapping
// the rest of the backward, and the pass waits for all of them at its end
// (autograd::queue_callback). Buckets start in the same order on every process, so parameters
// that get no gradient on some process (unused branches) cost nothing extra: their slots are
// filled at the end of the pass. A parameter that got no gradient on any process keeps an
// undefined grad, as in one process.
#include <memory>
#include <vector>

#include "dist/process_group.h"
#include "nn/module.h"

namespace mixgrad::dist {

struct DataParallelOptions {
  // Target size of one bucket's reduction (as PyTorch's bucket_cap_mb = 25); the first bucket
  // (the last layers' gradients) holds at most 1 MiB.
  int64_t bucket_bytes = int64_t{25} << 20;
  // Copy rank 0's parameters and buffers to every process at construction (as DDP does), so
  // replicas start equal whatever their seeds.
  bool broadcast_state = true;
};

class DataParallel {
 public:
  // Synchronises every parameter of `module` that requires grad, over `group` (default: the
  // world). Collective over the group. Throws Error if the processes disagree on the number,
  // shapes or dtypes of the parameters, or for a bucket size < 1.
  explicit DataParallel(nn::Module& module, DataParallelOptions options = {});
  DataParallel(nn::Module& module, Group group, DataParallelOptions options = {});
  // An expert-parallel model (dist::shard_experts): the replicated parameters are averaged
  // over groups.data, each process's experts over groups.expert_data (the processes holding
  // the same experts), scaled so that every step equals one process's on the whole batch.
  DataParallel(nn::Module& module, const ParallelGroups& groups, DataParallelOptions options = {});
  // An explicit parameter list averaged over `group`; `buffers` are only broadcast.
  DataParallel(std::vector<Tensor> parameters, std::vector<Tensor> buffers, Group group,
               DataParallelOptions options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // While a NoSync lives, backward accumulates gradients locally without communicating (for
  // gradient accumulation over micro-batches); the first backward after it averages the
  // accumulated gradients.
  class NoSync {
   public:
    explicit NoSync(DataParallel& ddp);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DataParallel& ddp_;
    bool saved_;
  };
  NoSync no_sync() { return NoSync(*this); }

  // Copies each group's rank 0 buffers (batch-norm running statistics) to the group's other
  // processes: each process updates them from its own shard, and an evaluation or a checkpoint
  // should see one model (PyTorch's DDP copies them before every forward). Collective.
  void broadcast_buffers();

  int64_t num_buckets() const;
  // Seconds spent waiting for reductions at the end of backward passes so far (the part of
  // the communication that the backward did not hide).
  double wait_seconds() const;

  struct State;
  struct Shared;

 private:
  // Averages `parameters` over `group`: the summed gradients divided by `processes`.
  void attach(std::vector<Tensor> parameters, std::vector<Tensor> buffers, const Group& group,
              const DataParallelOptions& options, int processes);

  std::shared_ptr<Shared> shared_;  // the hooks hold it weakly
};

}  // namespace mixgrad::dist
