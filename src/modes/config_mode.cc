#include "modes/config_mode.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "config/env.h"
#include "config/keys.h"
#include "config/loader.h"
#include "os/users.h"
#include "output/log.h"
#include "pod/ssh_program.h"
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
// the same validation (and error messages) as the file; PODVISOR_{KEY} variables (beneath the
// flags, above the file) too.
std::vector<std::string> flag_overrides(const SupervisordFlags& f) {
  std::vector<std::string> env;
  for (const auto& entry : environment_strings()) {
    const auto eq = entry.find('=');
    if (entry.starts_with("PODVISOR_") && eq != std::string::npos &&
        config::parse_override(std::string_view(entry).substr(0, eq),
                               std::string_view(entry).substr(eq + 1))) {
      env.push_back(entry);
    }
  }
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
  add("PIDFILE", f.pidfile);
  if (f.nocleanup) add("NOCLEANUP", std::optional<std::string>(*f.nocleanup ? "true" : "false"));
  if (f.strip_ansi) add("STRIP_ANSI", std::optional<std::string>("true"));
  if (f.hold_on_fatal) env.push_back("SUPERVISOR_PODVISOR_HOLD_ON_FATAL=true");
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
    return config::load_config(path, environment_strings(), warnings, flag_overrides(flags));
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

// Why podvisor stays in the foreground although the file asks for a daemon: the daemon's
// parent exits, and where that parent is the container's main process, the container ends.
std::optional<std::string> foreground_reason() {
  if (getpid() == 1) return "podvisor is PID 1, and a daemon's parent exits (ending the container)";
  const pid_t parent = getppid();
  if (parent == 0) {
    return "podvisor's parent is outside its PID namespace (podvisor is the container's main "
           "process), and a daemon's parent exits";
  }
  if (parent != 1) return std::nullopt;
  // An init that only runs its one child (docker run --init) ends the container with it.
  std::ifstream in("/proc/1/comm");
  std::string init;
  if (!std::getline(in, init)) return std::nullopt;
  for (const auto* name : {"tini", "docker-init", "dumb-init", "catatonit"}) {
    if (init == name) {
      return fmt::format(
          "its parent is {} (PID 1), which ends the container when podvisor's "
          "first process exits",
          init);
    }
  }
  return std::nullopt;
}

// supervisord's daemonize: fork, the parent exits 0, the child leads a new session with
// stdio on /dev/null (umask and directory are already applied). Unlike supervisord's, the
// parent waits until the daemon listens and has written its pidfile, and exits with the
// daemon's status when it dies first. Returns the parent's exit status; nullopt in the
// daemon, with `ready_fd` to close once ready.
std::optional<int> daemonize(int& ready_fd, const std::string& logfile, output::Logger& log) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::cerr << fmt::format("podvisor: cannot daemonize: pipe: {}\n", std::strerror(errno));
    return kConfigError;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    std::cerr << fmt::format("podvisor: cannot daemonize: fork: {}\n", std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    return kConfigError;
  }
  if (pid > 0) {
    ::close(fds[1]);
    char byte = 0;
    ssize_t n;
    do {
      n = ::read(fds[0], &byte, 1);
    } while (n < 0 && errno == EINTR);
    ::close(fds[0]);
    if (n == 1) {
      log.log(config::LogLevel::kDebug, "supervisord forked; parent exiting");
      return 0;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    std::cerr << fmt::format(
        "podvisor: the daemon ended with status {} before it was ready; its log: {}\n", code,
        logfile.empty() ? "none (set [supervisord] logfile, or run with -n)" : logfile);
    return code;
  }
  ::close(fds[0]);
  ready_fd = fds[1];
  // A fresh child is never a group leader, so setsid cannot fail; /dev/null always opens.
  (void)setsid();
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int fd = 0; fd < 3; ++fd) (void)dup2(null, fd);  // dup2 clears close-on-exec
    if (null > 2) ::close(null);
  }
  return std::nullopt;
}

