#include "dist/expert_parallel.h"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <numeric>
#include <set>

#include "core/grad_mode.h"
#include "dist/collectives.h"
#include "models/moe.h"
#include "ops/ops.h"

namespace mixgrad::dist {

namespace {

// The processes of `group` hold E / P consecutive experts each.
class AllToAllPlacement : public models::ExpertPlacement {
 public:
  AllToAllPlacement(Group group, int64_t num_experts)
      : group_(std::move(group)),
        num_experts_(num_experts),
        local_(num_experts / group_.size()),
        first_(local_ * group_.rank()) {}

  int64_t num_experts() const override { return num_experts_; }
  int64_t first_expert() const override { return first_; }
  int64_t local_experts() const override { return local_; }
  const Group& group() const { return group_; }

  // A pair's global position = its local position, plus the pairs of its expert that come
  // before this process's in the group's queue: every process's choices of earlier slots, and
  // the same slot's choices of lower ranks (see models::ExpertPlacement::queue).
  Queue queue(const Tensor& expert_index, int64_t num_experts) override {
    NoGradGuard no_grad;
    const Tensor ids = expert_index.to(kInt64).to(kCPU).contiguous();
    Tensor local = expert_positions(ids, num_experts);  // also checks every id
    const int64_t t = ids.size(0), k = ids.size(1), e = num_experts;
    // This process's counts per (slot, expert), then its token count.
    std::vector<int64_t> mine(static_cast<size_t>(k * e + 1), 0);
    const int64_t* id = ids.data_ptr<int64_t>();
    for (int64_t i = 0; i < t * k; ++i) ++mine[static_cast<size_t>((i % k) * e + id[i])];
    mine.back() = t;
    const std::vector<int64_t> all =
        all_gather(tensor(mine), group_).to_vector<int64_t>();  // [P * (k * e + 1)]
    const int64_t row = k * e + 1, p = group_.size(), me = group_.rank();
    auto count = [&](int64_t rank, int64_t slot, int64_t expert) {
      return all[static_cast<size_t>(rank * row + slot * e + expert)];
    };
    std::vector<int64_t> offset(static_cast<size_t>(k * e), 0);
    for (int64_t s = 0; s < k; ++s) {
      for (int64_t x = 0; x < e; ++x) {
        int64_t before = 0;
        for (int64_t q = 0; q < p; ++q) {
          for (int64_t s2 = 0; s2 < s; ++s2) before += q == me ? 0 : count(q, s2, x);
          if (q < me) before += count(q, s, x);
        }
        offset[static_cast<size_t>(s * e + x)] = before;
      }
    }
    Queue queue;
    queue.tokens = 0;
    for (int64_t q = 0; q < p; ++q) queue.tokens += all[static_cast<size_t>(q * row + k * e)];
    Tensor shift = empty({t, k}, TensorOptions(kInt64));
    int64_t* out = shift.data_ptr<int64_t>();
    for (int64_t i = 0; i < t * k; ++i) out[i] = offset[static_cast<size_t>((i % k) * e + id[i])];
    queue.positions = (local.to(kCPU) + shift).to(expert_index.device());
    return queue;
  }

