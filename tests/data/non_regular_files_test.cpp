// Every data reader accepts regular files only: a FIFO or a device is refused with an Error that
// names the file, at once (no waiting for a writer, no endless read), and a file too large for
// memory is an Error too, never std::bad_alloc.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/address_space_limit.h"
#include "common/special_files.h"
#include "core/allocator.h"
#include "data/cifar10.h"
#include "data/float_binary.h"
#include "data/idx.h"
#include "data/text_matrix.h"
#include "temp_dir.h"

namespace mg = mixgrad;
using mg::testing::error_of;

namespace {

using Reader = std::function<void(const std::string&)>;

// Each reader, with the op its errors name.
std::vector<std::pair<std::string, Reader>> all_readers() {
  return {
      {"read_idx", [](const std::string& p) { mg::data::read_idx(p); }},
      {"read_idx_images", [](const std::string& p) { mg::data::read_idx_images(p); }},
      {"read_idx_labels", [](const std::string& p) { mg::data::read_idx_labels(p); }},
      {"read_cifar10_batch", [](const std::string& p) { mg::data::read_cifar10_batch(p); }},
      {"read_cifar10", [](const std::string& p) { mg::data::read_cifar10({p}); }},
      {"read_float32_binary", [](const std::string& p) { mg::data::read_float32_binary(p); }},
      {"read_text_matrix", [](const std::string& p) { mg::data::read_text_matrix(p); }},
  };
}

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << message;
}

}  // namespace

TEST(NonRegularFiles, FifoIsRefusedWithoutWaitingForAWriter) {
  mg::testing::TempDir dir;
  const std::string fifo = dir.path("pipe");
  mg::testing::make_fifo(fifo);
  for (const auto& [op, read] : all_readers()) {
    SCOPED_TRACE(op);
    expect_contains(mg::testing::error_reading_fifo(fifo, [&, &read = read] { read(fifo); }),
                    op + ": '" + fifo + "': is a FIFO (named pipe), not a regular file");
  }
}

TEST(NonRegularFiles, EndlessDeviceIsRefusedBeforeReading) {
  const std::string zero = mg::testing::kEndlessDevice;
  if (!std::filesystem::exists(zero)) GTEST_SKIP() << "no " << zero;
  for (const auto& [op, read] : all_readers()) {
    SCOPED_TRACE(op);
    expect_contains(error_of([&, &read = read] { read(zero); }),
                    op + ": '" + zero + "': is a character device, not a regular file");
  }
}

TEST(NonRegularFiles, DirectoryIsRefused) {
  mg::testing::TempDir dir;
  for (const auto& [op, read] : all_readers()) {
    SCOPED_TRACE(op);
    expect_contains(error_of([&, &read = read] { read(dir.dir().string()); }),
                    "is a directory, not a regular file");
  }
}

// A file that the disk holds (sparse) but memory cannot.
TEST(NonRegularFiles, OutOfMemoryIsAnError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer aborts on a failed allocation instead of returning null";
#endif
  mg::testing::TempDir dir;
  const std::string path = dir.path("huge");
  dir.write_text("huge", "1");
  ASSERT_EQ(::truncate(path.c_str(), off_t{256} << 20), 0);
  for (const auto& [op, read] : all_readers()) {
    SCOPED_TRACE(op);
    std::string message;
    mg::empty_cache(mg::kCPU);  // memory that earlier tests freed would serve the tensors
    {
      mg::testing::ScopedAddressSpaceLimit limit(32 << 20);
      message = error_of([&, &read = read] { read(path); });
    }
    EXPECT_EQ(message.find("not a mixgrad::Error"), std::string::npos) << message;
    expect_contains(message, op + ": '" + path + "': ");
  }
}
