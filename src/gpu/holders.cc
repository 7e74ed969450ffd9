#include "gpu/holders.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "gpu/devices.h"

namespace podvisor::gpu {
namespace {

constexpr size_t kCmdlineMax = 64;
// Far more than any real process tree is deep; a loop in a fake tree ends here.
constexpr int kMaxDepth = 4096;

// The whole file (up to `limit` bytes), or nullopt with errno set.
std::optional<std::string> read_file(const std::string& path, size_t limit = 1 << 20) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::optional<pid_t> as_pid(const char* name) {
  if (*name == '\0') return std::nullopt;
  long v = 0;
  for (const char* c = name; *c; ++c) {
    if (*c < '0' || *c > '9' || v > 1 << 30) return std::nullopt;
    v = v * 10 + (*c - '0');
  }
  return static_cast<pid_t>(v);
}

// What a node's name says: a GPU minor, ctl, uvm; false for anything else.
bool classify(std::string_view name, Holding& h) {
  if (!name.starts_with("nvidia")) return false;
  const auto rest = name.substr(6);
  if (rest == "ctl") {
    h.ctl = true;
    return true;
  }
  if (rest.starts_with("-uvm")) {
    h.uvm = true;
    return true;
  }
  if (rest.empty() || rest.size() > 3) return false;
  int minor = 0;
  for (char c : rest) {
    if (c < '0' || c > '9') return false;
    minor = minor * 10 + (c - '0');
  }
  if (minor > static_cast<int>(kMaxGpuMinor)) return false;
  if (std::find(h.minors.begin(), h.minors.end(), minor) == h.minors.end()) {
    h.minors.push_back(minor);
  }
  return true;
}

void check_fd(int dfd, const char* name, const std::string& prefix, char* target, size_t size,
              Holding& h) {
  const auto n = ::readlinkat(dfd, name, target, size - 1);
  if (n <= 0) return;  // closed meanwhile
  std::string_view link(target, static_cast<size_t>(n));
  if (link.ends_with(" (deleted)")) link.remove_suffix(10);
  if (link.starts_with(prefix) && classify(link.substr(prefix.size()), h)) return;
  if (link.starts_with("/dev/nvidia") && classify(link.substr(5), h)) return;
  // A renamed node: only a character device under /dev can be one.
  if (!link.starts_with("/dev/") || link == "/dev/null" || link.starts_with("/dev/pts/")) return;
  struct stat st {};
  if (::fstatat(dfd, name, &st, 0) != 0 || !S_ISCHR(st.st_mode) ||
      major(st.st_rdev) != kNvidiaMajor) {
    return;
  }
  const auto minor = ::minor(st.st_rdev);
  if (minor == kNvidiaCtlMinor) {
    h.ctl = true;
  } else if (minor <= kMaxGpuMinor &&
             std::find(h.minors.begin(), h.minors.end(), minor) == h.minors.end()) {
    h.minors.push_back(static_cast<int>(minor));
  }
}

// The kernel's record for getdents64 (glibc declares no struct for the raw call).
struct LinuxDirent {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

bool is_ancestor(const std::map<pid_t, Proc>& table, pid_t ancestor, pid_t pid) {
  for (int depth = 0; depth < kMaxDepth && pid > 1; ++depth) {
    const auto it = table.find(pid);
    if (it == table.end()) return false;
    pid = it->second.ppid;
    if (pid == ancestor) return true;
  }
  return false;
}

std::map<pid_t, Proc> read_table(const ProcReader& reader) {
  std::map<pid_t, Proc> table;
  for (const pid_t pid : reader.pids()) {
    if (auto p = reader.stat(pid)) table.emplace(pid, std::move(*p));
  }
  return table;
}

const Leader* running_ancestor(const std::map<pid_t, Proc>& table,
                               const std::vector<Leader>& running, pid_t pid) {
  for (const auto& l : running) {
    if (l.pid > 0 && (l.pid == pid || is_ancestor(table, l.pid, pid))) return &l;
  }
  return nullptr;
}

}  // namespace

std::string Holder::owner() const {
  switch (attribution) {
    case Attribution::kProgram:
      return fmt::format("program {}", program);
    case Attribution::kLeftover:
      return fmt::format("leftover of {}'s last run", program);
    case Attribution::kUnknown:
      break;
  }
  return "unknown";
}

std::string Holder::name() const {
  return fmt::format("pid {} '{}'", proc.pid, proc.cmdline.empty() ? "?" : proc.cmdline);
}

std::string gpu_list(const std::vector<int>& minors) {
  std::string out;
  for (const int m : minors) out += (out.empty() ? "" : ", ") + gpu_label(m);
  return out;
}

std::string held_devices(const Holding& h) {
  auto out = gpu_list(h.minors);
  if (out.empty() && h.ctl) out = "nvidiactl";
  if (out.empty() && h.uvm) out = "nvidia-uvm";
  if (out.empty() && !h.error.empty()) out = "unknown devices";
  return out;
}

ProcReader::ProcReader(std::string proc_root, std::string device_dir)
    : root_(std::move(proc_root)), device_dir_(std::move(device_dir)) {
  while (device_dir_.size() > 1 && device_dir_.back() == '/') device_dir_.pop_back();
}

std::string ProcReader::path(pid_t pid, std::string_view file) const {
  return fmt::format("{}/{}/{}", root_, pid, file);
}

std::vector<pid_t> ProcReader::pids() const {
  std::vector<pid_t> out;
  DIR* d = ::opendir(root_.c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    if (auto pid = as_pid(e->d_name)) out.push_back(*pid);
  }
  ::closedir(d);
  return out;
}

std::optional<Proc> ProcReader::stat(pid_t pid) const {
  const auto text = read_file(path(pid, "stat"), 4096);
  if (!text) return std::nullopt;
  // "pid (comm) S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice threads itrealvalue starttime …": comm may hold anything.
  const auto close = text->rfind(')');
  if (close == std::string::npos || close + 2 >= text->size()) return std::nullopt;
  Proc p;
  p.pid = pid;
  p.state = (*text)[close + 2];
  std::vector<unsigned long long> fields;
  const char* at = text->c_str() + close + 3;
  while (*at && fields.size() < 20) {
    char* end = nullptr;
    fields.push_back(std::strtoull(at, &end, 10));
    if (end == at) break;
    at = end;
  }
  if (fields.size() < 19) return std::nullopt;
  p.ppid = static_cast<pid_t>(fields[0]);
  p.pgid = static_cast<pid_t>(fields[1]);
  p.sid = static_cast<pid_t>(fields[2]);
  p.starttime = fields[18];
  return p;
}

std::string ProcReader::cmdline(pid_t pid) const {
  auto text = read_file(path(pid, "cmdline"), 4096).value_or("");
  while (!text.empty() && text.back() == '\0') text.pop_back();
  std::replace(text.begin(), text.end(), '\0', ' ');
  if (text.size() > kCmdlineMax) text.resize(kCmdlineMax);
  return text;
}

std::string ProcReader::wchan(pid_t pid) const {
  auto text = read_file(path(pid, "wchan"), 256).value_or("");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text;
}

std::optional<Proc> ProcReader::describe(pid_t pid) const {
  auto p = stat(pid);
  if (!p) return p;
  p->cmdline = cmdline(pid);
  p->wchan = wchan(pid);
  return p;
}

Holding ProcReader::holding(pid_t pid) const {
  Holding h;
  const auto dir = path(pid, "fd");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    if (errno == EACCES || errno == EPERM) {
      h.error = fmt::format("cannot read fds of pid {}: add CAP_SYS_PTRACE", pid);
    }
    return h;  // ENOENT: gone, or a zombie: holds nothing
  }
  const std::string prefix = device_dir_ + "/";
  char target[512];
  // getdents64 straight into a stack buffer: no DIR (fstat, a 32 KiB allocation) per process.
  alignas(8) char buf[8192];
  while (true) {
    const auto n = ::syscall(SYS_getdents64, dfd, buf, sizeof buf);
    if (n <= 0) break;  // end, or the process went away meanwhile
    for (long at = 0; at < n;) {
      const auto* e = reinterpret_cast<const LinuxDirent*>(buf + at);
      at += e->d_reclen;
      if (e->d_name[0] == '.') continue;
      check_fd(dfd, e->d_name, prefix, target, sizeof target, h);
    }
  }
  ::close(dfd);
  std::sort(h.minors.begin(), h.minors.end());
  return h;
}

std::optional<std::string> ProcReader::environ_value(pid_t pid, std::string_view name) const {
  const auto text = read_file(path(pid, "environ"));
  if (!text) return std::nullopt;
  std::string_view rest(*text);
  while (!rest.empty()) {
    const auto end = rest.find('\0');
    const auto entry = rest.substr(0, end);
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=') {
      return std::string(entry.substr(name.size() + 1));
    }
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return std::nullopt;
}

std::vector<Holder> scan_holders(const ProcReader& reader, const std::vector<Leader>& running,
                                 const std::vector<pid_t>& skip) {
  std::vector<Holder> out;
  std::map<pid_t, Proc> table;  // read only when a holder needs its ancestors
  for (const pid_t pid : reader.pids()) {
    if (std::find(skip.begin(), skip.end(), pid) != skip.end()) continue;
    auto holding = reader.holding(pid);
    if (!holding.any() && holding.error.empty()) continue;
    auto proc = reader.describe(pid);
    if (!proc || proc->state == 'Z') continue;
    Holder h;
    h.proc = std::move(*proc);
    h.holding = std::move(holding);
    out.push_back(std::move(h));
  }
  if (out.empty()) return out;
  table = read_table(reader);
  for (auto& h : out) {
    if (const auto* l = running_ancestor(table, running, h.proc.pid)) {
      h.attribution = Attribution::kProgram;
      h.program = l->program;
      continue;
    }
    // The marker podvisor set in the program's environment, kept across setsid and exec;
    // a child of a leftover that cleared it is found through its parent.
    pid_t pid = h.proc.pid;
    for (int depth = 0; depth < kMaxDepth && pid > 1; ++depth) {
      if (auto name = reader.environ_value(pid, "SUPERVISOR_PROCESS_NAME")) {
        h.program = *name;
        h.attribution = Attribution::kLeftover;
        // Started after the program's running leader: its current run's, escaped the tree.
        for (const auto& l : running) {
          const auto it = table.find(l.pid);
          if (l.program == *name && it != table.end() && it->second.starttime <= h.proc.starttime) {
            h.attribution = Attribution::kProgram;
          }
        }
        break;
      }
      const auto it = table.find(pid);
      if (it == table.end()) break;
      pid = it->second.ppid;
    }
  }
  return out;
}

std::vector<Holder> find_leftovers(const ProcReader& reader, const LeftoverQuery& query) {
  const auto table = read_table(reader);
  std::set<pid_t> chosen;
  for (const auto& [pid, p] : table) {
    if (p.state == 'Z' || pid == query.self || !is_ancestor(table, query.self, pid)) continue;
    if (std::find(query.skip.begin(), query.skip.end(), pid) != query.skip.end()) continue;
    if (running_ancestor(table, query.running, pid)) continue;
    const bool own =
        (query.last_leader > 0 && (p.pgid == query.last_leader || p.sid == query.last_leader)) ||
        reader.environ_value(pid, "SUPERVISOR_PROCESS_NAME") == query.program;
    if (own) chosen.insert(pid);
  }
  // Their descendants too (a worker's children that cleared the environment).
  for (const auto& [pid, p] : table) {
    if (p.state == 'Z' || chosen.count(pid) || running_ancestor(table, query.running, pid)) {
      continue;
    }
    for (const pid_t c : std::set<pid_t>(chosen)) {
      if (is_ancestor(table, c, pid)) {
        chosen.insert(pid);
        break;
      }
    }
  }
  std::vector<Holder> out;
  for (const pid_t pid : chosen) {
    auto proc = reader.describe(pid);
    if (!proc || proc->state == 'Z') continue;
    Holder h{std::move(*proc), reader.holding(pid), Attribution::kLeftover, query.program, {}};
    out.push_back(std::move(h));
  }
  return out;
}

bool refresh(const ProcReader& reader, Holder& h) {
  auto now = reader.stat(h.proc.pid);
  if (!now || now->state == 'Z' || now->starttime != h.proc.starttime) return false;
  h.proc.state = now->state;
  h.proc.wchan = reader.wchan(h.proc.pid);
  h.holding = reader.holding(h.proc.pid);
  return true;
}

}  // namespace podvisor::gpu
