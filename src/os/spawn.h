// fork/exec of a supervised program: own process group, optional terminal handover, fds
// >= 3 closed, signals reset; exec failures come back over a close-on-exec pipe.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace podvisor::os {

struct SpawnRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string directory;         // "" keeps podvisor's
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
};

SpawnResult spawn(const SpawnRequest& request);

// PATH lookup as execvp does it, in the parent so the error can be precise. Returns the
// path, or the errno (ENOENT, EACCES) in `error`.
std::optional<std::string> find_executable(const std::string& name, const std::string& path,
                                           int& error);

// environ as "KEY=VALUE" strings, with overrides applied in order (later wins).
std::vector<std::string> build_environment(
    const std::vector<std::map<std::string, std::string>>& layers);

}  // namespace podvisor::os
