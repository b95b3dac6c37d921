#pragma once
// Where a tensor's memory lives. Kernels are looked up by DeviceType (see backends/kernel_table.h).
#include <cstdint>
#include <iosfwd>
#include <string>

namespace mixgrad {

enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };
inline constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  constexpr Device() = default;
  constexpr Device(DeviceType t, int i = 0) : type(t), index(i) {}
  // Parses "cpu", "cuda", "cuda:1".
  explicit Device(const std::string& spec);

  static constexpr Device cpu() { return Device(DeviceType::CPU, 0); }
  static constexpr Device cuda(int i = 0) { return Device(DeviceType::CUDA, i); }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  friend bool operator==(const Device&, const Device&) = default;
};

inline constexpr Device kCPU = Device(DeviceType::CPU, 0);

std::string describe(const Device& d);                        // "cpu", "cuda:0"
std::ostream& operator<<(std::ostream& os, const Device& d);  // as describe

}  // namespace mixgrad
