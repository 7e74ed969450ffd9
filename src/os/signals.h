// podvisor receives signals through a signalfd: every asynchronous signal is blocked, so even
// as PID 1 (where the kernel drops unhandled signals) none is lost, and no handler runs.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <optional>

namespace podvisor::os {

class SignalFd {
 public:
  SignalFd();  // blocks the signals and opens the fd; throws std::system_error
  ~SignalFd();
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;

  int fd() const { return fd_; }
  // The next pending signal, or nullopt when none is pending.
  std::optional<signalfd_siginfo> read();

 private:
  int fd_ = -1;
};

// The set podvisor blocks: all but the synchronous faults, SIGKILL/SIGSTOP and SIGPIPE
// (ignored instead, so a closed stdout is an EPIPE, not a signal to forward).
sigset_t handled_signals();

// In a forked child before exec; async-signal-safe: default dispositions, empty mask.
void reset_signals_in_child();

}  // namespace podvisor::os
