#pragma once
// Layout checks before in-place writes (internal to optim/): an optimizer or clipping function
// checks every tensor first, so a bad one stops it before anything has changed.
#include "core/tensor.h"

namespace mixgrad::optim::detail {

// Whether several positions of `t` share one element (an expanded tensor), which rules out
// writing it in place.
inline bool has_overlapping_elements(const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.strides()[d] == 0 && t.shape()[d] > 1) return true;
  return false;
}

}  // namespace mixgrad::optim::detail
