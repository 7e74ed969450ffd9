// getAllConfigInfo: every process's configuration as supervisord reports it.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "control/server/rpc_methods.h"

namespace podvisor::control::rpc_methods {

namespace {

// The spelling getAllConfigInfo uses for a log destination.
std::string config_logfile(const config::LogSpec& log) {
  switch (log.target) {
    case config::LogTarget::kNone:
      return "none";
    case config::LogTarget::kAuto:
      return log.path.empty() ? "auto" : log.path;
    case config::LogTarget::kFile:
      return log.path;
    case config::LogTarget::kStdout:
      return "/dev/stdout";
    case config::LogTarget::kStderr:
      return "/dev/stderr";
  }
  return "none";
}

// shlex.quote'd words: the command line as one string.
std::string command_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    const bool safe = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](unsigned char c) {
      return std::isalnum(c) || std::strchr("@%+=:,./-_", c) != nullptr;
    });
    if (safe) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') {
        out += "'\"'\"'";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

}  // namespace

void get_all_config_info(Backend& b, const Array&, Reply& reply) {
  auto infos = b.config_info();
  std::stable_sort(infos.begin(), infos.end(), [](const ConfigInfo& x, const ConfigInfo& y) {
    return x.spec.name < y.spec.name;
  });
  Array out;
  for (const auto& c : infos) {
    const auto& s = c.spec;
    Array exitcodes;
    for (int code : s.exitcodes) exitcodes.emplace_back(code);
    auto seconds = [](std::chrono::milliseconds ms) {
      return Value(static_cast<int64_t>(ms.count() / 1000));
    };
    auto bytes = [](uint64_t n) { return Value(static_cast<int64_t>(n)); };
    out.emplace_back(Struct{
        {"autostart", Value(s.autostart)},
        {"directory", Value(s.directory.empty() ? std::string("none") : s.directory)},
        {"uid", s.user.empty() ? Value("none") : Value(static_cast<int64_t>(s.uid))},
        {"command", Value(command_line(s.argv))},
        {"exitcodes", Value(std::move(exitcodes))},
        {"group", Value(s.group)},
        {"group_prio", Value(c.group_priority)},
        {"inuse", Value(c.in_use)},
        {"killasgroup", Value(s.killasgroup)},
        {"name", Value(s.name)},
        {"process_prio", Value(s.priority)},
        {"redirect_stderr", Value(s.redirect_stderr)},
        {"startretries", Value(s.startretries)},
        {"startsecs", seconds(s.startsecs)},
        {"stdout_capture_maxbytes", Value(0)},
        {"stdout_events_enabled", Value(false)},
        {"stdout_logfile", Value(config_logfile(s.stdout_log))},
        {"stdout_logfile_backups", Value(s.stdout_log.backups)},
        {"stdout_logfile_maxbytes", bytes(s.stdout_log.maxbytes)},
        {"stdout_syslog", Value(false)},
        {"stopsignal", Value(s.stopsignal)},
        {"stopwaitsecs", seconds(s.stopwaitsecs)},
        {"stderr_capture_maxbytes", Value(0)},
        {"stderr_events_enabled", Value(false)},
        {"stderr_logfile", Value(config_logfile(s.stderr_log))},
        {"stderr_logfile_backups", Value(s.stderr_log.backups)},
        {"stderr_logfile_maxbytes", bytes(s.stderr_log.maxbytes)},
        {"stderr_syslog", Value(false)},
        {"serverurl", Value("none")},
    });
  }
  reply(Value(std::move(out)));
}

}  // namespace podvisor::control::rpc_methods
