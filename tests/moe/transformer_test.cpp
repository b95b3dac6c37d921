// TransformerBlock with every kind of feed-forward, and MoETransformerLM: cached generation,
// training on a toy corpus, the aux loss reaching the optimizer.
#include <gtest/gtest.h>

#include <set>

#include "common/test_util.h"
#include "mixgrad.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;

constexpr int64_t kD = 16;

TransformerBlockOptions block_options(TensorOptions t = kFloat64) {
  return {
      .d_model = kD, .num_heads = 4, .num_kv_heads = 2, .max_positions = 64, .tensor_options = t};
}

MoEOptions moe_options() {
  return {.d_model = kD,
          .hidden = 12,
          .num_experts = 4,
          .k = 2,
          .activation = Activation::SwiGLU,
          .expert_bias = false,
          .tensor_options = kFloat64};
}

struct NamedFeedForward {
  const char* name;
  std::function<std::shared_ptr<FeedForward>()> make;
  bool routed;
  bool balancing_loss = routed;  // expert choice is balanced by construction: no aux loss
};

std::vector<NamedFeedForward> feed_forwards() {
  return {
      {"dense_gelu",
       [] {
         return std::make_shared<DenseFeedForward>(
             DenseFeedForwardOptions{.d_model = kD, .hidden = 20, .tensor_options = kFloat64});
       },
       false},
      {"dense_swiglu",
       [] {
         return std::make_shared<DenseFeedForward>(
             DenseFeedForwardOptions{.d_model = kD,
                                     .hidden = 20,
                                     .activation = Activation::SwiGLU,
                                     .tensor_options = kFloat64});
       },
       false},
      {"moe_top2_swiglu", [] { return std::make_shared<MoE>(moe_options()); }, true},
      {"moe_shared_experts",
       [] {
         MoEOptions o = moe_options();
         o.shared_experts = 1;
         return std::make_shared<MoE>(o);
       },
       true},
      {"moe_expert_choice",
       [] {
         MoEOptions o = moe_options();
         auto gate = std::make_shared<ExpertChoiceGate>(ExpertChoiceGateOptions{
             .d_model = kD, .num_experts = 4, .capacity_factor = 2.0, .tensor_options = kFloat64});
         return std::make_shared<MoE>(o, gate);
       },
       true, false},
      {"hierarchical_moe",
       [] {
         return std::make_shared<HierarchicalMoE>(
             HierarchicalMoEOptions{.d_model = kD,
                                    .hidden = 8,
                                    .groups = 2,
                                    .experts_per_group = 2,
                                    .k_groups = 1,
                                    .k_experts = 2,
                                    .activation = Activation::SwiGLU,
                                    .tensor_options = kFloat64});
       },
       true},
  };
}

