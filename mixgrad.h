#pragma once
// mixgrad: define-by-run tensors with reverse-mode autodiff. Include this one header.
//
//   #include <mixgrad.h>
//   auto w = mg::randn({4, 3}).requires_grad_();
//   auto loss = mg::relu(mg::matmul(x, w)).sum();
//   loss.backward();  // w.grad() now holds d loss / d w
#include "autograd/engine.h"
#include "autograd/function.h"
#include "autograd/graph_export.h"
#include "backends/cpu_api.h"
#include "backends/cuda_api.h"
#include "core/allocator.h"
#include "core/deterministic.h"
#include "core/generator.h"
#include "core/grad_mode.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "data/data.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "models/models.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "optim/optim.h"
#include "testing/gradcheck.h"
#include "train/train.h"

namespace mg = mixgrad;
