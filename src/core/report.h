// Words for how a program ended, and the crash report printed when podvisor gives up.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/process.h"

namespace podvisor::core {

// "exit status 127 (command not found)", "killed by SIGKILL (out of memory?)".
std::string describe_exit(const ExitInfo& e);
std::string format_duration(std::chrono::milliseconds d);  // "1h02m03s", "4.2s"

struct Report {
  std::string program;
  std::string reason;
  std::chrono::milliseconds uptime{};
  int restarts = 0;
  std::vector<std::string> last_lines;
};
std::string format_report(const Report& r);

}  // namespace podvisor::core
