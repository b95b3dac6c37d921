// Malformed safetensors files: every one is refused with an Error that names the file and the
// problem, and no input makes the loader crash or read out of bounds.
#include <string>

#include "io/io_test_util.h"
#include "io/safetensors.h"

namespace mg = mixgrad;
using mg::testing::little_endian;
using mg::testing::read_bytes;
using mg::testing::safetensors_bytes;
using mg::testing::ScratchDir;
using mg::testing::write_bytes;

namespace {

// A file holding one tensor "t" described by `entry` (JSON), followed by `data`.
std::string one_tensor(const std::string& entry, const std::string& data) {
  return safetensors_bytes(R"({"t":)" + entry + "}", data);
}

class CorruptFile : public ::testing::Test {
 protected:
  // Loading `bytes` throws an Error that names the file and contains `problem`.
  void expect_rejected(const std::string& bytes, const std::string& problem) {
    SCOPED_TRACE("expected problem: " + problem);
    write_bytes(path_, bytes);
    try {
      mg::io::load_safetensors(path_);
      ADD_FAILURE() << "the file was accepted";
    } catch (const mg::Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("load_safetensors: " + path_ + ": ", 0), 0u) << message;
      EXPECT_NE(message.find(problem), std::string::npos) << message;
    }
  }

  ScratchDir dir_;
  std::string path_ = dir_.path("corrupt.safetensors");
};

const std::string kFourBytes("\x00\x00\x80\x3f", 4);
const std::string kEightBytes = kFourBytes + kFourBytes;

}  // namespace

TEST_F(CorruptFile, UnreadableFiles) {
  EXPECT_MG_ERROR(mg::io::load_safetensors(dir_.path("absent.safetensors")),
                  "absent.safetensors: cannot open file: No such file or directory");
  EXPECT_MG_ERROR(mg::io::load_safetensors(dir_.dir().string()), "is a directory");
}

TEST_F(CorruptFile, HeaderLength) {
  expect_rejected("", "file is 0 bytes, too short for the 8-byte header length");
  expect_rejected(std::string("\x02\0\0", 3), "file is 3 bytes, too short");
  expect_rejected(little_endian(100, 8) + "{}", "header length 100 runs past the end of the file");
  expect_rejected(little_endian(100'000'001, 8) + "{}",
                  "header length 100000001 exceeds the format's limit of 100000000 bytes");
  expect_rejected(little_endian(UINT64_MAX, 8), "exceeds the format's limit");
  expect_rejected(little_endian(0, 8), "header does not start with '{'");
}

TEST_F(CorruptFile, HeaderJson) {
  expect_rejected(safetensors_bytes(R"({"t":)"), "header is not valid JSON");
  expect_rejected(safetensors_bytes(R"({} x)"), "header is not valid JSON");
  expect_rejected(safetensors_bytes(std::string("{}\0\0", 4)),
                  "header contains a NUL byte at offset 2");
  expect_rejected(safetensors_bytes(std::string("{}\0{\"x\":1}", 10)), "NUL byte");
  expect_rejected(safetensors_bytes("{\"\xff\":1}"), "header is not valid JSON");
  expect_rejected(safetensors_bytes(R"([1, 2])"), "header does not start with '{'");
  expect_rejected(safetensors_bytes(R"( {})"), "header does not start with '{'");
  expect_rejected(safetensors_bytes(R"("{}")"), "header does not start with '{'");
  expect_rejected(safetensors_bytes(R"({"t":[[[[[[[[]]]]]]]]})"), "deeper than the format allows");
  const std::string entry = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  expect_rejected(safetensors_bytes(R"({"t":)" + entry + R"(,"t":)" + entry + "}", kEightBytes),
                  "duplicate tensor name 't'");
  expect_rejected(
      one_tensor(R"({"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]})", kFourBytes),
      "duplicate key 'dtype'");
}

TEST_F(CorruptFile, EntryFields) {
  expect_rejected(one_tensor(R"([1])", ""), "tensor 't': expected an object");
  expect_rejected(one_tensor(R"({"dtype":"F32","shape":[1]})", kFourBytes),
                  "tensor 't': missing field 'data_offsets'");
  expect_rejected(one_tensor(R"({"shape":[1],"data_offsets":[0,4]})", kFourBytes),
                  "tensor 't': missing field 'dtype'");
  expect_rejected(one_tensor(R"({"dtype":"F32","data_offsets":[0,4]})", kFourBytes),
                  "tensor 't': missing field 'shape'");
  expect_rejected(
      one_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1})", kFourBytes),
      "tensor 't': unexpected field 'extra'");
}

