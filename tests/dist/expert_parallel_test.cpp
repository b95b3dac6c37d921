// Expert-parallel MoE against one process: for every expert-parallel size that divides the
// world, top-1 and top-2, capacity with drops and dropless, E = P and E = 2P, the sharded layer
// (with DataParallel over the ParallelGroups) gives the same outputs, the same gradients and,
// after 10 Adam steps, the same parameters as one process running each expert group's tokens
// as one batch (float64). And checkpoints move between expert-parallel sizes.
#include "dist/expert_parallel.h"

#include <algorithm>

#include "common/test_util.h"
#include "dist/collectives.h"
#include "dist/data_parallel.h"
#include "dist/moe_fixtures.h"

using namespace mixgrad;
using namespace mixgrad::testing;
using namespace mixgrad::testing::dist_fixtures;

namespace {

void expect_equal_to_one_process(const Case& c) {
  SCOPED_TRACE(c.name());
  const int me = dist::rank();
  const dist::ParallelGroups groups = dist::parallel_groups(c.ep);
  const std::vector<int> members = groups.expert.world_ranks();
  auto reference = make_moe(c);
  auto sharded = make_moe(c);
  ASSERT_EQ(dist::shard_experts(*sharded, groups.expert), 1);
  EXPECT_EQ(sharded->experts->num_experts(), c.experts / c.ep);
  dist::DataParallel ddp(*sharded, groups);
  optim::Adam ref_opt(reference->parameters(), {.lr = 0.01});
  optim::Adam opt(sharded->parameters(), {.lr = 0.01});
  const int groups_count = dist::world_size() / c.ep;
  int64_t dropped = 0;
  for (int step = 0; step < 10; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    // One process: every expert group's tokens as one batch, the losses averaged over groups.
    ref_opt.zero_grad();
    Tensor ref_loss;
    Tensor ref_mine, ref_input_grad;
    for (int g = 0; g < groups_count; ++g) {
      std::vector<Tensor> parts;
      for (int i = 0; i < c.ep; ++i) parts.push_back(tokens_of(g * c.ep + i, step));
      Tensor x = cat(parts, 0).requires_grad_();
      models::MoEOutput out = (*reference)(x);
      Tensor loss = token_loss(out.output) / static_cast<double>(groups_count);
      loss.backward();
      if (g == me / c.ep) {
        ref_mine = out.output.narrow(0, (me % c.ep) * kTokens, kTokens).detach();
        ref_input_grad = x.grad().narrow(0, (me % c.ep) * kTokens, kTokens);
        // The group's drops, as the sharded layers count them summed over the group.
        dropped = out.dropped;
      }
    }
    // Expert-parallel: this process's tokens, its mean loss (DataParallel averages).
    opt.zero_grad();
    Tensor x = tokens_of(me, step).requires_grad_();
    models::MoEOutput out = (*sharded)(x);
    expect_close(out.output, ref_mine, 1e-12, 1e-10);
    token_loss(out.output).backward();
    // The input's gradient carries the loss of its own group only, scaled as the groups are.
    expect_close(x.grad() / static_cast<double>(groups_count) / static_cast<double>(c.ep),
                 ref_input_grad, 1e-12, 1e-10);
    Tensor group_dropped = full({}, out.dropped, kInt64);
    dist::all_reduce_(group_dropped, dist::ReduceOp::Sum, groups.expert);
    EXPECT_EQ(group_dropped.item<int64_t>(), dropped);
    if (!c.dropless && step == 0) {
      EXPECT_GT(dropped, 0) << "the capacity case drops nothing";
    }
    // Every gradient, experts gathered to one process's layout.
    auto ref_params = reference->named_parameters();
    for (const auto& [name, ref] : ref_params) {
      SCOPED_TRACE(name);
      Tensor grad_here;
      for (const auto& [n, p] : sharded->named_parameters())
        if (n == name) grad_here = p.grad();
      ASSERT_TRUE(ref.grad().defined());
      if (name.rfind("experts.", 0) == 0) {
        Tensor gathered = dist::all_gather(grad_here, groups.expert);
        expect_close(gathered, ref.grad(), 1e-12, 1e-10);
      } else {
        expect_close(grad_here, ref.grad(), 1e-12, 1e-10);
      }
    }
    ref_opt.step();
    opt.step();
  }
  const NamedTensors full = dist::full_state_dict(*sharded);
  const NamedTensors ref_state = reference->state_dict();
  ASSERT_EQ(full.size(), ref_state.size());
  for (size_t i = 0; i < full.size(); ++i) {
    SCOPED_TRACE(full[i].first);
    EXPECT_EQ(full[i].first, ref_state[i].first);
    expect_close(full[i].second, ref_state[i].second, 1e-12, 1e-10);
  }
}

}  // namespace

