// The safetensors header parser: linear in the number of entries, and the limits
// kMaxHeaderEntries and kMaxHeaderBytes, each refused with an Error that names it.
#include "io/safetensors_header.h"

#include <algorithm>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "io/io_test_util.h"
#include "io/safetensors.h"

namespace mixgrad::io::safetensors_format {
namespace {

const ErrorContext kAt{"test", "header"};

// A header of `count` one-element F32 tensors laid out back to back.
std::string header_of(std::size_t count) {
  std::string text = "{";
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) text += ",";
    text += "\"layer" + std::to_string(i) + ".weight\":{\"dtype\":\"F32\",\"shape\":[1],";
    text += "\"data_offsets\":[" + std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
  }
  return text + "}";
}

// A large header decodes completely. Its cost (linear in the entry count; the old parse callback
// took 11 s for 40k entries) is a benchmark, not a test: BM_SafetensorsHeaderDecode in
// bench/foundation_bench.cpp.
TEST(SafetensorsHeader, FortyThousandEntriesDecode) {
  constexpr std::size_t kEntries = 40'000;
  const Header decoded = decode_header(header_of(kEntries), 4 * kEntries, kAt);
  ASSERT_EQ(decoded.entries.size(), kEntries);
}

TEST(SafetensorsHeader, EntryCountIsLimited) {
  std::string header = "{";
  for (std::size_t i = 0; i <= kMaxHeaderEntries; ++i)
    header += (i > 0 ? ",\"" : "\"") + std::to_string(i) + "\":0";
  header += "}";
  EXPECT_MG_ERROR(decode_header(header, 0, kAt),
                  "test: header: header has more than the limit of 1000000 entries "
                  "(kMaxHeaderEntries)");
  // Nor does the writer produce such a file.
  const std::vector<TensorEntry> entries(kMaxHeaderEntries + 1);
  EXPECT_MG_ERROR(encode_header(entries, {}, kAt),
                  "header of 1000001 entries exceeds the limit of 1000000 entries "
                  "(kMaxHeaderEntries)");
}

TEST(SafetensorsHeader, HeaderBytesAreLimited) {
  testing::ScratchDir dir;
  const std::string path = dir.path("long_header.safetensors");
  testing::write_bytes(path, testing::little_endian(kMaxHeaderBytes + 1, 8) + "{}");
  EXPECT_MG_ERROR(load_safetensors(path),
                  "header length 100000001 exceeds the format's limit of 100000000 bytes "
                  "(kMaxHeaderBytes)");
}

// Duplicates are found in every object, however deep, without nlohmann's silent overwrite.
TEST(SafetensorsHeader, DuplicateKeysAtEveryLevel) {
  EXPECT_MG_ERROR(decode_header(R"({"a":{},"b":{},"a":{}})", 0, kAt), "duplicate tensor name 'a'");
  EXPECT_MG_ERROR(decode_header(R"({"a":{"dtype":"F32","shape":[],"dtype":"F32"}})", 0, kAt),
                  "duplicate key 'dtype' inside an entry");
  EXPECT_MG_ERROR(decode_header(R"({"a":{"shape":{"x":1,"x":2}}})", 0, kAt), "duplicate key 'x'");
  EXPECT_MG_ERROR(decode_header(R"({"__metadata__":{"k":"1","k":"2"}})", 0, kAt),
                  "duplicate key 'k'");
}

}  // namespace
}  // namespace mixgrad::io::safetensors_format
