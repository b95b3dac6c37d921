#include "io/safetensors.h"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "io/io_test_util.h"

namespace mg = mixgrad;
using mg::NamedTensors;
using mg::Tensor;
using mg::testing::expect_bitwise_equal;
using mg::testing::expect_values;
using mg::testing::little_endian;
using mg::testing::read_bytes;
using mg::testing::safetensors_bytes;
using mg::testing::ScratchDir;
using mg::testing::write_bytes;

namespace {

// A small model state: parameters of several shapes, an optimizer step, a mask, counters.
NamedTensors model_state() {
  mg::Generator gen(7);
  return {
      {"embed.weight", mg::randn({10, 4}, {}, &gen)},
      {"layers.0.weight", mg::randn({4, 4}, {}, &gen)},
      {"layers.0.bias", mg::randn({4}, {}, &gen)},
      {"router.logits", mg::randn({3, 2}, mg::kFloat64, &gen)},
      {"mask", mg::tensor({true, false, true, true, false})},
      {"step", mg::scalar_tensor(12, mg::kInt64)},
      {"counts", mg::tensor({3, 0, 7}, mg::kInt32)},
      {"unused", mg::zeros({0, 4})},
  };
}

void expect_same_tensors(const NamedTensors& actual, const NamedTensors& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    expect_bitwise_equal(actual[i].second, expected[i].second);
    EXPECT_TRUE(actual[i].second.is_contiguous());
  }
}

}  // namespace

TEST(Safetensors, RoundTripsEveryDTypeAndLayoutBitwise) {
  ScratchDir dir;
  const float inf = std::numeric_limits<float>::infinity();
  auto base = mg::arange(20, mg::kInt64).view({4, 5});
  NamedTensors tensors = {
      {"f32", mg::randn({3, 4})},
      {"f64", mg::randn({2, 3, 2}, mg::kFloat64)},
      {"i32",
       mg::tensor({1, -2, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()},
                  mg::kInt32)},
      {"i64", mg::tensor({int64_t{1} << 40, int64_t{-3}, std::numeric_limits<int64_t>::min()})},
      {"bool", mg::tensor({true, false, true, true})},
      {"specials", mg::tensor({-0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN()})},
      {"scalar_f32", mg::scalar_tensor(3.5, mg::kFloat32)},
      {"scalar_i64", mg::scalar_tensor(-9, mg::kInt64)},
      {"empty_rows", mg::zeros({0, 3})},
      {"empty_middle", mg::zeros({2, 0, 4}, mg::kInt64)},
      {"transposed", mg::randn({4, 5}, mg::kFloat64).t()},
      {"strided", base.slice(1, 0, 5, 2)},
      {"expanded", mg::tensor({1.f, 2.f}).unsqueeze(0).expand({3, 2})},
      {"requires_grad", mg::randn({2, 2}).requires_grad_()},
  };
  ASSERT_FALSE(tensors[10].second.is_contiguous());
  ASSERT_FALSE(tensors[11].second.is_contiguous());
  const std::string path = dir.path("all.safetensors");
  mg::io::save_safetensors(path, tensors);
  mg::io::SafetensorsFile loaded = mg::io::load_safetensors(path);
  expect_same_tensors(loaded.tensors, tensors);
  EXPECT_TRUE(loaded.metadata.empty());
  expect_values(loaded.tensors[11].second, {4, 3}, {0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19});
  EXPECT_FALSE(loaded.tensors[13].second.requires_grad());
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"all.safetensors"});
}

