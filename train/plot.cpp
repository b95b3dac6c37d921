#include "train/plot.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/run_program.h"

namespace mixgrad::train {

namespace {

// `text` as a gnuplot single-quoted string (a quote inside is written twice).
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string script_header(const std::string& csv, const std::string& png,
                          const std::string& title) {
  std::ostringstream s;
  s << "# Rendered by mixgrad; redraw with: gnuplot " << plot_script_path(png) << "\n"
    << "set terminal pngcairo size 900,560 noenhanced\n"
    << "set output " << quoted(png) << "\n"
    << "set datafile separator ','\n"
    << "set title " << quoted(title) << "\n"
    << "data = " << quoted(csv) << "\n";
  return s.str();
}

// Runs `gnuplot script`. Throws Error when gnuplot fails on it.
void run_gnuplot(const std::string& script) {
  const io::ProgramResult r = io::run_program({"gnuplot", script}, "plot");
  MG_CHECK(r.start_error == 0, "plot", "cannot start gnuplot: ", std::strerror(r.start_error));
  MG_CHECK(r.succeeded, "plot", "gnuplot failed on ", script, ": ", r.errors);
}

bool write_and_render(const std::string& png, const std::string& script) {
  const std::string path = plot_script_path(png);
  {
    std::ofstream out(path);
    out << script;
    out.flush();
    MG_CHECK(out.good(), "plot", "cannot write ", path);
  }
  if (!gnuplot_available()) return false;
  run_gnuplot(path);
  return true;
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string plot_script_path(const std::string& png) {
  return std::filesystem::path(png).replace_extension(".gp").string();
}

bool plot_lines(const LinePlot& plot) {
  MG_CHECK(!plot.series.empty(), "plot_lines", "no series to plot for ", plot.png);
  std::ostringstream s;
  s << script_header(plot.csv, plot.png, plot.title) << "set xlabel " << quoted(plot.x) << "\n"
    << "set ylabel " << quoted(plot.y_label) << "\n"
    << "set grid\nset key outside right top\nplot ";
  for (size_t i = 0; i < plot.series.size(); ++i) {
    s << (i ? ", \\\n     " : "") << "data using " << quoted(plot.x) << ":"
      << quoted(plot.series[i].column) << " with linespoints title "
      << quoted(plot.series[i].title);
  }
  s << "\n";
  return write_and_render(plot.png, s.str());
}

bool plot_heatmap(const HeatmapPlot& plot) {
  std::ostringstream s;
  s << script_header(plot.csv, plot.png, plot.title) << "set xlabel " << quoted(plot.x) << "\n"
    << "set ylabel " << quoted(plot.y) << "\n"
    << "set cblabel " << quoted(plot.value) << "\n"
    << "set palette rgbformulae 21,22,23\nset autoscale fix\n"
    << "plot data using " << quoted(plot.x) << ":" << quoted(plot.y) << ":" << quoted(plot.value)
    << " with image notitle\n";
  return write_and_render(plot.png, s.str());
}

}  // namespace mixgrad::train
