// The `mixgrad` command as a user runs it: the real binary, its exit status, what it prints and
// the files it leaves. Every user mistake must end in one `mixgrad: error:` line and status 1,
// never a crash, and must leave no checkpoint behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>

#include "backends/cuda_api.h"
#include "cli/run_record.h"
#include "io/checkpoint.h"
#include "io/sharded_checkpoint.h"
#include "nn/nn.h"
#include "train/plot.h"
#include "zoo/zoo.h"
#include "zoo/zoo_test_util.h"

namespace mg = mixgrad;
namespace fs = std::filesystem;
using mg::testing::CommandResult;
using mg::testing::expect_no_checkpoint;
using mg::testing::expect_usage_error;
using mg::testing::expect_user_error;
using mg::testing::run_mixgrad;
using mg::testing::TempDir;
using nlohmann::json;

namespace {

// Generated Fashion-MNIST shared by every test (written once; the tests only read it).
const std::string& data_dir() {
  static TempDir dir;
  static const std::string path = [] {
    mg::testing::write_fashion_mnist(dir.dir());
    return dir.dir().string();
  }();
  return path;
}

// `train MODEL --out OUT` plus `extra`, on the generated data unless `extra` names --data, and
// on one thread unless it names --threads (runs stay reproducible and leave the other core to
// whatever else runs).
CommandResult train(const std::string& model, const fs::path& out,
                    const std::vector<std::string>& extra) {
  std::vector<std::string> args{"train", model, "--out", out.string()};
  const auto given = [&](const char* option) {
    return std::find(extra.begin(), extra.end(), option) != extra.end();
  };
  if (!given("--data")) args.insert(args.end(), {"--data", data_dir()});
  if (!given("--threads")) args.insert(args.end(), {"--threads", "1"});
  args.insert(args.end(), extra.begin(), extra.end());
  return run_mixgrad(args);
}

// The generated data with one file replaced by `bytes` (gzip-compressed when `gzip`).
fs::path data_with(const TempDir& scratch, const std::string& name,
                   const std::vector<uint8_t>& bytes, bool gzip) {
  const fs::path dir = scratch.dir() / "data";
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(data_dir())) {
    fs::copy_file(entry.path(), dir / entry.path().filename(),
                  fs::copy_options::overwrite_existing);
  }
  mg::testing::write_bytes(dir / name, bytes, gzip);
  return dir;
}

