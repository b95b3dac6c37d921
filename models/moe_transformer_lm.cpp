#include "models/moe_transformer_lm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/grad_mode.h"
#include "nn/init.h"
#include "nn/layer_norm.h"
#include "nn/repr.h"
#include "nn/rms_norm.h"
#include "ops/ops.h"

namespace mixgrad::models {

namespace {

constexpr const char* kOp = "MoETransformerLM";

int64_t default_expert_hidden(int64_t d_model) {
  return (8 * d_model / 3 + 7) / 8 * 8;
}

std::shared_ptr<FeedForward> default_feed_forward(const MoETransformerLMOptions& o, int64_t layer) {
  const int64_t hidden = o.expert_hidden > 0 ? o.expert_hidden : default_expert_hidden(o.d_model);
  if ((layer + 1) % o.moe_every != 0) {
    return std::make_shared<DenseFeedForward>(
        DenseFeedForwardOptions{.d_model = o.d_model,
                                .hidden = hidden,
                                .activation = Activation::SwiGLU,
                                .bias = false,
                                .tensor_options = o.tensor_options});
  }
  return std::make_shared<MoE>(
      MoEOptions{.d_model = o.d_model,
                 .hidden = hidden,
                 .num_experts = o.num_experts,
                 .k = o.k,
                 .activation = Activation::SwiGLU,
                 .expert_bias = false,
                 .switch_loss_coef = o.switch_loss_coef,
                 .z_loss_coef = o.z_loss_coef,
                 .capacity_factor_train = o.capacity_factor_train * static_cast<double>(o.k),
                 // capacity = all T tokens: an expert gets each token at most once, so nothing
                 // drops and a token's output does not depend on the rest of the batch.
                 .capacity_factor_eval = static_cast<double>(o.num_experts),
                 .dropless = o.dropless,
                 .shared_experts = o.shared_experts,
                 .tensor_options = o.tensor_options});
}

// LayerNorm's customary eps (PyTorch's default) and RMSNorm's (LLaMA's), blocks and final norm
// alike.
double norm_eps(NormKind kind) {
  return kind == NormKind::LayerNorm ? 1e-5 : 1e-6;
}

std::shared_ptr<nn::Module> make_norm(const MoETransformerLMOptions& o) {
  if (o.norm == NormKind::LayerNorm)
    return std::make_shared<nn::LayerNorm>(Shape{o.d_model}, norm_eps(o.norm), true,
                                           o.tensor_options);
  return std::make_shared<nn::RMSNorm>(o.d_model, norm_eps(o.norm), true, o.tensor_options);
}

// Restores a module's training mode on scope exit (generate() runs in evaluation mode).
class EvalGuard {
 public:
  explicit EvalGuard(nn::Module& m) : module_(m), was_training_(m.is_training()) { m.eval(); }
  ~EvalGuard() { module_.train(was_training_); }
  EvalGuard(const EvalGuard&) = delete;
  EvalGuard& operator=(const EvalGuard&) = delete;

