// Checkpoints written in parts (io/sharded_checkpoint.h), in one process: parts made by hand
// join into the one-process checkpoint, a save is committed by its manifest alone, and every
// inconsistency between the parts is an Error naming it.
#include "io/sharded_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "io/io_test_util.h"
#include "io/safetensors.h"
#include "mixgrad.h"

namespace mixgrad::io {
namespace {

namespace fs = std::filesystem;
using mixgrad::testing::expect_bitwise_equal;
using mixgrad::testing::ScratchDir;

// A tiny "model": a gate, experts stacked along dim 0 (4 of them, 2 per part), an optimizer
// state with a stacked buffer and a shared one.
struct Whole {
  Tensor gate = arange(6, kFloat64).reshape({2, 3});
  Tensor experts = arange(24, kFloat32).reshape({4, 3, 2});
  Tensor experts_avg = arange(24, kFloat32).reshape({4, 3, 2}) * 0.5;
  Tensor gate_avg = full({2, 3}, 0.25, kFloat64);
};

CheckpointPart shared_part(const Whole& w) {
  CheckpointPart p;
  p.contents.module_state = {{"gate.weight", w.gate}};
  p.contents.optimizer_tensors = {{"state.0.0.exp_avg", w.gate_avg}};
  p.contents.optimizer_scalars = {{"group.0.params", "2"}, {"state.0.1.step", "3"}};
  p.contents.metadata = {{"epoch", "7"}};
  return p;
}

CheckpointPart experts_part(const Whole& w, int64_t first) {
  CheckpointPart p;
  p.contents.module_state = {{"experts.weight", w.experts.narrow(0, first, 2)}};
  p.contents.optimizer_tensors = {{"state.0.1.exp_avg", w.experts_avg.narrow(0, first, 2)}};
  p.rows = {{"experts.weight", {first, 4}},
            {std::string(kOptimizerPrefix) + "state.0.1.exp_avg", {first, 4}}};
  return p;
}

// Writes the three parts of generation `g` and commits them.
void save_parts(const std::string& dir, const Whole& w, const std::string& g) {
  write_checkpoint_part(dir, "experts-1", g, experts_part(w, 2));  // any order
  write_checkpoint_part(dir, "shared", g, shared_part(w));
  write_checkpoint_part(dir, "experts-0", g, experts_part(w, 0));
  write_checkpoint_manifest(dir, g, {"shared", "experts-0", "experts-1"});
}

Tensor find(const NamedTensors& list, const std::string& name) {
  for (const auto& [n, t] : list)
    if (n == name) return t;
  return {};
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    for (const std::string& w : words)
      EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what() << "\n  lacks: " << w;
  }
}

TEST(ShardedCheckpoint, PartsJoinIntoTheOneProcessCheckpoint) {
  ScratchDir dir;
  Whole w;
  save_parts(dir.path(""), w, "g1");
  ASSERT_TRUE(is_sharded_checkpoint(dir.path("")));
  const CheckpointContents c = read_checkpoint(dir.path(""));
  ASSERT_EQ(c.module_state.size(), 2u);
  EXPECT_EQ(c.module_state[0].first, "gate.weight");  // the parts' order, as the manifest lists
  EXPECT_EQ(c.module_state[1].first, "experts.weight");
  expect_bitwise_equal(find(c.module_state, "gate.weight"), w.gate);
  expect_bitwise_equal(find(c.module_state, "experts.weight"), w.experts);
  expect_bitwise_equal(find(c.optimizer_tensors, "state.0.1.exp_avg"), w.experts_avg);
  expect_bitwise_equal(find(c.optimizer_tensors, "state.0.0.exp_avg"), w.gate_avg);
  EXPECT_EQ(c.optimizer_scalars,
            (std::map<std::string, std::string>{{"group.0.params", "2"}, {"state.0.1.step", "3"}}));
  EXPECT_EQ(c.metadata, (std::map<std::string, std::string>{{"epoch", "7"}}));

  // merge_checkpoint writes what read_checkpoint gives, as one ordinary checkpoint file.
  const std::string merged = dir.path("merged.safetensors");
  merge_checkpoint(dir.path(""), merged);
  EXPECT_FALSE(is_sharded_checkpoint(merged));
  const CheckpointContents m = read_checkpoint(merged);
  ASSERT_EQ(m.module_state.size(), c.module_state.size());
  for (size_t i = 0; i < m.module_state.size(); ++i) {
    EXPECT_EQ(m.module_state[i].first, c.module_state[i].first);
    expect_bitwise_equal(m.module_state[i].second, c.module_state[i].second);
  }
  ASSERT_EQ(m.optimizer_tensors.size(), c.optimizer_tensors.size());
  EXPECT_EQ(m.optimizer_scalars, c.optimizer_scalars);
  EXPECT_EQ(m.metadata, c.metadata);
  EXPECT_EQ(load_safetensors(merged).metadata.at("format"), "pt");  // what PyTorch loaders expect

  // The scalars and metadata alone, from the headers, agree with the whole read.
  for (const std::string& path : {dir.path(""), merged}) {
    const CheckpointContents header = read_checkpoint_metadata(path);
    EXPECT_TRUE(header.module_state.empty());
    EXPECT_TRUE(header.optimizer_tensors.empty());
    EXPECT_EQ(header.optimizer_scalars, c.optimizer_scalars);
    EXPECT_EQ(header.metadata, c.metadata);
  }
}

TEST(ShardedCheckpoint, LoadsIntoAModule) {
  ScratchDir dir;
  manual_seed(3);
  nn::Linear saved(3, 2), restored(3, 2);
  CheckpointPart weight, bias;
  weight.contents.module_state = {{"weight", saved.weight.narrow(0, 0, 1)}};
  weight.rows = {{"weight", {0, 2}}};
  bias.contents.module_state = {{"bias", saved.bias}, {"weight", saved.weight.narrow(0, 1, 1)}};
  bias.rows = {{"weight", {1, 2}}};
  write_checkpoint_part(dir.path(""), "a", "g", weight);
  write_checkpoint_part(dir.path(""), "b", "g", bias);
  write_checkpoint_manifest(dir.path(""), "g", {"a", "b"});
  load_checkpoint(dir.path(""), restored);
  expect_bitwise_equal(restored.weight, saved.weight);
  expect_bitwise_equal(restored.bias, saved.bias);
}

TEST(ShardedCheckpoint, OnlyTheManifestCommitsASave) {
  ScratchDir dir;
  Whole first, second;
  second.gate = second.gate + 100;
  save_parts(dir.path(""), first, "gen-a");
  // A save that wrote its parts but died before its manifest: the first checkpoint stands.
  write_checkpoint_part(dir.path(""), "shared", "gen-b", shared_part(second));
  write_checkpoint_part(dir.path(""), "experts-0", "gen-b", experts_part(second, 0));
  expect_bitwise_equal(find(read_checkpoint(dir.path("")).module_state, "gate.weight"), first.gate);
  // The next complete save replaces it and removes every other generation's parts, and the
  // temporary files of saves killed while writing a part.
  dir.write_text("part-shared.gen-x.safetensors.tmp-99999-0", "partial");
  dir.write_text("notes.txt", "the user's");
  save_parts(dir.path(""), second, "gen-c");
  expect_bitwise_equal(find(read_checkpoint(dir.path("")).module_state, "gate.weight"),
                       second.gate);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.path(""))) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{
                       "manifest.json", "notes.txt", "part-experts-0.gen-c.safetensors",
                       "part-experts-1.gen-c.safetensors", "part-shared.gen-c.safetensors"}));
}

