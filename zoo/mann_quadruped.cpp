// MANN (Zhang et al. 2018) on quadruped locomotion: the next pose from the current pose, joint
// velocities and the commanded velocity, with a gating network on the foot velocities and the
// command that blends the experts of every motion layer; and its dense twin, an MLP with the
// motion network's layer widths. Trains on generated data (zoo/quadruped_data.h) or, with
// --data DIR, on the files the original MANN code trains on.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/error.h"
#include "core/grad_mode.h"
#include "data/float_binary.h"
#include "data/normalize.h"
#include "data/text_matrix.h"
#include "models/mann.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "train/plot.h"
#include "zoo/quadruped_data.h"
#include "zoo/zoo.h"

namespace fs = std::filesystem;

namespace mixgrad::zoo {

namespace {

namespace q = quadruped;

// Half the original's width of 512 keeps the default run (12 epochs of 28.8k frames) within
// about a minute and a half on two cores.
constexpr int64_t kHidden = 256;
constexpr int64_t kGatingHidden = 32;
// The original's keep probability 0.7 regularises against the noise of motion capture; the
// generated data has none, and dropping inputs only blurs the next pose (validation MSE 0.011
// instead of 0.002 at dropout 0.1), so it trains without.
constexpr double kOriginalDropout = 0.3;
constexpr int64_t kTrainSequences = 48, kValidationSequences = 8, kFrames = 600;
// Validation sequences come from this far along the seed's stream: none is a training sequence.
constexpr int64_t kValidationStream = 1'000'000;
constexpr int64_t kBlendFrames = 600;  // blend.csv without sequences (--data): the first frames

// The gating inputs of the original MANN (its main.py, index_gatingIn): the velocities of the
// four feet, then the trajectory's desired velocity.
const std::vector<int64_t>& original_gating_columns() {
  static const std::vector<int64_t> columns = {285, 286, 287, 345, 346, 347, 393, 394, 395, 441,
                                               442, 443, 84,  85,  86,  87,  88,  89,  90};
  return columns;
}

// What the data decides about the model: the motion network's sizes, the gating network's
// input columns and the dropout.
struct Layout {
  int64_t input = q::kInputDim;
  int64_t output = q::kOutputDim;
  std::vector<int64_t> gating = q::gating_columns();
  double dropout = 0.0;
};

// `dir`/`name`, which must exist.
std::string data_file(const fs::path& dir, const std::string& name) {
  const fs::path path = dir / name;
  MG_CHECK(fs::is_regular_file(path), "mann-quadruped", "missing ", path.string(),
           " (--data DIR needs the original MANN files: Input.txt, Output.txt, Xmean.bin, "
           "Xstd.bin, Ymean.bin, Ystd.bin)");
  return path.string();
}

// The layout of the files in `dir`, from the sizes of its normalisation statistics. The gating
// columns follow from the width: mixgrad's own quadruped layout, or the original data's.
Layout read_layout(const fs::path& dir) {
  Layout layout;
  layout.dropout = kOriginalDropout;
  const std::string x_mean = data_file(dir, "Xmean.bin");
  layout.input = data::read_float32_binary(x_mean).numel();
  layout.output = data::read_float32_binary(data_file(dir, "Ymean.bin")).numel();
  MG_CHECK(layout.output > 0, "mann-quadruped", (dir / "Ymean.bin").string(), " is empty");
  const std::vector<int64_t>& original = original_gating_columns();
  const int64_t original_min_width = *std::max_element(original.begin(), original.end()) + 1;
  if (layout.input == q::kInputDim) {
    layout.gating = q::gating_columns();
  } else if (layout.input >= original_min_width) {
    layout.gating = original;
  } else {
    throw Error("mann-quadruped",
                x_mean + " describes " + std::to_string(layout.input) +
                    " input columns; --data expects the original MANN layout (at least " +
                    std::to_string(original_min_width) +
                    " columns, the gating network reading foot velocities 285-287, 345-347, "
                    "393-395, 441-443 and trajectory columns 84-90) or mixgrad's quadruped "
                    "layout (" +
                    std::to_string(q::kInputDim) + " columns)");
  }
  return layout;
}

// Every value of `values` (read from `file`) finite and, with `positive`, above zero.
void check_values(const Tensor& values, const std::string& file, bool positive) {
  const std::vector<float> v = values.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    MG_CHECK(std::isfinite(v[i]) && (!positive || v[i] > 0.0f), "mann-quadruped", file, ": value ",
             i, " is ", v[i], "; expected ",
             positive ? "a finite standard deviation > 0 (the original code stores 1 for "
                        "constant features)"
                      : "a finite mean");
  }
}

// Normalisation statistics from `dir` (<prefix>mean.bin, <prefix>std.bin), `count` values each.
data::FeatureStats read_stats(const fs::path& dir, const std::string& prefix, int64_t count) {
  data::FeatureStats stats;
  const std::string mean_file = data_file(dir, prefix + "mean.bin");
  const std::string std_file = data_file(dir, prefix + "std.bin");
  stats.mean = data::read_float32_binary(mean_file, count);
  stats.std = data::read_float32_binary(std_file, count);
  check_values(stats.mean, mean_file, false);
  check_values(stats.std, std_file, true);
  return stats;
}

// Normalised splits and what the report needs to know about the validation frames.
struct MotionData {
  std::shared_ptr<data::TensorDataset> train, test;
  data::FeatureStats x, y;
  std::vector<Gait> test_gait;               // per validation frame; empty without labels
  std::vector<int64_t> test_sequence_begin;  // validation sequences' first frames, then N
};

MotionData split(Tensor x_train, Tensor y_train, Tensor x_test, Tensor y_test, data::FeatureStats x,
                 data::FeatureStats y) {
  MotionData d;
  d.train = std::make_shared<data::TensorDataset>(data::normalize(x_train, x).contiguous(),
                                                  data::normalize(y_train, y).contiguous());
  d.test = std::make_shared<data::TensorDataset>(data::normalize(x_test, x).contiguous(),
                                                 data::normalize(y_test, y).contiguous());
  d.x = std::move(x);
  d.y = std::move(y);
  return d;
}

MotionData generate_data(uint64_t seed) {
  QuadrupedData train = generate_quadruped(
      {.sequences = kTrainSequences, .frames = kFrames, .seed = seed, .first_sequence = 0});
  QuadrupedData test = generate_quadruped({.sequences = kValidationSequences,
                                           .frames = kFrames,
                                           .seed = seed,
                                           .first_sequence = kValidationStream});
  data::FeatureStats x = data::compute_feature_stats(train.input);
  data::FeatureStats y = data::compute_feature_stats(train.output);
  MotionData d = split(train.input, train.output, test.input, test.output, x, y);
  d.test_gait = std::move(test.gait);
  d.test_sequence_begin = std::move(test.sequence_begin);
  return d;
}

// The original MANN files in `dir`, normalised with their own statistics; the last 10% of the
// frames validate.
MotionData read_original(const fs::path& dir, const Layout& layout) {
  const std::string input_file = data_file(dir, "Input.txt");
  const std::string output_file = data_file(dir, "Output.txt");
  const Tensor x = data::read_text_matrix(input_file);
  const Tensor y = data::read_text_matrix(output_file);
  MG_CHECK(x.size(1) == layout.input, "mann-quadruped", input_file, " has ", x.size(1),
           " columns but Xmean.bin has ", layout.input, " values");
  MG_CHECK(y.size(1) == layout.output, "mann-quadruped", output_file, " has ", y.size(1),
           " columns but Ymean.bin has ", layout.output, " values");
  MG_CHECK(x.size(0) == y.size(0), "mann-quadruped", input_file, " has ", x.size(0), " frames but ",
           output_file, " has ", y.size(0));
  const int64_t n = x.size(0);
  MG_CHECK(n >= 10, "mann-quadruped", input_file, " has ", n,
           " frames; at least 10 are needed (the last 10% validate)");
  const int64_t n_test = std::max<int64_t>(1, n / 10);
  const int64_t n_train = n - n_test;
  MotionData d = split(x.narrow(0, 0, n_train), y.narrow(0, 0, n_train),
                       x.narrow(0, n_train, n_test), y.narrow(0, n_train, n_test),
                       read_stats(dir, "X", layout.input), read_stats(dir, "Y", layout.output));
  d.test_sequence_begin = {0, n_test};
  return d;
}

// The model with the data's normalisation statistics as persistent buffers, so a checkpoint
// carries everything the original runtime needs (`mixgrad export mann` writes them out).
class MotionNet : public nn::Module {
 public:
  MotionNet(const Layout& layout, int64_t experts) {
    if (experts > 0) {
      mann = register_module("mann", std::make_shared<models::MANN>(models::MANNOptions{
                                         .input_dim = layout.input,
                                         .output_dim = layout.output,
                                         .gating_indices = layout.gating,
                                         .num_experts = experts,
                                         .hidden = kHidden,
                                         .gating_hidden = kGatingHidden,
                                         .dropout = layout.dropout,
                                     }));
    } else {
      // The dense twin: MANN's motion network with one expert and no gate.
      mlp = register_module(
          "mlp", std::make_shared<nn::Sequential>(
                     std::make_shared<nn::Dropout>(layout.dropout),
                     std::make_shared<nn::Linear>(layout.input, kHidden),
                     std::make_shared<nn::ELU>(), std::make_shared<nn::Dropout>(layout.dropout),
                     std::make_shared<nn::Linear>(kHidden, kHidden), std::make_shared<nn::ELU>(),
                     std::make_shared<nn::Dropout>(layout.dropout),
                     std::make_shared<nn::Linear>(kHidden, layout.output)));
    }
    x_mean = register_buffer("x_mean", zeros({layout.input}));
    x_std = register_buffer("x_std", ones({layout.input}));
    y_mean = register_buffer("y_mean", zeros({layout.output}));
    y_std = register_buffer("y_std", ones({layout.output}));
  }

