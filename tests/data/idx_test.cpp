#include "data/idx.h"

#include <sys/resource.h>
#include <zlib.h>

#include <bit>
#include <cstdint>
#include <limits>

#include "common/test_util.h"
#include "temp_dir.h"

namespace mg = mixgrad;
using mg::testing::expect_values;
using mg::testing::TempDir;
using Bytes = std::vector<uint8_t>;

namespace {

void append_big_endian(Bytes& out, uint64_t bits, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i)
    out.push_back(static_cast<uint8_t>(bits >> (8 * (size - 1 - i))));
}

// An IDX file: magic, element type `code`, the sizes, then `values` as big-endian T.
template <class T>
Bytes idx_file(uint8_t code, const std::vector<uint32_t>& sizes, const std::vector<T>& values) {
  Bytes out{0, 0, code, static_cast<uint8_t>(sizes.size())};
  for (uint32_t s : sizes) append_big_endian(out, s, 4);
  for (T v : values) {
    using Bits = std::conditional_t<
        sizeof(T) == 1, uint8_t,
        std::conditional_t<sizeof(T) == 2, uint16_t,
                           std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
    append_big_endian(out, std::bit_cast<Bits>(v), sizeof(T));
  }
  return out;
}

// Writes `bytes` gzip-compressed with zlib's own gzip writer.
std::string write_gzip(const TempDir& dir, const std::string& name, const Bytes& bytes) {
  const std::string path = dir.path(name);
  gzFile f = gzopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  EXPECT_EQ(gzclose(f), Z_OK);
  return path;
}

