#pragma once
// The JSON header of a safetensors file: encoding on save, decoding and validation on load.
// Used by io/safetensors.cpp; kept apart so every rule of the format lives in one place.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace mixgrad::io::safetensors_format {

// Limits on what a header may ask of the reader, each refused with an Error that names the
// constant. The header is checked against them and parsed (in time linear in its size) before
// anything else is allocated.
//
// Header bytes: the reference implementation refuses larger headers, so files with them are not
// portable. Parsing a header of this size can take about a gigabyte (a JSON value in memory is
// ten times its text or more).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Header entries (tensors, plus "__metadata__"): far more than any model stores in one file, and
// a cost in line with kMaxHeaderBytes: about 1 KiB of memory per entry while loading (parsed
// JSON, the tensor's bookkeeping), some 20 us each on a busy core. save_safetensors refuses to
// write more.
inline constexpr std::size_t kMaxHeaderEntries = 1'000'000;

// One tensor's header entry; offsets are bytes relative to the start of the data buffer.
struct TensorEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Header {
  std::vector<TensorEntry> entries;  // ordered by position in the data buffer
  std::map<std::string, std::string> metadata;
};

// Where a problem was found: errors read "<op>: <source>: <problem>".
struct ErrorContext {
  std::string op;
  std::string source;

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw Error(op, ::mixgrad::detail::concat(source, ": ", parts...));
  }
  template <class... Parts>
  void check(bool ok, const Parts&... parts) const {
    if (!ok) fail(parts...);
  }
};

// The safetensors name of a dtype mixgrad can store ("F32"); throws for Float16/BFloat16.
const char* dtype_code(DType dtype, const ErrorContext& at);

// Header text listing `entries` in the given order (after "__metadata__" when `metadata` is not
// empty), padded with spaces to a multiple of 8 bytes so the data buffer starts aligned.
// Throws when a name or metadata string is not valid UTF-8 or the header grows past the limit.
std::string encode_header(const std::vector<TensorEntry>& entries,
                          const std::map<std::string, std::string>& metadata,
                          const ErrorContext& at);

// Parses `text` (the header bytes) and checks every rule of the format against a data buffer
// of `data_size` bytes: at most kMaxHeaderEntries entries, a JSON object with unique keys, entries
// with exactly dtype/shape/ data_offsets, a dtype mixgrad can hold, non-negative integer dims whose
// byte size fits and matches the offsets, offsets tiling the data buffer exactly (no gap, overlap
// or trailing bytes), and string-to-string metadata. Throws Error naming the tensor and what was
// expected.
Header decode_header(std::string_view text, uint64_t data_size, const ErrorContext& at);

}  // namespace mixgrad::io::safetensors_format