// A CSV file's rows (header first), each split at the commas.
std::vector<std::vector<std::string>> read_csv(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(mg::testing::read_file(path));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// fashion-moe trained for 2 epochs with --json, shared by the tests that inspect a finished
// run; those that change a run copy its directory first.
struct MoERun {
  TempDir scratch;
  fs::path out;
  CommandResult result;
  std::vector<json> epochs;  // the --json lines
};

const MoERun& moe_run() {
  static MoERun run;
  static const bool trained = [] {
    run.out = run.scratch.dir() / "fm";
    run.result = train("fashion-moe", run.out, {"--epochs", "2", "--batch", "32", "--json"});
    for (const std::string& line : run.result.out_lines()) {
      run.epochs.push_back(json::parse(line, nullptr, /*allow_exceptions=*/false));
    }
    return true;
  }();
  (void)trained;
  return run;
}

// `eval` of `checkpoint` on the generated data, as JSON.
CommandResult eval_json(const std::string& model, const fs::path& checkpoint) {
  return run_mixgrad({"eval", model, "--checkpoint", checkpoint.string(), "--data", data_dir(),
                      "--threads", "1", "--json"});
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Several processes (--ep/--dp): the command starts itself under mpirun.

#ifdef MIXGRAD_TEST_MPI
namespace {

// The --ep/--dp runs, in the dist tests' environment.
class CliParallel : public ::testing::Test {
 private:
  mg::testing::DistCommandEnvironment environment_;
};

}  // namespace

TEST_F(CliParallel, ExpertParallelRunPrintsOnceAndWritesItsCheckpointInParts) {
  TempDir scratch;
  const fs::path out = scratch.dir() / "fm";
  const CommandResult r =
      train("fashion-moe", out, {"--epochs", "2", "--batch", "32", "--json", "--ep", "2"});
  ASSERT_EQ(r.exit_code, 0) << r;
  // Rank 0 alone prints: one JSON line per epoch.
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 2u) << r.out;
  const json last = json::parse(lines.back());
  EXPECT_GT(last["test_accuracy"].get<double>(), 0.3);
  // Each process wrote the experts it holds, rank 0 the rest as well: three parts of the last
  // epoch's save (the first epoch's are gone), and the manifest naming them.
  const fs::path checkpoint = out / "checkpoint";
  ASSERT_TRUE(mg::io::is_sharded_checkpoint(checkpoint.string()));
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(checkpoint))
    files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 4u) << ::testing::PrintToString(files);
  EXPECT_EQ(files[0], "manifest.json");
  EXPECT_TRUE(files[1].starts_with("part-experts-0.")) << files[1];
  EXPECT_TRUE(files[2].starts_with("part-experts-1.")) << files[2];
  EXPECT_TRUE(files[3].starts_with("part-shared.")) << files[3];
  // eval (one process) reads the parts as the one-process checkpoint: the last epoch again.
  const CommandResult e = eval_json("fashion-moe", checkpoint);
  ASSERT_EQ(e.exit_code, 0) << e;
  EXPECT_NEAR(json::parse(e.out_lines().back())["test_accuracy"].get<double>(),
              last["test_accuracy"].get<double>(), 1e-9);
  // `checkpoint merge` writes it as one file, which evaluates the same.
  const fs::path merged = scratch.dir() / "merged.safetensors";
  const CommandResult m =
      run_mixgrad({"checkpoint", "merge", checkpoint.string(), "--out", merged.string()});
  ASSERT_EQ(m.exit_code, 0) << m;
  EXPECT_NE(m.out.find("merged " + checkpoint.string()), std::string::npos) << m;
  const CommandResult em = eval_json("fashion-moe", merged);
  ASSERT_EQ(em.exit_code, 0) << em;
  EXPECT_EQ(json::parse(em.out_lines().back())["test_loss"],
            json::parse(e.out_lines().back())["test_loss"]);
  // Merging onto the parts themselves, or into their directory, is refused (and changes nothing).
  for (const fs::path& onto : {checkpoint, checkpoint / "manifest.json", checkpoint / "x.st"}) {
    expect_user_error(
        run_mixgrad({"checkpoint", "merge", checkpoint.string(), "--out", onto.string()}),
        {"--out"});
  }
  EXPECT_FALSE(fs::exists(checkpoint / "x.st"));
  // And it resumes in one process, optimizer state included, from the parts or the merged file.
  for (const fs::path& from : {checkpoint, merged}) {
    const CommandResult resumed =
        train("fashion-moe", scratch.dir() / ("one-" + from.filename().string()),
              {"--epochs", "3", "--json", "--resume", from.string()});
    ASSERT_EQ(resumed.exit_code, 0) << resumed;
    ASSERT_EQ(resumed.out_lines().size(), 1u) << resumed;  // epoch 3 only
    const json epoch3 = json::parse(resumed.out_lines().back());
    EXPECT_EQ(epoch3["epoch"].get<int64_t>(), 3);
    EXPECT_LT(epoch3["train_loss"].get<double>(), json::parse(lines.front())["train_loss"]);
  }
}

