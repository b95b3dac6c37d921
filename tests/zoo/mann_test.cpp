// mann-quadruped and mann-mlp: the generated locomotion data (deterministic, gaits with their
// own leg-phase relations), training on a slice, the per-gait report, the original MANN files
// with --data, and `mixgrad export mann` read back against the checkpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "cli/run_record.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/grad_mode.h"
#include "data/float_binary.h"
#include "data/normalize.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "ops/creation.h"
#include "optim/adam.h"
#include "zoo/mann_export.h"
#include "zoo/quadruped_data.h"
#include "zoo/zoo.h"
#include "zoo/zoo_test_util.h"

namespace mg = mixgrad;
namespace q = mg::zoo::quadruped;
namespace fs = std::filesystem;
using mg::testing::TempDir;
using mg::zoo::Gait;

namespace {

std::unique_ptr<mg::zoo::Task> make_task(const std::string& model, mg::zoo::Settings user = {}) {
  const mg::zoo::ModelEntry& entry = mg::zoo::find_model(model);
  const mg::zoo::Settings settings = mg::zoo::resolve(entry, user);
  mg::manual_seed(settings.seed);
  return entry.make(settings);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) * (a[i] - ma);
    bb += (b[i] - mb) * (b[i] - mb);
  }
  return ab / std::sqrt(aa * bb);
}

void write_matrix(const fs::path& path, const mg::Tensor& m) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  const std::vector<float> v = m.contiguous().to_vector<float>();
  for (int64_t r = 0; r < m.size(0); ++r) {
    for (int64_t c = 0; c < m.size(1); ++c) {
      std::fprintf(f, c == 0 ? "%.9g" : " %.9g", v[static_cast<size_t>(r * m.size(1) + c)]);
    }
    std::fputc('\n', f);
  }
  ASSERT_EQ(std::fclose(f), 0) << path;
}

// Input.txt, Output.txt and the four normalisation files as the original MANN code writes them.
void write_original_files(const fs::path& dir, const mg::Tensor& x, const mg::Tensor& y) {
  write_matrix(dir / "Input.txt", x);
  write_matrix(dir / "Output.txt", y);
  const mg::data::FeatureStats xs = mg::data::compute_feature_stats(x);
  const mg::data::FeatureStats ys = mg::data::compute_feature_stats(y);
  mg::data::write_float32_binary((dir / "Xmean.bin").string(), xs.mean);
  mg::data::write_float32_binary((dir / "Xstd.bin").string(), xs.std);
  mg::data::write_float32_binary((dir / "Ymean.bin").string(), ys.mean);
  mg::data::write_float32_binary((dir / "Ystd.bin").string(), ys.std);
}

// A few generated sequences in the original files' format.
void write_quadruped_files(const fs::path& dir, int64_t sequences, int64_t frames) {
  const mg::zoo::QuadrupedData d =
      mg::zoo::generate_quadruped({.sequences = sequences, .frames = frames, .seed = 5});
  write_original_files(dir, d.input, d.output);
}

// The float32 values of a raw .bin file.
std::vector<float> read_floats(const fs::path& path) {
  return mg::data::read_float32_binary(path.string()).to_vector<float>();
}

std::string what_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const mg::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no mixgrad::Error thrown";
  return {};
}

}  // namespace

TEST(MannQuadrupedData, IsADeterministicFunctionOfTheSeed) {
  const mg::zoo::QuadrupedOptions options{.sequences = 3, .frames = 200, .seed = 7};
  const mg::zoo::QuadrupedData a = mg::zoo::generate_quadruped(options);
  const mg::zoo::QuadrupedData b = mg::zoo::generate_quadruped(options);
  mg::zoo::QuadrupedOptions other_seed = options;
  other_seed.seed = 8;
  const mg::zoo::QuadrupedData c = mg::zoo::generate_quadruped(other_seed);
  ASSERT_EQ(a.input.shape(), (mg::Shape{600, q::kInputDim}));
  ASSERT_EQ(a.output.shape(), (mg::Shape{600, q::kOutputDim}));
  EXPECT_EQ(a.input.to_vector<float>(), b.input.to_vector<float>());
  EXPECT_EQ(a.output.to_vector<float>(), b.output.to_vector<float>());
  EXPECT_EQ(a.gait, b.gait);
  EXPECT_EQ(a.sequence_begin, (std::vector<int64_t>{0, 200, 400, 600}));
  EXPECT_NE(a.input.to_vector<float>(), c.input.to_vector<float>());
  // The target of frame t is the pose of frame t + 1 within a sequence.
  const std::vector<float> in = a.input.to_vector<float>(), out = a.output.to_vector<float>();
  for (int64_t c2 = 0; c2 < q::kPoseDim; ++c2) {
    EXPECT_EQ(out[static_cast<size_t>(10 * q::kOutputDim + c2)],
              in[static_cast<size_t>(11 * q::kInputDim + c2)]);
  }
}

