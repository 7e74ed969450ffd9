#include "probe/notify.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace podvisor::probe {

NotifySocket::Message parse_notify(std::string_view datagram) {
  NotifySocket::Message m;
  while (!datagram.empty()) {
    const auto nl = datagram.find('\n');
    const auto line = datagram.substr(0, nl);
    if (line == "READY=1") m.ready = true;
    if (line.starts_with("STATUS=")) m.status = std::string(line.substr(7));
    if (nl == std::string_view::npos) break;
    datagram.remove_prefix(nl + 1);
  }
  return m;
}

NotifySocket::NotifySocket(boost::asio::io_context& io, const std::string& name,
                           std::function<void(const Message&)> on_message)
    : stream_(io), on_message_(std::move(on_message)) {
  // The object's address tells apart two sockets of one program name (across a reload).
  address_ = fmt::format("@podvisor/{}/{}/{:x}", getpid(), name, reinterpret_cast<uintptr_t>(this));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "notify socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const auto path = address_.substr(1);  // abstract: a NUL, then the name
  const auto len = std::min(path.size(), sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path + 1, path.data(), len);
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + len);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), fmt::format("bind {}", address_));
  }
  address_ = "@" + path.substr(0, len);
  stream_.assign(fd);
  wait();
}

NotifySocket::~NotifySocket() { *alive_ = false; }

void NotifySocket::wait() {
  stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, alive = alive_](const boost::system::error_code& ec) {
                       if (ec || !*alive) return;
                       char buffer[4096];
                       while (true) {
                         const auto n = ::recv(stream_.native_handle(), buffer, sizeof buffer, 0);
                         if (n < 0) break;
                         on_message_(parse_notify(std::string_view(buffer, size_t(n))));
                         if (!*alive) return;  // the callback may end this socket
                       }
                       wait();
                     });
}

}  // namespace podvisor::probe
