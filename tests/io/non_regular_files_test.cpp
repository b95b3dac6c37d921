// The safetensors and checkpoint readers accept regular files only: a FIFO, a device or a
// directory is refused with an Error at once (no waiting for a writer, no endless read), and a
// file too large for memory is an Error too, never std::bad_alloc.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/address_space_limit.h"
#include "common/special_files.h"
#include "io/checkpoint.h"
#include "io/io_test_util.h"
#include "io/safetensors.h"
#include "mixgrad.h"

namespace mixgrad::io {
namespace {

using testing::error_of;
using testing::error_reading_fifo;
using testing::ScratchDir;

struct Tiny : nn::Module {
  nn::Linear fc{2, 2};
  Tiny() { register_module("fc", fc); }
  Tensor forward(const Tensor& x) override { return fc(x); }
};

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << message;
}

TEST(NonRegularFiles, FifoIsRefusedWithoutWaitingForAWriter) {
  ScratchDir dir;
  const std::string fifo = dir.path("pipe.safetensors");
  testing::make_fifo(fifo);
  expect_contains(error_reading_fifo(fifo, [&] { load_safetensors(fifo); }),
                  "load_safetensors: " + fifo + ": is a FIFO (named pipe), not a regular file");
  Tiny module;
  expect_contains(error_reading_fifo(fifo, [&] { load_checkpoint(fifo, module); }),
                  fifo + ": is a FIFO (named pipe), not a regular file");
  expect_contains(error_reading_fifo(fifo, [&] { load_into(fifo, module.named_parameters()); }),
                  "load_into: " + fifo + ": is a FIFO");
}

TEST(NonRegularFiles, EndlessDeviceIsRefusedBeforeReading) {
  if (!std::filesystem::exists(testing::kEndlessDevice)) GTEST_SKIP() << "no /dev/zero";
  const std::string zero = testing::kEndlessDevice;
  expect_contains(error_of([&] { load_safetensors(zero); }),
                  "load_safetensors: /dev/zero: is a character device, not a regular file");
  Tiny module;
  expect_contains(error_of([&] { load_checkpoint(zero, module); }),
                  "/dev/zero: is a character device");
}

TEST(NonRegularFiles, DirectoryIsRefused) {
  ScratchDir dir;
  expect_contains(error_of([&] { load_safetensors(dir.dir().string()); }),
                  dir.dir().string() + ": is a directory, not a regular file");
}

// A header length that the file really holds (a sparse file) but memory cannot.
TEST(NonRegularFiles, OutOfMemoryIsAnError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer aborts on a failed allocation instead of returning null";
#endif
  ScratchDir dir;
  const std::string path = dir.path("huge_header.safetensors");
  constexpr uint64_t kHeaderBytes = 96'000'000;
  testing::write_bytes(path, testing::little_endian(kHeaderBytes, 8));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(8 + kHeaderBytes)), 0);
  std::string message;
  {
    testing::ScopedAddressSpaceLimit limit(32 << 20);
    message = error_of([&] { load_safetensors(path); });
  }
  expect_contains(message, "load_safetensors: " + path + ": out of memory while reading the file");
}

}  // namespace
}  // namespace mixgrad::io
