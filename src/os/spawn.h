// fork/exec of a supervised program: own process group, optional terminal handover, fds
// >= 3 closed, signals reset; exec failures come back over a close-on-exec pipe, read at
// once or, for many spawns in a row, later on the event loop.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podvisor::os {

struct SpawnRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string directory;         // "" keeps podvisor's
  int stdin_fd = -1;             // -1 inherits podvisor's (an event listener's is a pipe)
  int stdout_fd = -1;            // -1 inherits podvisor's
  int stderr_fd = -1;
  bool take_terminal = false;  // become the foreground process group of stdin's terminal
  int umask = -1;              // -1 keeps podvisor's
  // Drop to this user (podvisor must be root): supplementary groups, gid, then uid.
  std::optional<uid_t> uid;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

struct SpawnResult {
  pid_t pid = -1;
  int error = 0;                  // errno of the failing step
  std::string message;            // "vllm: No such file or directory"
  bool command_unusable = false;  // not found or not executable: retrying will not help
  int exec_report = -1;           // without wait_exec: readable once the child has exec'd
  // supervisord's words when a check before the fork failed ("can't find command 'x'").
  std::string spawnerr = "";
  // Forked, but the child could not exec (reaped here): supervisord reports such a child as
  // spawned, then exited with status 127.
  pid_t failed_child = 0;
};

// Forks and execs. With `wait_exec` it returns once the child has exec'd (or failed to);
// without, at once, with `exec_report` open: see read_exec_report.
SpawnResult spawn(const SpawnRequest& request, bool wait_exec = true);

// What a child that could not exec sends back: the failing step and its errno.
struct ExecFailure {
  int step = 0;
  int error = 0;
};
enum class ExecReport { kPending, kExecuted, kFailed };
// Reads a spawn's exec report (non-blocking): kExecuted once the child has exec'd (or died
// before reporting), kFailed with `failure` filled. The caller closes the fd.
ExecReport read_exec_report(int fd, ExecFailure& failure);
// The result of a spawn whose child reported `failure` (message, command_unusable).
SpawnResult failed_spawn(const ExecFailure& failure, const std::string& command,
                         const std::string& directory);

// PATH lookup as execvp does it, in the parent so the error can be precise. Returns the
// path, or the errno (ENOENT, EACCES) in `error`.
std::optional<std::string> find_executable(const std::string& name, const std::string& path,
                                           int& error);

// NAME's value in a list of "NAME=VALUE" strings (the last one wins), as a child would see it.
std::optional<std::string_view> env_value(const std::vector<std::string>& env,
                                          std::string_view name);
// Where a command without a '/' is looked for: the list's PATH, else the usual default.
std::string search_path(const std::vector<std::string>& env);

// environ as "KEY=VALUE" strings, with overrides applied in order (later wins).
std::vector<std::string> build_environment(
    const std::vector<std::map<std::string, std::string>>& layers);

}  // namespace podvisor::os