 private:
  nn::Module& module_;
  bool was_training_;
};

// One token per row from logits [B, V]: argmax at temperature 0, else a draw from
// softmax(logits / temperature) restricted to the top_k most likely, by inverse CDF of a uniform
// from `gen` (in double on the host: B x V values, once per generated position).
Tensor sample(const Tensor& logits, const GenerateOptions& o, Generator& gen) {
  if (o.temperature == 0) return argmax(logits, -1, /*keepdim=*/true);
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  Tensor scores = contiguous(to(to(logits, kFloat64), Device::cpu()));
  const double* s = scores.data_ptr<double>();
  Tensor u = rand({rows}, kFloat64, &gen);
  const double* uniform = u.data_ptr<double>();
  std::vector<int64_t> chosen(static_cast<size_t>(rows));
  std::vector<double> p(static_cast<size_t>(vocab));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = s + r * vocab;
    double threshold = -INFINITY;  // scores below it are outside the top k
    if (o.top_k > 0 && o.top_k < vocab) {
      std::vector<double> sorted(row, row + vocab);
      std::nth_element(sorted.begin(), sorted.begin() + (o.top_k - 1), sorted.end(),
                       std::greater<>());
      threshold = sorted[static_cast<size_t>(o.top_k - 1)];
    }
    const double peak = *std::max_element(row, row + vocab);
    double total = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      p[static_cast<size_t>(v)] =
          row[v] >= threshold ? std::exp((row[v] - peak) / o.temperature) : 0.0;
      total += p[static_cast<size_t>(v)];
    }
    double target = uniform[r] * total, run = 0;
    int64_t pick = -1;
    for (int64_t v = 0; v < vocab; ++v) {
      if (p[static_cast<size_t>(v)] == 0) continue;
      pick = v;  // the last token with mass absorbs rounding at the top end
      run += p[static_cast<size_t>(v)];
      if (run > target) break;
    }
    chosen[static_cast<size_t>(r)] = pick;
  }
  return to(tensor(chosen, Shape{rows, 1}), logits.device());
}

}  // namespace

MoETransformerLM::MoETransformerLM(MoETransformerLMOptions options)
    : options_(std::move(options)), dropout_(options_.dropout) {
  const MoETransformerLMOptions& o = options_;
  MG_CHECK(o.vocab_size > 0 && o.d_model > 0 && o.num_layers > 0 && o.num_heads > 0 &&
               o.max_seq_len > 0 && o.moe_every > 0,
           kOp, "sizes must be positive, got vocab_size=", o.vocab_size, " d_model=", o.d_model,
           " num_layers=", o.num_layers, " num_heads=", o.num_heads, " max_seq_len=", o.max_seq_len,
           " moe_every=", o.moe_every);
  TensorOptions t = o.tensor_options;
  t.requires_grad_ = false;
  embedding =
      register_module("embedding", std::make_shared<nn::Embedding>(o.vocab_size, o.d_model, t));
  // GPT-2's scale: N(0, 1) rows would make the tied head's logits d_model times too large.
  nn::init::normal_(embedding->weight, 0.0, 0.02);
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  for (int64_t l = 0; l < o.num_layers; ++l) {
    std::shared_ptr<FeedForward> ffn =
        o.feed_forward ? o.feed_forward(l) : default_feed_forward(o, l);
    MG_CHECK(ffn != nullptr, kOp, "feed_forward returned null for layer ", l);
    auto block = std::make_shared<TransformerBlock>(
        TransformerBlockOptions{.d_model = o.d_model,
                                .num_heads = o.num_heads,
                                .num_kv_heads = o.num_kv_heads,
                                .rotary_dim = o.rotary_dim,
                                .rotary_base = o.rotary_base,
                                .max_positions = o.max_seq_len,
                                .dropout = o.dropout,
                                .norm = o.norm,
                                .norm_eps = norm_eps(o.norm),
                                .tensor_options = o.tensor_options},
        std::move(ffn));
    layers->push_back(block);
    blocks_.push_back(block);
  }
  norm = register_module("norm", make_norm(o));
  output_weight =
      o.tie_embeddings
          ? embedding->weight
          : register_parameter("output_weight",
                               nn::init::normal_(empty({o.vocab_size, o.d_model}, t), 0.0, 0.02));
  register_module("dropout", dropout_);
}

