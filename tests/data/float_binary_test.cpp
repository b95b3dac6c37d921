#include "data/float_binary.h"

#include "common/test_util.h"
#include "temp_dir.h"

namespace mg = mixgrad;
using mg::data::read_float32_binary;
using mg::data::write_float32_binary;
using mg::testing::expect_values;
using mg::testing::TempDir;

TEST(Float32Binary, WriteThenReadLittleEndian) {
  TempDir dir;
  const std::string path = dir.path("Xmean.bin");
  write_float32_binary(path, mg::tensor({{1.0f, -2.0f}, {0.5f, 3.0f}}));
  // 1.0f is 0x3F800000, stored low byte first.
  const std::vector<uint8_t> bytes = mg::testing::read_bytes(path);
  ASSERT_EQ(bytes.size(), 16u);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 4),
            (std::vector<uint8_t>{0x00, 0x00, 0x80, 0x3F}));
  expect_values(read_float32_binary(path), {4}, {1, -2, 0.5, 3});
  expect_values(read_float32_binary(path, 4), {4}, {1, -2, 0.5, 3});
  // A transposed view is written in its own row-major order.
  write_float32_binary(path, mg::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}}).t());
  expect_values(read_float32_binary(path), {4}, {1, 3, 2, 4});
}

TEST(Float32Binary, SizeChecks) {
  TempDir dir;
  const std::string path = dir.write("odd.bin", {0, 0, 0x80, 0x3F, 0, 0});
  EXPECT_MG_ERROR(read_float32_binary(path),
                  "truncated float32 data: 6 bytes is not a multiple of 4; the value at byte "
                  "offset 4 is incomplete");
  EXPECT_MG_ERROR(read_float32_binary(path), path);
  const std::string four = dir.write("four.bin", std::vector<uint8_t>(16, 0));
  EXPECT_MG_ERROR(read_float32_binary(four, 5), "holds 4 float32 values, expected 5");
  expect_values(read_float32_binary(dir.write("empty.bin", {})), {0}, {});
  EXPECT_MG_ERROR(read_float32_binary(dir.path("missing.bin")),
                  "cannot open file: No such file or directory");
}

TEST(Float32Binary, WriteRejectsOtherDtypesAndBadPaths) {
  TempDir dir;
  EXPECT_MG_ERROR(write_float32_binary(dir.path("x.bin"), mg::tensor({1.0, 2.0})),
                  "expected a float32 tensor");
  EXPECT_MG_ERROR(write_float32_binary(dir.path("x.bin"), mg::Tensor()), "undefined tensor");
  EXPECT_MG_ERROR(write_float32_binary(dir.path("no/such/dir/x.bin"), mg::ones({2})),
                  "cannot open for writing");
}
