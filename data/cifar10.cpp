#include "data/cifar10.h"

#include <cstdint>

#include "data/file_bytes.h"
#include "ops/creation.h"

namespace mixgrad::data {

namespace {

constexpr int64_t kChannels = 3;
constexpr int64_t kSide = 32;
constexpr int64_t kPixels = kChannels * kSide * kSide;  // 3072
constexpr int64_t kRecordBytes = 1 + kPixels;           // 3073
constexpr int64_t kNumClasses = 10;

// Records in a batch file of `size` bytes; throws unless it is a positive whole number.
int64_t record_count(const char* op, const std::string& path, uint64_t size) {
  const auto record = static_cast<uint64_t>(kRecordBytes);
  if (size == 0) internal::fail(op, path, "the file is empty; expected 3073-byte records");
  if (size % record != 0)
    internal::fail(op, path, "truncated record ", size / record, " at ",
                   internal::byte_offset(size - size % record), ": ", size % record, " of ",
                   kRecordBytes, " bytes (file size ", size, " is not a multiple of ", kRecordBytes,
                   ")");
  return static_cast<int64_t>(size / record);
}

// Decodes the records of one file into images/labels starting at record `first`.
void read_into(const char* op, const std::string& path, const io::InputFile& file,
               const CifarBatch& out, int64_t first, int64_t count) {
  const auto bytes = file.read_all<std::vector<unsigned char>>();
  float* images = out.images.data_ptr<float>() + first * kPixels;
  int64_t* labels = out.labels.data_ptr<int64_t>() + first;
  for (int64_t r = 0; r < count; ++r) {
    const unsigned char* record = bytes.data() + r * kRecordBytes;
    if (record[0] >= kNumClasses)
      internal::fail(op, path, "record ", r, " at ",
                     internal::byte_offset(static_cast<std::size_t>(r * kRecordBytes)), ": label ",
                     static_cast<int>(record[0]), " is not a class index 0-9");
    labels[r] = record[0];
    for (int64_t i = 0; i < kPixels; ++i)
      images[r * kPixels + i] = static_cast<float>(record[1 + i]) / 255.0f;
  }
}

// All files' records in one batch: every file is opened and its size checked first, then the
// result is allocated once and filled from the files as they were opened.
CifarBatch read_batches(const char* op, const std::vector<std::string>& paths) {
  MG_CHECK(!paths.empty(), op, "expected at least one batch file");
  std::vector<io::InputFile> files;
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (const std::string& path : paths) {
    files.push_back(internal::open_file(op, path));
    counts.push_back(record_count(op, path, files.back().size()));
    total = checked_add(total, counts.back(), op, "the total number of records");
  }
  // Errors about the whole batch name every file: 'a', 'b', 'c'.
  std::string where = paths[0];
  for (std::size_t i = 1; i < paths.size(); ++i) where += "', '" + paths[i];
  CifarBatch batch{internal::empty_for_file(op, where, {total, kChannels, kSide, kSide}, kFloat32),
                   internal::empty_for_file(op, where, {total}, kInt64)};
  int64_t first = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    read_into(op, paths[i], files[i], batch, first, counts[i]);
    first += counts[i];
  }
  return batch;
}

}  // namespace

CifarBatch read_cifar10_batch(const std::string& path) {
  return read_batches("read_cifar10_batch", {path});
}

CifarBatch read_cifar10(const std::vector<std::string>& paths) {
  return read_batches("read_cifar10", paths);
}

}  // namespace mixgrad::data
