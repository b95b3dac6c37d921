// The CIFAR-10 batch readers on arbitrary bytes: what they accept must be whole records with
// labels 0-9 and pixels in [0, 1].
#include "data/cifar10.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace mixgrad;
  const std::string path = fuzz::write_input(bytes, size, "data_batch.bin");
  mixgrad::data::CifarBatch batch;
  if (!fuzz::accepts([&] { batch = mixgrad::data::read_cifar10_batch(path); })) return 0;
  const int64_t n = static_cast<int64_t>(size / 3073);
  FUZZ_CHECK(size % 3073 == 0 && n > 0, "accepted a partial record or an empty file");
  FUZZ_CHECK(batch.images.shape() == Shape({n, 3, 32, 32}), "images of the wrong shape");
  FUZZ_CHECK(batch.labels.shape() == Shape({n}) && batch.labels.dtype() == kInt64,
             "labels of the wrong shape or dtype");
  FUZZ_CHECK(batch.labels.min().item<int64_t>() >= 0 && batch.labels.max().item<int64_t>() < 10,
             "a label outside 0-9");
  FUZZ_CHECK(batch.images.min().item<float>() >= 0 && batch.images.max().item<float>() <= 1,
             "a pixel outside [0, 1]");
  mixgrad::data::CifarBatch twice = mixgrad::data::read_cifar10({path, path});
  FUZZ_CHECK(twice.labels.shape() == Shape({2 * n}), "two batches do not concatenate");
  return 0;
}
