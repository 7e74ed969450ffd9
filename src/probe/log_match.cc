#include "probe/log_match.h"

namespace podvisor::probe {

namespace {
constexpr size_t kMaxLine = 64 * 1024;
}

std::optional<std::string> LogMatcher::feed(std::string_view chunk) {
  std::optional<std::string> found;
  for (char c : chunk) {
    if (c != '\n' && partial_.size() < kMaxLine) {
      partial_.push_back(c);
      continue;
    }
    if (!found && pattern_.search(partial_)) found = partial_;
    partial_.clear();
    if (c != '\n') partial_.push_back(c);
  }
  return found;
}

}  // namespace podvisor::probe
