// The one translation unit of podvisor that includes <regex> (it compiles slowly).
#include "config/pattern.h"

#include <regex>
#include <stdexcept>

namespace podvisor::config {

struct LinePattern::Regex {
  std::regex re;
};

LinePattern::LinePattern(const std::string& pattern) {
  try {
    regex_ = std::make_unique<Regex>(Regex{std::regex(pattern)});
  } catch (const std::regex_error& e) {
    throw std::invalid_argument(e.what());
  }
}

LinePattern::~LinePattern() = default;
LinePattern::LinePattern(LinePattern&&) noexcept = default;
LinePattern& LinePattern::operator=(LinePattern&&) noexcept = default;

bool LinePattern::search(std::string_view line) const {
  return std::regex_search(line.begin(), line.end(), regex_->re);
}

}  // namespace podvisor::config
