// Parsers for the value types of supervisord's configuration (booleans, integers, signals,
// exit code lists, environment lists) with supervisord's accepted spellings.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace podvisor::config {

// Every parser returns the value or throws ValueError whose what() lists what is accepted.
struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Autorestart { kFalse, kTrue, kUnexpected };
enum class LogLevel { kDebug = 10, kInfo = 20, kWarn = 30, kError = 40, kCritical = 50 };

bool parse_bool(std::string_view text);
long parse_int(std::string_view text, long min, long max);
std::chrono::milliseconds parse_seconds(std::string_view text, long max_seconds);
// podvisor's own durations may have a fraction: "2", "0.25" (to the millisecond).
std::chrono::milliseconds parse_fractional_seconds(std::string_view text, long max_seconds);
int parse_signal(std::string_view text);
std::vector<int> parse_exitcodes(std::string_view text);
Autorestart parse_autorestart(std::string_view text);
LogLevel parse_loglevel(std::string_view text);
// supervisord's `environment=` syntax, read as supervisord reads it (config/key_value.h).
std::map<std::string, std::string> parse_environment(std::string_view text);

// supervisord's byte sizes: a number with an optional KB, MB or GB suffix (any case).
uint64_t parse_byte_size(std::string_view text);
// An octal mode such as 022 (umask).
unsigned parse_octal(std::string_view text);
// A program or group name: no space, ':' or '/' (they break URLs and event headers).
std::string parse_name(std::string_view text);

// `ready=` / `live=`: http://HOST:PORT/PATH, tcp://HOST:PORT, exec:CMD, file:PATH, log:REGEX,
// notify. Declared in spec.h.
struct ProbeSpec;
ProbeSpec parse_probe(std::string_view text);
// HTTP status codes 100-599, comma-separated (ready_status).
std::vector<int> parse_status_codes(std::string_view text);
// `depends_on`: "a, b:started, c:done"; names are not resolved here.
struct Dependency;
std::vector<Dependency> parse_depends_on(std::string_view text);

std::string signal_name(int signo);  // "SIGTERM"; "SIG42" for unnamed numbers
std::string_view to_string(Autorestart a);
std::string_view to_string(LogLevel l);

// Comma-separated items, trimmed, empty ones dropped; throws when none is left.
std::vector<std::string> split_list(std::string_view text);
std::string to_lower(std::string_view text);
std::string trim(std::string_view text);

}  // namespace podvisor::config
