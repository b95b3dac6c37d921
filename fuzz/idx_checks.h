#pragma once
// Every IDX entry point on one file, shared by the plain and the gzip IDX targets.
#include <string>

#include "data/idx.h"
#include "fuzz/fuzz_input.h"

namespace mixgrad::fuzz {

inline void read_idx_every_way(const std::string& path) {
  Tensor t;
  if (accepts([&] { t = data::read_idx(path); })) {
    FUZZ_CHECK(t.dim() >= 1, "read_idx accepted a file with no dimensions");
  }
  accepts([&] { data::read_idx(path, kFloat64); });
  accepts([&] { data::read_idx(path, kInt64); });
  Tensor images;
  if (accepts([&] { images = data::read_idx_images(path); })) {
    FUZZ_CHECK(images.dim() >= 2 && images.dtype() == kFloat32, "images of the wrong kind");
    if (images.numel() > 0) {
      FUZZ_CHECK(images.min().item<float>() >= 0.0f && images.max().item<float>() <= 1.0f,
                 "pixel values outside [0, 1]");
    }
  }
  Tensor labels;
  if (accepts([&] { labels = data::read_idx_labels(path); })) {
    FUZZ_CHECK(labels.dim() == 1 && labels.dtype() == kInt64, "labels of the wrong kind");
  }
}

}  // namespace mixgrad::fuzz
