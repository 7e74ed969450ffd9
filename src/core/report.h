// Words for how a program ended, and the crash report printed when podvisor gives up.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
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
  // The last Python traceback, printed on its own when it is not among last_lines (shutdown
  // warnings after it would push the point of the crash out of the last lines).
  std::vector<std::string> traceback;
  // The GPU section (gpu/report.h: devices, holders; empty without a GPU) and one line of
  // diagnosis when the last lines name a CUDA/NCCL failure.
  std::vector<std::string> gpu;
  std::string diagnosis;
};
std::string format_report(const Report& r);

// The last Python traceback in `text`: from its `Traceback (most recent call last):` line to
// the exception line (the first line after it that is not indented), or to the end. Empty
// when there is none. Past `max_lines`, the first line, a marker and the last lines are kept.
std::vector<std::string> last_python_traceback(std::string_view text, size_t max_lines = 60);

}  // namespace podvisor::core
