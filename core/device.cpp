#include "core/device.h"

#include <ostream>

#include "core/error.h"

namespace mixgrad {

Device::Device(const std::string& spec) {
  if (spec == "cpu") return;
  if (spec.rfind("cuda", 0) == 0) {
    type = DeviceType::CUDA;
    if (spec.size() == 4) return;
    if (spec[4] == ':' && spec.size() > 5 &&
        spec.find_first_not_of("0123456789", 5) == std::string::npos) {
      index = std::stoi(spec.substr(5));
      return;
    }
  }
  throw Error("Device", "cannot parse device string '" + spec + "' (expected cpu, cuda or cuda:N)");
}

std::string describe(const Device& d) {
  return d.is_cpu() ? "cpu" : "cuda:" + std::to_string(d.index);
}

std::ostream& operator<<(std::ostream& os, const Device& d) {
  return os << describe(d);
}

}  // namespace mixgrad
