// The commands that read logs and follow a process: tail, maintail, fg; and what lets Ctrl-C
// end a `tail -f` or `fg` without ending ctl.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>

#include "core/process.h"
#include "ctl/controller.h"
#include "ctl/format.h"

namespace podvisor::ctl {
namespace {

using control::FaultCode;
using control::xmlrpc::Value;

// --- Ctrl-C during tail -f and fg

volatile sig_atomic_t interrupted = 0;
void on_sigint(int) { interrupted = 1; }

// sigaction and sigprocmask fail only on an invalid signal or flag: a bug, not a state to
// recover from.
void check(int result, const char* call) {
  if (result == 0) return;
  fmt::print(stderr, "podvisor ctl: {}: {}\n", call, std::strerror(errno));
  std::abort();
}

// SIGINT stays blocked except inside wait(), so that a Ctrl-C between two waits is not lost.
class InterruptScope {
 public:
  InterruptScope() {
    interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    check(sigaction(SIGINT, &sa, &old_action_), "sigaction");
    check(sigprocmask(SIG_BLOCK, &block, &old_mask_), "sigprocmask");
    waiting_mask_ = old_mask_;
    sigdelset(&waiting_mask_, SIGINT);
  }
  ~InterruptScope() {
    check(sigprocmask(SIG_SETMASK, &old_mask_, nullptr), "sigprocmask");
    check(sigaction(SIGINT, &old_action_, nullptr), "sigaction");
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  // poll() that a Ctrl-C ends: false once interrupted. Throws when ppoll fails otherwise.
  bool wait(pollfd* fds, size_t n) {
    while (!interrupted) {
      if (ppoll(fds, n, nullptr, &waiting_mask_) >= 0) return !interrupted;
      if (errno != EINTR) throw std::runtime_error(fmt::format("ppoll: {}", std::strerror(errno)));
    }
    return false;
  }

 private:
  struct sigaction old_action_ {};
  sigset_t old_mask_{};
  sigset_t waiting_mask_{};
};

}  // namespace

void Controller::tailf(const std::string& path) {
  output("==> Press Ctrl-C to exit <==");
  const std::string url = o_.serverurl.value_or("") + path;
  InterruptScope interrupt;
  std::unique_ptr<control::HttpClient::Stream> stream;
  try {
    stream = http().stream(path);
  } catch (const control::ConnectError& e) {
    std::cerr << fmt::format("{} Cannot connect, error: <class '{}'> ([Errno {}] {})\n", url,
                             python_exception_class(e.error), e.error, std::strerror(e.error));
    return;
  }
  bool reported_status = false;
  while (true) {
    pollfd p{stream->fd(), POLLIN, 0};
    if (!interrupt.wait(&p, 1)) {
      output("");
      return;
    }
    try {
      const bool more = stream->read([&](std::string_view data) {
        if (stream->head().status != 200) return;
        std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
        std::cout.flush();
      });
      if (stream->head_done() && stream->head().status != 200 && !reported_status) {
        reported_status = true;
        std::cerr << fmt::format("{} Cannot read, status code {}\n", url, stream->head().status);
        return;
      }
      if (!more || !std::cout) return;
    } catch (const std::exception&) {
      return;  // the server went away: the tail ends, as supervisorctl's does
    }
  }
}

void Controller::do_tail(const std::string& arg) {
  if (!upcheck()) return;
  auto args = split(arg);
  if (args.empty()) {
    return refuse("Error: too few arguments", "tail");
  }
  if (args.size() > 3) {
    return refuse("Error: too many arguments", "tail");
  }
  std::optional<std::string> modifier;
  if (args[0].starts_with('-')) {
    modifier = args[0];
    args.erase(args.begin());
  }
  std::string name;
  std::string channel = "stdout";
  if (args.size() == 1) {
    name = args.back();
  } else if (!args.empty()) {
    name = args[0];
    channel = args.back();
    std::transform(channel.begin(), channel.end(), channel.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (channel != "stderr" && channel != "stdout") {
      return refuse(fmt::format("Error: bad channel {}", python_repr(channel)));
    }
  } else {
    return refuse("Error: tail requires process name");
  }
  std::optional<int64_t> bytes = 1600;
  if (modifier) {
    const auto what = modifier->substr(1);
    if (what == "f") {
      bytes.reset();
    } else if (const auto n = python_int(what)) {
      bytes = *n;
    } else {
      return refuse(fmt::format("Error: bad argument {}", *modifier));
    }
  }
  if (!bytes) return tailf(fmt::format("/logtail/{}/{}", name, channel));
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kNoFile, "{name}: ERROR (no log file)", kGeneric),
      on_fault(FaultCode::kFailed, "{name}: ERROR (unknown error reading log)", kGeneric),
      on_fault(FaultCode::kBadName, "{name}: ERROR (no such process name)", kGeneric)};
  const auto log = call_expecting(
      kAnswers, name,
      channel == "stdout" ? "supervisor.readProcessStdoutLog" : "supervisor.readProcessStderrLog",
      {Value(name), Value(-*bytes), Value(0)});
  if (log) output(text(*log));
}

void Controller::do_maintail(const std::string& arg) {
  if (!upcheck()) return;
  const auto args = split(arg);
  int64_t bytes = 1600;
  if (args.size() > 1) {
    return refuse("Error: too many arguments", "maintail");
  }
  if (args.size() == 1) {
    if (!args[0].starts_with('-')) {
      return refuse(fmt::format("Error: bad argument {}", args[0]));
    }
    const auto what = args[0].substr(1);
    if (what == "f") return tailf("/mainlogtail");
    const auto n = python_int(what);
    if (!n) {
      return refuse(fmt::format("Error: bad argument {}", args[0]));
    }
    bytes = *n;
  }
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kNoFile, "supervisord: ERROR (no log file)", kGeneric),
      on_fault(FaultCode::kFailed, "supervisord: ERROR (unknown error reading log)", kGeneric)};
  const auto log = call_expecting(kAnswers, "", "supervisor.readLog", {Value(-bytes), Value(0)});
  if (log) output(text(*log));
}

