// The control server's reading side: requests through Beast's parser, with the size limits,
// basic auth before the body, 100-continue, and the watch for a client that goes away.
#include "control/server/http_connection.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>

namespace podvisor::control::detail {

using boost::algorithm::iequals;

namespace {

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// "127.0.0.1:51234", "[::1]:51234", "unix": for log lines.
std::string describe_peer(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown";
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) == nullptr) return "unknown";
    return fmt::format("{}:{}", text, ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) == nullptr) return "unknown";
    return fmt::format("[{}]:{}", text, ntohs(in6->sin6_port));
  }
  return "unix";
}

// The address part of describe_peer()'s text: what the per-peer limit counts; "" for unix.
std::string peer_address(const std::string& remote) {
  const auto colon = remote.rfind(':');
  return colon == std::string::npos ? std::string() : remote.substr(0, colon);
}

constexpr size_t kReadChunk = 16 * 1024;
// A probe has no body: what a reserved slot accepts.
constexpr size_t kReserveBodyLimit = 1024;
// What a connection reads ahead while a request is being answered (a pipelined request, the
// stray CRLF supervisorctl sends): beyond this it stops reading until the answer is out.
constexpr size_t kReadAheadLimit = 64 * 1024;
// After a final answer that closes the connection, what the client still sends is read and
// dropped, up to this much, so that closing does not reset the connection before the client
// has read the answer.
constexpr size_t kLingerBytes = 1024 * 1024;

}  // namespace

Connection::Connection(std::shared_ptr<ServerState> server, Socket socket)
    : server_(std::move(server)),
      socket_(std::move(socket)),
      timer_(server_->io),
      remote_(describe_peer(socket_.native_handle())),
      peer_(peer_address(remote_)) {}

Connection::~Connection() {
  if (phase_ != Phase::kClosed) server_->connection_closed(this);
}

void Connection::start() {
  if (phase_ == Phase::kClosed) return;
  guarded([&] { begin_request(); });
}

void Connection::log_failure(std::string_view what) {
  server_->log(LogLevel::kError, fmt::format("control: connection from {}: {}", remote_, what));
}