template <class T>
std::vector<double> as_doubles(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Every element type, plain and gzip-compressed, gives the stored values in the default dtype.
template <class T>
void expect_round_trip(const TempDir& dir, uint8_t code, const std::vector<T>& values,
                       mg::DType expected_dtype) {
  SCOPED_TRACE(testing::Message() << "element type 0x" << std::hex << int{code});
  const Bytes file = idx_file<T>(code, {2, 3}, values);
  // Neither name says gzip: compression is recognised by its magic bytes alone.
  for (const std::string& path :
       {dir.write("plain.idx", file), write_gzip(dir, "packed.idx", file)}) {
    const mg::Tensor t = mg::data::read_idx(path);
    EXPECT_EQ(t.dtype(), expected_dtype);
    expect_values(t, {2, 3}, as_doubles(values));
  }
}

std::string error_of(const std::string& path) {
  try {
    mg::data::read_idx(path);
  } catch (const mg::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return "";
}

// The file is rejected with `message` (and its path); gzip-compressed, with the same message
// whose offsets are marked as offsets into the decompressed data.
void expect_idx_error(const TempDir& dir, const Bytes& file, const std::string& message) {
  const std::string path = dir.write("bad.idx", file);
  const std::string plain = error_of(path);
  EXPECT_NE(plain.find(message), std::string::npos) << plain;
  EXPECT_NE(plain.find(path), std::string::npos) << plain;
  const std::string gz_path = write_gzip(dir, "bad.gz", file);
  std::string packed = error_of(gz_path);
  const std::string marker = " of the decompressed data";
  EXPECT_EQ(packed.find(marker) != std::string::npos,
            plain.find("byte offset") != std::string::npos)
      << packed;
  for (std::size_t at; (at = packed.find(marker)) != std::string::npos;)
    packed.erase(at, marker.size());
  packed.replace(packed.find(gz_path), gz_path.size(), path);
  EXPECT_EQ(packed, plain);
}

}  // namespace

TEST(ReadIdx, EveryElementTypePlainAndGzip) {
  TempDir dir;
  expect_round_trip<uint8_t>(dir, 0x08, {0, 1, 127, 128, 254, 255}, mg::kInt32);
  expect_round_trip<int8_t>(dir, 0x09, {-128, -1, 0, 1, 100, 127}, mg::kInt32);
  expect_round_trip<int16_t>(dir, 0x0B, {-32768, -300, 0, 1, 300, 32767}, mg::kInt32);
  expect_round_trip<int32_t>(dir, 0x0C,
                             {std::numeric_limits<int32_t>::min(), -70000, 0, 1, 70000,
                              std::numeric_limits<int32_t>::max()},
                             mg::kInt32);
  expect_round_trip<float>(dir, 0x0D, {-1.5f, 0.0f, 0.1f, 3.25f, 1e30f, -2e-30f}, mg::kFloat32);
  expect_round_trip<double>(dir, 0x0E, {-1.5, 0.0, 0.1, 3.25, 1e300, -2e-300}, mg::kFloat64);
}

TEST(ReadIdx, RequestedDtypes) {
  TempDir dir;
  const std::string bytes = dir.write("u8.idx", idx_file<uint8_t>(0x08, {3}, {0, 7, 255}));
  expect_values(mg::data::read_idx(bytes, mg::kInt64), {3}, {0, 7, 255});
  EXPECT_EQ(mg::data::read_idx(bytes, mg::kInt64).dtype(), mg::kInt64);
  expect_values(mg::data::read_idx(bytes, mg::kFloat64), {3}, {0, 7, 255});
  const std::string floats = dir.write("f32.idx", idx_file<float>(0x0D, {2}, {0.5f, -2.0f}));
  expect_values(mg::data::read_idx(floats, mg::kFloat64), {2}, {0.5, -2.0});
  EXPECT_MG_ERROR(mg::data::read_idx(floats, mg::kInt32),
                  "cannot read float32 elements as int32 (the values would be truncated)");
  EXPECT_MG_ERROR(mg::data::read_idx(bytes, mg::kBool), "cannot read as bool");
}

TEST(ReadIdx, ZeroSizedDimensionGivesAnEmptyTensor) {
  TempDir dir;
  const mg::Tensor t =
      mg::data::read_idx(dir.write("empty.idx", idx_file<uint8_t>(0x08, {0, 28, 28}, {})));
  EXPECT_EQ(t.shape(), (mg::Shape{0, 28, 28}));
}

TEST(ReadIdx, MalformedHeaders) {
  TempDir dir;
  expect_idx_error(dir, {0x01, 0x00, 0x08, 0x01, 0, 0, 0, 1, 5},
                   "bad magic 0x0100 at byte offset 0");
  expect_idx_error(dir, {0, 0, 0x0A, 1, 0, 0, 0, 1, 5},
                   "unknown element type 0x0A at byte offset 2");
  expect_idx_error(dir, {0, 0, 0x08, 0}, "0 dimensions declared at byte offset 3");
  expect_idx_error(dir, {0, 0, 0x08},
                   "truncated header: 3 bytes, but the IDX header needs at least 4");
  expect_idx_error(dir, {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0},
                   "truncated header: 3 dimensions need a 16-byte header, but the data ends at "
                   "byte offset 10");
  EXPECT_MG_ERROR(mg::data::read_idx(dir.path("missing.idx")),
                  "cannot open file: No such file or directory");
}

TEST(ReadIdx, DataLengthMustMatchTheSizes) {
  TempDir dir;
  Bytes file = idx_file<int16_t>(0x0B, {2, 3}, {1, 2, 3, 4, 5, 6});  // 12-byte header, 12 data
  Bytes truncated(file.begin(), file.end() - 1);
  expect_idx_error(dir, truncated,
                   "truncated data: shape [2, 3] of int16 needs 12 bytes from byte offset 12, but "
                   "only 11 remain");
  Bytes trailing = file;
  trailing.push_back(0);
  expect_idx_error(dir, trailing,
                   "trailing data after the last element of shape [2, 3], starting at byte "
                   "offset 24");
  // The 24-byte file of issue 17: int32 [0, 65536, 65536, 65536, 65536] would be "empty", but its
  // strides overflow (a later sum over dim 0 then indexed out of bounds).
  expect_idx_error(dir, {0, 0, 0x08, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0},
                   "shape [0, 65536, 65536, 65536, 65536] has more elements than int64 can count");
  // Sizes whose product overflows int64 are refused as such, not wrapped around.
  const uint32_t huge = 0xFFFFFFFF;
  expect_idx_error(dir, idx_file<uint8_t>(0x08, {huge, huge, huge}, {1, 2}),
                   "shape [4294967295, 4294967295, 4294967295] has more elements than int64 can "
                   "count");
}

TEST(ReadIdx, GzipWithSeveralMembers) {
  // `cat a.gz b.gz` is a valid gzip file of the concatenated contents; here the header and the
  // first values go in one member and the rest in another.
  TempDir dir;
  std::vector<int32_t> values(70000);
  for (int32_t i = 0; i < 70000; ++i) values[i] = i * 3 - 1000;
  const Bytes file = idx_file<int32_t>(0x0C, {70000}, values);
  const std::size_t split = 1000;
  Bytes both =
      mg::testing::read_bytes(write_gzip(dir, "a.gz", Bytes(file.begin(), file.begin() + split)));
  const Bytes second =
      mg::testing::read_bytes(write_gzip(dir, "b.gz", Bytes(file.begin() + split, file.end())));
  both.insert(both.end(), second.begin(), second.end());
  expect_values(mg::data::read_idx(dir.write("both.gz", both)), {70000},
                std::vector<double>(values.begin(), values.end()));
}

TEST(ReadIdx, EveryTruncationIsAnError) {
  TempDir dir;
  const Bytes file = idx_file<int16_t>(0x0B, {2, 3}, {1, 2, 3, 4, 5, 6});
  for (std::size_t length = 0; length < file.size(); ++length) {
    SCOPED_TRACE(testing::Message() << "first " << length << " bytes");
    EXPECT_MG_ERROR(
        mg::data::read_idx(dir.write("cut.idx", Bytes(file.begin(), file.begin() + length))),
        "truncated");
  }
}

TEST(ReadIdx, CorruptAndTruncatedGzip) {
  TempDir dir;
  const std::string good = write_gzip(dir, "good.gz", idx_file<uint8_t>(0x08, {4}, {1, 2, 3, 4}));
  Bytes packed = mg::testing::read_bytes(good);
  const Bytes cut(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(packed.size() / 2));
  EXPECT_MG_ERROR(mg::data::read_idx(dir.write("cut.gz", cut)), "truncated gzip stream");
  Bytes garbage{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0xFF, 0xFF, 0xFF, 0xFF};
  EXPECT_MG_ERROR(mg::data::read_idx(dir.write("garbage.gz", garbage)), "corrupt gzip stream");
}

// `bytes` as one gzip member, compressed in memory.
Bytes gzip_member(const Bytes& bytes) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, bytes.size()));
  zs.next_in = const_cast<uint8_t*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The process's peak resident memory so far, in bytes.
