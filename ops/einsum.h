#pragma once
// Einstein summation (torch.einsum semantics), composed from views, sum, mul and matmul, so it
// runs on every backend and its gradient comes from those ops.
//
// Equation: comma-separated subscripts, one per operand, optionally followed by `->` and the
// output subscripts. A subscript is letters (a-z, A-Z; case matters) and at most one `...`
// standing for the dims no letter names; spaces are ignored. Without `->` the output is `...`
// (when any operand has one) followed by the letters that appear exactly once, in ASCII order
// (upper case before lower case). Letters absent from the output are summed. A letter repeated
// within one operand takes that operand's diagonal. A letter's sizes must agree across operands,
// except that size 1 broadcasts, as do the dims `...` stands for (aligned from the right).
//
// Lowering (the cost model): each operand first takes its diagonals (views), then sums the
// letters no other operand and not the output uses (one reduction; a size-1 dim is just
// squeezed). Operands are then contracted pairwise from left to right, summing a letter as soon
// as no later operand and not the output needs it. A contraction with summed letters is
// permute -> reshape -> one matmul -> reshape: the letters both operands keep become matmul's
// batch dims, the summed ones its inner dim, and the letters of one side its rows or columns.
// Each letter group is laid out in the order its operand stores it, so the reshapes are views
// and an operand is copied only when its layout cannot be merged into a matrix (matmul's kernel
// reads transposed and strided matrices in place). A contraction without summed letters (outer
// or element-wise products) is one broadcasting mul. The result is finally permuted (a view)
// into the output order; it may therefore be a non-contiguous view of the product.
// Example: "end,edh->enh" on contiguous x [E, N, D] and w [E, D, H] is exactly one batched GEMM
// that writes the result; neither operand is copied.
#include <array>
#include <concepts>
#include <initializer_list>
#include <span>
#include <string_view>
#include <type_traits>

#include "core/tensor.h"

namespace mixgrad {

// Evaluates `equation` on `operands` (see above); the result has the operands' dtype.
// Throws Error (naming einsum, the equation and the operand shapes) when the number of
// subscripts differs from the number of operands, a subscript's letter count does not match its
// operand's rank, the equation has a character other than letters, `,`, `...`, `->` and spaces,
// a subscript has more than one `...`, `->` is malformed or repeated, an output letter is in no
// input or repeated, a letter's sizes differ (neither being 1), or a repeated letter's sizes
// differ within one operand; and when operands are undefined, bool, or differ in dtype or
// device.
Tensor einsum(std::string_view equation, std::span<const Tensor> operands);
// einsum("ij,jk->ik", {a, b}).
Tensor einsum(std::string_view equation, std::initializer_list<Tensor> operands);
// einsum("end,edh->enh", x, w).
template <class... Ts>
requires(std::same_as<std::remove_cvref_t<Ts>, Tensor>&&...) Tensor
    einsum(std::string_view equation, const Ts&... operands) {
  const std::array<Tensor, sizeof...(Ts)> all{operands...};
  return einsum(equation, std::span<const Tensor>(all.data(), all.size()));
}

}  // namespace mixgrad
