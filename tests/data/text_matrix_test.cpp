#include "data/text_matrix.h"

#include <string>

#include "common/test_util.h"
#include "core/allocator.h"
#include "temp_dir.h"

namespace mg = mixgrad;
using mg::data::read_text_matrix;
using mg::testing::expect_values;
using mg::testing::TempDir;

TEST(ReadTextMatrix, TabsSpacesCrlfAndTrailingBlankLines) {
  TempDir dir;
  const std::string path =
      dir.write_text("Input.txt", "1 2\t3\r\n-4.5\t\t5e-1  6\r\n  7 +8 -0.25 \n\n\r\n \t\n");
  const mg::Tensor m = read_text_matrix(path);
  EXPECT_EQ(m.dtype(), mg::kFloat32);
  expect_values(m, {3, 3}, {1, 2, 3, -4.5, 0.5, 6, 7, 8, -0.25});
  // No newline after the last row, a single row.
  expect_values(read_text_matrix(dir.write_text("one.txt", "1.5 2.5")), {1, 2}, {1.5, 2.5});
}

TEST(ReadTextMatrix, Float64KeepsFullPrecision) {
  TempDir dir;
  const std::string path = dir.write_text("m.txt", "0.1 1e39\n-3 2.5e-300\n");
  const mg::Tensor m = read_text_matrix(path, mg::kFloat64);
  EXPECT_EQ(m.dtype(), mg::kFloat64);
  expect_values(m, {2, 2}, {0.1, 1e39, -3, 2.5e-300});
  // Parsed in float64 and rounded once, exactly like NumPy's loadtxt(...).astype(float32).
  expect_values(read_text_matrix(dir.write_text("f.txt", "0.1")), {1, 1},
                {static_cast<double>(0.1f)});
  EXPECT_MG_ERROR(read_text_matrix(path, mg::kInt32), "dtype must be float32 or float64");
}

// \n, \r\n and a lone \r (classic Mac OS) each end a line; "\r\n" is one line end, not two.
TEST(ReadTextMatrix, LoneCarriageReturnEndsALine) {
  TempDir dir;
  expect_values(read_text_matrix(dir.write_text("mac.txt", "1 2\r3 4\r")), {2, 2}, {1, 2, 3, 4});
  expect_values(read_text_matrix(dir.write_text("mixed.txt", "1 2\r\n3 4\r5 6\n7 8\r\r\n")), {4, 2},
                {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("gap.txt", "1 2\r\r3 4\r")),
                  "line 2: blank line inside the matrix");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("short.txt", "1 2\r\n3 4\r5\r")),
                  "line 3: found 1 values, expected 2");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("token.txt", "1 2\r3 x\r")),
                  "line 2:3: 'x' is not a number");
}

// A long first line must not make the reader allocate rows x cols before it has seen that the
// other lines are short: the allocation is bounded by the file's size.
TEST(ReadTextMatrix, MemoryIsBoundedByTheFileSize) {
  TempDir dir;
  std::string text;
  for (int c = 0; c < 100'000; ++c) text += "1 ";
  text += "\n";
  for (int r = 0; r < 200'000; ++r) text += "1\n";  // 600 KB that would claim 80 GB as float32
  const std::string path = dir.write_text("wide.txt", text);
  mg::reset_peak_memory_stats(mg::kCPU);
  const std::size_t allocated_before = mg::memory_stats(mg::kCPU).allocated;
  EXPECT_MG_ERROR(read_text_matrix(path), "line 2: found 1 values, expected 100000 values");
  EXPECT_LT(mg::memory_stats(mg::kCPU).peak_allocated - allocated_before, text.size());
  // The tightest files (one-character values, single separators) still fit the bound.
  expect_values(read_text_matrix(dir.write_text("tight.txt", "1 2\n3 4")), {2, 2}, {1, 2, 3, 4});
  expect_values(read_text_matrix(dir.write_text("column.txt", "1\r2\r3")), {3, 1}, {1, 2, 3});
}

TEST(ReadTextMatrix, RaggedRowsNameTheLine) {
  TempDir dir;
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("short.txt", "1 2 3\n4 5 6\n7 8\n")),
                  "line 3: found 2 values, expected 3 values like line 1");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("long.txt", "1 2\r\n3 4 5 6\r\n")),
                  "line 2: found 4 values, expected 2");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("gap.txt", "1 2\n\n3 4\n")),
                  "line 2: blank line inside the matrix");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("lead.txt", "\n1 2\n")),
                  "line 1: blank line inside the matrix");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("long.txt", "1 2\n3 4 5 6\n")),
                  dir.path("long.txt"));
}

