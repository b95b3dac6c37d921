// The `mixgrad` command: the model zoo from the shell.
//   mixgrad zoo
//   mixgrad train fashion-moe --epochs 12 --out runs/fm
//   mixgrad eval fashion-moe --checkpoint runs/fm/checkpoint.safetensors
//   mixgrad graph fashion-moe --out step.dot --svg
//   mixgrad export mann --checkpoint runs/mq/checkpoint.safetensors --out mann-weights
//   mixgrad checkpoint merge runs/fm-ep2/checkpoint --out fm.safetensors
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/parallel.h"
#include "core/error.h"

namespace mixgrad::cli {

namespace {

void add_output_flags(CLI::App& app, Output& output) {
  app.add_flag("--quiet,-q", output.quiet, "print nothing but errors");
  app.add_flag("--json", output.json, "one JSON object per epoch (per result) on stdout");
}

// zoo::Settings reads 0 as "the model's default", so an explicit `--epochs 0` would silently
// train for the default number of epochs; a 0 the user typed is a mistake to report.
void reject_explicit_zeros(const CLI::App& cmd, const zoo::Settings& s) {
  const struct {
    const char* name;
    bool zero;
    const char* rule;
  } options[] = {{"--epochs", s.epochs == 0, ">= 1"},
                 {"--batch", s.batch == 0, ">= 1"},
                 {"--lr", s.lr == 0.0, "> 0"},
                 {"--experts", s.experts == 0, ">= 1"},
                 {"--top-k", s.top_k == 0, ">= 1"}};
  for (const auto& o : options) {
    if (o.zero && cmd.count(o.name) > 0) {
      throw Error("train", std::string(o.name) + " must be " + o.rule + ", got 0");
    }
  }
}

int main_impl(int argc, char** argv) {
  CLI::App app{"mixgrad: Mixture-of-Experts models in C++ (train, evaluate, inspect the zoo)",
               "mixgrad"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mixgrad 0.1.0");

  app.add_subcommand("zoo", "list every model with its sizes and data");

  TrainOptions train;
  std::string train_device = "cpu";
  auto* train_cmd = app.add_subcommand("train", "train a zoo model, evaluating every epoch");
  train_cmd->add_option("model", train.model, "model name (see `mixgrad zoo`)")->required();
  train_cmd->add_option("--epochs", train.settings.epochs, "epochs to train");
  train_cmd->add_option("--batch", train.settings.batch, "examples per batch");
  train_cmd->add_option("--lr", train.settings.lr, "peak learning rate (Adam, cosine decay)");
  train_cmd->add_option("--experts", train.settings.experts, "experts per MoE layer");
  train_cmd->add_option("--top-k", train.settings.top_k, "experts per token");
  train_cmd->add_option("--threads", train.threads, "CPU threads (default: all cores)");
  train_cmd->add_option("--device", train_device, "cpu or cuda")->capture_default_str();
  train_cmd->add_option("--seed", train.settings.seed, "random seed")->capture_default_str();
  train_cmd->add_option("--data", train.settings.data_dir, "data directory (default: the model's)");
  train_cmd->add_option("--out", train.out_dir, "output directory (default: runs/MODEL-TIME)");
  train_cmd->add_option("--resume", train.resume, "checkpoint to continue from");
  train_cmd->add_option("--ep", train.expert_parallel,
                        "processes sharing each MoE layer's experts (runs under mpirun)");
  train_cmd->add_option("--dp", train.data_parallel,
                        "data-parallel copies of the --ep group (runs under mpirun)");
  add_output_flags(*train_cmd, train.output);

  EvalOptions eval;
  auto* eval_cmd = app.add_subcommand("eval", "the test metric of a saved model");
  eval_cmd->add_option("model", eval.model, "model name")->required();
  eval_cmd->add_option("--checkpoint", eval.checkpoint, "checkpoint written by train")->required();
  eval_cmd->add_option("--data", eval.data_dir, "data directory (default: the model's)");
  eval_cmd->add_option("--threads", eval.threads, "CPU threads (default: all cores)");
  eval_cmd->add_option("--device", eval.device, "cpu or cuda")->capture_default_str();
  add_output_flags(*eval_cmd, eval.output);

  GraphOptions graph;
  auto* graph_cmd = app.add_subcommand("graph", "the computation graph of one training step");
  graph_cmd->add_option("model", graph.model, "model name")->required();
  graph_cmd->add_option("--out", graph.out, "DOT file to write")->required();
  graph_cmd->add_flag("--svg", graph.svg, "also render FILE.svg with Graphviz dot");
  graph_cmd->add_option("--data", graph.data_dir, "data directory (default: the model's)");

  ExportOptions export_options;
  auto* export_cmd = app.add_subcommand("export", "write a checkpoint in another runtime's layout");
  export_cmd->add_option("kind", export_options.kind, "mann: the original MANN binary files")
      ->required()
      ->check(CLI::IsMember({"mann"}));
  export_cmd->add_option("--checkpoint", export_options.checkpoint, "mann-quadruped checkpoint")
      ->required();
  export_cmd->add_option("--out", export_options.out_dir, "directory for the .bin files")
      ->required();

  CheckpointMergeOptions merge;
  auto* checkpoint_cmd = app.add_subcommand("checkpoint", "work with saved checkpoints");
  checkpoint_cmd->require_subcommand(1);
  auto* merge_cmd = checkpoint_cmd->add_subcommand(
      "merge", "write the parts of a run over several processes (--ep) as one file");
  merge_cmd->add_option("checkpoint", merge.checkpoint, "the checkpoint directory train wrote")
      ->required();
  merge_cmd->add_option("--out", merge.out, "the safetensors file to write")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.got_subcommand("zoo")) return run_zoo(std::cout);
  if (app.got_subcommand(train_cmd)) {
    reject_explicit_zeros(*train_cmd, train.settings);
    train.settings.device = parse_device(train_device);
    const Parallelism parallel{train.expert_parallel, train.data_parallel};
    check_parallelism(parallel);
    if (parallel.processes() > 1 && !dist::launched_by_mpi())
      relaunch_under_mpirun(parallel.processes(), argv);
    return run_train(train);
  }
  if (app.got_subcommand(eval_cmd)) return run_eval(eval);
  if (app.got_subcommand(export_cmd)) return run_export(export_options);
  if (app.got_subcommand(checkpoint_cmd)) return run_checkpoint_merge(merge);
  return run_graph(graph);
}

}  // namespace
}  // namespace mixgrad::cli

namespace {

// Under mpirun (--ep/--dp) every process may hit the same mistake: rank 0 reports it as the
// single-process command does, the others mark theirs with the rank and wait a moment, so that
// rank 0's line comes first. Then the whole run ends at once (MPI_Abort): processes without the
// error would otherwise wait for this one in a collective until the timeout.
void report_error(const char* what) {
  const int rank = mixgrad::dist::initialized() ? mixgrad::dist::rank() : 0;
  if (rank == 0) {
    std::fprintf(stderr, "mixgrad: error: %s\n", what);
  } else {
    std::fprintf(stderr, "mixgrad: error (rank %d): %s\n", rank, what);
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::fflush(stderr);
  mixgrad::cli::abort_parallel_run(1);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return mixgrad::cli::main_impl(argc, argv);
  } catch (const std::exception& e) {
    report_error(e.what());
  }
  return 1;
}
