// load_safetensors on arbitrary bytes. A file it accepts must survive a round trip through
// save_safetensors unchanged: names, order, dtypes, shapes, data bits and metadata.
#include <cstring>

#include "fuzz/fuzz_input.h"
#include "io/safetensors.h"

namespace mixgrad::fuzz {
namespace {

std::string bits(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

void check_same(const io::SafetensorsFile& a, const io::SafetensorsFile& b) {
  FUZZ_CHECK(a.metadata == b.metadata, "metadata changed in a round trip");
  FUZZ_CHECK(a.tensors.size() == b.tensors.size(), "tensor count changed in a round trip");
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [name, t] = a.tensors[i];
    const auto& [name_b, t_b] = b.tensors[i];
    FUZZ_CHECK(name == name_b, "name '" + name + "' became '" + name_b + "'");
    FUZZ_CHECK(t.dtype() == t_b.dtype() && t.shape() == t_b.shape(),
               "'" + name + "' changed dtype or shape in a round trip");
    FUZZ_CHECK(bits(t) == bits(t_b), "'" + name + "' changed data in a round trip");
  }
}

}  // namespace
}  // namespace mixgrad::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace mixgrad;
  const std::string path = fuzz::write_input(bytes, size, "in.safetensors");
  io::SafetensorsFile file;
  if (!fuzz::accepts([&] { file = io::load_safetensors(path); })) return 0;
  const std::string copy = fuzz::scratch_path("copy.safetensors");
  // The writer may refuse what the reader accepts (say, a name it reserves); that is an Error.
  if (!fuzz::accepts([&] { io::save_safetensors(copy, file.tensors, file.metadata); })) return 0;
  fuzz::check_same(file, io::load_safetensors(copy));
  return 0;
}
