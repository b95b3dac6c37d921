// Checkpoints of expert-parallel models in parts (dist::save_checkpoint): each process writes
// only the experts it holds (nothing is gathered), the parts read back as exactly the
// one-process checkpoint that full_state_dict and full_optimizer_state gather, and they load at
// every expert-parallel size and in one process. For stacked (FFNExperts) and listed
// (ExpertList) experts, after Adam steps, at every expert-parallel size that divides the world.
#include "io/sharded_checkpoint.h"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "common/test_util.h"
#include "dist/checkpoint.h"
#include "dist/collectives.h"
#include "dist/data_parallel.h"
#include "dist/expert_parallel.h"
#include "dist/moe_fixtures.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

using namespace mixgrad;
using namespace mixgrad::testing;
using namespace mixgrad::testing::dist_fixtures;
namespace fs = std::filesystem;

namespace {

// A directory every process names alike (rank 0's), removed at the end.
class SharedDir {
 public:
  SharedDir() {
    const int64_t pid =
        dist::broadcast(full({}, static_cast<int64_t>(::getpid()), kInt64), 0).item<int64_t>();
    path_ = fs::temp_directory_path() / ("mixgrad_dist_checkpoint_" + std::to_string(pid));
    if (dist::rank() == 0) {
      fs::remove_all(path_);
      fs::create_directories(path_);
    }
    dist::barrier();
  }
  ~SharedDir() {
    dist::barrier();
    std::error_code ec;
    if (dist::rank() == 0) fs::remove_all(path_, ec);
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// The same names with bitwise equal tensors, in any order (the parts list experts after the
// tensors every process shares).
void expect_same_entries(const std::vector<std::pair<std::string, Tensor>>& actual,
                         const std::vector<std::pair<std::string, Tensor>>& expected) {
  std::map<std::string, Tensor> by_name(actual.begin(), actual.end());
  ASSERT_EQ(by_name.size(), actual.size()) << "a name appears twice";
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, t] : expected) {
    SCOPED_TRACE(name);
    const auto it = by_name.find(name);
    ASSERT_NE(it, by_name.end());
    EXPECT_EQ(it->second.dtype(), t.dtype());
    expect_close(it->second, t, 0, 0);
  }
}

void expect_same_optimizer_state(const optim::OptimizerState& actual,
                                 const optim::OptimizerState& expected) {
  expect_same_entries(actual.tensors, expected.tensors);
  EXPECT_EQ(actual.scalars, expected.scalars);
}

// Trains `make()` sharded over `ep` processes for two Adam steps, saves it in parts, and checks
// the parts against the gathered checkpoint, then loads them at every size and in one process.
template <class Make>
void check_parts(const Make& make, int ep) {
  SCOPED_TRACE("saved at ep " + std::to_string(ep));
  SharedDir dir;
  const std::string path = dir.path("checkpoint");
  const dist::ParallelGroups groups = dist::parallel_groups(ep);
  auto model = make();
  dist::shard_experts(*model, groups.expert);
  optim::Adam opt(model->parameters(), {.lr = 0.05});
  {
    dist::DataParallel ddp(*model, groups);
    for (int step = 0; step < 2; ++step) {
      opt.zero_grad();
      token_loss((*model)(tokens_of(dist::rank(), step))).backward();
      opt.step();
    }
  }
  const NamedTensors full = dist::full_state_dict(*model);
  const optim::OptimizerState full_opt = dist::full_optimizer_state(*model, opt);
  dist::save_checkpoint(path, *model, &opt, {{"run", "test"}});

  // One part of everything shared, one per set of experts, written by the first process holding
  // them: each holds 1 / ep of the experts' elements, so nothing was gathered.
  ASSERT_TRUE(io::is_sharded_checkpoint(path));
  int64_t expert_elements = 0;
  for (const auto& [name, t] : full)
    if (name.find("experts.") != std::string::npos) expert_elements += t.numel();
  int experts_parts = 0;
  for (const auto& entry : fs::directory_iterator(path)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with("part-experts-")) continue;
    ++experts_parts;
    int64_t elements = 0;
    for (const auto& [name, t] : io::read_checkpoint(entry.path().string()).module_state)
      elements += t.numel();
    EXPECT_EQ(elements, expert_elements / ep) << file;
  }
  EXPECT_EQ(experts_parts, ep);

