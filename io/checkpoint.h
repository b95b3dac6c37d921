#pragma once
// Model checkpoints as safetensors files: the module's parameters and persistent buffers under
// their dotted names, optionally the optimizer's state under "__optimizer__." with its scalars
// in the header's metadata, and any metadata of the caller's. A checkpoint without optimizer
// state is what PyTorch's `model.load_state_dict(safetensors.torch.load_file(path))` reads;
// with one, drop the "__optimizer__." keys first (or load with strict=False).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mixgrad::nn {
class Module;
}
namespace mixgrad::optim {
class Optimizer;
struct OptimizerState;
}  // namespace mixgrad::optim

namespace mixgrad::io {

// Prefix of optimizer entries (tensor names and metadata keys) in a checkpoint.
inline constexpr const char* kOptimizerPrefix = "__optimizer__.";

// Saves atomically (see save_safetensors): an interrupted save keeps the previous file, and the
// temporary files of saves killed midway are removed by the next save of `path`.
// `metadata` keys must not be "format" (always "pt") or start with kOptimizerPrefix.
void save_checkpoint(const std::string& path, const nn::Module& module,
                     const optim::Optimizer* optimizer = nullptr,
                     const std::map<std::string, std::string>& metadata = {});

// The same from states already taken (a model spread over several processes gathers its
// state first, see dist::full_state_dict); `optimizer_state` may be null.
void save_checkpoint(const std::string& path, const NamedTensors& module_state,
                     const optim::OptimizerState* optimizer_state,
                     const std::map<std::string, std::string>& metadata = {});

// A checkpoint's parts as stored, for a model laid out differently from the file (a model
// spread over several processes, see dist::load_full_state_dict). `path` is a file, or a
// directory of parts written by several processes (io/sharded_checkpoint.h), read as the
// one-process checkpoint they make together. Throws Error for a corrupt file or directory.
struct CheckpointContents {
  NamedTensors module_state;
  std::vector<std::pair<std::string, Tensor>> optimizer_tensors;  // names without the prefix
  std::map<std::string, std::string> optimizer_scalars;
  std::map<std::string, std::string> metadata;  // the caller's
};
CheckpointContents read_checkpoint(const std::string& path);

// The same without the tensors (module_state and optimizer_tensors stay empty), reading only
// file headers: a checkpoint's metadata before it is loaded. Throws Error as read_checkpoint.
CheckpointContents read_checkpoint_metadata(const std::string& path);

// Loads a checkpoint (a file, or a directory of parts as read_checkpoint reads it) into `module`
// (and `optimizer`, which then must be in the file) and returns the caller's metadata. Everything
// is validated first: a missing, unexpected (with `strict`), misshapen or mistyped tensor, an
// optimizer state that does not fit, or a corrupt file throws one Error listing the problems, and
// neither the module nor the optimizer changes.
std::map<std::string, std::string> load_checkpoint(const std::string& path, nn::Module& module,
                                                   optim::Optimizer* optimizer = nullptr,
                                                   bool strict = true);

}  // namespace mixgrad::io
