#include "backends/cuda_api.h"
#include "cli/commands.h"
#include "core/error.h"

namespace mixgrad::cli {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  MG_CHECK(name == "cuda", "--device", "must be cpu or cuda, got '", name, "'");
  MG_CHECK(cuda::is_built(), "--device",
           "cuda: this mixgrad command was built without the CUDA backend (no nvcc at build time)");
  MG_CHECK(cuda::is_available(), "--device", "cuda: no CUDA GPU is available on this machine");
  return Device::cuda(0);
}

}  // namespace mixgrad::cli
