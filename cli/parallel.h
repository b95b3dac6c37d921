#pragma once
// `mixgrad train --ep N --dp M`: one training run over N x M processes. The command starts
// itself again under mpirun when it was not started by it; every process builds the same model
// from the same seed, the MoE layers' experts are spread over groups of N processes, each
// process trains on its share of every batch, and DataParallel keeps the rest equal. Rank 0
// prints and writes; with --ep the processes write the checkpoint's parts together (`mixgrad
// eval` reads it as it reads one file; `mixgrad checkpoint merge` makes it one file).
#include <map>
#include <memory>
#include <string>

#include "cli/runner.h"
#include "dist/data_parallel.h"
#include "dist/process_group.h"
#include "optim/optimizer.h"

namespace mixgrad::cli {

struct Parallelism {
  int expert = 1;  // processes sharing each MoE layer's experts (--ep)
  int data = 1;    // replicas of that group (--dp)
  int processes() const { return expert * data; }
};

// Runs this command again under `mpirun -np <processes>` with the same arguments (replacing
// this process). Throws Error if mpirun cannot be started.
[[noreturn]] void relaunch_under_mpirun(int processes, char** argv);

// After an error in a run of several processes: ends every process at once (the others would
// wait in a collective until the timeout). Does nothing in a single process.
void abort_parallel_run(int status);

// Throws Error for sizes < 1.
void check_parallelism(const Parallelism& p);

class ParallelRun {
 public:
  // Joins the MPI world; throws Error unless it has p.processes() processes.
  explicit ParallelRun(Parallelism p);
  bool active() const { return parallelism_.processes() > 1; }
  bool writer() const;  // the process that prints and writes files (rank 0)
  BatchShard shard() const;
  // Spreads the experts (--ep > 1) and attaches DataParallel; call before building the
  // optimizer. Throws Error, before any training, for a model without MoE layers with --ep,
  // experts that the processes cannot share evenly or cut (dist::shard_experts), or a test set
  // whose last batch of `eval_batch` cannot give every process a row.
  void prepare(nn::Module& model, const data::Dataset& test_data, int64_t eval_batch);
  // Copies rank 0's buffers (batch-norm statistics) to the other processes of their group.
  void sync_buffers();
  // The pass as one process would count it: sums over the processes, the slowest time.
  PassStats combine(PassStats local) const;
  // Where a run writes its checkpoint in `out_dir`: a file, or with --ep > 1 a directory of
  // parts written by the processes holding them (io/sharded_checkpoint.h).
  std::string checkpoint_path(const std::string& out_dir) const;
  // Loads a checkpoint of any layout (one process's file, or parts saved at any --ep) into this
  // process's share of the model and optimizer.
  void load_checkpoint(const std::string& path, nn::Module& model,
                       optim::Optimizer& optimizer) const;
  // Collective: writes the checkpoint, rank 0 a file, or with --ep > 1 every process holding
  // experts its part, so that no process gathers the model (see dist::save_checkpoint).
  void save_checkpoint(const std::string& path, nn::Module& model,
                       const optim::Optimizer& optimizer,
                       const std::map<std::string, std::string>& metadata) const;
  const Parallelism& parallelism() const { return parallelism_; }
  // Seconds backward passes waited for gradient reductions (the part not overlapped).
  double gradient_wait_seconds() const { return ddp_ ? ddp_->wait_seconds() : 0.0; }

 private:
  Parallelism parallelism_;
  dist::ParallelGroups groups_;
  std::unique_ptr<dist::DataParallel> ddp_;
};

}  // namespace mixgrad::cli
