#include "dist/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "autograd/engine.h"
#include "core/grad_mode.h"
#include "dist/collectives.h"
#include "dist/expert_parallel.h"
#include "ops/ops.h"

namespace mixgrad::dist {

namespace {

const char* kOp = "DataParallel";
constexpr int64_t kFirstBucketBytes = int64_t{1} << 20;

// The dtype a parameter's gradient travels in: the transport reduces float32 and float64.
DType wire_dtype(DType t) {
  return t == DType::Float64 ? kFloat64 : kFloat32;
}

}  // namespace

// The parameters averaged over one group, in buckets.
struct DataParallel::State {
  struct Slot {
    Tensor param;
    size_t bucket = 0;
    int64_t offset = 0;  // of its values in the bucket's buffer
    int64_t flag = 0;    // of its "had a gradient" flag in the bucket's buffer
    HookId hook = 0;
    bool filled = false;
  };
  struct Bucket {
    Tensor buffer;  // CPU, wire dtype: every slot's values, then one flag per slot
    std::vector<size_t> slots;
    size_t missing = 0;
    std::unique_ptr<PendingReduction> pending;  // while its reduction runs
  };

  Group group;  // a private duplicate: its reductions never interleave with other collectives
  double processes = 1;  // the divisor of the summed gradients
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::vector<Tensor> buffers;  // broadcast from rank 0, not reduced
  size_t next_launch = 0;
  size_t next_poll = 0;  // buckets before it have finished reducing
  double wait_seconds = 0;

  void reset();
  void take(size_t index, const Tensor& grad);
  void fill(Slot& slot, const Tensor& value, bool had_gradient);
  void launch_ready();
  void launch_rest();
  void wait_and_write();
  void settle() noexcept;
};

// What the groups' States of one DataParallel share: the no_sync switch and the backward pass
// their buckets collect. Every hook arms all of them, and one callback finishes all of them, so
// that a process whose experts got no rows (no hook of theirs ran) still joins every reduction.
struct DataParallel::Shared {
  bool sync = true;
  uint64_t armed_pass = 0;  // 0: no pass is collecting
  std::vector<std::unique_ptr<State>> states;

  void on_gradient(size_t state, size_t slot, const Tensor& grad,
                   const std::weak_ptr<Shared>& self);
  void finish();
};

void DataParallel::Shared::on_gradient(size_t state, size_t slot, const Tensor& grad,
                                       const std::weak_ptr<Shared>& self) {
  const autograd::PassInfo pass = autograd::current_pass();
  // autograd::grad() leaves .grad() alone, and so does gradient synchronisation.
  if (!sync || !pass.accumulates) return;
  if (armed_pass != pass.id) {
    // A pass that ended in an exception before its callback ran leaves reductions behind.
    for (auto& s : states) s->settle();
    armed_pass = pass.id;
    for (auto& s : states) s->reset();
    // Only its own pass's callback finishes: a backward run from a hook inside this pass
    // queues none of its own for these buckets.
    autograd::queue_callback([self, id = pass.id] {
      auto shared = self.lock();
      if (shared && shared->armed_pass == id) shared->finish();
    });
  }
  states[state]->take(slot, grad);
}

void DataParallel::Shared::finish() {
  armed_pass = 0;
  for (auto& s : states) s->launch_rest();
  for (auto& s : states) s->wait_and_write();
}

void DataParallel::State::reset() {
  next_launch = 0;
  next_poll = 0;
  for (Slot& s : slots) s.filled = false;
  for (Bucket& b : buckets) b.missing = b.slots.size();
}

void DataParallel::State::take(size_t index, const Tensor& grad) {
  Slot& slot = slots[index];
  MG_CHECK(slot.bucket >= next_launch, kOp, "a gradient of a parameter of shape ",
           slot.param.shape(),
           " arrived after its bucket was reduced (was it used by two backward passes at once?)");
  // The value .grad() will hold after this pass accumulates: what is averaged.
  const Tensor old = slot.param.grad();
  fill(slot, old.defined() ? old + grad : grad, true);
  if (!slot.filled) {
    slot.filled = true;
    if (--buckets[slot.bucket].missing == 0) launch_ready();
  }
  // MPI moves a started reduction along only inside MPI calls: look at the running ones.
  while (next_poll < next_launch && buckets[next_poll].pending->ready()) ++next_poll;
}

void DataParallel::State::fill(Slot& slot, const Tensor& value, bool had_gradient) {
  Tensor& buffer = buckets[slot.bucket].buffer;
  Tensor values = buffer.narrow(0, slot.offset, slot.param.numel());
  if (value.defined()) {
    values.copy_(value.reshape({-1}).to(kCPU));
  } else {
    values.zero_();
  }
  buffer.narrow(0, slot.flag, 1).fill_(had_gradient ? 1 : 0);
}

// Starts the reductions of the complete buckets at the front, in bucket order: every process
// starts the same reductions in the same order whenever its gradients arrive.
void DataParallel::State::launch_ready() {
  while (next_launch < buckets.size() && buckets[next_launch].missing == 0) {
    Bucket& b = buckets[next_launch++];
    b.pending = group.comm().start_all_reduce(b.buffer.data_ptr(), b.buffer.numel(),
                                              b.buffer.dtype(), ReduceOp::Sum);
  }
}

// Parameters without a gradient in this pass: their accumulated gradient (after no_sync
// passes) or zeros, flagged as unused here; then every remaining bucket starts.
void DataParallel::State::launch_rest() {
  for (Slot& s : slots) {
    if (s.filled) continue;
    const Tensor old = s.param.grad();
    fill(s, old, old.defined());
    s.filled = true;
    --buckets[s.bucket].missing;
  }
  launch_ready();
}

void DataParallel::State::wait_and_write() {
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& b : buckets) {
    b.pending->wait();
    b.pending.reset();
  }
  wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (Bucket& b : buckets) {
    const std::vector<double> flags =
        b.buffer.narrow(0, slots[b.slots.front()].flag, static_cast<int64_t>(b.slots.size()))
            .to_vector<double>();
    for (size_t k = 0; k < b.slots.size(); ++k) {
      if (flags[k] == 0) continue;  // no process had a gradient: it stays undefined
      Slot& s = slots[b.slots[k]];
      Tensor mean = b.buffer.narrow(0, s.offset, s.param.numel()) / processes;
      s.param.set_grad(mean.reshape(s.param.shape()).to(s.param.dtype()).to(s.param.device()));
    }
  }
}

