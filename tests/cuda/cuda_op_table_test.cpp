// Every row of the op table (tests/optable/op_info.h) on CUDA against the CPU: each sample's
// forward and, for differentiable rows, the gradients of every floating input, within the row's
// float64 bound (gradients within kReduce at least: see op_info.h). Built also with the CPU
// standing in for the GPU (label cuda-selfcheck), which runs the same rows CPU against CPU on
// machines without a GPU.
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

TEST(CudaOpTable, EveryRowMatchesCpu) {
  MG_REQUIRE_CUDA();
  int rows = 0;
  for (const testing::OpInfo& row : testing::op_table()) {
    if (!row.cuda) continue;
    ++rows;
    std::vector<OpCase> cases;
    for (const testing::Sample& s : row.samples) {
      OpCase c{row.name + "/" + s.name, s.args, row.fn, s.tol.value_or(row.tol),
               row.differentiable};
      // A broadcast input's gradient is a sum, in another order on each device.
      c.grad_tol = wider(c.tol, kReduce);
      cases.push_back(std::move(c));
    }
    run_cases(cases);
  }
  EXPECT_GT(rows, 200);
}

}  // namespace
}  // namespace mixgrad::cuda_testing
