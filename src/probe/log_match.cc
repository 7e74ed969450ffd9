#include "probe/log_match.h"

namespace podvisor::probe {

namespace {
// A longer line is searched in pieces of this size: with the pattern's size bounded
// (config/pattern.cc), one search takes at most tens of milliseconds of the loop.
constexpr size_t kMaxLine = 16 * 1024;
}  // namespace

std::optional<std::string> LogMatcher::feed(std::string_view chunk) {
  std::optional<std::string> found;
  for (char c : chunk) {
    if (c != '\n' && partial_.size() < kMaxLine) {
      partial_.push_back(c);
      continue;
    }
    // A full piece is searched knowing its neighbours: a piece of a line is not a line.
    const auto after = c == '\n' ? std::nullopt : std::optional<char>(c);
    if (!found && pattern_.search_piece(partial_, before_, after)) found = partial_;
    before_ = after ? std::optional<char>(partial_.back()) : std::nullopt;
    partial_.clear();
    if (c != '\n') partial_.push_back(c);
  }
  return found;
}

}  // namespace podvisor::probe
