// Finding and ending every process below podvisor (orphans adopted through the subreaper,
// grandchildren that called setsid), so nothing outlives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

namespace podvisor::os {

// Every live descendant of `root`, read from /proc (zombies excluded), but for the processes
// in `spared` and everything below them.
std::vector<pid_t> descendants(pid_t root, const std::vector<pid_t>& spared = {});

// Signals each of them; returns how many were signalled.
size_t signal_descendants(pid_t root, int signo, const std::vector<pid_t>& spared = {});

// The children the calling process has now (live or not yet reaped), from /proc.
std::vector<pid_t> own_children();

// Waits up to `limit` for each of `pids` (children of the caller) to exit, reaping them;
// returns how many are still running. Polls: it runs when podvisor has nothing else to do.
size_t wait_for_children(std::vector<pid_t> pids, std::chrono::milliseconds limit);

// Whether the calling process has any child, live or not yet reaped. As PID 1 or a
// subreaper, a process with no child has no descendant either: every orphan is re-parented
// to it. Costs one syscall, where descendants() reads all of /proc.
bool has_children();

// PR_SET_CHILD_SUBREAPER when not PID 1, so orphans are re-parented to podvisor. Returns 0,
// or the errno of prctl.
int become_subreaper();

// Reaps every exited child without blocking, calling on_exit(pid, status) for each. Returns
// 0 once none is left to reap (or there are no children), else waitpid's errno: a defect.
template <typename F>
[[nodiscard]] int reap_children(F&& on_exit);

}  // namespace podvisor::os

#include <sys/wait.h>

#include <cerrno>

template <typename F>
int podvisor::os::reap_children(F&& on_exit) {
  while (true) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      on_exit(pid, status);
      continue;
    }
    if (pid == 0) return 0;  // children left, none exited
    if (errno == EINTR) continue;
    return errno == ECHILD ? 0 : errno;
  }
}
