#include "probe/log_match.h"

namespace podvisor::probe {

namespace {
// A longer line is searched in pieces of this size: with the pattern's size bounded
// (config/pattern.cc), one search takes at most tens of milliseconds of the loop.
constexpr size_t kMaxLine = 16 * 1024;
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
