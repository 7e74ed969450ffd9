// libFuzzer target: supervisord's INI dialect and the value parsers that read its values.
#include <cstdint>
#include <string_view>

#include "config/ini.h"
#include "config/values.h"

using namespace podvisor::config;

namespace {

template <typename F>
void quietly(F&& parse) {
  try {
    parse();
  } catch (const ValueError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  IniDocument doc;
  try {
    parse_ini(text, "fuzz.conf", doc);
  } catch (const ConfigError&) {
    return 0;
  }
  for (const auto& section : doc.sections) {
    for (const auto& [key, value] : section.values) {
      const std::string_view v = value.text;
      quietly([&] { parse_bool(v); });
      quietly([&] { parse_int(v, -1000, 1000); });
      quietly([&] { parse_seconds(v, 86400); });
      quietly([&] { parse_signal(v); });
      quietly([&] { parse_exitcodes(v); });
      quietly([&] { parse_environment(v); });
      quietly([&] { parse_byte_size(v); });
      quietly([&] { parse_octal(v); });
      quietly([&] { parse_name(v); });
    }
  }
  return 0;
}
