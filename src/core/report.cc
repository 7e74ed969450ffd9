#include "core/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>

#include "config/values.h"

namespace podvisor::core {

std::string describe_exit(const ExitInfo& e) {
  if (!e.signaled) {
    switch (e.code) {
      case 126:
        return "exit status 126 (command found but not executable)";
      case 127:
        return "exit status 127 (command not found)";
      default:
        return fmt::format("exit status {}", e.code);
    }
  }
  const auto name = config::signal_name(e.code);
  switch (e.code) {
    case SIGKILL:
      return fmt::format("killed by {} (out of memory?)", name);
    case SIGSEGV:
      return fmt::format("killed by {} (segmentation fault)", name);
    case SIGABRT:
      return fmt::format("killed by {} (aborted)", name);
    case SIGBUS:
      return fmt::format("killed by {} (bus error)", name);
    default:
      return fmt::format("killed by {}", name);
  }
}

std::string format_duration(std::chrono::milliseconds d) {
  using namespace std::chrono;
  if (d < 60s) return fmt::format("{:.1f}s", duration<double>(d).count());
  const auto h = duration_cast<hours>(d);
  const auto m = duration_cast<minutes>(d - h);
  const auto s = duration_cast<seconds>(d - h - m);
  if (h.count() > 0) return fmt::format("{}h{:02}m{:02}s", h.count(), m.count(), s.count());
  return fmt::format("{}m{:02}s", m.count(), s.count());
}

std::string format_report(const Report& r) {
  std::string out = fmt::format(
      "podvisor: ---- {} failed ----\n"
      "podvisor: reason:   {}\n"
      "podvisor: uptime:   {}\n"
      "podvisor: restarts: {}\n",
      r.program, r.reason, format_duration(r.uptime), r.restarts);
  // An empty traceback is "found" at the start of any lines, but not in none: no traceback,
  // nothing to show.
  const bool traceback_shown =
      r.traceback.empty() ||
      std::search(r.last_lines.begin(), r.last_lines.end(), r.traceback.begin(),
                  r.traceback.end()) != r.last_lines.end();
  if (!traceback_shown) {
    out += fmt::format("podvisor: last Python traceback ({} lines):\n", r.traceback.size());
    for (const auto& line : r.traceback) out += fmt::format("  | {}\n", line);
  }
  if (r.last_lines.empty()) {
    out += "podvisor: the program printed nothing\n";
  } else {
    out += fmt::format("podvisor: last {} lines of output:\n", r.last_lines.size());
    for (const auto& line : r.last_lines) out += fmt::format("  | {}\n", line);
  }
  if (!r.gpu.empty()) {
    out += "podvisor: GPU:\n";
    for (const auto& line : r.gpu) out += fmt::format("podvisor:   {}\n", line);
  }
  if (!r.diagnosis.empty()) out += fmt::format("podvisor: diagnosis: {}\n", r.diagnosis);
  out += fmt::format("podvisor: ---- end of report ----\n");
  return out;
}

std::vector<std::string> last_python_traceback(std::string_view text, size_t max_lines) {
  constexpr std::string_view kHeader = "Traceback (most recent call last):";
  const auto at = text.rfind(kHeader);
  if (at == std::string_view::npos) return {};
  const auto line_start = text.rfind('\n', at);
  text.remove_prefix(line_start == std::string_view::npos ? 0 : line_start + 1);
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.emplace_back(line);
    // Frames and source lines are indented; the exception line is the first that is not.
    if (lines.size() > 1 && !line.starts_with(' ') && !line.starts_with('\t')) break;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  if (max_lines >= 3 && lines.size() > max_lines) {
    const auto skipped = lines.size() - (max_lines - 1);
    lines.erase(lines.begin() + 1, lines.begin() + 1 + static_cast<std::ptrdiff_t>(skipped));
    lines.insert(lines.begin() + 1, fmt::format("  ... ({} lines left out)", skipped));
  }
  return lines;
}

}  // namespace podvisor::core
