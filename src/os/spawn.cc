#include "os/spawn.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "os/signals.h"

extern char** environ;

namespace podvisor::os {
namespace {

// How long a spawn waits for the exec report once vfork has returned (see spawn()).
constexpr int kSettleMs = 100;

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

enum Step { kStepChdir = 1, kStepPgid, kStepTerminal, kStepDup, kStepUser, kStepExec };

const char* step_text(int step) {
  switch (step) {
    case kStepChdir:
      return "chdir";
    case kStepPgid:
      return "setpgid";
    case kStepTerminal:
      return "tcsetpgrp";
    case kStepDup:
      return "dup2";
    default:
      return "exec";
  }
}

[[noreturn]] void child_fail(int pipe_fd, int step) {
  const ExecFailure f{step, errno};
  [[maybe_unused]] auto n = ::write(pipe_fd, &f, sizeof f);
  _exit(127);
}

// Marks every fd >= 3 close-on-exec; close_range where the kernel has it (5.11+).
void cloexec_from_3(int max_fd) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) == 0) return;
#endif
  for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

bool is_executable_file(const std::string& path, int& error) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    error = errno;
    return false;
  }
  if (S_ISDIR(st.st_mode) || access(path.c_str(), X_OK) != 0) {
    error = EACCES;
    return false;
  }
  return true;
}

// What the child needs, prepared before the fork: after it, only async-signal-safe calls.
struct ChildPlan {
  const SpawnRequest* request;
  const char* exe;
  char* const* argv;
  char* const* envp;
  const char* dir;  // null keeps podvisor's
  int max_fd;
  int report;  // the exec-report pipe's write end
};

// The child between vfork and exec. Signals stay blocked (inherited) until just before exec,
// so none arrives while the child still runs podvisor's code.
[[noreturn]] void run_child(const ChildPlan& plan) {
  const auto& request = *plan.request;
  if (setpgid(0, 0) != 0) child_fail(plan.report, kStepPgid);
  if (request.take_terminal && tcsetpgrp(STDIN_FILENO, getpid()) != 0) {
    child_fail(plan.report, kStepTerminal);
  }
  if (request.stdin_fd >= 0 && dup2(request.stdin_fd, STDIN_FILENO) < 0) {
    child_fail(plan.report, kStepDup);
  }
  if (request.stdout_fd >= 0 && dup2(request.stdout_fd, STDOUT_FILENO) < 0) {
    child_fail(plan.report, kStepDup);
  }
  if (request.stderr_fd >= 0 && dup2(request.stderr_fd, STDERR_FILENO) < 0) {
    child_fail(plan.report, kStepDup);
  }
  if (request.uid) {
    if (setgroups(request.groups.size(), request.groups.data()) != 0 || setgid(request.gid) != 0 ||
        setuid(*request.uid) != 0) {
      child_fail(plan.report, kStepUser);
    }
  }
  if (request.umask >= 0) ::umask(static_cast<mode_t>(request.umask));
  if (plan.dir && chdir(plan.dir) != 0) child_fail(plan.report, kStepChdir);
  cloexec_from_3(plan.max_fd);
  reset_signals_in_child();
  execve(plan.exe, plan.argv, plan.envp);
  child_fail(plan.report, kStepExec);
}

// vfork in a frame of its own: the child runs on this frame's stack, and the caller's locals
// (strings, vectors) stay out of its reach and out of -Wclobbered's.
[[gnu::noinline]] pid_t vfork_child(const ChildPlan& plan) {
  const pid_t pid = vfork();
  if (pid == 0) run_child(plan);
  return pid;
}

// Python's repr of a str, for the quotes supervisord's messages put around a path.
std::string python_repr(const std::string& text) {
  const char quote =
      text.find('\'') != std::string::npos && text.find('"') == std::string::npos ? '"' : '\'';
  return fmt::format("{}{}{}", quote, text, quote);
}

// supervisord's check_execv_args wording for a command podvisor could not find or run. Its
// lookup takes the first PATH entry where stat() succeeds, even a directory (execvp skips it).
std::string supervisord_spawnerr(const std::string& name, const std::string& path) {
  std::string found;
  struct stat st {};
  if (name.find('/') != std::string::npos) {
    if (stat(name.c_str(), &st) == 0) found = name;
  } else {
    for (size_t start = 0; start <= path.size() && found.empty();) {
      auto end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      const auto candidate = fmt::format("{}/{}", path.substr(start, end - start), name);
      if (stat(candidate.c_str(), &st) == 0) found = candidate;
      start = end + 1;
    }
  }
  if (found.empty()) return fmt::format("can't find command {}", python_repr(name));
  if (S_ISDIR(st.st_mode)) return fmt::format("command at {} is a directory", python_repr(found));
  if ((st.st_mode & 0111) == 0) {
    return fmt::format("command at {} is not executable", python_repr(found));
  }
  return fmt::format("no permission to run command {}", python_repr(found));
}

}  // namespace

std::optional<std::string> find_executable(const std::string& name, const std::string& path,
                                           int& error) {
  error = ENOENT;
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (is_executable_file(name, error)) return name;
    return std::nullopt;
  }
  bool saw_eacces = false;
  size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = end == start ? std::string(".") : path.substr(start, end - start);
    candidate += '/';
    candidate += name;
    int err = 0;
    if (is_executable_file(candidate, err)) return candidate;
    if (err == EACCES) saw_eacces = true;
    start = end + 1;
  }
  error = saw_eacces ? EACCES : ENOENT;
  return std::nullopt;
}

