// The `notify` probe: a datagram socket per program, passed as NOTIFY_SOCKET, that takes
// sd_notify messages (READY=1, STATUS=...). The address is in the abstract namespace
// ("@podvisor/..."), so it needs no writable directory and goes away with podvisor.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>

namespace podvisor::probe {

class NotifySocket {
 public:
  struct Message {
    bool ready = false;
    std::string status;  // STATUS=, when the message had one
  };
  // Anyone who can reach the network namespace can send to an abstract socket (it is listed
  // in /proc/net/unix), so each message's sender is checked (SCM_CREDENTIALS): only the
  // program's process (`program_pid()`, 0 when none runs) and its descendants are heard, as
  // systemd's NotifyAccess=all. Others are dropped; the first one is told to `on_refused`.
  // Throws std::system_error when the socket cannot be created.
  NotifySocket(boost::asio::io_context& io, const std::string& name,
               std::function<void(const Message&)> on_message, std::function<pid_t()> program_pid,
               std::function<void(const std::string&)> on_refused);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  // The NOTIFY_SOCKET value: "@podvisor/<pid>/<name>".
  const std::string& address() const { return address_; }

 private:
  void wait();
  // Whether a message from `sender` (0: unknown) may speak for the program.
  bool accepts(pid_t sender);

  std::string address_, name_;
  boost::asio::posix::stream_descriptor stream_;
  std::function<void(const Message&)> on_message_;
  std::function<pid_t()> program_pid_;
  std::function<void(const std::string&)> on_refused_;
  bool refused_once_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Parses one sd_notify datagram: newline-separated KEY=VALUE assignments.
NotifySocket::Message parse_notify(std::string_view datagram);

// Whether `pid` is `ancestor` or below it, following parents in /proc/PID/status. False
// when pid is gone, or its chain reaches PID 1 (or 0) first.
bool in_process_tree(pid_t pid, pid_t ancestor);

}  // namespace podvisor::probe
