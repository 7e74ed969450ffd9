#include "config/ini.h"

#include <fmt/format.h>

#include <cctype>

#include "config/values.h"

namespace podvisor::config {

ConfigError::ConfigError(const Location& w, const std::string& message)
    : std::runtime_error(w.line > 0 ? fmt::format("{}:{}: {}", w.file, w.line, message)
                                    : fmt::format("{}: {}", w.file, message)),
      where(w) {}

IniSection* IniDocument::find(std::string_view name) {
  for (auto& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const IniSection* IniDocument::find(std::string_view name) const {
  return const_cast<IniDocument*>(this)->find(name);
}

namespace {

// Where a comment starts: a full-line comment, or ';'/'#' at the start or after whitespace.
size_t comment_start(std::string_view line) {
  const auto first = line.find_first_not_of(" \t");
  if (first != std::string_view::npos && (line[first] == ';' || line[first] == '#')) return 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((line[i] == ';' || line[i] == '#') &&
        (i == 0 || std::isspace(static_cast<unsigned char>(line[i - 1])))) {
      return i;
    }
  }
  return std::string_view::npos;
}

// Empty lines that ended a value were trailing: configparser strips them.
void finish_value(IniValue& value) {
  while (!value.text.empty() && std::isspace(static_cast<unsigned char>(value.text.back()))) {
    value.text.pop_back();
  }
}

}  // namespace

void parse_ini(std::string_view text, const std::string& file, IniDocument& doc) {
  IniSection* section = nullptr;
  IniValue* value = nullptr;  // the option that continuation lines extend
  size_t indent_level = 0;
  // Empty lines inside a value are kept (configparser's empty_lines_in_values).
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const Location here{file, line_no};

    const auto comment = comment_start(line);
    const auto content = trim(line.substr(0, comment));
    if (content.empty()) {
      if (comment == std::string_view::npos && value) value->text += '\n';
      if (eol == text.size()) break;
      continue;
    }
    const auto indent = line.find_first_not_of(" \t");
    if (section && value && indent > indent_level) {
      // A continuation line: configparser joins the lines with '\n'.
      value->text += '\n';
      value->text += content;
      if (eol == text.size()) break;
      continue;
    }
    indent_level = indent;
    if (value) {
      finish_value(*value);
      value = nullptr;
    }
    // configparser's "\[(?P<header>.+)\]" matched at the start: up to the last ']'.
    const auto close = content.rfind(']');
    if (content.front() == '[' && close != std::string::npos && close >= 2) {
      const auto name = content.substr(1, close - 1);
      if (name == "DEFAULT") {
        section = &doc.defaults;
        section->name = name;
        section->where = here;
      } else if ((section = doc.find(name)) == nullptr) {
        doc.sections.push_back(IniSection{name, here, {}});
        section = &doc.sections.back();
      }
      if (eol == text.size()) break;
      continue;
    }
    if (!section) {
      throw ConfigError(here,
                        fmt::format("file contains no section headers (line: '{}')", content));
    }
    const auto delim = content.find_first_of("=:");
    if (delim == std::string::npos || delim == 0) {
      throw ConfigError(here, fmt::format("cannot parse '{}': expected key = value", content));
    }
    const auto key = to_lower(trim(std::string_view(content).substr(0, delim)));
    if (key.empty()) throw ConfigError(here, fmt::format("cannot parse '{}': empty key", content));
    auto& slot = section->values[key];
    slot = IniValue{trim(std::string_view(content).substr(delim + 1)), here};
    value = &slot;
    if (eol == text.size()) break;
  }
  if (value) finish_value(*value);
}

}  // namespace podvisor::config
