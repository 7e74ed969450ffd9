#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace e2e {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Pids of the Child objects alive in this process: not strays.
std::set<pid_t>& live_children() {
  static std::set<pid_t> pids;
  return pids;
}

bool is_podvisor_variable(std::string_view name) {
  return name.starts_with("PROCESS_") || name == "LOG_LEVEL" || name.starts_with("SUPERVISOR_") ||
         name == "PYTHONUNBUFFERED" ||
         // SSH at boot: a key in the developer's or CI's environment would start sshd in
         // every test.
         name == "PUBLIC_KEY" || name == "SSH_PUBLIC_KEY" || name == "RUNPOD_SSH_PUBLIC_KEY" ||
         name == "PODVISOR_SSH" || name.starts_with("RUNPOD_");
}

std::string format_output(std::string_view out, std::string_view err) {
  auto clip = [](std::string_view s) {
    constexpr size_t kMax = 6000;
    if (s.size() <= kMax) return std::string(s);
    return "[... " + std::to_string(s.size() - kMax) + " bytes ...]\n" +
           std::string(s.substr(s.size() - kMax));
  };
  return "---- stdout (" + std::to_string(out.size()) + " bytes) ----\n" + clip(out) +
         "\n---- stderr (" + std::to_string(err.size()) + " bytes) ----\n" + clip(err) +
         "\n---- end ----";
}

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// argv[0] looked up as execvp would, with this process's PATH.
std::string find_executable(const std::string& file) {
  if (file.find('/') != std::string::npos) return file;
  const char* env_path = std::getenv("PATH");
  std::string_view dirs = env_path ? env_path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    const auto candidate = (dir.empty() ? "." : dir) + "/" + file;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return file;  // execve reports ENOENT
    dirs.remove_prefix(colon + 1);
  }
}