TEST(MannQuadrupedData, GaitsHaveTheirOwnLegPhaseRelations) {
  const mg::zoo::QuadrupedData d =
      mg::zoo::generate_quadruped({.sequences = 24, .frames = 600, .seed = 3});
  const std::vector<float> in = d.input.to_vector<float>();
  // Foot heights per gait, over frames outside transitions.
  std::vector<std::vector<double>> heights[mg::zoo::kGaits];
  for (auto& h : heights) h.resize(q::kLegs);
  for (size_t i = 0; i < d.gait.size(); ++i) {
    if (!d.steady[i]) continue;
    for (int leg = 0; leg < q::kLegs; ++leg) {
      heights[static_cast<int>(d.gait[i])][static_cast<size_t>(leg)].push_back(
          in[i * q::kInputDim + static_cast<size_t>(q::foot_height_column(leg))]);
    }
  }
  const auto corr = [&](Gait g, int a, int b) {
    const auto& h = heights[static_cast<int>(g)];
    return correlation(h[static_cast<size_t>(a)], h[static_cast<size_t>(b)]);
  };
  for (int g = 0; g < mg::zoo::kGaits; ++g) {
    ASSERT_GT(heights[g][0].size(), 300u) << mg::zoo::gait_name(static_cast<Gait>(g));
  }
  const int LF = q::kLeftFore, RF = q::kRightFore, LH = q::kLeftHind, RH = q::kRightHind;
  // Trot: diagonal pairs lift together, the legs of one side alternate.
  EXPECT_GT(corr(Gait::kTrot, LF, RH), 0.9);
  EXPECT_GT(corr(Gait::kTrot, RF, LH), 0.9);
  EXPECT_LT(corr(Gait::kTrot, LF, LH), -0.2);
  // Pace: the legs of one side lift together, the diagonals alternate.
  EXPECT_GT(corr(Gait::kPace, LF, LH), 0.9);
  EXPECT_GT(corr(Gait::kPace, RF, RH), 0.9);
  EXPECT_LT(corr(Gait::kPace, LF, RH), -0.2);
  // Walk: four beats, no two feet in phase.
  for (int a = 0; a < q::kLegs; ++a) {
    for (int b = a + 1; b < q::kLegs; ++b) EXPECT_LT(corr(Gait::kWalk, a, b), 0.5) << a << b;
  }
  // Canter: three beats, one diagonal pair together and the other apart.
  EXPECT_GT(corr(Gait::kCanter, LH, RF), 0.9);
  EXPECT_LT(corr(Gait::kCanter, LF, RH), 0.5);
  EXPECT_LT(corr(Gait::kCanter, LF, RF), 0.5);
}

