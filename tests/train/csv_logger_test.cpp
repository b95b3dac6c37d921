#include "train/csv_logger.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "train_test_util.h"

namespace train = mixgrad::train;
using train::CsvLogger;
using train::CsvMode;
using train::testing::read_file;
using train::testing::TempDir;

TEST(CsvLogger, WritesHeaderAndRowsWithEmptyCellsForMissingColumns) {
  TempDir dir;
  const std::string path = dir.path("run.csv");
  CsvLogger log(path, {"epoch", "phase", "loss"});
  EXPECT_EQ(read_file(path), "epoch,phase,loss\n");
  log.log({{"epoch", 1}, {"phase", "train"}, {"loss", 0.5}});
  log.log({{"loss", 0.25}, {"epoch", 2}});  // any order; phase left empty
  // Each row is flushed: readable while the logger is still open.
  EXPECT_EQ(read_file(path), "epoch,phase,loss\n1,train,0.5\n2,,0.25\n");
  EXPECT_EQ(log.path(), path);
  EXPECT_EQ(log.columns(), (std::vector<std::string>{"epoch", "phase", "loss"}));
}

TEST(CsvLogger, NumbersUseTheShortestFormThatReadsBackExactly) {
  const double third = 1.0 / 3.0;
  EXPECT_EQ(train::CsvValue(0.1).to_csv(), "0.1");
  EXPECT_EQ(train::CsvValue(third).to_csv(), "0.3333333333333333");
  EXPECT_EQ(std::stod(train::CsvValue(third).to_csv()), third);
  EXPECT_EQ(train::CsvValue(0.1f).to_csv(), "0.1");  // not 0.10000000149011612
  EXPECT_EQ(train::CsvValue(1e-7).to_csv(), "1e-07");
  EXPECT_EQ(train::CsvValue(123456789.0).to_csv(), "123456789");
  EXPECT_EQ(train::CsvValue(2.0).to_csv(), "2");
  EXPECT_EQ(train::CsvValue(std::numeric_limits<double>::quiet_NaN()).to_csv(), "nan");
  EXPECT_EQ(train::CsvValue(-std::numeric_limits<double>::infinity()).to_csv(), "-inf");
  EXPECT_EQ(train::CsvValue(-5).to_csv(), "-5");
  EXPECT_EQ(train::CsvValue(std::numeric_limits<int64_t>::min()).to_csv(), "-9223372036854775808");
  EXPECT_EQ(train::CsvValue(std::numeric_limits<uint64_t>::max()).to_csv(), "18446744073709551615");
  EXPECT_EQ(train::CsvValue(true).to_csv(), "1");
}

TEST(CsvLogger, QuotesStringsWithCommasQuotesAndNewlines) {
  EXPECT_EQ(train::csv_quote("plain text"), "plain text");
  EXPECT_EQ(train::csv_quote("a,b"), "\"a,b\"");
  EXPECT_EQ(train::csv_quote("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(train::csv_quote("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(train::csv_quote("cr\r"), "\"cr\r\"");
  EXPECT_EQ(train::csv_quote(""), "");

  TempDir dir;
  const std::string path = dir.path("quoted.csv");
  CsvLogger log(path, {"note, free text", "n"});
  log.log({{"note, free text", "x,\"y\""}, {"n", 3}});
  EXPECT_EQ(read_file(path), "\"note, free text\",n\n\"x,\"\"y\"\"\",3\n");
}

TEST(CsvLogger, LogsMapsAndVectorsOfPairs) {
  TempDir dir;
  const std::string path = dir.path("m.csv");
  CsvLogger log(path, {"epoch", "acc", "loss"});
  log.log(std::map<std::string, double>{{"loss", 0.125}, {"epoch", 3}});
  log.log(std::vector<std::pair<std::string, int>>{{"acc", 7}});
  EXPECT_EQ(read_file(path), "epoch,acc,loss\n3,,0.125\n,7,\n");
}

TEST(CsvLogger, BadRowsThrowAndWriteNothing) {
  TempDir dir;
  const std::string path = dir.path("bad.csv");
  CsvLogger log(path, {"epoch", "loss"});
  EXPECT_MG_ERROR(log.log({{"epoch", 1}, {"lr", 0.1}}),
                  "unknown column 'lr' for '" + path + "' (columns: epoch, loss)");
  EXPECT_MG_ERROR(log.log({{"epoch", 1}, {"epoch", 2}}), "column 'epoch' is given twice");
  EXPECT_EQ(read_file(path), "epoch,loss\n");
}

TEST(CsvLogger, BadColumnsAndPathsThrow) {
  TempDir dir;
  EXPECT_MG_ERROR(CsvLogger(dir.path("a.csv"), {}), "no columns given");
  EXPECT_MG_ERROR(CsvLogger(dir.path("a.csv"), {"x", "y", "x"}), "column 'x' is given twice");
  const std::string missing_dir = dir.path("no/such/dir/run.csv");
  EXPECT_MG_ERROR(CsvLogger(missing_dir, {"x"}), "cannot open '" + missing_dir + "' for writing");
  EXPECT_MG_ERROR(CsvLogger(dir.dir().string(), {"x"}), "cannot open '" + dir.dir().string() + "'");
}

TEST(CsvLogger, TruncateModeReplacesAnOldFile) {
  TempDir dir;
  const std::string path = dir.path("t.csv");
  std::ofstream(path) << "old,stuff\n1,2\n";
  CsvLogger log(path, {"a"});
  log.log({{"a", 1}});
  EXPECT_EQ(read_file(path), "a\n1\n");
}

TEST(CsvLogger, AppendModeKeepsRowsAndChecksTheHeader) {
  TempDir dir;
  const std::string path = dir.path("append.csv");
  {
    CsvLogger log(path, {"epoch", "loss"}, CsvMode::kAppend);  // new file: gets the header
    log.log({{"epoch", 1}, {"loss", 0.5}});
  }
  {
    CsvLogger log(path, {"epoch", "loss"}, CsvMode::kAppend);
    log.log({{"epoch", 2}, {"loss", 0.25}});
  }
  EXPECT_EQ(read_file(path), "epoch,loss\n1,0.5\n2,0.25\n");

  EXPECT_MG_ERROR(
      CsvLogger(path, {"epoch"}, CsvMode::kAppend),
      "cannot append to '" + path + "': its header 'epoch,loss' differs from the columns 'epoch'");
  EXPECT_MG_ERROR(CsvLogger(path, {"epoch", "loss", "lr"}, CsvMode::kAppend),
                  "its header 'epoch,loss' differs from the columns 'epoch,loss,lr'");
  EXPECT_MG_ERROR(CsvLogger(path, {"loss", "epoch"}, CsvMode::kAppend), "differs");
  EXPECT_EQ(read_file(path), "epoch,loss\n1,0.5\n2,0.25\n");  // untouched by the failures

  const std::string empty = dir.path("empty.csv");
  std::ofstream(empty).close();
  CsvLogger log(empty, {"x"}, CsvMode::kAppend);
  EXPECT_EQ(read_file(empty), "x\n");
}
