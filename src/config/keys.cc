#include "config/keys.h"

#include <fmt/format.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <type_traits>

#include "config/command.h"
#include "config/gate_keys.h"
#include "config/gpu_keys.h"
#include "config/key_value.h"
#include "config/ssh_keys.h"
#include "os/address.h"
#include "os/users.h"

namespace podvisor::config {
namespace {

using Shown = std::optional<std::string>;
using std::string_view;

// supervisord's integers are Python's (unbounded); podvisor has always capped them at 2^31.
constexpr long kMaxInt = 1L << 31;
constexpr long kDay = 86400;

// What a [program] key's row shows: printed by check --print, reported by getAllConfigInfo,
// applied in single-command mode.
enum Use : unsigned { kFileOnly = 0, kSingle = 1, kPrinted = 2, kReported = 4 };

constexpr Key program_row(string_view name, Stage stage, unsigned use,
                          void (*apply)(ProgramSpec&, string_view),
                          Shown (*print)(const ProgramSpec&), InfoValue (*info)(const ProgramSpec&),
                          string_view info_name = {}) {
  Key k{.section = "program", .name = name, .stage = stage, .single_command = (use & kSingle) != 0};
  k.program = apply;
  if (use & kPrinted) k.print = print;
  if (use & kReported) {
    k.info_name = info_name.empty() ? name : info_name;
    k.info = info;
  }
  return k;
}

template <typename T>
InfoValue info_of(const T& v) {
  if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string>) {
    return v;
  } else {
    return static_cast<int64_t>(v);
  }
}

// Rows for keys held in one field of ProgramSpec, by the field's kind.
template <auto F>
constexpr Key boolean(string_view name, unsigned use) {
  return program_row(
      name, Stage::kSection, use, [](ProgramSpec& p, string_view v) { p.*F = parse_bool(v); },
      [](const ProgramSpec& p) -> Shown { return fmt::format("{}", p.*F); },
      [](const ProgramSpec& p) { return info_of(p.*F); });
}

template <auto F, long Min, long Max>
constexpr Key integer(string_view name, unsigned use, string_view info_name = {}) {
  return program_row(
      name, Stage::kSection, use,
      [](ProgramSpec& p, string_view v) { p.*F = static_cast<int>(parse_int(v, Min, Max)); },
      [](const ProgramSpec& p) -> Shown { return std::to_string(p.*F); },
      [](const ProgramSpec& p) { return info_of(p.*F); }, info_name);
}

template <auto F, long Max>
constexpr Key seconds(string_view name, unsigned use) {
  return program_row(
      name, Stage::kSection, use,
      [](ProgramSpec& p, string_view v) { p.*F = parse_seconds(v, Max); },
      [](const ProgramSpec& p) -> Shown { return std::to_string((p.*F).count() / 1000); },
      [](const ProgramSpec& p) { return info_of((p.*F).count() / 1000); });
}

std::string log_text(const LogSpec& l) {
  switch (l.target) {
    case LogTarget::kNone:
      return "NONE";
    case LogTarget::kAuto:
      return "AUTO";
    case LogTarget::kStdout:
      return "/dev/stdout";
    case LogTarget::kStderr:
      return "/dev/stderr";
    case LogTarget::kFile:
      return l.path;
  }
  return "?";
}

// The spelling getAllConfigInfo uses for a log destination.
std::string config_logfile(const LogSpec& log) {
  switch (log.target) {
    case LogTarget::kNone:
      return "none";
    case LogTarget::kAuto:
      return log.path.empty() ? "auto" : log.path;
    case LogTarget::kFile:
      return log.path;
    case LogTarget::kStdout:
      return "/dev/stdout";
    case LogTarget::kStderr:
      return "/dev/stderr";
  }
  return "none";
}

// supervisord's existing_dirpath: a log file's directory must exist when the file is read,
// not only when the first byte comes. "~/" is the home directory, as Python's expanduser.
std::string existing_dirpath(string_view value) {
  std::string path(value);
  const char* home = std::getenv("HOME");
  if (home && (path == "~" || path.starts_with("~/"))) path = home + path.substr(1);
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return path;
  const auto dir = slash == 0 ? std::string("/") : path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ValueError(
        fmt::format("The directory named as part of the path {} does not exist", value));
  }
  return path;
}

