// Fashion-MNIST classifiers: a 784 -> d stem, one feed-forward block with a residual connection
// (sparse top-k MoE, hierarchical MoE, or the dense MLP with the same active compute) and a
// linear head over the 10 classes.
#include <filesystem>

#include "core/error.h"
#include "data/idx.h"
#include "models/hierarchical_moe.h"
#include "models/moe.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "zoo/classification.h"
#include "zoo/zoo.h"

namespace mixgrad::zoo {

namespace {

constexpr int64_t kPixels = 28 * 28;
constexpr int64_t kClasses = 10;
constexpr int64_t kWidth = 256;                      // d_model of the block
constexpr int64_t kExpertHidden = 256;               // one expert's hidden width
constexpr int64_t kDenseHidden = 2 * kExpertHidden;  // fashion-mlp: the active width of top-2
// Fashion-MNIST's training-set pixel mean and standard deviation (of values in [0, 1]).
constexpr double kPixelMean = 0.2860, kPixelStd = 0.3530;
// The hierarchical model's experts come in this many groups; top_k of them are chosen per
// token and one expert within each.
constexpr int64_t kHierarchicalGroups = 4;

enum class Block { kDense, kSparse, kHierarchical };

class FashionClassifier : public nn::Module {
 public:
  FashionClassifier(Block block, int64_t experts, int64_t top_k) : block_(block) {
    stem = std::make_shared<nn::Linear>(kPixels, kWidth);
    norm = std::make_shared<nn::LayerNorm>(Shape{kWidth});
    head = std::make_shared<nn::Linear>(kWidth, kClasses);
    register_module("stem", stem);
    register_module("norm", norm);
    switch (block) {
      case Block::kDense:
        // The same multiply-adds per example as fashion-moe's default top-2 experts.
        mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(kWidth, kDenseHidden),
                                               std::make_shared<nn::GELU>(),
                                               std::make_shared<nn::Linear>(kDenseHidden, kWidth));
        register_module("mlp", mlp);
        break;
      case Block::kSparse:
        // Capacity counts tokens, not token-slots: factor 1.25 k leaves each expert room for
        // 1.25 times its even share of the T k slots. The evaluation factor E gives every expert
        // room for all T tokens, so evaluation drops nothing.
        moe = std::make_shared<models::MoE>(
            models::MoEOptions{.d_model = kWidth,
                               .hidden = kExpertHidden,
                               .num_experts = experts,
                               .k = top_k,
                               .capacity_factor_train = 1.25 * static_cast<double>(top_k),
                               .capacity_factor_eval = static_cast<double>(experts)});
        register_module("moe", moe);
        break;
      case Block::kHierarchical:
        hmoe = std::make_shared<models::HierarchicalMoE>(models::HierarchicalMoEOptions{
            .d_model = kWidth,
            .hidden = kExpertHidden,
            .groups = kHierarchicalGroups,
            .experts_per_group = experts / kHierarchicalGroups,
            .k_groups = top_k,
            .k_experts = 1,
            .capacity = {.factor_train = 1.25 * static_cast<double>(top_k),
                         .factor_eval = static_cast<double>(experts)}});
        register_module("hmoe", hmoe);
        break;
    }
    register_module("head", head);
  }

  // images [N, 784] (normalised) -> logits [N, 10] as `output`, with the block's routing.
  models::MoEOutput operator()(const Tensor& images) {
    const Tensor h = gelu((*stem)(images));
    const Tensor x = (*norm)(h);
    models::MoEOutput out;
    switch (block_) {
      case Block::kDense:
        out.output = (*mlp)(x);
        break;
      case Block::kSparse:
        out = (*moe)(x);
        break;
      case Block::kHierarchical:
        out = (*hmoe)(x);
        break;
    }
    out.output = (*head)(h + out.output);
    return out;
  }

  int64_t expert_parameters() const {
    if (moe) return moe->experts->num_parameters();
    if (hmoe) return hmoe->experts.num_parameters();
    return 0;
  }

  std::shared_ptr<nn::Linear> stem;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Sequential> mlp;
  std::shared_ptr<models::MoE> moe;
  std::shared_ptr<models::HierarchicalMoE> hmoe;
  std::shared_ptr<nn::Linear> head;

