#include "modes/config_mode.h"

#include <fmt/format.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <iostream>

#include "config/keys.h"
#include "config/loader.h"
#include "os/users.h"
#include "output/log.h"
#include "runtime/runtime.h"

extern char** environ;

namespace podvisor::modes {
namespace {

constexpr int kConfigError = 2;

std::string binary_dir(const char* argv0) {
  char path[PATH_MAX];
  const auto n = readlink("/proc/self/exe", path, sizeof path - 1);
  std::string exe = n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string(argv0);
  const auto slash = exe.rfind('/');
  return slash == std::string::npos ? "." : exe.substr(0, slash);
}

// supervisord's flags as environment-style overrides of [supervisord], so they go through
// the same validation (and error messages) as the file.
std::vector<std::string> with_flags(std::vector<std::string> env, const SupervisordFlags& f) {
  auto add = [&](const char* key, const std::optional<std::string>& v) {
    if (v) env.push_back(fmt::format("SUPERVISOR_SUPERVISORD_{}={}", key, *v));
  };
  add("LOGFILE", f.logfile);
  add("LOGLEVEL", f.loglevel);
  add("USER", f.user);
  add("DIRECTORY", f.directory);
  add("IDENTIFIER", f.identifier);
  add("CHILDLOGDIR", f.childlogdir);
  add("MINFDS", f.minfds);
  if (f.nocleanup) add("NOCLEANUP", std::optional<std::string>(*f.nocleanup ? "true" : "false"));
  if (f.strip_ansi) add("STRIP_ANSI", std::optional<std::string>("true"));
  return env;
}

std::optional<config::SupervisorSpec> load(std::string& path, const SupervisordFlags& flags,
                                           const char* argv0, std::vector<std::string>& warnings) {
  if (path.empty()) {
    const auto found = config::find_default_config(binary_dir(argv0));
    if (!found) {
      std::cerr << "podvisor: no command given and no supervisord.conf found (looked in "
                   "../etc/supervisord.conf and ../supervisord.conf beside the binary, "
                   "./supervisord.conf, ./etc/supervisord.conf, /etc/supervisord.conf, "
                   "/etc/supervisor/supervisord.conf); try podvisor --help\n";
      return std::nullopt;
    }
    path = *found;
  }
  try {
    return config::load_config(path, environment_strings(), warnings, with_flags({}, flags));
  } catch (const config::ConfigError& e) {
    std::cerr << "podvisor: " << e.what() << "\n";
    return std::nullopt;
  }
}

// [supervisord] directory, umask and user apply to podvisor itself, as in supervisord.
bool apply_process_settings(const config::SupervisorSpec& spec) {
  ::umask(static_cast<mode_t>(spec.umask));
  // minfds: raise the open-file limit as supervisord does, or refuse to start.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < static_cast<rlim_t>(spec.minfds)) {
    rlimit wanted{static_cast<rlim_t>(spec.minfds),
                  std::max(files.rlim_max, static_cast<rlim_t>(spec.minfds))};
    if (setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
      std::cerr << fmt::format(
          "podvisor: minfds={} needs that many open files, but the limit is {} and cannot be "
          "raised: {}\n",
          spec.minfds, files.rlim_max, std::strerror(errno));
      return false;
    }
  }
  if (!spec.nocleanup) {
    // supervisord removes the AUTO logs of earlier runs at start, unless nocleanup.
    glob_t old{};
    const auto pattern = fmt::format("{}/*---{}-*.log", spec.childlogdir, spec.identifier);
    if (glob(pattern.c_str(), 0, nullptr, &old) == 0) {
      for (size_t i = 0; i < old.gl_pathc; ++i) ::unlink(old.gl_pathv[i]);
    }
    globfree(&old);
  }
  if (!spec.directory.empty() && chdir(spec.directory.c_str()) != 0) {
    std::cerr << fmt::format("podvisor: [supervisord] directory {}: {}\n", spec.directory,
                             std::strerror(errno));
    return false;
  }
  if (!spec.user.empty()) {
    const auto user = os::find_user(spec.user);
    if (!user || setgroups(user->groups.size(), user->groups.data()) != 0 ||
        setgid(user->gid) != 0 || setuid(user->uid) != 0) {
      std::cerr << fmt::format("podvisor: cannot switch to user {}: {}\n", spec.user,
                               user ? std::strerror(errno) : "no such user");
      return false;
    }
  }
  return true;
}

void print_program(const config::ProgramSpec& p) {
  std::string block =
      fmt::format("[program:{}]  ; from {}\ngroup = {}\n", p.name, p.where, p.group);
  for (const auto& key : config::all_keys()) {
    if (!key.print) continue;
    if (const auto text = key.print(p)) block += fmt::format("{} = {}\n", key.name, *text);
  }
  fmt::print("{}\n", block);
}

}  // namespace

