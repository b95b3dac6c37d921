// Every collective on every rank count the suite runs with (1, 2 and 4 processes): values
// against what each rank can compute alone, gradients against finite differences of the total
// loss over all ranks, the piecewise path for large messages, groups and bad input.
#include "common/test_util.h"
#include "dist/dist.h"

namespace mg = mixgrad;
using namespace mixgrad;
using namespace mixgrad::testing;

namespace {

int me() {
  return dist::rank();
}
int world() {
  return dist::world_size();
}

// Rank r's value of element i: distinct on every rank and element.
double value(int r, int64_t i) {
  return 1.0 + r * 10.0 + static_cast<double>(i) * 0.5;
}

Tensor rank_tensor(int r, const Shape& shape, DType dtype) {
  const int64_t n = checked_numel(shape, "test");
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = value(r, i);
  return tensor(v, shape).to(dtype);
}

// The reduction of every rank's rank_tensor (in `dtype`), computed here in float64.
Tensor expected_reduction(const Shape& shape, dist::ReduceOp op, DType dtype = kFloat64) {
  Tensor acc = rank_tensor(0, shape, dtype).to(kFloat64);
  for (int r = 1; r < world(); ++r) {
    Tensor x = rank_tensor(r, shape, dtype).to(kFloat64);
    switch (op) {
      case dist::ReduceOp::Sum:
      case dist::ReduceOp::Mean:
        acc = acc + x;
        break;
      case dist::ReduceOp::Max:
        acc = maximum(acc, x);
        break;
      case dist::ReduceOp::Min:
        acc = minimum(acc, x);
        break;
      case dist::ReduceOp::Product:
        acc = acc * x;
        break;
    }
  }
  return op == dist::ReduceOp::Mean ? acc / static_cast<double>(world()) : acc;
}

// Sets the piece size for one scope (the piecewise paths with tiny pieces).
class ScopedPieces {
 public:
  explicit ScopedPieces(int64_t bytes) : saved_(dist::max_message_bytes()) {
    dist::set_max_message_bytes(bytes);
  }
  ~ScopedPieces() { dist::set_max_message_bytes(saved_); }

 private:
  int64_t saved_;
};

}  // namespace

TEST(DistWorld, RankAndSize) {
  EXPECT_GE(me(), 0);
  EXPECT_LT(me(), world());
  if (const char* size = std::getenv("OMPI_COMM_WORLD_SIZE")) {
    EXPECT_EQ(world(), std::atoi(size));
  }
  EXPECT_EQ(dist::world().world_ranks().size(), static_cast<size_t>(world()));
  EXPECT_NE(dist::world().describe().find("group of " + std::to_string(world())),
            std::string::npos);
}

TEST(DistAllReduce, EveryOpAndDtype) {
  for (int64_t pieces : {int64_t{64} << 20, int64_t{7}}) {
    ScopedPieces scoped(pieces);
    for (DType dtype : {kFloat32, kFloat64, kInt32, kInt64}) {
      for (auto op : {dist::ReduceOp::Sum, dist::ReduceOp::Mean, dist::ReduceOp::Max,
                      dist::ReduceOp::Min, dist::ReduceOp::Product}) {
        const bool floating = dtype != kInt32 && dtype != kInt64;
        if (op == dist::ReduceOp::Mean && !floating) continue;
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + dist::reduce_op_name(op));
        const Shape shape{3, 5};
        Tensor y = dist::all_reduce(rank_tensor(me(), shape, dtype), op);
        EXPECT_EQ(y.dtype(), dtype);
        Tensor want = expected_reduction(shape, op, dtype).to(dtype);
        expect_close(y.to(kFloat64), want.to(kFloat64), 0.0, 1e-6);
      }
    }
  }
}

