// The `log:REGEX` probe: searches each complete output line of a program for a pattern.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace podvisor::probe {

class LogMatcher {
 public:
  explicit LogMatcher(const std::string& pattern) : regex_(pattern) {}
  // Feeds output; returns the first line completed by this chunk that matches, if any.
  // Lines longer than 64 KiB are searched in 64 KiB pieces.
  std::optional<std::string> feed(std::string_view chunk) {
    std::optional<std::string> found;
    for (char c : chunk) {
      if (c != '\n' && partial_.size() < kMaxLine) {
        partial_.push_back(c);
        continue;
      }
      if (!found && std::regex_search(partial_, regex_)) found = partial_;
      partial_.clear();
      if (c != '\n') partial_.push_back(c);
    }
    return found;
  }

 private:
  static constexpr size_t kMaxLine = 64 * 1024;
  std::regex regex_;
  std::string partial_;
};

}  // namespace podvisor::probe
