#include "modes/requirements.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "config/command.h"
#include "config/values.h"
#include "os/spawn.h"

namespace podvisor::modes {
namespace {

using config::LogLevel;

constexpr const char* kDefaultModelPath = "/opt/ml/model";
constexpr int kInstallFailed = 1;

bool is_kind(const std::string& path, mode_t kind) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == kind;
}

std::optional<std::string> on_path(const std::string& name, const std::vector<std::string>& env) {
  int error = 0;
  return os::find_executable(name, os::search_path(env), error);
}

// MHCS: the launch command's own python when it starts with one (python, python3,
// python3.12, /venv/bin/python), so packages land where the app imports them; else the
// python that runs standard-supervisor, which for podvisor is python3 on PATH.
std::optional<std::string> target_python(const std::vector<std::string>& launch,
                                         const std::vector<std::string>& env) {
  if (!launch.empty()) {
    const auto& first = launch.front();
    const auto slash = first.rfind('/');
    const std::string_view base = slash == std::string::npos
                                      ? std::string_view(first)
                                      : std::string_view(first).substr(slash + 1);
    if (base == "python" || base.starts_with("python3")) {
      if (auto found = on_path(first, env)) return found;
    }
  }
  return on_path("python3", env);
}

}  // namespace

std::optional<std::vector<std::string>> install_command(const std::vector<std::string>& launch,
                                                        const std::vector<std::string>& env,
                                                        const output::Logger& log) {
  const auto enabled =
      config::to_lower(os::env_value(env, "STANDARD_AUTO_INSTALL_REQ").value_or("true"));
  if (enabled != "true" && enabled != "1" && enabled != "yes" && enabled != "on") {
    log.log(LogLevel::kInfo, "Automatic requirements installation disabled");
    return std::nullopt;
  }
  std::vector<std::string> args;
  const std::string pip_args(os::env_value(env, "STANDARD_PIP_ARGS").value_or(""));
  if (!pip_args.empty()) {
    // The user's arguments replace the discovery entirely (no -r, no --find-links).
    try {
      args = config::split_command(pip_args);
    } catch (const config::ValueError& e) {
      throw std::runtime_error(fmt::format("Invalid STANDARD_PIP_ARGS: {}", e.what()));
    }
    log.log(LogLevel::kInfo, "Installing dependencies from explicit pip args...");
  } else {
    std::string model(os::env_value(env, "SAGEMAKER_MODEL_PATH").value_or(""));
    if (model.empty()) model = kDefaultModelPath;
    const auto requirements = model + "/requirements.txt";
    if (!is_kind(requirements, S_IFREG)) {
      log.log(LogLevel::kDebug, fmt::format("No requirements.txt found in {}", model));
      return std::nullopt;
    }
    args = {"-r", requirements};
    // A requirements/ folder beside it serves offline installs.
    if (const auto local = model + "/requirements"; is_kind(local, S_IFDIR)) {
      args.insert(args.end(), {"--find-links", local});
      log.log(LogLevel::kInfo, fmt::format("Using local packages directory: {}", local));
    }
    log.log(LogLevel::kInfo, fmt::format("Installing dependencies from {} ...", requirements));
  }
  const auto python = target_python(launch, env);
  if (!python) {
    throw std::runtime_error(
        "no python to install the requirements into: the command does not start with a python "
        "and there is no python3 on PATH");
  }
  std::vector<std::string> command;
  if (on_path("uv", env)) {
    command = {"uv", "pip", "install", "--python", *python};
  } else {
    command = {*python, "-m", "pip", "install"};
  }
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

int install_requirements(const std::vector<std::string>& launch,
                         const std::vector<std::string>& env, const output::Logger& log) {
  std::optional<std::vector<std::string>> command;
  try {
    command = install_command(launch, env, log);
  } catch (const std::runtime_error& e) {
    log.log(LogLevel::kError, e.what());
    log.log(LogLevel::kError, "Dependency installation failed, aborting startup");
    return kInstallFailed;
  }
  if (!command) return 0;
  log.log(LogLevel::kInfo, fmt::format("running: {}", fmt::join(*command, " ")));

  // A stop request during a long install is forwarded to the installer, and the start ends
  // there: as PID 1 an unhandled SIGTERM would be dropped and `docker stop` would wait.
  sigset_t wanted;
  sigemptyset(&wanted);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP}) sigaddset(&wanted, s);
  if (sigprocmask(SIG_BLOCK, &wanted, nullptr) != 0) {
    log.log(LogLevel::kError, fmt::format("sigprocmask: {}", std::strerror(errno)));
    return kInstallFailed;
  }
  os::SpawnRequest request;
  request.argv = *command;
  request.env = env;
  const auto spawned = os::spawn(request);
  if (spawned.pid < 0 || spawned.error != 0) {
    log.log(LogLevel::kError,
            fmt::format("Dependency installation failed: cannot run {}", spawned.message));
    log.log(LogLevel::kError, "Dependency installation failed, aborting startup");
    if (spawned.pid > 0) (void)waitpid(spawned.pid, nullptr, 0);
    return kInstallFailed;
  }
  int stop_signal = 0;
  int status = 0;
  for (bool done = false; !done;) {
    siginfo_t info{};
    if (sigwaitinfo(&wanted, &info) < 0) {
      if (errno == EINTR) continue;
      log.log(LogLevel::kError, fmt::format("sigwaitinfo: {}", std::strerror(errno)));
      (void)kill(-spawned.pid, SIGKILL);
      (void)waitpid(spawned.pid, &status, 0);
      return kInstallFailed;
    }
    if (info.si_signo != SIGCHLD) {
      if (info.si_signo != SIGHUP) stop_signal = info.si_signo;
      (void)kill(-spawned.pid, info.si_signo);  // its own process group: pip's children too
      continue;
    }
    // Reap every child that ended (as PID 1, orphans too) until the installer is among them.
    for (pid_t pid; (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
      if (pid == spawned.pid) {
        done = true;
        break;
      }
    }
  }
  if (stop_signal != 0) {
    log.log(LogLevel::kWarn, fmt::format("stopped by {} during the dependency installation",
                                         config::signal_name(stop_signal)));
    return 128 + stop_signal;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    log.log(LogLevel::kInfo, "Dependency installation completed successfully");
    return 0;
  }
  log.log(LogLevel::kError,
          WIFEXITED(status)
              ? fmt::format("Dependency installation failed (exit {})", WEXITSTATUS(status))
              : fmt::format("Dependency installation failed (killed by {})",
                            config::signal_name(WTERMSIG(status))));
  log.log(LogLevel::kError, "Dependency installation failed, aborting startup");
  return kInstallFailed;
}

}  // namespace podvisor::modes
