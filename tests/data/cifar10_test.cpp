#include "data/cifar10.h"

#include "common/test_util.h"
#include "temp_dir.h"

namespace mg = mixgrad;
using mg::testing::expect_values;
using mg::testing::TempDir;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr std::size_t kRecord = 3073;

// Record r: label, then pixel i = (r * 7 + i) % 256 (so planes and records differ).
Bytes cifar_records(const std::vector<uint8_t>& labels, int first_record = 0) {
  Bytes out;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    out.push_back(labels[r]);
    for (int i = 0; i < 3072; ++i)
      out.push_back(static_cast<uint8_t>(((first_record + r) * 7 + i) % 256));
  }
  return out;
}

std::vector<double> expected_pixels(int records) {
  std::vector<double> v;
  for (int r = 0; r < records; ++r)
    for (int i = 0; i < 3072; ++i) v.push_back(static_cast<float>((r * 7 + i) % 256) / 255.0f);
  return v;
}

}  // namespace

TEST(Cifar10, ReadsRecordsAsChwImagesAndLabels) {
  TempDir dir;
  const auto batch =
      mg::data::read_cifar10_batch(dir.write("data_batch_1.bin", cifar_records({3, 0, 9})));
  EXPECT_EQ(batch.images.dtype(), mg::kFloat32);
  expect_values(batch.labels, {3}, {3, 0, 9});
  expect_values(batch.images, {3, 3, 32, 32}, expected_pixels(3));
  // Channel planes: record 1, green (plane 1), row 2, column 5 is pixel byte 1024 + 64 + 5.
  EXPECT_EQ(batch.images[1][1][2][5].item<float>(), static_cast<float>((7 + 1093) % 256) / 255.0f);
}

TEST(Cifar10, ConcatenatesFilesInOrder) {
  TempDir dir;
  const std::string a = dir.write("a.bin", cifar_records({1, 2}));
  const std::string b = dir.write("b.bin", cifar_records({5}, 2));
  const auto batch = mg::data::read_cifar10({a, b});
  expect_values(batch.labels, {3}, {1, 2, 5});
  expect_values(batch.images, {3, 3, 32, 32}, expected_pixels(3));
  EXPECT_MG_ERROR(mg::data::read_cifar10({}), "expected at least one batch file");
}

TEST(Cifar10, RejectsBadLabelsAndTruncatedRecords) {
  TempDir dir;
  const std::string bad = dir.write("bad_label.bin", cifar_records({4, 10, 2}));
  EXPECT_MG_ERROR(mg::data::read_cifar10_batch(bad),
                  "record 1 at byte offset 3073: label 10 is not a class index 0-9");
  EXPECT_MG_ERROR(mg::data::read_cifar10_batch(bad), bad);
  Bytes records = cifar_records({1, 2, 3});
  records.resize(2 * kRecord + 100);
  EXPECT_MG_ERROR(mg::data::read_cifar10_batch(dir.write("cut.bin", records)),
                  "truncated record 2 at byte offset 6146: 100 of 3073 bytes");
  EXPECT_MG_ERROR(mg::data::read_cifar10_batch(dir.write("empty.bin", {})), "the file is empty");
  // A fault in the second file names that file.
  const std::string good = dir.write("good.bin", cifar_records({1}));
  EXPECT_MG_ERROR(mg::data::read_cifar10({good, dir.path("cut.bin")}), dir.path("cut.bin"));
  EXPECT_MG_ERROR(mg::data::read_cifar10({good, dir.path("nope.bin")}),
                  "cannot open file: No such file or directory");
}
