#include "io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <unordered_set>

namespace mixgrad::io::safetensors_format {

namespace {

using nlohmann::json;

// Every dtype the format defines. Those without a mixgrad dtype are valid files that mixgrad
// cannot hold yet, which deserves a different message from a name nobody defined.
struct DTypeCode {
  const char* code;
  std::optional<DType> dtype;
};
constexpr DTypeCode kDTypeCodes[] = {
    {"BOOL", DType::Bool},     {"I32", DType::Int32},     {"I64", DType::Int64},
    {"F32", DType::Float32},   {"F64", DType::Float64},   {"U8", std::nullopt},
    {"I8", std::nullopt},      {"I16", std::nullopt},     {"U16", std::nullopt},
    {"U32", std::nullopt},     {"U64", std::nullopt},     {"F16", std::nullopt},
    {"BF16", std::nullopt},    {"F8_E4M3", std::nullopt}, {"F8_E5M2", std::nullopt},
    {"F8_E8M0", std::nullopt}, {"F6_E2M3", std::nullopt}, {"F6_E3M2", std::nullopt},
    {"F4", std::nullopt},      {"C64", std::nullopt},
};
constexpr const char* kSupportedCodes = "F32, F64, I32, I64, BOOL";

constexpr const char* kMetadataKey = "__metadata__";
constexpr int kMaxDepth = 2;  // root object > tensor entry > shape / data_offsets array

// A JSON value for an error message, cut short so a hostile header cannot flood it. Passed to
// ErrorContext::check as is, it is printed (by describe, found through ADL) only on failure:
// dumping values up front would cost as much as parsing them again.
struct Quoted {
  const json& value;
};
std::string describe(const Quoted& quoted) {
  std::string text = quoted.value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr std::size_t kMaxShown = 60;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

// A parsed header plus its root keys in file order, which nlohmann's sorted objects forget.
struct ParsedJson {
  json root;
  std::vector<std::string> keys;
};

// A first pass over the header that checks what nlohmann's parser does not: no duplicate key in
// any object (nlohmann keeps the last value silently, letting two readers disagree about a
// file), no nesting deeper than the format uses, at most kMaxHeaderEntries entries. It records
// the root keys in file order. Linear in the header's size: each key is looked up once in the
// hash set of its object (the parse callback this replaces made nlohmann rescan the parent
// object after every entry, quadratic in the entry count).
class KeyChecker final : public nlohmann::json_sax<json> {
 public:
  explicit KeyChecker(const ErrorContext& at) : at_(at) {}

  std::vector<std::string> take_root_keys() { return std::move(root_keys_); }

  bool start_object(std::size_t) override {
    open_container();
    objects_.emplace_back();
    return true;
  }
  bool end_object() override {
    objects_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    open_container();
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(std::string& name) override {
    if (depth_ == 1) {
      at_.check(root_keys_.size() < kMaxHeaderEntries, "header has more than the limit of ",
                kMaxHeaderEntries, " entries (kMaxHeaderEntries)");
      at_.check(objects_.back().insert(name).second, "duplicate tensor name '", name,
                "' in the header");
      root_keys_.push_back(name);
    } else {
      at_.check(objects_.back().insert(name).second, "duplicate key '", name, "' inside an entry");
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    at_.fail("header is not valid JSON: ", e.what());
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }

 private:
  void open_container() {
    at_.check(depth_ <= kMaxDepth, "header nests JSON values deeper than the format allows");
    ++depth_;
  }

  const ErrorContext& at_;
  int depth_ = 0;  // containers open around the current value
  std::vector<std::unordered_set<std::string>> objects_;  // keys of each open object
  std::vector<std::string> root_keys_;
};

// Parses the header in two linear passes: KeyChecker, then nlohmann's own parser without a
// callback, which builds the values.
ParsedJson parse_unique_keys(std::string_view text, const ErrorContext& at) {
  // nlohmann stops at a NUL byte as if the input ended there, which would hide what follows.
  const std::size_t nul = text.find('\0');
  at.check(nul == std::string_view::npos, "header contains a NUL byte at offset ", nul,
           " (not valid JSON text)");
  KeyChecker checker(at);
  json::sax_parse(text.begin(), text.end(), &checker);
  ParsedJson parsed;
  parsed.keys = checker.take_root_keys();
  try {
    parsed.root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    at.fail("header is not valid JSON: ", e.what());
  }
  return parsed;
}

// A non-negative JSON integer; `what` names the value in the error.
template <class... What>
uint64_t as_count(const json& value, const ErrorContext& at, const What&... what) {
  at.check(value.is_number_unsigned(), what..., " must be a non-negative integer, found ",
           Quoted{value});
  return value.get<uint64_t>();
}

DType decode_dtype(const json& value, const std::string& tensor, const ErrorContext& at) {
  at.check(value.is_string(), tensor, ": dtype must be a string, found ", Quoted{value});
  const auto& code = value.get_ref<const std::string&>();
  for (const DTypeCode& known : kDTypeCodes) {
    if (code != known.code) continue;
    at.check(known.dtype.has_value(), tensor, ": dtype ", code,
             " is a valid safetensors dtype that mixgrad cannot hold yet (supported: ",
             kSupportedCodes, ")");
    return *known.dtype;
  }
  at.fail(tensor, ": unknown dtype ", Quoted{value}, " (supported: ", kSupportedCodes, ")");
}

Shape decode_shape(const json& value, const std::string& tensor, const ErrorContext& at) {
  at.check(value.is_array(), tensor, ": shape must be an array of sizes, found ", Quoted{value});
  Shape shape;
  for (std::size_t d = 0; d < value.size(); ++d) {
    const uint64_t size = as_count(value[d], at, tensor, ": shape[", d, "]");
    at.check(size <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), tensor, ": shape[",
             d, "] = ", size, " is too large");
    shape.push_back(static_cast<int64_t>(size));
  }
  return shape;
}

// Bytes the tensor's elements occupy, by the checked shape arithmetic of core/shape.h: the
// product of the sizes (zeros counted as 1, since strides are computed from it) within int64,
// the bytes within what mixgrad allocates.
uint64_t byte_size(const Shape& shape, DType dtype, const std::string& tensor,
                   const ErrorContext& at) {
  const char* op = at.op.c_str();
  try {
    return checked_nbytes(checked_numel(shape, op), dtype_size(dtype), op);
  } catch (const Error& e) {
    std::string_view detail = e.what();
    if (e.op() == at.op) detail.remove_prefix(std::min(detail.size(), at.op.size() + 2));
    at.fail(tensor, ": ", detail);
  }
}

TensorEntry decode_entry(const std::string& name, const json& value, uint64_t data_size,
                         const ErrorContext& at) {
  const std::string tensor = "tensor '" + name + "'";
  at.check(value.is_object(), tensor, ": expected an object with dtype, shape and data_offsets, ",
           "found ", Quoted{value});
  for (const auto& field : value.items()) {
    const std::string& key = field.key();
    at.check(key == "dtype" || key == "shape" || key == "data_offsets", tensor,
             ": unexpected field '", key, "'");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"})
    at.check(value.contains(field), tensor, ": missing field '", field, "'");

  TensorEntry entry;
  entry.name = name;
  entry.dtype = decode_dtype(value["dtype"], tensor, at);
  entry.shape = decode_shape(value["shape"], tensor, at);
  const json& offsets = value["data_offsets"];
  at.check(offsets.is_array() && offsets.size() == 2, tensor,
           ": data_offsets must be a pair [begin, end], found ", Quoted{offsets});
  entry.begin = as_count(offsets[0], at, tensor, ": data_offsets begin");
  entry.end = as_count(offsets[1], at, tensor, ": data_offsets end");
  at.check(entry.begin <= entry.end, tensor, ": data_offsets [", entry.begin, ", ", entry.end,
           "] end before they begin");
  at.check(entry.end <= data_size, tensor, ": data_offsets [", entry.begin, ", ", entry.end,
           "] reach past the end of the ", data_size, "-byte data buffer");
  const uint64_t expected = byte_size(entry.shape, entry.dtype, tensor, at);
  at.check(entry.end - entry.begin == expected, tensor, ": data_offsets [", entry.begin, ", ",
           entry.end, "] hold ", entry.end - entry.begin, " bytes but shape ", entry.shape, " of ",
           dtype_code(entry.dtype, at), " needs ", expected);
  return entry;
}

std::map<std::string, std::string> decode_metadata(const json& value, const ErrorContext& at) {
  at.check(value.is_object(), kMetadataKey, " must be an object of strings, found ", Quoted{value});
  std::map<std::string, std::string> metadata;
  for (const auto& item : value.items()) {
    at.check(item.value().is_string(), "metadata value for key '", item.key(),
             "' must be a string, found ", Quoted{item.value()});
    metadata.emplace(item.key(), item.value().get<std::string>());
  }
  return metadata;
}

// Puts `entries` (in header order) in buffer order and checks that they tile [0, data_size)
// exactly: every byte belongs to one tensor. Empty tensors at one offset keep header order.
void check_tiling(std::vector<TensorEntry>& entries, uint64_t data_size, const ErrorContext& at) {
  std::stable_sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& entry : entries) {
    at.check(entry.begin >= covered, "tensor '", entry.name, "' data_offsets [", entry.begin, ", ",
             entry.end, "] overlap tensor '", previous ? previous->name : "", "', which ends at ",
             covered);
    at.check(entry.begin == covered, "gap of ", entry.begin - covered,
             " unused bytes in the data buffer before tensor '", entry.name, "' (bytes ", covered,
             " to ", entry.begin, ")");
    covered = entry.end;
    previous = &entry;
  }
  at.check(covered == data_size, data_size - covered,
           " bytes of trailing data after the last tensor (the tensors end at byte ", covered,
           " of a ", data_size, "-byte data buffer)");
}

}  // namespace

const char* dtype_code(DType dtype, const ErrorContext& at) {
  for (const DTypeCode& known : kDTypeCodes)
    if (known.dtype == dtype) return known.code;
  at.fail("cannot store dtype ", dtype, " (supported: float32, float64, int32, int64, bool)");
}

std::string encode_header(const std::vector<TensorEntry>& entries,
                          const std::map<std::string, std::string>& metadata,
                          const ErrorContext& at) {
  const std::size_t count = entries.size() + (metadata.empty() ? 0 : 1);
  at.check(count <= kMaxHeaderEntries, "header of ", count, " entries exceeds the limit of ",
           kMaxHeaderEntries, " entries (kMaxHeaderEntries)");
  // ordered_json keeps insertion order, so the file lists tensors in the caller's order.
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty()) root[kMetadataKey] = metadata;
  for (const TensorEntry& entry : entries) {
    nlohmann::ordered_json item = nlohmann::ordered_json::object();
    item["dtype"] = dtype_code(entry.dtype, at);
    item["shape"] = entry.shape;
    item["data_offsets"] = nlohmann::ordered_json::array({entry.begin, entry.end});
    root[entry.name] = std::move(item);
  }
  std::string text;
  try {
    text = root.dump();
  } catch (const nlohmann::json::exception& e) {
    at.fail("a tensor name or metadata string is not valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  at.check(text.size() <= kMaxHeaderBytes, "header of ", text.size(),
           " bytes exceeds the format's limit of ", kMaxHeaderBytes, " bytes (kMaxHeaderBytes)");
  return text;
}

Header decode_header(std::string_view text, uint64_t data_size, const ErrorContext& at) {
  // The format requires the object to start at the first byte (padding goes only at the end).
  at.check(!text.empty() && text.front() == '{',
           "header does not start with '{' (not a safetensors file?)");
  const ParsedJson parsed = parse_unique_keys(text, at);
  at.check(parsed.root.is_object(), "header must be a JSON object, found ", Quoted{parsed.root});
  Header header;
  for (const std::string& key : parsed.keys) {  // file order, so errors name the first culprit
    const json& value = parsed.root.at(key);
    if (key == kMetadataKey) {
      header.metadata = decode_metadata(value, at);
    } else {
      header.entries.push_back(decode_entry(key, value, data_size, at));
    }
  }
  check_tiling(header.entries, data_size, at);
  return header;
}

}  // namespace mixgrad::io::safetensors_format