void set_logfile(LogSpec& log, string_view value) {
  const auto lower = to_lower(value);
  log.path.clear();
  if (lower == "auto") {
    log.target = LogTarget::kAuto;
  } else if (lower == "none" || lower == "off" || lower == "syslog") {
    log.target = LogTarget::kNone;
  } else if (value == "/dev/stdout" || value == "/dev/fd/1" || value == "/proc/self/fd/1") {
    log.target = LogTarget::kStdout;
  } else if (value == "/dev/stderr" || value == "/dev/fd/2" || value == "/proc/self/fd/2") {
    log.target = LogTarget::kStderr;
  } else {
    log.target = LogTarget::kFile;
    log.path = existing_dirpath(value);
  }
}

// The rows of stdout_logfile* or stderr_logfile*, *_events_enabled, and the two keys
// supervisord has for the stream that podvisor accepts with no effect.
template <auto Log>
constexpr std::array<Key, 6> log_rows(string_view logfile, string_view maxbytes,
                                      string_view backups, string_view capture, string_view events,
                                      string_view syslog) {
  constexpr unsigned use = kPrinted | kReported;
  return {
      program_row(
          logfile, Stage::kProcess, use,
          [](ProgramSpec& p, string_view v) { set_logfile(p.*Log, v); },
          [](const ProgramSpec& p) -> Shown { return log_text(p.*Log); },
          [](const ProgramSpec& p) { return info_of(config_logfile(p.*Log)); }),
      program_row(
          maxbytes, Stage::kProcess, use,
          [](ProgramSpec& p, string_view v) { (p.*Log).maxbytes = parse_byte_size(v); },
          [](const ProgramSpec& p) -> Shown { return std::to_string((p.*Log).maxbytes); },
          [](const ProgramSpec& p) { return info_of((p.*Log).maxbytes); }),
      program_row(
          backups, Stage::kProcess, use,
          [](ProgramSpec& p, string_view v) {
            (p.*Log).backups = static_cast<int>(parse_int(v, 0, 1000));
          },
          [](const ProgramSpec& p) -> Shown { return std::to_string((p.*Log).backups); },
          [](const ProgramSpec& p) { return info_of((p.*Log).backups); }),
      program_row(capture, Stage::kNone, kReported, nullptr, nullptr,
                  [](const ProgramSpec&) { return InfoValue(int64_t{0}); }),
      program_row(
          events, Stage::kSection, kReported,
          [](ProgramSpec& p, string_view v) { (p.*Log).events_enabled = parse_bool(v); }, nullptr,
          [](const ProgramSpec& p) { return InfoValue((p.*Log).events_enabled); }),
      program_row(syslog, Stage::kNone, kReported, nullptr, nullptr,
                  [](const ProgramSpec&) { return InfoValue(false); }),
  };
}

template <typename T>
std::string joined(const T& items, string_view separator, auto&& show) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += show(item);
  }
  return out;
}

std::string seconds_text(std::chrono::milliseconds d) {
  return fmt::format("{:g}", d.count() / 1000.0);
}

std::chrono::milliseconds interval(string_view v) {
  const auto out = parse_fractional_seconds(v, kDay);
  if (out.count() == 0) throw ValueError("the interval must be more than 0");
  return out;
}

// A key podvisor reserves for a later version: warned about, not applied.
constexpr Key not_yet(Key k) {
  k.not_yet = true;
  return k;
}

