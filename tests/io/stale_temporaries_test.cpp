// Saving removes the temporary files that killed writers of the same path left behind, and
// nothing else: not a running writer's, not this process's, not a name that only looks alike.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/io_test_util.h"
#include "io/safetensors.h"
#include "mixgrad.h"

namespace mixgrad::io {
namespace {

using testing::ScratchDir;

// The pid of a child process that has exited and been reaped: no process has it (until the
// system hands it out again, which takes a full cycle of pids).
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  return child;
}

TEST(StaleTemporaries, SaveRemovesOnlyThoseOfDeadWritersOfTheSamePath) {
  ScratchDir dir;
  const std::string dead = std::to_string(dead_pid());
  const std::string self = std::to_string(::getpid());
  const std::vector<std::string> stale = {"model.safetensors.tmp-" + dead + "-0",
                                          "model.safetensors.tmp-" + dead + "-17"};
  const std::vector<std::string> kept = {
      "model.safetensors.tmp-1-0",             // pid 1 always runs
      "model.safetensors.tmp-" + self + "-9",  // this process may be writing it
      "model.safetensors.tmp-" + dead + "-0x",
      "model.safetensors.tmp-" + dead + "-",
      "model.safetensors.tmp-" + dead,
      "model.safetensors.tmp--" + dead + "-0",
      "model.safetensors.tmp-+" + dead + "-0",
      "model.safetensors.tmp-0-0",
      "model.safetensors.tmp-1234567890123-0",  // longer than any pid: no writer made it
      "other.safetensors.tmp-" + dead + "-0",   // another path's
      "xmodel.safetensors.tmp-" + dead + "-0",
      "model.safetensors.tmp-" + dead + "-0.bak",
  };
  for (const auto& names : {stale, kept})
    for (const std::string& name : names) dir.write_text(name, "partial");

  save_safetensors(dir.path("model.safetensors"), {{"w", ones({2})}});

  std::vector<std::string> expected = kept;
  expected.push_back("model.safetensors");
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(dir.listing(), expected);
}

}  // namespace
}  // namespace mixgrad::io
