// Drives the built podvisor binary as a user would: chosen argv and environment, stdin from
// /dev/null, stdout and stderr captured apart, signals, and waits that are always bounded and
// always wait for an event (output, exit), never for a fixed time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace e2e {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Generous: CI runs the suite two at a time on two cores, and under ASan.
inline constexpr std::chrono::milliseconds kTimeout = 20s;

// Path of the podvisor binary under test and of tests/e2e/data.
std::string podvisor_binary();
std::string data_path(std::string_view name);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

struct Options {
  // argv[0] included. The program run is `exe` when set, else argv[0] looked up in PATH.
  std::vector<std::string> argv;
  std::string exe;
  // Added to (or, with nullopt, removed from) the inherited environment. The inherited
  // variables podvisor reads (PROCESS_*, LOG_LEVEL, SUPERVISOR_*, PYTHONUNBUFFERED, the SSH
  // key variables, PODVISOR_SSH, RUNPOD_*) are always removed first, so a test sees only
  // what it sets.
  std::map<std::string, std::optional<std::string>> env;
  // Working directory; empty: a fresh temporary one, removed with the Child (core dumps and
  // stray files of a test land there).
  std::string cwd;
  // Extra descriptors the process inherits (each open on /dev/null), as a careless parent
  // might pass them.
  std::vector<int> extra_fds;
  // Config mode (podvisor or supervisord with -c) without -n daemonizes as supervisord does;
  // the harness adds -n unless this is set, so a test follows the process it started.
  bool daemon = false;
};

// Shorthand: podvisor ARGS... (argv[0] is the binary's path).
Options podvisor(std::vector<std::string> args,
                 std::map<std::string, std::optional<std::string>> env = {});

// One started process (podvisor, or unshare running podvisor) with captured output.
class Child {
 public:
  explicit Child(const Options& options);
  ~Child();  // kills what is still running below it, so a failed test leaves nothing behind
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  bool exited() const { return exited_; }

  void signal(int signo);

  // Stops (false) or resumes (true) reading stdout or stderr: a stalled log reader.
  void read_stdout(bool on) { read_stdout_ = on; }
  void read_stderr(bool on) { read_stderr_ = on; }
  // Whether the stdout/stderr pipe is full (less than a page of room): for a stalled reader.
  bool stdout_pipe_full() const { return pipe_full(out_fd_); }
  bool stderr_pipe_full() const { return pipe_full(err_fd_); }

  // Reads output until pred() holds, the process has exited with its pipes drained (pred can
  // no longer become true), or the timeout passes. Returns whether pred() held.
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = kTimeout);
  // The same for a state no output announces: pred() is also checked every `tick`.
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds tick);
  bool wait_stdout(std::string_view text, std::chrono::milliseconds timeout = kTimeout);
  bool wait_stderr(std::string_view text, std::chrono::milliseconds timeout = kTimeout);
  // Until the file at `path` holds `text` (checked every 10 ms: no output announces it),
  // reading podvisor's output meanwhile.
  bool wait_file(const std::string& path, std::string_view text,
                 std::chrono::milliseconds timeout = kTimeout);

  // Waits for the exit and returns the status as a shell reports it (128+N for signal N);
  // nullopt on timeout, after killing the process and everything below it.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = kTimeout);

  // For failure messages: the captured output.
  std::string describe() const;

 private:
  // One round of poll: reads what is available, notices the exit. Returns false once
  // nothing more can happen (exited and pipes at end of file or drained).
  bool pump(std::chrono::milliseconds max_wait);
  void read_available(int& fd, std::string& sink);
  void check_exit();
  static bool pipe_full(int fd);
  void kill_everything();

  std::unique_ptr<TempDir> cwd_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  bool read_stdout_ = true;
  bool read_stderr_ = true;
  int wait_status_ = 0;
  std::string out_;
  std::string err_;
};

// Runs to completion (bounded); the test fails on timeout.
struct Result {
  std::optional<int> code;  // nullopt: timed out
  std::string out;
  std::string err;
  std::string describe() const;
};
Result run(const Options& options, std::chrono::milliseconds timeout = kTimeout);

// Whether this build, and so the podvisor under test, runs under ASan+UBSan. Their runtimes
// need descriptors of their own (UBSan's vptr check reads /proc/self/maps: with none left it
// calls every virtual call invalid), so a test that starves podvisor of descriptors at start
// would test the sanitizers, not podvisor.
#if defined(__SANITIZE_ADDRESS__) || defined(PODVISOR_SANITIZED_BINARY)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// --- /proc helpers ---

// pid's state letter from /proc/PID/stat ('R', 'S', 'Z', ...), nullopt if it does not exist.
std::optional<char> process_state(pid_t pid);
// How many descriptors pid has open, from /proc/PID/fd.
size_t open_fds(pid_t pid);
// Live (non-zombie) processes below pid, from /proc.
std::vector<pid_t> descendants(pid_t pid);
// Direct children of pid, from /proc.
std::vector<pid_t> children(pid_t pid);
// /proc/PID/comm without the newline, empty if gone.
std::string process_name(pid_t pid);

// --- small utilities ---

size_t count(std::string_view haystack, std::string_view needle);
std::vector<std::string> lines(std::string_view text);
std::string read_file(const std::string& path);
void write_file(const std::string& path, std::string_view data, mode_t mode = 0644);
bool exists(const std::string& path);
// Single-quotes text for sh.
std::string shell_quote(std::string_view text);
// A loopback TCP port nobody listens on now (the kernel's choice, released at once: the
// server under test binds it moments later).
uint16_t loopback_port();

// --- supervisord.conf mode ---

// Writes `text` to dir/name with @DIR@ replaced by dir's path and @DATA@ by tests/e2e/data;
// returns the file's path.
std::string write_config(const TempDir& dir, std::string_view text,
                         std::string_view name = "supervisord.conf");
// Shorthand: podvisor -c PATH.
Options podvisor_config(const std::string& path,
                        std::map<std::string, std::optional<std::string>> env = {});
// The names of "spawned: 'NAME' with pid N" log lines, in the order they appear.
std::vector<std::string> spawned_names(std::string_view log);
// The pid of the last "spawned: 'NAME' with pid N" line; nullopt when there is none.
std::optional<pid_t> spawned_pid(std::string_view log, std::string_view name);

// Whether `unshare --pid --fork --mount-proc` works here; the reason when it does not.
std::optional<std::string> unshare_unavailable();

}  // namespace e2e
