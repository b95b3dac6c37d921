#include "dist/expert_parallel.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/grad_mode.h"
#include "dist/collectives.h"
#include "models/moe.h"
#include "ops/ops.h"
#include "optim/state_text.h"

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

using ShardedLayers = std::vector<std::tuple<std::string, models::MoE*, AllToAllPlacement*>>;

// The sharded layers with their placements.
ShardedLayers sharded_layers(nn::Module& model) {
  ShardedLayers layers;
  for (auto& [prefix, moe] : moe_layers(model))
    if (auto* placement = dynamic_cast<AllToAllPlacement*>(moe->placement.get()))
      layers.emplace_back(prefix, moe, placement);
  return layers;
}

// The placement of the sharded layer whose experts hold the state entry `name`, with the prefix
// of those names ("<layer>experts."); nullptr for an entry of no sharded experts.
const AllToAllPlacement* expert_owner(const ShardedLayers& layers, const std::string& name,
                                      std::string* prefix) {
  for (const auto& [layer, moe, placement] : layers) {
    if (name.starts_with(layer + "experts.")) {
      *prefix = layer + "experts.";
      return placement;
    }
  }
  return nullptr;
}

// A fingerprint of names, dtypes and shapes (FNV-1a), to check that processes agree.
struct Digest {
  uint64_t value = 1469598103934665603ull;
  void mix(uint64_t v) { value = (value ^ v) * 1099511628211ull; }
  void mix(const std::string& name, const Tensor& t) {
    for (char c : name) mix(static_cast<uint64_t>(c));
    mix(static_cast<uint64_t>(t.dtype()));
    for (int64_t d : t.shape()) mix(static_cast<uint64_t>(d));
  }
};

// Throws Error(op, message) on every process of `group` at once unless all hold the same digest
// (a collective: every member calls it).
void check_same_on_every_process(const char* op, const Group& group, const Digest& digest,
                                 const std::string& message) {
  Tensor agree = tensor(std::vector<int64_t>{static_cast<int64_t>(digest.value >> 1),
                                             -static_cast<int64_t>(digest.value >> 1)});
  all_reduce_(agree, ReduceOp::Max, group);
  const std::vector<int64_t> extremes = agree.to_vector<int64_t>();
  MG_CHECK(extremes[0] == -extremes[1], op, message);
}

// Throws Error(op, ...) on every process at once unless, in every sharded layer, each process's
// experts have the same names, shapes and dtypes (collective over each layer's expert group):
// one process's layout numbers every process's experts by this process's.
void check_experts_alike(const char* op, nn::Module& model, const std::string& consequence) {
  for (const auto& [prefix, moe, placement] : sharded_layers(model)) {
    Digest digest;
    for (const auto& [name, t] : moe->experts->state_dict()) digest.mix(name, t);
    check_same_on_every_process(op, placement->group(), digest,
                                "the experts under '" + prefix +
                                    "experts.' differ between processes (names, shapes or "
                                    "dtypes); " +
                                    consequence);
  }
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
  auto owner = [&](const std::string& name, std::string* prefix) {
    return expert_owner(layers, name, prefix);
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
    Digest digest;
    for (std::string p; end < local.size() && owner(local[end].first, &p) == placement; ++end) {
      const int64_t j = leading_index(local[end].first.substr(prefix.size()), &tail);
      if (j < 0) break;
      of_expert[static_cast<size_t>(j)].push_back(end);
      digest.mix(local[end].first, local[end].second);
    }
    check_same_on_every_process(op, group, digest,
                                "the experts under '" + prefix +
                                    "' differ between processes (names, shapes or dtypes); only "
                                    "experts of the same structure on every process can be "
                                    "gathered");
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
  model.load_state_dict(local_state_dict(model, state), strict);
}

NamedTensors local_state_dict(nn::Module& model, const NamedTensors& state) {
  const auto layers = sharded_layers(model);
  NamedTensors local;
  for (const auto& [name, value] : state) {
    std::string prefix;
    const AllToAllPlacement* placement = expert_owner(layers, name, &prefix);
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
  return local;
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
// <index>.<buffer>" names the buffer of parameter <index> of group <group>); the state of an
// ExpertList's experts is moved by renumbering instead (list_state_to_full / _to_local).
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
    if (stacked) change(t, *placement);
  }
}

}  // namespace

