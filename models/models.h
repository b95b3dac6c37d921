#pragma once
// The composite models built on the generic ops (included by <mixgrad.h>): the sparse MoE layer
// and its gates and experts, hierarchical MoE, expert ensembles, MANN and PFNN, the ResNet block,
// the Transformer block with an MoE feed-forward and the MoE language model.
#include "models/bias_balanced_gate.h"
#include "models/blended_linear.h"
#include "models/cifar_cnn_moe.h"
#include "models/custom_experts.h"
#include "models/expert_choice_gate.h"
#include "models/expert_ensemble.h"
#include "models/feed_forward.h"
#include "models/hierarchical_moe.h"
#include "models/mann.h"
#include "models/moe.h"
#include "models/moe_transformer_lm.h"
#include "models/noisy_top_k_gate.h"
#include "models/phase_function.h"
#include "models/resnet_block.h"
#include "models/top_k_gate.h"
#include "models/transformer_block.h"
