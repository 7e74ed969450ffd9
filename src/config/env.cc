#include "config/env.h"

#include <fmt/format.h>

#include "config/keys.h"
#include "os/spawn.h"

namespace podvisor::config {
namespace {

// standard-supervisor's retry limit, whichever way single-command mode is given it
// (PROCESS_MAX_START_RETRIES, --max-retries, [program:app] startretries): 0-100.
int parse_max_retries(std::string_view v) { return static_cast<int>(parse_int(v, 0, 100)); }

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

// [supervisord] keys single-command mode applies beyond the table's: MHCS's
// SUPERVISOR_SUPERVISORD_LOGFILE writes the main log to a file there too.
bool single_command_supervisord_key(std::string_view key) {
  return key == "logfile" || key == "logfile_maxbytes" || key == "logfile_backups";
}

// podvisor's own keys that a variable PODVISOR_{KEY} sets too (PODVISOR_HOLD_ON_FATAL=1):
// a platform's template sets a variable more easily than a file or a command line.
constexpr std::string_view kPodvisorVariables[] = {"hold_on_fatal", "hold_log_interval",
                                                   "require_gpu"};

}  // namespace

bool auto_recovery(const std::vector<std::string>& environ) {
  const auto value = os::env_value(environ, "PROCESS_AUTO_RECOVERY");
  if (!value) return true;
  if (value->empty()) return false;
  try {
    return parse_bool(*value);
  } catch (const ValueError& e) {
    throw EnvError(fmt::format("invalid PROCESS_AUTO_RECOVERY={}: {}", *value, e.what()));
  }
}

std::optional<EnvOverride> parse_override(std::string_view variable, std::string_view value) {
  constexpr std::string_view kOwnPrefix = "PODVISOR_";
  if (variable.starts_with(kOwnPrefix)) {
    const auto key = to_lower(variable.substr(kOwnPrefix.size()));
    for (const auto known : kPodvisorVariables) {
      if (key == known)
        return EnvOverride{std::string(variable), "podvisor", key, std::string(value)};
    }
    return std::nullopt;  // PODVISOR_DAEMONIZED and the like are podvisor's own business
  }
  constexpr std::string_view kPrefix = "SUPERVISOR_";
  if (!variable.starts_with(kPrefix)) return std::nullopt;
  // SUPERVISOR_ENABLED etc. are what podvisor itself sets for children, not overrides;
  // SUPERVISOR_CONFIG_PATH says where standard-supervisor writes its supervisord.conf.
  if (variable == "SUPERVISOR_ENABLED" || variable == "SUPERVISOR_PROCESS_NAME" ||
      variable == "SUPERVISOR_GROUP_NAME" || variable == "SUPERVISOR_SERVER_URL" ||
      variable == "SUPERVISOR_CONFIG_PATH") {
    return std::nullopt;
  }
  const auto rest = to_lower(variable.substr(kPrefix.size()));
  EnvOverride best{std::string(variable), "", "", std::string(value)};
  // The longest known key that leaves a section of the right type wins.
  for (size_t pos = rest.find('_'); pos != std::string::npos; pos = rest.find('_', pos + 1)) {
    if (pos == 0 || rest[pos - 1] == '_') continue;
    const auto section = section_name(std::string_view(rest).substr(0, pos));
    const auto key = rest.substr(pos + 1);
    if (find_key(section, key) && key.size() > best.key.size()) {
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
  std::optional<std::string> log_level_env, retries_env;
  for (const auto& entry : environ) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string_view name(entry.data(), eq);
    const std::string_view value = std::string_view(entry).substr(eq + 1);
    if (name == "LOG_LEVEL") log_level_env = value;
    if (name == "PROCESS_MAX_START_RETRIES") retries_env = value;
    if (auto o = parse_override(name, value)) overrides.push_back(std::move(*o));
  }

  bool recovery = auto_recovery(environ);
  if (cli.recovery) recovery = *cli.recovery;
  program.autorestart = recovery ? Autorestart::kTrue : Autorestart::kFalse;
  // Supervised, as MHCS's generated program: only 255 is "expected", so an app that exits 0
  // (vLLM when its engine dies) is a failure to restart, even with autorestart=unexpected.
  // Run once (recovery off), there is no program section in MHCS: a clean exit is expected.
  program.exitcodes = recovery ? std::vector<int>{255} : std::vector<int>{0};
  if (retries_env) {
    apply("PROCESS_MAX_START_RETRIES", *retries_env,
          [&](auto v) { program.startretries = parse_max_retries(v); });
  }
  if (cli.max_retries) {
    apply("--max-retries", *cli.max_retries,
          [&](auto v) { program.startretries = parse_max_retries(v); });
  }
  if (log_level_env) {
    apply("LOG_LEVEL", *log_level_env, [&](auto v) { spec.loglevel = parse_loglevel(v); });
  }

  // SUPERVISOR_* overrides are the most specific setting and win over PROCESS_* and LOG_LEVEL.
  bool stopasgroup_set = false, killasgroup_set = false;
  for (const auto& o : overrides) {
    const auto* key = o.section.empty() ? nullptr : find_key(o.section, o.key);
    auto set = [&](auto&& fn) { apply(o.variable, o.value, fn); };
    if (o.section == "program:app" && key->single_command) {
      set([&](auto v) {
        if (key->name == "startretries") {
          program.startretries = parse_max_retries(v);
        } else {
          key->program(program, v);
        }
      });
      stopasgroup_set |= key->name == "stopasgroup";
      killasgroup_set |= key->name == "killasgroup";
    } else if (key && key->server) {
      const bool inet = o.section == "inet_http_server";
      auto& server = inet ? spec.inet_server : spec.unix_server;
      if (!server) server.emplace();
      set([&](auto v) { key->server(*server, v); });
    } else if ((o.section == "supervisord" || o.section == "podvisor") &&
               (key->single_command || single_command_supervisord_key(key->name))) {
      set([&](auto v) { key->supervisord(spec, v); });
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
  if (cli.hold_on_fatal) spec.hold_on_fatal = true;
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
  if (spec.inet_server) {
    if (auto why = refuse_unauthenticated(*spec.inet_server)) {
      throw EnvError("SUPERVISOR_INET_HTTP_SERVER_PORT: " + *why);
    }
  }
  spec.programs.push_back(std::move(program));
  return spec;
}

}  // namespace podvisor::config