template <size_t... N>
constexpr auto concat(const std::array<Key, N>&... parts) {
  std::array<Key, (N + ...)> out{};
  size_t at = 0;
  ((std::copy(parts.begin(), parts.end(), out.begin() + at), at += N), ...);
  return out;
}

// [program] rows, in check --print's order where printed; built by the compiler, so nothing
// runs to make the table.
constexpr unsigned kAll = kSingle | kPrinted | kReported;
constexpr auto kProgramHead = std::to_array<Key>({
    program_row("process_name", Stage::kLoader, kFileOnly, nullptr, nullptr, nullptr),
    program_row("numprocs", Stage::kLoader, kFileOnly, nullptr, nullptr, nullptr),
    program_row("numprocs_start", Stage::kLoader, kFileOnly, nullptr, nullptr, nullptr),
    program_row(
        "command", Stage::kProcess, kPrinted | kReported,
        [](ProgramSpec& p, string_view v) { p.argv = split_command(v); },
        [](const ProgramSpec& p) -> Shown { return join_command(p.argv); },
        [](const ProgramSpec& p) { return info_of(join_command(p.argv)); }),
    integer<&ProgramSpec::priority, -kMaxInt, kMaxInt - 1>("priority", kPrinted | kReported,
                                                           "process_prio"),
    boolean<&ProgramSpec::autostart>("autostart", kPrinted | kReported),
    program_row(
        "autorestart", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) { p.autorestart = parse_autorestart(v); },
        [](const ProgramSpec& p) -> Shown { return std::string(to_string(p.autorestart)); },
        nullptr),
    seconds<&ProgramSpec::startsecs, kMaxInt>("startsecs", kAll),
    integer<&ProgramSpec::startretries, 0, kMaxInt>("startretries", kAll),
    program_row(
        "stopsignal", Stage::kSection, kAll,
        [](ProgramSpec& p, string_view v) { p.stopsignal = parse_signal(v); },
        [](const ProgramSpec& p) -> Shown { return signal_name(p.stopsignal); },
        [](const ProgramSpec& p) { return info_of(p.stopsignal); }),
    seconds<&ProgramSpec::stopwaitsecs, kMaxInt>("stopwaitsecs", kAll),
    boolean<&ProgramSpec::stopasgroup>("stopasgroup", kSingle | kPrinted),
    boolean<&ProgramSpec::killasgroup>("killasgroup", kAll),
    program_row(
        "exitcodes", Stage::kSection, kAll,
        [](ProgramSpec& p, string_view v) { p.exitcodes = parse_exitcodes(v); },
        [](const ProgramSpec& p) -> Shown {
          return joined(p.exitcodes, ",", [](int c) { return std::to_string(c); });
        },
        [](const ProgramSpec& p) { return InfoValue(p.exitcodes); }),
    boolean<&ProgramSpec::redirect_stderr>("redirect_stderr", kPrinted | kReported),
});
constexpr auto kStdoutRows = log_rows<&ProgramSpec::stdout_log>(
    "stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups",
    "stdout_capture_maxbytes", "stdout_events_enabled", "stdout_syslog");
constexpr auto kStderrRows = log_rows<&ProgramSpec::stderr_log>(
    "stderr_logfile", "stderr_logfile_maxbytes", "stderr_logfile_backups",
    "stderr_capture_maxbytes", "stderr_events_enabled", "stderr_syslog");
