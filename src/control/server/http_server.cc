#include "control/server/http_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/algorithm/string/case_conv.hpp>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/uuid/detail/sha1.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "control/server/http_connection.h"
#include "control/wire/base64.h"
#include "os/address.h"

namespace podvisor::control {

namespace asio = boost::asio;
using boost::algorithm::iequals;
using config::LogLevel;
using detail::Listener;
using detail::Socket;

namespace {

// Compares without stopping at the first difference, so timing tells nothing of the secret.
bool constant_time_equals(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::system_error os_error(int err, const std::string& what) {
  return std::system_error(err, std::generic_category(), what);
}

std::system_error os_error(const boost::system::error_code& ec, const std::string& what) {
  return os_error(ec.value(), what);
}

// A socket with SOCK_CLOEXEC (Asio's own open() leaves it inheritable), as an Asio acceptor.
void open_acceptor(detail::Acceptor& acceptor, int family, int protocol, const std::string& what) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw os_error(errno, fmt::format("control server: socket for {}", what));
  boost::system::error_code ec;
  acceptor.assign(asio::generic::stream_protocol(family, protocol), fd, ec);
  if (ec) {
    ::close(fd);
    throw os_error(ec, fmt::format("control server: socket for {}", what));
  }
}

// Whether a process listens on the unix socket at path: a non-blocking connect answers at once.
bool unix_socket_in_use(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  const bool in_use = connected || errno == EAGAIN || errno == EINPROGRESS;  // a full backlog
  ::close(fd);  // a fresh socket of ours: nothing to report on close
  return in_use;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

namespace detail {

ServerState::ServerState(boost::asio::io_context& context, Handler h, ServerOptions o)
    : io(context), handler(std::move(h)), options(std::move(o)) {
  // Without it (no descriptor to spare now), accept failures still back off; they just leave
  // the client waiting in the backlog instead of refusing it.
  spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

ServerState::~ServerState() {
  if (spare_fd >= 0) ::close(spare_fd);  // /dev/null, read-only: nothing to report
}

void ServerState::log(LogLevel level, std::string_view message) const {
  if (!options.log) return;
  try {
    options.log(level, message);
  } catch (...) {
    // a logger that throws must not take the server down
  }
}

void ServerState::add_listener(std::shared_ptr<Listener> listener) {
  if (!listener->unix_path.empty()) {
    struct stat st {};
    if (::lstat(listener->unix_path.c_str(), &st) == 0) {
      listener->dev = st.st_dev;
      listener->ino = st.st_ino;
    }
  }
  listeners.push_back(listener);
  accept_next(listener);
}

void ServerState::accept_next(const std::shared_ptr<Listener>& listener) {
  if (closed || listener->accepting || !listener->acceptor.is_open()) return;
  if (general_count >= options.max_connections && options.reserved_connections == 0) {
    if (!listener->paused) {
      log(LogLevel::kWarn, fmt::format("control: {} connections open; {} waits", connections.size(),
                                       listener->description));
    }
    listener->paused = true;
    return;
  }
  listener->accepting = true;
  listener->acceptor.async_accept([self = shared_from_this(), listener](
                                      const boost::system::error_code& ec, Socket socket) {
    listener->accepting = false;
    if (ec == asio::error::operation_aborted || self->closed) return;
    // A connection refused by a firewall rule: the next one may be fine (Asio itself retries
    // ECONNABORTED, EPROTO and EINTR).
    if (ec.value() == EPERM) return self->accept_next(listener);
    if (ec) return self->on_accept_error(listener, ec);
    if (listener->failing) {
      listener->failing = false;
      self->log(LogLevel::kInfo,
                fmt::format("control: accepting on {} again", listener->description));
    }
    try {
      self->start_connection(std::move(socket));
    } catch (const std::exception& e) {
      self->log(LogLevel::kError, fmt::format("control: {}: {}", listener->description, e.what()));
    }
    self->accept_next(listener);
  });
}

void ServerState::on_accept_error(const std::shared_ptr<Listener>& listener,
                                  const boost::system::error_code& ec) {
  // Out of descriptors or memory. Logged once until accepting works again; the waiting client
  // is refused (accepted into the spare descriptor's place and closed) rather than left hanging;
  // and accepting pauses a moment instead of spinning on a listener that stays readable.
  if (!listener->failing) {
    listener->failing = true;
    log(LogLevel::kError,
        fmt::format("control: accepting on {}: {}; clients are refused until it clears",
                    listener->description, ec.message()));
  }
  if ((ec.value() == EMFILE || ec.value() == ENFILE) && spare_fd >= 0) {
    ::close(spare_fd);  // /dev/null: nothing to report
    const int client = ::accept4(listener->acceptor.native_handle(), nullptr, nullptr,
                                 SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client >= 0) ::close(client);  // refused: the client sees the connection end
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  listener->retry.expires_after(std::chrono::milliseconds(100));
  listener->retry.async_wait(
      [self = shared_from_this(), listener](const boost::system::error_code& waited) {
        if (!waited) self->accept_next(listener);
      });
}

void ServerState::start_connection(Socket socket, bool adopted) {
  // Asio accepts without SOCK_CLOEXEC; a child must not inherit a client's connection.
  if (::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC) != 0) {
    throw os_error(errno, "control server: FD_CLOEXEC on a connection");
  }
  auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket));
  const std::string& peer = connection->peer();
  const auto held = per_peer.find(peer);
  const bool over =
      !adopted && (general_count >= options.max_connections ||
                   (held != per_peer.end() && held->second >= options.max_connections_per_peer));
  if (over) {
    if (reserve_count >= options.reserved_connections && !evict_slowest_reserve()) {
      return;  // every reserved slot is answering: this client is refused (closed)
    }
    connection->set_reserve();
    ++reserve_count;
  } else {
    ++general_count;
    if (!peer.empty()) ++per_peer[peer];
  }
  connections.emplace(connection.get(), connection);
  connection->start();
}

bool ServerState::evict_slowest_reserve() {
  std::shared_ptr<Connection> slowest;
  for (const auto& [raw, weak] : connections) {
    auto connection = weak.lock();
    if (!connection || !connection->reserve() || !connection->evictable()) continue;
    if (!slowest || connection->waiting_since() < slowest->waiting_since()) {
      slowest = std::move(connection);
    }
  }
  if (!slowest) return false;
  slowest->shut_down();
  return true;
}

void ServerState::connection_closed(Connection* connection) {
  if (connections.erase(connection) == 0) return;
  if (connection->reserve()) {
    --reserve_count;
  } else {
    --general_count;
    const auto peer = per_peer.find(connection->peer());
    if (peer != per_peer.end() && --peer->second == 0) per_peer.erase(peer);
  }
  if (closed || general_count >= options.max_connections) return;
  for (const auto& listener : listeners) {
    if (listener->paused) {
      listener->paused = false;
      accept_next(listener);
    }
  }
}

std::optional<std::string> authenticated_user(const BasicAuth& auth,
                                              std::string_view authorization) {
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "basic")) {
    return std::nullopt;
  }
  const auto decoded = base64_decode(authorization.substr(space + 1));
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string_view user = std::string_view(*decoded).substr(0, colon);
  const std::string_view password = std::string_view(*decoded).substr(colon + 1);
  const bool user_ok = constant_time_equals(user, auth.username);
  const bool password_ok = password_matches(auth.password, password);
  if (!user_ok || !password_ok) return std::nullopt;
  return std::string(user);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

std::string Request::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

std::string Request::path() const {
  std::string_view raw = target;
  // An absolute-form target (a proxy's "http://host/path") carries its path after the host.
  if (raw.size() > 7 && iequals(raw.substr(0, 7), "http://")) {
    const auto slash = raw.find('/', 7);
    raw = slash == std::string_view::npos ? std::string_view("/") : raw.substr(slash);
  }
  raw = raw.substr(0, raw.find_first_of("?#"));
  std::string path;
  path.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size() && hex_digit(raw[i + 1]) >= 0 &&
        hex_digit(raw[i + 2]) >= 0) {
      path += static_cast<char>(hex_digit(raw[i + 1]) * 16 + hex_digit(raw[i + 2]));
      i += 2;
    } else {
      path += raw[i];
    }
  }
  return path;
}