// Waits for reductions still running (their buffers must not change or go away under them);
// a failed group ends them with an Error, which leaves nothing to wait for.
void DataParallel::State::settle() noexcept {
  for (Bucket& b : buckets) {
    if (!b.pending) continue;
    try {
      b.pending->wait();
    } catch (const Error&) {
    }
    b.pending.reset();
  }
}

DataParallel::DataParallel(nn::Module& module, DataParallelOptions options)
    : DataParallel(module, world(), options) {}

DataParallel::DataParallel(nn::Module& module, Group group, DataParallelOptions options)
    : shared_(std::make_shared<Shared>()) {
  std::vector<Tensor> trained;
  for (const Tensor& p : module.parameters())
    if (p.requires_grad()) trained.push_back(p);
  attach(std::move(trained), module.buffers(), group, options, group.size());
}

DataParallel::DataParallel(nn::Module& module, const ParallelGroups& groups,
                           DataParallelOptions options)
    : shared_(std::make_shared<Shared>()) {
  auto trained = [](std::vector<Tensor> all) {
    std::erase_if(all, [](const Tensor& p) { return !p.requires_grad(); });
    return all;
  };
  attach(trained(replicated_parameters(module)), replicated_buffers(module), groups.data, options,
         groups.data.size());
  // An expert's gradient already sums the contributions of every token of its expert group:
  // summed over the processes holding the same expert, it covers all processes' tokens once.
  attach(trained(expert_parameters(module)), expert_buffers(module), groups.expert_data, options,
         groups.expert.size() * groups.expert_data.size());
}

DataParallel::DataParallel(std::vector<Tensor> parameters, std::vector<Tensor> buffers, Group group,
                           DataParallelOptions options)
    : shared_(std::make_shared<Shared>()) {
  attach(std::move(parameters), std::move(buffers), group, options, group.size());
}

