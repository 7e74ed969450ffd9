// A `log:REGEX` probe's pattern: compiled once when the file is read (so a bad one is an
// error at file:line) and again for each probe run. The one place that knows the engine.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace podvisor::config {

class LinePattern {
 public:
  // Throws std::invalid_argument with the regex library's words for a bad pattern.
  explicit LinePattern(const std::string& pattern);
  ~LinePattern();
  LinePattern(LinePattern&&) noexcept;
  LinePattern& operator=(LinePattern&&) noexcept;

  // True when the pattern occurs anywhere in line.
  bool search(std::string_view line) const;

 private:
  struct Regex;  // <regex> stays in pattern.cc (it compiles slowly)
  std::unique_ptr<Regex> regex_;
};

}  // namespace podvisor::config