TEST(ShardedCheckpoint, InconsistentPartsAreErrors) {
  Whole w;
  // Each case: parts to write (name, part), and the words of the Error reading them gives.
  struct Case {
    const char* what;
    std::vector<std::pair<std::string, CheckpointPart>> parts;
    std::vector<std::string> words;
  };
  CheckpointPart gap = experts_part(w, 0);
  CheckpointPart overlap = experts_part(w, 1);
  overlap.rows[std::string(kOptimizerPrefix) + "state.0.1.exp_avg"] = {2, 4};
  CheckpointPart other_total = experts_part(w, 2);
  other_total.rows["experts.weight"] = {2, 5};
  CheckpointPart other_dtype = experts_part(w, 2);
  other_dtype.contents.module_state[0].second = w.experts.narrow(0, 2, 2).to(kFloat64);
  CheckpointPart twice = shared_part(w);
  twice.contents.metadata.clear();
  twice.contents.module_state.clear();
  twice.contents.optimizer_tensors.clear();
  twice.contents.optimizer_scalars = {{"state.0.1.step", "4"}};
  CheckpointPart whole_and_rows = experts_part(w, 2);
  whole_and_rows.rows.erase("experts.weight");
  CheckpointPart late = experts_part(w, 2);
  const std::vector<Case> cases = {
      {"a gap", {{"shared", shared_part(w)}, {"e0", gap}}, {"experts.weight", "end at 2 of 4"}},
      {"a gap at the start", {{"e1", late}}, {"experts.weight", "leave out [0, 2)"}},
      {"an overlap",
       {{"shared", shared_part(w)}, {"e0", experts_part(w, 0)}, {"e1", overlap}},
       {"experts.weight", "overlap"}},
      {"two totals",
       {{"e0", experts_part(w, 0)}, {"e1", other_total}},
       {"experts.weight", "disagree", "4", "5"}},
      {"two dtypes",
       {{"e0", experts_part(w, 0)}, {"e1", other_dtype}},
       {"experts.weight", "differ", "float64", "'e1'"}},
      {"a tensor in two parts",
       {{"shared", shared_part(w)}, {"again", shared_part(w)}},
       {"'gate.weight'", "'shared'", "'again'"}},
      {"whole and rows",
       {{"e0", experts_part(w, 0)}, {"e1", whole_and_rows}},
       {"experts.weight", "whole", "rows"}},
      {"two scalars", {{"shared", shared_part(w)}, {"s", twice}}, {"state.0.1.step", "3", "4"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ScratchDir dir;
    std::vector<std::string> names;
    for (const auto& [name, part] : c.parts) {
      write_checkpoint_part(dir.path(""), name, "g", part);
      names.push_back(name);
    }
    write_checkpoint_manifest(dir.path(""), "g", names);
    std::vector<std::string> words = c.words;
    words.push_back(dir.path(""));
    expect_error([&] { read_checkpoint(dir.path("")); }, words);
  }
}

TEST(ShardedCheckpoint, BrokenDirectoriesAreErrors) {
  Whole w;
  {
    SCOPED_TRACE("a part the manifest names is missing");
    ScratchDir dir;
    save_parts(dir.path(""), w, "g");
    fs::remove(dir.path("part-experts-1.g.safetensors"));
    expect_error([&] { read_checkpoint(dir.path("")); }, {"part-experts-1.g.safetensors"});
  }
  {
    SCOPED_TRACE("a part of another generation under the manifest's name");
    ScratchDir dir;
    save_parts(dir.path(""), w, "g");
    write_checkpoint_part(dir.path(""), "x", "h", shared_part(w));
    fs::rename(dir.path("part-x.h.safetensors"), dir.path("part-shared.g.safetensors"));
    expect_error([&] { read_checkpoint(dir.path("")); }, {"generation 'g'"});
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> manifests = {
      {"{", {"malformed manifest"}},
      {"[]", {"not a manifest"}},
      {R"({"format": "mixgrad sharded checkpoint", "version": 2, "generation": "g",
           "parts": ["shared"]})",
       {"version 2", "reads version 1"}},
      {R"({"format": "mixgrad sharded checkpoint", "version": 1, "generation": "g",
           "parts": []})",
       {"no parts"}},
      {R"({"format": "mixgrad sharded checkpoint", "version": 1, "generation": "g",
           "parts": ["../../etc/passwd"]})",
       {"malformed part name"}},
      {R"({"format": "mixgrad sharded checkpoint", "version": 1, "generation": "g",
           "parts": ["a", "a"]})",
       {"twice"}},
      {R"({"format": "mixgrad sharded checkpoint", "version": 1, "parts": ["a"]})",
       {"malformed manifest"}},
  };
  for (const auto& [text, words] : manifests) {
    SCOPED_TRACE(text);
    ScratchDir dir;
    dir.write_text("manifest.json", text);
    std::vector<std::string> with_path = words;
    with_path.push_back("manifest.json");
    expect_error([&] { read_checkpoint(dir.path("")); }, with_path);
  }
  {
    SCOPED_TRACE("a directory without a manifest is no checkpoint");
    ScratchDir dir;
    EXPECT_FALSE(is_sharded_checkpoint(dir.path("")));
    expect_error([&] { read_checkpoint(dir.path("")); }, {dir.path("")});
  }
}