constexpr auto kProgramTail = std::to_array<Key>({
    program_row(
        "environment", Stage::kEnvironment, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) { p.environment = parse_environment(v); },
        [](const ProgramSpec& p) -> Shown {
          return joined(p.environment, ",", [](const auto& kv) {
            return fmt::format("{}={}", kv.first, quote_env_value(kv.second));
          });
        },
        nullptr),
    program_row(
        "directory", Stage::kProcess, kAll, [](ProgramSpec& p, string_view v) { p.directory = v; },
        [](const ProgramSpec& p) -> Shown { return p.directory; },
        [](const ProgramSpec& p) {
          return info_of(p.directory.empty() ? std::string("none") : p.directory);
        }),
    program_row(
        "umask", Stage::kSection, kPrinted,
        [](ProgramSpec& p, string_view v) { p.umask = static_cast<int>(parse_octal(v)); },
        [](const ProgramSpec& p) -> Shown {
          return p.umask < 0 ? std::string("(inherited)") : fmt::format("{:03o}", p.umask);
        },
        nullptr),
    program_row(
        "user", Stage::kSection, kPrinted | kReported,
        [](ProgramSpec& p, string_view v) {
          p.user = v;
          if (p.user.empty()) return;
          const auto user = os::find_user(p.user);
          if (!user) throw ValueError(fmt::format("no such user '{}' in /etc/passwd", p.user));
          p.uid = user->uid;
          p.gid = user->gid;
          p.groups = user->groups;
          p.home = user->home;
        },
        [](const ProgramSpec& p) -> Shown { return p.user; },
        [](const ProgramSpec& p) {
          return p.user.empty() ? InfoValue(std::string("none")) : info_of(p.uid);
        },
        "uid"),
    seconds<&ProgramSpec::restart_reset, kMaxInt>("restart_reset", kSingle | kPrinted),
    seconds<&ProgramSpec::backoff_max, kDay>("backoff_max", kSingle | kPrinted),
    boolean<&ProgramSpec::main>("main", kPrinted),
    boolean<&ProgramSpec::oneshot>("oneshot", kPrinted),
    // Readiness and liveness: printed only when the probe is set.
    program_row(
        "ready", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) { p.ready = parse_probe(v); },
        [](const ProgramSpec& p) -> Shown { return p.ready ? Shown(p.ready->text) : std::nullopt; },
        nullptr),
    program_row(
        "ready_timeout", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) {
          p.ready_timeout = parse_fractional_seconds(v, 365 * kDay);
        },
        [](const ProgramSpec& p) -> Shown {
          return p.ready ? Shown(seconds_text(p.ready_timeout)) : std::nullopt;
        },
        nullptr),
    program_row(
        "ready_interval", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) { p.ready_interval = interval(v); },
        [](const ProgramSpec& p) -> Shown {
          if (!p.ready) return std::nullopt;
          return p.ready_interval ? seconds_text(*p.ready_interval) : "(adaptive)";
        },
        nullptr),
    program_row(
        "ready_status", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) { p.ready_status = parse_status_codes(v); },
        [](const ProgramSpec& p) -> Shown {
          if (!p.ready) return std::nullopt;
          if (p.ready_status.empty()) return "(2xx)";
          return joined(p.ready_status, ",", [](int c) { return std::to_string(c); });
        },
        nullptr),
    program_row(
        "live", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) {
          p.live = parse_probe(v);
          if (p.live->kind == ProbeSpec::Kind::kLog || p.live->kind == ProbeSpec::Kind::kNotify) {
            throw ValueError(fmt::format("'{}' cannot check liveness (use http, tcp, exec or file)",
                                         p.live->text));
          }
        },
        [](const ProgramSpec& p) -> Shown { return p.live ? Shown(p.live->text) : std::nullopt; },
        nullptr),
    program_row(
        "live_interval", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) { p.live_interval = interval(v); },
        [](const ProgramSpec& p) -> Shown {
          return p.live ? Shown(seconds_text(p.live_interval)) : std::nullopt;
        },
        nullptr),
    program_row(
        "live_failures", Stage::kSection, kSingle | kPrinted,
        [](ProgramSpec& p, string_view v) {
          p.live_failures = static_cast<int>(parse_int(v, 1, 1000));
        },
        [](const ProgramSpec& p) -> Shown {
          return p.live ? Shown(std::to_string(p.live_failures)) : std::nullopt;
        },
        nullptr),
    program_row(
        "depends_on", Stage::kSection, kPrinted,
        [](ProgramSpec& p, string_view v) { p.depends_on = parse_depends_on(v); },
        [](const ProgramSpec& p) -> Shown {
          if (p.depends_on.empty()) return std::nullopt;
          return joined(p.depends_on, ", ", [](const Dependency& d) {
            const char* c = d.condition == Dependency::Condition::kStarted ? "started"
                            : d.condition == Dependency::Condition::kDone  ? "done"
                                                                           : "ready";
            return fmt::format("{}:{}", d.name, c);
          });
        },
        nullptr),
    program_row(
        "log_prefix", Stage::kSection, kFileOnly,
        [](ProgramSpec& p, string_view v) { p.log_prefix = parse_bool(v); }, nullptr, nullptr),
    program_row("serverurl", Stage::kNone, kReported, nullptr, nullptr,
                [](const ProgramSpec&) { return InfoValue(std::string("none")); }),
    program_row("log_format", Stage::kNone, kFileOnly, nullptr, nullptr, nullptr),
    program_row("gpu_free_memory", Stage::kSection, kPrinted, apply_gpu_free_memory,
                print_gpu_free_memory, nullptr),
});