// Kills and reaps the children of this process that no Child owns: what a podvisor under
// test left behind.
void kill_strays() {
  for (const pid_t pid : children(getpid())) {
    if (live_children().count(pid)) continue;
    ::kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace

std::string podvisor_binary() { return PODVISOR_BINARY; }

std::string data_path(std::string_view name) {
  return std::string(PODVISOR_TEST_DATA) + "/" + std::string(name);
}

// ---- TempDir ----

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/podvisor-e2e-XXXXXX";
  if (!mkdtemp(pattern.data())) throw_errno("mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  nftw(
      path_.c_str(),
      [](const char* p, const struct stat*, int, FTW*) {
        ::remove(p);
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS);
}

// ---- Child ----

namespace {

// podvisor (or podvisor as supervisord) running a config file (-c, or none given: the one
// supervisord would find), with no -n: it would daemonize.
bool wants_daemon(const std::vector<std::string>& argv) {
  const auto slash = argv[0].rfind('/');
  const auto name = argv[0].substr(slash == std::string::npos ? 0 : slash + 1);
  if (name != "podvisor" && name != "supervisord") return false;
  if (argv.size() > 1 && (argv[1] == "check" || argv[1] == "ctl" || argv[1] == "wait")) {
    return false;
  }
  bool config = argv.size() == 1;
  for (const auto& a : argv) {
    if (a == "--") break;
    if (a == "-n" || a == "--nodaemon") return false;
    if (a == "-c" || a.starts_with("--configuration")) config = true;
  }
  return config;
}

}  // namespace

Options podvisor(std::vector<std::string> args,
                 std::map<std::string, std::optional<std::string>> env) {
  Options o;
  o.exe = podvisor_binary();
  o.argv.push_back(o.exe);
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = std::move(env);
  return o;
}

Child::Child(const Options& options) {
  // The test process adopts whatever podvisor leaves behind when it exits (instead of the
  // machine's init), so a test can see leftovers and always clean them up.
  static const bool subreaper [[maybe_unused]] = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
  if (options.argv.empty()) throw std::invalid_argument("empty argv");

  if (options.cwd.empty()) cwd_ = std::make_unique<TempDir>();
  std::map<std::string, std::string> env;
  // Single-command mode's control socket goes in the test's own directory, so tests running
  // side by side do not compete for /tmp/podvisor.sock (config files name their own).
  const bool config_mode =
      std::find(options.argv.begin(), options.argv.end(), "-c") != options.argv.end();
  if (!config_mode) {
    env["SUPERVISOR_UNIX_HTTP_SERVER_FILE"] =
        (options.cwd.empty() ? cwd_->path() : options.cwd) + "/podvisor.sock";
  }
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const auto name = entry.substr(0, eq);
    if (!is_podvisor_variable(name)) env[name] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : options.env) {
    if (v) {
      env[k] = *v;
    } else {
      env.erase(k);
    }
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = options.argv;
  if (!options.daemon && wants_daemon(argv_copy)) argv_copy.insert(argv_copy.begin() + 1, "-n");
  for (auto& a : argv_copy) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2");
  if (pipe2(err, O_CLOEXEC) != 0) throw_errno("pipe2");

  const std::string& file = options.exe.empty() ? options.argv[0] : options.exe;
  const std::string path = find_executable(file);
  // The child reports a failure before exec here; far above any descriptor the child sets up.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) throw_errno("pipe2");
  const int report_write = fcntl(report[1], F_DUPFD_CLOEXEC, 100);
  ::close(report[1]);
  const char* cwd = options.cwd.empty() ? cwd_->path().c_str() : options.cwd.c_str();
  const pid_t parent = getpid();

  // After fork, only async-signal-safe calls: everything was prepared above.
  pid_ = fork();
  if (pid_ < 0) throw_errno("fork");
  if (pid_ == 0) {
    auto fail = [report_write] {
      const int error = errno;
      [[maybe_unused]] auto n = ::write(report_write, &error, sizeof error);
      _exit(127);
    };
    // Own process group, so a timeout can kill the whole group.
    if (setpgid(0, 0) != 0) fail();
    // If the test process dies (a ctest timeout), podvisor is told to stop and clean up.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) fail();
    if (getppid() != parent) _exit(127);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0) fail();
    if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0) fail();
    for (const int fd : options.extra_fds) {
      if (dup2(devnull, fd) < 0) fail();
    }
    if (devnull > STDERR_FILENO && std::find(options.extra_fds.begin(), options.extra_fds.end(),
                                             devnull) == options.extra_fds.end()) {
      ::close(devnull);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (cwd && chdir(cwd) != 0) fail();
    execve(path.c_str(), argv.data(), envp.data());
    fail();
  }
  ::close(report_write);
  ::close(out[1]);
  ::close(err[1]);
  int child_error = 0;
  ssize_t n;
  do {
    n = ::read(report[0], &child_error, sizeof child_error);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof child_error)) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(out[0]);
    ::close(err[0]);
    errno = child_error;
    throw_errno("starting " + path);
  }
  live_children().insert(pid_);
  out_fd_ = out[0];
  err_fd_ = err[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  pidfd_ = pidfd_open(pid_);
}

Child::~Child() {
  if (!exited_) kill_everything();
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
  if (pidfd_ >= 0) ::close(pidfd_);
  live_children().erase(pid_);
  kill_strays();
}

void Child::signal(int signo) {
  if (!exited_ && ::kill(pid_, signo) != 0) throw_errno("kill");
}

void Child::read_available(int& fd, std::string& sink) {
  if (fd < 0) return;
  char buf[65536];
  while (true) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      sink.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    ::close(fd);  // end of file (or an error: nothing more will come)
    fd = -1;
    return;
  }
}

void Child::check_exit() {
  if (exited_) return;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != pid_) return;
  exited_ = true;
  wait_status_ = status;
  // Whatever the process wrote is in the pipes now. Whoever else still holds them (a
  // leftover) is not waited for: stop reading once they are empty.
  read_available(out_fd_, out_);
  read_available(err_fd_, err_);
  for (int* fd : {&out_fd_, &err_fd_}) {
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  }
}

