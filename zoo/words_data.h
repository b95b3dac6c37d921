#pragma once
// What the character models of English words share (words.cpp: the 8-character-context MLP and
// MoE; words_transformer.cpp: the MoE Transformer): the word list and its held-out split, the
// symbols, drawing a symbol from the model's probabilities, and the sampled-words report.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace mixgrad::zoo::words {

// Symbols: 0 pads before a word begins (the Transformer's begin-of-word), 1..26 are 'a'..'z',
// 27 ends a word.
inline constexpr int64_t kBegin = 0;
inline constexpr int64_t kEnd = 27;
inline constexpr int64_t kVocab = 28;
// Sampling stops here if no end symbol came; longer than any word of the Debian list (22).
inline constexpr int64_t kMaxSampleLength = 30;
inline constexpr int64_t kSamples = 20;
inline constexpr const char* kDefaultDir = "/usr/share/dict";
inline constexpr const char* kDataDescription =
    "Debian's English word list (wamerican; lowercase words, 1 in 10 held out)";

inline int64_t symbol(char c) {
  return c - 'a' + 1;
}
inline char letter(int64_t s) {
  return static_cast<char>('a' + s - 1);
}

// The lowercase ASCII words of DIR/words (dir empty: kDefaultDir), sorted, split into training
// and held-out test words: a word whose hash falls in bucket 0 of 10 is held out, independent of
// the seed and of the rest of the list. Throws Error naming the file when it is missing,
// unreadable or too short for both splits.
struct WordLists {
  std::vector<std::string> train, test;  // sorted
};
WordLists load_word_lists(const std::string& dir);

// A letter or the end drawn from probabilities p[kVocab] by the uniform u in [0, 1): the begin
// symbol is never drawn (it is not a character), nor the end symbol first (no empty words).
int64_t draw_symbol(const float* p, bool first, double u);

// Prints the samples, marks those not in the training list and writes DIR/samples.txt (out_dir
// empty: no file).
void report_samples(std::ostream& out, const std::string& out_dir,
                    const std::vector<std::string>& samples, const WordLists& lists, uint64_t seed);

}  // namespace mixgrad::zoo::words
