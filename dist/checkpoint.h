#pragma once
// Checkpoints of a model trained over several processes, in either direction between layouts:
//
//   mg::dist::save_checkpoint("runs/x/checkpoint", *model, &optimizer, {{"epoch", "3"}});
//   // ... later, at any expert-parallel size, or in one process with io::load_checkpoint:
//   mg::dist::load_checkpoint("runs/x/checkpoint", *model, &optimizer);
//
// A model with sharded experts (dist::shard_experts) is saved as a directory of parts
// (io/sharded_checkpoint.h): every process's experts are written by the first process that
// holds them, everything else by rank 0, and nothing is gathered, so saving needs no process to
// hold more than its own share (loading reads the whole checkpoint in each process). `mixgrad
// checkpoint merge` (io::merge_checkpoint) makes it the one file one process writes.
#include <map>
#include <string>

#include "nn/module.h"
#include "optim/optimizer.h"

namespace mixgrad::dist {

// Collective over the world. A model with sharded experts goes to the directory `path` (created
// if needed; a previous checkpoint there is replaced only once the new one is complete), any
// other model to the file `path`, written by rank 0 (every process holds the same). `optimizer`
// may be null. Throws on every process when any process fails (there its own Error, elsewhere
// an Error naming the processes that failed), leaving any previous checkpoint at `path` whole;
// throws Error as io::save_checkpoint, and when the processes' experts differ in structure.
void save_checkpoint(const std::string& path, nn::Module& model,
                     const optim::Optimizer* optimizer = nullptr,
                     const std::map<std::string, std::string>& metadata = {});

// Loads a checkpoint written by save_checkpoint at any expert-parallel size, or by one process,
// into `model` as this process holds it (its experts taken from the file), and `optimizer`
// (which must then be in the checkpoint) likewise; returns the caller's metadata. Every process
// reads the whole checkpoint. Not collective. Throws Error as io::load_checkpoint.
std::map<std::string, std::string> load_checkpoint(const std::string& path, nn::Module& model,
                                                   optim::Optimizer* optimizer = nullptr,
                                                   bool strict = true);

}  // namespace mixgrad::dist