  Tensor run(const Tensor& rows, const Tensor& counts, models::Experts& local) override {
    const int64_t p = group_.size();
    const std::vector<int64_t> per_expert = counts.to_vector<int64_t>();  // [E], by owner rank
    std::vector<int64_t> send(static_cast<size_t>(p), 0);
    for (int64_t x = 0; x < num_experts_; ++x)
      send[static_cast<size_t>(x / local_)] += per_expert[static_cast<size_t>(x)];
    // received[q * L + j]: rows rank q sends for this process's expert j.
    const std::vector<int64_t> received = all_to_all_counts(per_expert, group_);
    std::vector<int64_t> recv(static_cast<size_t>(p), 0),
        local_counts(static_cast<size_t>(local_), 0);
    for (int64_t q = 0; q < p; ++q) {
      for (int64_t j = 0; j < local_; ++j) {
        const int64_t n = received[static_cast<size_t>(q * local_ + j)];
        recv[static_cast<size_t>(q)] += n;
        local_counts[static_cast<size_t>(j)] += n;
      }
    }
    const Tensor arrived = all_to_all(rows, send, recv, group_);
    // The rows arrive by source rank, then expert; the experts want them by expert, then rank.
    std::vector<int64_t> order, start(static_cast<size_t>(p * local_));
    for (int64_t q = 0, at = 0; q < p; ++q)
      for (int64_t j = 0; j < local_; ++j) {
        start[static_cast<size_t>(q * local_ + j)] = at;
        at += received[static_cast<size_t>(q * local_ + j)];
      }
    for (int64_t j = 0; j < local_; ++j)
      for (int64_t q = 0; q < p; ++q)
        for (int64_t i = 0; i < received[static_cast<size_t>(q * local_ + j)]; ++i)
          order.push_back(start[static_cast<size_t>(q * local_ + j)] + i);
    std::vector<int64_t> inverse(order.size());
    for (size_t i = 0; i < order.size(); ++i)
      inverse[static_cast<size_t>(order[i])] = static_cast<int64_t>(i);
    const Tensor by_expert = index_select(arrived, 0, tensor(order).to(rows.device()));
    Tensor out = local.forward(by_expert, tensor(local_counts));
    // Experts that received no rows may answer with a tensor outside the graph (ExpertList
    // returns plain zeros). Every process must still record the reverse all-to-all when the
    // others do, or it would skip its backward while they wait for it: link the answer to the
    // rows, or (rows that need no gradient, experts that do) make it a stand-alone leaf.
    if (GradMode::is_enabled() && !out.requires_grad()) {
      if (by_expert.requires_grad()) {
        out = out + by_expert.sum() * 0;
      } else {
        for (const Tensor& p : local.parameters()) {
          if (!p.requires_grad()) continue;
          out = out.detach().requires_grad_();
          break;
        }
      }
    }
    MG_CHECK(out.dim() == 2 && out.size(0) == by_expert.size(0), "MoE", "the experts (",
             local.type_name(), ") must return one row per row; they mapped ", describe(by_expert),
             " to ", describe(out));
    const Tensor by_source = index_select(out, 0, tensor(inverse).to(rows.device()));
    return all_to_all(by_source, recv, send, group_);
  }

 private:
  Group group_;
  int64_t num_experts_, local_, first_;
};

// Every MoE layer of `model` with its name prefix ("" for the model itself, else "a.b.").
std::vector<std::pair<std::string, models::MoE*>> moe_layers(nn::Module& model) {
  std::vector<std::pair<std::string, models::MoE*>> layers;
  for (auto& [name, module] : model.named_modules())
    if (auto* moe = dynamic_cast<models::MoE*>(module))
      layers.emplace_back(name.empty() ? "" : name + ".", moe);
  return layers;
}

// The sharded layers with their placements.
std::vector<std::tuple<std::string, models::MoE*, AllToAllPlacement*>> sharded_layers(
    nn::Module& model) {
  std::vector<std::tuple<std::string, models::MoE*, AllToAllPlacement*>> layers;
  for (auto& [prefix, moe] : moe_layers(model))
    if (auto* placement = dynamic_cast<AllToAllPlacement*>(moe->placement.get()))
      layers.emplace_back(prefix, moe, placement);
  return layers;
}

// A name under a layer's experts: "<prefix>experts.<rest>".
bool under(const std::string& name, const std::string& experts_prefix) {
  return name.compare(0, experts_prefix.size(), experts_prefix) == 0;
}

// "3.fc.weight" -> 3 and ".fc.weight" (an ExpertList entry); -1 when `rest` is not one.
int64_t leading_index(const std::string& rest, std::string* tail) {
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string::npos) return -1;
  for (size_t i = 0; i < dot; ++i)
    if (rest[i] < '0' || rest[i] > '9') return -1;
  *tail = rest.substr(dot);
  return std::stoll(rest.substr(0, dot));
}

}  // namespace

int64_t shard_experts(nn::Module& model, const Group& expert_group) {
  const char* op = "dist.shard_experts";
  MG_CHECK(expert_group.member(), op, "this process is not a member of the expert group");
  const auto layers = moe_layers(model);
  const int64_t p = expert_group.size();
  for (const auto& [prefix, moe] : layers) {
    const int64_t e = moe->options().num_experts;
    const std::string layer = prefix.empty() ? "(the model)" : prefix.substr(0, prefix.size() - 1);
    MG_CHECK(moe->placement == nullptr, op, "the MoE layer '", layer, "' is sharded already");
    MG_CHECK(e % p == 0, op, "the MoE layer '", layer, "' has ", e,
             " experts, which the expert group of ", p, " processes cannot share evenly");
  }
  // Every share first, so that a layer whose experts cannot be cut changes nothing.
  std::vector<std::pair<std::shared_ptr<AllToAllPlacement>, std::shared_ptr<models::Experts>>>
      shares;
  for (const auto& [prefix, moe] : layers) {
    auto placement = std::make_shared<AllToAllPlacement>(expert_group, moe->options().num_experts);
    shares.emplace_back(placement,
                        moe->experts->shard(placement->first_expert(), placement->local_experts()));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    models::MoE* moe = layers[i].second;
    moe->experts = shares[i].second;
    moe->replace_module("experts", moe->experts);
    moe->placement = shares[i].first;
  }
  return static_cast<int64_t>(layers.size());
}

