#pragma once
// A scratch directory for reader tests: unique per test and process, removed afterwards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/scratch_dir.h"

namespace mixgrad::testing {

using TempDir = ScratchDir;

// The bytes of a file.
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace mixgrad::testing
