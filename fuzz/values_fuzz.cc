// libFuzzer target: the parsers of supervisord's (and podvisor's) value types. The first
// byte chooses the parser, the rest is the value as it would stand after `key=`. Each
// parser returns a value or throws ValueError; anything else (a crash, another exception,
// UB) is a finding.
#include <cstdint>
#include <iterator>
#include <string_view>

#include "config/spec.h"
#include "config/values.h"

using namespace podvisor::config;

namespace {

using Parser = void (*)(std::string_view);
constexpr Parser kParsers[] = {
    [](std::string_view v) { parse_bool(v); },
    [](std::string_view v) { parse_int(v, -1000, 1000); },
    [](std::string_view v) { parse_seconds(v, 86400); },
    [](std::string_view v) { parse_fractional_seconds(v, 86400); },
    [](std::string_view v) { parse_signal(v); },
    [](std::string_view v) { parse_exitcodes(v); },
    [](std::string_view v) { parse_autorestart(v); },
    [](std::string_view v) { parse_loglevel(v); },
    [](std::string_view v) { parse_environment(v); },
    [](std::string_view v) { parse_byte_size(v); },
    [](std::string_view v) { parse_octal(v); },
    [](std::string_view v) { parse_name(v); },
    [](std::string_view v) { parse_probe(v); },
    [](std::string_view v) { parse_status_codes(v); },
    [](std::string_view v) { parse_depends_on(v); },
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view value(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    kParsers[data[0] % std::size(kParsers)](value);
  } catch (const ValueError&) {
  }
  return 0;
}
