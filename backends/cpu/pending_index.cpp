// TEMPORARY (removed when the index work lands).
#include "backends/cpu/kernels.h"
namespace mixgrad::cpu {
void gather(const Tensor&, const Tensor&, int64_t, const Tensor&) { throw Error("gather", "pending"); }
void scatter(const Tensor&, int64_t, const Tensor&, const Tensor&, kernels::ScatterMode) { throw Error("scatter", "pending"); }
void index_select(const Tensor&, const Tensor&, int64_t, const Tensor&) { throw Error("index_select", "pending"); }
void index_scatter(const Tensor&, int64_t, const Tensor&, const Tensor&, kernels::ScatterMode, double) { throw Error("index_scatter", "pending"); }
void bincount(const Tensor&, const Tensor&, const Tensor&) { throw Error("bincount", "pending"); }
Tensor nonzero(const Tensor&) { throw Error("nonzero", "pending"); }
}