namespace {

// ---- the optimizer state of ExpertList experts ----
//
// An ExpertList's experts are separate parameters, so in the one-process layout each optimizer
// group lists all E experts' parameters where a process lists its L = E / P local ones; every
// parameter after them moves by the difference. Moving the state between the layouts renumbers
// "state.<group>.<index>.*", and gathering brings every process's entries for its experts.

// An ExpertList parameter of a sharded layer: the layer, its local expert, its position among
// that expert's parameters and how many each expert has.
struct ListParameter {
  const AllToAllPlacement* placement = nullptr;
  int64_t expert = 0;
  int64_t position = 0;
  int64_t per_expert = 0;
};

std::map<const void*, ListParameter> list_parameters(nn::Module& model) {
  std::map<const void*, ListParameter> out;
  for (const auto& [prefix, moe, placement] : sharded_layers(model)) {
    std::vector<int64_t> counts(static_cast<size_t>(placement->local_experts()), 0);
    std::vector<const void*> layer;
    for (const auto& [name, t] : moe->experts->named_parameters()) {
      std::string tail;
      const int64_t j = leading_index(name, &tail);
      if (j < 0) continue;  // stacked over the experts
      out[t.impl_ptr().get()] = {placement, j, counts[static_cast<size_t>(j)]++, 0};
      layer.push_back(t.impl_ptr().get());
    }
    // -1: the experts have different numbers of parameters (group_layout refuses it).
    const bool even =
        std::all_of(counts.begin(), counts.end(), [&](int64_t c) { return c == counts[0]; });
    for (const void* t : layer) out[t].per_expert = even ? counts[0] : -1;
  }
  return out;
}

// One optimizer group in both layouts.
struct GroupLayout {
  struct Slot {
    int64_t local;  // the parameter's index on the process that holds it
    int64_t rank;   // that process's rank in its expert group; -1: every process holds it
  };
  std::vector<Slot> full;              // by index in the one-process layout
  std::vector<int64_t> full_of_local;  // this process's parameters' one-process indices
  struct Run {                         // an ExpertList's parameters: local [begin, begin + count)
    int64_t begin;
    int64_t count;
    int64_t full_begin;
    const AllToAllPlacement* placement;
  };
  std::vector<Run> runs;
};

GroupLayout group_layout(const char* op, const std::vector<Tensor>& params,
                         const std::map<const void*, ListParameter>& lists) {
  GroupLayout g;
  const int64_t n = static_cast<int64_t>(params.size());
  g.full_of_local.assign(static_cast<size_t>(n), -1);
  for (int64_t i = 0; i < n;) {
    const auto it = lists.find(params[static_cast<size_t>(i)].impl_ptr().get());
    if (it == lists.end()) {
      g.full_of_local[static_cast<size_t>(i)] = static_cast<int64_t>(g.full.size());
      g.full.push_back({i, -1});
      ++i;
      continue;
    }
    const AllToAllPlacement* placement = it->second.placement;
    const int64_t m = it->second.per_expert, local_experts = placement->local_experts();
    MG_CHECK(m > 0, op, "the experts of an ExpertList have different numbers of parameters");
    const int64_t count = local_experts * m;
    // The layer's expert parameters must come together, expert by expert, as parameters()
    // lists them: then the one-process layout lists all experts' in their place.
    bool in_order = i + count <= n;
    for (int64_t r = 0; in_order && r < count; ++r) {
      const auto jt = lists.find(params[static_cast<size_t>(i + r)].impl_ptr().get());
      in_order = jt != lists.end() && jt->second.placement == placement &&
                 jt->second.expert == r / m && jt->second.position == r % m;
    }
    MG_CHECK(in_order, op,
             "the optimizer must list the parameters of an ExpertList's experts together and "
             "in the experts' order (as Module::parameters() does) to move their state");
    const int64_t me = placement->first_expert() / local_experts;
    g.runs.push_back({i, count, static_cast<int64_t>(g.full.size()), placement});
    for (int64_t e = 0; e < placement->num_experts(); ++e) {
      const int64_t q = e / local_experts, j = e % local_experts;
      for (int64_t k = 0; k < m; ++k) {
        if (q == me)
          g.full_of_local[static_cast<size_t>(i + j * m + k)] = static_cast<int64_t>(g.full.size());
        g.full.push_back({i + j * m + k, q});
      }
    }
    i += count;
  }
  return g;
}

// "state.<group>.<index>.<rest>" -> group, index and rest; false for other names.
bool parse_state_name(const std::string& name, int64_t* group, int64_t* index, std::string* rest) {
  int consumed = 0;
  if (std::sscanf(name.c_str(), "state.%" SCNd64 ".%" SCNd64 ".%n", group, index, &consumed) != 2 ||
      consumed == 0)
    return false;
  *rest = name.substr(static_cast<size_t>(consumed));
  return true;
}

std::string group_params_key(size_t g) {
  return "group." + std::to_string(g) + ".params";
}

// A local-layout state with ExpertList experts -> the one-process layout (collective over each
// list's expert group).
optim::OptimizerState list_state_to_full(const char* op, nn::Module& model,
                                         const optim::Optimizer& optimizer,
                                         const optim::OptimizerState& local) {
  // The gathers below need the same experts on every process: checked first, on all at once.
  check_experts_alike(op, model, "their optimizer state cannot be gathered");
  const auto lists = list_parameters(model);
  const auto& groups = optimizer.param_groups();
  std::vector<GroupLayout> layouts;
  for (const auto& group : groups) layouts.push_back(group_layout(op, group.params, lists));
  optim::OptimizerState full;
  // Entries keyed (group, full index, buffer), for a deterministic order.
  std::map<std::tuple<int64_t, int64_t, size_t>, std::pair<std::string, Tensor>> tensors;
  const auto& buffers = optimizer.buffers();
  auto buffer_order = [&](const std::string& name) {
    for (size_t b = 0; b < buffers.size(); ++b)
      if (buffers[b].name == name) return b;
    return buffers.size();
  };
  // The one-process index of local parameter i of group g, for a name the optimizer wrote.
  auto full_index = [&](const std::string& key, int64_t g, int64_t i) {
    MG_CHECK(g >= 0 && g < static_cast<int64_t>(layouts.size()) && i >= 0 &&
                 i < static_cast<int64_t>(layouts[static_cast<size_t>(g)].full_of_local.size()),
             op, "the optimizer state names '", key,
             "' of a parameter the optimizer does not have");
    return layouts[static_cast<size_t>(g)].full_of_local[static_cast<size_t>(i)];
  };
  for (const auto& [key, value] : local.scalars) {
    int64_t g = 0, i = 0;
    std::string rest;
    if (!parse_state_name(key, &g, &i, &rest)) {
      full.scalars[key] = value;
      continue;
    }
    const int64_t f = full_index(key, g, i);
    const GroupLayout::Slot& slot = layouts[static_cast<size_t>(g)].full[static_cast<size_t>(f)];
    if (slot.rank < 0)  // the list entries come from the gather below
      full.scalars[optim::detail::state_prefix(g, f) + rest] = value;
  }
  std::vector<std::pair<std::string, Tensor>> other_tensors;  // not per parameter: kept first
  for (const auto& [key, value] : local.tensors) {
    int64_t g = 0, i = 0;
    std::string rest;
    if (!parse_state_name(key, &g, &i, &rest)) {
      other_tensors.emplace_back(key, value);
      continue;
    }
    const int64_t f = full_index(key, g, i);
    if (layouts[static_cast<size_t>(g)].full[static_cast<size_t>(f)].rank < 0)
      tensors[{g, f, buffer_order(rest)}] = {optim::detail::state_prefix(g, f) + rest, value};
  }
  for (size_t g = 0; g < layouts.size(); ++g) {
    const GroupLayout& layout = layouts[g];
    full.scalars[group_params_key(g)] = std::to_string(layout.full.size());
    for (const GroupLayout::Run& run : layout.runs) {
      const Group& group = run.placement->group();
      // Every process's steps and buffers of its experts, gathered in rank order.
      std::vector<int64_t> steps(static_cast<size_t>(run.count), 0);
      for (int64_t r = 0; r < run.count; ++r) {
        const auto it = local.scalars.find(optim::detail::state_prefix(g, run.begin + r) + "step");
        if (it != local.scalars.end()) steps[static_cast<size_t>(r)] = std::stoll(it->second);
      }
      const std::vector<int64_t> all_steps = all_gather(tensor(steps), group).to_vector<int64_t>();
      std::vector<std::vector<Tensor>> gathered(buffers.size());  // [buffer][r]: [P, shape]
      std::vector<std::vector<int64_t>> defined(buffers.size());  // [buffer][q * count + r]
      for (size_t b = 0; b < buffers.size(); ++b) {
        std::vector<int64_t> mine(static_cast<size_t>(run.count), 0);
        for (int64_t r = 0; r < run.count; ++r) {
          const std::string name = optim::detail::state_prefix(g, run.begin + r) + buffers[b].name;
          Tensor value;
          for (const auto& [key, t] : local.tensors)
            if (key == name) value = t;
          mine[static_cast<size_t>(r)] = value.defined() ? 1 : 0;
          if (!value.defined()) value = zeros_like(groups[g].params[run.begin + r]);
          gathered[b].push_back(all_gather(value.unsqueeze(0), group));
        }
        defined[b] = all_gather(tensor(mine), group).to_vector<int64_t>();
      }
      for (int64_t f = run.full_begin;
           f < run.full_begin +
                   run.placement->num_experts() * (run.count / run.placement->local_experts());
           ++f) {
        const GroupLayout::Slot& slot = layout.full[static_cast<size_t>(f)];
        const int64_t r = slot.local - run.begin;
        const int64_t at = slot.rank * run.count + r;
        const int64_t step = all_steps[static_cast<size_t>(at)];
        if (step == 0) continue;  // never updated: no state, as the optimizer keeps it
        const std::string prefix = optim::detail::state_prefix(g, f);
        full.scalars[prefix + "step"] = std::to_string(step);
        for (size_t b = 0; b < buffers.size(); ++b)
          if (defined[b][static_cast<size_t>(at)])
            tensors[{static_cast<int64_t>(g), f, b}] = {
                prefix + buffers[b].name,
                gathered[b][static_cast<size_t>(r)].select(0, slot.rank).contiguous()};
      }
    }
  }
  full.tensors = std::move(other_tensors);
  for (auto& [order, entry] : tensors) full.tensors.push_back(std::move(entry));
  return full;
}

// The one-process layout -> this process's, keeping the entries of its own experts.
optim::OptimizerState list_state_to_local(const char* op, nn::Module& model,
                                          const optim::Optimizer& optimizer,
                                          const optim::OptimizerState& full) {
  const auto lists = list_parameters(model);
  const auto& groups = optimizer.param_groups();
  std::vector<std::vector<int64_t>> local_of_full;  // -1: another process's expert
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupLayout layout = group_layout(op, groups[g].params, lists);
    const auto it = full.scalars.find(group_params_key(g));
    MG_CHECK(it == full.scalars.end() || it->second == std::to_string(layout.full.size()), op,
             "the optimizer state holds ", it == full.scalars.end() ? "" : it->second,
             " parameters in group ", g, ", but this model has ", layout.full.size(),
             " there in one process's layout");
    std::vector<int64_t> map(layout.full.size(), -1);
    for (size_t f = 0; f < layout.full.size(); ++f)
      if (layout.full_of_local.at(static_cast<size_t>(layout.full[f].local)) ==
          static_cast<int64_t>(f))
        map[f] = layout.full[f].local;
    local_of_full.push_back(std::move(map));
  }
  auto local_name = [&](const std::string& key, std::string* out) {
    int64_t g = 0, f = 0;
    std::string rest;
    if (!parse_state_name(key, &g, &f, &rest)) {
      *out = key;
      return true;
    }
    MG_CHECK(g >= 0 && g < static_cast<int64_t>(local_of_full.size()) && f >= 0 &&
                 f < static_cast<int64_t>(local_of_full[static_cast<size_t>(g)].size()),
             op, "the optimizer state names '", key, "' of a parameter the model does not have");
    const int64_t i = local_of_full[static_cast<size_t>(g)][static_cast<size_t>(f)];
    if (i < 0) return false;
    *out = optim::detail::state_prefix(static_cast<size_t>(g), static_cast<size_t>(i)) + rest;
    return true;
  };
  optim::OptimizerState local;
  for (const auto& [key, value] : full.scalars) {
    std::string name;
    if (local_name(key, &name)) local.scalars[name] = value;
  }
  for (size_t g = 0; g < groups.size(); ++g)
    local.scalars[group_params_key(g)] = std::to_string(groups[g].params.size());
  for (const auto& [key, value] : full.tensors) {
    std::string name;
    if (local_name(key, &name)) local.tensors.emplace_back(name, value);
  }
  return local;
}

}  // namespace

