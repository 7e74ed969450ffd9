#include "config/env.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

namespace podvisor::config {
namespace {

const std::vector<std::string_view> kProgramKeys = {
    "command", "process_name", "numprocs", "numprocs_start", "priority", "autostart", "startsecs",
    "startretries", "autorestart", "exitcodes", "stopsignal", "stopwaitsecs", "stopasgroup",
    "killasgroup", "user", "redirect_stderr", "stdout_logfile", "stdout_logfile_maxbytes",
    "stdout_logfile_backups", "stdout_capture_maxbytes", "stdout_events_enabled", "stdout_syslog",
    "stderr_logfile", "stderr_logfile_maxbytes", "stderr_logfile_backups",
    "stderr_capture_maxbytes", "stderr_events_enabled", "stderr_syslog", "environment", "directory",
    "umask", "serverurl",
    // podvisor's own keys (SPEC §3)
    "ready", "ready_timeout", "ready_interval", "ready_status", "depends_on", "oneshot", "live",
    "live_interval", "live_failures", "restart_reset", "backoff_max", "main", "gpu_free_memory",
    "log_prefix", "log_format"};
const std::vector<std::string_view> kSupervisordKeys = {
    "logfile", "logfile_maxbytes", "logfile_backups", "loglevel", "pidfile", "umask", "nodaemon",
    "silent", "minfds", "minprocs", "nocleanup", "childlogdir", "user", "directory", "strip_ansi",
    "environment", "identifier",
    // podvisor's own keys (SPEC §3, §7)
    "exit_on_fatal", "require_gpu", "log_prefix", "log_format", "hold_on_fatal"};
const std::vector<std::string_view> kUnixServerKeys = {"file",     "chmod",    "chown",
                                                       "username", "password", "health_auth"};
const std::vector<std::string_view> kInetServerKeys = {"port", "username", "password",
                                                       "health_auth"};
const std::vector<std::string_view> kCtlKeys = {"serverurl", "username", "password", "prompt",
                                                "history_file"};
const std::vector<std::string_view> kIncludeKeys = {"files"};
const std::vector<std::string_view> kGroupKeys = {"programs", "priority"};
const std::vector<std::string_view> kRpcKeys = {"supervisor.rpcinterface_factory"};
const std::vector<std::string_view> kNoKeys = {};

// The program keys single-command mode applies; the rest of the known keys are warned about.
const std::vector<std::string_view> kSingleProgramKeys = {
    "startsecs",     "startretries", "stopsignal",    "stopwaitsecs",  "stopasgroup",
    "killasgroup",   "exitcodes",    "autorestart",   "environment",   "directory",
    "restart_reset", "backoff_max",  "ready",         "ready_timeout", "ready_interval",
    "ready_status",  "live",         "live_interval", "live_failures"};
const std::vector<std::string_view> kSingleSupervisordKeys = {"loglevel", "environment"};

bool contains(const std::vector<std::string_view>& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string section_name(std::string_view env_part) {
  std::string out;
  for (size_t i = 0; i < env_part.size(); ++i) {
    if (env_part[i] == '_' && i + 1 < env_part.size() && env_part[i + 1] == '_') {
      out += ':';
      ++i;
    } else {
      out += env_part[i];
    }
  }
  return to_lower(out);
}

}  // namespace

const std::vector<std::string_view>& known_keys(std::string_view section) {
  const auto type = section.substr(0, section.find(':'));
  if (type == "program" || type == "eventlistener" || type == "fcgi-program") return kProgramKeys;
  if (type == "supervisord") return kSupervisordKeys;
  if (type == "unix_http_server") return kUnixServerKeys;
  if (type == "inet_http_server") return kInetServerKeys;
  if (type == "supervisorctl") return kCtlKeys;
  if (type == "include") return kIncludeKeys;
  if (type == "group") return kGroupKeys;
  if (type == "rpcinterface") return kRpcKeys;
  return kNoKeys;
}

std::optional<EnvOverride> parse_override(std::string_view variable, std::string_view value) {
  constexpr std::string_view kPrefix = "SUPERVISOR_";
  if (!variable.starts_with(kPrefix)) return std::nullopt;
  // SUPERVISOR_ENABLED etc. are what podvisor itself sets for children, not overrides.
  if (variable == "SUPERVISOR_ENABLED" || variable == "SUPERVISOR_PROCESS_NAME" ||
      variable == "SUPERVISOR_GROUP_NAME" || variable == "SUPERVISOR_SERVER_URL") {
    return std::nullopt;
  }
  const auto rest = to_lower(variable.substr(kPrefix.size()));
  EnvOverride best{std::string(variable), "", "", std::string(value)};
  // The longest known key that leaves a section of the right type wins.
  for (size_t pos = rest.find('_'); pos != std::string::npos; pos = rest.find('_', pos + 1)) {
    if (pos == 0 || rest[pos - 1] == '_') continue;
    const auto section = section_name(std::string_view(rest).substr(0, pos));
    const auto key = rest.substr(pos + 1);
    if (contains(known_keys(section), key) && key.size() > best.key.size()) {
      best.section = section;
      best.key = key;
    }
  }
  return best;
}

SupervisorSpec single_command_spec(const CommandLine& cli, const std::vector<std::string>& environ,
                                   std::vector<std::string>& warnings) {
  SupervisorSpec spec;
  spec.exit_on_fatal = true;
  spec.unix_server.emplace();
  spec.unix_server->file = kDefaultSocket;
  ProgramSpec program;
  program.name = "app";
  program.argv = cli.argv;
  program.autorestart = Autorestart::kTrue;
  program.stopasgroup = true;
  program.killasgroup = true;
  program.count_every_exit = true;
  program.main = true;
  program.group = program.program = program.name;
  program.stdout_log.target = LogTarget::kStdout;
  program.stderr_log.target = LogTarget::kStderr;
  program.log_prefix = false;

  // Applies one value, turning a parse failure into a message that names its source.
  auto apply = [](std::string_view source, std::string_view value, auto&& set) {
    try {
      set(value);
    } catch (const ValueError& e) {
      throw EnvError(fmt::format("invalid {}={}: {}", source, value, e.what()));
    }
  };

  std::vector<EnvOverride> overrides;
  std::optional<std::string> log_level_env, recovery_env, retries_env;
  for (const auto& entry : environ) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string_view name(entry.data(), eq);
    const std::string_view value = std::string_view(entry).substr(eq + 1);
    if (name == "LOG_LEVEL") log_level_env = value;
    if (name == "PROCESS_AUTO_RECOVERY") recovery_env = value;
    if (name == "PROCESS_MAX_START_RETRIES") retries_env = value;
    if (auto o = parse_override(name, value)) overrides.push_back(std::move(*o));
  }

