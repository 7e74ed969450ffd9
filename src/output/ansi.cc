#include "output/ansi.h"

namespace podvisor::output {

void strip_escapes(std::string_view chunk, std::string& out) {
  constexpr std::string_view kStart = "\x1b[";
  constexpr std::string_view kTerminators = "HfABCDRsuJKhlpm";
  while (!chunk.empty()) {
    const auto start = chunk.find(kStart);
    out.append(chunk.substr(0, start));
    if (start == std::string_view::npos) return;
    const auto end = chunk.find_first_of(kTerminators, start + kStart.size());
    if (end == std::string_view::npos) return;
    chunk.remove_prefix(end + 1);
  }
}

}  // namespace podvisor::output