constexpr Key supervisord(string_view name, void (*apply)(SupervisorSpec&, string_view),
                          bool single = false) {
  Key k{.section = "supervisord", .name = name, .single_command = single};
  k.supervisord = apply;
  return k;
}

LogFormat parse_log_format(string_view v) {
  const auto l = to_lower(trim(v));
  if (l == "text") return LogFormat::kText;
  if (l == "json") return LogFormat::kJson;
  throw ValueError(fmt::format("'{}' is not a log format (text or json)", v));
}

// The pidfile, checked as a log file is, and made absolute against the working directory at
// parse time (a daemon's chdir comes later), as supervisord does. "" writes none.
std::string pidfile_path(string_view value) {
  auto path = existing_dirpath(trim(value));
  if (!path.empty() && path.front() != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) != nullptr) path = fmt::format("{}/{}", cwd, path);
  }
  return path;
}

constexpr auto kSupervisordRows = std::to_array<Key>({
    supervisord("logfile",
                [](SupervisorSpec& s, string_view v) { s.logfile = existing_dirpath(v); }),
    supervisord("logfile_maxbytes",
                [](SupervisorSpec& s, string_view v) { s.logfile_maxbytes = parse_byte_size(v); }),
    supervisord("logfile_backups",
                [](SupervisorSpec& s, string_view v) {
                  s.logfile_backups = static_cast<int>(parse_int(v, 0, 1000));
                }),
    supervisord(
        "loglevel", [](SupervisorSpec& s, string_view v) { s.loglevel = parse_loglevel(v); }, true),
    supervisord("identifier", [](SupervisorSpec& s, string_view v) { s.identifier = v; }),
    supervisord("childlogdir", [](SupervisorSpec& s, string_view v) { s.childlogdir = v; }),
    supervisord("nocleanup", [](SupervisorSpec& s, string_view v) { s.nocleanup = parse_bool(v); }),
    supervisord("umask", [](SupervisorSpec& s,
                            string_view v) { s.umask = static_cast<int>(parse_octal(v)); }),
    supervisord("user",
                [](SupervisorSpec& s, string_view v) {
                  s.user = v;
                  if (!s.user.empty() && !os::find_user(s.user)) {
                    throw ValueError(fmt::format("no such user '{}' in /etc/passwd", s.user));
                  }
                }),
    supervisord("directory", [](SupervisorSpec& s, string_view v) { s.directory = v; }),
    supervisord("minfds",
                [](SupervisorSpec& s, string_view v) { s.minfds = parse_int(v, 1, 1 << 30); }),
    supervisord("exit_on_fatal",
                [](SupervisorSpec& s, string_view v) { s.exit_on_fatal = parse_bool(v); }),
    supervisord("strip_ansi",
                [](SupervisorSpec& s, string_view v) { s.strip_ansi = parse_bool(v); }),
    supervisord("log_prefix",
                [](SupervisorSpec& s, string_view v) { s.log_prefix = parse_bool(v); }),
    supervisord("log_format",
                [](SupervisorSpec& s, string_view v) { s.log_format = parse_log_format(v); }),
    supervisord(
        "environment",
        [](SupervisorSpec& s, string_view v) { s.environment = parse_environment(v); }, true),
    supervisord("pidfile", [](SupervisorSpec& s, string_view v) { s.pidfile = pidfile_path(v); }),
    supervisord("nodaemon", [](SupervisorSpec& s, string_view v) { s.nodaemon = parse_bool(v); }),
    // Accepted with no effect.
    supervisord("silent", nullptr),
    supervisord("minprocs", nullptr),
    // podvisor's own (also in [podvisor]): stay up on a failure for a look (docs/pods.md).
    supervisord(
        "hold_on_fatal", [](SupervisorSpec& s, string_view v) { s.hold_on_fatal = parse_bool(v); },
        true),
    supervisord(
        "hold_log_interval",
        [](SupervisorSpec& s,
           string_view v) { s.hold_log_interval = std::chrono::seconds(parse_int(v, 1, 86400)); },
        true),
});