TEST(Safetensors, RoundTripsMetadata) {
  ScratchDir dir;
  const mg::io::StringMap metadata = {
      {"format", "pt"},
      {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"},
      {"escapes", "a\"b\\c\n\t"},
      {"empty", ""},
      {"__metadata__", "a key like the reserved one is fine inside"}};
  const std::string path = dir.path("meta.safetensors");
  mg::io::save_safetensors(path, {{"x", mg::ones({2})}}, metadata);
  auto loaded = mg::io::load_safetensors(path);
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), 1u);
  expect_values(loaded.tensors[0].second, {2}, {1, 1});

  EXPECT_EQ(mg::io::load_safetensors_metadata(path), metadata);  // the header alone
  // ... which is still checked against the file: cut short, the data it describes is missing.
  const std::string bytes = mg::testing::read_bytes(path);
  mg::testing::write_bytes(dir.path("short.safetensors"), bytes.substr(0, bytes.size() - 1));
  EXPECT_MG_ERROR(mg::io::load_safetensors_metadata(dir.path("short.safetensors")),
                  "short.safetensors");

  mg::io::save_safetensors(path, {}, metadata);  // metadata alone, no tensors
  loaded = mg::io::load_safetensors(path);
  EXPECT_EQ(loaded.metadata, metadata);
  EXPECT_TRUE(loaded.tensors.empty());
}

// Written byte by byte, independent of our writer: the header lists the tensors in a different
// order from their data, is padded with spaces, and values are spelled out as raw bytes.
TEST(Safetensors, ReadsAHandWrittenFileExactly) {
  ScratchDir dir;
  std::string header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[24,40]},)"
                       R"("__metadata__":{"format":"pt"},)"
                       R"("idx":{"shape":[3],"dtype":"I64","data_offsets":[0,24]}})";
  header += std::string((8 - header.size() % 8) % 8 + 8, ' ');  // over-padding is allowed too
  const std::string data = std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8) +  // idx: 1
                           std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8) +  //      -1
                           std::string("\x05\x00\x00\x00\x00\x01\x00\x00", 8) +  //      2^40 + 5
                           std::string("\x00\x00\x80\x3f", 4) +                  // w:   1.0f
                           std::string("\x00\x00\x20\xc0", 4) +                  //      -2.5f
                           std::string("\x00\x00\x00\x3f", 4) +                  //      0.5f
                           std::string("\x00\x00\x40\x40", 4);                   //      3.0f
  const std::string path = dir.path("hand.safetensors");
  write_bytes(path, safetensors_bytes(header, data));

  auto file = mg::io::load_safetensors(path);
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].first, "idx");  // data order
  EXPECT_EQ(file.tensors[0].second.dtype(), mg::kInt64);
  EXPECT_EQ(file.tensors[0].second.to_vector<int64_t>(),
            (std::vector<int64_t>{1, -1, (int64_t{1} << 40) + 5}));
  EXPECT_EQ(file.tensors[1].first, "w");
  EXPECT_EQ(file.tensors[1].second.dtype(), mg::kFloat32);
  expect_values(file.tensors[1].second, {2, 2}, {1.0, -2.5, 0.5, 3.0});
  EXPECT_EQ(file.metadata, (mg::io::StringMap{{"format", "pt"}}));
}

// The exact bytes the reference implementation produces for the same single tensor, and for
// an empty file: our output is interchangeable with it byte for byte.
TEST(Safetensors, WriterProducesTheExpectedBytes) {
  ScratchDir dir;
  const std::string path = dir.path("tiny.safetensors");
  mg::io::save_safetensors(path, {{"attn0", mg::arange(6, mg::kFloat32).view({1, 1, 2, 3})}});
  const std::string expected_header =
      R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})"
      "       ";  // 65 bytes of JSON padded to 72
  const std::string expected_data =
      std::string("\x00\x00\x00\x00", 4) + std::string("\x00\x00\x80\x3f", 4) +
      std::string("\x00\x00\x00\x40", 4) + std::string("\x00\x00\x40\x40", 4) +
      std::string("\x00\x00\x80\x40", 4) + std::string("\x00\x00\xa0\x40", 4);
  EXPECT_EQ(read_bytes(path),
            std::string("\x48\0\0\0\0\0\0\0", 8) + expected_header + expected_data);

  mg::io::save_safetensors(path, {{"a", mg::tensor({1.f, 2.f})}}, {{"k", "v"}});
  EXPECT_EQ(read_bytes(path), std::string("\x50\0\0\0\0\0\0\0", 8) +
                                  R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],)"
                                  R"("data_offsets":[0,8]}} )" +
                                  std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8));

  mg::io::save_safetensors(path, {});
  EXPECT_EQ(read_bytes(path), little_endian(8, 8) + "{}" + std::string(6, ' '));
}