TEST(TransformerBlock, EveryFeedForwardTrainsThroughTheBlock) {
  Generator gen(3);
  Tensor x = randn({2, 5, kD}, kFloat64, &gen);
  for (const NamedFeedForward& ff : feed_forwards()) {
    SCOPED_TRACE(ff.name);
    TransformerBlock block(block_options(), ff.make());
    MoEOutput out = block(x);
    EXPECT_EQ(out.output.shape(), x.shape());
    ASSERT_TRUE(out.aux_loss.defined());
    EXPECT_EQ(out.aux_loss.dim(), 0);
    EXPECT_EQ(out.tokens_per_expert.defined(), ff.routed);
    if (ff.balancing_loss) {
      EXPECT_GT(out.aux_loss.item<double>(), 0.0);
    }
    (out.output.square().mean() + out.aux_loss).backward();
    for (const auto& [name, p] : block.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
  }
}

TEST(TransformerBlock, IsAPreNormResidualBlock) {
  // With the attention's output projection and the MLP's second layer at zero, both branches
  // add nothing: the block is the identity.
  TransformerBlock block(block_options(), feed_forwards()[1].make());
  {
    NoGradGuard no_grad;
    nn::init::zeros_(block.attention->out_proj->weight);
    auto ffn = std::dynamic_pointer_cast<DenseFeedForward>(block.feed_forward);
    nn::init::zeros_(ffn->fc2->weight);
    nn::init::zeros_(ffn->fc2->bias);
  }
  Generator gen(4);
  Tensor x = randn({1, 3, kD}, kFloat64, &gen);
  expect_close(block(x).output, x, 1e-15, 0);
  // Parameter names follow LLaMA's layout.
  std::set<std::string> names;
  for (const auto& [name, p] : block.named_parameters()) names.insert(name);
  EXPECT_TRUE(names.count("attention_norm.weight"));
  EXPECT_TRUE(names.count("attention.in_proj_weight"));
  EXPECT_TRUE(names.count("ffn_norm.weight"));
  EXPECT_TRUE(names.count("feed_forward.fc1.weight"));
}

TEST(TransformerBlock, CausalOutputsDoNotSeeTheFuture) {
  // Dropless: with a capacity, later tokens could take an expert's slots from earlier ones.
  MoEOptions o = moe_options();
  o.dropless = true;
  TransformerBlock block(block_options(), std::make_shared<MoE>(o));
  block.eval();
  Generator gen(5);
  Tensor x = randn({1, 6, kD}, kFloat64, &gen);
  Tensor y = x.clone();
  {
    NoGradGuard no_grad;
    y.narrow(1, 4, 2).copy_(randn({1, 2, kD}, kFloat64, &gen));
  }
  expect_close(block(y).output.narrow(1, 0, 4), block(x).output.narrow(1, 0, 4), 1e-12, 1e-10);
}

TEST(TransformerBlock, RejectsBadArguments) {
  EXPECT_MG_ERROR(TransformerBlock(block_options(), nullptr), "null");
  TransformerBlockOptions o = block_options();
  o.num_heads = 5;
  EXPECT_MG_ERROR(TransformerBlock(o, feed_forwards()[0].make()), "divisible");
  TransformerBlock block(block_options(), feed_forwards()[0].make());
  EXPECT_MG_ERROR(block(zeros({2, kD}, kFloat64)), "[B, T, 16]");
}

MoETransformerLMOptions lm_options(TensorOptions t = kFloat64) {
  return {.vocab_size = 11,
          .d_model = kD,
          .num_layers = 2,
          .num_heads = 4,
          .num_kv_heads = 2,
          .max_seq_len = 40,
          .num_experts = 4,
          .k = 2,
          .expert_hidden = 12,
          .tensor_options = t};
}

TEST(MoETransformerLM, TiedAndUntiedHeads) {
  MoETransformerLM tied(lm_options());
  EXPECT_TRUE(tied.output_weight.is_same(tied.embedding->weight) ||
              tied.output_weight.data_ptr() == tied.embedding->weight.data_ptr());
  MoETransformerLMOptions o = lm_options();
  o.tie_embeddings = false;
  MoETransformerLM untied(o);
  EXPECT_EQ(untied.num_parameters() - tied.num_parameters(), 11 * kD);
  EXPECT_LT(tied.active_parameters(), tied.num_parameters());
  Tensor tokens = randint(0, 11, {2, 7}, kInt64);
  LMOutput out = tied(tokens);
  EXPECT_EQ(out.logits.shape(), (Shape{2, 7, 11}));
  EXPECT_EQ(out.tokens_per_expert.size(), 2u);
  EXPECT_GT(out.aux_loss.item<double>(), 0.0);
  // moe_every = 2: the first layer is dense, the second MoE.
  o.moe_every = 2;
  MoETransformerLM mixed(o);
  LMOutput m = mixed(tokens);
  EXPECT_FALSE(m.tokens_per_expert[0].defined());
  EXPECT_TRUE(m.tokens_per_expert[1].defined());
}

TEST(MoETransformerLM, CachedForwardEqualsTheFullForward) {
  MoETransformerLM lm(lm_options());
  lm.eval();
  NoGradGuard no_grad;
  Tensor tokens = randint(0, 11, {2, 9}, kInt64);
  Tensor full = lm(tokens).logits;
  LMCache cache = lm.make_cache();
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t length : {4, 1, 1, 3}) {
    parts.push_back(lm(tokens.narrow(1, start, length), &cache).logits);
    start += length;
  }
  EXPECT_EQ(cache.length(), 9);
  expect_close(cat(parts, 1), full, 1e-10, 1e-9);
}