namespace {

// The model's parameters (or buffers): those of sharded experts, and all the others.
std::pair<std::vector<Tensor>, std::vector<Tensor>> split_tensors(nn::Module& model,
                                                                  bool parameters) {
  auto of = [parameters](const nn::Module& m) { return parameters ? m.parameters() : m.buffers(); };
  std::pair<std::vector<Tensor>, std::vector<Tensor>> split;
  std::set<const void*> experts;
  for (const auto& [prefix, moe, placement] : sharded_layers(model)) {
    for (const Tensor& t : of(*moe->experts)) {
      split.first.push_back(t);
      experts.insert(t.impl_ptr().get());
    }
  }
  for (const Tensor& t : of(model))
    if (!experts.count(t.impl_ptr().get())) split.second.push_back(t);
  return split;
}

}  // namespace

std::vector<Tensor> expert_parameters(nn::Module& model) {
  return split_tensors(model, true).first;
}

std::vector<Tensor> replicated_parameters(nn::Module& model) {
  return split_tensors(model, true).second;
}

std::vector<Tensor> expert_buffers(nn::Module& model) {
  return split_tensors(model, false).first;
}

std::vector<Tensor> replicated_buffers(nn::Module& model) {
  return split_tensors(model, false).second;
}

NamedTensors full_state_dict(nn::Module& model) {
  const char* op = "dist.full_state_dict";
  NoGradGuard no_grad;
  const NamedTensors local = model.state_dict();
  const auto layers = sharded_layers(model);
  // The sharded layer whose experts hold `name`, with the prefix of those names.
  auto owner = [&](const std::string& name, std::string* prefix) -> const AllToAllPlacement* {
    for (const auto& [layer, moe, place] : layers) {
      if (under(name, layer + "experts.")) {
        *prefix = layer + "experts.";
        return place;
      }
    }
    return nullptr;
  };
  NamedTensors full;
  for (size_t i = 0; i < local.size();) {
    std::string prefix, tail;
    const AllToAllPlacement* placement = owner(local[i].first, &prefix);
    if (!placement) {
      full.push_back(local[i++]);
      continue;
    }
    const Group& group = placement->group();
    if (leading_index(local[i].first.substr(prefix.size()), &tail) < 0) {
      full.emplace_back(local[i].first, all_gather(local[i].second, group));  // stacked
      ++i;
      continue;
    }
    // An ExpertList's entries ("<j>.<tail>" for local expert j): gathered one by one, then
    // listed expert by expert in global order (rank q's expert j is expert q * L + j).
    size_t end = i;
    std::vector<std::vector<size_t>> of_expert(static_cast<size_t>(placement->local_experts()));
    uint64_t digest = 1469598103934665603ull;
    auto mix = [&](uint64_t v) { digest = (digest ^ v) * 1099511628211ull; };
    for (std::string p; end < local.size() && owner(local[end].first, &p) == placement; ++end) {
      const int64_t j = leading_index(local[end].first.substr(prefix.size()), &tail);
      if (j < 0) break;
      of_expert[static_cast<size_t>(j)].push_back(end);
      for (char c : local[end].first) mix(static_cast<uint64_t>(c));
      mix(static_cast<uint64_t>(local[end].second.dtype()));
      for (int64_t d : local[end].second.shape()) mix(static_cast<uint64_t>(d));
    }
    Tensor agree = tensor(std::vector<int64_t>{static_cast<int64_t>(digest >> 1),
                                               -static_cast<int64_t>(digest >> 1)});
    all_reduce_(agree, ReduceOp::Max, group);
    const std::vector<int64_t> extremes = agree.to_vector<int64_t>();
    MG_CHECK(extremes[0] == -extremes[1], op, "the experts under '", prefix,
             "' differ between processes (names, shapes or dtypes); only experts of the same "
             "structure on every process can be gathered");
    std::vector<Tensor> gathered(local.size());
    for (size_t k = i; k < end; ++k) gathered[k] = all_gather(local[k].second.unsqueeze(0), group);
    for (int64_t q = 0; q < group.size(); ++q) {
      for (int64_t j = 0; j < placement->local_experts(); ++j) {
        for (size_t k : of_expert[static_cast<size_t>(j)]) {
          leading_index(local[k].first.substr(prefix.size()), &tail);
          full.emplace_back(prefix + std::to_string(q * placement->local_experts() + j) + tail,
                            gathered[k].select(0, q));
        }
      }
    }
    i = end;
  }
  return full;
}

