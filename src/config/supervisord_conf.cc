#include "config/supervisord_conf.h"

#include <fmt/format.h>

#include <cctype>
#include <string_view>
#include <utility>

#include "config/command.h"
#include "config/key_value.h"
#include "config/keys.h"

namespace podvisor::config {
namespace {

// supervisord %-expands its values: a literal % is written %%.
std::string escaped(std::string_view value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
}

// supervisord's spelling of a level (parse_loglevel reads it back).
std::string_view level_name(LogLevel level) {
  constexpr std::pair<LogLevel, std::string_view> kNames[] = {{LogLevel::kDebug, "debug"},
                                                              {LogLevel::kInfo, "info"},
                                                              {LogLevel::kWarn, "warn"},
                                                              {LogLevel::kError, "error"},
                                                              {LogLevel::kCritical, "critical"}};
  for (const auto& [l, name] : kNames) {
    if (l == level) return name;
  }
  return "info";
}

// A key as check --print shows it, which is supervisord's spelling for these.
std::string printed(const ProgramSpec& p, std::string_view key) {
  const auto* row = find_key("program", key);
  return escaped(row && row->print ? row->print(p).value_or("") : "");
}

// supervisord's environment= syntax (a non-POSIX shlex), with the file's '%' escape.
std::string environment_value(const std::map<std::string, std::string>& environment) {
  std::string out;
  for (const auto& [key, value] : environment) {
    if (!out.empty()) out += ',';
    out += key + "=" + escaped(quote_env_value(value));
  }
  return out;
}

std::string seconds(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000)
                               : fmt::format("{:g}", d.count() / 1000.0);
}

std::string joined(const std::vector<int>& items) {
  std::string out;
  for (int i : items) out += (out.empty() ? "" : ",") + std::to_string(i);
  return out;
}

struct Section {
  std::string text;
  explicit Section(std::string_view name) : text(fmt::format("[{}]\n", name)) {}
  Section& add(std::string_view key, std::string_view value) {
    text += fmt::format("{} = {}\n", key, value);
    return *this;
  }
};

void add_credentials(Section& s, const HttpServerSpec& server) {
  if (server.username.empty()) return;
  s.add("username", escaped(server.username)).add("password", escaped(server.password));
}

std::string program_section(const ProgramSpec& p) {
  Section s(fmt::format("program:{}", p.name));
  s.add("command", supervisord_command(p.argv))
      .add("autostart", p.autostart ? "true" : "false")
      .add("autorestart", std::string(to_string(p.autorestart)))
      .add("startretries", std::to_string(p.startretries))
      .add("startsecs", seconds(p.startsecs))
      .add("stopsignal", signal_name(p.stopsignal).substr(3))
      .add("stopwaitsecs", seconds(p.stopwaitsecs))
      .add("stopasgroup", p.stopasgroup ? "true" : "false")
      .add("killasgroup", p.killasgroup ? "true" : "false")
      .add("exitcodes", joined(p.exitcodes))
      .add("redirect_stderr", p.redirect_stderr ? "true" : "false");
  for (const auto& [name, log] : {std::pair{"stdout", &p.stdout_log}, {"stderr", &p.stderr_log}}) {
    if (p.redirect_stderr && log == &p.stderr_log) continue;
    const bool stream = log->target == LogTarget::kStdout || log->target == LogTarget::kStderr;
    s.add(fmt::format("{}_logfile", name), printed(p, fmt::format("{}_logfile", name)))
        .add(fmt::format("{}_logfile_maxbytes", name),
             stream ? "0" : std::to_string(log->maxbytes));
    if (!stream) s.add(fmt::format("{}_logfile_backups", name), std::to_string(log->backups));
  }
  if (!p.directory.empty()) s.add("directory", escaped(p.directory));
  if (!p.environment.empty()) s.add("environment", environment_value(p.environment));
  // podvisor's own keys, for `podvisor -c` on this file; supervisord ignores them.
  s.add("restart_reset", seconds(p.restart_reset)).add("backoff_max", seconds(p.backoff_max));
  if (p.ready) {
    s.add("ready", escaped(p.ready->text)).add("ready_timeout", seconds(p.ready_timeout));
    if (p.ready_interval) s.add("ready_interval", seconds(*p.ready_interval));
    if (!p.ready_status.empty()) s.add("ready_status", joined(p.ready_status));
  }
  if (p.live) {
    s.add("live", escaped(p.live->text))
        .add("live_interval", seconds(p.live_interval))
        .add("live_failures", std::to_string(p.live_failures));
  }
  return s.text;
}

}  // namespace

// check --print's quoting (shlex.join's, no " ;" or " #"), then the file's own escapes: '%'
// doubled, and a newline continued on the next line (supervisord joins it back with '\n').
std::string supervisord_command(const std::vector<std::string>& argv) {
  std::string out;
  for (char c : join_command(argv)) {
    if (c == '%') {
      out += "%%";
    } else if (c == '\n') {
      out += "\n  ";
    } else {
      out += c;
    }
  }
  return out;
}

std::string supervisord_conf(const SupervisorSpec& spec) {
  std::string out =
      "; The configuration podvisor runs (standard-supervisor), in supervisord's format:\n"
      "; `supervisorctl -c THIS_FILE status` talks to podvisor. Written at start.\n\n";
  Section main("supervisord");
  main.add("nodaemon", "true")
      .add("loglevel", level_name(spec.loglevel))
      .add("logfile", spec.logfile.empty() ? "/dev/null" : escaped(spec.logfile));
  if (!spec.logfile.empty() && !spec.logfile.starts_with("/dev/")) {
    main.add("logfile_maxbytes", std::to_string(spec.logfile_maxbytes))
        .add("logfile_backups", std::to_string(spec.logfile_backups));
  }
  if (!spec.environment.empty()) main.add("environment", environment_value(spec.environment));
  out += main.text + "\n";

  std::string serverurl;
  const HttpServerSpec* credentials = nullptr;
  if (spec.inet_server) {
    Section inet("inet_http_server");
    const auto& s = *spec.inet_server;
    const auto host = s.host.empty() ? std::string("*") : s.host;
    inet.add("port",
             fmt::format("{}:{}", host.find(':') != std::string::npos ? "[" + host + "]" : host,
                         s.port));
    add_credentials(inet, s);
    out += inet.text + "\n";
    const auto local = s.host.empty() || s.host == "0.0.0.0" ? std::string("127.0.0.1") : host;
    serverurl = fmt::format(
        "http://{}:{}", local.find(':') != std::string::npos ? "[" + local + "]" : local, s.port);
    credentials = &s;
  }
  if (spec.unix_server) {
    Section unix_server("unix_http_server");
    unix_server.add("file", escaped(spec.unix_server->file))
        .add("chmod", fmt::format("0{:o}", spec.unix_server->chmod));
    add_credentials(unix_server, *spec.unix_server);
    out += unix_server.text + "\n";
    // The socket first: it needs no network and is what supervisorctl users expect.
    serverurl = "unix://" + escaped(spec.unix_server->file);
    credentials = &*spec.unix_server;
  }
  if (!serverurl.empty()) {
    Section rpc("rpcinterface:supervisor");
    rpc.add("supervisor.rpcinterface_factory", "supervisor.rpcinterface:make_main_rpcinterface");
    Section ctl("supervisorctl");
    ctl.add("serverurl", serverurl);
    add_credentials(ctl, *credentials);
    out += rpc.text + "\n" + ctl.text + "\n";
  }
  for (const auto& p : spec.programs) out += program_section(p) + "\n";
  return out;
}

}  // namespace podvisor::config