TEST(ShardedCheckpoint, MalformedRowsInAPartAreErrors) {
  // Parts written by hand with the format's keys: numbers that do not parse or fit, and rows that
  // would overflow the range arithmetic.
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"99999999999999999999:4", "malformed rows"},
      {"1:2:3", "malformed rows"},
      {"-1:4", "malformed rows"},
      {"0x1:4", "malformed rows"},
      {"9223372036854775806:9223372036854775807", "outside"},
  };
  for (const auto& [text, words] : rows) {
    SCOPED_TRACE(text);
    ScratchDir dir;
    save_safetensors(dir.path("part-p.g.safetensors"), {{"w", zeros({2, 3})}},
                     {{"__part__.generation", "g"}, {"__part__.rows.w", text}});
    write_checkpoint_manifest(dir.path(""), "g", {"p"});
    expect_error([&] { read_checkpoint(dir.path("")); }, {words});
  }
}

TEST(ShardedCheckpoint, WritingRefusesWhatItCannotReadBack) {
  ScratchDir dir;
  Whole w;
  CheckpointPart bad_rows = experts_part(w, 0);
  bad_rows.rows["experts.weight"] = {3, 4};  // 2 rows from 3 do not fit in 4
  expect_error([&] { write_checkpoint_part(dir.path(""), "p", "g", bad_rows); },
               {"experts.weight", "rows [3"});
  CheckpointPart unknown = shared_part(w);
  unknown.rows["nothing"] = {0, 1};
  expect_error([&] { write_checkpoint_part(dir.path(""), "p", "g", unknown); }, {"'nothing'"});
  CheckpointPart reserved = shared_part(w);
  reserved.contents.metadata["__part__.generation"] = "x";
  expect_error([&] { write_checkpoint_part(dir.path(""), "p", "g", reserved); },
               {"__part__.generation", "reserves"});
  expect_error([&] { write_checkpoint_part(dir.path(""), "a/b", "g", shared_part(w)); },
               {"part name 'a/b'"});
  expect_error([&] { write_checkpoint_manifest(dir.path(""), "g", {"never-written"}); },
               {"part-never-written.g.safetensors", "missing"});
  EXPECT_FALSE(fs::exists(dir.path("manifest.json")));
}

}  // namespace
}  // namespace mixgrad::io