TEST_F(CliParallel, ExpertParallelRunResumesAtTheSameAndAnotherSize) {
  // (Resuming is not bit-identical to an uninterrupted run, in one process either: what is
  // checked is that the second run starts from the first one's trained model and Adam state.)
  TempDir scratch;
  const fs::path out = scratch.dir() / "fm";
  const std::vector<std::string> common{"--batch", "32", "--json", "--ep", "2"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    return extra;
  };
  const CommandResult first = train("fashion-moe", out, with({"--epochs", "1"}));
  ASSERT_EQ(first.exit_code, 0) << first;
  const CommandResult second =
      train("fashion-moe", out, with({"--epochs", "2", "--resume", (out / "checkpoint").string()}));
  ASSERT_EQ(second.exit_code, 0) << second;
  ASSERT_EQ(second.out_lines().size(), 1u) << second;  // epoch 2 only
  const json a = json::parse(first.out_lines().back()), b = json::parse(second.out_lines().back());
  EXPECT_EQ(b["epoch"].get<int64_t>(), 2);
  // A model trained from scratch would start over at the first epoch's loss.
  EXPECT_LT(b["train_loss"].get<double>(), a["train_loss"].get<double>());
  // The checkpoint it wrote evaluates (in one process) to what it reported.
  const CommandResult e = eval_json("fashion-moe", out / "checkpoint");
  ASSERT_EQ(e.exit_code, 0) << e;
  EXPECT_NEAR(json::parse(e.out_lines().back())["test_loss"].get<double>(),
              b["test_loss"].get<double>(), 1e-9);
  // And a checkpoint written by 2 processes goes on with 4 (two experts each).
  // Without --out it goes on in the checkpoint's run directory ("fm/checkpoint/" names it too).
  const CommandResult third = run_mixgrad(
      {"train", "fashion-moe", "--data", data_dir(), "--threads", "1", "--epochs", "3", "--batch",
       "32", "--json", "--ep", "4", "--resume", (out / "checkpoint/").string()});
  ASSERT_EQ(third.exit_code, 0) << third;
  ASSERT_EQ(third.out_lines().size(), 1u) << third;
  EXPECT_EQ(json::parse(third.out_lines().back())["epoch"].get<int64_t>(), 3);
  EXPECT_EQ(mg::cli::read_run_record((out / "checkpoint").string(), "fashion-moe").epochs_done, 3);
  std::ifstream csv(out / "metrics.csv");
  const std::string text((std::istreambuf_iterator<char>(csv)), std::istreambuf_iterator<char>());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;  // header and epochs 1-3
}

TEST_F(CliParallel, LayoutsThatCannotWorkAreErrors) {
  TempDir scratch;
  const fs::path out = scratch.dir() / "out";
  expect_user_error(train("fashion-moe", out, {"--ep", "3", "--epochs", "1"}),
                    {"8 experts", "cannot share evenly"});
  expect_user_error(train("fashion-mlp", out, {"--ep", "2", "--epochs", "1"}),
                    {"--ep", "has none"});
  expect_user_error(train("fashion-moe", out, {"--ep", "0"}), {"--ep and --dp must be >= 1"});
  // An error on one process only (rank 0 cannot write --out) ends the whole run at once: the
  // other process must not be left to give up on its own, which it would do with a timeout
  // Error of its own after the 5 s set here.
  const fs::path file = scratch.dir() / "a-file";
  mg::testing::write_bytes(file, {1}, false);
  setenv("MIXGRAD_DIST_TIMEOUT", "5", 1);
  const CommandResult r = train("fashion-moe", file / "out", {"--ep", "2", "--epochs", "1"});
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_NE(r.err.find("mixgrad: error:"), std::string::npos) << r;
  EXPECT_EQ(r.err.find("no answer from the group"), std::string::npos) << r;
}
#endif

// ---------------------------------------------------------------------------------------------
// User mistakes

TEST(CliErrors, UnknownModelNamesItAndTheKnownOnes) {
  TempDir scratch;
  const fs::path out = scratch.dir() / "out";
  std::vector<std::string> words{"unknown model 'fashion-mo'"};
  for (const mg::zoo::ModelEntry& e : mg::zoo::models()) words.push_back(e.name);
  {
    SCOPED_TRACE("train");
    expect_user_error(train("fashion-mo", out, {}), words);
    EXPECT_FALSE(fs::exists(out));
  }
  {
    SCOPED_TRACE("graph");
    expect_user_error(
        run_mixgrad({"graph", "fashion-mo", "--out", scratch.path("g.dot"), "--data", data_dir()}),
        words);
    EXPECT_FALSE(fs::exists(scratch.path("g.dot")));
  }
}

