#include "data/text_matrix.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "data/file_bytes.h"
#include "ops/creation.h"

namespace mixgrad::data {

namespace {

constexpr const char* kOp = "read_text_matrix";
// Files smaller than this are parsed by one thread: splitting them costs more than it saves.
constexpr std::size_t kMinBytesPerThread = std::size_t{1} << 20;
// Longest token quoted back in an error message.
constexpr std::size_t kMaxQuotedToken = 40;

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_line_end(char c) {
  return c == '\n' || c == '\r';
}
bool is_space(char c) {
  return is_blank(c) || is_line_end(c);
}

// Lines end with \n, \r\n or a lone \r (old Mac files).

// The first line end in [p, end), or end.
const char* find_line_end(const char* p, const char* end) {
  while (p < end && !is_line_end(*p)) ++p;
  return p;
}
// The start of the next line, given the line end at `p` ("\r\n" is one line end).
const char* after_line_end(const char* p, const char* end) {
  return *p == '\r' && p + 1 < end && p[1] == '\n' ? p + 2 : p + 1;
}
// Line ends in [begin, end), which does not split a "\r\n".
int64_t count_line_ends(const char* begin, const char* end) {
  int64_t n = 0;
  for (const char* p = begin; p < end; ++p)
    n += *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] != '\n'));
  return n;
}

// A run of whole lines: text [begin, end) starting at 1-based line `first_line`, whose rows go
// to output row `first_line - 1` onwards.
struct Chunk {
  const char* begin;
  const char* end;
  int64_t first_line = 1;
};

std::string quoted(std::string_view token) {
  if (token.size() > kMaxQuotedToken)
    return "'" + std::string(token.substr(0, kMaxQuotedToken)) + "...'";
  return "'" + std::string(token) + "'";
}

std::string position(int64_t line, int64_t column) {
  return "line " + std::to_string(line) + ":" + std::to_string(column);
}

// Values on one line, without parsing them.
int64_t count_tokens(const char* p, const char* end) {
  int64_t n = 0;
  while (p < end) {
    while (p < end && is_blank(*p)) ++p;
    if (p == end) break;
    ++n;
    while (p < end && !is_blank(*p)) ++p;
  }
  return n;
}

// Parses one token as a finite value representable in T; on failure returns the message.
template <class T>
std::optional<std::string> parse_value(std::string_view token, T& out) {
  std::string_view digits = token;
  if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);  // from_chars refuses '+'
  double v = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) return quoted(token) + " is out of range for float64";
  if (ec != std::errc() || ptr != digits.data() + digits.size())
    return quoted(token) + " is not a number";
  if (!std::isfinite(v))
    return "non-finite value " + quoted(token) + " (NaN and infinity would poison normalisation)";
  if (std::fabs(v) > static_cast<double>(std::numeric_limits<T>::max()))
    return quoted(token) + " is out of range for " + dtype_name(dtype_of_v<T>);
  out = static_cast<T>(v);
  return std::nullopt;
}

// The message for line `line` holding `found` values instead of `cols`.
std::string wrong_count(int64_t line, int64_t found, int64_t cols) {
  std::string detail = found == 0 ? "blank line inside the matrix (blank lines are allowed only "
                                    "at the end of the file); expected "
                                  : "found " + std::to_string(found) + " values, expected ";
  return "line " + std::to_string(line) + ": " + detail + std::to_string(cols) +
         " values like line 1";
}

// Parses every line of `chunk` into rows of `cols` values at out + (first_line - 1) * cols;
// returns the message for the first malformed line.
template <class T>
std::optional<std::string> parse_chunk(const Chunk& chunk, int64_t cols, T* out) {
  int64_t line = chunk.first_line;
  for (const char* p = chunk.begin; p < chunk.end; ++line) {
    const char* line_end = find_line_end(p, chunk.end);
    const char* const line_begin = p;
    T* row = out + (line - 1) * cols;
    int64_t col = 0;
    while (p < line_end) {
      while (p < line_end && is_blank(*p)) ++p;
      if (p == line_end) break;
      const char* token_end = p;
      while (token_end < line_end && !is_blank(*token_end)) ++token_end;
      if (col == cols) break;  // too many values: counted below for the message
      if (auto message = parse_value(std::string_view(p, token_end - p), row[col]))
        return position(line, p - line_begin + 1) + ": " + *message;
      ++col;
      p = token_end;
    }
    if (col != cols || p < line_end)
      return wrong_count(line, col + count_tokens(p, line_end), cols);
    p = line_end == chunk.end ? chunk.end : after_line_end(line_end, chunk.end);
  }
  return std::nullopt;
}

