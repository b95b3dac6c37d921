// The shape checks every data reader runs on sizes from a file before it allocates: checked_numel
// and checked_nbytes from core/shape.h, with errors that name the file.
#include "data/file_bytes.h"

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::data::internal::checked_data_bytes;
using mg::data::internal::empty_for_file;

TEST(FileShapes, CheckedDataBytes) {
  EXPECT_EQ(checked_data_bytes("op", "f", {2, 3}, 4), 24u);
  EXPECT_EQ(checked_data_bytes("op", "f", {0, 65536}, 4), 0u);
  EXPECT_MG_ERROR(checked_data_bytes("op", "f", {0, 65536, 65536, 65536, 65536}, 4),
                  "op: 'f': shape [0, 65536, 65536, 65536, 65536] has more elements than int64 "
                  "can count");
  EXPECT_MG_ERROR(checked_data_bytes("op", "f", {-1, 2}, 4), "op: 'f': negative size -1");
  EXPECT_MG_ERROR(checked_data_bytes("op", "f", {int64_t{1} << 59}, 8),
                  "op: 'f': 576460752303423488 elements of 8 bytes exceed the largest tensor");
}

TEST(FileShapes, EmptyForFileChecksTheShapeFirst) {
  EXPECT_EQ(empty_for_file("op", "f", {2, 0, 3}, mg::kInt32).shape(), (mg::Shape{2, 0, 3}));
  EXPECT_MG_ERROR(empty_for_file("op", "f", {0, 65536, 65536, 65536, 65536}, mg::kInt32),
                  "op: 'f': shape [0, 65536, 65536, 65536, 65536] has more elements");
  EXPECT_MG_ERROR(empty_for_file("op", "f", {int64_t{1} << 40, int64_t{1} << 20}, mg::kFloat32),
                  "op: 'f': ");
}