std::optional<std::string_view> env_value(const std::vector<std::string>& env,
                                          std::string_view name) {
  std::optional<std::string_view> value;
  for (const std::string_view entry : env) {
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=') {
      value = entry.substr(name.size() + 1);
    }
  }
  return value;
}

std::string search_path(const std::vector<std::string>& env) {
  return std::string(env_value(env, "PATH").value_or(kDefaultPath));
}

std::vector<std::string> build_environment(
    const std::vector<std::map<std::string, std::string>>& layers) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) merged[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& layer : layers) {
    for (const auto& [k, v] : layer) merged[k] = v;
  }
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [k, v] : merged) out.push_back(k + "=" + v);
  return out;
}

ExecReport read_exec_report(int fd, ExecFailure& failure) {
  ssize_t n;
  do {
    n = ::read(fd, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof failure)) return ExecReport::kFailed;
  if (n < 0 && errno == EAGAIN) return ExecReport::kPending;
  // End of file: the pipe closed on exec. A short read or another error cannot come from a
  // child that writes one small struct; it also means nothing to report.
  return ExecReport::kExecuted;
}

SpawnResult failed_spawn(const ExecFailure& failure, const std::string& command,
                         const std::string& directory) {
  SpawnResult result;
  result.error = failure.error;
  if (failure.step == kStepExec) {
    result.message = fmt::format("{}: {}", command, std::strerror(failure.error));
    result.command_unusable =
        failure.error == ENOENT || failure.error == EACCES || failure.error == ENOEXEC;
  } else if (failure.step == kStepChdir) {
    result.message =
        fmt::format("couldn't chdir to {}: {}", directory, std::strerror(failure.error));
  } else {
    result.message = fmt::format("{}: {}", step_text(failure.step), std::strerror(failure.error));
  }
  return result;
}

SpawnResult spawn(const SpawnRequest& request, bool wait_exec) {
  SpawnResult result;
  if (request.argv.empty()) {
    result.error = EINVAL;
    result.message = "empty command";
    result.spawnerr = "command is empty";
    result.command_unusable = true;
    return result;
  }
  const auto path = search_path(request.env);
  int lookup_error = 0;
  const auto exe = find_executable(request.argv[0], path, lookup_error);
  if (!exe) {
    result.error = lookup_error;
    result.message = fmt::format("{}: {}", request.argv[0], std::strerror(lookup_error));
    result.spawnerr = supervisord_spawnerr(request.argv[0], path);
    result.command_unusable = true;
    return result;
  }

  std::vector<char*> argv, envp;
  argv.reserve(request.argv.size() + 1);
  envp.reserve(request.env.size() + 1);
  for (const auto& a : request.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : request.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const int max_fd = static_cast<int>(sysconf(_SC_OPEN_MAX));

  int report[2];
  if (pipe2(report, O_CLOEXEC | (wait_exec ? 0 : O_NONBLOCK)) != 0) {
    result.error = errno;
    result.message = fmt::format("pipe: {}", std::strerror(errno));
    return result;
  }
  const ChildPlan plan{&request,
                       exe->c_str(),
                       argv.data(),
                       envp.data(),
                       request.directory.empty() ? nullptr : request.directory.c_str(),
                       max_fd,
                       report[1]};
  // vfork: the child borrows podvisor's memory until its exec, so no page tables are copied
  // and no page is copied on write behind it (a thousand spawns of an 8 MiB process). The
  // child only makes system calls on its own stack and writes nothing podvisor reads;
  // podvisor is single-threaded, so setuid() needs no cross-thread broadcast.
  const pid_t pid = vfork_child(plan);
  if (pid < 0) {
    result.error = errno;
    result.message = fmt::format("fork: {}", std::strerror(errno));
    ::close(report[0]);
    ::close(report[1]);
    return result;
  }
  // Parent: also set the group here, so a signal to the group right after spawn reaches it.
  // Its result does not matter: EACCES (the child has exec'd) and ESRCH (it has exited) mean
  // the child's own setpgid came first, and a failure of that one travels back over `report`.
  (void)setpgid(pid, pid);
  ::close(report[1]);
  result.pid = pid;
  ExecFailure failure{};
  // vfork returns once the child's exec is past its point of no return (or the child gave
  // up), but the kernel closes the close-on-exec descriptors a moment later: wait for that
  // moment (microseconds), so programs start in spawn order. One still not settled after
  // kSettleMs is left to the caller's loop.
  auto outcome = read_exec_report(report[0], failure);
  if (outcome == ExecReport::kPending) {
    pollfd pfd{report[0], POLLIN, 0};
    if (::poll(&pfd, 1, kSettleMs) > 0) outcome = read_exec_report(report[0], failure);
  }
  if (outcome == ExecReport::kPending && !wait_exec) {
    result.exec_report = report[0];
    return result;
  }
  ::close(report[0]);
  if (outcome == ExecReport::kFailed) {
    // The child has exited (or is about to): collect it here, so no reaper mistakes it for a
    // program's exit. ECHILD means a reaper was faster, which is harmless.
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    auto failed = failed_spawn(failure, request.argv[0], request.directory);
    failed.failed_child = pid;
    return failed;
  }
  return result;
}

}  // namespace podvisor::os
