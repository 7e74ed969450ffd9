// supervisord's INI dialect (Python's RawConfigParser with inline comments and strict off),
// read with file and line numbers kept for every value so errors can name them.
#pragma once

#include <deque>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace podvisor::config {

struct Location {
  std::string file;
  int line = 0;
};

// "file:line: message"; "SOURCE: message" when there is no line (an environment variable).
struct ConfigError : std::runtime_error {
  ConfigError(const Location& where, const std::string& message);
  Location where;
};

struct IniValue {
  std::string text;  // raw: continuation lines joined with '\n', not interpolated
  Location where;
};

struct IniSection {
  std::string name;  // case kept, as configparser does
  Location where;
  std::map<std::string, IniValue> values;  // keys lower-cased
};

struct IniDocument {
  // In order of first appearance; a deque so that references stay valid as sections are
  // added (includes, overrides).
  std::deque<IniSection> sections;
  IniSection defaults;  // [DEFAULT]
  IniSection* find(std::string_view name);
  const IniSection* find(std::string_view name) const;
};

// Parses text into doc (sections met again are merged, the last value of a key wins).
void parse_ini(std::string_view text, const std::string& file, IniDocument& doc);

}  // namespace podvisor::config