TEST(CliErrors, MissingDataNamesTheMissingFile) {
  TempDir scratch;
  fs::create_directories(scratch.dir() / "empty");
  const fs::path out = scratch.dir() / "out";
  const std::string missing = (scratch.dir() / "empty" / "train-images-idx3-ubyte.gz").string();
  expect_user_error(train("fashion-moe", out, {"--data", (scratch.dir() / "empty").string()}),
                    {missing, "--data"});
  expect_no_checkpoint(out);

  // The training files alone: the test split is missing.
  const fs::path half = scratch.dir() / "half";
  fs::create_directories(half);
  for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}) {
    fs::copy_file(fs::path(data_dir()) / name, half / name);
  }
  expect_user_error(train("fashion-moe", out, {"--data", half.string()}),
                    {(half / "t10k-images-idx3-ubyte.gz").string()});
  expect_no_checkpoint(out);
  expect_user_error(run_mixgrad({"graph", "fashion-moe", "--out", scratch.path("g.dot"), "--data",
                                 (scratch.dir() / "empty").string()}),
                    {missing});
}

TEST(CliErrors, MalformedIdxFilesNameTheFileAndTheProblem) {
  std::vector<uint8_t> images, labels;
  mg::testing::fashion_images(600, 1, false, images, labels);
  const std::vector<uint8_t> good_images = mg::testing::idx_ubyte_file({600, 28, 28}, images);
  std::vector<uint8_t> truncated(good_images.begin(), good_images.end() - 100);
  std::vector<uint8_t> bad_magic = good_images;
  bad_magic[0] = 0x1F;
  std::vector<uint8_t> bad_labels = labels;
  bad_labels[7] = 12;
  const std::vector<uint8_t> short_labels(labels.begin(), labels.end() - 1);
  const std::string image_file = "train-images-idx3-ubyte.gz";
  const std::string label_file = "train-labels-idx1-ubyte.gz";
  const struct {
    std::string file;
    std::vector<uint8_t> bytes;
    bool gzip;
    std::string problem;
    bool names_file;  // the IDX reader names the file; the checks of what it read, the split
  } cases[] = {
      {image_file, truncated, true, "truncated data", true},
      {image_file, bad_magic, true, "bad magic", true},
      {image_file, {0, 0, 0x08, 3, 0, 0}, false, "truncated header", true},
      {image_file, mg::testing::idx_ubyte_file({600, 28}, std::vector<uint8_t>(600 * 28)), true,
       "[N, 28, 28]", false},
      {label_file, mg::testing::idx_ubyte_file({600}, bad_labels), true, "[0, 9]", false},
      {label_file, mg::testing::idx_ubyte_file({599}, short_labels), true, "599 labels", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.problem);
    TempDir scratch;
    const fs::path dir = data_with(scratch, c.file, c.bytes, c.gzip);
    const fs::path out = scratch.dir() / "out";
    const CommandResult r = train("fashion-moe", out, {"--data", dir.string()});
    expect_user_error(r, {c.problem, c.names_file ? (dir / c.file).string() : "train"});
    expect_no_checkpoint(out);
  }
  // A gzip stream cut short.
  TempDir scratch;
  const fs::path dir = data_with(scratch, image_file, {}, false);
  mg::testing::write_bytes(dir / image_file, good_images, true);
  std::string gz = mg::testing::read_file(dir / image_file);
  gz.resize(gz.size() / 2);
  mg::testing::write_bytes(dir / image_file, std::vector<uint8_t>(gz.begin(), gz.end()), false);
  expect_user_error(train("fashion-moe", scratch.dir() / "out", {"--data", dir.string()}),
                    {(dir / image_file).string(), "gzip"});
  expect_no_checkpoint(scratch.dir() / "out");
}

TEST(CliErrors, CudaWithoutAGpu) {
  // This test program has no CUDA backend (the mixgrad binary does): ask the machine instead.
  if (fs::exists("/dev/nvidiactl")) GTEST_SKIP() << "a GPU driver is present here";
  TempDir scratch;
  const fs::path out = scratch.dir() / "out";
  expect_user_error(train("fashion-moe", out, {"--device", "cuda"}), {"--device", "cuda"});
  expect_no_checkpoint(out);
  expect_user_error(train("fashion-moe", out, {"--device", "tpu"}), {"--device", "'tpu'"});
  expect_no_checkpoint(out);
}