void DataParallel::attach(std::vector<Tensor> parameters, std::vector<Tensor> buffers,
                          const Group& group, const DataParallelOptions& options, int processes) {
  MG_CHECK(group.member(), kOp, "this process is not a member of the group");
  MG_CHECK(options.bucket_bytes >= 1, kOp, "bucket_bytes must be at least 1, got ",
           options.bucket_bytes);
  for (const Tensor& p : parameters)
    MG_CHECK(p.defined() && p.requires_grad() && p.is_leaf(), kOp,
             "every parameter must be a leaf that requires grad");
  // The processes must agree on the parameters, or the buckets would not line up: compare
  // counts, sizes and a digest of shapes and dtypes.
  {
    uint64_t digest = 1469598103934665603ull;
    auto mix = [&](uint64_t v) { digest = (digest ^ v) * 1099511628211ull; };
    int64_t elements = 0;
    for (const Tensor& p : parameters) {
      mix(static_cast<uint64_t>(p.dtype()));
      for (int64_t s : p.shape()) mix(static_cast<uint64_t>(s));
      elements += p.numel();
    }
    const int64_t mine[3] = {static_cast<int64_t>(parameters.size()), elements,
                             static_cast<int64_t>(digest >> 1)};
    Tensor low = tensor(std::vector<int64_t>(mine, mine + 3));
    Tensor high = low.clone();
    all_reduce_(low, ReduceOp::Min, group);
    all_reduce_(high, ReduceOp::Max, group);
    MG_CHECK(low.to_vector<int64_t>() == high.to_vector<int64_t>(), kOp, "the processes of ",
             group.describe(),
             " hold different parameters (counts, shapes or dtypes); this one has ",
             parameters.size(), " parameters with ", elements, " elements");
  }
  if (options.broadcast_state) {
    NoGradGuard no_grad;
    for (const std::vector<Tensor>* list : {&parameters, &buffers})
      for (const Tensor& t : *list) Tensor(t).copy_(broadcast(t, 0, group));
  }

  shared_->states.push_back(std::make_unique<State>());
  State* state = shared_->states.back().get();
  const size_t state_index = shared_->states.size() - 1;
  state->group = Group(group.comm().split(0, group.rank()));
  state->processes = processes;
  state->buffers = buffers;
  // Buckets: parameters in reverse order, one run per wire dtype, closed at bucket_bytes; the
  // first at most 1 MiB (as PyTorch's), so that communication starts early in the backward.
  std::map<DType, size_t> open;  // the bucket still filling, per wire dtype
  std::vector<int64_t> bucket_values;
  for (size_t k = parameters.size(); k-- > 0;) {
    const Tensor& p = parameters[k];
    const DType wire = wire_dtype(p.dtype());
    auto it = open.find(wire);
    if (it == open.end() ||
        (bucket_values[it->second] > 0 &&
         (bucket_values[it->second] + p.numel()) * static_cast<int64_t>(dtype_size(wire)) >
             (it->second == 0 ? std::min(options.bucket_bytes, kFirstBucketBytes)
                              : options.bucket_bytes))) {
      state->buckets.emplace_back();
      bucket_values.push_back(0);
      it = open.insert_or_assign(wire, state->buckets.size() - 1).first;
    }
    State::Slot slot;
    slot.param = p;
    slot.bucket = it->second;
    slot.offset = bucket_values[it->second];
    bucket_values[it->second] += p.numel();
    state->buckets[it->second].slots.push_back(state->slots.size());
    state->slots.push_back(slot);
  }
  for (size_t b = 0; b < state->buckets.size(); ++b) {
    State::Bucket& bucket = state->buckets[b];
    const DType wire = wire_dtype(state->slots[bucket.slots[0]].param.dtype());
    int64_t flag = bucket_values[b];
    for (size_t i : bucket.slots) state->slots[i].flag = flag++;
    bucket.buffer = zeros({flag}, TensorOptions(wire));
  }
  std::weak_ptr<Shared> weak = shared_;
  for (size_t i = 0; i < state->slots.size(); ++i) {
    state->slots[i].hook =
        state->slots[i].param.register_hook([weak, state_index, i](const Tensor& g) {
          if (auto shared = weak.lock()) shared->on_gradient(state_index, i, g, weak);
          return Tensor();
        });
  }
}

DataParallel::~DataParallel() {
  for (const auto& state : shared_->states) {
    for (const State::Slot& s : state->slots) s.param.remove_hook(s.hook);
    state->settle();
  }
}

DataParallel::NoSync::NoSync(DataParallel& ddp) : ddp_(ddp), saved_(ddp.shared_->sync) {
  ddp_.shared_->sync = false;
}

DataParallel::NoSync::~NoSync() {
  ddp_.shared_->sync = saved_;
}

void DataParallel::broadcast_buffers() {
  NoGradGuard no_grad;
  for (const auto& state : shared_->states)
    for (const Tensor& t : state->buffers) Tensor(t).copy_(broadcast(t, 0, state->group));
}

int64_t DataParallel::num_buckets() const {
  int64_t n = 0;
  for (const auto& state : shared_->states) n += static_cast<int64_t>(state->buckets.size());
  return n;
}

double DataParallel::wait_seconds() const {
  double seconds = 0;
  for (const auto& state : shared_->states) seconds += state->wait_seconds;
  return seconds;
}

}  // namespace mixgrad::dist
