#include "os/signals.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace podvisor::os {

sigset_t handled_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGKILL, SIGSTOP, SIGPIPE}) sigdelset(&set, s);
  return set;
}

bool is_fault_signal(int signo) {
  switch (signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGSYS:
      return true;
    default:
      return false;
  }
}

SignalFd::SignalFd() {
  const auto set = handled_signals();
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
  }
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    throw std::system_error(errno, std::generic_category(), "signal(SIGPIPE)");
  }
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
}

SignalFd::~SignalFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<signalfd_siginfo> SignalFd::read() {
  signalfd_siginfo info{};
  while (true) {
    const auto n = ::read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) return info;
    if (n < 0 && errno == EINTR) continue;
    return std::nullopt;
  }
}

void take_default_action(int signo) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  // Each step may only fail for a bad signal number, which a signalfd never reports.
  (void)sigaction(signo, &dfl, nullptr);
  (void)raise(signo);  // stays pending while blocked; delivered by the unblock below
  (void)sigprocmask(SIG_UNBLOCK, &one, nullptr);
  (void)sigprocmask(SIG_BLOCK, &one, nullptr);
}

void reset_signals_in_child() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, nullptr);
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
}

}  // namespace podvisor::os
