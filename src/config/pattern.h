// A `log:REGEX` probe's pattern: compiled once when the file is read (so a bad one is an
// error at file:line) and again for each probe run. The one place that knows the engine.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace podvisor::config {

// RE2 underneath: matching costs time linear in the line and a bounded stack, whatever the
// pattern (a backtracking engine overflowed PID 1's stack on a 60 KB line and spun forever
// on `^(a+)+$`). ECMAScript patterns as users write them work; what needs backtracking
// (backreferences, lookaround) is refused when the pattern is compiled.
class LinePattern {
 public:
  // Throws std::invalid_argument with words for a bad or unsupported pattern.
  explicit LinePattern(const std::string& pattern);
  ~LinePattern();
  LinePattern(LinePattern&&) noexcept;
  LinePattern& operator=(LinePattern&&) noexcept;

  // True when the pattern occurs anywhere in line.
  bool search(std::string_view line) const;
  // The same for a piece of a longer line: `before`/`after` are the characters next to it
  // in the line (none at the line's start or end), so `^`, `$` and `\b` hold only where
  // they would in the whole line.
  bool search_piece(std::string_view piece, std::optional<char> before,
                    std::optional<char> after) const;

 private:
  struct Regex;  // RE2 stays in pattern.cc
  std::unique_ptr<Regex> regex_;
};

}  // namespace podvisor::config
