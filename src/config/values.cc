#include "config/values.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <utility>

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
  try {
    return static_cast<uint64_t>(parse_int(number, 0, 1L << 50)) * multiplier;
  } catch (const ValueError&) {
    throw ValueError(
        fmt::format("'{}' is not a byte size (a number, optionally with KB, MB or GB)", text));
  }
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
  std::map<std::string, std::string> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  auto fail = [&](std::string_view why) {
    return ValueError(
        fmt::format("'{}' is not a KEY=value list ({} at character {})", text, why, i + 1));
  };
  skip_ws();
  while (i < text.size()) {
    const auto eq = text.find('=', i);
    if (eq == std::string_view::npos) throw fail("missing '='");
    auto key = trim(text.substr(i, eq - i));
    if (key.empty() || key.find_first_of(" \t,\"'") != std::string::npos) throw fail("bad key");
    i = eq + 1;
    skip_ws();
    std::string value;
    if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
      const char quote = text[i++];
      const auto close = text.find(quote, i);
      if (close == std::string_view::npos) throw fail("unclosed quote");
      value = std::string(text.substr(i, close - i));
      i = close + 1;
      skip_ws();
    } else {
      const auto comma = text.find(',', i);
      value = trim(text.substr(i, comma == std::string_view::npos ? text.npos : comma - i));
      i = comma == std::string_view::npos ? text.size() : comma;
    }
    if (i < text.size()) {
      if (text[i] != ',') throw fail("expected ','");
      ++i;
      skip_ws();
    }
    out[key] = std::move(value);
  }
  return out;
}

}  // namespace podvisor::config
