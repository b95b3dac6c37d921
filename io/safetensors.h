#pragma once
// Reading and writing Hugging Face safetensors files: an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the raw row-major data.
// Files interoperate with the reference implementation for the dtypes mixgrad holds
// (F32, F64, I32, I64, BOOL); every malformed file is refused with an Error, never read blindly.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mixgrad::io {

using StringMap = std::map<std::string, std::string>;

struct SafetensorsFile {
  NamedTensors tensors;  // in the order their data appears in the file
  StringMap metadata;    // the "__metadata__" entry; empty when the file has none
};

// Writes `tensors` (any layout, dtype float32/float64/int32/int64/bool) in the given order,
// plus `metadata` when not empty. The file is replaced atomically: data goes to a temporary
// file in the same directory that is flushed and renamed over `path`, so a failed or
// interrupted save leaves any previous file intact. A save that fails with an Error leaves no
// temporary file behind; one whose process is killed does, and the next save of `path` removes
// it (see io::AtomicFileWriter in io/file_io.h for the cases that can remain).
// Throws Error for an empty, duplicate or reserved ("__metadata__") name, an undefined tensor,
// an unsupported dtype, a name or metadata string that is not UTF-8, or any I/O failure.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const StringMap& metadata = {});

// Reads and validates a whole file (header, dtypes, shapes, offsets tiling the data exactly,
// boolean bytes 0 or 1). Throws Error naming the file and the problem (tensor, expected vs
// found) for any malformed, truncated or unsupported input, for anything but a regular file (a
// FIFO, a device, a directory: refused without reading) and when memory runs out. The header is
// checked against the file's size before any tensor is allocated, and tensors are read straight
// into their storage.
SafetensorsFile load_safetensors(const std::string& path);

// The metadata of a file, reading only its header (validated as load_safetensors validates it,
// without the tensors' bytes). Throws Error as load_safetensors.
StringMap load_safetensors_metadata(const std::string& path);

// Loads a file into existing tensors in place (e.g. a model's parameters), returning the file's
// metadata. Every target must appear in the file with the same shape and dtype and, when
// `strict`, the file must hold no other tensors. All mismatches are reported together in one
// Error, thrown before any target is modified. Copies run without recording gradients, so
// leaf parameters that require grad stay leaves.
StringMap load_into(const std::string& path, const NamedTensors& targets, bool strict = true);

}  // namespace mixgrad::io
