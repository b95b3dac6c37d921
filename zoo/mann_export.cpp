#include "zoo/mann_export.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "data/float_binary.h"
#include "io/file_io.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace mixgrad::zoo {

namespace {

constexpr const char* kOp = "export mann";

// The checkpoint's tensors by name, each checked when asked for.
class CheckpointTensors {
 public:
  explicit CheckpointTensors(const std::string& path) : path_(path) {
    for (auto& [name, tensor] : io::load_safetensors(path).tensors) tensors_.emplace(name, tensor);
  }

  // The float32 tensor `name` of shape `shape` (-1: any size in that dim).
  const Tensor& get(const std::string& name, const Shape& shape) const {
    const auto it = tensors_.find(name);
    MG_CHECK(it != tensors_.end(), kOp, path_,
             " is not a mann-quadruped checkpoint: it has no tensor '", name, "'");
    const Tensor& t = it->second;
    MG_CHECK(t.dtype() == kFloat32, kOp, path_, ": tensor '", name, "' is ", t.dtype(),
             "; the original layout is float32");
    bool fits = t.dim() == static_cast<int64_t>(shape.size());
    for (int64_t d = 0; fits && d < t.dim(); ++d) {
      fits = shape[static_cast<size_t>(d)] < 0 || shape[static_cast<size_t>(d)] == t.size(d);
    }
    MG_CHECK(fits, kOp, path_, ": tensor '", name, "' has shape ", t.shape(), ", expected ", shape,
             " (-1: any size)");
    return t;
  }

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace

void export_mann(const std::string& checkpoint, const std::string& out_dir) {
  const CheckpointTensors ckpt(checkpoint);
  // Every shape is checked against its neighbours before the first file is written, so a
  // refused checkpoint leaves no partial export behind.
  const Tensor& x_mean = ckpt.get("x_mean", {-1});
  const Tensor& y_mean = ckpt.get("y_mean", {-1});
  const int64_t inputs = x_mean.size(0), outputs = y_mean.size(0);
  const Tensor& x_std = ckpt.get("x_std", {inputs});
  const Tensor& y_std = ckpt.get("y_std", {outputs});

  const Tensor& gate_in = ckpt.get("mann.gating.0.weight", {-1, -1});
  const int64_t gate_hidden = gate_in.size(0);
  const Tensor& gate_out = ckpt.get("mann.gating.4.weight", {-1, gate_hidden});
  const int64_t experts = gate_out.size(0);
  std::vector<std::pair<std::string, Tensor>> files;
  const std::string gating[3] = {"mann.gating.0.", "mann.gating.2.", "mann.gating.4."};
  const int64_t gate_rows[3] = {gate_hidden, gate_hidden, experts};
  const int64_t gate_cols[3] = {gate_in.size(1), gate_hidden, gate_hidden};
  for (int i = 0; i < 3; ++i) {
    const std::string wc = "wc" + std::to_string(i);
    files.emplace_back(wc + "_w.bin", ckpt.get(gating[i] + "weight", {gate_rows[i], gate_cols[i]}));
    files.emplace_back(wc + "_b.bin", ckpt.get(gating[i] + "bias", {gate_rows[i]}));
  }

  const Tensor& first = ckpt.get("mann.layers.0.weight", {experts, -1, inputs});
  const int64_t hidden = first.size(1);
  const int64_t rows[3] = {hidden, hidden, outputs};
  const int64_t cols[3] = {inputs, hidden, hidden};
  for (int l = 0; l < 3; ++l) {
    const std::string layer = "mann.layers." + std::to_string(l) + ".";
    const Tensor& weight = ckpt.get(layer + "weight", {experts, rows[l], cols[l]});
    const Tensor& bias = ckpt.get(layer + "bias", {experts, rows[l]});
    for (int64_t e = 0; e < experts; ++e) {
      const std::string cp = "cp" + std::to_string(l);
      files.emplace_back(cp + "_a" + std::to_string(e) + ".bin", weight[e]);
      files.emplace_back(cp + "_b" + std::to_string(e) + ".bin", bias[e]);
    }
  }
  files.emplace_back("Xmean.bin", x_mean);
  files.emplace_back("Xstd.bin", x_std);
  files.emplace_back("Ymean.bin", y_mean);
  files.emplace_back("Ystd.bin", y_std);

  const fs::path dir(out_dir);
  io::ensure_writable_directory(dir.string(), kOp);
  for (const auto& [name, values] : files) {
    data::write_float32_binary((dir / name).string(), values);
  }
}

}  // namespace mixgrad::zoo
