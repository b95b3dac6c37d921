#include "dist/checkpoint.h"

#include <exception>
#include <filesystem>
#include <functional>
#include <vector>

#include "core/grad_mode.h"
#include "dist/collectives.h"
#include "dist/expert_parallel.h"
#include "io/checkpoint.h"
#include "io/sharded_checkpoint.h"
#include "ops/creation.h"

namespace mixgrad::dist {
namespace {

// What a step of the save did on this process: nothing, or the exception it threw.
using Failure = std::exception_ptr;

// Runs `step`, catching what it throws (the standard library's exceptions, e.g. a filesystem
// error, as Error(op, ...)).
template <class F>
Failure failure_of(const char* op, F&& step) {
  try {
    step();
  } catch (const Error&) {
    return std::current_exception();
  } catch (const std::exception& e) {
    return std::make_exception_ptr(Error(op, e.what()));
  }
  return nullptr;
}

// Collective: throws on every process unless no process failed (this process's own exception
// where it failed, else an Error naming the processes that did).
void all_succeeded(const char* op, const std::string& step, const Failure& failure) {
  Tensor failed = tensor(std::vector<int64_t>{failure ? 1 : 0});
  const std::vector<int64_t> all = all_gather(failed).to_vector<int64_t>();
  if (failure) std::rethrow_exception(failure);
  std::string ranks;
  for (size_t r = 0; r < all.size(); ++r)
    if (all[r] != 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  MG_CHECK(ranks.empty(), op, step, " failed on process ", ranks);
}

// Rank 0's value of `text` (at most 64 characters) on every process.
std::string broadcast_text(const std::string& text) {
  std::vector<int64_t> chars(64, 0);
  for (size_t i = 0; i < text.size() && i < chars.size(); ++i) chars[i] = text[i];
  std::string out;
  for (int64_t c : broadcast(tensor(chars), 0).to_vector<int64_t>())
    if (c != 0) out.push_back(static_cast<char>(c));
  return out;
}

// What identifies the experts a process holds (its part's module names and rows; the optimizer's
// entries may differ between processes holding the same experts): equal for processes holding
// the same experts.
int64_t experts_key(const io::CheckpointPart& part) {
  std::string text;
  for (const auto& [name, t] : part.contents.module_state) {
    const auto rows = part.rows.find(name);
    text += name + "@" + (rows == part.rows.end() ? "" : std::to_string(rows->second.offset)) + ";";
  }
  return static_cast<int64_t>(std::hash<std::string>{}(text) >> 1);
}

}  // namespace

void save_checkpoint(const std::string& path, nn::Module& model, const optim::Optimizer* optimizer,
                     const std::map<std::string, std::string>& metadata) {
  const char* op = "dist.save_checkpoint";
  NoGradGuard no_grad;
  const int me = rank();
  if (expert_parameters(model).empty() && expert_buffers(model).empty()) {
    // Every process holds the whole model: rank 0 writes it.
    Failure failure;
    if (me == 0)
      failure = failure_of(op, [&] { io::save_checkpoint(path, model, optimizer, metadata); });
    all_succeeded(op, "writing '" + path + "'", failure);
    return;
  }
  // Everything that can fail on one process alone, before the first collective that needs it.
  CheckpointShares shares;
  std::string generation;
  Failure failure = failure_of(op, [&] {
    shares = checkpoint_shares(model, optimizer);
    if (me == 0) {
      generation = io::new_checkpoint_generation();
      std::filesystem::create_directories(path);
      MG_CHECK(std::filesystem::is_directory(path), op, "'", path, "' is not a directory");
    }
  });
  all_succeeded(op, "preparing '" + path + "'", failure);
  generation = broadcast_text(generation);
  // The experts of each set of processes that hold the same ones are written by the first.
  const std::vector<int64_t> keys =
      all_gather(tensor(std::vector<int64_t>{experts_key(shares.experts)})).to_vector<int64_t>();
  auto writes_experts = [&](int r) {
    for (int q = 0; q < r; ++q)
      if (keys[static_cast<size_t>(q)] == keys[static_cast<size_t>(r)]) return false;
    return true;
  };
  auto experts_part = [](int r) { return "experts-" + std::to_string(r); };
  failure = failure_of(op, [&] {
    if (me == 0) {
      shares.shared.contents.metadata = metadata;
      io::write_checkpoint_part(path, "shared", generation, shares.shared);
    }
    if (writes_experts(me))
      io::write_checkpoint_part(path, experts_part(me), generation, shares.experts);
  });
  all_succeeded(op, "writing a part of '" + path + "'", failure);
  failure = nullptr;
  if (me == 0) {
    std::vector<std::string> parts = {"shared"};
    for (int r = 0; r < static_cast<int>(keys.size()); ++r)
      if (writes_experts(r)) parts.push_back(experts_part(r));
    failure = failure_of(op, [&] { io::write_checkpoint_manifest(path, generation, parts); });
  }
  all_succeeded(op, "writing the manifest of '" + path + "'", failure);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, nn::Module& model,
                                                   optim::Optimizer* optimizer, bool strict) {
  io::CheckpointContents contents = io::read_checkpoint(path);
  try {
    // Check the module, then load the optimizer (all or nothing), then the module, as
    // io::load_checkpoint does: no failure leaves one loaded and the other not.
    const NamedTensors local = local_state_dict(model, contents.module_state);
    model.check_state_dict(local, strict);
    if (optimizer != nullptr) {
      MG_CHECK(!contents.optimizer_scalars.empty(), "load_checkpoint",
               "the checkpoint holds no optimizer state");
      load_full_optimizer_state(
          model, *optimizer,
          {std::move(contents.optimizer_tensors), std::move(contents.optimizer_scalars)});
    }
    model.load_state_dict(local, strict);
  } catch (const Error& e) {
    throw Error("load_checkpoint", "'" + path + "': " + e.what());
  }
  return contents.metadata;
}

}  // namespace mixgrad::dist
