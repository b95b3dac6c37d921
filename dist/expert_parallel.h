#pragma once
// Expert parallelism (as DeepSpeed's ep_size, GShard, Switch): the experts of each MoE layer
// spread over the processes of an expert group, E / P each. The gate runs on every process;
// each token-slot travels to the process holding its expert (one all-to-all of counts and one
// of rows), the experts run on the rows they received, the outputs return by the reverse
// all-to-all, and combining is local. Capacity is decided over the tokens of the whole group,
// in rank order, so the same tokens are dropped as when one process runs the group's tokens as
// one batch; dropless layers keep every token.
//
//   mg::dist::init();
//   auto groups = mg::dist::parallel_groups(/*expert_parallel=*/2);
//   auto model = build_model();                        // as for one process, same seed everywhere
//   mg::dist::shard_experts(*model, groups.expert);    // every MoE layer keeps this rank's experts
//   mg::dist::DataParallel ddp(*model, groups);        // gradients averaged where they must be
//
// What differs from one process: balancing losses (aux_loss) and routing statistics are
// computed over each process's own tokens, as DeepSpeed does; a noisy gate draws its own noise.
#include <vector>

#include "dist/process_group.h"
#include "io/sharded_checkpoint.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace mixgrad::dist {

// Spreads the experts of every models::MoE layer in `model` over `expert_group`: process r
// keeps experts [r * E / P, (r + 1) * E / P) (FFNExperts and ExpertList can be cut) and routes
// through the group. Returns the number of layers. Throws Error (before changing anything)
// if a layer's expert count is not divisible by the group size, a layer is already sharded,
// or its experts cannot be cut.
int64_t shard_experts(nn::Module& model, const Group& expert_group);

// The parameters of the sharded experts in `model` (what each process alone holds), and all the
// others (replicated on every process).
std::vector<Tensor> expert_parameters(nn::Module& model);
std::vector<Tensor> replicated_parameters(nn::Module& model);
// The same split of the buffers (an expert's running statistics belong to its process).
std::vector<Tensor> expert_buffers(nn::Module& model);
std::vector<Tensor> replicated_buffers(nn::Module& model);

// Checkpoints across layouts. full_state_dict: the state dict of the same model in one process
// (every expert gathered under its global name, in one process's order; collective over the
// expert groups; an ExpertList's experts must have the same names and shapes on every process).
// load_full_state_dict: a one-process state dict into a sharded model (this process's experts
// taken from it), so that a checkpoint saved at one expert-parallel size loads at any other.
NamedTensors full_state_dict(nn::Module& model);
void load_full_state_dict(nn::Module& model, const NamedTensors& state, bool strict = true);
// What load_full_state_dict loads: the entries of a one-process state dict that this process
// holds, under its own names (the rest of its experts' rows, other processes' experts left out).
NamedTensors local_state_dict(nn::Module& model, const NamedTensors& state);
// The optimizer's state as one process would hold it for the same model: the state tensors of
// stacked experts (FFNExperts) gathered along dim 0 like their parameters, and the state of an
// ExpertList's experts gathered and renumbered to the parameter positions of one process's
// layout (where all E experts' parameters stand in the place of the local ones). Collective over
// the expert groups. Throws Error when the optimizer does not list an ExpertList's parameters
// together and in the experts' order (as Module::parameters() does).
optim::OptimizerState full_optimizer_state(nn::Module& model, const optim::Optimizer& optimizer);
// The inverse: a one-process optimizer state for the same model loaded into `optimizer` (this
// process's share of each expert's state taken), e.g. to resume a checkpoint written by
// full_optimizer_state at any expert-parallel size. Throws Error as optimizer.load_state_dict,
// and for a state of another number of parameters.
void load_full_optimizer_state(nn::Module& model, optim::Optimizer& optimizer,
                               optim::OptimizerState state);

// This process's share of the one-process checkpoint, under one-process names and parameter
// numbers (as full_state_dict and full_optimizer_state give them), with no tensor moved between
// processes: `experts` holds what only the processes holding this process's experts have (a
// stacked tensor as its rows of the one-process tensor), `shared` everything else. The parts
// that dist::save_checkpoint writes; `optimizer` may be null. Collective over the expert groups
// (every process's experts must have the same structure: checked on all at once). Throws Error
// as full_optimizer_state.
struct CheckpointShares {
  io::CheckpointPart experts;
  io::CheckpointPart shared;
};
CheckpointShares checkpoint_shares(nn::Module& model, const optim::Optimizer* optimizer);

}  // namespace mixgrad::dist