TEST(ExpertParallel, EqualsOneProcess) {
  for (int ep : expert_parallel_sizes())
    for (int64_t experts : {int64_t{ep}, int64_t{2 * ep}})
      for (int64_t k : {1, 2})
        for (bool dropless : {false, true}) {
          if (k > experts) continue;
          expect_equal_to_one_process({ep, experts, k, dropless});
        }
}

TEST(ExpertParallel, CheckpointsMoveBetweenExpertParallelSizes) {
  const Case c{dist::world_size(), 4 * dist::world_size(), 2, false};
  auto sharded = make_moe(c);
  const dist::ParallelGroups groups = dist::parallel_groups(c.ep);
  dist::shard_experts(*sharded, groups.expert);
  // Train a step so that the state differs from the seed's (the gate equal on every process).
  {
    dist::DataParallel ddp(*sharded, groups);
    optim::Adam opt(sharded->parameters(), {.lr = 0.05});
    token_loss((*sharded)(tokens_of(dist::rank(), 0)).output).backward();
    opt.step();
  }
  const NamedTensors saved = dist::full_state_dict(*sharded);
  // Into one process's layout, and into every other expert-parallel size.
  auto single = make_moe(c);
  single->load_state_dict(saved);
  for (int ep : expert_parallel_sizes()) {
    SCOPED_TRACE("ep " + std::to_string(ep));
    auto other = make_moe(c);
    dist::shard_experts(*other, dist::parallel_groups(ep).expert);
    dist::load_full_state_dict(*other, saved);
    const NamedTensors back = dist::full_state_dict(*other);
    ASSERT_EQ(back.size(), saved.size());
    for (size_t i = 0; i < back.size(); ++i) expect_close(back[i].second, saved[i].second, 0, 0);
    other->eval();
    single->eval();
    // Eval capacity spans the expert group: compare on the group's tokens.
    Tensor x = tokens_of(dist::rank(), 5);
    Tensor mine = (*other)(x).output;
    std::vector<Tensor> parts = {dist::all_gather(x, dist::parallel_groups(ep).expert)};
    Tensor ref = (*single)(parts[0]).output.narrow(0, (dist::rank() % ep) * kTokens, kTokens);
    expect_close(mine, ref, 1e-12, 1e-10);
  }
  // The Adam state moves between layouts too (stacked experts along dim 0); last, because
  // stepping changes `saved`, which shares the model's storage.
  {
    optim::Adam opt(sharded->parameters(), {.lr = 0.05});
    token_loss((*sharded)(tokens_of(dist::rank(), 1)).output).backward();
    opt.step();
    const optim::OptimizerState full = dist::full_optimizer_state(*sharded, opt);
    for (int ep : expert_parallel_sizes()) {
      auto other = make_moe(c);
      dist::shard_experts(*other, dist::parallel_groups(ep).expert);
      optim::Adam other_opt(other->parameters(), {.lr = 0.05});
      dist::load_full_optimizer_state(*other, other_opt, full);
      const optim::OptimizerState back = dist::full_optimizer_state(*other, other_opt);
      ASSERT_EQ(back.tensors.size(), full.tensors.size());
      for (size_t i = 0; i < back.tensors.size(); ++i)
        expect_close(back.tensors[i].second, full.tensors[i].second, 0, 0);
      EXPECT_EQ(back.scalars, full.scalars);
    }
  }
}