constexpr Key server(string_view section, string_view name,
                     void (*apply)(HttpServerSpec&, string_view)) {
  Key k{.section = section, .name = name};
  k.server = apply;
  return k;
}

void set_chown(HttpServerSpec& server, string_view value) {
  const auto v = trim(value);
  const auto colon = v.find(':');
  const auto user = v.substr(0, colon);
  const auto info = os::find_user(user);
  if (!info) throw ValueError(fmt::format("no such user '{}' in /etc/passwd", user));
  server.uid = info->uid;
  server.gid = info->gid;
  if (colon != std::string::npos) {
    const auto group = v.substr(colon + 1);
    server.gid = os::find_group(group);
    if (!server.gid) throw ValueError(fmt::format("no such group '{}' in /etc/group", group));
  }
}

// supervisord's inet_address: "HOST:PORT", "*:PORT" or ":PORT" (every address), and a bare
// PORT, which podvisor binds to 127.0.0.1 rather than every address.
void set_port(HttpServerSpec& server, string_view value) {
  const auto v = trim(value);
  const auto colon = v.rfind(':');
  server.host = colon == std::string::npos ? "127.0.0.1" : to_lower(v.substr(0, colon));
  if (server.host == "*") server.host.clear();
  if (server.host.size() >= 2 && server.host.front() == '[' && server.host.back() == ']') {
    server.host = server.host.substr(1, server.host.size() - 2);
  }
  const auto port = colon == std::string::npos ? v : v.substr(colon + 1);
  try {
    server.port = static_cast<uint16_t>(parse_int(port, 1, 65535));
  } catch (const ValueError&) {
    throw ValueError(fmt::format("'{}' is not a port (like 9001 or 127.0.0.1:9001)", v));
  }
  if (!server.host.empty() && !os::parse_host(server.host)) {
    throw ValueError(
        fmt::format("'{}': the host must be a numeric address, localhost or * (podvisor has no DNS "
                    "resolver)",
                    v));
  }
}

}  // namespace

bool exposed_without_credentials(const HttpServerSpec& inet) {
  if (!inet.username.empty()) return false;
  const auto address = inet.host.empty() ? std::nullopt : os::parse_host(inet.host);
  return !address || !address->is_loopback();
}

std::optional<std::string> refuse_unauthenticated(const HttpServerSpec& inet) {
  if (!exposed_without_credentials(inet) || inet.allow_unauthenticated) return std::nullopt;
  return fmt::format(
      "{}:{} is reachable beyond loopback and there are no credentials: anyone who can reach it "
      "could stop every program. Set username and password, bind 127.0.0.1, or set "
      "allow_unauthenticated=true",
      inet.host.empty() ? "*" : inet.host, inet.port);
}

