// ensure_writable_directory: creates what is missing, leaves nothing behind, and names the
// directory when it cannot be used.
#include "io/file_io.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/scratch_dir.h"
#include "common/test_util.h"

namespace mixgrad {
namespace {

namespace fs = std::filesystem;

TEST(EnsureWritableDirectory, CreatesNestedDirectoriesAndLeavesThemEmpty) {
  testing::ScratchDir scratch;
  const std::string dir = scratch.path("a/b/c");
  io::ensure_writable_directory(dir, "test");
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(fs::is_empty(dir));              // the probe file is gone
  io::ensure_writable_directory(dir, "test");  // an existing directory is fine
}

TEST(EnsureWritableDirectory, NamesTheDirectoryItCannotUse) {
  testing::ScratchDir scratch;
  const std::string file = scratch.write_text("file", "x");
  // Root may write anywhere, so the unusable paths are ones a regular file blocks.
  EXPECT_MG_ERROR(io::ensure_writable_directory(file, "op"), "op: cannot create directory " + file);
  EXPECT_MG_ERROR(io::ensure_writable_directory(file + "/sub", "op"),
                  "cannot create directory " + file + "/sub");
}

}  // namespace
}  // namespace mixgrad