TEST_F(CorruptFile, DTypes) {
  expect_rejected(one_tensor(R"({"dtype":"Q7","shape":[1],"data_offsets":[0,4]})", kFourBytes),
                  "tensor 't': unknown dtype \"Q7\" (supported: F32, F64, I32, I64, BOOL)");
  expect_rejected(one_tensor(R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})", kFourBytes),
                  "unknown dtype \"f32\"");
  expect_rejected(one_tensor(R"({"dtype":32,"shape":[1],"data_offsets":[0,4]})", kFourBytes),
                  "tensor 't': dtype must be a string, found 32");
  for (const char* code : {"F16", "BF16", "U8", "I8", "U64", "F8_E4M3"}) {
    expect_rejected(
        one_tensor(std::string(R"({"dtype":")") + code + R"(","shape":[2],"data_offsets":[0,4]})",
                   kFourBytes),
        std::string("tensor 't': dtype ") + code +
            " is a valid safetensors dtype that mixgrad cannot hold yet");
  }
}

TEST_F(CorruptFile, Shapes) {
  auto with_shape = [](const std::string& shape) {
    return one_tensor(R"({"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,4]})",
                      kFourBytes);
  };
  expect_rejected(with_shape("[-1]"),
                  "tensor 't': shape[0] must be a non-negative integer, "
                  "found -1");
  expect_rejected(with_shape("[1, 1.5]"), "shape[1] must be a non-negative integer, found 1.5");
  expect_rejected(with_shape("[1.0]"), "shape[0] must be a non-negative integer, found 1.0");
  expect_rejected(with_shape(R"(["1"])"), "found \"1\"");
  expect_rejected(with_shape("[null]"), "found null");
  expect_rejected(with_shape("3"), "tensor 't': shape must be an array of sizes, found 3");
  expect_rejected(with_shape("[99999999999999999999]"), "must be a non-negative integer");
  expect_rejected(with_shape("[9223372036854775808]"),
                  "shape[0] = 9223372036854775808 is too large");
  // Sizes whose product overflows (checked_numel), even next to a 0 that makes the tensor empty.
  const std::string overflow = " has more elements than int64 can count";
  expect_rejected(with_shape("[4294967296, 4294967296, 4]"),
                  "tensor 't': shape [4294967296, 4294967296, 4]" + overflow);
  expect_rejected(with_shape("[4611686018427387904, 2]"), overflow);
  expect_rejected(with_shape("[0, 4294967296, 4294967296]"), overflow);
  expect_rejected(with_shape("[0, 65536, 65536, 65536, 65536]"), overflow);
  // Elements fit but their bytes exceed what mixgrad allocates (checked_nbytes); and a size that
  // fits but disagrees with the offsets.
  expect_rejected(one_tensor(R"({"dtype":"F64","shape":[2305843009213693952, 2],)"
                             R"("data_offsets":[0,4]})",
                             kFourBytes),
                  "tensor 't': 4611686018427387904 elements of 8 bytes exceed the largest tensor "
                  "mixgrad allocates");
  expect_rejected(with_shape("[1152921504606846976]"), "exceed the largest tensor");
  expect_rejected(with_shape("[288230376151711744]"),
                  "hold 4 bytes but shape [288230376151711744] of F32 needs 1152921504606846976");
}

TEST_F(CorruptFile, DataOffsets) {
  auto with_offsets = [](const std::string& offsets, const std::string& data) {
    return one_tensor(R"({"dtype":"F32","shape":[2],"data_offsets":)" + offsets + "}", data);
  };
  expect_rejected(with_offsets("[0]", kEightBytes),
                  "tensor 't': data_offsets must be a pair [begin, end], found [0]");
  expect_rejected(with_offsets("[0, 4, 8]", kEightBytes), "must be a pair");
  expect_rejected(with_offsets(R"({"begin":0})", kEightBytes), "must be a pair");
  expect_rejected(with_offsets("[-8, 0]", kEightBytes),
                  "data_offsets begin must be a non-negative integer, found -8");
  expect_rejected(with_offsets("[0, 8.0]", kEightBytes),
                  "data_offsets end must be a non-negative integer, found 8.0");
  expect_rejected(with_offsets("[8, 0]", kEightBytes), "data_offsets [8, 0] end before they begin");
  expect_rejected(with_offsets("[0, 16]", kEightBytes),
                  "data_offsets [0, 16] reach past the end of the 8-byte data buffer");
  expect_rejected(with_offsets("[0, 18446744073709551615]", kEightBytes), "reach past the end");
  expect_rejected(with_offsets("[0, 4]", kFourBytes),
                  "tensor 't': data_offsets [0, 4] hold 4 bytes but shape [2] of F32 needs 8");
}

