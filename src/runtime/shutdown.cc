#include "runtime/shutdown.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/report.h"
#include "os/descendants.h"
#include "os/signals.h"

namespace podvisor::runtime {
namespace {

using config::LogLevel;
using core::Clock;

constexpr size_t kReportLines = 20;
// How long leftovers may take to die after SIGKILL before podvisor stops waiting.
constexpr auto kKillWait = std::chrono::seconds(5);

// A second SIGTERM/SIGINT while leftovers are ending: stop waiting for them.
bool escalation_requested(os::SignalFd& signals) {
  bool escalate = false;
  while (auto info = signals.read()) {
    const int sig = static_cast<int>(info->ssi_signo);
    escalate |= sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
  }
  return escalate;
}

}  // namespace

void end_leftovers(Loop& loop, output::Logger& log, const std::function<void()>& drain,
                   const std::vector<pid_t>& spared, std::chrono::milliseconds grace) {
  const auto reap = [&] {
    drain();
    loop.reap_quietly();
  };
  reap();
  if (!os::has_children()) return;  // the common case, without reading all of /proc
  const auto self = getpid();
  const auto signalled = os::signal_descendants(self, SIGTERM, spared);
  if (signalled == 0) {
    reap();
    return;
  }
  log.log(LogLevel::kInfo, fmt::format("sending SIGTERM to {} leftover process(es)", signalled));
  bool killed = false;
  const auto deadline = Clock::now() + grace;
  const auto hard_deadline = deadline + kKillWait;
  while (true) {
    reap();
    if (os::descendants(self, spared).empty()) return;
    if (!killed && (Clock::now() >= deadline || escalation_requested(loop.signals()))) {
      killed = true;
      log.log(LogLevel::kWarn, fmt::format("sending SIGKILL to {} leftover process(es)",
                                           os::signal_descendants(self, SIGKILL, spared)));
    }
    if (Clock::now() >= hard_deadline) {
      log.log(LogLevel::kError, "leftover processes survived SIGKILL; giving up waiting");
      return;
    }
    // Wakes on any signal (SIGCHLD above all), else after 10 ms to look again.
    pollfd pfd{loop.signals().fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 10) < 0 && errno != EINTR) {
      log.log(LogLevel::kError, fmt::format("poll: {}", std::strerror(errno)));
      return;
    }
  }
}

void let_readers_finish(const std::vector<pid_t>& readers, std::chrono::milliseconds limit) {
  if (readers.empty()) return;
  // The sinks' own descriptors for these streams are closed already (the runtime is gone).
  // EBADF only means one was never open; nothing is left to report it to.
  (void)::close(STDOUT_FILENO);
  (void)::close(STDERR_FILENO);
  (void)os::wait_for_children(readers, limit);
}

std::string crash_report(const core::Process& p, const ProgramIo* io, const gpu::Snapshot* gpu) {
  core::Report r;
  r.program = p.name();
  r.reason = p.state() == core::State::kFatal ? p.fatal_reason()
             : p.last_exit()                  ? core::describe_exit(*p.last_exit())
                                              : "unknown";
  if (p.started_at() != Clock::time_point{} && p.exited_at() >= p.started_at()) {
    r.uptime =
        std::chrono::duration_cast<std::chrono::milliseconds>(p.exited_at() - p.started_at());
  }
  r.restarts = p.restarts();
  if (io) {
    r.last_lines = io->combined.last_lines(kReportLines);
    // The ring's 64 KiB reach back past the last lines: the traceback that ended the program
    // may be there, above shutdown warnings.
    r.traceback = core::last_python_traceback(io->combined.contents());
  }
  if (gpu) {
    r.gpu = gpu::report_lines(*gpu);
    r.diagnosis = gpu::diagnose(r.last_lines, *gpu);
  }
  return core::format_report(r);
}

void reexec(output::Logger& log) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  os::reset_signals_in_child();
  ::execv("/proc/self/exe", argv.data());
  log.log(LogLevel::kCritical, fmt::format("restart failed: exec: {}", std::strerror(errno)));
  std::_Exit(2);
}

}  // namespace podvisor::runtime
