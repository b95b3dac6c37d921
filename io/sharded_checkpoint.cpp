#include "io/sharded_checkpoint.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string_view>

#include "io/file_io.h"
#include "ops/join.h"
#include "optim/optimizer.h"

namespace mixgrad::io {
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kFormat = "mixgrad sharded checkpoint";
constexpr int kVersion = 1;
// A manifest lists part names; anything near this size is not one.
constexpr uint64_t kMaxManifestBytes = 16 << 20;
// Metadata keys of a part file that the format itself uses.
constexpr const char* kPartPrefix = "__part__.";
const std::string kGenerationKey = std::string(kPartPrefix) + "generation";
const std::string kRowsPrefix = std::string(kPartPrefix) + "rows.";

bool valid_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string part_file(const std::string& name, const std::string& generation) {
  return "part-" + name + "." + generation + ".safetensors";
}

// The generation of a part file's name, also of the temporary file of a part being written
// ("part-<name>.<generation>.safetensors.tmp-<pid>-<n>"); "" for another file.
std::string generation_of(std::string file) {
  const std::string suffix = ".safetensors";
  if (const size_t temporary = file.find(suffix + ".tmp-"); temporary != std::string::npos)
    file.resize(temporary + suffix.size());
  if (!file.starts_with("part-") || !file.ends_with(suffix)) return "";
  const std::string middle = file.substr(5, file.size() - 5 - suffix.size());
  const size_t dot = middle.find('.');
  return dot == std::string::npos ? "" : middle.substr(dot + 1);
}

// Rows [offset, offset + rows) lie within [0, total), without overflowing.
bool rows_fit(const RowRange& r, int64_t rows) {
  return r.offset >= 0 && r.total >= 0 && rows >= 0 && r.offset <= r.total &&
         rows <= r.total - r.offset;
}

// "<offset>:<total>", each a non-negative decimal that fits int64.
std::optional<RowRange> parse_rows(std::string_view text) {
  RowRange r;
  const char* end = text.data() + text.size();
  auto [colon, e1] = std::from_chars(text.data(), end, r.offset);
  if (e1 != std::errc() || colon == end || *colon != ':') return std::nullopt;
  auto [last, e2] = std::from_chars(colon + 1, end, r.total);
  if (e2 != std::errc() || last != end || r.offset < 0 || r.total < 0) return std::nullopt;
  return r;
}

// One tensor of the merged checkpoint: whole, or assembled from rows.
struct Entry {
  std::string name;  // as stored (optimizer tensors with kOptimizerPrefix)
  Tensor whole;
  std::string whole_part;
  std::map<int64_t, std::pair<Tensor, std::string>> rows;  // by offset; with the part's name
  int64_t total = -1;
};

class Merger {
 public:
  explicit Merger(std::string dir) : dir_(std::move(dir)) {}

  void add(const std::string& part, CheckpointPart piece) {
    auto take = [&](const std::string& name, const Tensor& t) {
      const auto range = piece.rows.find(name);
      auto [it, fresh] = index_.try_emplace(name, entries_.size());
      if (fresh) entries_.push_back({name, {}, {}, {}, -1});
      Entry& e = entries_[it->second];
      if (range == piece.rows.end()) {
        check(!e.whole.defined(), "'", name, "' is in part ", quoted(e.whole_part), " and in part ",
              quoted(part));
        if (!e.rows.empty())  // (check() would name rows.begin() before testing)
          fail("'", name, "' is whole in part ", quoted(part), " and rows of it in part ",
               quoted(e.rows.begin()->second.second));
        e.whole = t;
        e.whole_part = part;
        return;
      }
      check(!e.whole.defined(), "'", name, "' is whole in part ", quoted(e.whole_part),
            " and rows of it in part ", quoted(part));
      const RowRange r = range->second;
      // (No offset + count here: a crafted file's numbers could overflow it.)
      check(t.dim() >= 1 && rows_fit(r, t.size(0)), "part ", quoted(part), " holds ",
            t.dim() >= 1 ? t.size(0) : 0, " rows from row ", r.offset, " of '", name, "' (shape ",
            t.shape(), "), outside its ", r.total, " rows");
      check(e.total < 0 || e.total == r.total, "parts disagree on the rows of '", name,
            "': ", e.total, " and ", r.total);
      e.total = r.total;
      check(e.rows.emplace(r.offset, std::make_pair(t, part)).second, "'", name, "' has rows from ",
            r.offset, " in two parts");
    };
    for (auto& [name, t] : piece.contents.module_state) take(name, t);
    for (auto& [name, t] : piece.contents.optimizer_tensors) take(kOptimizerPrefix + name, t);
    merge_strings(part, piece.contents.optimizer_scalars, scalars_, "optimizer scalar");
    merge_strings(part, piece.contents.metadata, metadata_, "metadata");
  }

