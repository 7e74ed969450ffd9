// The one translation unit of podvisor that includes RE2.
#include "config/pattern.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <cctype>
#include <stdexcept>

namespace podvisor::config {
namespace {

// Memory for one pattern's compiled program and DFA cache. When the cache fills, RE2 falls
// back to its NFA: still linear in the line, so this bounds memory, not the time per byte.
constexpr int64_t kMaxMemory = 1 << 20;
// Searching costs up to (line length × program size) when the DFA cannot cache its states:
// at 500 instructions a 16 KiB piece of hostile output takes tens of milliseconds at worst,
// at 1,000 already most of a second. Ready patterns people write compile to under 150.
constexpr int kMaxProgramSize = 500;

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// ECMAScript escapes RE2 spells differently (`\uXXXX`, `\0`) become RE2's; what RE2 cannot
// do at all (backreferences, lookaround) is refused with words a user can act on, instead of
// RE2's "invalid escape sequence: \1".
std::string to_re2(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size());
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[i + 1];
      if (next >= '1' && next <= '9' && !in_class) {
        throw std::invalid_argument(fmt::format(
            "backreferences (\\{}) are not supported: the pattern is matched with RE2, in time "
            "linear in the line",
            next));
      }
      if (next == 'u' && i + 5 < pattern.size() && is_hex(pattern[i + 2]) &&
          is_hex(pattern[i + 3]) && is_hex(pattern[i + 4]) && is_hex(pattern[i + 5])) {
        out += fmt::format("\\x{{{}}}", pattern.substr(i + 2, 4));
        i += 5;
        continue;
      }
      if (next == '0' &&
          (i + 2 >= pattern.size() || !std::isdigit(static_cast<unsigned char>(pattern[i + 2])))) {
        out += "\\x00";
        ++i;
        continue;
      }
      out += pattern.substr(i, 2);
      ++i;
      continue;
    }
    if (c == '[' && !in_class)
      in_class = true;
    else if (c == ']' && in_class)
      in_class = false;
    if (c == '(' && !in_class && pattern.compare(i, 2, "(?") == 0) {
      for (const auto* look : {"(?=", "(?!", "(?<=", "(?<!"}) {
        if (pattern.compare(i, std::string_view(look).size(), look) == 0) {
          throw std::invalid_argument(fmt::format(
              "lookahead and lookbehind are not supported ('{}' here): the pattern is matched "
              "with RE2, in time linear in the line",
              look));
        }
      }
    }
    out += c;
  }
  return out;
}

}  // namespace

struct LinePattern::Regex {
  explicit Regex(const std::string& pattern, const RE2::Options& options) : re(pattern, options) {}
  RE2 re;
};

LinePattern::LinePattern(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);  // the error goes to the caller, with file:line
  options.set_never_capture(true);
  options.set_max_mem(kMaxMemory);
  regex_ = std::make_unique<Regex>(to_re2(pattern), options);
  if (!regex_->re.ok()) throw std::invalid_argument(regex_->re.error());
  if (regex_->re.ProgramSize() > kMaxProgramSize) {
    throw std::invalid_argument(fmt::format(
        "too large: it compiles to {} RE2 instructions, at most {} (the time to search a line "
        "grows with it); use fewer or smaller counted repetitions",
        regex_->re.ProgramSize(), kMaxProgramSize));
  }
}

LinePattern::~LinePattern() = default;
LinePattern::LinePattern(LinePattern&&) noexcept = default;
LinePattern& LinePattern::operator=(LinePattern&&) noexcept = default;

bool LinePattern::search(std::string_view line) const {
  return RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), regex_->re);
}

bool LinePattern::search_piece(std::string_view piece, std::optional<char> before,
                               std::optional<char> after) const {
  if (!before && !after) return search(piece);
  // RE2 searches [start, end) of the text and sees the rest as context for its anchors.
  std::string context;
  context.reserve(piece.size() + 2);
  if (before) context.push_back(*before);
  context.append(piece);
  if (after) context.push_back(*after);
  const size_t start = before ? 1 : 0;
  const size_t end = context.size() - (after ? 1 : 0);
  return regex_->re.Match(context, start, end, RE2::UNANCHORED, nullptr, 0);
}

}  // namespace podvisor::config