TEST(MannQuadruped, LossFallsOnASliceAndTheReportNamesEachGait) {
  auto task = make_task("mann-quadruped", {.experts = 2, .seed = 1});
  task->load_data("");
  std::vector<int64_t> slice(128);
  std::iota(slice.begin(), slice.end(), 0);
  const mg::data::Example batch = task->train_data()->get_batch(slice);
  mg::optim::Adam optimizer(task->module().parameters(), {.lr = 1e-3});
  const auto eval_loss = [&] {
    task->module().eval();
    mg::NoGradGuard no_grad;
    return task->forward(batch).task_loss;
  };
  const double before = eval_loss();
  task->module().train();
  for (int step = 0; step < 25; ++step) {
    optimizer.zero_grad();
    const mg::zoo::StepOutput out = task->forward(batch);
    EXPECT_EQ(out.items, 128);
    EXPECT_NEAR(out.metric_sum / 128.0, out.task_loss, 1e-9);
    out.loss.backward();
    optimizer.step();
  }
  const double after = eval_loss();
  EXPECT_LT(after, 0.5 * before) << before << " -> " << after;

  TempDir out_dir;
  std::ostringstream report;
  task->report(report, out_dir.dir().string());
  for (const char* gait : {"walk", "pace", "trot", "canter"}) {
    EXPECT_TRUE(contains(report.str(), gait)) << report.str();
  }
  // blend.csv: one row per frame and expert of a validation sequence, coefficients summing to 1.
  std::istringstream csv(mg::testing::read_file(out_dir.dir() / "blend.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "frame,expert,coefficient");
  std::vector<double> per_frame;
  int64_t rows = 0;
  while (std::getline(csv, line)) {
    int64_t frame = 0, expert = 0;
    double coefficient = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%ld,%ld,%lf", &frame, &expert, &coefficient), 3) << line;
    if (static_cast<size_t>(frame) >= per_frame.size()) per_frame.resize(frame + 1);
    per_frame[static_cast<size_t>(frame)] += coefficient;
    EXPECT_GE(expert, 0);
    EXPECT_LT(expert, 2);
    ++rows;
  }
  EXPECT_EQ(rows, 600 * 2);
  for (double total : per_frame) EXPECT_NEAR(total, 1.0, 1e-4);
}

TEST(MannQuadruped, DenseTwinHasTheMotionNetworksWidths) {
  auto mann = make_task("mann-quadruped", {.experts = 3});
  auto mlp = make_task("mann-mlp");
  int64_t one_expert = 0;
  for (const auto& [name, p] : mann->module().named_parameters()) {
    if (name.rfind("mann.layers.", 0) == 0) {
      EXPECT_EQ(p.size(0), 3) << name;
      one_expert += p.numel() / 3;
    }
  }
  EXPECT_GT(one_expert, 0);
  EXPECT_EQ(mlp->module().num_parameters(), one_expert);
  EXPECT_THROW(mg::zoo::resolve(mg::zoo::find_model("mann-mlp"), {.experts = 2}), mg::Error);
  EXPECT_THROW(mg::zoo::resolve(mg::zoo::find_model("mann-quadruped"), {.top_k = 2}), mg::Error);
}

TEST(MannQuadruped, TrainsOnTheOriginalFilesAndNamesAMissingOne) {
  TempDir dir;
  write_quadruped_files(dir.dir(), 1, 200);
  auto task = make_task("mann-quadruped", {.experts = 2, .data_dir = dir.dir().string()});
  task->load_data(dir.dir().string());
  EXPECT_EQ(task->train_data()->size(), 180);
  EXPECT_EQ(task->test_data()->size(), 20);
  // The statistics of the files, not recomputed, normalise the data and travel in the model.
  EXPECT_EQ(task->module().find_tensor("x_std").to_vector<float>(),
            read_floats(dir.dir() / "Xstd.bin"));
  const mg::data::Example batch = task->test_data()->get_batch({0, 1, 2, 3});
  EXPECT_TRUE(std::isfinite(task->forward(batch).task_loss));
  std::ostringstream report;
  task->report(report, "");
  EXPECT_TRUE(contains(report.str(), "no gait labels")) << report.str();

  fs::remove(dir.dir() / "Ystd.bin");
  EXPECT_TRUE(contains(what_of([&] { task->load_data(dir.dir().string()); }), "Ystd.bin"));
  fs::remove(dir.dir() / "Input.txt");
  EXPECT_TRUE(contains(what_of([&] { task->load_data(dir.dir().string()); }), "Input.txt"));
  fs::remove(dir.dir() / "Xmean.bin");
  EXPECT_TRUE(
      contains(what_of([&] { make_task("mann-quadruped", {.data_dir = dir.dir().string()}); }),
               "Xmean.bin"));
}

TEST(MannQuadruped, OriginalLayoutUsesTheOriginalGatingColumns) {
  TempDir wide, narrow;
  mg::Generator gen(4);
  write_original_files(wide.dir(), mg::randn({40, 450}, {}, &gen), mg::randn({40, 12}, {}, &gen));
  auto task = make_task("mann-quadruped", {.experts = 2, .data_dir = wide.dir().string()});
  task->load_data(wide.dir().string());
  EXPECT_TRUE(std::isfinite(task->forward(task->test_data()->get_batch({0, 1})).task_loss));
  // 19 gating inputs: four foot velocities and seven trajectory columns, as in the original.
  EXPECT_EQ(task->module().find_tensor("mann.gating.0.weight").size(1), 19);

  write_original_files(narrow.dir(), mg::randn({40, 200}, {}, &gen), mg::randn({40, 12}, {}, &gen));
  EXPECT_TRUE(
      contains(what_of([&] { make_task("mann-quadruped", {.data_dir = narrow.dir().string()}); }),
               "input columns"));
}

TEST(MannExport, WritesTheOriginalBinaryLayoutOfATrainedCheckpoint) {
  TempDir data, run, out;
  write_quadruped_files(data.dir(), 2, 150);
  const std::string checkpoint = (run.dir() / "checkpoint.safetensors").string();
  const auto trained = mg::testing::run_mixgrad(
      {"train", "mann-quadruped", "--data", data.dir().string(), "--epochs", "1", "--experts", "3",
       "--batch", "64", "--threads", "1", "--out", run.dir().string()});
  ASSERT_EQ(trained.exit_code, 0) << trained;
  EXPECT_TRUE(fs::exists(run.dir() / "blend.csv"));
  const auto exported = mg::testing::run_mixgrad(
      {"export", "mann", "--checkpoint", checkpoint, "--out", out.dir().string()});
  ASSERT_EQ(exported.exit_code, 0) << exported;

  const mg::io::SafetensorsFile file = mg::io::load_safetensors(checkpoint);
  const auto tensor = [&](const std::string& name) {
    for (const auto& [n, t] : file.tensors) {
      if (n == name) return t;
    }
    ADD_FAILURE() << "no " << name;
    return mg::Tensor();
  };
  const auto expect_file = [&](const std::string& name, const mg::Tensor& values) {
    const fs::path path = out.dir() / name;
    ASSERT_TRUE(fs::exists(path)) << name;
    EXPECT_EQ(fs::file_size(path), static_cast<uintmax_t>(values.numel()) * 4) << name;
    EXPECT_EQ(read_floats(path), values.contiguous().to_vector<float>()) << name;
  };
  const int gating[3] = {0, 2, 4};
  for (int i = 0; i < 3; ++i) {
    const std::string layer = "mann.gating." + std::to_string(gating[i]) + ".";
    expect_file("wc" + std::to_string(i) + "_w.bin", tensor(layer + "weight"));
    expect_file("wc" + std::to_string(i) + "_b.bin", tensor(layer + "bias"));
  }
  EXPECT_EQ(fs::file_size(out.dir() / "wc0_w.bin"), 32u * 15u * 4u);  // [hidden, gating inputs]
  EXPECT_EQ(fs::file_size(out.dir() / "wc2_b.bin"), 3u * 4u);         // one per expert
  for (int l = 0; l < 3; ++l) {
    const mg::Tensor w = tensor("mann.layers." + std::to_string(l) + ".weight");
    const mg::Tensor b = tensor("mann.layers." + std::to_string(l) + ".bias");
    for (int64_t e = 0; e < 3; ++e) {
      const std::string suffix = std::to_string(e) + ".bin";
      expect_file("cp" + std::to_string(l) + "_a" + suffix, w[e]);
      expect_file("cp" + std::to_string(l) + "_b" + suffix, b[e]);
    }
  }
  // The first layer is [hidden, inputs] row-major: one row per hidden unit.
  EXPECT_EQ(tensor("mann.layers.0.weight").size(2), q::kInputDim);
  // The normalisation the model trained with is the one it was given.
  for (const char* name : {"Xmean.bin", "Xstd.bin", "Ymean.bin", "Ystd.bin"}) {
    EXPECT_EQ(read_floats(out.dir() / name), read_floats(data.dir() / name)) << name;
  }
  EXPECT_EQ(out.listing().size(), 6u + 3u * 3u * 2u + 4u);
}

TEST(MannExport, RefusesAnotherModelsCheckpointAndAnUnwritableDirectory) {
  TempDir dir;
  const auto save = [&](const std::string& model, const std::string& path) {
    const mg::zoo::ModelEntry& entry = mg::zoo::find_model(model);
    const mg::zoo::Settings settings = mg::zoo::resolve(entry, {});
    auto task = entry.make(settings);
    mg::io::save_checkpoint(path, task->module(), nullptr,
                            mg::cli::to_metadata({.model = model, .settings = settings}));
  };
  const std::string fashion = dir.path("fashion.safetensors");
  const std::string mann = dir.path("mann.safetensors");
  save("fashion-mlp", fashion);
  save("mann-quadruped", mann);

  const auto other =
      mg::testing::run_mixgrad({"export", "mann", "--checkpoint", fashion, "--out", dir.path("a")});
  EXPECT_EQ(other.exit_code, 1) << other;
  EXPECT_TRUE(contains(other.err, "fashion-mlp") && contains(other.err, "mann-quadruped")) << other;
  EXPECT_FALSE(fs::exists(dir.path("a")));
  // Without the CLI's run record the tensors themselves give the checkpoint away.
  EXPECT_TRUE(contains(what_of([&] { mg::zoo::export_mann(fashion, dir.path("b")); }),
                       "not a mann-quadruped checkpoint"));

  dir.write_text("blocker", "a file, not a directory");
  const auto unwritable = mg::testing::run_mixgrad(
      {"export", "mann", "--checkpoint", mann, "--out", dir.path("blocker") + "/weights"});
  EXPECT_EQ(unwritable.exit_code, 1) << unwritable;
  EXPECT_TRUE(contains(unwritable.err, "cannot create directory")) << unwritable;

  const auto kind =
      mg::testing::run_mixgrad({"export", "pfnn", "--checkpoint", mann, "--out", dir.path("c")});
  EXPECT_NE(kind.exit_code, 0) << kind;
}
