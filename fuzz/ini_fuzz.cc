// libFuzzer target: supervisord's INI dialect (sections, continuation lines, comments,
// line numbers). The value parsers have their own target, values_fuzz, so each execution
// here stays cheap and the fuzzer spends its time on the reader's states.
#include <cstdint>
#include <string_view>

#include "config/ini.h"

using namespace podvisor::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  IniDocument doc;
  try {
    parse_ini(text, "fuzz.conf", doc);
  } catch (const ConfigError&) {
  }
  return 0;
}
