#pragma once
// Reader for whitespace-separated numeric text matrices, as AI4Animation / MANN export their
// training data (Input.txt, Output.txt): one row per line, values separated by spaces or tabs.
#include <string>

#include "core/tensor.h"

namespace mixgrad::data {

// The matrix in `path` as a [rows, cols] tensor of `dtype` (float32 or float64). Accepts \n, \r\n
// and lone \r (old Mac) line endings, any mix of spaces and tabs, and blank lines at the end of
// the file. Values are parsed as float64 (then rounded once to float32 when asked), so the file
// is read exactly as NumPy's loadtxt would read it. Large files are parsed by all CPU threads.
// Memory is bounded by the file's size: a file too short to hold all its lines as full rows is
// refused before the matrix is allocated.
//
// Throws mixgrad::Error naming the file and the position for: an empty or blank file; a blank
// line before the end; a row whose value count differs from the first row's ("line L: found F
// values, expected E"); a token that is not a number ("line:column"); values out of the dtype's
// range; and NaN or infinity, which would poison normalisation statistics.
Tensor read_text_matrix(const std::string& path, DType dtype = kFloat32);

}  // namespace mixgrad::data