TEST_F(CorruptFile, OffsetsMustTileTheDataBuffer) {
  auto two = [](const std::string& a, const std::string& b, const std::string& data) {
    return safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)" + a +
                                 R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":)" + b + "}}",
                             data);
  };
  const std::string twelve = kEightBytes + kFourBytes;
  expect_rejected(two("[0, 8]", "[4, 12]", twelve),
                  "tensor 'b' data_offsets [4, 12] overlap tensor 'a', which ends at 8");
  expect_rejected(two("[0, 8]", "[0, 8]", kEightBytes), "overlap tensor 'a'");
  expect_rejected(two("[0, 8]", "[12, 20]", twelve + kEightBytes),
                  "gap of 4 unused bytes in the data buffer before tensor 'b' (bytes 8 to 12)");
  expect_rejected(two("[8, 16]", "[12, 20]", twelve + kEightBytes),
                  "gap of 8 unused bytes in the data buffer before tensor 'a'");
  expect_rejected(two("[0, 8]", "[8, 16]", kEightBytes + kEightBytes + "x"),
                  "1 bytes of trailing data after the last tensor (the tensors end at byte 16 of a "
                  "17-byte data buffer)");
  expect_rejected(safetensors_bytes("{}", "junk"), "4 bytes of trailing data");
  // Empty tensors take no bytes and may sit anywhere on the boundaries.
  write_bytes(path_, safetensors_bytes(R"({"e":{"dtype":"I64","shape":[0,3],"data_offsets":[8,8]},)"
                                       R"("z":{"dtype":"I32","shape":[2,0],"data_offsets":[0,0]},)"
                                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                       kEightBytes));
  auto file = mg::io::load_safetensors(path_);
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].first, "z");
  EXPECT_EQ(file.tensors[1].first, "a");
  EXPECT_EQ(file.tensors[2].first, "e");
  EXPECT_EQ(file.tensors[2].second.shape(), (mg::Shape{0, 3}));
}

TEST_F(CorruptFile, Metadata) {
  expect_rejected(safetensors_bytes(R"({"__metadata__":{"k":1}})"),
                  "metadata value for key 'k' must be a string, found 1");
  expect_rejected(safetensors_bytes(R"({"__metadata__":{"a":"x","b":["y"]}})"),
                  "metadata value for key 'b' must be a string, found [\"y\"]");
  expect_rejected(safetensors_bytes(R"({"__metadata__":"pt"})"),
                  "__metadata__ must be an object of strings, found \"pt\"");
}

TEST_F(CorruptFile, BoolBytesMustBeZeroOrOne) {
  expect_rejected(one_tensor(R"({"dtype":"BOOL","shape":[3],"data_offsets":[0,3]})",
                             std::string("\x01\x00\x02", 3)),
                  "tensor 't' (BOOL) holds byte value 2 at element 2; expected 0 or 1");
}

TEST_F(CorruptFile, LongValuesAreShortenedInMessages) {
  const std::string long_dtype(1000, 'A');
  write_bytes(path_, one_tensor(R"({"dtype":")" + long_dtype +
                                    R"(","shape":[1],)"
                                    R"("data_offsets":[0,4]})",
                                kFourBytes));
  try {
    mg::io::load_safetensors(path_);
    ADD_FAILURE() << "the file was accepted";
  } catch (const mg::Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u) << e.what();
    EXPECT_NE(std::string(e.what()).find("unknown dtype \"AAAA"), std::string::npos);
  }
}

// A valid file cut at every byte position is always refused cleanly.
TEST_F(CorruptFile, EveryTruncationIsAnError) {
  const std::string full_path = dir_.path("full.safetensors");
  mg::io::save_safetensors(full_path,
                           {{"w", mg::randn({3, 2})},
                            {"mask", mg::tensor({true, false, true})},
                            {"step", mg::scalar_tensor(5, mg::kInt64)},
                            {"empty", mg::zeros({0})},
                            {"ids", mg::tensor({4, 2}, mg::kInt32)}},
                           {{"format", "pt"}});
  const std::string bytes = read_bytes(full_path);
  ASSERT_GT(bytes.size(), 100u);
  for (size_t size = 0; size < bytes.size(); ++size) {
    SCOPED_TRACE("truncated to " + std::to_string(size) + " bytes");
    write_bytes(path_, bytes.substr(0, size));
    EXPECT_MG_ERROR(mg::io::load_safetensors(path_), path_);
  }
  write_bytes(path_, bytes);
  EXPECT_EQ(mg::io::load_safetensors(path_).tensors.size(), 5u);
}

// Flipping bits anywhere in a valid file either still gives a valid file or an Error: never a
// crash, an out-of-bounds read (under the sanitizer build) or another exception type.
TEST_F(CorruptFile, BitFlipsNeverCrash) {
  const std::string full_path = dir_.path("full.safetensors");
  mg::io::save_safetensors(full_path,
                           {{"w", mg::randn({2, 2}, mg::kFloat64)},
                            {"mask", mg::tensor({true, false})},
                            {"ids", mg::tensor({int64_t{7}, int64_t{-1}})}},
                           {{"k", "v"}});
  const std::string bytes = read_bytes(full_path);
  int accepted = 0, refused = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char mask : {0x01, 0xff}) {
      std::string mutated = bytes;
      mutated[i] = static_cast<char>(static_cast<unsigned char>(mutated[i]) ^ mask);
      write_bytes(path_, mutated);
      try {
        mg::io::load_safetensors(path_);
        ++accepted;
      } catch (const mg::Error&) {
        ++refused;
      }
    }
  }
  // Flips in the float data are harmless; flips in the length, structure or bool bytes are not.
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}