TEST(DistAllReduce, InPlaceOnContiguousAndStridedTensors) {
  Tensor x = rank_tensor(me(), {4, 3}, kFloat64);
  dist::all_reduce_(x);
  expect_close(x, expected_reduction({4, 3}, dist::ReduceOp::Sum));
  // A transposed view: the result lands in the viewed elements, the rest is untouched.
  Tensor base = rank_tensor(me(), {3, 4}, kFloat32);
  Tensor before = base.clone();
  Tensor view = base.t().narrow(0, 1, 2);  // [2, 3], strided
  dist::all_reduce_(view, dist::ReduceOp::Max);
  Tensor want =
      expected_reduction({3, 4}, dist::ReduceOp::Max, kFloat32).to(kFloat32).t().narrow(0, 1, 2);
  expect_close(view, want);
  expect_close(base.t().narrow(0, 0, 1), before.t().narrow(0, 0, 1));
  expect_close(base.t().narrow(0, 3, 1), before.t().narrow(0, 3, 1));
}

TEST(DistAllReduce, EmptyAndZeroDimTensors) {
  Tensor empty_y = dist::all_reduce(zeros({0, 4}));
  EXPECT_EQ(empty_y.shape(), Shape({0, 4}));
  Tensor scalar = dist::all_reduce(full({}, static_cast<double>(me() + 1), kFloat64));
  EXPECT_EQ(scalar.item<double>(), world() * (world() + 1) / 2.0);
}

TEST(DistBroadcast, FromEveryRoot) {
  for (int root = 0; root < world(); ++root) {
    for (int64_t pieces : {int64_t{64} << 20, int64_t{5}}) {
      ScopedPieces scoped(pieces);
      Tensor x = rank_tensor(me(), {2, 7}, kInt64);
      Tensor y = dist::broadcast(x, root);
      expect_values(y, {2, 7}, rank_tensor(root, {2, 7}, kInt64).to_vector<double>());
      expect_values(x, {2, 7}, rank_tensor(me(), {2, 7}, kInt64).to_vector<double>());
    }
  }
}

TEST(DistAllGather, ConcatenatesInRankOrder) {
  for (int64_t pieces : {int64_t{64} << 20, int64_t{3}}) {
    ScopedPieces scoped(pieces);
    for (DType dtype : {kFloat32, kInt32, kBool}) {
      Tensor x = rank_tensor(me(), {2, 3}, dtype);
      Tensor y = dist::all_gather(x);
      ASSERT_EQ(y.shape(), Shape({2 * world(), 3}));
      for (int r = 0; r < world(); ++r)
        expect_close(y.narrow(0, 2 * r, 2).to(kFloat64),
                     rank_tensor(r, {2, 3}, dtype).to(kFloat64));
    }
  }
}

TEST(DistReduceScatter, EachRankGetsItsBlock) {
  for (int64_t pieces : {int64_t{64} << 20, int64_t{12}}) {
    ScopedPieces scoped(pieces);
    for (auto op : {dist::ReduceOp::Sum, dist::ReduceOp::Mean, dist::ReduceOp::Min}) {
      const Shape shape{3 * world(), 5};
      Tensor y = dist::reduce_scatter(rank_tensor(me(), shape, kFloat64), op);
      ASSERT_EQ(y.shape(), Shape({3, 5}));
      expect_close(y, expected_reduction(shape, op).narrow(0, 3 * me(), 3));
    }
  }
}

TEST(DistAllToAll, VariableRowCounts) {
  // Rank r sends (r + q) % 3 rows to rank q (some of them empty); row values name (from, to, i).
  auto rows = [](int from, int to) { return static_cast<int64_t>((from + to) % 3); };
  std::vector<int64_t> send(static_cast<size_t>(world())), recv(send.size());
  std::vector<double> values;
  for (int q = 0; q < world(); ++q) {
    send[static_cast<size_t>(q)] = rows(me(), q);
    for (int64_t i = 0; i < rows(me(), q); ++i)
      for (int c = 0; c < 2; ++c)
        values.push_back(me() * 100 + q * 10 + static_cast<double>(i) + c * 0.5);
  }
  const std::vector<int64_t> counted = dist::all_to_all_counts(send);
  for (int q = 0; q < world(); ++q) {
    recv[static_cast<size_t>(q)] = rows(q, me());
    EXPECT_EQ(counted[static_cast<size_t>(q)], rows(q, me()));
  }
  const int64_t n = static_cast<int64_t>(values.size() / 2);
  for (int64_t pieces : {int64_t{64} << 20, int64_t{9}}) {
    ScopedPieces scoped(pieces);
    Tensor y = dist::all_to_all(tensor(values, Shape{n, 2}), send, recv);
    std::vector<double> want;
    for (int q = 0; q < world(); ++q)
      for (int64_t i = 0; i < rows(q, me()); ++i)
        for (int c = 0; c < 2; ++c)
          want.push_back(q * 100 + me() * 10 + static_cast<double>(i) + c * 0.5);
    expect_values(y, {static_cast<int64_t>(want.size() / 2), 2}, want);
  }
}

