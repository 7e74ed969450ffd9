#include "config/command.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "config/values.h"

namespace podvisor::config {

std::vector<std::string> split_command(std::string_view command) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  size_t i = 0;
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (i < command.size()) {
    const char c = command[i];
    if (is_space(c)) {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      const auto close = command.find('\'', i + 1);
      if (close == std::string_view::npos) throw ValueError("no closing quotation in command");
      word.append(command.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      in_word = true;
      ++i;
      while (true) {
        if (i >= command.size()) throw ValueError("no closing quotation in command");
        const char d = command[i];
        if (d == '"') {
          ++i;
          break;
        }
        // In double quotes a backslash escapes only '"' and '\' (shlex's escapedquotes).
        if (d == '\\' && i + 1 < command.size() &&
            (command[i + 1] == '"' || command[i + 1] == '\\')) {
          word += command[i + 1];
          i += 2;
          continue;
        }
        word += d;
        ++i;
      }
    } else if (c == '\\') {
      if (i + 1 >= command.size()) throw ValueError("no escaped character in command");
      word += command[i + 1];
      in_word = true;
      i += 2;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) out.push_back(std::move(word));
  if (out.empty()) throw ValueError("the command is empty");
  return out;
}

std::string join_command(const std::vector<std::string>& argv) {
  std::string out;
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    const bool safe = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return (u < 0x80 && std::isalnum(u)) || (c != '\0' && std::strchr("@%+=:,./-_", c));
    });
    if (safe) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') {
        out += "'\"'\"'";
        continue;
      }
      if ((c == ';' || c == '#') && is_space(out.back())) out += "''";
      out += c;
    }
    out += '\'';
  }
  return out;
}

}  // namespace podvisor::config