bool Child::pump(std::chrono::milliseconds max_wait) {
  check_exit();
  if (exited_) return false;
  pollfd fds[3];
  nfds_t n = 0;
  if (out_fd_ >= 0 && read_stdout_) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0 && read_stderr_) fds[n++] = {err_fd_, POLLIN, 0};
  // Without a pidfd the exit is noticed on a short tick instead of as an event.
  int timeout = static_cast<int>(max_wait.count());
  if (pidfd_ >= 0) {
    fds[n++] = {pidfd_, POLLIN, 0};
  } else {
    timeout = std::min(timeout, 10);
  }
  const int r = ::poll(fds, n, std::max(timeout, 0));
  if (r < 0 && errno != EINTR) throw_errno("poll");
  if (read_stdout_) read_available(out_fd_, out_);
  if (read_stderr_) read_available(err_fd_, err_);
  check_exit();
  return !exited_;
}

bool Child::wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  return wait_for(pred, timeout, timeout);
}

bool Child::wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds tick) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) return false;
    if (!pump(std::min(left + 1ms, tick))) return pred();
  }
}

bool Child::pipe_full(int fd) {
  if (fd < 0) return false;
  int pending = 0;
  const int capacity = fcntl(fd, F_GETPIPE_SZ);
  // Pages fill up with the writes' chunk sizes: "full" is less than a page of room.
  return ioctl(fd, FIONREAD, &pending) == 0 && capacity > 0 && pending > capacity - PIPE_BUF;
}

bool Child::wait_stdout(std::string_view text, std::chrono::milliseconds timeout) {
  return wait_for([&] { return out_.find(text) != std::string::npos; }, timeout);
}

bool Child::wait_stderr(std::string_view text, std::chrono::milliseconds timeout) {
  return wait_for([&] { return err_.find(text) != std::string::npos; }, timeout);
}

bool Child::wait_file(const std::string& path, std::string_view text,
                      std::chrono::milliseconds timeout) {
  return wait_for([&] { return read_file(path).find(text) != std::string::npos; }, timeout, 10ms);
}

std::optional<int> Child::wait_exit(std::chrono::milliseconds timeout) {
  wait_for([&] { return exited_; }, timeout);
  if (!exited_) {
    kill_everything();
    return std::nullopt;
  }
  if (WIFSIGNALED(wait_status_)) return 128 + WTERMSIG(wait_status_);
  return WEXITSTATUS(wait_status_);
}

void Child::kill_everything() {
  if (!exited_) {
    for (const pid_t p : descendants(pid_)) ::kill(p, SIGKILL);
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    // SIGKILL cannot be caught: the exit follows.
    while (!exited_) pump(1000ms);
  }
  kill_strays();
}

std::string Child::describe() const { return format_output(out_, err_); }

std::string Result::describe() const { return format_output(out, err); }

Result run(const Options& options, std::chrono::milliseconds timeout) {
  Child child(options);
  Result r;
  r.code = child.wait_exit(timeout);
  r.out = child.out();
  r.err = child.err();
  return r;
}

// ---- /proc ----

namespace {

struct StatLine {
  char state;
  pid_t ppid;
};

std::optional<StatLine> read_stat(pid_t pid) {
  const std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  // The command name may hold spaces and parentheses: the fields follow the last ')'.
  const auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 4 > text.size()) return std::nullopt;
  StatLine s{};
  s.state = text[paren + 2];
  s.ppid = static_cast<pid_t>(std::strtol(text.c_str() + paren + 4, nullptr, 10));
  return s;
}

std::multimap<pid_t, std::pair<pid_t, char>> process_table() {
  std::multimap<pid_t, std::pair<pid_t, char>> table;  // ppid → (pid, state)
  DIR* dir = opendir("/proc");
  if (!dir) return table;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (auto s = read_stat(static_cast<pid_t>(pid))) {
      table.emplace(s->ppid, std::make_pair(static_cast<pid_t>(pid), s->state));
    }
  }
  closedir(dir);
  return table;
}

}  // namespace