TEST(ExpertParallel, BadLayoutsAreErrors) {
  auto moe = make_moe({1, 3, 1, false});  // 3 experts
  if (dist::world_size() > 1 && 3 % dist::world_size() != 0) {
    EXPECT_MG_ERROR(dist::shard_experts(*moe, dist::world()), "cannot share evenly");
  }
  auto ok = make_moe({1, 2 * dist::world_size(), 1, false});
  dist::shard_experts(*ok, dist::world());
  EXPECT_MG_ERROR(dist::shard_experts(*ok, dist::world()), "sharded already");
  auto wrong = dist::full_state_dict(*ok);
  for (auto& [name, t] : wrong)
    if (name == "experts.w1") t = t.narrow(0, 0, 1);
  EXPECT_MG_ERROR(dist::load_full_state_dict(*ok, wrong), "must hold all");
}

TEST(ExpertParallel, ProcessWhoseExpertsGetNoRowsStillJoinsTheBackward) {
  // Every token goes to expert 0 (a zero router: ties pick the first), so the processes holding
  // the other experts receive no rows, and their ExpertList returns plain zeros.
  const int p = dist::world_size();
  auto reference = make_list_moe(p);
  auto sharded = make_list_moe(p);
  for (auto* m : {reference.get(), sharded.get()}) {
    NoGradGuard no_grad;
    std::dynamic_pointer_cast<models::TopKGate>(m->gate)->weight.zero_();
  }
  const dist::ParallelGroups groups = dist::parallel_groups(p);
  dist::shard_experts(*sharded, groups.expert);
  dist::DataParallel ddp(*sharded, groups);
  std::vector<Tensor> parts;
  for (int r = 0; r < p; ++r) parts.push_back(tokens_of(r, 3));
  token_loss((*reference)(cat(parts, 0)).output).backward();
  token_loss((*sharded)(tokens_of(dist::rank(), 3)).output).backward();  // must not hang
  const NamedTensors full = dist::full_state_dict(*sharded);
  const NamedTensors ref = reference->state_dict();
  ASSERT_EQ(full.size(), ref.size());
  for (size_t i = 0; i < full.size(); ++i) EXPECT_EQ(full[i].first, ref[i].first);  // same order
  // Expert 0's gradient lives on rank 0; the experts that saw no rows have none anywhere.
  for (const auto& [name, t] : sharded->named_parameters()) {
    SCOPED_TRACE(name);
    if (name.rfind("experts.", 0) == 0) {
      EXPECT_EQ(t.grad().defined(), dist::rank() == 0);
      if (dist::rank() == 0)
        expect_close(t.grad(), reference->find_tensor(name).grad(), 1e-12, 1e-10);
    }
  }
}

TEST(ExpertParallel, ShardingIsAllOrNothing) {
  struct TwoLayers : nn::Module {
    std::shared_ptr<models::MoE> a, b;
  } model;
  model.a = model.register_module("a", make_moe({1, 2 * dist::world_size(), 1, true}));
  model.b = model.register_module(
      "b",
      std::make_shared<models::MoE>(
          models::MoEOptions{.d_model = kModel, .num_experts = 2 * dist::world_size()}, nullptr,
          std::make_shared<models::BatchedExperts>(2 * dist::world_size(),
                                                   std::make_shared<nn::Linear>(kModel, kModel))));
  if (dist::world_size() == 1) GTEST_SKIP() << "one process keeps every expert";
  EXPECT_MG_ERROR(dist::shard_experts(model, dist::world()), "cannot be cut");
  EXPECT_EQ(model.a->placement, nullptr);
  EXPECT_EQ(model.a->experts->num_experts(), 2 * dist::world_size());
}

