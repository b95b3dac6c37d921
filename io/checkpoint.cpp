#include "io/checkpoint.h"

#include "io/safetensors.h"
#include "io/sharded_checkpoint.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace mixgrad::io {
namespace {

bool has_optimizer_prefix(const std::string& name) {
  return name.starts_with(kOptimizerPrefix);
}

// A file's metadata: the optimizer's scalars, and the caller's (without the format's "format").
void split_metadata(const StringMap& metadata, CheckpointContents& contents) {
  const std::size_t prefix_length = std::string(kOptimizerPrefix).size();
  for (const auto& [key, value] : metadata) {
    if (has_optimizer_prefix(key)) {
      contents.optimizer_scalars[key.substr(prefix_length)] = value;
    } else if (key != "format") {
      contents.metadata[key] = value;
    }
  }
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& module,
                     const optim::Optimizer* optimizer,
                     const std::map<std::string, std::string>& metadata) {
  if (optimizer == nullptr) {
    save_checkpoint(path, module.state_dict(), nullptr, metadata);
    return;
  }
  const optim::OptimizerState state = optimizer->state_dict();
  save_checkpoint(path, module.state_dict(), &state, metadata);
}

void save_checkpoint(const std::string& path, const NamedTensors& module_state,
                     const optim::OptimizerState* optimizer_state,
                     const std::map<std::string, std::string>& metadata) {
  NamedTensors tensors = module_state;
  for (const auto& [name, t] : tensors) {
    MG_CHECK(!has_optimizer_prefix(name), "save_checkpoint", "module tensor '", name,
             "' uses the prefix reserved for optimizer state (", kOptimizerPrefix, ")");
  }
  // "format": "pt" is what Hugging Face loaders expect of a PyTorch-layout file.
  StringMap header{{"format", "pt"}};
  for (const auto& [key, value] : metadata) {
    MG_CHECK(key != "format", "save_checkpoint",
             "metadata key 'format' is reserved (it says \"pt\": PyTorch tensor layout)");
    MG_CHECK(!has_optimizer_prefix(key), "save_checkpoint", "metadata key '", key,
             "' uses the prefix reserved for optimizer state (", kOptimizerPrefix, ")");
    header[key] = value;
  }
  if (optimizer_state != nullptr) {
    for (const auto& [name, t] : optimizer_state->tensors)
      tensors.emplace_back(kOptimizerPrefix + name, t);
    for (const auto& [key, value] : optimizer_state->scalars)
      header[kOptimizerPrefix + key] = value;
  }
  save_safetensors(path, tensors, header);
}

CheckpointContents read_checkpoint(const std::string& path) {
  if (is_sharded_checkpoint(path)) return read_sharded_checkpoint(path);
  SafetensorsFile file = load_safetensors(path);
  CheckpointContents contents;
  const std::size_t prefix_length = std::string(kOptimizerPrefix).size();
  for (auto& [name, t] : file.tensors) {
    if (has_optimizer_prefix(name)) {
      contents.optimizer_tensors.emplace_back(name.substr(prefix_length), t);
    } else {
      contents.module_state.emplace_back(name, t);
    }
  }
  split_metadata(file.metadata, contents);
  return contents;
}

CheckpointContents read_checkpoint_metadata(const std::string& path) {
  if (is_sharded_checkpoint(path)) return read_sharded_checkpoint_metadata(path);
  CheckpointContents contents;
  split_metadata(load_safetensors_metadata(path), contents);
  return contents;
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, nn::Module& module,
                                                   optim::Optimizer* optimizer, bool strict) {
  CheckpointContents contents = read_checkpoint(path);
  NamedTensors& module_state = contents.module_state;
  optim::OptimizerState optimizer_state;
  optimizer_state.tensors = std::move(contents.optimizer_tensors);
  optimizer_state.scalars = std::move(contents.optimizer_scalars);
  std::map<std::string, std::string>& user_metadata = contents.metadata;
  try {
    // Check the module, then load the optimizer (all or nothing), then the module (which can no
    // longer fail): no path leaves one loaded and the other not.
    module.check_state_dict(module_state, strict);
    if (optimizer != nullptr) {
      MG_CHECK(!optimizer_state.scalars.empty(), "load_checkpoint",
               "the file holds no optimizer state");
      optimizer->load_state_dict(optimizer_state);
    }
    module.load_state_dict(module_state, strict);
  } catch (const Error& e) {
    throw Error("load_checkpoint", "'" + path + "': " + e.what());
  }
  return user_metadata;
}

}  // namespace mixgrad::io