void Connection::begin_request() {
  phase_ = Phase::kReading;
  parser_.emplace();
  parser_->header_limit(
      static_cast<std::uint32_t>(std::min<size_t>(server_->options.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(reserve_ ? kReserveBodyLimit : server_->options.max_body_bytes);
  header_checked_ = false;
  user_.clear();
  waiting_since_ = std::chrono::steady_clock::now();
  const auto& options = server_->options;
  arm_timer(reserve_ ? options.reserve_header_timeout : options.header_timeout);
  parse_buffered();
}

void Connection::parse_buffered() {
  for (;;) {
    if (phase_ != Phase::kReading) return;
    if (!parser_->got_some()) {
      // Empty lines before a request are ignored (RFC 9112 2.2): supervisorctl's tail -f sends
      // a stray CRLF after its request, and medusa skips them too.
      const auto data = in_.data();
      const auto* p = static_cast<const char*>(data.data());
      size_t blank = 0;
      while (blank < data.size() && (p[blank] == '\r' || p[blank] == '\n')) ++blank;
      in_.consume(blank);
    }
    if (parser_->is_header_done() && !header_checked_) {
      header_checked_ = true;
      if (!check_header()) return;
    }
    if (parser_->is_done()) {
      dispatch();
      return;
    }
    if (in_.size() == 0) {
      read_more();
      return;
    }
    beast::error_code ec;
    const size_t used = parser_->put(in_.data(), ec);
    in_.consume(used);
    if (ec == http::error::need_more || (!ec && used == 0)) {
      if (used == 0 && !(parser_->is_header_done() && !header_checked_)) {
        read_more();
        return;
      }
      continue;
    }
    if (ec == http::error::body_limit) return reject(413, ec.message());
    if (ec == http::error::header_limit) return reject(431, ec.message());
    if (ec) return reject(400, ec.message());
  }
}

bool Connection::check_header() {
  const auto& message = parser_->get();
  const auto& options = server_->options;
  Request probe;
  probe.target = std::string(sv(message.target()));
  // A reserved slot answers a probe: GET or HEAD of a probe path, without a body (one sent
  // slowly would hold the slot). Not logged one by one: under a flood that would flood the log.
  if (reserve_ && (!options.probe_paths.contains(probe.path()) || !parser_->is_done() ||
                   (message.method() != http::verb::get && message.method() != http::verb::head))) {
    reject(503, "", {{"Retry-After", "1"}});
    return false;
  }
  if (options.auth) {
    if (!options.public_paths.contains(probe.path())) {
      const std::string_view credentials = sv(message[http::field::authorization]);
      auto user = authenticated_user(*options.auth, credentials);
      if (user) {
        user_ = std::move(*user);
      } else {
        server_->log(LogLevel::kInfo,
                     fmt::format("control: {} from {}: {} credentials", probe.target, remote_,
                                 credentials.empty() ? "no" : "wrong"));
        // As medusa: the challenge, then the connection closes without reading the body.
        reject(401, "", {{"WWW-Authenticate", R"(Basic realm="default")"}});
        return false;
      }
    }
  }
  // curl and others wait for this before sending a larger body.
  const std::string_view expect = sv(message[http::field::expect]);
  if (!expect.empty() && iequals(expect, "100-continue") && message.version() >= 11 &&
      !parser_->is_done()) {
    http::response<http::empty_body> proceed(http::status::continue_, 11);
    queue(serialize_header(proceed));
  }
  parser_->eager(true);
  if (!parser_->is_done()) arm_timer(options.body_timeout);
  return true;
}

void Connection::dispatch() {
  auto message = parser_->release();
  parser_.reset();
  disarm_timer();
  if (write_in_flight_) arm_timer(server_->options.idle_timeout);  // a 100 Continue

  Request request;
  request.method = std::string(sv(message.method_string()));
  request.target = std::string(sv(message.target()));
  request.version = static_cast<int>(message.version());
  request.headers.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(sv(field.name_string())),
                                 std::string(sv(field.value())));
  }
  request.body = std::move(message.body());
  request.remote = remote_;
  request.user = user_;

  version_ = request.version;
  keep_alive_ = message.keep_alive() && !reserve_;  // a reserved slot serves one probe
  head_ = message.method() == http::verb::head;
  chunked_ = false;
  after_write_ = AfterWrite::kNothing;
  phase_ = Phase::kHandling;
  read_more();  // to see the client go away, and to take in the stray CRLF

  auto responder = std::make_shared<ResponderImpl>(shared_from_this());
  responder_ = responder;
  if (server_->closed || !server_->handler) {
    responder->send({503, "text/plain", "503 Service Unavailable\n", {}});
    return;
  }
  try {
    // A copy: the handler may close the server, which releases server_->handler.
    const Handler handler = server_->handler;
    handler(request, responder);
  } catch (const std::exception& e) {
    server_->log(LogLevel::kError, fmt::format("control: {} {} from {} failed: {}", request.method,
                                               request.target, remote_, e.what()));
    if (!responder->answered()) {
      responder->send({500, "text/plain", "500 Internal Server Error\n", {}});
    } else if (responder->streaming()) {
      close_now();
    }
  } catch (...) {
    if (!responder->answered()) {
      responder->send({500, "text/plain", "500 Internal Server Error\n", {}});
    } else if (responder->streaming()) {
      close_now();
    }
  }
}

void Connection::read_more() {
  if (read_in_flight_ || phase_ == Phase::kClosed || peer_done_) return;
  if (phase_ != Phase::kReading && phase_ != Phase::kLingering && in_.size() >= kReadAheadLimit) {
    return;  // enough read ahead; resumes with the next request
  }
  read_in_flight_ = true;
  // Into a buffer of its own: in_ changes (parsing consumes it) while this read is pending.
  if (!read_buffer_) read_buffer_ = std::make_unique<char[]>(kReadChunk);
  socket_.async_read_some(
      asio::buffer(read_buffer_.get(), kReadChunk),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        self->read_in_flight_ = false;
        self->guarded([&] {
          if (self->phase_ == Phase::kClosed) return;
          if (n > 0) {
            const auto room = self->in_.prepare(n);
            std::memcpy(room.data(), self->read_buffer_.get(), n);
            self->in_.commit(n);
          }
          self->on_read(ec);
        });
      });
}

void Connection::on_read(const boost::system::error_code& ec) {
  if (ec == asio::error::eof) return on_end_of_input();
  if (ec) {
    if (ec != asio::error::operation_aborted) {
      server_->log(LogLevel::kDebug,
                   fmt::format("control: connection from {}: {}", remote_, ec.message()));
    }
    close_now();
    return;
  }
  switch (phase_) {
    case Phase::kReading:
      parse_buffered();
      break;
    case Phase::kHandling:
    case Phase::kStreaming:
      read_more();
      break;
    case Phase::kLingering:
      lingered_bytes_ += in_.size();
      in_.consume(in_.size());
      if (lingered_bytes_ > kLingerBytes) {
        close_now();
      } else {
        read_more();
      }
      break;
    case Phase::kClosed:
      break;
  }
}

void Connection::on_end_of_input() {
  peer_done_ = true;
  switch (phase_) {
    case Phase::kReading:
      if (parser_ && parser_->got_some()) {
        server_->log(LogLevel::kDebug,
                     fmt::format("control: {} closed the connection mid-request", remote_));
      }
      close_now();
      break;
    case Phase::kHandling:
      // An HTTP/1.0 style client may shut down its side and still wait for the answer; the
      // connection closes once it is out.
      keep_alive_ = false;
      if (after_write_ == AfterWrite::kNextRequest) after_write_ = AfterWrite::kLinger;
      break;
    case Phase::kStreaming:
    case Phase::kLingering:
      close_now();  // a stream's reader does not half-close: it is gone
      break;
    case Phase::kClosed:
      break;
  }
}

}  // namespace podvisor::control::detail