TEST(CliErrors, TopKLargerThanTheExperts) {
  TempDir scratch;
  const fs::path out = scratch.dir() / "out";
  expect_user_error(train("fashion-moe", out, {"--top-k", "3", "--experts", "2"}),
                    {"--top-k 3", "larger than", "(2)"});
  expect_no_checkpoint(out);
  // Against the default number of experts, and for the hierarchical model's groups.
  expect_user_error(train("fashion-moe", out, {"--top-k", "9"}), {"larger than"});
  expect_user_error(train("fashion-hmoe", out, {"--experts", "6"}), {"multiple of"});
  expect_no_checkpoint(out);
}

TEST(CliErrors, ExpertsOrTopKOnTheDenseModel) {
  TempDir scratch;
  const fs::path out = scratch.dir() / "out";
  expect_user_error(train("fashion-mlp", out, {"--experts", "4"}), {"--experts", "fashion-mlp"});
  expect_user_error(train("fashion-mlp", out, {"--top-k", "1"}), {"--top-k", "fashion-mlp"});
  expect_no_checkpoint(out);
}

TEST(CliErrors, NonPositiveHyperParameters) {
  TempDir scratch;
  const fs::path out = scratch.dir() / "out";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--epochs", "0"}, {"--epochs", "-1"}, {"--batch", "0"},
      {"--lr", "-0.1"},  {"--lr", "nan"},    {"--threads", "-1"},
  };
  for (const auto& [option, value] : cases) {
    SCOPED_TRACE(option + " " + value);
    expect_user_error(train("fashion-moe", out, {option, value}), {option});
    expect_no_checkpoint(out);
  }
}

TEST(CliErrors, UnwritableOut) {
  TempDir scratch;
  // Under a regular file no directory can be made, even by root (as CI runs).
  const std::string file = scratch.write_text("file", "x");
  const fs::path out = fs::path(file) / "sub";
  expect_user_error(train("fashion-moe", out, {}), {"--out", out.string()});
  expect_user_error(train("fashion-moe", file, {}), {"--out", file});
  const std::string dot = (fs::path(file) / "g.dot").string();
  expect_user_error(run_mixgrad({"graph", "fashion-moe", "--out", dot, "--data", data_dir()}),
                    {"cannot write", dot});
  EXPECT_EQ(mg::testing::read_file(file), "x");
  EXPECT_EQ(scratch.listing(), std::vector<std::string>{"file"});
}

TEST(CliErrors, CheckpointOfAnotherModel) {
  TempDir scratch;
  const CommandResult mlp = train("fashion-mlp", scratch.dir() / "mlp", {"--epochs", "1"});
  ASSERT_EQ(mlp.exit_code, 0) << mlp;
  const std::string checkpoint = (scratch.dir() / "mlp" / "checkpoint.safetensors").string();
  const std::vector<std::string> words{checkpoint, "fashion-mlp", "not of fashion-moe"};
  {
    SCOPED_TRACE("eval");
    expect_user_error(eval_json("fashion-moe", checkpoint), words);
  }
  const fs::path out = scratch.dir() / "out";
  {
    SCOPED_TRACE("train --resume");
    expect_user_error(train("fashion-moe", out, {"--resume", checkpoint}), words);
    expect_no_checkpoint(out);
  }
  {
    SCOPED_TRACE("its own model, but every epoch asked for is done");
    expect_user_error(train("fashion-mlp", out, {"--resume", checkpoint, "--epochs", "1"}),
                      {checkpoint, "already has 1 of 1 epochs"});
    expect_no_checkpoint(out);
  }
}

