#include "cli/parallel.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataloader.h"
#include "dist/checkpoint.h"
#include "dist/collectives.h"
#include "dist/expert_parallel.h"
#include "io/checkpoint.h"
#include "ops/creation.h"

namespace mixgrad::cli {

void relaunch_under_mpirun(int processes, char** argv) {
#ifdef MIXGRAD_MPIEXEC
  const char* launcher = MIXGRAD_MPIEXEC;  // the MPI mixgrad was built with
#else
  const char* launcher = "mpirun";
#endif
  std::vector<std::string> args = {launcher, "-np", std::to_string(processes), "--bind-to", "none"};
  // More processes than cores is a supported (slow) setup, not a mistake; OpenMPI counts
  // physical cores, which can be fewer than the CPUs this process sees.
  args.push_back("--oversubscribe");
  // OpenMPI refuses root unless told; the user who runs the command as root asked for the run.
  if (geteuid() == 0) args.push_back("--allow-run-as-root");
  // The launched processes run this binary (not whatever /proc/self/exe means to them).
  args.push_back(std::filesystem::read_symlink("/proc/self/exe").string());
  for (char** a = argv + 1; *a != nullptr; ++a) args.emplace_back(*a);
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  ::execvp(launcher, raw.data());
  throw Error("train", std::string("--ep/--dp run several processes through ") + launcher +
                           ", which could not be started (install openmpi-bin): " +
                           std::string(std::strerror(errno)));
}

void check_parallelism(const Parallelism& p) {
  MG_CHECK(p.expert >= 1 && p.data >= 1, "train", "--ep and --dp must be >= 1, got --ep ", p.expert,
           " --dp ", p.data);
}

void abort_parallel_run(int status) {
  if (dist::initialized() && dist::world_size() > 1) dist::abort(status);
}

ParallelRun::ParallelRun(Parallelism p) : parallelism_(p) {
  check_parallelism(p);
  // `mpirun -np 2 mixgrad train ...` without --ep/--dp would be two runs writing one directory.
  if (!active() && !dist::launched_by_mpi()) return;
  dist::init();
  MG_CHECK(dist::world_size() == p.processes(), "train", "--ep ", p.expert, " --dp ", p.data,
           " need ", p.processes(), " processes; mpirun started ", dist::world_size());
  groups_ = dist::parallel_groups(p.expert);
}

bool ParallelRun::writer() const {
  return !active() || dist::rank() == 0;
}

BatchShard ParallelRun::shard() const {
  if (!active()) return {};
  return {dist::rank(), dist::world_size()};
}

void ParallelRun::prepare(nn::Module& model, const data::Dataset& test_data, int64_t eval_batch) {
  if (!active()) return;
  // The sharded test set must give every process a row of every batch (the loader checks).
  data::DataLoader check(
      std::shared_ptr<const data::Dataset>(&test_data, [](auto*) {}),
      {.batch_size = eval_batch, .shard_index = dist::rank(), .shard_count = dist::world_size()});
  if (parallelism_.expert > 1) {
    MG_CHECK(dist::shard_experts(model, groups_.expert) > 0, "train",
             "--ep spreads the experts of MoE layers, and this model has none (use --dp)");
  }
  ddp_ = std::make_unique<dist::DataParallel>(model, groups_);
}

void ParallelRun::sync_buffers() {
  if (ddp_) ddp_->broadcast_buffers();
}

PassStats ParallelRun::combine(PassStats local) const {
  if (!active()) return local;
  Tensor sums = tensor(std::vector<double>{local.loss * static_cast<double>(local.items),
                                           local.metric * static_cast<double>(local.items),
                                           static_cast<double>(local.items),
                                           static_cast<double>(local.dropped)});
  dist::all_reduce_(sums);
  const std::vector<double> total = sums.to_vector<double>();
  PassStats out = local;
  out.items = static_cast<int64_t>(total[2]);
  out.loss = out.items > 0 ? total[0] / total[2] : local.loss;
  out.metric = out.items > 0 ? total[1] / total[2] : local.metric;
  out.dropped = static_cast<int64_t>(total[3]);
  if (!local.expert_slots.empty()) {
    Tensor slots = tensor(local.expert_slots);
    dist::all_reduce_(slots);
    out.expert_slots = slots.to_vector<int64_t>();
  }
  Tensor seconds = full({}, local.seconds, kFloat64);
  dist::all_reduce_(seconds, dist::ReduceOp::Max);
  out.seconds = seconds.item<double>();
  return out;
}

std::string ParallelRun::checkpoint_path(const std::string& out_dir) const {
  // Sharded experts are written in parts, one per process that holds some (a directory).
  return (std::filesystem::path(out_dir) /
          (parallelism_.expert > 1 ? "checkpoint" : "checkpoint.safetensors"))
      .string();
}

void ParallelRun::load_checkpoint(const std::string& path, nn::Module& model,
                                  optim::Optimizer& optimizer) const {
  if (active()) {
    dist::load_checkpoint(path, model, &optimizer);
  } else {
    io::load_checkpoint(path, model, &optimizer);
  }
}

void ParallelRun::save_checkpoint(const std::string& path, nn::Module& model,
                                  const optim::Optimizer& optimizer,
                                  const std::map<std::string, std::string>& metadata) const {
  if (active()) {
    dist::save_checkpoint(path, model, &optimizer, metadata);
  } else {
    io::save_checkpoint(path, model, &optimizer, metadata);
  }
}

}  // namespace mixgrad::cli
