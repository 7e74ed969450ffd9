#include "probe/notify.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace podvisor::probe {
namespace {

// The PPid: line of /proc/PID/status; 0 when the process is gone.
pid_t parent_of(pid_t pid) {
  const auto path = fmt::format("/proc/{}/status", pid);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];  // PPid is among the first lines
  const auto n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  const std::string_view text(buf, size_t(n));
  const auto at = text.find("\nPPid:");
  if (at == std::string_view::npos) return 0;
  return static_cast<pid_t>(std::strtol(buf + at + 6, nullptr, 10));
}

}  // namespace

bool in_process_tree(pid_t pid, pid_t ancestor) {
  if (ancestor <= 1) return false;
  // Bounded: a chain longer than this is no program's tree (and /proc may change under us).
  for (int depth = 0; depth < 1024 && pid > 1; ++depth) {
    if (pid == ancestor) return true;
    pid = parent_of(pid);
  }
  return false;
}

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
                           std::function<void(const Message&)> on_message,
                           std::function<pid_t()> program_pid,
                           std::function<void(const std::string&)> on_refused)
    : name_(name),
      stream_(io),
      on_message_(std::move(on_message)),
      program_pid_(std::move(program_pid)),
      on_refused_(std::move(on_refused)) {
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
  const int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), fmt::format("bind {}", address_));
  }
  address_ = "@" + path.substr(0, len);
  stream_.assign(fd);
  wait();
}

NotifySocket::~NotifySocket() { *alive_ = false; }

namespace {

constexpr int kBatch = 64;  // datagrams read per wake-up

// One datagram and its sender's pid (SCM_CREDENTIALS, 0 when absent); recvmsg's result.
ssize_t receive(int fd, char* buffer, size_t size, pid_t& sender) {
  iovec iov{buffer, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const auto n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
        c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      sender = cred.pid;
    }
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {  // nobody asked for fds
      const auto count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
        if (passed >= 0) ::close(passed);
      }
    }
  }
  return n;
}

}  // namespace

void NotifySocket::wait() {
  stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, alive = alive_](const boost::system::error_code& ec) {
                       if (ec || !*alive) return;
                       char buffer[4096];
                       // A bounded batch, then back to the loop: a sender flooding the socket
                       // must not keep the loop here.
                       for (int batch = 0; batch < kBatch; ++batch) {
                         pid_t sender = 0;
                         const auto n =
                             receive(stream_.native_handle(), buffer, sizeof buffer, sender);
                         if (n < 0) break;
                         if (!accepts(sender)) continue;
                         on_message_(parse_notify(std::string_view(buffer, size_t(n))));
                         if (!*alive) return;  // the callback may end this socket
                       }
                       wait();
                     });
}

bool NotifySocket::accepts(pid_t sender) {
  const pid_t program = program_pid_ ? program_pid_() : 0;
  if (sender > 0 && in_process_tree(sender, program)) return true;
  if (!refused_once_ && on_refused_) {
    refused_once_ = true;
    on_refused_(
        fmt::format("ignored a notify message for {} from pid {}: not {}'s process or one of its "
                    "descendants (further ones are ignored silently)",
                    name_, sender, name_));
  }
  return false;
}

}  // namespace podvisor::probe
