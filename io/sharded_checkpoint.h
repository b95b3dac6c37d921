#pragma once
// A checkpoint written in parts by several processes at once, without gathering the model in
// one of them (an expert-parallel model: each process writes the experts it holds, one writes
// everything the processes share). It is a directory:
//
//   <dir>/manifest.json                         the parts that make the checkpoint; written last
//   <dir>/part-<name>.<generation>.safetensors  each one a checkpoint file (io/checkpoint.h)
//
// Every part holds entries of the one-process checkpoint under their one-process names: whole
// tensors, or rows of a tensor stacked over the experts (its metadata says which rows), plus
// optimizer scalars and the caller's metadata. read_checkpoint and load_checkpoint
// (io/checkpoint.h) read the directory as that one-process checkpoint; `mixgrad checkpoint
// merge` writes it as one file (merge_checkpoint). dist::save_checkpoint writes the parts.
//
// A save writes its parts under a new generation, then replaces the manifest atomically, then
// removes the parts of other generations (and temporary files of saves that were killed): a
// save that is interrupted leaves the previous checkpoint whole and readable. Reading merges
// every part in memory.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/checkpoint.h"

namespace mixgrad::io {

// Rows [offset, offset + rows) of a one-process tensor of `total` rows (dim 0).
struct RowRange {
  int64_t offset = 0;
  int64_t total = 0;
};

// One process's part of a checkpoint: `contents` in one-process names, and which of its tensors
// are rows of a larger one (keys: module tensor names, and optimizer tensor names with
// kOptimizerPrefix in front, as the file stores them).
struct CheckpointPart {
  CheckpointContents contents;
  std::map<std::string, RowRange> rows;
};

// True when `path` is a directory holding a manifest.json.
bool is_sharded_checkpoint(const std::string& path);

// A fresh generation name (random, so that saves from different runs or hosts never share one).
std::string new_checkpoint_generation();

// Writes one part (atomically, see save_safetensors) into an existing directory. `name` is
// [A-Za-z0-9_-]+. Throws Error for a bad name or range, a metadata key the format reserves, or
// any I/O failure.
void write_checkpoint_part(const std::string& dir, const std::string& name,
                           const std::string& generation, const CheckpointPart& part);

// Commits the parts `names` of `generation` (all written already) as the checkpoint in `dir`,
// then removes the parts of every other generation. Throws Error, leaving any previous
// checkpoint in place, when a part is missing or the manifest cannot be written.
void write_checkpoint_manifest(const std::string& dir, const std::string& generation,
                               const std::vector<std::string>& names);

// The one-process checkpoint that the parts in `dir` make together: tensors in the order the
// manifest's parts hold them (a stacked tensor where its first rows appear), rows joined along
// dim 0. A read that overlaps a save reads the checkpoint that save commits. Throws Error naming
// the directory and the problem for a missing or malformed manifest, a missing part or one of
// another generation, a tensor held by two parts, rows that overlap, leave a gap or disagree in
// dtype or shape, and scalars or metadata that two parts give differently.
CheckpointContents read_sharded_checkpoint(const std::string& dir);

// The same without tensors, reading only the parts' headers (see io::read_checkpoint_metadata).
CheckpointContents read_sharded_checkpoint_metadata(const std::string& dir);

// Writes the checkpoint at `from` (a directory of parts, or a file) as one file at `to`, the
// same entries one process saves for the same model (the shared tensors first, then the
// experts'), and returns what it wrote: `mixgrad checkpoint merge`.
CheckpointContents merge_checkpoint(const std::string& from, const std::string& to);

}  // namespace mixgrad::io