void tell_parent_ready(int& ready_fd, const output::Logger& log) {
  if (ready_fd < 0) return;
  if (::write(ready_fd, "1", 1) != 1) {
    log.log(config::LogLevel::kWarn,
            fmt::format("cannot tell the parent the daemon is ready: {}", std::strerror(errno)));
  }
  ::close(ready_fd);
  ready_fd = -1;
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

void log_ssh(const pod::SshMessages& messages, output::Logger& log) {
  for (const auto& w : messages.warnings) log.log(config::LogLevel::kWarn, w);
  for (const auto& i : messages.info) log.log(config::LogLevel::kInfo, i);
}

int run_config_file(std::string path, const SupervisordFlags& flags, const char* argv0) {
  // A daemon that supervisorctl restarted (re-exec) is still the daemon: no second fork.
  const bool reexecuted = std::getenv(runtime::kDaemonizedVariable) != nullptr;
  if (reexecuted && ::unsetenv(runtime::kDaemonizedVariable) != 0) return kConfigError;
  std::vector<std::string> warnings;
  auto spec = load(path, flags, argv0, warnings);
  if (!spec) return kConfigError;
  output::Logger log(STDERR_FILENO, spec->loglevel);
  for (const auto& w : warnings) log.log(config::LogLevel::kWarn, w);
  if (!apply_process_settings(*spec)) return kConfigError;
  const auto self = pod::self_executable();
  log_ssh(pod::add_ssh_program(*spec, environment_strings(), flags.ssh, self), log);
  runtime::RuntimeOptions options;
  options.notes.push_back(fmt::format("read config {}", spec->config_file));
  options.daemonized = reexecuted;
  int ready_fd = -1;
  if (!reexecuted && !flags.nodaemon && !spec->nodaemon) {
    if (const auto why = foreground_reason()) {
      log.log(config::LogLevel::kInfo,
              fmt::format("not daemonizing: {}; staying in the foreground", *why));
    } else {
      if (const auto parent_status = daemonize(ready_fd, spec->logfile, log)) return *parent_status;
      options.daemonized = true;
      options.notes.push_back("daemonizing the supervisord process");
      if (!spec->directory.empty()) {
        options.notes.push_back(fmt::format("set current directory: '{}'", spec->directory));
      }
      options.ready = [&ready_fd, &log] { tell_parent_ready(ready_fd, log); };
    }
  }
  options.reload = [path = spec->config_file, flags, &log, self] {
    std::vector<std::string> reload_warnings;
    auto next =
        config::load_config(path, environment_strings(), reload_warnings, flag_overrides(flags));
    for (const auto& w : reload_warnings) log.log(config::LogLevel::kWarn, w);
    // The same sshd again, so a reload does not see it as removed; said once, at start.
    (void)pod::add_ssh_program(next, environment_strings(), flags.ssh, self);
    return next;
  };
  const int status = runtime::run_supervisor(std::move(*spec), options, log);
  if (ready_fd >= 0) ::close(ready_fd);  // never ready: the parent reports the status
  return status;
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
    // podvisor's own settings, when they differ from supervisord's behaviour.
    if (spec->hold_on_fatal) {
      fmt::print("[podvisor]\nhold_on_fatal = true\nhold_log_interval = {}\n\n",
                 spec->hold_log_interval.count());
    }
    for (const auto& p : spec->programs) print_program(p);
  }
  std::cerr << fmt::format("{}: ok, {} program(s), {} warning(s)\n", spec->config_file,
                           spec->programs.size(), warnings.size());
  return 0;
}

int supervisord_main(int argc, char** argv) {
  CLI::App app{
      "podvisor answering as supervisord: runs a supervisord.conf; without -n (or\n"
      "nodaemon=true) it daemonizes as supervisord does, except as PID 1 or under an init\n"
      "such as tini, where that would end the container.",
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
  app.add_flag("-n,--nodaemon", f.nodaemon, "run in the foreground");
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
  opt("-j,--pidfile", f.pidfile, "write podvisor's pid to this file");
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