  Tensor forward(const Tensor& x) override { return mann ? mann->forward(x) : (*mlp)(x); }

  void set_stats(const data::FeatureStats& x, const data::FeatureStats& y) {
    NoGradGuard no_grad;
    x_mean.copy_(x.mean.to(x_mean.device()));
    x_std.copy_(x.std.to(x_std.device()));
    y_mean.copy_(y.mean.to(y_mean.device()));
    y_std.copy_(y.std.to(y_std.device()));
  }

  std::shared_ptr<models::MANN> mann;
  std::shared_ptr<nn::Sequential> mlp;
  Tensor x_mean, x_std, y_mean, y_std;
};

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

class MannTask : public Task {
 public:
  MannTask(const Settings& s, bool experts)
      : layout_(s.data_dir.empty() ? Layout{} : read_layout(s.data_dir)),
        net_(layout_, experts ? s.experts : 0),
        seed_(s.seed),
        device_(s.device) {
    net_.to(s.device);
  }

  nn::Module& module() override { return net_; }

  void load_data(const std::string& dir) override {
    if (dir.empty()) {
      MG_CHECK(layout_.input == q::kInputDim && layout_.output == q::kOutputDim, "mann-quadruped",
               "this model was built for --data files of ", layout_.input,
               " inputs; give the same --data");
      data_ = generate_data(seed_);
    } else {
      const Layout layout = read_layout(dir);
      MG_CHECK(layout.input == layout_.input && layout.output == layout_.output, "mann-quadruped",
               dir, " holds data of ", layout.input, " inputs and ", layout.output,
               " outputs, but the model was built for ", layout_.input, " and ", layout_.output);
      data_ = read_original(dir, layout_);
    }
    net_.set_stats(data_.x, data_.y);
  }