  // The parts are the gathered checkpoint, entry for entry.
  const io::CheckpointContents read = io::read_checkpoint(path);
  expect_same_entries(read.module_state, full);
  expect_same_optimizer_state({read.optimizer_tensors, read.optimizer_scalars}, full_opt);
  EXPECT_EQ(read.metadata, (std::map<std::string, std::string>{{"run", "test"}}));

  // Into every expert-parallel size, and back.
  for (int other_ep : expert_parallel_sizes()) {
    SCOPED_TRACE("loaded at ep " + std::to_string(other_ep));
    auto other = make();
    dist::shard_experts(*other, dist::parallel_groups(other_ep).expert);
    optim::Adam other_opt(other->parameters(), {.lr = 0.05});
    EXPECT_EQ(dist::load_checkpoint(path, *other, &other_opt).at("run"), "test");
    expect_same_entries(dist::full_state_dict(*other), full);
    expect_same_optimizer_state(dist::full_optimizer_state(*other, other_opt), full_opt);
  }
  // Into one process, with the one-process loader.
  auto single = make();
  optim::Adam single_opt(single->parameters(), {.lr = 0.05});
  io::load_checkpoint(path, *single, &single_opt);
  expect_same_entries(single->state_dict(), full);
  expect_same_optimizer_state(single_opt.state_dict(), full_opt);
}

// The fixtures' models as modules with a token loss.
struct StackedNet : nn::Module {
  std::shared_ptr<models::MoE> moe;
  explicit StackedNet(int64_t experts) {
    moe = register_module("moe", make_moe({1, experts, 2, false}));
  }
  Tensor forward(const Tensor& x) override { return (*moe)(x).output; }
};

}  // namespace

TEST(ShardedCheckpoint, StackedExpertsInPartsAreTheOneProcessCheckpoint) {
  const int64_t experts = 2 * dist::world_size();
  for (int ep : expert_parallel_sizes())
    check_parts([&] { return std::make_shared<StackedNet>(experts); }, ep);
}

TEST(ShardedCheckpoint, ListedExpertsInPartsAreTheOneProcessCheckpoint) {
  const int64_t experts = 2 * dist::world_size();
  for (int ep : expert_parallel_sizes())
    check_parts([&] { return std::make_shared<ListNet>(experts); }, ep);
}

TEST(ShardedCheckpoint, AModelWithoutShardedExpertsIsOneFileFromRankZero) {
  SharedDir dir;
  const std::string path = dir.path("model.safetensors");
  auto model = std::make_shared<StackedNet>(2);
  optim::Adam opt(model->parameters(), {.lr = 0.05});
  dist::save_checkpoint(path, *model, &opt);
  EXPECT_TRUE(fs::is_regular_file(path));
  auto back = std::make_shared<StackedNet>(2);
  optim::Adam back_opt(back->parameters(), {.lr = 0.05});
  dist::load_checkpoint(path, *back, &back_opt);
  expect_same_entries(back->state_dict(), model->state_dict());
}

