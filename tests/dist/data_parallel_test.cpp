// DataParallel: N processes on N shards of a batch train exactly as one process on the whole
// batch (float64, 10 Adam steps), with any bucket size, with parameters that only some ranks
// use, and with gradient accumulation under no_sync.
#include "dist/data_parallel.h"

#include "common/test_util.h"
#include "dist/collectives.h"

using namespace mixgrad;
using namespace mixgrad::testing;

namespace {

const TensorOptions kF64 = TensorOptions(kFloat64);

// Two layers plus a parameter that only some batches use and one that none use.
class Net : public nn::Module {
 public:
  explicit Net(uint64_t seed) {
    manual_seed(seed);
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(3, 8, true, kF64));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(8, 2, true, kF64));
    side = register_parameter("side", randn({2}, kF64));
    unused = register_parameter("unused", randn({4}, kF64));
  }
  // use_side: whether this batch also goes through `side`.
  Tensor forward(const Tensor& x, bool use_side) {
    Tensor y = (*fc2)(tanh((*fc1)(x)));
    return use_side ? y * side : y;
  }
  std::shared_ptr<nn::Linear> fc1, fc2;
  Tensor side, unused;
};

Tensor batch_x(int64_t rows) {
  Generator gen(7);
  return randn({rows, 3}, kFloat64, &gen);
}
Tensor batch_y(int64_t rows) {
  Generator gen(8);
  return randn({rows, 2}, kFloat64, &gen);
}

// Squared error of the rows [from, from + n) of a batch of `total` rows, summed and divided by
// `divisor`: a rank's shard divides by its own rows (DataParallel averages over the ranks),
// one process by the whole batch's.
Tensor rows_loss(Net& net, int64_t from, int64_t n, int64_t total, int64_t divisor, bool use_side) {
  Tensor diff =
      net.forward(batch_x(total).narrow(0, from, n), use_side) - batch_y(total).narrow(0, from, n);
  return square(diff).sum() / static_cast<double>(divisor);
}

void expect_same_parameters(const Net& a, const Net& b, double tol = 1e-12) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    SCOPED_TRACE(pa[i].first);
    expect_close(pa[i].second, pb[i].second, tol, tol);
    EXPECT_EQ(pa[i].second.grad().defined(), pb[i].second.grad().defined());
    if (pa[i].second.grad().defined())
      expect_close(pa[i].second.grad(), pb[i].second.grad(), tol, tol);
  }
}

// Trains a replica with DataParallel on this rank's shard and, beside it, one process's model
// on the whole batch; `side` is used by rank 0's shard only.
void train_and_compare(dist::DataParallelOptions options) {
  const int p = dist::world_size(), r = dist::rank();
  const int64_t shard = 3, total = shard * p;
  Net reference(100);
  Net replica(100 + static_cast<uint64_t>(r));  // different seeds: DataParallel copies rank 0's
  dist::DataParallel ddp(replica, options);
  expect_same_parameters(replica, reference);
  optim::Adam ref_opt(reference.parameters(), {.lr = 0.05});
  optim::Adam opt(replica.parameters(), {.lr = 0.05});
  for (int step = 0; step < 10; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    ref_opt.zero_grad();
    Tensor ref_loss = rows_loss(reference, 0, shard, total, total, true);
    if (p > 1)
      ref_loss = ref_loss + rows_loss(reference, shard, total - shard, total, total, false);
    ref_loss.backward();
    opt.zero_grad();
    rows_loss(replica, r * shard, shard, total, shard, r == 0).backward();
    expect_same_parameters(replica, reference);  // the averaged gradients
    EXPECT_FALSE(replica.unused.grad().defined());
    ref_opt.step();
    opt.step();
  }
  expect_same_parameters(replica, reference);
}

}  // namespace

TEST(DataParallel, EqualsOneProcessOnTheWholeBatch) {
  train_and_compare({});
}

TEST(DataParallel, EqualsOneProcessWithSmallBuckets) {
  train_and_compare({.bucket_bytes = 64});
  Net net(1);
  dist::DataParallel ddp(net, {.bucket_bytes = 64});
  // Eight float64 values a bucket, parameters in reverse order (a module's own before its
  // children's): fc2.bias, fc2.weight, fc1.bias, fc1.weight, then unused and side together.
  EXPECT_EQ(ddp.num_buckets(), 5);
}

TEST(DataParallel, NoSyncAccumulatesThenAveragesOnce) {
  const int p = dist::world_size(), r = dist::rank();
  const int64_t shard = 2, total = 2 * shard * p;  // two micro-batches per rank
  Net reference(5), replica(5);
  dist::DataParallel ddp(replica);
  rows_loss(reference, 0, total, total, total, false).backward();
  {
    auto guard = ddp.no_sync();
    rows_loss(replica, r * shard, shard, total, 2 * shard, false).backward();
  }
  rows_loss(replica, p * shard + r * shard, shard, total, 2 * shard, false).backward();
  expect_same_parameters(replica, reference);
}

TEST(DataParallel, ParametersThatDifferAcrossRanksAreAnError) {
  if (dist::world_size() == 1) GTEST_SKIP() << "needs two processes";
  nn::Linear a(3, dist::rank() == 0 ? 4 : 5, true, kF64);
  EXPECT_MG_ERROR(dist::DataParallel ddp(a), "hold different parameters");
  EXPECT_MG_ERROR(dist::DataParallel(a, {.bucket_bytes = 0}), "bucket_bytes");
}

TEST(DataParallel, RecoversFromABackwardThatThrew) {
  const int p = dist::world_size(), r = dist::rank();
  const int64_t shard = 3, total = shard * p;
  Net reference(9), replica(9);
  dist::DataParallel ddp(replica);
  // A hook that throws in the first pass on every process, after some buckets started.
  bool thrown = false;
  replica.fc1->weight.register_hook([&](const Tensor& g) {
    if (!thrown) {
      thrown = true;
      throw Error("test", "a failing hook");
    }
    return g;
  });
  EXPECT_MG_ERROR(rows_loss(replica, r * shard, shard, total, shard, false).backward(),
                  "a failing hook");
  replica.zero_grad();
  rows_loss(reference, 0, total, total, total, false).backward();
  rows_loss(replica, r * shard, shard, total, shard, false).backward();
  expect_same_parameters(replica, reference);
}

TEST(DataParallel, AutogradGradLeavesGradientsAlone) {
  const int p = dist::world_size(), r = dist::rank();
  const int64_t shard = 3, total = shard * p;
  Net reference(10), replica(10);
  dist::DataParallel ddp(replica);
  // Only rank 0 asks: autograd::grad must start no communication.
  if (r == 0) {
    autograd::grad({rows_loss(replica, 0, shard, total, shard, false)}, {replica.fc1->weight});
  }
  EXPECT_FALSE(replica.fc1->weight.grad().defined());
  rows_loss(reference, 0, total, total, total, false).backward();
  rows_loss(replica, r * shard, shard, total, shard, false).backward();
  expect_same_parameters(replica, reference);
}

TEST(DataParallel, BroadcastBuffersCopiesRankZeros) {
  nn::BatchNorm1d norm(3);
  dist::DataParallel ddp(norm);
  // Each process updates its running statistics from its own rows.
  norm(full({4, 3}, static_cast<double>(dist::rank() + 1)) + arange(0, 12).view({4, 3}));
  Tensor mean_zero = dist::broadcast(norm.find_tensor("running_mean"), 0);
  ddp.broadcast_buffers();
  expect_close(norm.find_tensor("running_mean"), mean_zero, 0, 0);
}