optim::OptimizerState full_optimizer_state(nn::Module& model, const optim::Optimizer& optimizer) {
  const char* op = "dist.full_optimizer_state";
  NoGradGuard no_grad;
  optim::OptimizerState state = optimizer.state_dict();
  for_expert_state(op, model, optimizer, state, [](Tensor& t, const AllToAllPlacement& placement) {
    if (t.dim() >= 1 && t.size(0) == placement.local_experts())
      t = all_gather(t, placement.group());
  });
  if (list_parameters(model).empty()) return state;
  return list_state_to_full(op, model, optimizer, state);
}

void load_full_optimizer_state(nn::Module& model, optim::Optimizer& optimizer,
                               optim::OptimizerState state) {
  const char* op = "dist.load_full_optimizer_state";
  NoGradGuard no_grad;
  if (!list_parameters(model).empty()) state = list_state_to_local(op, model, optimizer, state);
  for_expert_state(op, model, optimizer, state, [](Tensor& t, const AllToAllPlacement& placement) {
    if (t.dim() >= 1 && t.size(0) == placement.num_experts())
      t = t.narrow(0, placement.first_expert(), placement.local_experts()).contiguous();
  });
  optimizer.load_state_dict(state);
}

CheckpointShares checkpoint_shares(nn::Module& model, const optim::Optimizer* optimizer) {
  const char* op = "dist.checkpoint_shares";
  NoGradGuard no_grad;
  check_experts_alike(op, model, "one process's layout cannot number them");
  CheckpointShares out;
  io::CheckpointContents& experts = out.experts.contents;
  io::CheckpointContents& shared = out.shared.contents;
  const auto layers = sharded_layers(model);
  for (const auto& [name, t] : model.state_dict()) {
    std::string prefix, tail;
    const AllToAllPlacement* placement = expert_owner(layers, name, &prefix);
    if (!placement) {
      shared.module_state.emplace_back(name, t);
      continue;
    }
    const int64_t j = leading_index(name.substr(prefix.size()), &tail);
    if (j >= 0) {  // an ExpertList's expert j: named as one process names it
      experts.module_state.emplace_back(
          prefix + std::to_string(placement->first_expert() + j) + tail, t);
      continue;
    }
    MG_CHECK(t.dim() >= 1 && t.size(0) == placement->local_experts(), op, "'", name,
             "' must hold this process's ", placement->local_experts(),
             " experts along dim 0, got shape ", t.shape());
    experts.module_state.emplace_back(name, t);
    out.experts.rows[name] = {placement->first_expert(), placement->num_experts()};
  }
  if (optimizer == nullptr) return out;

  // The optimizer's entries, renumbered to one process's layout. The state of an ExpertList's
  // experts is this process's alone; of stacked experts, the rows of tensors stacked like the
  // parameter are, and the rest (the step) is the same on every process, so it is shared.
  const optim::OptimizerState state = optimizer->state_dict();
  const auto placements = expert_placements(model);
  const auto lists = list_parameters(model);
  const auto& groups = optimizer->param_groups();
  std::vector<GroupLayout> layouts;
  for (const auto& group : groups) layouts.push_back(group_layout(op, group.params, lists));
  struct Place {
    std::string name;                              // in one process's layout
    const AllToAllPlacement* placement = nullptr;  // set for this process's experts
    bool stacked = false;
  };
  auto place = [&](const std::string& key) {
    int64_t g = 0, i = 0;
    std::string rest;
    if (!parse_state_name(key, &g, &i, &rest)) return Place{key};
    MG_CHECK(g >= 0 && g < static_cast<int64_t>(layouts.size()) && i >= 0 &&
                 i < static_cast<int64_t>(groups[static_cast<size_t>(g)].params.size()),
             op, "the optimizer state names '", key,
             "' of a parameter the optimizer does not have");
    Place p{optim::detail::state_prefix(
                static_cast<size_t>(g),
                static_cast<size_t>(
                    layouts[static_cast<size_t>(g)].full_of_local[static_cast<size_t>(i)])) +
            rest};
    const auto it = placements.find(
        groups[static_cast<size_t>(g)].params[static_cast<size_t>(i)].impl_ptr().get());
    if (it != placements.end()) std::tie(p.placement, p.stacked) = it->second;
    return p;
  };
  for (const auto& [key, value] : state.scalars) {
    const Place p = place(key);
    (p.placement && !p.stacked ? experts : shared).optimizer_scalars[p.name] = value;
  }
  for (size_t g = 0; g < layouts.size(); ++g)
    shared.optimizer_scalars[group_params_key(g)] = std::to_string(layouts[g].full.size());
  for (const auto& [key, t] : state.tensors) {
    const Place p = place(key);
    if (p.placement && p.stacked && t.dim() >= 1 && t.size(0) == p.placement->local_experts()) {
      experts.optimizer_tensors.emplace_back(p.name, t);
      out.experts.rows[io::kOptimizerPrefix + p.name] = {p.placement->first_expert(),
                                                         p.placement->num_experts()};
    } else {
      (p.placement && !p.stacked ? experts : shared).optimizer_tensors.emplace_back(p.name, t);
    }
  }
  return out;
}

}  // namespace mixgrad::dist
