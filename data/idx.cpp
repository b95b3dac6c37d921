#include "data/idx.h"

#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/dispatch.h"
#include "data/file_bytes.h"
#include "data/file_stream.h"
#include "ops/creation.h"

namespace mixgrad::data {

namespace {

using internal::byte_offset;
using internal::fail;

struct ElementType {
  uint8_t code;
  const char* name;
  std::size_t size;
  bool floating;
};

constexpr ElementType kUByte{0x08, "ubyte", 1, false};
constexpr ElementType kElementTypes[] = {kUByte,
                                         {0x09, "byte", 1, false},
                                         {0x0B, "int16", 2, false},
                                         {0x0C, "int32", 4, false},
                                         {0x0D, "float32", 4, true},
                                         {0x0E, "float64", 8, true}};

constexpr std::size_t kPrefixBytes = 4;  // magic (2), element type, dimension count

// A parsed, size-checked IDX file whose elements are still raw big-endian bytes.
struct IdxFile {
  std::string path;
  std::vector<unsigned char> bytes;  // the header, then the elements (decompressed when gzipped)
  const ElementType* type = nullptr;
  Shape shape;
  std::size_t data_offset = 0;
  int64_t numel = 0;
};

template <class T>
T load_big_endian(const unsigned char* p) {
  using Bits = std::conditional_t<
      sizeof(T) == 1, uint8_t,
      std::conditional_t<sizeof(T) == 2, uint16_t,
                         std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
  Bits bits = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) bits = static_cast<Bits>((bits << 8) | p[i]);
  return std::bit_cast<T>(bits);
}

const ElementType* find_element_type(uint8_t code) {
  for (const ElementType& t : kElementTypes)
    if (t.code == code) return &t;
  return nullptr;
}

std::string hex_byte(unsigned value) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string("0x") + kDigits[(value >> 4) & 0xF] + kDigits[value & 0xF];
}

// Reads the header, then exactly the bytes its sizes need, then checks that nothing follows: a
// gzip file that inflates to far more than its header says costs no more than the header says.
IdxFile parse_idx(const char* op, const std::string& path) {
  internal::FileStream in(op, path);
  const bool gz = in.gzipped();
  IdxFile f;
  f.path = path;
  std::vector<unsigned char>& b = f.bytes;
  in.read(b, kPrefixBytes);
  if (b.size() < kPrefixBytes)
    fail(op, path, "truncated header: ", b.size(), " bytes, but the IDX header needs at least ",
         kPrefixBytes);
  if (b[0] != 0 || b[1] != 0)
    fail(op, path, "bad magic ", hex_byte(b[0]), hex_byte(b[1]).substr(2), " at ",
         byte_offset(0, gz), ": an IDX file starts with 0x0000");
  f.type = find_element_type(b[2]);
  if (!f.type)
    fail(op, path, "unknown element type ", hex_byte(b[2]), " at ", byte_offset(2, gz),
         " (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)");
  const std::size_t ndims = b[3];
  if (ndims == 0) fail(op, path, "0 dimensions declared at ", byte_offset(3, gz));
  f.data_offset = kPrefixBytes + 4 * ndims;
  in.read(b, f.data_offset - kPrefixBytes);
  if (b.size() < f.data_offset)
    fail(op, path, "truncated header: ", ndims, " dimensions need a ", f.data_offset,
         "-byte header, but the data ends at ", byte_offset(b.size(), gz));
  for (std::size_t d = 0; d < ndims; ++d)
    f.shape.push_back(load_big_endian<uint32_t>(b.data() + kPrefixBytes + 4 * d));
  const std::size_t expected = internal::checked_data_bytes(op, path, f.shape, f.type->size);
  in.read(b, expected);
  const std::size_t data_bytes = b.size() - f.data_offset;
  if (data_bytes < expected)
    fail(op, path, "truncated data: shape ", f.shape, " of ", f.type->name, " needs ", expected,
         " bytes from ", byte_offset(f.data_offset, gz), ", but only ", data_bytes, " remain");
  if (!in.at_end())
    fail(op, path, "trailing data after the last element of shape ", f.shape, ", starting at ",
         byte_offset(f.data_offset + expected, gz));
  f.numel = static_cast<int64_t>(expected / f.type->size);
  return f;
}

// Calls f.template operator()<S>() with S the C++ type of the file's elements.
template <class F>
void visit_element_type(const ElementType& type, F&& f) {
  switch (type.code) {
    case 0x08:
      return f.template operator()<uint8_t>();
    case 0x09:
      return f.template operator()<int8_t>();
    case 0x0B:
      return f.template operator()<int16_t>();
    case 0x0C:
      return f.template operator()<int32_t>();
    case 0x0D:
      return f.template operator()<float>();
    default:
      return f.template operator()<double>();
  }
}

// A tensor of dtype `dtype` holding convert(element) for every element of the file.
template <class Convert>
Tensor decode(const char* op, const IdxFile& f, DType dtype, Convert&& convert) {
  Tensor out = internal::empty_for_file(op, f.path, f.shape, dtype);
  const unsigned char* src = f.bytes.data() + f.data_offset;
  dispatch_dtype(dtype, op, [&]<class D>() {
    D* dst = out.data_ptr<D>();
    visit_element_type(*f.type, [&]<class S>() {
      for (int64_t i = 0; i < f.numel; ++i)
        dst[i] = static_cast<D>(convert(load_big_endian<S>(src + i * sizeof(S))));
    });
  });
  return out;
}

constexpr auto kAsIs = [](auto v) { return v; };

}  // namespace

Tensor read_idx(const std::string& path, std::optional<DType> dtype) {
  const char* op = "read_idx";
  const IdxFile f = parse_idx(op, path);
  const DType natural = !f.type->floating ? kInt32 : f.type->code == 0x0D ? kFloat32 : kFloat64;
  const DType out = dtype.value_or(natural);
  if (out != kFloat32 && out != kFloat64 && out != kInt32 && out != kInt64)
    fail(op, path, "cannot read as ", dtype_name(out), ": choose float32, float64, int32 or int64");
  if (f.type->floating && !is_floating(out))
    fail(op, path, "cannot read ", f.type->name, " elements as ", dtype_name(out),
         " (the values would be truncated)");
  return decode(op, f, out, kAsIs);
}

Tensor read_idx_images(const std::string& path) {
  const char* op = "read_idx_images";
  const IdxFile f = parse_idx(op, path);
  if (f.type->code != kUByte.code)
    fail(op, path, "images must be ubyte (0x08), found ", f.type->name, " (",
         hex_byte(f.type->code), ")");
  if (f.shape.size() < 2) fail(op, path, "images need >= 2 dims [N, H, ...], found ", f.shape);
  return decode(op, f, kFloat32, [](auto v) { return static_cast<float>(v) / 255.0f; });
}

Tensor read_idx_labels(const std::string& path) {
  const char* op = "read_idx_labels";
  const IdxFile f = parse_idx(op, path);
  if (f.type->floating)
    fail(op, path, "labels must have an integer element type, found ", f.type->name);
  if (f.shape.size() != 1) fail(op, path, "labels must be 1-D [N], found shape ", f.shape);
  return decode(op, f, kInt64, kAsIs);
}

}  // namespace mixgrad::data
