// load_checkpoint of a small model with Adam state on arbitrary bytes. Whatever it accepts must
// leave the model and optimizer able to train: a load that passes validation and then breaks
// the next step is a finding.
#include "fuzz/checkpoint_net.h"
#include "fuzz/fuzz_input.h"
#include "io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace mixgrad;
  const std::string path = fuzz::write_input(bytes, size, "in.safetensors");
  // Fresh each time: a load changes both, and inputs must not depend on earlier ones.
  fuzz::CheckpointNet net;
  optim::Adam adam(net.parameters(), {.lr = 0.01});
  if (!fuzz::accepts([&] { io::load_checkpoint(path, net, &adam); })) return 0;
  try {
    fuzz::train_step(net, adam);
  } catch (const Error& e) {
    fuzz::finding(std::string("a step after an accepted load failed: ") + e.what());
  }
  return 0;
}