// Checks a file of our writer against the format's rules with an independent JSON reading.
TEST(Safetensors, WrittenModelStateFollowsTheSpec) {
  ScratchDir dir;
  const std::string path = dir.path("model.safetensors");
  const NamedTensors state = model_state();
  mg::io::save_safetensors(path, state, {{"step", "12"}});
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i)
    header_size |= uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  EXPECT_EQ(header_size % 8, 0u);  // data starts 8-byte aligned
  ASSERT_LE(8 + header_size, bytes.size());
  const uint64_t data_size = bytes.size() - 8 - header_size;
  const auto header = nlohmann::json::parse(bytes.substr(8, header_size));
  ASSERT_TRUE(header.is_object());
  EXPECT_EQ(header["__metadata__"], (nlohmann::json{{"step", "12"}}));

  const std::map<std::string, uint64_t> item_size = {
      {"F32", 4}, {"F64", 8}, {"I32", 4}, {"I64", 8}, {"BOOL", 1}};
  uint64_t expected_begin = 0;
  for (const auto& [name, tensor] : state) {  // data in the given order, back to back
    SCOPED_TRACE(name);
    ASSERT_TRUE(header.contains(name));
    const auto& entry = header[name];
    EXPECT_EQ(entry.size(), 3u);
    const auto shape = entry["shape"].get<std::vector<int64_t>>();
    EXPECT_EQ(shape, tensor.shape());
    uint64_t numel = 1;
    for (int64_t d : shape) numel *= static_cast<uint64_t>(d);
    const auto offsets = entry["data_offsets"].get<std::vector<uint64_t>>();
    ASSERT_EQ(offsets.size(), 2u);
    EXPECT_EQ(offsets[0], expected_begin);
    EXPECT_EQ(offsets[1] - offsets[0], numel * item_size.at(entry["dtype"].get<std::string>()));
    expected_begin = offsets[1];
    EXPECT_EQ(bytes.substr(8 + header_size + offsets[0], offsets[1] - offsets[0]),
              mg::testing::element_bytes(tensor));
  }
  EXPECT_EQ(expected_begin, data_size);  // the offsets tile the data buffer exactly
  EXPECT_EQ(header.size(), state.size() + 1);
  expect_same_tensors(mg::io::load_safetensors(path).tensors, state);
}

TEST(Safetensors, SaveRejectsInvalidTensorLists) {
  ScratchDir dir;
  const std::string path = dir.path("bad.safetensors");
  auto x = mg::ones({2});
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"", x}}), "tensor #0 has an empty name");
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"a", x}, {"b", x}, {"a", x}}),
                  "duplicate tensor name 'a'");
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"__metadata__", x}}), "reserved");
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"a", Tensor()}}), "tensor 'a' is undefined");
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"bad\xff", x}}), "not valid UTF-8");
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"a", x}}, {{"k", "\xc3"}}), "not valid UTF-8");
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"h", mg::empty({2}, mg::DType::Float16)}}),
                  "cannot store dtype float16");
  EXPECT_MG_ERROR(mg::io::save_safetensors(path, {{"a", x}, {"a", x}}),
                  "save_safetensors: " + path + ": duplicate");
  EXPECT_TRUE(dir.listing().empty());
}

// ---- atomic replacement ----

class AtomicSave : public ::testing::Test {
 protected:
  void SetUp() override {
    mg::io::save_safetensors(path_, {{"old", mg::tensor({1.0, 2.0})}}, {{"v", "1"}});
    old_bytes_ = read_bytes(path_);
  }
  // The previous file is untouched and no temporary file was left behind.
  void expect_old_file_intact() {
    EXPECT_EQ(read_bytes(path_), old_bytes_);
    EXPECT_EQ(dir_.listing(), std::vector<std::string>{"model.safetensors"});
  }