namespace {

// username, password and health_auth, in either server section.
constexpr std::array<Key, 3> auth_rows(string_view section) {
  return {
      server(section, "username", [](HttpServerSpec& s, string_view v) { s.username = trim(v); }),
      server(section, "password", [](HttpServerSpec& s, string_view v) { s.password = trim(v); }),
      server(section, "health_auth",
             [](HttpServerSpec& s, string_view v) { s.health_auth = parse_bool(trim(v)); }),
  };
}

constexpr auto kServerRows = std::to_array<Key>({
    server("unix_http_server", "file", [](HttpServerSpec& s, string_view v) { s.file = trim(v); }),
    server("unix_http_server", "chmod",
           [](HttpServerSpec& s, string_view v) {
             s.chmod = static_cast<mode_t>(parse_octal(trim(v)));
           }),
    server("unix_http_server", "chown", set_chown),
    server("inet_http_server", "port", set_port),
    server("inet_http_server", "allow_unauthenticated",
           [](HttpServerSpec& s, string_view v) { s.allow_unauthenticated = parse_bool(trim(v)); }),
});

// Sections whose keys other parts read (ctl, the loader itself) or that only name a factory.
constexpr Key loader_key(string_view section, string_view name) {
  return {.section = section, .name = name, .stage = Stage::kLoader};
}
constexpr auto kOtherRows = std::to_array<Key>({
    loader_key("supervisorctl", "serverurl"),
    loader_key("supervisorctl", "username"),
    loader_key("supervisorctl", "password"),
    loader_key("supervisorctl", "prompt"),
    loader_key("supervisorctl", "history_file"),
    loader_key("include", "files"),
    loader_key("group", "programs"),
    loader_key("group", "priority"),
    // [eventlistener:x]'s own keys (config/listener.cc); the rest are [program]'s.
    loader_key("eventlistener", "events"),
    loader_key("eventlistener", "buffer_size"),
    loader_key("eventlistener", "result_handler"),
    {.section = "rpcinterface", .name = "supervisor.rpcinterface_factory", .stage = Stage::kNone},
});

constexpr auto kTable =
    concat(kProgramHead, kStdoutRows, kStderrRows, kProgramTail, gate_rows(), kSupervisordRows,
           ssh_rows(), gpu_rows(), kServerRows, auth_rows("unix_http_server"),
           auth_rows("inet_http_server"), kOtherRows);

std::span<const Key> table() { return kTable; }

// "program:x" → "program"; [eventlistener:x] and [fcgi-program:x] take [program]'s keys, and
// [podvisor] [supervisord]'s (supervisord ignores the section, so a file serves both).
string_view section_type(string_view section) {
  const auto type = section.substr(0, section.find(':'));
  if (type == "podvisor") return "supervisord";
  return type == "eventlistener" || type == "fcgi-program" ? "program" : type;
}

}  // namespace

std::span<const Key> all_keys() { return table(); }

const Key* find_key(string_view section, string_view name) {
  const auto type = section_type(section);
  const bool listener = section.starts_with("eventlistener");
  for (const auto& k : table()) {
    if ((k.section == type || (listener && k.section == "eventlistener")) && k.name == name) {
      return &k;
    }
  }
  return nullptr;
}

const std::vector<string_view>& known_keys(string_view section) {
  static const auto by_section = [] {
    std::map<string_view, std::vector<string_view>> out;
    for (const auto& k : table()) out[k.section].push_back(k.name);
    return out;
  }();
  static const std::vector<string_view> none;
  const auto it = by_section.find(section_type(section));
  return it == by_section.end() ? none : it->second;
}

long parse_numprocs(string_view value) { return parse_int(value, 1, 100000); }
long parse_numprocs_start(string_view value) { return parse_int(value, 0, kMaxInt); }

}  // namespace podvisor::config
