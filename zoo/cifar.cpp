// CIFAR-10 classifiers: the LeNet-style CNN with its MoE layer of linear experts
// (models/cifar_cnn_moe.h), and a small ResNet whose last stage is an MoE of ResNet BasicBlocks
// routed per image. Both read the CIFAR-10 binary batches, which mixgrad does not ship.
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "data/cifar10.h"
#include "models/cifar_cnn_moe.h"
#include "models/custom_experts.h"
#include "models/moe.h"
#include "models/resnet_block.h"
#include "models/top_k_gate.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "zoo/classification.h"
#include "zoo/zoo.h"

namespace mixgrad::zoo {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kClasses = 10;
constexpr int64_t kTrainFiles = 5;  // data_batch_1.bin ... data_batch_5.bin
// The per-channel mean and (population) standard deviation of the 50k training images, in [0, 1].
constexpr float kChannelMean[3] = {0.4914f, 0.4822f, 0.4465f};
constexpr float kChannelStd[3] = {0.2470f, 0.2435f, 0.2616f};
// Relative to the working directory: where `tar xzf cifar-10-binary.tar.gz` unpacks to.
constexpr const char* kDefaultDir = "./cifar-10-batches-bin";

// The ResNet: a 3x3 stem and three BasicBlocks take the images from 32x32 to 64 channels of 8x8;
// the MoE experts are BasicBlocks at that size. The widths are those of the CIFAR ResNet-20 of He
// et al. with one block per stage, which keeps an epoch to minutes on two CPU cores.
constexpr int64_t kStemChannels = 16;
constexpr int64_t kExpertChannels = 64;
constexpr int64_t kExpertSide = 8;

std::string how_to_get_the_data() {
  return "the CIFAR-10 data is not shipped with mixgrad: download cifar-10-binary.tar.gz (the "
         "binary version) from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and give "
         "--data DIR, where DIR holds data_batch_1.bin ... data_batch_5.bin (at least one of "
         "them) and test_batch.bin (the default DIR is " +
         std::string(kDefaultDir) + ", relative to the working directory)";
}

// Images [N, 3, 32, 32] in [0, 1] -> standardised per channel.
Tensor normalise(const Tensor& images) {
  const Tensor mean = tensor(std::vector<float>(kChannelMean, kChannelMean + 3), Shape{1, 3, 1, 1});
  const Tensor std = tensor(std::vector<float>(kChannelStd, kChannelStd + 3), Shape{1, 3, 1, 1});
  return ((images - mean) / std).contiguous();
}

std::shared_ptr<data::TensorDataset> to_dataset(const data::CifarBatch& batch) {
  return std::make_shared<data::TensorDataset>(normalise(batch.images), batch.labels);
}

struct CifarData {
  std::shared_ptr<data::TensorDataset> train, test;
};

// The training batches of `dir` that exist (at least one) and its test batch; the reader's Error
// names the file and offset of malformed data.
CifarData read_cifar_dir(const fs::path& dir) {
  MG_CHECK(fs::is_directory(dir), "cifar10", "no directory ", dir.string(), "; ",
           how_to_get_the_data());
  std::vector<std::string> train_files;
  for (int64_t i = 1; i <= kTrainFiles; ++i) {
    const fs::path file = dir / ("data_batch_" + std::to_string(i) + ".bin");
    if (fs::exists(file)) train_files.push_back(file.string());
  }
  MG_CHECK(!train_files.empty(), "cifar10", "no data_batch_1.bin ... data_batch_5.bin in ",
           dir.string(), "; ", how_to_get_the_data());
  const fs::path test_file = dir / "test_batch.bin";
  MG_CHECK(fs::exists(test_file), "cifar10", "missing ", test_file.string(), "; ",
           how_to_get_the_data());
  return {to_dataset(data::read_cifar10(train_files)),
          to_dataset(data::read_cifar10_batch(test_file.string()))};
}

// One expert of the ResNet's MoE layer: the MoE hands every expert its images as rows
// [n, C * H * W]; the BasicBlock needs them as [n, C, H, W].
class FlatBasicBlock : public nn::Module {
 public:
  FlatBasicBlock(int64_t channels, int64_t side) : channels_(channels), side_(side) {
    block = register_module("block", std::make_shared<models::BasicBlock>(channels, channels));
  }
  Tensor forward(const Tensor& rows) override {
    return (*block)(rows.reshape({-1, channels_, side_, side_})).flatten(1);
  }

