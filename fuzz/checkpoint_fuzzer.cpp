// load_checkpoint of a small model with Adam state on arbitrary bytes. Whatever it accepts must
// leave the model and optimizer able to train: a load that passes validation and then breaks
// the next step is a finding.
#include "fuzz/checkpoint_net.h"
#include "fuzz/fuzz_input.h"
#include "io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace mixgrad;
  const std::string path = fuzz::write_input(bytes, size, "in.safetensors");
  fuzz::load_then_train(path);
  return 0;
}
