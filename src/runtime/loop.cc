#include "runtime/loop.h"

#include <fmt/format.h>

#include <cstring>

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
                       while (auto info = signals_.read()) {
                         const int sig = static_cast<int>(info->ssi_signo);
                         if (sig == SIGCHLD) {
                           reap();
                         } else if (on_signal_) {
                           on_signal_(sig);
                         }
                       }
                       if (!stopped_) wait_signals();
                     });
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