  bool recovery = true;
  if (recovery_env) {
    apply("PROCESS_AUTO_RECOVERY", *recovery_env, [&](auto v) { recovery = parse_bool(v); });
  }
  if (cli.recovery) recovery = *cli.recovery;
  program.autorestart = recovery ? Autorestart::kTrue : Autorestart::kFalse;
  if (retries_env) {
    apply("PROCESS_MAX_START_RETRIES", *retries_env,
          [&](auto v) { program.startretries = static_cast<int>(parse_int(v, 0, 100)); });
  }
  if (cli.max_retries) {
    apply("--max-retries", *cli.max_retries,
          [&](auto v) { program.startretries = static_cast<int>(parse_int(v, 0, 100)); });
  }
  if (log_level_env) {
    apply("LOG_LEVEL", *log_level_env, [&](auto v) { spec.loglevel = parse_loglevel(v); });
  }

  // SUPERVISOR_* overrides are the most specific setting and win over PROCESS_* and LOG_LEVEL.
  bool stopasgroup_set = false, killasgroup_set = false;
  for (const auto& o : overrides) {
    const auto& key = o.key;
    auto set = [&](auto&& fn) { apply(o.variable, o.value, fn); };
    if (o.section == "program:app" && contains(kSingleProgramKeys, key)) {
      if (key == "startsecs") set([&](auto v) { program.startsecs = parse_seconds(v, 86400); });
      if (key == "startretries") {
        set([&](auto v) { program.startretries = static_cast<int>(parse_int(v, 0, 100)); });
      }
      if (key == "stopsignal") set([&](auto v) { program.stopsignal = parse_signal(v); });
      if (key == "stopwaitsecs") {
        set([&](auto v) { program.stopwaitsecs = parse_seconds(v, 86400); });
      }
      if (key == "stopasgroup") {
        set([&](auto v) { program.stopasgroup = parse_bool(v); });
        stopasgroup_set = true;
      }
      if (key == "killasgroup") {
        set([&](auto v) { program.killasgroup = parse_bool(v); });
        killasgroup_set = true;
      }
      if (key == "exitcodes") set([&](auto v) { program.exitcodes = parse_exitcodes(v); });
      if (key == "autorestart") set([&](auto v) { program.autorestart = parse_autorestart(v); });
      if (key == "environment") set([&](auto v) { program.environment = parse_environment(v); });
      if (key == "directory") set([&](auto v) { program.directory = std::string(v); });
      if (key == "restart_reset") {
        set([&](auto v) { program.restart_reset = parse_seconds(v, 86400 * 365); });
      }
      if (key == "backoff_max") set([&](auto v) { program.backoff_max = parse_seconds(v, 86400); });
      set([&](auto v) { apply_probe_key(program, key, v); });
    } else if (o.section == "unix_http_server" || o.section == "inet_http_server") {
      const bool inet = o.section == "inet_http_server";
      auto& server = inet ? spec.inet_server : spec.unix_server;
      if (!server) server.emplace();
      set([&](auto v) { apply_server_key(*server, inet, key, v); });
    } else if (o.section == "supervisord" && contains(kSingleSupervisordKeys, key)) {
      if (key == "loglevel") set([&](auto v) { spec.loglevel = parse_loglevel(v); });
      if (key == "environment") set([&](auto v) { spec.environment = parse_environment(v); });
    } else if (o.section.empty()) {
      warnings.push_back(
          fmt::format("{}: unknown setting (no known section and key), ignored", o.variable));
    } else if (o.section.starts_with("program:") && o.section != "program:app") {
      warnings.push_back(
          fmt::format("{}: no program '{}' in single-command mode (the command is 'app'), ignored",
                      o.variable, o.section.substr(8)));
    } else {
      warnings.push_back(fmt::format("{}: [{}] {} is not used in single-command mode, ignored",
                                     o.variable, o.section, o.key));
    }
  }
  if (cli.log_level) {
    apply("--log-level", *cli.log_level, [&](auto v) { spec.loglevel = parse_loglevel(v); });
  }
  if (program.stopasgroup && !program.killasgroup) {
    throw EnvError(fmt::format(
        "invalid {}: stopasgroup=true needs killasgroup=true (a stopped group must also be "
        "killable)",
        killasgroup_set ? "SUPERVISOR_PROGRAM__APP_KILLASGROUP=false"
                        : (stopasgroup_set ? "SUPERVISOR_PROGRAM__APP_STOPASGROUP" : "setting")));
  }
  // SUPERVISOR_UNIX_HTTP_SERVER_FILE= (empty) or =none: no control socket.
  if (spec.unix_server && (spec.unix_server->file.empty() || spec.unix_server->file == "none")) {
    spec.unix_server.reset();
  }
  if (spec.inet_server && spec.inet_server->port == 0) {
    throw EnvError(
        "SUPERVISOR_INET_HTTP_SERVER_*: the TCP control server needs "
        "SUPERVISOR_INET_HTTP_SERVER_PORT");
  }
  spec.programs.push_back(std::move(program));
  return spec;
}

}  // namespace podvisor::config