// Gradients: the total loss is the sum over ranks of sum(w_r * f(x_r)); rank q's analytic
// gradient must equal the central difference of that total when rank q alone moves x_q[i].
namespace {

using Collective = std::function<Tensor(const Tensor&)>;

double total_loss(const Collective& f, const Tensor& x, const Tensor& w) {
  NoGradGuard no_grad;
  Tensor local = (f(x) * w).sum();
  return dist::all_reduce(local).item<double>();
}

void expect_gradient_matches_differences(const char* name, const Collective& f,
                                         const Shape& in_shape, const Shape& out_shape) {
  SCOPED_TRACE(name);
  Tensor x = rank_tensor(me(), in_shape, kFloat64).requires_grad_();
  Tensor w = rank_tensor(me() + 7, out_shape, kFloat64) * 0.1;
  (f(x) * w).sum().backward();
  Tensor analytic = x.grad();
  ASSERT_TRUE(analytic.defined());
  const double eps = 1e-6;
  std::vector<double> numeric(static_cast<size_t>(x.numel()));
  Tensor moved = x.detach().clone();
  auto* data = moved.data_ptr<double>();
  for (int q = 0; q < world(); ++q) {
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = data[i];
      if (q == me()) data[i] = saved + eps;
      const double plus = total_loss(f, moved, w);
      if (q == me()) data[i] = saved - eps;
      const double minus = total_loss(f, moved, w);
      data[i] = saved;
      if (q == me()) numeric[static_cast<size_t>(i)] = (plus - minus) / (2 * eps);
    }
  }
  expect_close(analytic.reshape({-1}), tensor(numeric), 1e-6, 1e-6);
}

}  // namespace

TEST(DistGradients, EveryDifferentiableCollective) {
  const int64_t p = world();
  expect_gradient_matches_differences(
      "all_reduce sum", [](const Tensor& x) { return dist::all_reduce(x) * x; }, {2, 3}, {2, 3});
  expect_gradient_matches_differences(
      "all_reduce mean",
      [](const Tensor& x) { return square(dist::all_reduce(x, dist::ReduceOp::Mean)); }, {3}, {3});
  expect_gradient_matches_differences(
      "broadcast",
      [](const Tensor& x) { return square(dist::broadcast(x, dist::world_size() - 1)); }, {2, 2},
      {2, 2});
  expect_gradient_matches_differences("all_gather",
                                      [](const Tensor& x) { return square(dist::all_gather(x)); },
                                      {2, 2}, {2 * p, 2});
  expect_gradient_matches_differences(
      "reduce_scatter sum", [](const Tensor& x) { return square(dist::reduce_scatter(x)); },
      {2 * p, 2}, {2, 2});
  expect_gradient_matches_differences(
      "reduce_scatter mean",
      [](const Tensor& x) { return square(dist::reduce_scatter(x, dist::ReduceOp::Mean)); }, {p, 3},
      {1, 3});
  // all_to_all: rank r sends one row to each rank, and keeps nothing more.
  std::vector<int64_t> ones(static_cast<size_t>(p), 1);
  expect_gradient_matches_differences(
      "all_to_all", [&](const Tensor& x) { return square(dist::all_to_all(x, ones, ones)); },
      {p, 2}, {p, 2});
}

