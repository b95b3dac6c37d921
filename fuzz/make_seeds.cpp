// mixgrad_fuzz_seeds <dir>: writes the seed corpus, <dir>/<target>/<file>, one folder per fuzz
// target. Files come from the library's own writers where it has one (safetensors, checkpoints,
// float32 binaries) and are built byte by byte otherwise (IDX, CIFAR-10, text). Every seed is
// read back with its reader, so a writer and its reader that disagree fail here, at build time.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/cifar10.h"
#include "data/float_binary.h"
#include "data/idx.h"
#include "data/text_matrix.h"
#include "fuzz/checkpoint_net.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;
using namespace mixgrad;

namespace {

fs::path g_out;

std::string target_path(const std::string& target, const std::string& name) {
  fs::create_directories(g_out / target);
  return g_out / target / name;
}

std::string write(const std::string& target, const std::string& name, const std::string& bytes) {
  std::string path = target_path(target, name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// IDX: magic 00 00, element type, dimension count, big-endian sizes, big-endian elements.
std::string idx(uint8_t type, const std::vector<uint32_t>& sizes, const std::string& elements) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(sizes.size())};
  for (uint32_t s : sizes) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(s >> shift);
  }
  return out + elements;
}

std::string counting_bytes(std::size_t n, unsigned step = 1) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(i * step);
  return out;
}

std::string gzip(const std::string& bytes) {
  // gzip(1) would do, but the seeds must not depend on it: a stored (uncompressed) deflate
  // block is simple enough to write here.
  std::string out{'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, 3};
  out += '\x01';  // final stored block
  const auto n = static_cast<uint16_t>(bytes.size());
  out += {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(~n),
          static_cast<char>(~n >> 8)};
  out += bytes;
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  crc = ~crc;
  const auto size = static_cast<uint32_t>(bytes.size());
  for (uint32_t v : {crc, size}) {
    for (int shift = 0; shift < 32; shift += 8) out += static_cast<char>(v >> shift);
  }
  return out;
}

void safetensors_seeds() {
  Generator gen(1);
  NamedTensors tensors = {
      {"weight", randn({2, 3}, {}, &gen)},
      {"bias", randn({4}, kFloat64, &gen)},
      {"index", tensor({1, -2, 3, 4}, kInt32).reshape({2, 2})},
      {"step", tensor({7}, kInt64).reshape({})},
      {"mask", tensor({1, 0, 1}, kBool)},
      {"empty", zeros({0, 3})},
  };
  for (const auto& [file, metadata] : std::vector<std::pair<std::string, io::StringMap>>{
           {"mixed.safetensors", {}},
           {"metadata.safetensors", {{"format", "pt"}, {"epoch", "3"}}}}) {
    std::string path = target_path("safetensors", file);
    io::save_safetensors(path, tensors, metadata);
    io::load_safetensors(path);
  }
  std::string path = target_path("safetensors", "none.safetensors");
  io::save_safetensors(path, {});
  io::load_safetensors(path);
}

void checkpoint_seeds() {
  fuzz::CheckpointNet net;
  optim::Adam adam(net.parameters(), {.lr = 0.01});
  std::string fresh = target_path("checkpoint", "adam_fresh.safetensors");
  io::save_checkpoint(fresh, net, &adam);
  for (int i = 0; i < 2; ++i) fuzz::train_step(net, adam);
  std::string trained = target_path("checkpoint", "adam_trained.safetensors");
  io::save_checkpoint(trained, net, &adam, {{"epoch", "2"}});
  for (const auto& path : {fresh, trained}) {
    fuzz::CheckpointNet other;
    optim::Adam other_adam(other.parameters());
    io::load_checkpoint(path, other, &other_adam);
  }
}

// The second part of a checkpoint in two parts (sharded_checkpoint_fuzzer.cpp), read back with
// its first part as the one-process checkpoint.
void sharded_checkpoint_seeds() {
  const std::string dir = target_path("sharded_checkpoint", "parts");
  fs::create_directories(dir);
  io::write_checkpoint_part(dir, "a", "g", fuzz::checkpoint_net_part(false));
  io::write_checkpoint_part(dir, "b", "g", fuzz::checkpoint_net_part(true));
  io::write_checkpoint_manifest(dir, "g", {"a", "b"});
  fuzz::CheckpointNet net;
  optim::Adam adam(net.parameters());
  io::load_checkpoint(dir, net, &adam);
  fs::rename(fs::path(dir) / fuzz::kShardedInputFile,
             target_path("sharded_checkpoint", "part-b.safetensors"));
  fs::remove_all(dir);
}

void idx_seeds() {
  const std::vector<std::pair<std::string, std::string>> files = {
      {"images.idx3-ubyte", idx(0x08, {2, 3, 4}, counting_bytes(24, 11))},
      {"labels.idx1-ubyte", idx(0x08, {5}, counting_bytes(5))},
      {"int32.idx", idx(0x0C, {2}, std::string("\0\0\0\x07\xff\xff\xff\xfe", 8))},
      {"int16.idx", idx(0x0B, {3}, std::string("\0\x01\x80\0\x7f\xff", 6))},
      {"byte.idx", idx(0x09, {2, 2}, "\x01\xff\x7f\x80")},
      {"float32.idx", idx(0x0D, {1, 2}, std::string("\x3f\x80\0\0\xc0\0\0\0", 8))},
      {"float64.idx", idx(0x0E, {1}, std::string("\x3f\xf0\0\0\0\0\0\0", 8))},
  };
  for (const auto& [name, bytes] : files) {
    data::read_idx(write("idx", name, bytes));
    // idx_gzip_fuzzer.cpp compresses everything after its first byte (0: no damage).
    write("idx_gzip", name, std::string(1, '\0') + bytes);
  }
  data::read_idx_images(target_path("idx", "images.idx3-ubyte"));
  data::read_idx_labels(target_path("idx", "labels.idx1-ubyte"));
  data::read_idx(write("idx", "images.idx3-ubyte.gz", gzip(files[0].second)));
}

void cifar10_seeds() {
  std::string batch;
  for (int record = 0; record < 2; ++record) {
    batch += static_cast<char>(record * 9);  // labels 0 and 9
    batch += counting_bytes(3072, 7 + record);
  }
  data::read_cifar10_batch(write("cifar10", "data_batch_1.bin", batch));
}

void text_matrix_seeds() {
  data::read_text_matrix(write("text_matrix", "Input.txt", "1 2 3\n4.5 -6e3\t7\n0.25 1e-3 -0\n"));
  data::read_text_matrix(write("text_matrix", "crlf.txt", "1\t2\r\n3\t4\r\n\r\n"));
  data::read_text_matrix(write("text_matrix", "column.txt", "-1.5\n2.5e+10\n"));
}

void float32_binary_seeds() {
  std::string path = target_path("float32_binary", "Xmean.bin");
  data::write_float32_binary(path, tensor({0.0f, -0.0f, 1.5f, -3e38f, 1e-45f}));
  data::read_float32_binary(path, 5);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  try {
    safetensors_seeds();
    checkpoint_seeds();
    sharded_checkpoint_seeds();
    idx_seeds();
    cifar10_seeds();
    text_matrix_seeds();
    float32_binary_seeds();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mixgrad_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  std::printf("seed corpus written to %s\n", argv[1]);
  return 0;
}