void Controller::do_fg(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) {
    return refuse("ERROR: no process name supplied", "fg");
  }
  if (names.size() > 1) {
    return refuse("ERROR: too many process names supplied");
  }
  const auto& name = names[0];
  static constexpr Expected kInfoAnswers[] = {
      on_fault(FaultCode::kBadName, "ERROR: bad process name supplied", kGeneric),
      on_any_fault("ERROR: <Fault {code}: {repr}>")};
  const auto info = call_expecting(kInfoAnswers, name, "supervisor.getProcessInfo", {Value(name)});
  if (!info) return;
  if (number(field(*info, "state")) != static_cast<int>(core::State::kRunning)) {
    return refuse("ERROR: process not running");
  }
  output("==> Press Ctrl-C to exit <==");
  InterruptScope interrupt;
  std::vector<std::unique_ptr<control::HttpClient::Stream>> streams;
  for (const char* channel : {"stdout", "stderr"}) {
    try {
      streams.push_back(http().stream(fmt::format("/logtail/{}/{}", name, channel)));
    } catch (const std::exception&) {
      // as supervisorctl's output thread: a stream that cannot start just shows nothing
    }
  }
  std::string pending;  // stdin not yet a whole line
  auto leave = [&](std::string_view why) {
    if (!why.empty()) output(why);
    output("Exiting foreground");
  };
  while (true) {
    std::vector<pollfd> fds{{STDIN_FILENO, POLLIN, 0}};
    for (const auto& s : streams) fds.push_back({s ? s->fd() : -1, POLLIN, 0});
    if (!interrupt.wait(fds.data(), fds.size())) return leave("");
    for (size_t k = 0; k < streams.size(); ++k) {
      if (!streams[k] || !(fds[k + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      bool more = false;
      try {
        more = streams[k]->read([&](std::string_view data) {
          if (streams[k]->head().status != 200) return;
          std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
          std::cout.flush();
        });
      } catch (const std::exception&) {
      }
      if (!more) streams[k].reset();
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[4096];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return leave("");  // EOF, as Ctrl-D
    pending.append(buf, static_cast<size_t>(n));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      const auto input = pending.substr(0, nl + 1);
      pending.erase(0, nl + 1);
      static constexpr Expected kSendAnswers[] = {
          on_fault(FaultCode::kNotRunning, "Process got killed"),
          on_any_fault("ERROR: <Fault {code}: {repr}>")};
      if (!call_expecting(kSendAnswers, name, "supervisor.sendProcessStdin",
                          {Value(name), Value(input)})) {
        return leave("");
      }
      const auto now = call("supervisor.getProcessInfo", {Value(name)});
      if (number(field(now, "state")) != static_cast<int>(core::State::kRunning)) {
        return leave("Process got killed");
      }
    }
  }
}

}  // namespace podvisor::ctl
