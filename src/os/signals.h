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

// The set podvisor blocks: all but SIGKILL/SIGSTOP and SIGPIPE (ignored instead, so a closed
// stdout is an EPIPE, not a signal to forward). The fault signals (SEGV, BUS, FPE, ILL, TRAP,
// ABRT, SYS) are blocked too, so one sent with kill is read and forwarded like any other: a
// real fault is forced by the kernel (unblocked, default action), and abort() unblocks SIGABRT
// itself, so a crash still ends podvisor with its core dump.
sigset_t handled_signals();

// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS: the signals a fault raises.
bool is_fault_signal(int signo);
// Whether a signal read from the signalfd was sent by a process (kill, sigqueue, tgkill), not
// raised by the kernel.
constexpr bool sent_by_process(int si_code) { return si_code <= 0; }

// A fault signal the kernel queued rather than forced (a memory error reported late, say):
// it was meant for podvisor itself, so the default action runs. Returns when that action
// does not end the process (PID 1 cannot be killed by its own signal).
void take_default_action(int signo);

// In a forked child before exec; async-signal-safe: default dispositions, empty mask.
void reset_signals_in_child();

}  // namespace podvisor::os
