#pragma once
// Reader for the CIFAR-10 binary batches (data_batch_1.bin ... data_batch_5.bin,
// test_batch.bin): back-to-back 3073-byte records of one label byte (0-9) and 3072 pixel bytes
// (the 32x32 red plane, then green, then blue, each row-major).
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mixgrad::data {

struct CifarBatch {
  Tensor images;  // float32 [N, 3, 32, 32], pixel / 255 so values lie in [0, 1]
  Tensor labels;  // int64 [N], class indices 0-9
};

// One batch file. Throws mixgrad::Error naming the file when it cannot be read, is empty, has a
// size that is not a multiple of 3073 (truncated: the error names the incomplete record and its
// byte offset), or holds a label >= 10 (the error names the record index and byte offset).
CifarBatch read_cifar10_batch(const std::string& path);

// Several batch files, concatenated in the order given (all sizes are checked before any data
// is read, and the result is allocated once). Throws as read_cifar10_batch, or for an empty list.
CifarBatch read_cifar10(const std::vector<std::string>& paths);

}  // namespace mixgrad::data