std::string Request::query() const {
  const auto mark = target.find('?');
  if (mark == std::string::npos) return {};
  const auto hash = target.find('#', mark);
  return target.substr(mark + 1, hash == std::string::npos ? std::string::npos : hash - mark - 1);
}

std::string sha1_hex(std::string_view data) {
  boost::uuids::detail::sha1 sha;
  sha.process_bytes(data.data(), data.size());
  boost::uuids::detail::sha1::digest_type digest;
  sha.get_digest(digest);
  std::string hex;
  for (const auto word : digest) hex += fmt::format("{:08x}", static_cast<uint32_t>(word));
  return hex;
}

bool password_matches(std::string_view stored, std::string_view given) {
  if (stored.starts_with("{SHA}")) {
    return constant_time_equals(boost::algorithm::to_lower_copy(std::string(stored.substr(5))),
                                sha1_hex(given));
  }
  return constant_time_equals(stored, given);
}

HttpServer::HttpServer(boost::asio::io_context& io, Handler handler, ServerOptions options)
    : state_(std::make_shared<detail::ServerState>(io, std::move(handler), std::move(options))) {}

HttpServer::~HttpServer() { close(); }

void HttpServer::listen_unix(const std::string& path, mode_t mode, std::optional<uid_t> uid,
                             std::optional<gid_t> gid) {
  if (state_->closed) throw os_error(EBADF, "control server: already closed");
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    throw os_error(ENAMETOOLONG,
                   fmt::format("control server: unix socket path '{}' must be 1 to {} bytes", path,
                               sizeof(sockaddr_un::sun_path) - 1));
  }

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw os_error(EEXIST, fmt::format("control server: {} exists and is not a socket", path));
    }
    if (unix_socket_in_use(path)) {
      throw os_error(EADDRINUSE,
                     fmt::format("control server: another process listens on {}", path));
    }
    // Left by a process that is gone (supervisord does the same).
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw os_error(errno, fmt::format("control server: cannot remove stale socket {}", path));
    }
  }

  auto listener = std::make_shared<Listener>(state_->io);
  auto& acceptor = listener->acceptor;
  open_acceptor(acceptor, AF_UNIX, 0, path);
  // The socket file takes its mode from the umask at bind: it never exists with a wider mode,
  // not even for an instant, and no chmod(path) follows that a swapped-in symlink could
  // redirect. The loop is single-threaded, so no other file is created under this umask.
  boost::system::error_code ec;
  const mode_t old_umask = ::umask(static_cast<mode_t>(~mode & 0777));
  acceptor.bind(asio::local::stream_protocol::endpoint(path), ec);
  ::umask(old_umask);  // umask() cannot fail
  if (ec) throw os_error(ec, fmt::format("control server: cannot bind {}", path));
  const auto remove_file = [&] {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      state_->log(LogLevel::kWarn, fmt::format("control server: cannot remove {}: {}", path,
                                               std::generic_category().message(errno)));
    }
  };
  if (uid || gid) {
    // lchown: in a shared directory the path may have been swapped for a symlink by now.
    if (::lchown(path.c_str(), uid ? *uid : static_cast<uid_t>(-1),
                 gid ? *gid : static_cast<gid_t>(-1)) != 0) {
      const int err = errno;
      remove_file();
      throw os_error(
          err, fmt::format("control server: cannot chown {} to {}:{}", path,
                           uid ? std::to_string(*uid) : "-", gid ? std::to_string(*gid) : "-"));
    }
  }
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    remove_file();
    throw os_error(ec, fmt::format("control server: cannot listen on {}", path));
  }
  listener->description = "unix:" + path;
  listener->unix_path = path;
  state_->add_listener(std::move(listener));
}