  CheckpointContents finish() {
    CheckpointContents out;
    const std::string prefix = kOptimizerPrefix;
    for (Entry& e : entries_) {
      Tensor t = e.whole.defined() ? e.whole : join(e);
      if (e.name.starts_with(prefix))
        out.optimizer_tensors.emplace_back(e.name.substr(prefix.size()), std::move(t));
      else
        out.module_state.emplace_back(e.name, std::move(t));
    }
    for (auto& [key, value] : scalars_) out.optimizer_scalars[key] = value.first;
    for (auto& [key, value] : metadata_) out.metadata[key] = value.first;
    return out;
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw Error("read_checkpoint", ::mixgrad::detail::concat("'", dir_, "': ", parts...));
  }
  template <class... Parts>
  void check(bool ok, const Parts&... parts) const {
    if (!ok) fail(parts...);
  }
  static std::string quoted(const std::string& s) { return "'" + s + "'"; }

  void merge_strings(const std::string& part, const std::map<std::string, std::string>& from,
                     std::map<std::string, std::pair<std::string, std::string>>& into,
                     const char* what) const {
    for (const auto& [key, value] : from) {
      const auto [it, fresh] = into.try_emplace(key, value, part);
      check(fresh || it->second.first == value, "the ", what, " '", key, "' is '", it->second.first,
            "' in part ", quoted(it->second.second), " and '", value, "' in part ", quoted(part));
    }
  }

  // The rows of `e` in order, checked to tile [0, total) with one dtype and row shape.
  Tensor join(const Entry& e) const {
    std::vector<Tensor> pieces;
    int64_t next = 0;
    for (const auto& [offset, piece] : e.rows) {
      const Tensor& t = piece.first;
      check(offset == next, "the rows of '", e.name, "' ",
            offset > next ? "leave out [" : "overlap at [", std::min(offset, next), ", ",
            std::max(offset, next), ")");
      if (!pieces.empty()) {
        const Tensor& first = pieces.front();
        check(
            t.dtype() == first.dtype() && Shape(t.shape().begin() + 1, t.shape().end()) ==
                                              Shape(first.shape().begin() + 1, first.shape().end()),
            "the rows of '", e.name, "' differ: ", describe(first), " in one part, ", describe(t),
            " in part ", quoted(piece.second));
      }
      pieces.push_back(t);
      next = offset + t.size(0);
    }
    check(next == e.total, "the rows of '", e.name, "' end at ", next, " of ", e.total);
    return pieces.size() == 1 ? pieces.front() : cat(pieces, 0);
  }

