// The one translation unit of podvisor that includes <regex> (it compiles slowly).
#include "probe/log_match.h"

#include <regex>
#include <stdexcept>

namespace podvisor::probe {

namespace {
constexpr size_t kMaxLine = 64 * 1024;
}

struct LogMatcher::Regex {
  std::regex re;
};

LogMatcher::LogMatcher(const std::string& pattern) {
  try {
    regex_ = std::make_unique<Regex>(Regex{std::regex(pattern)});
  } catch (const std::regex_error& e) {
    throw std::invalid_argument(e.what());
  }
}

LogMatcher::~LogMatcher() = default;
LogMatcher::LogMatcher(LogMatcher&&) noexcept = default;
LogMatcher& LogMatcher::operator=(LogMatcher&&) noexcept = default;

std::optional<std::string> LogMatcher::feed(std::string_view chunk) {
  std::optional<std::string> found;
  for (char c : chunk) {
    if (c != '\n' && partial_.size() < kMaxLine) {
      partial_.push_back(c);
      continue;
    }
    if (!found && std::regex_search(partial_, regex_->re)) found = partial_;
    partial_.clear();
    if (c != '\n') partial_.push_back(c);
  }
  return found;
}

}  // namespace podvisor::probe
