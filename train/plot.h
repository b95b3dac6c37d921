#pragma once
// PNG plots of CSV files through gnuplot (Debian's gnuplot-nox). Each plot also leaves its
// gnuplot script beside the PNG (`loss.png` -> `loss.gp`), so `gnuplot loss.gp` redraws it, for
// instance on a machine where gnuplot was missing when the run ended.
//
//   train::plot_lines({.csv = "metrics.csv", .x = "epoch",
//                      .series = {{"train_loss", "train"}, {"test_loss", "test"}},
//                      .png = "loss.png", .title = "loss", .y_label = "cross-entropy"});
#include <string>
#include <vector>

namespace mixgrad::train {

// Whether a `gnuplot` program is on the PATH.
bool gnuplot_available();

struct PlotSeries {
  std::string column;  // a column name of the CSV header
  std::string title;   // legend entry
};

struct LinePlot {
  std::string csv;  // comma-separated with a header row
  std::string x;    // column on the x axis
  std::vector<PlotSeries> series;
  std::string png;
  std::string title;
  std::string y_label;
};

// A heat map of `value` over (x, y) from a CSV in long form: one row per (x, y) cell, as
// `epoch,expert,fraction`.
struct HeatmapPlot {
  std::string csv;
  std::string x, y, value;
  std::string png;
  std::string title;
};

// Writes the script beside `png` and renders it when gnuplot is available. Returns whether the
// PNG was drawn (false without gnuplot). Throws Error naming the file when the script cannot be
// written or gnuplot fails on it.
bool plot_lines(const LinePlot& plot);
bool plot_heatmap(const HeatmapPlot& plot);

// The script path for `png`: the same name with the extension ".gp".
std::string plot_script_path(const std::string& png);

}  // namespace mixgrad::train
