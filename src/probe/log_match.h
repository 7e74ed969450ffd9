// The `log:REGEX` probe: searches each complete output line of a program for a pattern.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/pattern.h"

namespace podvisor::probe {

class LogMatcher {
 public:
  // Throws std::invalid_argument with words for a bad or unsupported pattern.
  explicit LogMatcher(const std::string& pattern) : pattern_(pattern) {}

  // Feeds output; returns the first line completed by this chunk that matches, if any.
  // Lines longer than 16 KiB are searched in 16 KiB pieces.
  std::optional<std::string> feed(std::string_view chunk);

 private:
  config::LinePattern pattern_;
  std::string partial_;
  std::optional<char> before_;  // the character before partial_ when it continues a line
};

}  // namespace podvisor::probe