TEST(ShardedCheckpoint, AFailedSaveIsAnErrorOnEveryProcess) {
  SharedDir dir;
  auto model = std::make_shared<StackedNet>(2 * dist::world_size());
  dist::shard_experts(*model, dist::world());
  // Rank 0 cannot create the directory (its parent is a file): every process learns it.
  if (dist::rank() == 0) std::ofstream(dir.path("a-file")) << "x";
  dist::barrier();
  try {
    dist::save_checkpoint(dir.path("a-file") + "/checkpoint", *model);
    ADD_FAILURE() << "saved under a file";
  } catch (const Error& e) {
    const std::string expected = dist::rank() == 0 ? "a-file" : "failed on process 0";
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

namespace {

// An ExpertList whose experts differ in structure: the first half are one Linear, the others
// two, so processes holding different halves hold differently shaped experts.
std::shared_ptr<models::MoE> make_uneven_list_moe(int64_t experts) {
  manual_seed(13);
  std::vector<std::shared_ptr<nn::Module>> modules;
  const TensorOptions f64(kFloat64);
  for (int64_t e = 0; e < experts; ++e) {
    if (e < experts / 2)
      modules.push_back(std::make_shared<nn::Linear>(kModel, kModel, true, f64));
    else
      modules.push_back(std::make_shared<nn::Sequential>(
          std::make_shared<nn::Linear>(kModel, kModel, true, f64),
          std::make_shared<nn::Linear>(kModel, kModel, true, f64)));
  }
  return std::make_shared<models::MoE>(
      models::MoEOptions{.d_model = kModel, .num_experts = experts, .k = 1, .tensor_options = f64},
      nullptr, std::make_shared<models::ExpertList>(modules));
}

// A checkpoint of a trained ListNet saved at `path` over the whole world; returns what it holds.
io::CheckpointContents save_good_checkpoint(const std::string& path) {
  auto model = std::make_shared<ListNet>(2 * dist::world_size());
  dist::shard_experts(*model, dist::world());
  optim::Adam opt(model->parameters(), {.lr = 0.05});
  token_loss((*model)(tokens_of(dist::rank(), 0))).backward();
  opt.step();
  dist::save_checkpoint(path, *model, &opt);
  return io::read_checkpoint(path);
}

void expect_same_contents(const io::CheckpointContents& a, const io::CheckpointContents& b) {
  expect_same_entries(a.module_state, b.module_state);
  expect_same_entries(a.optimizer_tensors, b.optimizer_tensors);
  EXPECT_EQ(a.optimizer_scalars, b.optimizer_scalars);
}

}  // namespace

TEST(ShardedCheckpoint, ExpertsOfDifferentStructureAreRefusedBeforeAnythingIsWritten) {
  SharedDir dir;
  const std::string path = dir.path("checkpoint");
  const io::CheckpointContents before = save_good_checkpoint(path);
  auto uneven = make_uneven_list_moe(2 * dist::world_size());
  dist::shard_experts(*uneven, dist::world());
  optim::Adam opt(uneven->parameters(), {.lr = 0.05});
  // One process alone holds both kinds in one list (refused as such); several processes hold
  // different kinds, which one process's layout could not number: refused on every process.
  EXPECT_MG_ERROR(dist::save_checkpoint(path, *uneven, &opt),
                  dist::world_size() == 1 ? "different numbers of parameters" : "differ between");
  dist::barrier();
  expect_same_contents(io::read_checkpoint(path), before);
}

TEST(ShardedCheckpoint, APartThatCannotBeWrittenFailsTheSaveOnEveryProcess) {
  if (dist::world_size() == 1) GTEST_SKIP() << "needs a process other than rank 0";
  SharedDir dir;
  const std::string path = dir.path("checkpoint");
  const io::CheckpointContents before = save_good_checkpoint(path);
  auto model = std::make_shared<ListNet>(2 * dist::world_size());
  dist::shard_experts(*model, dist::world());
  // Rank 1 may write files of 16 bytes at most (EFBIG instead of the signal).
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  if (dist::rank() == 1) {
    rlimit small = saved;
    small.rlim_cur = 16;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  }
  std::string message;
  try {
    dist::save_checkpoint(path, *model);
  } catch (const Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);
  ASSERT_FALSE(message.empty()) << "the save succeeded";
  if (dist::rank() != 1) {
    EXPECT_NE(message.find("failed on process 1"), std::string::npos) << message;
  }
  dist::barrier();
  // The previous checkpoint is whole: the manifest still names its parts.
  expect_same_contents(io::read_checkpoint(path), before);
}