std::vector<std::string> environment_strings() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

int run_config_file(std::string path, const SupervisordFlags& flags, const char* argv0) {
  std::vector<std::string> warnings;
  auto spec = load(path, flags, argv0, warnings);
  if (!spec) return kConfigError;
  output::Logger log(STDERR_FILENO, spec->loglevel);
  for (const auto& w : warnings) log.log(config::LogLevel::kWarn, w);
  if (!apply_process_settings(*spec)) return kConfigError;
  log.log(config::LogLevel::kInfo, fmt::format("read config {}", spec->config_file));
  runtime::RuntimeOptions options;
  options.reload = [path = spec->config_file, flags, &log] {
    std::vector<std::string> reload_warnings;
    auto next =
        config::load_config(path, environment_strings(), reload_warnings, with_flags({}, flags));
    for (const auto& w : reload_warnings) log.log(config::LogLevel::kWarn, w);
    return next;
  };
  return runtime::run_supervisor(std::move(*spec), options, log);
}

int check_main(int argc, char** argv) {
  CLI::App app{
      "Checks a supervisord.conf as podvisor reads it: errors as file:line: message\n"
      "(exit 2), warnings for unknown sections and keys, and with --print the\n"
      "effective programs after interpolation.",
      "podvisor check"};
  std::string path;
  bool print = false;
  app.add_option("-c,--configuration", path, "the file; default: where supervisord looks");
  app.add_flag("--print", print, "print the effective programs");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kConfigError;
  }
  std::vector<std::string> warnings;
  const auto spec = load(path, {}, argv[0], warnings);
  if (!spec) return kConfigError;
  if (spec->inet_server && config::exposed_without_credentials(*spec->inet_server)) {
    warnings.push_back(
        "[inet_http_server] allow_unauthenticated=true: the TCP control server takes commands "
        "from anyone who can reach it");
  }
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  if (print) {
    for (const auto& p : spec->programs) print_program(p);
  }
  std::cerr << fmt::format("{}: ok, {} program(s), {} warning(s)\n", spec->config_file,
                           spec->programs.size(), warnings.size());
  return 0;
}

int supervisord_main(int argc, char** argv) {
  CLI::App app{
      "podvisor answering as supervisord: runs a supervisord.conf in the foreground\n"
      "(-n is implied: podvisor never daemonizes).",
      "supervisord"};
  std::string path;
  SupervisordFlags f;
  bool ignored = false;
  std::string ignored_text;
  auto opt = [&](const char* names, std::optional<std::string>& target, const char* help) {
    app.add_option_function<std::string>(
        names, [&target](const std::string& v) { target = v; }, help);
  };
  app.add_option("-c,--configuration", path, "configuration file");
  app.add_flag("-n,--nodaemon", ignored, "run in the foreground (always true)");
  app.add_flag("-s,--silent", ignored, "accepted for compatibility");
  app.add_flag_function(
      "-t,--strip_ansi", [&](std::int64_t) { f.strip_ansi = true; },
      "strip ANSI escape sequences from the programs' log output");
  opt("-u,--user", f.user, "run as this user");
  opt("-d,--directory", f.directory, "directory to chdir to");
  opt("-l,--logfile", f.logfile, "supervisord's own log file");
  opt("-e,--loglevel", f.loglevel, "log level");
  opt("-i,--identifier", f.identifier, "identifier");
  opt("-q,--childlogdir", f.childlogdir, "directory for AUTO child logs");
  opt("-a,--minfds", f.minfds, "minimum file descriptors");
  app.add_option("-j,--pidfile", ignored_text, "accepted for compatibility (no pid file)");
  app.add_option("-y,--minprocs", ignored_text, "accepted for compatibility");
  app.add_flag_function(
      "-k,--nocleanup", [&](std::int64_t) { f.nocleanup = true; }, "keep AUTO child logs");
  app.set_version_flag("-v,--version", "4.2.5");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kConfigError;
  }
  return run_config_file(path, f, argv[0]);
}

}  // namespace podvisor::modes