  ScratchDir dir_;
  std::string path_ = dir_.path("model.safetensors");
  std::string old_bytes_;
};

TEST_F(AtomicSave, ReplacesTheFileCompletely) {
  mg::io::save_safetensors(path_, {{"new", mg::tensor({5, 6, 7})}});
  auto file = mg::io::load_safetensors(path_);
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors[0].first, "new");
  EXPECT_TRUE(file.metadata.empty());
  EXPECT_EQ(dir_.listing(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(AtomicSave, InvalidTensorListLeavesTheOldFile) {
  EXPECT_MG_ERROR(mg::io::save_safetensors(path_, {{"a", mg::ones({3})}, {"a", mg::ones({3})}}),
                  "duplicate tensor name");
  expect_old_file_intact();
}

// A write that fails midway (here: the process's file size limit, as a full disk would).
TEST_F(AtomicSave, FailedWriteLeavesTheOldFileAndNoTemporary) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 4096;
  auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of a signal
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  try {
    mg::io::save_safetensors(path_, {{"big", mg::zeros({100000})}});
  } catch (const mg::Error& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find("cannot write to"), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);
  EXPECT_TRUE(threw);
  expect_old_file_intact();
}

TEST_F(AtomicSave, FailedRenameRemovesTheTemporary) {
  const std::string target = dir_.path("occupied");
  std::filesystem::create_directory(target);
  write_bytes(target + "/keep", "x");
  EXPECT_MG_ERROR(mg::io::save_safetensors(target, {{"a", mg::ones({2})}}),
                  "cannot move into place");
  EXPECT_EQ(read_bytes(target + "/keep"), "x");
  EXPECT_EQ(dir_.listing(), (std::vector<std::string>{"model.safetensors", "occupied"}));
}

TEST_F(AtomicSave, MissingDirectoryIsAnError) {
  EXPECT_MG_ERROR(
      mg::io::save_safetensors(dir_.path("no/such/dir.safetensors"), {{"a", mg::ones({2})}}),
      "cannot create the temporary file");
  expect_old_file_intact();
}

TEST_F(AtomicSave, UnwritableDirectoryLeavesTheOldFile) {
  std::filesystem::permissions(
      dir_.dir(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  if (::access(dir_.dir().c_str(), W_OK) == 0) {  // root ignores permissions
    std::filesystem::permissions(dir_.dir(), std::filesystem::perms::owner_all);
    GTEST_SKIP() << "running with permission to write anywhere";
  }
  EXPECT_MG_ERROR(mg::io::save_safetensors(path_, {{"a", mg::ones({2})}}),
                  "cannot create the temporary file");
  std::filesystem::permissions(dir_.dir(), std::filesystem::perms::owner_all);
  expect_old_file_intact();
}

// ---- load_into ----

class LoadInto : public ::testing::Test {
 protected:
  void SetUp() override {
    mg::io::save_safetensors(path_,
                             {{"w", mg::tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})},
                              {"b", mg::tensor({0.5f, -0.5f, 1.5f})},
                              {"steps", mg::scalar_tensor(40, mg::kInt64)}},
                             {{"epoch", "3"}});
  }
  ScratchDir dir_;
  std::string path_ = dir_.path("state.safetensors");
};

TEST_F(LoadInto, CopiesIntoParametersInPlace) {
  auto w = mg::zeros({2, 3}).requires_grad_();
  auto b = mg::zeros({3}).requires_grad_();
  auto steps = mg::scalar_tensor(0, mg::kInt64);
  void* w_memory = w.data_ptr();
  const auto metadata = mg::io::load_into(path_, {{"w", w}, {"b", b}, {"steps", steps}});
  EXPECT_EQ(metadata, (mg::io::StringMap{{"epoch", "3"}}));
  expect_values(w, {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_values(b, {3}, {0.5, -0.5, 1.5});
  EXPECT_EQ(steps.item<int64_t>(), 40);
  EXPECT_EQ(w.data_ptr(), w_memory);  // same storage, updated in place
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  EXPECT_EQ(w.grad_fn(), nullptr);
  EXPECT_TRUE(mg::GradMode::is_enabled());
  // Still a working parameter: gradients reach it.
  (w * 2).sum().backward();
  expect_values(w.grad(), {2, 3}, {2, 2, 2, 2, 2, 2});
}

TEST_F(LoadInto, WritesThroughStridedViews) {
  auto big = mg::zeros({3, 4});
  auto view = big.slice(1, 0, 4, 2).t();  // [2, 3] over columns 0 and 2
  auto b = mg::zeros({3});
  mg::io::load_into(path_, {{"w", view}, {"b", b}}, /*strict=*/false);
  expect_values(big, {3, 4}, {1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6, 0});
}

TEST_F(LoadInto, ReportsEveryMismatchAtOnceAndChangesNothing) {
  auto w = mg::full({3, 2}, 9.0);             // shape differs
  auto b = mg::full({3}, 9.0, mg::kFloat64);  // dtype differs
  auto extra = mg::full({2}, 9.0);            // not in the file
  const uint64_t w_version = w.version();
  try {
    mg::io::load_into(path_, {{"w", w}, {"b", b}, {"extra", extra}});
    ADD_FAILURE() << "expected an Error";
  } catch (const mg::Error& e) {
    const std::string message = e.what();
    for (const char* part :
         {"load_into: ", "4 mismatch(es)", "no tensor was modified",
          "tensor 'w': shape [2, 3] in the file, [3, 2] expected",
          "tensor 'b': dtype float32 in the file, float64 expected",
          "missing tensor 'extra' (expected float32[2]", "unexpected tensor 'steps' (int64[]"})
      EXPECT_NE(message.find(part), std::string::npos) << "missing \"" << part << "\" in\n"
                                                       << message;
    EXPECT_NE(message.find(path_), std::string::npos);
  }
  expect_values(w, {3, 2}, {9, 9, 9, 9, 9, 9});
  expect_values(b, {3}, {9, 9, 9});
  EXPECT_EQ(w.version(), w_version);
}

TEST_F(LoadInto, StrictnessGovernsExtraTensorsOnly) {
  auto w = mg::zeros({2, 3});
  auto b = mg::zeros({3});
  EXPECT_MG_ERROR(mg::io::load_into(path_, {{"w", w}, {"b", b}}),
                  "1 mismatch(es) between the file and the targets; no tensor was modified:\n"
                  "  unexpected tensor 'steps' (int64[] on cpu)");
  expect_values(w, {2, 3}, {0, 0, 0, 0, 0, 0});
  mg::io::load_into(path_, {{"w", w}, {"b", b}}, /*strict=*/false);
  expect_values(w, {2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_MG_ERROR(mg::io::load_into(path_, {{"w", w}, {"nope", b}}, /*strict=*/false),
                  "missing tensor 'nope'");
}

TEST_F(LoadInto, RejectsUnusableTargets) {
  auto b = mg::zeros({3});
  auto expanded = mg::zeros({3}).unsqueeze(0).expand({2, 3});
  EXPECT_MG_ERROR(mg::io::load_into(path_, {{"w", expanded}, {"b", b}}, false),
                  "target 'w' (shape [2, 3], strides [0, 1]) has overlapping elements");
  EXPECT_MG_ERROR(mg::io::load_into(path_, {{"b", b}, {"b", b}}, false),
                  "target 'b' is listed more than once");
  EXPECT_MG_ERROR(mg::io::load_into(path_, {{"b", Tensor()}}, false),
                  "target 'b' is an undefined tensor");
  expect_values(b, {3}, {0, 0, 0});
  write_bytes(path_, "garbage!");
  EXPECT_MG_ERROR(mg::io::load_into(path_, {{"b", b}}), "load_into: " + path_ + ": header");
}