 private:
  Block block_;
};

// The IDX pair `<prefix>-images-idx3-ubyte[.gz]` / `<prefix>-labels-idx1-ubyte[.gz]` of `dir`.
std::shared_ptr<data::TensorDataset> read_split(const std::filesystem::path& dir,
                                                const std::string& prefix) {
  const auto find = [&](const std::string& stem) {
    for (const char* suffix : {".gz", ""}) {
      const auto path = dir / (stem + suffix);
      if (std::filesystem::exists(path)) return path.string();
    }
    throw Error("fashion-mnist", "missing " + (dir / (stem + ".gz")).string() +
                                     " (install dataset-fashion-mnist, or give --data DIR with "
                                     "the four IDX files)");
  };
  Tensor images = data::read_idx_images(find(prefix + "-images-idx3-ubyte"));
  Tensor labels = data::read_idx_labels(find(prefix + "-labels-idx1-ubyte"));
  MG_CHECK(images.dim() == 3 && images.size(1) == 28 && images.size(2) == 28, "fashion-mnist",
           prefix, " images must be [N, 28, 28], got ", describe(images));
  MG_CHECK(labels.size(0) == images.size(0), "fashion-mnist", prefix, " has ", images.size(0),
           " images but ", labels.size(0), " labels");
  MG_CHECK(labels.numel() > 0, "fashion-mnist", prefix, " holds no images");
  MG_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < kClasses,
           "fashion-mnist", prefix, " labels must lie in [0, 9]");
  images = ((images.reshape({-1, kPixels}) - kPixelMean) / kPixelStd).contiguous();
  return std::make_shared<data::TensorDataset>(images, labels);
}

class FashionTask : public Task {
 public:
  FashionTask(Block block, const Settings& s) : model_(block, s.experts, s.top_k), top_k_(s.top_k) {
    model_.to(s.device);
  }
  nn::Module& module() override { return model_; }
  void load_data(const std::string& dir) override {
    const std::filesystem::path root = dir.empty() ? kDefaultDir : dir;
    train_ = read_split(root, "train");
    test_ = read_split(root, "t10k");
  }
  std::shared_ptr<const data::Dataset> train_data() const override { return train_; }
  std::shared_ptr<const data::Dataset> test_data() const override { return test_; }
  StepOutput forward(const data::Example& batch) override {
    const models::MoEOutput out = model_(batch.input);
    return classification_step(out.output, batch.target, model_.mlp ? nullptr : &out);
  }
  int64_t active_parameters() override {
    const int64_t experts =
        model_.moe    ? model_.moe->options().num_experts
        : model_.hmoe ? model_.hmoe->options().groups * model_.hmoe->options().experts_per_group
                      : 0;
    if (experts == 0) return model_.num_parameters();
    return active_with_experts(model_.num_parameters(), model_.expert_parameters(), experts,
                               top_k_);
  }

  static constexpr const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";

 private:
  FashionClassifier model_;
  int64_t top_k_;
  std::shared_ptr<data::TensorDataset> train_, test_;
};

ModelEntry fashion_entry(std::string name, std::string description, Block block) {
  const bool sparse = block != Block::kDense;
  return {.name = std::move(name),
          .description = std::move(description),
          .data = "Fashion-MNIST (60k train / 10k test images)",
          .default_data_dir = FashionTask::kDefaultDir,
          .metric = {"accuracy", true},
          // Batch 256: half the steps of 128 (each step's routing and optimizer pass cost the
          // MoE more than the MLP) at the same accuracy with twice the learning rate.
          .defaults = {.epochs = 12,
                       .batch = 256,
                       .lr = 2e-3,
                       .experts = sparse ? 8 : 0,
                       .top_k = sparse ? 2 : 0,
                       .seed = 0,
                       .data_dir = {}},
          .routed = sparse,
          .make = [block](const Settings& s) -> std::unique_ptr<Task> {
            if (block == Block::kHierarchical) {
              MG_CHECK(s.experts % kHierarchicalGroups == 0 && s.top_k <= kHierarchicalGroups,
                       "fashion-hmoe", "the experts come in ", kHierarchicalGroups,
                       " groups (top-k groups, one expert in each): --experts must be a "
                       "multiple of ",
                       kHierarchicalGroups, " and --top-k at most ", kHierarchicalGroups,
                       "; got --experts ", s.experts, " --top-k ", s.top_k);
            }
            return std::make_unique<FashionTask>(block, s);
          }};
}

}  // namespace

std::vector<ModelEntry> fashion_models() {
  return {fashion_entry("fashion-moe",
                        "784->256 stem, residual top-k sparse MoE block (GELU experts of width "
                        "256, Switch loss), linear head",
                        Block::kSparse),
          fashion_entry("fashion-mlp",
                        "the dense twin of fashion-moe: one MLP of width 512 (the multiply-adds of "
                        "top-2 experts of width 256)",
                        Block::kDense),
          fashion_entry("fashion-hmoe",
                        "fashion-moe with a two-level HierarchicalMoE block (4 groups, top-k "
                        "groups, top-1 expert in each)",
                        Block::kHierarchical)};
}

}  // namespace mixgrad::zoo