TEST(CliErrors, EvalOfAFileThatIsNotACheckpoint) {
  TempDir scratch;
  const std::string text = scratch.write_text("notes.safetensors", "not a checkpoint at all\n");
  expect_user_error(eval_json("fashion-moe", text), {text});
  const std::string missing = scratch.path("missing.safetensors");
  expect_user_error(eval_json("fashion-moe", missing), {missing});
  // A valid safetensors file that `mixgrad train` did not write.
  const std::string foreign = scratch.path("linear.safetensors");
  mg::nn::Linear linear(4, 2);
  mg::io::save_checkpoint(foreign, linear);
  expect_user_error(eval_json("fashion-moe", foreign), {foreign, "not written by `mixgrad train`"});
}

TEST(CliErrors, MissingModelOrCheckpointArgument) {
  TempDir scratch;
  expect_usage_error(run_mixgrad({"train", "--data", data_dir(), "--out", scratch.path("o")}),
                     "model");
  expect_no_checkpoint(scratch.dir());
  expect_usage_error(run_mixgrad({"eval", "fashion-moe"}), "--checkpoint");
  expect_usage_error(run_mixgrad({"graph", "fashion-moe"}), "--out");
}

TEST(CliErrors, NoSubcommandPrintsUsage) {
  const CommandResult r = run_mixgrad({});
  expect_usage_error(r, "subcommand");
  // --help is not a mistake.
  const CommandResult help = run_mixgrad({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help;
  for (const char* sub : {"zoo", "train", "eval", "graph"}) {
    EXPECT_NE(help.out.find(sub), std::string::npos) << help;
  }
}

// ---------------------------------------------------------------------------------------------
// What works

TEST(CliZoo, ListsEveryModelWithItsParameterCount) {
  const CommandResult r = run_mixgrad({"zoo"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.err, "");
  // One block per model, separated by blank lines, each starting with the model's name.
  std::vector<std::string> blocks;
  for (size_t at = 0; at < r.out.size();) {
    const size_t end = std::min(r.out.find("\n\n", at), r.out.size());
    blocks.push_back(r.out.substr(at, end - at));
    at = end + 2;
  }
  const auto& models = mg::zoo::models();
  ASSERT_EQ(blocks.size(), models.size()) << r.out;
  for (size_t i = 0; i < models.size(); ++i) {
    const mg::zoo::ModelEntry& e = models[i];
    const std::string& block = blocks[i];
    EXPECT_TRUE(block.starts_with(e.name + "\n")) << block;
    const auto task = e.make(mg::zoo::resolve(e, {}));
    EXPECT_NE(block.find("parameters " + std::to_string(task->module().num_parameters())),
              std::string::npos)
        << block;
    if (e.routed) {
      EXPECT_NE(block.find(std::to_string(task->active_parameters()) + " active"),
                std::string::npos)
          << block;
    }
  }
}

TEST(CliTrain, JsonLinesAndTheRunsFiles) {
  const MoERun& run = moe_run();
  ASSERT_EQ(run.result.exit_code, 0) << run.result;
  ASSERT_EQ(run.epochs.size(), 2u) << run.result;
  // 600 examples, each routed to top_k = 2 experts by default.
  const double routed_slots = 600.0 * 2;
  for (size_t i = 0; i < run.epochs.size(); ++i) {
    const json& j = run.epochs[i];
    ASSERT_TRUE(j.is_object()) << run.result.out_lines()[i];
    EXPECT_EQ(j.at("epoch").get<int64_t>(), static_cast<int64_t>(i + 1));
    for (const char* key : {"train_loss", "test_loss", "train_accuracy", "test_accuracy",
                            "train_seconds", "eval_seconds", "examples_per_second"}) {
      ASSERT_TRUE(j.contains(key)) << key << " missing in " << j;
      EXPECT_TRUE(std::isfinite(j.at(key).get<double>())) << key << " in " << j;
    }
    for (const char* key : {"train_accuracy", "test_accuracy"}) {
      EXPECT_GE(j.at(key).get<double>(), 0.0);
      EXPECT_LE(j.at(key).get<double>(), 1.0);
    }
    EXPECT_EQ(j.at("dropped_test").get<int64_t>(), 0) << j;
    const auto load = j.at("expert_load").get<std::vector<double>>();
    EXPECT_EQ(load.size(), 8u);
    const double dropped_share =
        static_cast<double>(j.at("dropped_train").get<int64_t>()) / routed_slots;
    EXPECT_NEAR(std::accumulate(load.begin(), load.end(), 0.0), 1.0 - dropped_share, 1e-9) << j;
  }
  // The generated classes are easy: the second epoch trains to a lower loss than the first.
  EXPECT_LT(run.epochs[1].at("train_loss").get<double>(),
            run.epochs[0].at("train_loss").get<double>());
  // With --json the human display goes to stderr, not among the JSON lines.
  EXPECT_NE(run.result.err.find("fashion-moe"), std::string::npos) << run.result;

  // The run's directory.
  EXPECT_GT(fs::file_size(run.out / "checkpoint.safetensors"), 0u);

  const auto metrics = read_csv(run.out / "metrics.csv");
  ASSERT_EQ(metrics.size(), 3u);  // header and one row per epoch
  EXPECT_EQ(metrics[0][0], "epoch");
  EXPECT_NE(std::find(metrics[0].begin(), metrics[0].end(), "test_accuracy"), metrics[0].end());
  EXPECT_EQ(metrics[1][0], "1");
  EXPECT_EQ(metrics[2][0], "2");
  const auto test_loss_column = std::find(metrics[0].begin(), metrics[0].end(), "test_loss");
  ASSERT_NE(test_loss_column, metrics[0].end());
  const auto column = static_cast<size_t>(test_loss_column - metrics[0].begin());
  for (size_t i = 0; i < 2; ++i) {
    const double logged = std::stod(metrics[i + 1][column]);
    const double printed = run.epochs.at(i).at("test_loss").get<double>();
    EXPECT_NEAR(logged, printed, 1e-5 * std::fabs(printed));
  }

  const auto load = read_csv(run.out / "expert_load.csv");
  ASSERT_EQ(load.size(), 1u + 2 * 8);  // one row per (epoch, expert)
  EXPECT_EQ(load[0], (std::vector<std::string>{"epoch", "expert", "fraction"}));

  for (const char* plot : {"loss", "accuracy", "expert_load"}) {
    const fs::path png = run.out / (std::string(plot) + ".png");
    // The script is there either way, so the plot can be drawn later.
    EXPECT_GT(fs::file_size(run.out / (std::string(plot) + ".gp")), 0u) << plot;
    if (mg::train::gnuplot_available()) {
      ASSERT_TRUE(fs::exists(png)) << png;
      EXPECT_GT(fs::file_size(png), 0u) << png;
    }
  }
  // The write probe is gone again.
  EXPECT_FALSE(fs::exists(run.out / ".mixgrad-write-test"));
}

TEST(CliEval, ReproducesTheLastEpochsTestMetric) {
  const MoERun& run = moe_run();
  ASSERT_EQ(run.result.exit_code, 0) << run.result;
  ASSERT_EQ(run.epochs.size(), 2u);
  const CommandResult r = eval_json("fashion-moe", run.out / "checkpoint.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r;
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r;
  const json j = json::parse(lines[0], nullptr, false);
  ASSERT_TRUE(j.is_object()) << lines[0];
  EXPECT_EQ(j.at("model"), "fashion-moe");
  EXPECT_EQ(j.at("epochs_done").get<int64_t>(), 2);
  EXPECT_EQ(j.at("items").get<int64_t>(), 200);
  EXPECT_EQ(j.at("dropped").get<int64_t>(), 0);
  // Same weights, same data, same batches: the same numbers to the last bit.
  EXPECT_EQ(j.at("test_loss").get<double>(), run.epochs[1].at("test_loss").get<double>());
  EXPECT_EQ(j.at("test_accuracy").get<double>(), run.epochs[1].at("test_accuracy").get<double>());

  // The human form says the same.
  const CommandResult human =
      run_mixgrad({"eval", "fashion-moe", "--checkpoint",
                   (run.out / "checkpoint.safetensors").string(), "--data", data_dir()});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_NE(human.out.find("test accuracy"), std::string::npos) << human;
}

TEST(CliTrain, ResumeContinuesWhereTheCheckpointEnded) {
  const MoERun& run = moe_run();
  ASSERT_EQ(run.result.exit_code, 0) << run.result;
  TempDir scratch;
  const fs::path out = scratch.dir() / "fm";
  fs::copy(run.out, out, fs::copy_options::recursive);
  const fs::path checkpoint = out / "checkpoint.safetensors";
  {
    SCOPED_TRACE("a model of another shape than the checkpoint's");
    const fs::path elsewhere = scratch.dir() / "other";
    expect_user_error(train("fashion-moe", elsewhere,
                            {"--resume", checkpoint.string(), "--epochs", "3", "--experts", "4"}),
                      {"--experts 8", "cannot resume"});
    expect_no_checkpoint(elsewhere);
  }
  const CommandResult r =
      train("fashion-moe", out, {"--resume", checkpoint.string(), "--epochs", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r;  // epoch 3 only
  const json j = json::parse(lines[0], nullptr, false);
  ASSERT_TRUE(j.is_object()) << lines[0];
  EXPECT_EQ(j.at("epoch").get<int64_t>(), 3);
  // The settings not given again come from the checkpoint (batch 32, not the default 256), so
  // the learning-rate schedule goes on where it stopped; the header on stderr shows them.
  EXPECT_NE(r.err.find("epochs 3, batch 32, lr 0.002"), std::string::npos) << r;

  const auto metrics = read_csv(out / "metrics.csv");
  ASSERT_EQ(metrics.size(), 4u);
  for (size_t i = 1; i <= 3; ++i) EXPECT_EQ(metrics[i][0], std::to_string(i));
  EXPECT_EQ(read_csv(out / "expert_load.csv").size(), 1u + 3 * 8);

  const CommandResult e = eval_json("fashion-moe", checkpoint);
  ASSERT_EQ(e.exit_code, 0) << e;
  const json ej = json::parse(e.out, nullptr, false);
  ASSERT_TRUE(ej.is_object()) << e;
  EXPECT_EQ(ej.at("epochs_done").get<int64_t>(), 3);
  EXPECT_EQ(ej.at("test_loss").get<double>(), j.at("test_loss").get<double>());
}

TEST(CliTrain, QuietPrintsNothing) {
  TempDir scratch;
  const fs::path out = scratch.dir() / "mlp";
  const CommandResult r = train("fashion-mlp", out, {"--epochs", "1", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r;
  // Nothing but errors, on either stream: no header, progress or summary.
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(fs::exists(out / "checkpoint.safetensors"));
  EXPECT_FALSE(fs::exists(out / "expert_load.csv"));  // a dense model has no expert load
  const CommandResult e =
      run_mixgrad({"eval", "fashion-mlp", "--checkpoint", (out / "checkpoint.safetensors").string(),
                   "--data", data_dir(), "--quiet"});
  ASSERT_EQ(e.exit_code, 0) << e;
  EXPECT_EQ(e.out, "");
  EXPECT_EQ(e.err, "");
}

TEST(CliGraph, WritesDotWithParameterNames) {
  TempDir scratch;
  const std::string dot = scratch.path("step.dot");
  const CommandResult r = run_mixgrad({"graph", "fashion-moe", "--out", dot, "--data", data_dir()});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string text = mg::testing::read_file(dot);
  EXPECT_NE(text.find("digraph"), std::string::npos);
  for (const char* name : {"stem.weight", "head.weight", "moe.experts.w1", "moe.experts.w2"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  EXPECT_FALSE(fs::exists(scratch.path("step.svg")));
}

TEST(CliGraph, SvgThroughGraphviz) {
  if (!mg::testing::program_on_path("dot")) GTEST_SKIP() << "Graphviz `dot` is not installed";
  TempDir scratch;
  const std::string dot = scratch.path("step.dot");
  const CommandResult r =
      run_mixgrad({"graph", "fashion-moe", "--out", dot, "--svg", "--data", data_dir()});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string svg = mg::testing::read_file(scratch.path("step.svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("stem.weight"), std::string::npos);
}