uint16_t HttpServer::listen_tcp(const std::string& host, uint16_t port) {
  if (state_->closed) throw os_error(EBADF, "control server: already closed");
  const auto address = host.empty() || host == "*"
                           ? std::optional<asio::ip::address>(asio::ip::address_v4::any())
                           : os::parse_host(host);
  if (!address) {
    throw os_error(EINVAL, fmt::format("control server: cannot listen on '{}': not a numeric "
                                       "IPv4 or IPv6 address (host names are not resolved)",
                                       host));
  }
  const auto describe = [&](uint16_t p) {
    return address->is_v6() ? fmt::format("[{}]:{}", address->to_string(), p)
                            : fmt::format("{}:{}", address->to_string(), p);
  };
  const asio::ip::tcp::endpoint endpoint(*address, port);
  auto listener = std::make_shared<Listener>(state_->io);
  auto& acceptor = listener->acceptor;
  open_acceptor(acceptor, endpoint.protocol().family(), IPPROTO_TCP, describe(port));
  boost::system::error_code ec;
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) throw os_error(ec, fmt::format("control server: SO_REUSEADDR on {}", describe(port)));
  acceptor.bind(endpoint, ec);
  if (ec) throw os_error(ec, fmt::format("control server: cannot bind {}", describe(port)));
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw os_error(ec, fmt::format("control server: cannot listen on {}", describe(port)));
  const auto bound = acceptor.local_endpoint(ec);
  if (ec) throw os_error(ec, fmt::format("control server: getsockname on {}", describe(port)));
  const auto* raw = bound.data();
  const uint16_t actual = raw->sa_family == AF_INET6
                              ? ntohs(reinterpret_cast<const sockaddr_in6*>(raw)->sin6_port)
                              : ntohs(reinterpret_cast<const sockaddr_in*>(raw)->sin_port);
  listener->description = describe(actual);
  if (!state_->options.auth && !address->is_loopback()) {
    // The config had to allow it (allow_unauthenticated); supervisord says as much at CRIT.
    state_->log(LogLevel::kCritical,
                fmt::format("control server on {} has no username and password: anyone who can "
                            "reach it can control every program",
                            listener->description));
  }
  state_->add_listener(std::move(listener));
  return actual;
}

