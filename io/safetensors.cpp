#include "io/safetensors.h"

#include <bit>
#include <cstring>
#include <set>
#include <string_view>

#include "core/grad_mode.h"
#include "io/file_io.h"
#include "io/safetensors_header.h"
#include "ops/creation.h"

namespace mixgrad::io {

// The format stores little-endian data, which we write and read with plain memory copies.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O supports little-endian hosts only");
static_assert(sizeof(bool) == 1, "bool tensors are stored one byte per element");

namespace {

using safetensors_format::ErrorContext;
using safetensors_format::TensorEntry;

constexpr std::size_t kLengthBytes = 8;

void check_names(const NamedTensors& tensors, const ErrorContext& at) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, tensor] = tensors[i];
    at.check(!name.empty(), "tensor #", i, " has an empty name");
    at.check(name != "__metadata__", "the name '__metadata__' is reserved for metadata");
    at.check(seen.insert(name).second, "duplicate tensor name '", name, "'");
    at.check(tensor.defined(), "tensor '", name, "' is undefined");
  }
}

// Each tensor's entry, laid out back to back in the given order.
std::vector<TensorEntry> layout(const NamedTensors& tensors, const ErrorContext& at) {
  std::vector<TensorEntry> entries;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    safetensors_format::dtype_code(tensor.dtype(), at);  // refuses dtypes the format cannot name
    const uint64_t nbytes = static_cast<uint64_t>(tensor.numel()) * tensor.element_size();
    entries.push_back({name, tensor.dtype(), tensor.shape(), offset, offset + nbytes});
    offset += nbytes;
  }
  return entries;
}

