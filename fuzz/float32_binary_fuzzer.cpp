// read_float32_binary on arbitrary bytes: an accepted file must hold exactly size / 4 values,
// be refused when another count is expected, and be written back bit for bit.
#include "data/float_binary.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace mixgrad;
  const std::string path = fuzz::write_input(bytes, size, "Xmean.bin");
  Tensor v;
  if (!fuzz::accepts([&] { v = data::read_float32_binary(path); })) return 0;
  const int64_t n = static_cast<int64_t>(size / 4);
  FUZZ_CHECK(size % 4 == 0 && v.shape() == Shape({n}) && v.dtype() == kFloat32,
             "accepted a partial value or returned the wrong shape");
  data::read_float32_binary(path, n);
  FUZZ_CHECK(!fuzz::accepts([&] { data::read_float32_binary(path, n + 1); }),
             "accepted a count the file does not hold");
  const std::string copy = fuzz::scratch_path("copy.bin");
  data::write_float32_binary(copy, v);
  FUZZ_CHECK(fuzz::read_bytes(copy) == std::string(reinterpret_cast<const char*>(bytes), size),
             "the values changed in a round trip");
  return 0;
}
