// `mixgrad graph`: the computation graph of one training step of a zoo model, as Graphviz DOT
// (and SVG through `dot` when asked and installed).

#include <cstring>
#include <fstream>
#include <iostream>

#include "autograd/graph_export.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/generator.h"
#include "data/dataloader.h"
#include "io/run_program.h"
#include "zoo/zoo.h"

namespace mixgrad::cli {

namespace {

// Runs `dot -Tsvg dot_file -o svg_file`; throws Error when it cannot start or fails.
void render_svg(const std::string& dot_file, const std::string& svg_file) {
  const io::ProgramResult r = io::run_program({"dot", "-Tsvg", dot_file, "-o", svg_file}, "graph");
  MG_CHECK(r.start_error == 0, "graph", "--svg needs Graphviz's `dot` (apt-get install graphviz): ",
           std::strerror(r.start_error));
  MG_CHECK(r.succeeded, "graph", "dot failed on ", dot_file, ": ", r.errors);
}

}  // namespace

int run_graph(const GraphOptions& options) {
  const zoo::ModelEntry& entry = zoo::find_model(options.model);
  MG_CHECK(!options.out.empty(), "graph", "--out FILE.dot is required");
  zoo::Settings settings = zoo::resolve(entry, {.data_dir = options.data_dir});
  manual_seed(settings.seed);
  std::unique_ptr<zoo::Task> task = entry.make(settings);
  task->load_data(settings.data_dir);
  // One small training batch is enough to record every op of a step.
  data::DataLoader loader(task->train_data(), {.batch_size = std::min<int64_t>(settings.batch, 8)});
  task->module().train();
  const zoo::StepOutput step = task->forward(*loader.begin());
  {
    std::ofstream out(options.out);
    write_dot(out, {step.loss}, task->module().named_parameters());
    out.flush();
    MG_CHECK(out.good(), "graph", "cannot write ", options.out);
  }
  std::cout << "wrote " << options.out;
  if (options.svg) {
    std::string svg = options.out;
    if (svg.ends_with(".dot")) svg.resize(svg.size() - 4);
    svg += ".svg";
    render_svg(options.out, svg);
    std::cout << " and " << svg;
  }
  std::cout << "\n";
  return 0;
}

}  // namespace mixgrad::cli
