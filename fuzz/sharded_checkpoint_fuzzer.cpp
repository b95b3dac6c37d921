// load_checkpoint of a directory of parts (io/sharded_checkpoint.h) whose second part is
// arbitrary bytes; the first part and the manifest are fixed, so the fuzzer works on what
// joining parts checks (row ranges, overlaps, gaps, dtypes and shapes, tensors in two parts,
// scalars two parts give differently, the format's own metadata). Whatever it accepts must leave
// the model and optimizer able to train, as for one file (checkpoint_fuzzer.cpp).
#include <filesystem>

#include "fuzz/checkpoint_net.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace mixgrad;
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_path("sharded");
    std::filesystem::create_directories(d);
    io::write_checkpoint_part(d, "a", "g", fuzz::checkpoint_net_part(false));
    io::write_checkpoint_part(d, "b", "g", fuzz::checkpoint_net_part(true));
    io::write_checkpoint_manifest(d, "g", {"a", "b"});
    return d;
  }();
  fuzz::write_input(bytes, size, std::string("sharded/") + fuzz::kShardedInputFile);
  fuzz::load_then_train(dir);
  return 0;
}
