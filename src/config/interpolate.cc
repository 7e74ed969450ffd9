#include "config/interpolate.h"

#include <fmt/format.h>

#include <cctype>

namespace podvisor::config {
namespace {

std::string available(const Expansions& names) {
  std::string out;
  for (const auto& [k, v] : names) {
    if (k.starts_with("ENV_")) continue;  // too many to list usefully
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out.empty() ? "none" : out + ", ENV_*";
}

}  // namespace

std::string expand(std::string_view text, const Expansions& names, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  auto bad = [&](std::string_view why) {
    return ValueError(fmt::format("bad format string '{}' in {}: {}", text, what, why));
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c != '%') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '%') {
      out += '%';
      i += 2;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '(') {
      throw bad("a '%' must be written '%%' or start %(name)s");
    }
    const auto close = text.find(')', i + 2);
    if (close == std::string_view::npos) throw bad("unclosed %(");
    const std::string name(text.substr(i + 2, close - i - 2));
    size_t j = close + 1;
    std::string flags;
    while (j < text.size() && std::string_view("-+ 0#").find(text[j]) != std::string_view::npos) {
      flags += text[j++];
    }
    int width = 0;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) {
      width = width * 10 + (text[j++] - '0');
    }
    if (j >= text.size()) throw bad("a conversion (s or d) must follow %(name)");
    const char conversion = text[j++];
    const auto it = names.find(name);
    if (it == names.end()) {
      throw ValueError(
          fmt::format("format string '{}' for '{}' contains names ('{}') which cannot be expanded; "
                      "available names: {}",
                      text, what, name, available(names)));
    }
    std::string value;
    if (conversion == 's' || conversion == 'r') {
      value = it->second;
    } else if (conversion == 'd' || conversion == 'i') {
      long number = 0;
      try {
        number = parse_int(it->second, -(1L << 62), 1L << 62);
      } catch (const ValueError&) {
        throw bad(fmt::format("%({})d needs a number, '{}' is not one", name, it->second));
      }
      auto digits = std::to_string(number < 0 ? -number : number);
      const bool zero = flags.find('0') != std::string::npos;
      const bool left = flags.find('-') != std::string::npos;
      const size_t used = digits.size() + (number < 0 ? 1 : 0);
      if (zero && !left && static_cast<size_t>(width) > used) {
        digits = fmt::format("{}{}", std::string(static_cast<size_t>(width) - used, '0'), digits);
      }
      value = fmt::format("{}{}", number < 0 ? "-" : "", digits);
    } else {
      throw bad(fmt::format("unsupported conversion '%{}'", conversion));
    }
    if (flags.find('-') != std::string::npos) {
      value = fmt::format("{:<{}}", value, width);
    } else {
      value = fmt::format("{:>{}}", value, width);
    }
    out += value;
    i = j;
  }
  return out;
}

}  // namespace podvisor::config
