#pragma once
// Reader for the IDX format of MNIST and Fashion-MNIST: magic 0x0000, an element-type byte
// (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), a dimension
// count, that many big-endian uint32 sizes, then the big-endian elements in row-major order.
// Files may be gzip-compressed (recognised by the gzip magic bytes, not by the name).
//
// Every reader throws mixgrad::Error naming the file and the byte offset for malformed input:
// bad magic, unknown element type, zero dimensions, truncated header, data shorter than the
// sizes promise (truncated) or longer (trailing data), or a corrupt gzip stream; and for
// anything but a regular file (a FIFO, a device: refused without reading).
#include <optional>
#include <string>

#include "core/tensor.h"

namespace mixgrad::data {

// The file as a tensor of its shape. `dtype` defaults to int32 for the integer element types
// (MNIST's bytes at 4x their size rather than 8x in int64) and to float32/float64 for the float
// types. Any of float32, float64, int32, int64 may be asked for, except that float elements are
// never converted to an integer dtype (that would truncate them silently).
Tensor read_idx(const std::string& path, std::optional<DType> dtype = std::nullopt);

// Images stored as unsigned bytes [N, H, W, ...]: float32 of the same shape, each value / 255
// so pixels lie in [0, 1]. Throws unless the element type is ubyte and there are >= 2 dims.
Tensor read_idx_images(const std::string& path);

// Class labels stored as a 1-D integer IDX file: int64 [N]. Throws for float elements or a
// shape that is not 1-D.
Tensor read_idx_labels(const std::string& path);

}  // namespace mixgrad::data