  std::shared_ptr<models::BasicBlock> block;

 private:
  int64_t channels_, side_;
};

// Routes each image by its channel means (global average pooling) rather than the flattened
// feature map: the choice then depends on what the image shows, not where, and the router has
// C * E weights instead of C * H * W * E.
class PooledTopKGate : public models::Gate {
 public:
  PooledTopKGate(int64_t channels, int64_t side, int64_t experts, int64_t k)
      : channels_(channels), side_(side) {
    router = register_module(
        "router",
        std::make_shared<models::TopKGate>(models::TopKGateOptions{
            .d_model = channels, .num_experts = experts, .k = k, .switch_loss_coef = 1e-2}));
  }
  models::Routing route(const Tensor& x) override {
    MG_CHECK(x.dim() == 2 && x.size(1) == d_model(), "PooledTopKGate", "input must be [T, ",
             d_model(), "], got ", describe(x));
    return router->route(x.reshape({x.size(0), channels_, side_ * side_}).mean({2}));
  }
  int64_t num_experts() const override { return router->num_experts(); }
  int64_t d_model() const override { return channels_ * side_ * side_; }

  std::shared_ptr<models::TopKGate> router;

 private:
  int64_t channels_, side_;
};

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in, int64_t out) {
  return std::make_shared<nn::Conv2d>(in, out, 3,
                                      nn::ConvLayerOptions<2>{.padding = 1, .bias = false});
}

// stem conv 3->16 + BN + ReLU, BasicBlock 16->16, 16->32 /2, 32->64 /2, then an MoE of E
// BasicBlock(64, 64) experts at 8x8 (top-k per image, dropless), global average pooling and a
// linear head.
class CifarResNetMoE : public nn::Module {
 public:
  CifarResNetMoE(int64_t experts, int64_t k) {
    stem = register_module("stem", conv3x3(3, kStemChannels));
    stem_bn = register_module("stem_bn", std::make_shared<nn::BatchNorm2d>(kStemChannels));
    layer1 = register_module("layer1",
                             std::make_shared<models::BasicBlock>(kStemChannels, kStemChannels));
    layer2 = register_module(
        "layer2", std::make_shared<models::BasicBlock>(kStemChannels, 2 * kStemChannels, 2));
    layer3 = register_module(
        "layer3", std::make_shared<models::BasicBlock>(2 * kStemChannels, kExpertChannels, 2));
    std::vector<std::shared_ptr<nn::Module>> blocks;
    for (int64_t e = 0; e < experts; ++e) {
      blocks.push_back(std::make_shared<FlatBasicBlock>(kExpertChannels, kExpertSide));
    }
    // Dropless: ExpertList runs each expert on exactly the rows it received, so keeping every
    // image costs no padding, and no image loses its features to a capacity limit in training
    // or evaluation.
    moe = register_module(
        "moe", std::make_shared<models::MoE>(
                   models::MoEOptions{.d_model = kExpertChannels * kExpertSide * kExpertSide,
                                      .num_experts = experts,
                                      .k = k,
                                      .dropless = true},
                   std::make_shared<PooledTopKGate>(kExpertChannels, kExpertSide, experts, k),
                   std::make_shared<models::ExpertList>(std::move(blocks))));
    head = register_module("head", std::make_shared<nn::Linear>(kExpertChannels, kClasses));
  }