uint64_t decode_length(const unsigned char (&bytes)[kLengthBytes]) {
  uint64_t n = 0;
  for (std::size_t i = 0; i < kLengthBytes; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return n;
}

// A boolean tensor holding any byte but 0 or 1 would be undefined behaviour to read.
void check_bool_bytes(const unsigned char* data, const TensorEntry& entry, const ErrorContext& at) {
  for (uint64_t i = 0; i < entry.end - entry.begin; ++i) {
    at.check(data[i] <= 1, "tensor '", entry.name, "' (BOOL) holds byte value ",
             static_cast<int>(data[i]), " at element ", i, "; expected 0 or 1");
  }
}

// The tensor an entry's data is read into; failing to allocate it (out of memory) is an Error
// naming the file and the tensor.
Tensor allocate(const TensorEntry& entry, const ErrorContext& at) {
  try {
    return empty(entry.shape, entry.dtype);
  } catch (const Error& e) {
    at.fail("tensor '", entry.name, "': ", e.what());
  }
}

// Reads the header first and checks it against the file's size, then each tensor straight into
// its own storage: nothing is allocated before the header has proved that the file holds it,
// and the file's bytes are never held twice.
// The validated header, and where the data starts.
std::pair<safetensors_format::Header, uint64_t> read_header(const InputFile& in,
                                                            const ErrorContext& at) {
  at.check(in.size() >= kLengthBytes, "file is ", in.size(),
           " bytes, too short for the 8-byte header length");
  unsigned char length[kLengthBytes];
  in.read_at(0, length, kLengthBytes);
  const uint64_t header_size = decode_length(length);
  const uint64_t after_length = in.size() - kLengthBytes;
  at.check(header_size <= safetensors_format::kMaxHeaderBytes, "header length ", header_size,
           " exceeds the format's limit of ", safetensors_format::kMaxHeaderBytes,
           " bytes (kMaxHeaderBytes)");
  at.check(header_size <= after_length, "header length ", header_size,
           " runs past the end of the file (", after_length,
           " bytes follow the length field; truncated?)");
  std::string header_text(header_size, '\0');
  in.read_at(kLengthBytes, header_text.data(), header_text.size());
  const uint64_t data_start = kLengthBytes + header_size;
  return {safetensors_format::decode_header(header_text, in.size() - data_start, at), data_start};
}

SafetensorsFile read_file(const InputFile& in, const ErrorContext& at) {
  auto [header, data_start] = read_header(in, at);
  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  file.tensors.reserve(header.entries.size());
  for (const TensorEntry& entry : header.entries) {
    Tensor tensor = allocate(entry, at);
    if (entry.end > entry.begin) {
      auto* bytes = static_cast<unsigned char*>(tensor.data_ptr());
      in.read_at(data_start + entry.begin, bytes, entry.end - entry.begin);
      if (entry.dtype == DType::Bool) check_bool_bytes(bytes, entry, at);
    }
    file.tensors.emplace_back(entry.name, std::move(tensor));
  }
  return file;
}

SafetensorsFile load_file(const std::string& path, const std::string& op) {
  return out_of_memory_as_error(op, path, [&] {
    return read_file(InputFile(path, op), ErrorContext{op, path});
  });
}

// The file's tensors by name (pointing into `file`, which must outlive the map).
std::map<std::string_view, const Tensor*> index_by_name(const SafetensorsFile& file) {
  std::map<std::string_view, const Tensor*> index;
  for (const auto& [name, tensor] : file.tensors) index.emplace(name, &tensor);
  return index;
}

// Everything that stops `file` from being loaded into `targets`, as one line each.
std::vector<std::string> find_mismatches(const SafetensorsFile& file, const NamedTensors& targets,
                                         bool strict) {
  using ::mixgrad::detail::concat;
  const auto in_file = index_by_name(file);
  std::vector<std::string> problems;
  std::set<std::string_view> wanted;
  for (const auto& [name, target] : targets) {
    if (!wanted.insert(name).second) {
      problems.push_back(concat("target '", name, "' is listed more than once"));
      continue;
    }
    if (!target.defined()) {
      problems.push_back(concat("target '", name, "' is an undefined tensor"));
      continue;
    }
    const auto found = in_file.find(name);
    if (found == in_file.end()) {
      problems.push_back(concat("missing tensor '", name, "' (expected ", describe(target), ")"));
      continue;
    }
    const Tensor& source = *found->second;
    if (source.shape() != target.shape())
      problems.push_back(concat("tensor '", name, "': shape ", source.shape(), " in the file, ",
                                target.shape(), " expected"));
    if (source.dtype() != target.dtype())
      problems.push_back(concat("tensor '", name, "': dtype ", source.dtype(), " in the file, ",
                                target.dtype(), " expected"));
    for (int64_t d = 0; d < target.dim(); ++d) {
      if (target.stride(d) == 0 && target.size(d) > 1) {
        problems.push_back(concat("target '", name, "' (shape ", target.shape(), ", strides ",
                                  target.strides(), ") has overlapping elements and cannot be ",
                                  "written"));
        break;
      }
    }
  }
  if (strict) {
    for (const auto& [name, tensor] : file.tensors)
      if (!wanted.contains(name))
        problems.push_back(concat("unexpected tensor '", name, "' (", describe(tensor), ")"));
  }
  return problems;
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const StringMap& metadata) {
  const ErrorContext at{"save_safetensors", path};
  check_names(tensors, at);
  const std::vector<TensorEntry> entries = layout(tensors, at);
  const std::string header = safetensors_format::encode_header(entries, metadata, at);

  AtomicFileWriter out(path, at.op);
  unsigned char length[kLengthBytes];
  for (std::size_t i = 0; i < kLengthBytes; ++i)
    length[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  out.write(length, kLengthBytes);
  out.write(header.data(), header.size());
  NoGradGuard no_grad;  // the contiguous copies are for writing only
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t nbytes = entries[i].end - entries[i].begin;
    if (nbytes == 0) continue;
    const Tensor dense = tensors[i].second.to(kCPU).contiguous();
    out.write(dense.data_ptr(), nbytes);
  }
  out.commit();
}

SafetensorsFile load_safetensors(const std::string& path) {
  return load_file(path, "load_safetensors");
}

StringMap load_safetensors_metadata(const std::string& path) {
  const std::string op = "load_safetensors_metadata";
  return out_of_memory_as_error(op, path, [&] {
    return read_header(InputFile(path, op), ErrorContext{op, path}).first.metadata;
  });
}

StringMap load_into(const std::string& path, const NamedTensors& targets, bool strict) {
  const std::string op = "load_into";
  SafetensorsFile file = load_file(path, op);
  const std::vector<std::string> problems = find_mismatches(file, targets, strict);
  if (!problems.empty()) {
    std::string list;
    for (const std::string& problem : problems) list += "\n  " + problem;
    throw Error(op, ::mixgrad::detail::concat(path, ": ", problems.size(),
                                              " mismatch(es) between the file and the targets; ",
                                              "no tensor was modified:", list));
  }
  const auto in_file = index_by_name(file);
  NoGradGuard no_grad;  // targets are typically leaf parameters that require grad
  for (const auto& [name, target] : targets) {
    Tensor destination = target;
    destination.copy_(*in_file.at(name));
  }
  return std::move(file.metadata);
}

}  // namespace mixgrad::io
