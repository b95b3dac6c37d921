#pragma once
// Rotary position embeddings (RoPE; Su et al. 2021): rotates pairs of features by angles that
// grow with the position, so that q . k depends on the positions' difference only.
#include "core/tensor.h"

namespace mixgrad {

enum class RotaryLayout {
  HalfSplit,    // pairs (x[i], x[i + R/2]): GPT-NeoX, Hugging Face LLaMA / Mixtral
  Interleaved,  // pairs (x[2i], x[2i + 1]): GPT-J, the original LLaMA and RoFormer
};

// x [..., T, D]; cos and sin [T, R/2] with R <= D even, R the number of rotated features (the
// first R of each row; the other D - R pass unchanged). Pair i of the row at position t becomes
// (a cos - b sin, b cos + a sin) with cos = cos[t, i], sin = sin[t, i]. The result is
// contiguous. Differentiable in x (the fused backward rotates by the opposite angles), and in
// cos and sin when they require grad (through the composite form). Throws Error for x of rank
// < 2, a non-floating x, cos / sin of other shapes, dtype or device, or R larger than D.
Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin,
                    RotaryLayout layout = RotaryLayout::HalfSplit);

// The same function composed of narrow, mul, sub, add and cat (differentiated by autograd): what
// devices without the fused kernel (CUDA) run, and the reference the fused path is tested
// against. Same checks.
Tensor apply_rotary_reference(const Tensor& x, const Tensor& cos, const Tensor& sin,
                              RotaryLayout layout = RotaryLayout::HalfSplit);

}  // namespace mixgrad
