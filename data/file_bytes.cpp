#include "data/file_bytes.h"

#include "ops/creation.h"

namespace mixgrad::data::internal {

void rethrow_naming_file(const char* op, const std::string& path, const Error& error) {
  std::string detail = error.what();
  const std::string same_op = std::string(op) + ": ";
  if (error.op() == op && detail.starts_with(same_op)) detail.erase(0, same_op.size());
  fail(op, path, detail);
}

std::size_t checked_data_bytes(const char* op, const std::string& path, const Shape& shape,
                               std::size_t element_size) {
  try {
    return checked_nbytes(checked_numel(shape, op), element_size, op);
  } catch (const Error& error) {
    rethrow_naming_file(op, path, error);
  }
}

Tensor empty_for_file(const char* op, const std::string& path, const Shape& shape, DType dtype) {
  try {
    checked_numel(shape, op);
    return empty(shape, dtype);
  } catch (const Error& error) {
    rethrow_naming_file(op, path, error);
  }
}

io::InputFile open_file(const char* op, const std::string& path) {
  return io::InputFile(path, op, "'" + path + "'");
}

std::vector<unsigned char> read_file(const char* op, const std::string& path) {
  return open_file(op, path).read_all<std::vector<unsigned char>>();
}

std::string byte_offset(std::size_t offset, bool decompressed) {
  return "byte offset " + std::to_string(offset) +
         (decompressed ? " of the decompressed data" : "");
}

}  // namespace mixgrad::data::internal
