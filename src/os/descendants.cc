#include "os/descendants.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace podvisor::os {
namespace {

// ppid and state from /proc/PID/stat; the command name may hold spaces and parentheses,
// so the fields are read after the last ')'.
bool read_stat(pid_t pid, pid_t& ppid, char& state) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  const auto n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* close_paren = strrchr(buf, ')');
  if (!close_paren || close_paren[1] == '\0') return false;
  state = close_paren[2];
  ppid = static_cast<pid_t>(strtol(close_paren + 4, nullptr, 10));
  return true;
}

}  // namespace

namespace {

struct ProcessTable {
  std::multimap<pid_t, pid_t> children;  // ppid → pid
  std::map<pid_t, char> states;
};

ProcessTable read_process_table() {
  ProcessTable table;
  if (DIR* dir = opendir("/proc")) {
    while (const dirent* entry = readdir(dir)) {
      char* end = nullptr;
      const long pid = strtol(entry->d_name, &end, 10);
      if (pid <= 0 || *end != '\0') continue;
      pid_t ppid = 0;
      char state = '?';
      if (read_stat(static_cast<pid_t>(pid), ppid, state)) {
        table.children.emplace(ppid, static_cast<pid_t>(pid));
        table.states[static_cast<pid_t>(pid)] = state;
      }
    }
    closedir(dir);
  }
  return table;
}

}  // namespace

std::vector<pid_t> descendants(pid_t root, const std::vector<pid_t>& spared) {
  auto table = read_process_table();
  std::vector<pid_t> out, queue{root};
  while (!queue.empty()) {
    const pid_t parent = queue.back();
    queue.pop_back();
    auto [first, last] = table.children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      if (std::find(spared.begin(), spared.end(), it->second) != spared.end()) continue;
      if (table.states[it->second] != 'Z') out.push_back(it->second);
      queue.push_back(it->second);
    }
  }
  return out;
}

size_t signal_descendants(pid_t root, int signo, const std::vector<pid_t>& spared) {
  size_t count = 0;
  for (const pid_t pid : descendants(root, spared)) {
    if (kill(pid, signo) == 0) ++count;
  }
  return count;
}

std::vector<pid_t> own_children() {
  if (!has_children()) return {};
  const auto table = read_process_table();
  std::vector<pid_t> out;
  auto [first, last] = table.children.equal_range(getpid());
  for (auto it = first; it != last; ++it) out.push_back(it->second);
  return out;
}

size_t wait_for_children(std::vector<pid_t> pids, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    std::erase_if(pids, [](pid_t pid) {
      int status = 0;
      pid_t r;
      do {
        r = waitpid(pid, &status, WNOHANG);
      } while (r < 0 && errno == EINTR);
      return r != 0;  // exited and reaped, or no longer a child (ECHILD)
    });
    if (pids.empty() || std::chrono::steady_clock::now() >= deadline) return pids.size();
    const timespec tick{0, 10'000'000};
    nanosleep(&tick, nullptr);  // EINTR only shortens a tick
  }
}

bool has_children() {
  siginfo_t info{};
  // WNOWAIT leaves any exited child to the reaper. An error other than ECHILD says nothing
  // certain: answer yes, so the caller looks in /proc.
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 || errno != ECHILD;
}

int become_subreaper() {
  if (getpid() == 1 || prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) return 0;
  return errno;
}

}  // namespace podvisor::os