  std::string dir_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::pair<std::string, std::string>> scalars_, metadata_;
};

struct Manifest {
  std::string generation;
  std::vector<std::string> parts;
};

Manifest read_manifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / kManifest).string();
  auto fail = [&](const std::string& problem) -> Manifest {
    throw Error("read_checkpoint", "'" + path + "': " + problem);
  };
  InputFile file(path, "read_checkpoint");
  if (file.size() > kMaxManifestBytes)
    return fail("larger than " + std::to_string(kMaxManifestBytes) + " bytes: not a manifest");
  const std::string text = file.read_all<std::string>();
  Manifest m;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    if (!j.is_object() || j.value("format", "") != kFormat)
      return fail(std::string("not a manifest (its \"format\" must be \"") + kFormat + "\")");
    if (j.at("version").get<int>() != kVersion)
      return fail("version " + j.at("version").dump() + ", and this mixgrad reads version " +
                  std::to_string(kVersion));
    m.generation = j.at("generation").get<std::string>();
    m.parts = j.at("parts").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("malformed manifest: ") + e.what());
  }
  if (!valid_name(m.generation)) return fail("malformed generation '" + m.generation + "'");
  if (m.parts.empty()) return fail("lists no parts");
  std::set<std::string> seen;
  for (const std::string& part : m.parts) {
    if (!valid_name(part)) return fail("malformed part name '" + part + "'");
    if (!seen.insert(part).second) return fail("lists part '" + part + "' twice");
  }
  return m;
}

// A part file's contents with the format's own metadata taken out into `rows`.
// With `tensors` false, only the part's header is read (its scalars and metadata).
CheckpointPart read_part(const std::string& dir, const std::string& name,
                         const std::string& generation, bool tensors) {
  const std::string path = (fs::path(dir) / part_file(name, generation)).string();
  CheckpointPart part;
  part.contents = tensors ? read_checkpoint(path) : read_checkpoint_metadata(path);
  auto fail = [&](const std::string& problem) {
    throw Error("read_checkpoint", "'" + path + "': " + problem);
  };
  std::map<std::string, std::string>& metadata = part.contents.metadata;
  const auto gen = metadata.find(kGenerationKey);
  if (gen == metadata.end() || gen->second != generation)
    fail("not a part of generation '" + generation + "' (a save wrote it halfway?)");
  metadata.erase(gen);
  for (auto it = metadata.begin(); it != metadata.end();) {
    if (!it->first.starts_with(kPartPrefix)) {
      ++it;
      continue;
    }
    if (!it->first.starts_with(kRowsPrefix)) fail("unknown format key '" + it->first + "'");
    const std::optional<RowRange> r = parse_rows(it->second);
    if (!r) fail("malformed rows '" + it->second + "' for '" + it->first + "'");
    part.rows[it->first.substr(kRowsPrefix.size())] = *r;
    it = metadata.erase(it);
  }
  std::set<std::string> stored;
  for (const auto& [n, t] : part.contents.module_state) stored.insert(n);
  for (const auto& [n, t] : part.contents.optimizer_tensors) stored.insert(kOptimizerPrefix + n);
  for (const auto& [n, r] : part.rows)
    if (tensors && !stored.count(n)) fail("gives rows of '" + n + "', which it does not hold");
  if (!tensors) part.rows.clear();
  return part;
}

// The checkpoint the manifest's parts make (without tensors: its scalars and metadata).
CheckpointContents read_parts(const std::string& dir, const Manifest& manifest, bool tensors) {
  Merger merger(dir);
  for (const std::string& part : manifest.parts)
    merger.add(part, read_part(dir, part, manifest.generation, tensors));
  return merger.finish();
}

CheckpointContents read_sharded(const std::string& dir, bool tensors) {
  const Manifest manifest = read_manifest(dir);
  try {
    return read_parts(dir, manifest, tensors);
  } catch (const Error&) {
    // A save that committed meanwhile removes the parts this read began with: read its
    // checkpoint instead (once; a directory that keeps changing is an Error).
    const Manifest now = read_manifest(dir);
    if (now.generation == manifest.generation) throw;
    return read_parts(dir, now, tensors);
  }
}

}  // namespace

bool is_sharded_checkpoint(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::exists(fs::path(path) / kManifest, ec);
}