TEST(DistGradients, OnlyOneRanksLossUsesTheOutput) {
  // Only rank 0's loss depends on the gathered values, so every rank's x gets rank 0's
  // gradient of its block.
  Tensor x = full({2}, static_cast<double>(me() + 1), kFloat64).requires_grad_();
  Tensor y = dist::all_gather(x);
  Tensor loss = me() == 0 ? y.sum() : (x * 0).sum() + y.sum() * 0;
  loss.backward();
  expect_values(x.grad(), {2}, {1, 1});
}

TEST(DistGroups, NewGroupAndParallelGroups) {
  // The even world ranks.
  std::vector<int> even;
  for (int r = 0; r < world(); r += 2) even.push_back(r);
  dist::Group g = dist::new_group(even);
  EXPECT_EQ(g.member(), me() % 2 == 0);
  if (g.member()) {
    EXPECT_EQ(g.size(), static_cast<int>(even.size()));
    EXPECT_EQ(g.world_ranks(), even);
    Tensor s =
        dist::all_reduce(full({}, static_cast<double>(me()), kFloat64), dist::ReduceOp::Sum, g);
    double want = 0;
    for (int r : even) want += r;
    EXPECT_EQ(s.item<double>(), want);
  } else {
    EXPECT_MG_ERROR(dist::all_reduce(zeros({1}), dist::ReduceOp::Sum, g), "not a member");
  }
  for (int ep = 1; ep <= world(); ++ep) {
    if (world() % ep != 0) continue;
    SCOPED_TRACE("expert parallel " + std::to_string(ep));
    dist::ParallelGroups groups = dist::parallel_groups(ep);
    EXPECT_EQ(groups.expert.size(), ep);
    EXPECT_EQ(groups.expert_data.size(), world() / ep);
    EXPECT_EQ(groups.data.size(), world());
    std::vector<int> expert_ranks, data_ranks;
    for (int i = 0; i < ep; ++i) expert_ranks.push_back(me() / ep * ep + i);
    for (int r = me() % ep; r < world(); r += ep) data_ranks.push_back(r);
    EXPECT_EQ(groups.expert.world_ranks(), expert_ranks);
    EXPECT_EQ(groups.expert_data.world_ranks(), data_ranks);
    EXPECT_EQ(groups.expert.rank(), me() % ep);
  }
  EXPECT_MG_ERROR(dist::parallel_groups(world() + 1), "must divide the world size");
  EXPECT_MG_ERROR(dist::new_group({0, 0}), "listed twice");
  EXPECT_MG_ERROR(dist::new_group({world()}), "not in the world");
}

TEST(DistErrors, BadInputIsAnErrorOnEveryRank) {
  // Each of these is refused before any message is sent, identically on every rank.
  EXPECT_MG_ERROR(dist::all_reduce(ones({2}, kBool)), "bool");
  EXPECT_MG_ERROR(dist::all_reduce(ones({2}, kInt64), dist::ReduceOp::Mean), "floating");
  EXPECT_MG_ERROR(dist::all_reduce(ones({2}).requires_grad_(), dist::ReduceOp::Max),
                  "only sum and mean are differentiable");
  EXPECT_MG_ERROR(dist::all_gather(ones({})), "0-dim");
  if (world() > 1) EXPECT_MG_ERROR(dist::reduce_scatter(ones({world() + 1, 2})), "split evenly");
  EXPECT_MG_ERROR(dist::broadcast(ones({2}), world()), "root");
  std::vector<int64_t> short_list(static_cast<size_t>(world()) + 1, 0);
  EXPECT_MG_ERROR(dist::all_to_all(ones({0, 2}), short_list, short_list),
                  "one send and one receive");
  std::vector<int64_t> counts(static_cast<size_t>(world()), 1);
  EXPECT_MG_ERROR(dist::all_to_all(ones({world() + 1, 2}), counts, counts), "sum to");
  EXPECT_MG_ERROR(dist::set_max_message_bytes(0), "at least 1");
  EXPECT_MG_ERROR(dist::set_timeout(std::chrono::milliseconds(0)), "positive");
  EXPECT_MG_ERROR(dist::all_reduce(Tensor()), "undefined");
}
