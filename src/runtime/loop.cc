#include "runtime/loop.h"

#include <fmt/format.h>

#include <cstring>

#include "config/values.h"
#include "os/descendants.h"

namespace podvisor::runtime {

Loop::Loop() : stream_(io_, signals_.fd()) {}

Loop::~Loop() {
  // The stream must not close the fd SignalFd owns.
  stream_.release();
}

void Loop::watch(pid_t pid, std::function<void(int)> on_exit) {
  children_[pid] = std::move(on_exit);
}

void Loop::start() {
  stopped_ = false;
  wait_signals();
}

void Loop::stop() {
  stopped_ = true;
  io_.stop();
}

void Loop::wait_signals() {
  stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& ec) {
                       if (ec) return;
                       // Armed again first: should a handler throw, signals still arrive.
                       if (!stopped_) wait_signals();
                       while (auto info = signals_.read()) dispatch(*info);
                     });
}

void Loop::dispatch(const signalfd_siginfo& info) {
  const int sig = static_cast<int>(info.ssi_signo);
  if (sig == SIGCHLD) {
    reap();
  } else if (os::is_fault_signal(sig) && !os::sent_by_process(info.ssi_code)) {
    // Queued by the kernel for podvisor itself, not sent by anyone: not the program's.
    if (on_error_) {
      on_error_(fmt::format("received {} from the kernel (code {})", config::signal_name(sig),
                            info.ssi_code));
    }
    os::take_default_action(sig);
  } else if (on_signal_) {
    on_signal_(sig);
  }
}

void Loop::reap() {
  const int error = os::reap_children([this](pid_t pid, int status) {
    const auto it = children_.find(pid);
    if (it == children_.end()) {
      if (on_orphan_) on_orphan_(pid, status);
      return;
    }
    auto on_exit = std::move(it->second);
    children_.erase(it);
    on_exit(status);
  });
  if (error != 0 && on_error_) on_error_(fmt::format("waitpid: {}", std::strerror(error)));
}

void Loop::reap_quietly() {
  const int error = os::reap_children([this](pid_t pid, int) { children_.erase(pid); });
  if (error != 0 && on_error_) on_error_(fmt::format("waitpid: {}", std::strerror(error)));
}

}  // namespace podvisor::runtime
