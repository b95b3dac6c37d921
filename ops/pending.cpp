// TEMPORARY: ops whose files have not landed yet. Each family's owner deletes its lines.
#include "ops/ops.h"
namespace mixgrad {
// reduce family
Tensor max(const Tensor&) { throw Error("max", "pending"); }
Tensor min(const Tensor&) { throw Error("min", "pending"); }
Tensor amax(const Tensor&, const Shape&, bool) { throw Error("amax", "pending"); }
Tensor amin(const Tensor&, const Shape&, bool) { throw Error("amin", "pending"); }
Tensor argmax(const Tensor&, std::optional<int64_t>, bool) { throw Error("argmax", "pending"); }
Tensor argmin(const Tensor&, std::optional<int64_t>, bool) { throw Error("argmin", "pending"); }
// linalg family
Tensor matmul(const Tensor&, const Tensor&) { throw Error("matmul", "pending"); }
// softmax/sort family
Tensor softmax(const Tensor&, int64_t) { throw Error("softmax", "pending"); }
Tensor log_softmax(const Tensor&, int64_t) { throw Error("log_softmax", "pending"); }
Tensor argsort(const Tensor&, int64_t, bool, bool) { throw Error("argsort", "pending"); }
// index family
Tensor gather(const Tensor&, int64_t, const Tensor&) { throw Error("gather", "pending"); }
Tensor index_select(const Tensor&, int64_t, const Tensor&) { throw Error("index_select", "pending"); }
}