  // images [N, 3, 32, 32] -> logits [N, 10] as `output`, with the MoE layer's routing.
  models::MoEOutput operator()(const Tensor& images) {
    Tensor h = relu((*stem_bn)((*stem)(images)));
    h = (*layer3)((*layer2)((*layer1)(h)));
    models::MoEOutput out = (*moe)(h.flatten(1));
    const Tensor pooled =
        out.output.reshape({-1, kExpertChannels, kExpertSide * kExpertSide}).mean({2});
    out.output = (*head)(pooled);
    return out;
  }

  std::shared_ptr<nn::Conv2d> stem;
  std::shared_ptr<nn::BatchNorm2d> stem_bn;
  std::shared_ptr<models::BasicBlock> layer1, layer2, layer3;
  std::shared_ptr<models::MoE> moe;
  std::shared_ptr<nn::Linear> head;
};

// Either network: both are built from (experts, k), return MoEOutput and keep their MoE layer in
// `moe`.
template <class Model>
class CifarTask : public Task {
 public:
  explicit CifarTask(const Settings& s) : model_(s.experts, s.top_k), top_k_(s.top_k) {
    model_.to(s.device);
  }
  nn::Module& module() override { return model_; }
  void load_data(const std::string& dir) override {
    CifarData data = read_cifar_dir(dir.empty() ? kDefaultDir : dir);
    train_ = std::move(data.train);
    test_ = std::move(data.test);
  }
  std::shared_ptr<const data::Dataset> train_data() const override { return train_; }
  std::shared_ptr<const data::Dataset> test_data() const override { return test_; }
  StepOutput forward(const data::Example& batch) override {
    const models::MoEOutput out = model_(batch.input);
    return classification_step(out.output, batch.target, &out);
  }
  int64_t active_parameters() override {
    return active_with_experts(model_.num_parameters(), model_.moe->experts->num_parameters(),
                               model_.moe->options().num_experts, top_k_);
  }

 private:
  Model model_;
  int64_t top_k_;
  std::shared_ptr<data::TensorDataset> train_, test_;
};

constexpr const char* kData =
    "CIFAR-10 binary batches (50k train / 10k test 32x32 images; not shipped: --data DIR of the "
    "unpacked cifar-10-binary.tar.gz)";

}  // namespace

std::vector<ModelEntry> cifar_models() {
  return {{.name = "cifar10-moe",
           .description = "the CIFAR-10 LeNet CNN (conv 5x5 6, 16, fc 120, 84) with a dropless "
                          "top-k MoE of Linear(84, 84) experts before its output layer "
                          "(models/cifar_cnn_moe.h)",
           .data = kData,
           .default_data_dir = kDefaultDir,
           .metric = {"accuracy", true},
           .defaults = {.epochs = 20,
                        .batch = 64,
                        .lr = 1e-3,
                        .experts = models::CifarCnnMoE::kNumExperts,
                        .top_k = 1,
                        .seed = 0,
                        .data_dir = {}},
           .routed = true,
           .make = [](const Settings& s) -> std::unique_ptr<Task> {
             return std::make_unique<CifarTask<models::CifarCnnMoE>>(s);
           }},
          {.name = "cifar10-resnet-moe",
           .description = "small ResNet (3x3 stem, BasicBlocks 16, 32 /2, 64 /2) with a dropless "
                          "MoE of BasicBlock(64, 64) experts routed per image by its pooled "
                          "features, global average pooling, linear head",
           .data = kData,
           .default_data_dir = kDefaultDir,
           .metric = {"accuracy", true},
           .defaults = {.epochs = 10,
                        .batch = 128,
                        .lr = 2e-3,
                        .experts = 4,
                        .top_k = 2,
                        .seed = 0,
                        .data_dir = {}},
           .routed = true,
           .make = [](const Settings& s) -> std::unique_ptr<Task> {
             return std::make_unique<CifarTask<CifarResNetMoE>>(s);
           }}};
}

}  // namespace mixgrad::zoo
