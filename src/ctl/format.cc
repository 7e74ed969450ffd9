#include "ctl/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>

namespace podvisor::ctl {

using control::xmlrpc::Array;
using control::xmlrpc::Struct;
using control::xmlrpc::Value;

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::string strip(std::string_view text) {
  const auto words = text.find_first_not_of(" \t\n\r\f\v");
  if (words == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\n\r\f\v");
  return std::string(text.substr(words, last - words + 1));
}

std::pair<std::string, std::optional<std::string>> split_namespec(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, spec};
  std::string process = spec.substr(colon + 1);
  if (process.empty() || process == "*") return {spec.substr(0, colon), std::nullopt};
  return {spec.substr(0, colon), process};
}

std::optional<int64_t> python_int(std::string_view text) {
  const auto t = strip(text);
  std::string_view s = t;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int64_t value = 0;
  bool last_underscore = true;  // no leading underscore
  for (char c : s) {
    if (c == '_') {
      if (last_underscore) return std::nullopt;
      last_underscore = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    if (value > (INT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + (c - '0');
    last_underscore = false;
  }
  if (last_underscore) return std::nullopt;
  return negative ? -value : value;
}

std::string python_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

size_t display_length(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}
std::string ljust(std::string_view s, size_t width) {
  std::string out(s);
  const auto len = display_length(s);
  if (len < width) out.append(width - len, ' ');
  return out;
}

std::string python_exception_class(int error) {
  switch (error) {
    case ENOENT:
      return "FileNotFoundError";
    case ECONNREFUSED:
      return "ConnectionRefusedError";
    case ECONNRESET:
      return "ConnectionResetError";
    case ECONNABORTED:
      return "ConnectionAbortedError";
    case EPIPE:
      return "BrokenPipeError";
    case EACCES:
    case EPERM:
      return "PermissionError";
    case ETIMEDOUT:
      return "TimeoutError";
    default:
      return "OSError";
  }
}

std::vector<std::string> columnize(const std::vector<std::string>& words, size_t width) {
  const size_t size = words.size();
  size_t nrows = size;
  size_t ncols = 1;
  std::vector<size_t> colwidths{0};
  for (size_t rows = 1; rows < size; ++rows) {
    const size_t cols = (size + rows - 1) / rows;
    std::vector<size_t> widths;
    long total = -2;
    for (size_t col = 0; col < cols; ++col) {
      size_t w = 0;
      for (size_t row = 0; row < rows; ++row) {
        const size_t k = row + rows * col;
        if (k >= size) break;
        w = std::max(w, words[k].size());
      }
      widths.push_back(w);
      total += static_cast<long>(w) + 2;
      if (total > static_cast<long>(width)) break;
    }
    if (total <= static_cast<long>(width)) {
      nrows = rows;
      ncols = cols;
      colwidths = widths;
      break;
    }
  }
  std::vector<std::string> lines;
  for (size_t row = 0; row < nrows; ++row) {
    std::vector<std::string> texts;
    for (size_t col = 0; col < ncols; ++col) {
      const size_t k = row + nrows * col;
      texts.push_back(k < size ? words[k] : "");
    }
    while (!texts.empty() && texts.back().empty()) texts.pop_back();
    std::string line;
    for (size_t col = 0; col < texts.size(); ++col) {
      if (col > 0) line += "  ";
      line += ljust(texts[col], colwidths[col]);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// --- XML-RPC values

const Struct& as_struct(const Value& v) {
  if (const auto* s = std::get_if<Struct>(&v.v)) return *s;
  throw BadAnswer("the server answered something other than a struct");
}
const Array& as_array(const Value& v) {
  if (const auto* a = std::get_if<Array>(&v.v)) return *a;
  throw BadAnswer("the server answered something other than an array");
}
const Value& field(const Value& v, const std::string& key) {
  const auto& s = as_struct(v);
  const auto it = s.find(key);
  if (it == s.end()) throw BadAnswer(fmt::format("the server's answer lacks '{}'", key));
  return it->second;
}
std::string text(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v.v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? "True" : "False";
  if (const auto* d = std::get_if<double>(&v.v)) return fmt::format("{}", *d);
  if (std::holds_alternative<control::xmlrpc::Nil>(v.v)) return "None";
  throw BadAnswer("the server answered a value where text was expected");
}
int64_t number(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? 1 : 0;
  throw BadAnswer("the server answered something other than a number");
}
bool truth(const Value& v) {
  if (const auto* b = std::get_if<bool>(&v.v)) return *b;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i != 0;
  if (const auto* s = std::get_if<std::string>(&v.v)) return !s->empty();
  return false;
}

}  // namespace podvisor::ctl
