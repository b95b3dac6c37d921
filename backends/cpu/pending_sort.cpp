// TEMPORARY (removed when the sort/softmax work lands).
#include "backends/cpu/kernels.h"
namespace mixgrad::cpu {
void sort(const Tensor&, const Tensor&, const Tensor&, int64_t, bool, bool) { throw Error("sort", "pending"); }
void topk(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, bool, bool) { throw Error("topk", "pending"); }
void softmax(const Tensor&, const Tensor&, int64_t, bool) { throw Error("softmax", "pending"); }
void softmax_backward(const Tensor&, const Tensor&, const Tensor&, int64_t, bool) { throw Error("softmax_backward", "pending"); }
}
