#include "core/report.h"

#include <fmt/format.h>

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
  if (r.last_lines.empty()) {
    out += "podvisor: the program printed nothing\n";
  } else {
    out += fmt::format("podvisor: last {} lines of output:\n", r.last_lines.size());
    for (const auto& line : r.last_lines) out += fmt::format("  | {}\n", line);
  }
  out += fmt::format("podvisor: ---- end of report ----\n");
  return out;
}

}  // namespace podvisor::core
