#include "config/values.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <utility>

#include "config/key_value.h"
#include "config/pattern.h"
#include "config/spec.h"
#include "os/address.h"

namespace podvisor::config {
namespace {

constexpr std::array<std::pair<std::string_view, int>, 31> kSignals{{
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},
}};

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return out;
}

}  // namespace

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string trim(std::string_view text) {
  const auto* ws = " \t\r\n";
  const auto first = text.find_first_not_of(ws);
  if (first == std::string_view::npos) return {};
  return std::string(text.substr(first, text.find_last_not_of(ws) - first + 1));
}

bool parse_bool(std::string_view text) {
  const auto v = to_lower(trim(text));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw ValueError(fmt::format("'{}' is not a boolean (true/1/yes/on or false/0/no/off)", text));
}

long parse_int(std::string_view text, long min, long max) {
  const auto v = trim(text);
  long out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || out < min || out > max) {
    throw ValueError(fmt::format("'{}' is not an integer from {} to {}", text, min, max));
  }
  return out;
}

std::chrono::milliseconds parse_seconds(std::string_view text, long max_seconds) {
  return std::chrono::seconds(parse_int(text, 0, max_seconds));
}

std::chrono::milliseconds parse_fractional_seconds(std::string_view text, long max_seconds) {
  const auto t = trim(text);
  const auto dot = t.find('.');
  if (dot == std::string::npos) return parse_seconds(t, max_seconds);
  const auto whole = dot == 0 ? 0L : parse_int(t.substr(0, dot), 0, max_seconds);
  auto fraction = t.substr(dot + 1);
  const bool digits = !fraction.empty() && fraction.size() <= 3 &&
                      std::all_of(fraction.begin(), fraction.end(), [](char c) {
                        return std::isdigit(static_cast<unsigned char>(c));
                      });
  if (!digits) {
    throw ValueError(
        fmt::format("'{}' is not a number of seconds (like 2 or 0.25, to the millisecond)", t));
  }
  fraction.resize(3, '0');
  return std::chrono::seconds(whole) + std::chrono::milliseconds(std::stol(fraction));
}

int parse_signal(std::string_view text) {
  auto name = upper(trim(text));
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
    return static_cast<int>(parse_int(name, 1, SIGRTMAX));
  }
  if (name.starts_with("SIG")) name.erase(0, 3);
  for (const auto& [n, num] : kSignals) {
    if (n == name) return num;
  }
  throw ValueError(
      fmt::format("'{}' is not a signal name (TERM, SIGINT, HUP, QUIT, KILL, USR1, ...)", text));
}

std::string signal_name(int signo) {
  for (const auto& [n, num] : kSignals) {
    if (num == signo) return fmt::format("SIG{}", n);
  }
  return fmt::format("SIG{}", signo);
}

std::vector<int> parse_exitcodes(std::string_view text) {
  std::vector<int> out;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    const auto item = trim(rest.substr(0, comma));
    try {
      out.push_back(static_cast<int>(parse_int(item, 0, 255)));
    } catch (const ValueError&) {
      throw ValueError(fmt::format("'{}' is not a list of exit codes 0-255 (like 0,2)", text));
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (out.empty()) throw ValueError("the list is empty");
  return out;
}

uint64_t parse_byte_size(std::string_view text) {
  const auto v = to_lower(trim(text));
  uint64_t multiplier = 1;
  std::string_view number = v;
  if (v.size() > 2) {
    const auto suffix = std::string_view(v).substr(v.size() - 2);
    if (suffix == "kb") multiplier = 1024;
    if (suffix == "mb") multiplier = 1024 * 1024;
    if (suffix == "gb") multiplier = 1024ULL * 1024 * 1024;
    if (multiplier != 1) number.remove_suffix(2);
  }
  // 1 PiB at most, whatever the suffix: multiplying past 2^64 would wrap to a small size
  // (17179869185GB read as 1 GB).
  constexpr uint64_t kMaxBytes = 1ULL << 50;
  const auto digits = trim(number);
  uint64_t count = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  const bool all_digits = !digits.empty() && end == digits.data() + digits.size();
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && all_digits && count > kMaxBytes / multiplier)) {
    throw ValueError(
        fmt::format("'{}' is out of range: a byte size is at most {} (1 PiB)", text, kMaxBytes));
  }
  if (ec != std::errc() || !all_digits) {
    throw ValueError(
        fmt::format("'{}' is not a byte size (a number, optionally with KB, MB or GB)", text));
  }
  return count * multiplier;
}

unsigned parse_octal(std::string_view text) {
  const auto v = trim(text);
  unsigned out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out, 8);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || out > 0777) {
    throw ValueError(fmt::format("'{}' is not an octal mode (like 022)", text));
  }
  return out;
}

namespace {

// "HOST:PORT" of a probe URL: a numeric address or localhost (no resolver in a static
// binary), IPv6 in brackets.
void parse_host_port(std::string_view text, std::string_view whole, ProbeSpec& probe) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    throw ValueError(fmt::format("'{}' has no port (like tcp://127.0.0.1:8000)", whole));
  }
  auto host = std::string(text.substr(0, colon));
  const long port = [&] {
    try {
      return parse_int(text.substr(colon + 1), 1, 65535);
    } catch (const ValueError&) {
      throw ValueError(fmt::format("'{}': the port must be a number 1-65535", whole));
    }
  }();
  const auto address = os::parse_host(host);
  if (!address) {
    throw ValueError(fmt::format(
        "'{}': the host must be a numeric address or localhost (podvisor has no DNS resolver)",
        whole));
  }
  probe.host = address->to_string();
  probe.port = static_cast<uint16_t>(port);
}

}  // namespace