TEST(MoETransformerLM, GenerationWithTheCacheEqualsGenerationWithout) {
  MoETransformerLM lm(lm_options());
  Tensor prompt = randint(0, 11, {2, 3}, kInt64);
  for (GenerateOptions o :
       {GenerateOptions{.max_new_tokens = 12, .temperature = 0},
        GenerateOptions{.max_new_tokens = 12, .temperature = 0.8, .top_k = 5, .seed = 7}}) {
    Tensor cached = lm.generate(prompt, o);
    o.use_cache = false;
    Tensor uncached = lm.generate(prompt, o);
    EXPECT_EQ(cached.shape(), (Shape{2, 15}));
    EXPECT_EQ(cached.to_vector<int64_t>(), uncached.to_vector<int64_t>());
    EXPECT_EQ(cached.narrow(1, 0, 3).to_vector<int64_t>(), prompt.to_vector<int64_t>());
  }
  EXPECT_TRUE(lm.is_training());  // restored after generate()
  // The same seed gives the same tokens; the sampled tokens stay among the top k.
  GenerateOptions o{.max_new_tokens = 20, .temperature = 1.5, .top_k = 1, .seed = 1};
  Tensor a = lm.generate(prompt, o);
  o.temperature = 0;
  EXPECT_EQ(a.to_vector<int64_t>(), lm.generate(prompt, o).to_vector<int64_t>());
  o = {.max_new_tokens = 20, .temperature = 2.0, .seed = 3};
  EXPECT_EQ(lm.generate(prompt, o).to_vector<int64_t>(),
            lm.generate(prompt, o).to_vector<int64_t>());
}

TEST(MoETransformerLM, LossFallsOnAToyCorpus) {
  // Sequences counting up modulo the vocabulary from random starts: the next token is a
  // function of the current one, which two layers learn in a few dozen steps.
  MoETransformerLMOptions o = lm_options(kFloat32);
  MoETransformerLM lm(o);
  optim::Adam adam(lm.parameters(), optim::AdamOptions{.lr = 1e-2});
  Generator gen(11);
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    std::vector<int64_t> starts = randint(0, 11, {8}, kInt64, &gen).to_vector<int64_t>(), counts;
    for (int64_t s : starts)
      for (int64_t t = 0; t < 13; ++t) counts.push_back((s + t) % 11);
    Tensor seq = tensor(counts, Shape{8, 13});
    LMOutput out = lm(seq.narrow(1, 0, 12));
    Tensor loss = cross_entropy(out.logits.reshape({-1, 11}), seq.narrow(1, 1, 12).reshape({-1}));
    adam.zero_grad();
    (loss + out.aux_loss).backward();
    adam.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_GT(first, 2.0);  // about log(11) = 2.4 at the start
  EXPECT_LT(last, 0.5 * first);
  // The learned model continues the count.
  Tensor prompt = tensor<int64_t>({3, 4, 5}, Shape{1, 3});
  Tensor out = lm.generate(prompt, {.max_new_tokens = 4, .temperature = 0});
  EXPECT_EQ(out.to_vector<int64_t>(), (std::vector<int64_t>{3, 4, 5, 6, 7, 8, 9}));
}

TEST(MoETransformerLM, TheAuxLossReachesTheRouters) {
  MoETransformerLM lm(lm_options());
  Tensor tokens = randint(0, 11, {2, 6}, kInt64);
  lm(tokens).aux_loss.backward();
  auto moe = std::dynamic_pointer_cast<MoE>(lm.layers->at<TransformerBlock>(0)->feed_forward);
  ASSERT_TRUE(moe);
  const Tensor router = moe->gate->parameters().front();
  ASSERT_TRUE(router.grad().defined());
  EXPECT_GT(router.grad().abs().sum().item<double>(), 0.0);
  // An optimizer step on the aux loss alone moves the router.
  optim::SGD sgd(lm.parameters(), optim::SGDOptions{.lr = 0.1});
  Tensor before = router.clone();
  sgd.step();
  EXPECT_GT((router - before).abs().sum().item<double>(), 0.0);
}

TEST(MoETransformerLM, RejectsBadArguments) {
  MoETransformerLM lm(lm_options());
  EXPECT_MG_ERROR(lm(zeros({2, 3}, kFloat64)), "int64 tokens");
  EXPECT_MG_ERROR(lm(zeros({1, 41}, kInt64)), "max_seq_len");
  EXPECT_MG_ERROR(lm(full({1, 2}, 11, kInt64)), "");
  EXPECT_MG_ERROR(lm.generate(zeros({1, 30}, kInt64), {.max_new_tokens = 11}), "max_seq_len");
  EXPECT_MG_ERROR(lm.generate(zeros({1, 0}, kInt64)), "T0 >= 1");
  EXPECT_MG_ERROR(lm.generate(zeros({1, 2}, kInt64), {.temperature = -1}), "non-negative");
  EXPECT_MG_ERROR(lm.make_cache(41), "capacity");
  MoETransformerLMOptions o = lm_options();
  o.vocab_size = 0;
  EXPECT_MG_ERROR(MoETransformerLM{o}, "positive");
  o = lm_options();
  o.feed_forward = [](int64_t) { return std::shared_ptr<FeedForward>(); };
  EXPECT_MG_ERROR(MoETransformerLM{o}, "null");
}

}  // namespace
}  // namespace mixgrad::models