LMOutput MoETransformerLM::operator()(const Tensor& tokens, LMCache* cache) {
  MG_CHECK(tokens.defined() && tokens.dim() == 2 && tokens.dtype() == kInt64, kOp,
           "expected int64 tokens [B, T], got ", describe(tokens));
  const int64_t offset = cache ? cache->length() : 0;
  MG_CHECK(offset + tokens.size(1) <= options_.max_seq_len, kOp, "positions up to ",
           offset + tokens.size(1), " pass max_seq_len ", options_.max_seq_len);
  if (cache) {
    MG_CHECK(cache->layers.size() == blocks_.size(), kOp, "the cache has ", cache->layers.size(),
             " layers; the model has ", blocks_.size(), " (use make_cache())");
  }
  Tensor h = dropout_((*embedding)(tokens));
  LMOutput out;
  for (size_t l = 0; l < blocks_.size(); ++l) {
    MoEOutput block = (*blocks_[l])(h, cache ? &cache->layers[l] : nullptr);
    h = block.output;
    out.aux_loss = out.aux_loss.defined() ? out.aux_loss + block.aux_loss : block.aux_loss;
    out.tokens_per_expert.push_back(block.tokens_per_expert);
    out.dropped += block.dropped;
  }
  out.logits = matmul((*norm)(h), output_weight.transpose(0, 1));
  return out;
}

LMCache MoETransformerLM::make_cache(int64_t capacity) const {
  MG_CHECK(capacity >= 0 && capacity <= options_.max_seq_len, kOp, "cache capacity ", capacity,
           " must be in [0, max_seq_len = ", options_.max_seq_len, "]");
  LMCache cache;
  for (size_t l = 0; l < blocks_.size(); ++l)
    cache.layers.emplace_back(capacity > 0 ? capacity : options_.max_seq_len);
  return cache;
}

Tensor MoETransformerLM::generate(const Tensor& prompt, const GenerateOptions& o) {
  MG_CHECK(prompt.defined() && prompt.dim() == 2 && prompt.dtype() == kInt64 && prompt.size(1) > 0,
           kOp, "generate expects an int64 prompt [B, T0] with T0 >= 1, got ", describe(prompt));
  MG_CHECK(
      o.max_new_tokens >= 0 && o.temperature >= 0 && o.top_k >= 0 && std::isfinite(o.temperature),
      kOp, "max_new_tokens, temperature and top_k must be non-negative, got ", o.max_new_tokens,
      ", ", o.temperature, ", ", o.top_k);
  const int64_t total = prompt.size(1) + o.max_new_tokens;
  MG_CHECK(total <= options_.max_seq_len, kOp, "the prompt's ", prompt.size(1), " tokens plus ",
           o.max_new_tokens, " new ones pass max_seq_len ", options_.max_seq_len);
  NoGradGuard no_grad;
  EvalGuard eval(*this);
  Generator gen(o.seed);
  Tensor sequence = prompt;
  LMCache cache = make_cache(total);
  Tensor next_input = prompt;  // what the cached model has not seen yet
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    const LMOutput out = o.use_cache ? (*this)(next_input, &cache) : (*this)(sequence);
    const Tensor last = out.logits.select(1, out.logits.size(1) - 1);  // [B, vocab]
    next_input = sample(last, o, gen);
    sequence = cat({sequence, next_input}, 1);
  }
  return sequence;
}

int64_t MoETransformerLM::active_parameters() const {
  int64_t inactive = 0;
  for (const auto& block : blocks_) {
    if (auto moe = std::dynamic_pointer_cast<MoE>(block->feed_forward)) {
      const int64_t e = moe->options().num_experts, k = moe->options().k;
      inactive += moe->experts->num_parameters() / e * (e - k);
    }
  }
  return num_parameters() - inactive;
}

std::string MoETransformerLM::extra_repr() const {
  const MoETransformerLMOptions& o = options_;
  return "vocab_size=" + std::to_string(o.vocab_size) + ", d_model=" + std::to_string(o.d_model) +
         ", num_layers=" + std::to_string(o.num_layers) +
         ", num_heads=" + std::to_string(o.num_heads) +
         ", max_seq_len=" + std::to_string(o.max_seq_len) +
         ", tie_embeddings=" + (o.tie_embeddings ? "true" : "false");
}

}  // namespace mixgrad::models