void load_full_state_dict(nn::Module& model, const NamedTensors& state, bool strict) {
  const auto layers = sharded_layers(model);
  NamedTensors local;
  for (const auto& [name, value] : state) {
    const AllToAllPlacement* placement = nullptr;
    std::string prefix;
    for (const auto& [layer, moe, place] : layers)
      if (under(name, layer + "experts.")) {
        placement = place;
        prefix = layer + "experts.";
      }
    if (!placement) {
      local.emplace_back(name, value);
      continue;
    }
    const int64_t first = placement->first_expert(), count = placement->local_experts();
    std::string tail;
    const int64_t e = leading_index(name.substr(prefix.size()), &tail);
    if (e >= 0) {
      if (e >= first && e < first + count)
        local.emplace_back(prefix + std::to_string(e - first) + tail, value);
    } else {
      MG_CHECK(value.dim() >= 1 && value.size(0) == placement->num_experts(),
               "dist.load_full_state_dict", "'", name, "' must hold all ", placement->num_experts(),
               " experts along dim 0, got shape ", value.shape());
      local.emplace_back(name, value.narrow(0, first, count));
    }
  }
  model.load_state_dict(local, strict);
}

namespace {

// Each sharded expert parameter's placement, and whether it is stacked over the experts.
std::map<const void*, std::pair<const AllToAllPlacement*, bool>> expert_placements(
    nn::Module& model) {
  std::map<const void*, std::pair<const AllToAllPlacement*, bool>> experts;
  for (const auto& [prefix, moe, placement] : sharded_layers(model)) {
    for (const auto& [name, t] : moe->experts->named_parameters()) {
      std::string tail;
      experts[t.impl_ptr().get()] = {placement, leading_index(name, &tail) < 0};
    }
  }
  return experts;
}

// Applies `change` to every optimizer state tensor of a sharded stacked expert ("state.<group>.
// <index>.<buffer>" names the buffer of parameter <index> of group <group>).
template <class F>
void for_expert_state(const char* op, nn::Module& model, const optim::Optimizer& optimizer,
                      optim::OptimizerState& state, F&& change) {
  const auto experts = expert_placements(model);
  const auto& groups = optimizer.param_groups();
  for (auto& [name, t] : state.tensors) {
    int64_t group = -1, index = -1;
    if (std::sscanf(name.c_str(), "state.%" SCNd64 ".%" SCNd64 ".", &group, &index) != 2) continue;
    MG_CHECK(group >= 0 && group < static_cast<int64_t>(groups.size()) && index >= 0 &&
                 index < static_cast<int64_t>(groups[group].params.size()),
             op, "the optimizer state names '", name,
             "' of a parameter the optimizer does not have");
    const auto it = experts.find(groups[group].params[index].impl_ptr().get());
    if (it == experts.end()) continue;
    const auto [placement, stacked] = it->second;
    MG_CHECK(stacked, op,
             "the optimizer state of experts that are not stacked (ExpertList) "
             "cannot be moved between layouts");
    change(t, *placement);
  }
}

}  // namespace

optim::OptimizerState full_optimizer_state(nn::Module& model, const optim::Optimizer& optimizer) {
  NoGradGuard no_grad;
  optim::OptimizerState state = optimizer.state_dict();
  for_expert_state("dist.full_optimizer_state", model, optimizer, state,
                   [](Tensor& t, const AllToAllPlacement& placement) {
                     if (t.dim() >= 1 && t.size(0) == placement.local_experts())
                       t = all_gather(t, placement.group());
                   });
  return state;
}

void load_full_optimizer_state(nn::Module& model, optim::Optimizer& optimizer,
                               optim::OptimizerState state) {
  NoGradGuard no_grad;
  for_expert_state(
      "dist.load_full_optimizer_state", model, optimizer, state,
      [](Tensor& t, const AllToAllPlacement& placement) {
        if (t.dim() >= 1 && t.size(0) == placement.num_experts())
          t = t.narrow(0, placement.first_expert(), placement.local_experts()).contiguous();
      });
  optimizer.load_state_dict(state);
}

bool optimizer_state_gatherable(nn::Module& model) {
  for (const auto& [param, where] : expert_placements(model))
    if (!where.second) return false;
  return true;
}

}  // namespace mixgrad::dist
