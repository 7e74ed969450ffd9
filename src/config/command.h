// Splits a `command=` line into argv as supervisord does (Python's shlex.split, POSIX rules),
// and writes argv back as a line that it splits into the same words.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace podvisor::config {

// Throws ValueError on an unclosed quote or an empty command.
std::vector<std::string> split_command(std::string_view command);

// Python's shlex.join (each word as shlex.quote writes it), which split_command and
// shlex.split read back as argv. Also safe in a supervisord.conf value: a ';' or '#' after
// whitespace, which configparser would take for a comment, gets an empty '' before it.
// A '%' stays single: in a file it must be written '%%'.
std::string join_command(const std::vector<std::string>& argv);

}  // namespace podvisor::config