  std::shared_ptr<const data::Dataset> train_data() const override { return data_.train; }
  std::shared_ptr<const data::Dataset> test_data() const override { return data_.test; }

  StepOutput forward(const data::Example& batch) override {
    const Tensor per_example = mean(square(net_(batch.input) - batch.target), {1});
    StepOutput out;
    out.loss = per_example.mean();
    out.items = batch.input.size(0);
    NoGradGuard no_grad;
    out.task_loss = out.loss.item<double>();
    out.metric_sum = out.task_loss * static_cast<double>(out.items);
    return out;
  }

  void report(std::ostream& out, const std::string& out_dir) override {
    if (!net_.mann || !data_.test) return;  // the dense twin has no experts to show
    const Tensor alpha = validation_blend();
    const int64_t experts = alpha.size(1);
    const std::vector<float> a = alpha.to_vector<float>();
    print_blend_table(out, a, experts);
    if (out_dir.empty()) return;
    // Generated sequences change gait every 1.5 to 3 seconds, so the first one shows transitions.
    const int64_t first = data_.test_sequence_begin[0];
    const int64_t frames = std::min(data_.test_sequence_begin[1] - first, kBlendFrames);
    const std::string csv = (fs::path(out_dir) / "blend.csv").string();
    {
      std::ofstream file(csv);
      file << "frame,expert,coefficient\n";
      for (int64_t t = 0; t < frames; ++t) {
        for (int64_t e = 0; e < experts; ++e) {
          file << t << "," << e << "," << a[static_cast<size_t>((first + t) * experts + e)] << "\n";
        }
      }
      MG_CHECK(file.good(), "mann-quadruped", "cannot write ", csv);
    }
    const std::string png = (fs::path(out_dir) / "blend.png").string();
    const bool drawn = train::plot_heatmap({.csv = csv,
                                            .x = "frame",
                                            .y = "expert",
                                            .value = "coefficient",
                                            .png = png,
                                            .title = "blending coefficients over validation "
                                                     "sequence 0"});
    out << "  blending coefficients of validation sequence 0 (" << frames << " frames"
        << gait_segments(first, frames) << "): " << csv << ", "
        << (drawn ? png : train::plot_script_path(png) + " (gnuplot missing: no PNG)") << "\n";
  }

 private:
  // The gating network's coefficients for every validation frame, [N, E] on the CPU.
  Tensor validation_blend() {
    const bool was_training = net_.is_training();
    net_.eval();
    NoGradGuard no_grad;
    const Tensor& inputs = data_.test->inputs();
    std::vector<Tensor> chunks;
    for (int64_t start = 0; start < inputs.size(0); start += 4096) {
      const int64_t n = std::min<int64_t>(4096, inputs.size(0) - start);
      chunks.push_back(
          net_.mann->blend_coefficients(inputs.narrow(0, start, n).to(device_)).to(Device::cpu()));
    }
    net_.train(was_training);
    return cat(chunks, 0);
  }