TEST(ReadTextMatrix, BadTokensNameLineAndColumn) {
  TempDir dir;
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("x.txt", "1 2 3\n4\tx5 6\n")),
                  "line 2:3: 'x5' is not a number");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("suffix.txt", "1 2.5abc\n")),
                  "line 1:3: '2.5abc' is not a number");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("comma.txt", "1,2 3\n")),
                  "line 1:1: '1,2' is not a number");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("nan.txt", "1 2\n3 nan\n")),
                  "line 2:3: non-finite value 'nan'");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("inf.txt", "-inf 2\n")),
                  "line 1:1: non-finite value '-inf'");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("big.txt", "1 1e39\n")),
                  "line 1:3: '1e39' is out of range for float32");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("huge.txt", "1e999\n"), mg::kFloat64),
                  "line 1:1: '1e999' is out of range for float64");
}

TEST(ReadTextMatrix, EveryPrefixParsesOrFailsCleanly) {
  TempDir dir;
  const std::string text = "1.5 -2\t3e2\r\n4 5 6\n";
  for (std::size_t length = 0; length <= text.size(); ++length) {
    const std::string prefix = text.substr(0, length);
    try {
      const mg::Tensor m = read_text_matrix(dir.write_text("p.txt", prefix));
      // A prefix that parses is part of the first row, or both full rows.
      const bool first_row = m.size(0) == 1 && m.size(1) >= 1 && m.size(1) <= 3;
      EXPECT_TRUE(first_row || m.shape() == (mg::Shape{2, 3})) << prefix;
    } catch (const mg::Error& e) {
      EXPECT_NE(std::string(e.what()).find("p.txt"), std::string::npos) << e.what();
    }
  }
}

TEST(ReadTextMatrix, EmptyOrBlankFile) {
  TempDir dir;
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("empty.txt", "")),
                  "no values: the file is empty");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("blank.txt", " \r\n\t\n\n")),
                  "no values: the file is empty or blank");
  EXPECT_MG_ERROR(read_text_matrix(dir.path("missing.txt")),
                  "cannot open file: No such file or directory");
}

// A file large enough to be split between threads: rows keep their order and line numbers in
// errors count across the pieces, whichever line ends the pieces start after.
TEST(ReadTextMatrix, LargeFileParsedInPiecesKeepsRowsAndLineNumbers) {
  TempDir dir;
  const mg::testing::ScopedNumThreads three_threads(3);
  constexpr int64_t kRows = 70000, kCols = 5;
  std::string text;
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t c = 0; c < kCols; ++c) text += std::to_string(r * kCols + c) + ".25 ";
    text += r % 3 == 0 ? "\n" : r % 3 == 1 ? "\r\n" : "\r";  // every kind of line end
  }
  ASSERT_GT(text.size(), std::size_t{3} << 20);  // >= 3 pieces of 1 MiB
  const mg::Tensor m = read_text_matrix(dir.write_text("big.txt", text));
  ASSERT_EQ(m.shape(), (mg::Shape{kRows, kCols}));
  const std::vector<double> values = m.to_vector<double>();
  int64_t wrong = 0;
  for (int64_t i = 0; i < kRows * kCols; ++i)
    wrong += values[i] != static_cast<double>(static_cast<float>(i + 0.25));
  EXPECT_EQ(wrong, 0);
  // An error in the last third is reported with its line number in the whole file.
  const std::size_t line_start = text.find("250000.25");  // row 50000, line 50001
  text.replace(line_start, 9, "250000.2x");
  EXPECT_MG_ERROR(read_text_matrix(dir.write_text("bad.txt", text)),
                  "line 50001:1: '250000.2x' is not a number");
}