void HttpServer::adopt(int fd) {
  if (state_->closed) {
    ::close(fd);
    return;
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int family = AF_UNIX;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) family = addr.ss_family;
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    state_->log(LogLevel::kError, fmt::format("control server: O_NONBLOCK on fd {}: {}", fd,
                                              std::generic_category().message(errno)));
    ::close(fd);
    return;
  }
  Socket socket(state_->io);
  boost::system::error_code ec;
  socket.assign(asio::generic::stream_protocol(family, family == AF_UNIX ? 0 : IPPROTO_TCP), fd,
                ec);
  if (ec) {
    ::close(fd);
    return;
  }
  state_->start_connection(std::move(socket), true);
}

void HttpServer::close() {
  auto& state = *state_;
  if (state.closed) return;
  state.closed = true;
  for (const auto& listener : state.listeners) {
    boost::system::error_code ignored;  // closing a listener we own: nothing to do on failure
    listener->acceptor.close(ignored);
    listener->retry.cancel();
    if (!listener->unix_path.empty()) {
      // Only the file this server made: a newer process may have replaced it.
      struct stat st {};
      if (::lstat(listener->unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
          st.st_dev == listener->dev && st.st_ino == listener->ino &&
          ::unlink(listener->unix_path.c_str()) != 0 && errno != ENOENT) {
        state.log(LogLevel::kWarn,
                  fmt::format("control server: cannot remove {}: {}", listener->unix_path,
                              std::generic_category().message(errno)));
      }
    }
  }
  state.listeners.clear();
  // Kept alive while they close: a closing connection runs callbacks that may drop others.
  std::vector<std::shared_ptr<detail::Connection>> open;
  for (const auto& [raw, weak] : state.connections) {
    if (auto connection = weak.lock()) open.push_back(std::move(connection));
  }
  for (const auto& connection : open) connection->shut_down();
  state.connections.clear();
  state.handler = nullptr;
}

size_t HttpServer::connection_count() const { return state_->connections.size(); }

}  // namespace podvisor::control
