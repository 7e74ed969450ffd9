// The event loop and its signals: one signalfd, reaping on SIGCHLD, and the registry of the
// children someone waits for (pid → owner), so a child's exit reaches its owner in one lookup.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <string>
#include <unordered_map>

#include "os/signals.h"
#include "probe/probe.h"
#include "runtime/idle_timer.h"

namespace podvisor::runtime {

class Loop final : public probe::ChildWatcher {
 public:
  // Blocks the handled signals and opens the signalfd; throws std::system_error.
  Loop();
  ~Loop() override;
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  boost::asio::io_context& io() { return io_; }
  os::SignalFd& signals() { return signals_; }

  // Every signal but SIGCHLD goes to `handler`; exits of children nobody watches (orphans
  // re-parented to podvisor) to `orphan`; a failing waitpid to `error`, with its text.
  void on_signal(std::function<void(int)> handler) { on_signal_ = std::move(handler); }
  void on_orphan(std::function<void(pid_t, int)> orphan) { on_orphan_ = std::move(orphan); }
  void on_error(std::function<void(const std::string&)> error) { on_error_ = std::move(error); }

  // probe::ChildWatcher: on_exit(wait status) runs once pid is reaped.
  void watch(pid_t pid, std::function<void(int)> on_exit) override;

  // Starts reading signals; run() returns after stop().
  void start();
  void run() { run_without_idle_wakeups(io_); }
  // Stops the loop; signals are no longer read (shutdown reads them itself).
  void stop();
  bool stopped() const { return stopped_; }

  // Reaps every exited child, each to its owner.
  void reap();
  // Reaps every exited child and tells no one: after the loop, when nobody is listening.
  void reap_quietly();

 private:
  void wait_signals();
  void dispatch(const signalfd_siginfo& info);

  boost::asio::io_context io_;
  os::SignalFd signals_;
  boost::asio::posix::stream_descriptor stream_;
  std::unordered_map<pid_t, std::function<void(int)>> children_;
  std::function<void(int)> on_signal_;
  std::function<void(pid_t, int)> on_orphan_;
  std::function<void(const std::string&)> on_error_;
  bool stopped_ = false;
};

}  // namespace podvisor::runtime