std::size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;
}

// A 1 MB file whose header promises 16 bytes and whose gzip data inflates to 1 GiB: the reader
// inflates no more than the header's bytes plus one to find the trailing data (it used to
// inflate everything first: 1.5 GiB of RSS and 10+ s for the 1.5 MB file).
TEST(ReadIdx, GzipBombIsRefusedAfterTheHeadersBytes) {
  TempDir dir;
  Bytes bomb = gzip_member(idx_file<uint8_t>(0x08, {16}, std::vector<uint8_t>(16, 7)));
  const Bytes zeros = gzip_member(Bytes(std::size_t{16} << 20, 0));  // 16 MiB in ~16 KB
  for (int member = 0; member < 64; ++member) bomb.insert(bomb.end(), zeros.begin(), zeros.end());
  ASSERT_LT(bomb.size(), std::size_t{2} << 20);
  const std::string path = dir.write("bomb.idx.gz", bomb);
  const std::size_t peak_before = peak_rss_bytes();
  EXPECT_MG_ERROR(mg::data::read_idx(path),
                  "trailing data after the last element of shape [16], starting at byte offset "
                  "24 of the decompressed data");
  EXPECT_LT(peak_rss_bytes() - peak_before, std::size_t{64} << 20)
      << "the reader inflated far more than the header's 24 bytes";
  // The same members behind a header that asks for all of them make a valid file.
  Bytes whole = gzip_member(idx_file<uint8_t>(0x08, {2, 1 << 23}, {}));
  whole.insert(whole.end(), zeros.begin(), zeros.end());
  const mg::Tensor t = mg::data::read_idx(dir.write("whole.idx.gz", whole), mg::kInt32);
  EXPECT_EQ(t.shape(), (mg::Shape{2, 1 << 23}));
  EXPECT_EQ(t.sum().item<int64_t>(), 0);
}

TEST(ReadIdxImages, ScalesBytesToUnitRange) {
  TempDir dir;
  const std::string path =
      dir.write("images.idx", idx_file<uint8_t>(0x08, {2, 1, 2}, {0, 51, 255, 128}));
  const mg::Tensor images = mg::data::read_idx_images(path);
  EXPECT_EQ(images.dtype(), mg::kFloat32);
  expect_values(images, {2, 1, 2},
                {0.0, 51.0f / 255.0f, 1.0, static_cast<double>(128.0f / 255.0f)});
  EXPECT_MG_ERROR(
      mg::data::read_idx_images(dir.write("i16.idx", idx_file<int16_t>(0x0B, {1, 1}, {1}))),
      "images must be ubyte (0x08), found int16 (0x0B)");
  EXPECT_MG_ERROR(
      mg::data::read_idx_images(dir.write("flat.idx", idx_file<uint8_t>(0x08, {2}, {1, 2}))),
      "images need >= 2 dims [N, H, ...], found [2]");
}

TEST(ReadIdxLabels, IntegerVectorAsInt64) {
  TempDir dir;
  const mg::Tensor labels = mg::data::read_idx_labels(
      dir.write("labels.idx", idx_file<uint8_t>(0x08, {4}, {7, 0, 9, 3})));
  EXPECT_EQ(labels.dtype(), mg::kInt64);
  expect_values(labels, {4}, {7, 0, 9, 3});
  EXPECT_MG_ERROR(mg::data::read_idx_labels(dir.write("f.idx", idx_file<float>(0x0D, {1}, {1.0f}))),
                  "labels must have an integer element type, found float32");
  EXPECT_MG_ERROR(
      mg::data::read_idx_labels(dir.write("2d.idx", idx_file<uint8_t>(0x08, {1, 2}, {1, 2}))),
      "labels must be 1-D [N], found shape [1, 2]");
}