  // Mean coefficient of each expert, per gait where the frames have labels, and the experts
  // that carry each gait.
  void print_blend_table(std::ostream& out, const std::vector<float>& a, int64_t experts) const {
    const bool labelled = !data_.test_gait.empty();
    const int groups = labelled ? kGaits : 1;
    std::vector<std::vector<double>> sum(static_cast<size_t>(groups),
                                         std::vector<double>(static_cast<size_t>(experts)));
    std::vector<int64_t> count(static_cast<size_t>(groups));
    const int64_t n = static_cast<int64_t>(a.size()) / experts;
    for (int64_t i = 0; i < n; ++i) {
      const auto g = labelled ? static_cast<size_t>(data_.test_gait[static_cast<size_t>(i)]) : 0;
      ++count[g];
      for (int64_t e = 0; e < experts; ++e) {
        sum[g][static_cast<size_t>(e)] += a[static_cast<size_t>(i * experts + e)];
      }
    }
    out << "\nMean blending coefficient of each expert"
        << (labelled ? " per gait" : " (no gait labels in --data files)")
        << " on the validation set:\n  " << std::left << std::setw(8) << "gait" << std::right
        << std::setw(7) << "frames";
    for (int64_t e = 0; e < experts; ++e) out << std::setw(6) << ("e" + std::to_string(e));
    out << "  main experts\n";
    for (int g = 0; g < groups; ++g) {
      if (count[static_cast<size_t>(g)] == 0) continue;
      std::vector<std::pair<double, int64_t>> ranked;
      out << "  " << std::left << std::setw(8)
          << (labelled ? gait_name(static_cast<Gait>(g)) : "all") << std::right << std::setw(7)
          << count[static_cast<size_t>(g)];
      for (int64_t e = 0; e < experts; ++e) {
        const double m = sum[static_cast<size_t>(g)][static_cast<size_t>(e)] /
                         static_cast<double>(count[static_cast<size_t>(g)]);
        ranked.emplace_back(m, e);
        out << std::setw(6) << fixed(m, 2);
      }
      std::sort(ranked.rbegin(), ranked.rend());
      out << " ";
      for (size_t r = 0; r < std::min<size_t>(2, ranked.size()); ++r) {
        out << " e" << ranked[r].second << " (" << fixed(ranked[r].first, 2) << ")";
      }
      out << "\n";
    }
  }

  // ", walk 0-133, trot 134-..." for labelled frames, else "".
  std::string gait_segments(int64_t first, int64_t frames) const {
    if (data_.test_gait.empty()) return "";
    std::string text;
    int64_t start = 0;
    for (int64_t t = 1; t <= frames; ++t) {
      const auto gait = [&](int64_t i) { return data_.test_gait[static_cast<size_t>(first + i)]; };
      if (t == frames || gait(t) != gait(start)) {
        text += ", " + gait_name(gait(start)) + " " + std::to_string(start) + "-" +
                std::to_string(t - 1);
        start = t;
      }
    }
    return text;
  }

  Layout layout_;
  MotionNet net_;
  uint64_t seed_;
  Device device_;
  MotionData data_;
};

ModelEntry mann_entry(std::string name, std::string description, bool experts) {
  return {.name = std::move(name),
          .description = std::move(description),
          .data = "generated quadruped locomotion (walk, pace, trot, canter with transitions; " +
                  std::to_string(kTrainSequences * kFrames) + " train / " +
                  std::to_string(kValidationSequences * kFrames) +
                  " validation frames), or the original MANN files with --data",
          .default_data_dir = {},
          .metric = {"mse", false},
          .items = "examples",
          .defaults = {.epochs = 12,
                       .batch = 128,
                       .lr = 2e-3,
                       .experts = experts ? 8 : 0,
                       .top_k = 0,
                       .seed = 0,
                       .data_dir = {}},
          .routed = false,
          .make = [experts](const Settings& s) -> std::unique_ptr<Task> {
            return std::make_unique<MannTask>(s, experts);
          }};
}

}  // namespace

std::vector<ModelEntry> mann_models() {
  return {mann_entry("mann-quadruped",
                     "MANN: a gating network on foot velocities and the command blends the "
                     "experts of three ELU layers of width " +
                         std::to_string(kHidden) + "; predicts the next pose",
                     true),
          mann_entry("mann-mlp",
                     "the dense twin of mann-quadruped: its motion network (three ELU layers of "
                     "width " +
                         std::to_string(kHidden) + ") as one MLP, no experts",
                     false)};
}

}  // namespace mixgrad::zoo