std::optional<char> process_state(pid_t pid) {
  if (auto s = read_stat(pid)) return s->state;
  return std::nullopt;
}

size_t open_fds(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++n;
  }
  return n;
}

std::vector<pid_t> descendants(pid_t root) {
  const auto table = process_table();
  std::vector<pid_t> out, queue{root};
  while (!queue.empty()) {
    const pid_t parent = queue.back();
    queue.pop_back();
    auto [first, last] = table.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      if (it->second.second != 'Z') out.push_back(it->second.first);
      queue.push_back(it->second.first);
    }
  }
  return out;
}

std::vector<pid_t> children(pid_t pid) {
  const auto table = process_table();
  std::vector<pid_t> out;
  auto [first, last] = table.equal_range(pid);
  for (auto it = first; it != last; ++it) out.push_back(it->second.first);
  return out;
}

std::string process_name(pid_t pid) {
  std::string name = read_file("/proc/" + std::to_string(pid) + "/comm");
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

// ---- utilities ----

size_t count(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return 0;
  size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    out.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string read_file(const std::string& path) {
  // Plain read(2), not iostreams: a /proc file whose process just ended fails with ESRCH,
  // which libstdc++ turns into an exception.
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  while (true) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) out.clear();
    break;
  }
  ::close(fd);
  return out;
}

void write_file(const std::string& path, std::string_view data, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("open " + path);
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      throw_errno("write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  ::close(fd);
  if (::chmod(path.c_str(), mode) != 0) throw_errno("chmod " + path);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

uint16_t loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::system_error(errno, std::generic_category(), "loopback_port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// ---- supervisord.conf mode ----

std::string write_config(const TempDir& dir, std::string_view text, std::string_view name) {
  std::string out(text);
  const std::pair<std::string, std::string> names[] = {{"@DIR@", dir.path()},
                                                       {"@DATA@", PODVISOR_TEST_DATA}};
  for (const auto& [from, to] : names) {
    for (auto pos = out.find(from); pos != std::string::npos; pos = out.find(from, pos)) {
      out.replace(pos, from.size(), to);
      pos += to.size();
    }
  }
  const auto path = dir / name;
  write_file(path, out);
  return path;
}

Options podvisor_config(const std::string& path,
                        std::map<std::string, std::optional<std::string>> env) {
  return podvisor({"-c", path}, std::move(env));
}

std::vector<std::string> spawned_names(std::string_view log) {
  constexpr std::string_view kMark = "spawned: '";
  std::vector<std::string> names;
  for (const auto& line : lines(log)) {
    const auto at = line.find(kMark);
    if (at == std::string::npos) continue;
    const auto start = at + kMark.size();
    const auto end = line.find("' with pid ", start);
    if (end != std::string::npos) names.push_back(line.substr(start, end - start));
  }
  return names;
}

std::optional<pid_t> spawned_pid(std::string_view log, std::string_view name) {
  const std::string mark = "spawned: '" + std::string(name) + "' with pid ";
  std::optional<pid_t> pid;
  for (const auto& line : lines(log)) {
    const auto at = line.find(mark);
    if (at == std::string::npos) continue;
    pid = static_cast<pid_t>(std::strtol(line.c_str() + at + mark.size(), nullptr, 10));
  }
  return pid;
}

std::optional<std::string> unshare_unavailable() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    Options o;
    o.argv = {"unshare", "--pid", "--fork", "--mount-proc", "true"};
    Result r;
    try {
      r = run(o);
    } catch (const std::exception& e) {
      return std::string("cannot run unshare: ") + e.what();
    }
    if (r.code == 0) return std::nullopt;
    return "unshare --pid --fork --mount-proc is refused here (exit " +
           (r.code ? std::to_string(*r.code) : std::string("timeout")) + "): " + r.err;
  }();
  return reason;
}

}  // namespace e2e
