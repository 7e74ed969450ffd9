// Splits a `command=` line into argv as supervisord does (Python's shlex.split, POSIX rules).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace podvisor::config {

// Throws ValueError on an unclosed quote or an empty command.
std::vector<std::string> split_command(std::string_view command);

}  // namespace podvisor::config
