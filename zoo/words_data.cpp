#include "zoo/words_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "core/error.h"

namespace mixgrad::zoo::words {

namespace {

constexpr uint64_t kTestBuckets = 10;

// FNV-1a with a splitmix64 finaliser: FNV's low bits alone mix poorly for short strings, and the
// bucket is taken from the low bits.
uint64_t word_hash(const std::string& word) {
  uint64_t h = 14695981039346656037ULL;
  for (const char c : word) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  h ^= h >> 31;
  return h;
}

bool held_out(const std::string& word) {
  return word_hash(word) % kTestBuckets == 0;
}

// The lowercase ASCII words of `path`, sorted and deduplicated. Proper nouns, possessives ("'s")
// and accented words are not what the model should learn to spell, so they are skipped.
std::vector<std::string> read_words(const std::string& path) {
  const auto install = " (install wamerican, or give --data DIR with a word list DIR/words)";
  MG_CHECK(std::filesystem::is_regular_file(path), "words", "missing word list ", path, install);
  std::ifstream in(path);
  MG_CHECK(in.good(), "words", "cannot read ", path);
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() &&
        std::all_of(line.begin(), line.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      words.push_back(line);
    }
  }
  MG_CHECK(!in.bad(), "words", "error reading ", path);
  MG_CHECK(!words.empty(), "words", path, " has no lowercase ASCII words (one word per line)",
           install);
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return words;
}

}  // namespace

WordLists load_word_lists(const std::string& dir) {
  const std::string path =
      (std::filesystem::path(dir.empty() ? kDefaultDir : dir) / "words").string();
  WordLists lists;
  for (std::string& word : read_words(path))
    (held_out(word) ? lists.test : lists.train).push_back(std::move(word));
  const auto total = lists.train.size() + lists.test.size();
  MG_CHECK(!lists.train.empty() && !lists.test.empty(), "words", path, ": only ", total,
           " lowercase ASCII word(s), too few for a held-out split of about 1 word in ",
           kTestBuckets, " (install wamerican, or give a longer list)");
  return lists;
}

int64_t draw_symbol(const float* p, bool first, double u) {
  const int64_t last = first ? kEnd - 1 : kEnd;
  double total = 0.0;
  for (int64_t s = kBegin + 1; s <= last; ++s) total += p[s];
  u *= total;
  for (int64_t s = kBegin + 1; s < last; ++s) {
    u -= p[s];
    if (u < 0.0) return s;
  }
  return last;
}

void report_samples(std::ostream& out, const std::string& out_dir,
                    const std::vector<std::string>& samples, const WordLists& lists,
                    uint64_t seed) {
  int64_t novel = 0, held_out_hits = 0;
  out << "\n  " << samples.size() << " sampled words (seed " << seed << "):\n";
  for (const std::string& word : samples) {
    const bool known = std::binary_search(lists.train.begin(), lists.train.end(), word);
    const bool in_test = std::binary_search(lists.test.begin(), lists.test.end(), word);
    novel += known ? 0 : 1;
    held_out_hits += in_test ? 1 : 0;
    out << "    " << word << (known ? "" : in_test ? "  (held-out word)" : "  (new)") << "\n";
  }
  out << "  " << novel << " of " << samples.size() << " are not in the training list ("
      << held_out_hits << " of them are held-out test words)\n";
  if (out_dir.empty()) return;
  const std::string path = (std::filesystem::path(out_dir) / "samples.txt").string();
  std::ofstream file(path);
  for (const std::string& word : samples) file << word << "\n";
  MG_CHECK(file.good(), "words", "cannot write ", path);
  out << "  samples " << path << "\n";
}

}  // namespace mixgrad::zoo::words
