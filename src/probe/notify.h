// The `notify` probe: a datagram socket per program, passed as NOTIFY_SOCKET, that takes
// sd_notify messages (READY=1, STATUS=...). The address is in the abstract namespace
// ("@podvisor/..."), so it needs no writable directory and goes away with podvisor.
#pragma once

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
  // Throws std::system_error when the socket cannot be created.
  NotifySocket(boost::asio::io_context& io, const std::string& name,
               std::function<void(const Message&)> on_message);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  // The NOTIFY_SOCKET value: "@podvisor/<pid>/<name>".
  const std::string& address() const { return address_; }

 private:
  void wait();

  std::string address_;
  boost::asio::posix::stream_descriptor stream_;
  std::function<void(const Message&)> on_message_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Parses one sd_notify datagram: newline-separated KEY=VALUE assignments.
NotifySocket::Message parse_notify(std::string_view datagram);

}  // namespace podvisor::probe
