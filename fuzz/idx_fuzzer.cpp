// The IDX readers on arbitrary bytes (plain IDX, and corrupt gzip streams when the input starts
// with the gzip magic; idx_gzip_fuzzer.cpp compresses valid-looking payloads instead).
#include "data/idx.h"
#include "fuzz/idx_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  mixgrad::fuzz::read_idx_every_way(mixgrad::fuzz::write_input(bytes, size, "in.idx"));
  return 0;
}
