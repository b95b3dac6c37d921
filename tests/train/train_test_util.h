#pragma once
// Files and clocks for the train tests.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "common/scratch_dir.h"
#include "train/progress_bar.h"

namespace mixgrad::train::testing {

using TempDir = mixgrad::testing::ScratchDir;

// The whole content of the file at `path` ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// A clock the test moves by hand.
struct FakeClock {
  double now = 0.0;
  Clock fn() {
    return [this] { return now; };
  }
};

}  // namespace mixgrad::train::testing