std::string new_checkpoint_generation() {
  std::random_device device;
  const uint64_t value = (static_cast<uint64_t>(device()) << 32) ^ device();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

void write_checkpoint_part(const std::string& dir, const std::string& name,
                           const std::string& generation, const CheckpointPart& part) {
  const char* op = "write_checkpoint_part";
  MG_CHECK(valid_name(name), op, "part name '", name, "' must be letters, digits, '_' or '-'");
  MG_CHECK(valid_name(generation), op, "generation '", generation,
           "' must be letters, digits, '_' or '-'");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : part.contents.metadata) {
    MG_CHECK(!key.starts_with(kPartPrefix), op, "metadata key '", key,
             "' uses the prefix the format reserves (", kPartPrefix, ")");
    metadata[key] = value;
  }
  metadata[kGenerationKey] = generation;
  std::map<std::string, const Tensor*> stored;
  for (const auto& [n, t] : part.contents.module_state) stored[n] = &t;
  for (const auto& [n, t] : part.contents.optimizer_tensors) stored[kOptimizerPrefix + n] = &t;
  for (const auto& [n, r] : part.rows) {
    const auto it = stored.find(n);
    MG_CHECK(it != stored.end(), op, "rows given for '", n, "', which the part does not hold");
    const Tensor& t = *it->second;
    MG_CHECK(t.dim() >= 1 && rows_fit(r, t.size(0)), op, "'", n, "' (", describe(t),
             ") cannot be rows [", r.offset, ", ...) of ", r.total);
    metadata[kRowsPrefix + n] = std::to_string(r.offset) + ":" + std::to_string(r.total);
  }
  const bool has_optimizer =
      !part.contents.optimizer_tensors.empty() || !part.contents.optimizer_scalars.empty();
  optim::OptimizerState optimizer_state{part.contents.optimizer_tensors,
                                        part.contents.optimizer_scalars};
  save_checkpoint((fs::path(dir) / part_file(name, generation)).string(),
                  part.contents.module_state, has_optimizer ? &optimizer_state : nullptr, metadata);
}

void write_checkpoint_manifest(const std::string& dir, const std::string& generation,
                               const std::vector<std::string>& names) {
  const char* op = "write_checkpoint_manifest";
  MG_CHECK(!names.empty(), op, "a checkpoint needs at least one part");
  for (const std::string& name : names) {
    MG_CHECK(valid_name(name) && valid_name(generation), op, "malformed part '", name,
             "' or generation '", generation, "'");
    const fs::path file = fs::path(dir) / part_file(name, generation);
    std::error_code ec;
    MG_CHECK(fs::is_regular_file(file, ec), op, "'", file.string(),
             "' is missing: every part must be written before the manifest");
  }
  const nlohmann::json manifest = {
      {"format", kFormat}, {"version", kVersion}, {"generation", generation}, {"parts", names}};
  const std::string text = manifest.dump(2) + "\n";
  AtomicFileWriter writer((fs::path(dir) / kManifest).string(), op);
  writer.write(text.data(), text.size());
  writer.commit();
  // The earlier generations' parts, and temporary files of saves killed midway, are no longer
  // part of any checkpoint. The checkpoint is committed: what cannot be removed stays behind
  // harmlessly (readers open only the manifest's parts), never an Error.
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string g = generation_of(it->path().filename().string());
    std::error_code ignored;
    if (!g.empty() && g != generation) fs::remove(it->path(), ignored);
  }
}

CheckpointContents read_sharded_checkpoint(const std::string& dir) {
  return read_sharded(dir, true);
}

CheckpointContents read_sharded_checkpoint_metadata(const std::string& dir) {
  return read_sharded(dir, false);
}

CheckpointContents merge_checkpoint(const std::string& from, const std::string& to) {
  CheckpointContents contents = read_checkpoint(from);
  const bool has_optimizer =
      !contents.optimizer_tensors.empty() || !contents.optimizer_scalars.empty();
  const optim::OptimizerState optimizer_state{contents.optimizer_tensors,
                                              contents.optimizer_scalars};
  save_checkpoint(to, contents.module_state, has_optimizer ? &optimizer_state : nullptr,
                  contents.metadata);
  return contents;
}

}  // namespace mixgrad::io
