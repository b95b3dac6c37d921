#include "models/experts.h"

#include <numeric>

namespace mixgrad::models {

std::vector<int64_t> check_expert_counts(const char* who, const Tensor& rows, const Tensor& counts,
                                         int64_t num_experts) {
  MG_CHECK(rows.dim() == 2, who, "rows must be [R, d], got ", describe(rows));
  MG_CHECK(counts.dtype() == DType::Int64 && counts.dim() == 1 && counts.size(0) == num_experts,
           who, "counts must be an int64 [", num_experts, "] tensor, got ", describe(counts));
  const std::vector<int64_t> host = counts.to_vector<int64_t>();
  for (int64_t e = 0; e < num_experts; ++e) {
    MG_CHECK(host[e] >= 0, who, "counts[", e, "] is negative: ", host[e]);
  }
  const int64_t total = std::accumulate(host.begin(), host.end(), int64_t{0});
  MG_CHECK(total == rows.size(0), who, "counts sum to ", total, " but there are ", rows.size(0),
           " rows");
  return host;
}

std::shared_ptr<Experts> Experts::shard(int64_t, int64_t) const {
  throw Error("Experts.shard", type_name() +
                                   " cannot be cut into shares of experts (expert parallelism "
                                   "takes FFNExperts or an ExpertList)");
}

void check_expert_range(const char* who, int64_t first, int64_t count, int64_t num_experts) {
  MG_CHECK(first >= 0 && count >= 1 && first <= num_experts - count, who, "experts [", first, ", ",
           first, " + ", count, ") are not a non-empty range within the ", num_experts, " experts");
}

}  // namespace mixgrad::models