// The message for the first line of [begin, end) that does not hold `cols` values.
std::string first_wrong_line(const char* begin, const char* end, int64_t cols) {
  int64_t line = 1;
  for (const char* p = begin;; ++line) {
    const char* line_end = find_line_end(p, end);
    const int64_t found = count_tokens(p, line_end);
    if (found != cols) return wrong_count(line, found, cols);
    if (line_end == end) break;
    p = after_line_end(line_end, end);
  }
  return "the file is too short for its lines of " + std::to_string(cols) + " values";
}

struct Lines {
  std::vector<Chunk> chunks;
  int64_t count = 0;
};

// Splits [begin, end) (which ends without a line end) into up to `parts` runs of whole lines and
// numbers their first lines.
Lines split_lines(const char* begin, const char* end, int64_t parts) {
  std::vector<const char*> starts{begin};
  const std::size_t size = end - begin;
  for (int64_t k = 1; k < parts; ++k) {
    const char* guess = begin + size * k / parts;
    if (guess <= starts.back()) continue;
    // From guess - 1, so that a guess right after a line end starts there.
    const char* line_end = find_line_end(guess - 1, end);
    if (line_end == end) break;
    starts.push_back(after_line_end(line_end, end));
  }
  Lines lines;
  lines.chunks.resize(starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i)
    lines.chunks[i] = {starts[i], i + 1 < starts.size() ? starts[i + 1] : end, 1};
  // Line numbers need the line-end counts of all earlier chunks: counted in parallel.
  std::vector<int64_t> line_ends(starts.size());
  parallel_for(static_cast<int64_t>(starts.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      line_ends[i] = count_line_ends(lines.chunks[i].begin, lines.chunks[i].end);
  });
  for (std::size_t i = 1; i < starts.size(); ++i)
    lines.chunks[i].first_line = lines.chunks[i - 1].first_line + line_ends[i - 1];
  lines.count = lines.chunks.back().first_line + line_ends.back();  // the last line has no end
  return lines;
}

}  // namespace

Tensor read_text_matrix(const std::string& path, DType dtype) {
  if (dtype != kFloat32 && dtype != kFloat64)
    throw Error(kOp, std::string("dtype must be float32 or float64, got ") + dtype_name(dtype));
  const std::vector<unsigned char> bytes = internal::read_file(kOp, path);
  const char* const begin = reinterpret_cast<const char*>(bytes.data());
  // Trailing blank lines are dropped: the matrix ends with its last non-blank line.
  const char* end = begin + bytes.size();
  while (end > begin && is_space(end[-1])) --end;
  if (end == begin) internal::fail(kOp, path, "no values: the file is empty or blank");
  const int64_t cols = count_tokens(begin, find_line_end(begin, end));
  if (cols == 0)
    internal::fail(kOp, path,
                   "line 1: blank line inside the matrix (blank lines are allowed "
                   "only at the end of the file)");

  const int64_t threads = std::max<int64_t>(
      1, std::min<int64_t>(get_num_threads(),
                           static_cast<int64_t>(bytes.size() / kMinBytesPerThread)));
  const Lines lines = split_lines(begin, end, threads);
  // Each row takes at least 2 * cols bytes (values of one character or more, a blank or line end
  // after each but the last value of the file), so a file too short for all its lines to be full
  // rows is refused before the matrix is allocated: the allocation stays below 4x the file size
  // (a first line of 100,000 values followed by 200,000 short lines asked for 80 GB).
  const auto text_bytes = static_cast<uint64_t>(end - begin);
  if (static_cast<uint64_t>(lines.count) > (text_bytes + 1) / (2 * static_cast<uint64_t>(cols)))
    internal::fail(kOp, path, first_wrong_line(begin, end, cols));
  const std::vector<Chunk>& chunks = lines.chunks;
  Tensor out = internal::empty_for_file(kOp, path, {lines.count, cols}, dtype);
  std::vector<std::optional<std::string>> errors(chunks.size());
  dispatch_floating(dtype, kOp, [&]<class T>() {
    T* data = out.data_ptr<T>();
    parallel_for(static_cast<int64_t>(chunks.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) errors[i] = parse_chunk(chunks[i], cols, data);
    });
  });
  // Chunks are in file order, so the first error found is the earliest in the file.
  for (const auto& error : errors)
    if (error) internal::fail(kOp, path, *error);
  return out;
}

}  // namespace mixgrad::data