TEST(ExpertParallel, ExpertListAdamStateMovesBetweenLayouts) {
  const int p = dist::world_size();
  const int64_t experts = 2 * p, local = 2, per_expert = 2;  // Linear: weight, bias
  auto sharded = std::make_shared<ListNet>(experts);
  const dist::ParallelGroups groups = dist::parallel_groups(p);
  dist::shard_experts(*sharded, groups.expert);
  optim::Adam opt(sharded->parameters(), {.lr = 0.05});
  {
    dist::DataParallel ddp(*sharded, groups);
    for (int step = 0; step < 2; ++step) {
      opt.zero_grad();
      (*sharded)(tokens_of(dist::rank(), step)).square().mean().backward();
      opt.step();
    }
  }
  const optim::OptimizerState local_state = opt.state_dict();
  const optim::OptimizerState full = dist::full_optimizer_state(*sharded, opt);
  // The gate's parameters come first, then every expert's weight and bias, then the head's.
  const int64_t before = static_cast<int64_t>(sharded->moe->gate->parameters().size());
  EXPECT_EQ(full.scalars.at("group.0.params"), std::to_string(before + experts * per_expert + 2));
  for (int64_t j = 0; j < local; ++j) {
    const int64_t e = dist::rank() * local + j;  // this process's expert j is expert e
    for (int64_t k = 0; k < per_expert; ++k) {
      const int64_t mine = before + j * per_expert + k, global = before + e * per_expert + k;
      SCOPED_TRACE("expert " + std::to_string(e) + " parameter " + std::to_string(k));
      const Tensor held = find_state(local_state, state_name(mine, "exp_avg"));
      const Tensor gathered = find_state(full, state_name(global, "exp_avg"));
      EXPECT_EQ(held.defined(), gathered.defined());  // experts without rows have no state
      if (held.defined()) expect_close(gathered, held, 0, 0);
    }
  }
  for (int64_t k = 0; k < 2; ++k)  // the head's state, renumbered past all the experts
    expect_close(find_state(full, state_name(before + experts * per_expert + k, "exp_avg_sq")),
                 find_state(local_state, state_name(before + local * per_expert + k, "exp_avg_sq")),
                 0, 0);
  // One process's Adam accepts it (shapes are checked against its own parameter list) and
  // holds the same state.
  {
    ListNet single(experts);
    optim::Adam single_opt(single.parameters(), {.lr = 0.05});
    single_opt.load_state_dict(full);
    const optim::OptimizerState back = single_opt.state_dict();
    EXPECT_EQ(back.scalars, full.scalars);
    ASSERT_EQ(back.tensors.size(), full.tensors.size());
    for (size_t i = 0; i < back.tensors.size(); ++i) {
      EXPECT_EQ(back.tensors[i].first, full.tensors[i].first);
      expect_close(back.tensors[i].second, full.tensors[i].second, 0, 0);
    }
  }
  // Into every expert-parallel size and back.
  for (int ep : expert_parallel_sizes()) {
    SCOPED_TRACE("ep " + std::to_string(ep));
    auto other = std::make_shared<ListNet>(experts);
    dist::shard_experts(*other, dist::parallel_groups(ep).expert);
    optim::Adam other_opt(other->parameters(), {.lr = 0.05});
    dist::load_full_optimizer_state(*other, other_opt, full);
    const optim::OptimizerState back = dist::full_optimizer_state(*other, other_opt);
    EXPECT_EQ(back.scalars, full.scalars);
    ASSERT_EQ(back.tensors.size(), full.tensors.size());
    for (size_t i = 0; i < back.tensors.size(); ++i) {
      EXPECT_EQ(back.tensors[i].first, full.tensors[i].first);
      expect_close(back.tensors[i].second, full.tensors[i].second, 0, 0);
    }
  }
}

TEST(ExpertParallel, ExpertListStateNeedsTheExpertsInOrder) {
  if (dist::world_size() == 1) GTEST_SKIP() << "one process keeps every expert in order";
  auto sharded = std::make_shared<ListNet>(2 * dist::world_size());
  dist::shard_experts(*sharded, dist::world());
  std::vector<Tensor> params = sharded->parameters();
  std::reverse(params.begin(), params.end());
  optim::Adam opt(params, {.lr = 0.05});
  EXPECT_MG_ERROR(dist::full_optimizer_state(*sharded, opt), "in the experts' order");
}
