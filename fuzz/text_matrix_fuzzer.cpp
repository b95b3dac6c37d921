// read_text_matrix on arbitrary bytes, as float32 and float64. It refuses NaN and infinity, so
// an accepted matrix holds finite values only.
#include <cmath>

#include "data/text_matrix.h"
#include "fuzz/fuzz_input.h"

namespace {

template <class T>
void check_finite(const mixgrad::Tensor& m) {
  FUZZ_CHECK(m.dim() == 2 && m.numel() > 0, "an accepted matrix is not a non-empty 2-D tensor");
  const mixgrad::Tensor values = m.contiguous();  // outlives the loop over its span
  for (T v : values.data<T>()) FUZZ_CHECK(std::isfinite(v), "a value is not finite");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace mixgrad;
  const std::string path = fuzz::write_input(bytes, size, "Input.txt");
  Tensor m;
  if (fuzz::accepts([&] { m = data::read_text_matrix(path, kFloat32); })) check_finite<float>(m);
  if (fuzz::accepts([&] { m = data::read_text_matrix(path, kFloat64); })) check_finite<double>(m);
  return 0;
}