ProbeSpec parse_probe(std::string_view raw) {
  const auto text = trim(raw);
  ProbeSpec probe;
  probe.text = text;
  auto after = [&](std::string_view prefix) {
    return std::string_view(text).substr(prefix.size());
  };
  auto nonempty = [&](std::string_view rest, std::string_view what) {
    if (trim(rest).empty()) throw ValueError(fmt::format("'{}' needs {}", text, what));
    return trim(rest);
  };
  const auto lower = to_lower(text);
  if (lower.starts_with("http://")) {
    probe.kind = ProbeSpec::Kind::kHttp;
    const auto rest = after("http://");
    const auto slash = rest.find('/');
    parse_host_port(rest.substr(0, slash), text, probe);
    probe.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  } else if (lower.starts_with("tcp://")) {
    probe.kind = ProbeSpec::Kind::kTcp;
    parse_host_port(after("tcp://"), text, probe);
  } else if (lower.starts_with("exec:")) {
    probe.kind = ProbeSpec::Kind::kExec;
    probe.command = nonempty(after("exec:"), "a command");
  } else if (lower.starts_with("file:")) {
    probe.kind = ProbeSpec::Kind::kFile;
    probe.path = nonempty(after("file:"), "a path");
  } else if (lower.starts_with("log:")) {
    probe.kind = ProbeSpec::Kind::kLog;
    probe.pattern = nonempty(after("log:"), "a regular expression");
    try {
      LinePattern check(probe.pattern);
    } catch (const std::invalid_argument& e) {
      throw ValueError(fmt::format("'{}': invalid regular expression: {}", text, e.what()));
    }
  } else if (lower == "notify") {
    probe.kind = ProbeSpec::Kind::kNotify;
  } else {
    throw ValueError(fmt::format(
        "'{}' is not a probe (http://HOST:PORT/PATH, tcp://HOST:PORT, exec:CMD, file:PATH, "
        "log:REGEX or notify)",
        text));
  }
  return probe;
}

std::vector<int> parse_status_codes(std::string_view text) {
  std::vector<int> out;
  for (const auto& item : split_list(text)) {
    try {
      out.push_back(static_cast<int>(parse_int(item, 100, 599)));
    } catch (const ValueError&) {
      throw ValueError(
          fmt::format("'{}' is not a list of HTTP status codes 100-599 (like 200,204)", text));
    }
  }
  return out;
}

std::vector<Dependency> parse_depends_on(std::string_view text) {
  std::vector<Dependency> out;
  for (const auto& item : split_list(text)) {
    Dependency d;
    const auto colon = item.find(':');
    d.name = parse_name(item.substr(0, colon));
    if (colon != std::string::npos) {
      const auto condition = to_lower(trim(item.substr(colon + 1)));
      if (condition == "started") {
        d.condition = Dependency::Condition::kStarted;
      } else if (condition == "ready") {
        d.condition = Dependency::Condition::kReady;
      } else if (condition == "done") {
        d.condition = Dependency::Condition::kDone;
      } else {
        throw ValueError(fmt::format("'{}': the condition must be started, ready or done", item));
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::string parse_name(std::string_view text) {
  auto name = trim(text);
  if (name.empty()) throw ValueError("a name may not be empty");
  for (char c : {' ', ':', '/'}) {
    if (name.find(c) != std::string::npos) {
      throw ValueError(fmt::format("invalid name '{}' because of character '{}'", name, c));
    }
  }
  return name;
}

Autorestart parse_autorestart(std::string_view text) {
  const auto v = to_lower(trim(text));
  if (v == "unexpected") return Autorestart::kUnexpected;
  try {
    return parse_bool(v) ? Autorestart::kTrue : Autorestart::kFalse;
  } catch (const ValueError&) {
    throw ValueError(fmt::format("'{}' is not one of true, false, unexpected", text));
  }
}

std::string_view to_string(Autorestart a) {
  switch (a) {
    case Autorestart::kFalse:
      return "false";
    case Autorestart::kTrue:
      return "true";
    case Autorestart::kUnexpected:
      return "unexpected";
  }
  return "?";
}

LogLevel parse_loglevel(std::string_view text) {
  const auto v = to_lower(trim(text));
  if (v == "debug" || v == "trace" || v == "blather") return LogLevel::kDebug;
  if (v == "info") return LogLevel::kInfo;
  if (v == "warn" || v == "warning") return LogLevel::kWarn;
  if (v == "error") return LogLevel::kError;
  if (v == "critical") return LogLevel::kCritical;
  throw ValueError(
      fmt::format("'{}' is not a log level (debug, info, warn, error, critical)", text));
}

std::string_view to_string(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "DEBG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERRO";
    case LogLevel::kCritical:
      return "CRIT";
  }
  return "?";
}

std::map<std::string, std::string> parse_environment(std::string_view text) {
  return parse_key_value_pairs(text).values;
}

}  // namespace podvisor::config
