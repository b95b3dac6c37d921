// Checkpoint saves killed at random points by SIGKILL (no destructor, no handler runs) never
// leave a half-written checkpoint: the target is absent (nothing committed yet) or one of the
// saved versions, complete. The next save leaves no temporary file behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/checkpoint.h"
#include "io/io_test_util.h"
#include "mixgrad.h"

namespace mixgrad::io {
namespace {

using testing::ScratchDir;

// 4 MiB of parameters: a save takes some milliseconds, so kills land in every phase of it.
struct Big : nn::Module {
  nn::Linear fc{1024, 1024};
  Big() { register_module("fc", fc); }
  Tensor forward(const Tensor& x) override { return fc(x); }
};

// Every state tensor's bytes, in order: equal strings mean bitwise equal states.
std::string state_bytes(const nn::Module& module) {
  std::string bytes;
  for (const auto& [name, tensor] : module.state_dict()) bytes += testing::element_bytes(tensor);
  return bytes;
}

// Saves the versions in turn until it is killed; never returns.
[[noreturn]] void save_forever(const std::string& path,
                               const std::vector<std::unique_ptr<Big>>& versions) {
  try {
    for (std::size_t v = 0;; v = (v + 1) % versions.size()) save_checkpoint(path, *versions[v]);
  } catch (...) {
  }
  ::_exit(1);  // a save failed: the parent sees an exit, not its SIGKILL
}

TEST(KillDuringSave, CheckpointIsAbsentOrACompleteVersionAndNoTemporaryRemains) {
  ScratchDir dir;
  const std::string path = dir.path("ckpt.safetensors");
  std::vector<std::unique_ptr<Big>> versions;
  std::vector<std::string> version_bytes;
  for (int v = 0; v < 3; ++v) {
    manual_seed(100 + v);
    versions.push_back(std::make_unique<Big>());
    version_bytes.push_back(state_bytes(*versions.back()));
  }
  // How long one save takes here, to spread the kills over the first few saves of each child.
  const auto start = std::chrono::steady_clock::now();
  save_checkpoint(path, *versions[0]);
  const auto save_time = std::chrono::steady_clock::now() - start;
  const auto max_delay_us = std::max<int64_t>(
      1000, 3 * std::chrono::duration_cast<std::chrono::microseconds>(save_time).count());

  std::mt19937 rng(17);
  int absent = 0, mid_write = 0;
  for (int kill = 0; kill < 12; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill));
    // Half of the children start without a target, so that some die before their first commit.
    if (rng() % 2 == 0) std::filesystem::remove(path);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) save_forever(path, versions);
    // Picks the moment of the kill; whatever state the child has reached is then checked.
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int64_t>(0, max_delay_us)(rng)));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the saving child ended by itself (a save failed)";
    const std::vector<std::string> names = dir.listing();
    mid_write += std::any_of(names.begin(), names.end(), [](const std::string& name) {
      return name.find(".tmp-") != std::string::npos;
    });

    if (!std::filesystem::exists(path)) {
      ++absent;
      continue;
    }
    Big loaded;
    try {
      load_checkpoint(path, loaded);
    } catch (const Error& e) {
      ADD_FAILURE() << "a killed save left an unreadable checkpoint: " << e.what();
      continue;
    }
    const std::string bytes = state_bytes(loaded);
    EXPECT_TRUE(std::find(version_bytes.begin(), version_bytes.end(), bytes) != version_bytes.end())
        << "the checkpoint matches none of the saved versions";
  }
  // Shown in the XML output: how many kills found a save midway, which is what the test is
  // about. The child saves without pause, so about half do; none at all (odds near 2^-12 for
  // an honest test) would mean the kills never reach a save and the checks above prove nothing.
  RecordProperty("kills_before_any_commit", absent);
  RecordProperty("kills_leaving_a_temporary_file", mid_write);
  EXPECT_GE(mid_write, 1) << "no kill landed during a save";

  save_checkpoint(path, *versions[1]);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"ckpt.safetensors"});
  Big loaded;
  load_checkpoint(path, loaded);
  EXPECT_EQ(state_bytes(loaded), version_bytes[1]);
}

}  // namespace
}  // namespace mixgrad::io
