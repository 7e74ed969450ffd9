#include "control/server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/uuid/detail/sha1.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <system_error>

#include "control/wire/base64.h"

namespace podvisor::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using config::LogLevel;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

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

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Header values go out as given, minus what would end the line early.
std::string header_safe(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

std::system_error os_error(int err, const std::string& what) {
  return std::system_error(err, std::generic_category(), what);
}

std::string describe_peer(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown";
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return fmt::format("{}:{}", text, ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return fmt::format("[{}]:{}", text, ntohs(in6->sin6_port));
  }
  return "unix";
}

constexpr size_t kReadChunk = 16 * 1024;
// What a connection reads ahead while a request is being answered (a pipelined request, the
// stray CRLF supervisorctl sends): beyond this it stops reading until the answer is out.
constexpr size_t kReadAheadLimit = 64 * 1024;
// After a final answer that closes the connection, what the client still sends is read and
// dropped for this long (and this much), so that closing does not reset the connection
// before the client has read the answer.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1024 * 1024;

class Connection;

}  // namespace

namespace detail {

struct Listener {
  Listener(asio::io_context& io, int fd) : descriptor(io, fd) {}
  asio::posix::stream_descriptor descriptor;
  std::string description;  // "unix:/run/podvisor.sock", "127.0.0.1:9001"
  std::string unix_path;    // removed on close if it is still this socket
  dev_t dev = 0;
  ino_t ino = 0;
  bool waiting = false;
  bool paused = false;  // at max_connections
  std::optional<asio::steady_timer> retry;
};

struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(asio::io_context& context, Handler h, ServerOptions o)
      : io(context), handler(std::move(h)), options(std::move(o)) {}

  asio::io_context& io;
  Handler handler;
  ServerOptions options;
  bool closed = false;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::map<Connection*, std::weak_ptr<Connection>> connections;

  void log(LogLevel level, std::string_view message) const {
    if (!options.log) return;
    try {
      options.log(level, message);
    } catch (...) {
      // a logger that throws must not take the server down
    }
  }

  void add_listener(int fd, std::string description, std::string unix_path);
  void wait_for_clients(const std::shared_ptr<Listener>& listener);
  void accept_clients(const std::shared_ptr<Listener>& listener);
  void start_connection(int fd);
  void connection_closed(Connection* connection);
};

}  // namespace detail

namespace {

using detail::ServerState;

class ResponderImpl;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerState> server, int fd, int family)
      : server_(std::move(server)),
        socket_(server_->io),
        timer_(server_->io),
        remote_(describe_peer(fd)) {
    const int protocol = family == AF_UNIX ? 0 : IPPROTO_TCP;
    boost::system::error_code ec;
    socket_.assign(asio::generic::stream_protocol(family, protocol), fd, ec);
    if (ec) {
      ::close(fd);
      phase_ = Phase::kClosed;
    }
  }

  ~Connection() {
    if (phase_ != Phase::kClosed) server_->connection_closed(this);
  }

  void start() {
    if (phase_ == Phase::kClosed) return;
    guarded([&] { begin_request(); });
  }

  // Called by the server's close(): one last non-blocking try to send what is queued.
  void shut_down() {
    if (phase_ == Phase::kClosed) return;
    // With a write in flight, how much of it went out is unknown: sending more could
    // interleave bytes. Asio writes speculatively, so what was queued is usually out already.
    if (!write_in_flight_ && !out_.empty() && socket_.is_open()) {
      (void)::send(socket_.native_handle(), out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    close_now();
  }

  // --- used by ResponderImpl ---
  void send_response(Response response);
  void start_stream(int status, std::string content_type);
  void write_chunk(std::string data);
  void end_stream();
  void abandon(bool streaming);
  size_t pending_bytes() const { return out_.size() + (write_in_flight_ ? writing_.size() : 0); }
  bool is_closed() const { return phase_ == Phase::kClosed; }
  asio::io_context& io() const { return server_->io; }

 private:
  enum class Phase { kReading, kHandling, kStreaming, kLingering, kClosed };
  enum class AfterWrite { kNothing, kNextRequest, kLinger };

  template <typename F>
  void guarded(F&& body) {
    try {
      body();
    } catch (const std::exception& e) {
      server_->log(LogLevel::kError,
                   fmt::format("control: connection from {}: {}", remote_, e.what()));
      close_now();
    } catch (...) {
      close_now();
    }
  }

  void begin_request();
  void parse_buffered();
  bool check_header();
  void dispatch();
  void reject(int status, std::string_view why, Headers extra = {});
  void read_more();
  void on_read(const boost::system::error_code& ec);
  void on_end_of_input();
  void queue(std::string_view data);
  void flush();
  void on_written(const boost::system::error_code& ec);
  void finish_answer();
  void linger();
  void arm_timer(std::chrono::steady_clock::duration after);
  void disarm_timer();
  void close_now();
  std::string status_line(int status) const;

  std::shared_ptr<ServerState> server_;
  asio::generic::stream_protocol::socket socket_;
  asio::steady_timer timer_;
  unsigned timer_generation_ = 0;
  std::string remote_;
  Phase phase_ = Phase::kReading;

  beast::flat_buffer in_;
  std::unique_ptr<char[]> read_buffer_;
  bool read_in_flight_ = false;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool header_checked_ = false;
  std::string user_;
  size_t lingered_bytes_ = 0;

  std::string out_;      // queued
  std::string writing_;  // being written
  bool write_in_flight_ = false;
  AfterWrite after_write_ = AfterWrite::kNothing;

  // The request being answered.
  int version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
  bool chunked_ = false;
  bool peer_done_ = false;  // the client sent end of input
  std::weak_ptr<ResponderImpl> responder_;

  friend class ResponderImpl;
};

class ResponderImpl : public Responder {
 public:
  explicit ResponderImpl(std::shared_ptr<Connection> connection)
      : connection_(std::move(connection)) {}

  ~ResponderImpl() override {
    if (state_ == State::kFresh || state_ == State::kStreaming) {
      const bool streaming = state_ == State::kStreaming;
      connection_->guarded([&] { connection_->abandon(streaming); });
    }
  }

  // Each call reaches the connection through guarded(): whatever fails closes the connection
  // rather than throwing into the caller's event handler.
  void send(Response response) override {
    if (state_ != State::kFresh) return;
    state_ = State::kDone;
    on_close_ = nullptr;
    connection_->guarded([&] { connection_->send_response(std::move(response)); });
  }

  void start_stream(int status, std::string content_type) override {
    if (state_ != State::kFresh) return;
    state_ = State::kStreaming;
    connection_->guarded([&] { connection_->start_stream(status, std::move(content_type)); });
  }

  void write_chunk(std::string data) override {
    if (state_ != State::kStreaming) return;
    connection_->guarded([&] { connection_->write_chunk(std::move(data)); });
  }

  void end_stream() override {
    if (state_ != State::kStreaming) return;
    state_ = State::kDone;
    on_close_ = nullptr;
    connection_->guarded([&] { connection_->end_stream(); });
  }

  bool closed() const override { return state_ == State::kDone || state_ == State::kClosed; }

  size_t pending_bytes() const override { return closed() ? 0 : connection_->pending_bytes(); }

  void on_close(std::function<void()> callback) override {
    if (state_ == State::kDone) return;
    on_close_ = std::move(callback);
    if (state_ == State::kClosed) run_on_close();
  }

  // The connection closed before the answer was complete.
  void connection_closed() {
    if (state_ == State::kDone || state_ == State::kClosed) return;
    state_ = State::kClosed;
    run_on_close();
  }

  // A HEAD request's stream: the headers were the whole answer.
  void mark_done() {
    state_ = State::kDone;
    on_close_ = nullptr;
  }

  bool answered() const { return state_ != State::kFresh; }
  bool streaming() const { return state_ == State::kStreaming; }

 private:
  // From the event loop, never from inside a call: a handler that walks its list of streams
  // calling write_chunk() may drop one from that list in its callback.
  void run_on_close() {
    auto callback = std::exchange(on_close_, nullptr);
    if (!callback) return;
    asio::post(connection_->io(), [callback = std::move(callback)] {
      try {
        callback();
      } catch (...) {
        // the server never throws into the loop, not even for its callers' callbacks
      }
    });
  }

  enum class State { kFresh, kStreaming, kDone, kClosed };
  std::shared_ptr<Connection> connection_;
  State state_ = State::kFresh;
  std::function<void()> on_close_;
};

// ---------------------------------------------------------------------------------------------

void Connection::begin_request() {
  phase_ = Phase::kReading;
  parser_.emplace();
  parser_->header_limit(
      static_cast<std::uint32_t>(std::min<size_t>(server_->options.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(server_->options.max_body_bytes);
  header_checked_ = false;
  user_.clear();
  arm_timer(server_->options.idle_timeout);
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
  if (options.auth) {
    Request probe;
    probe.target = std::string(sv(message.target()));
    if (!options.public_paths.contains(probe.path())) {
      const std::string_view credentials = sv(message[http::field::authorization]);
      bool ok = false;
      const auto space = credentials.find(' ');
      if (space != std::string_view::npos && iequals(credentials.substr(0, space), "basic")) {
        if (auto decoded = base64_decode(credentials.substr(space + 1))) {
          const auto colon = decoded->find(':');
          if (colon != std::string::npos) {
            const std::string_view user = std::string_view(*decoded).substr(0, colon);
            const std::string_view password = std::string_view(*decoded).substr(colon + 1);
            const bool user_ok = constant_time_equals(user, options.auth->username);
            const bool password_ok = password_matches(options.auth->password, password);
            if (user_ok && password_ok) {
              ok = true;
              user_ = std::string(user);
            }
          }
        }
      }
      if (!ok) {
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
    queue("HTTP/1.1 100 Continue\r\n\r\n");
  }
  parser_->eager(true);
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
  keep_alive_ = message.keep_alive();
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

std::string Connection::status_line(int status) const {
  return fmt::format("HTTP/1.1 {} {}\r\n", status,
                     sv(http::obsolete_reason(static_cast<http::status>(status))));
}

void Connection::reject(int status, std::string_view why, Headers extra) {
  if (!why.empty()) {
    server_->log(LogLevel::kInfo,
                 fmt::format("control: bad request from {}: {} ({})", remote_, why, status));
  }
  parser_.reset();
  phase_ = Phase::kHandling;
  std::string text = status_line(status);
  for (const auto& [name, value] : extra) {
    text += fmt::format("{}: {}\r\n", header_safe(name), header_safe(value));
  }
  const std::string body =
      fmt::format("{} {}\n", status, sv(http::obsolete_reason(static_cast<http::status>(status))));
  text +=
      fmt::format("Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                  body.size(), body);
  after_write_ = AfterWrite::kLinger;
  queue(text);
}

void Connection::send_response(Response response) {
  if (phase_ == Phase::kClosed) return;
  const bool close = !keep_alive_ || peer_done_ || server_->closed;
  const bool bodiless = response.status == 204 || response.status == 304 ||
                        (response.status >= 100 && response.status < 200);
  if (response.status < 100 || response.status > 999) response.status = 500;
  std::string text = status_line(response.status);
  if (!bodiless) text += fmt::format("Content-Type: {}\r\n", header_safe(response.content_type));
  for (const auto& [name, value] : response.headers) {
    if (iequals(name, "Content-Length") || iequals(name, "Connection") ||
        iequals(name, "Transfer-Encoding")) {
      continue;
    }
    text += fmt::format("{}: {}\r\n", header_safe(name), header_safe(value));
  }
  if (!bodiless) text += fmt::format("Content-Length: {}\r\n", response.body.size());
  if (close) {
    text += "Connection: close\r\n";
  } else if (version_ == 10) {
    text += "Connection: keep-alive\r\n";
  }
  text += "\r\n";
  if (!head_ && !bodiless) text += response.body;
  after_write_ = close ? AfterWrite::kLinger : AfterWrite::kNextRequest;
  queue(text);
}

void Connection::start_stream(int status, std::string content_type) {
  if (phase_ == Phase::kClosed) return;
  chunked_ = version_ >= 11;
  std::string text = status_line(status);
  text += fmt::format("Content-Type: {}\r\n", header_safe(content_type));
  text += "Cache-Control: no-cache\r\n";
  if (chunked_) {
    text += "Transfer-Encoding: chunked\r\n";
    if (peer_done_ || !keep_alive_ || server_->closed) text += "Connection: close\r\n";
  } else {
    text += "Connection: close\r\n";  // an HTTP/1.0 client reads the body until the end
  }
  text += "\r\n";
  if (head_) {
    // The headers are the whole answer; the stream's chunks go nowhere.
    if (auto responder = responder_.lock()) responder->mark_done();
    after_write_ = keep_alive_ && !peer_done_ ? AfterWrite::kNextRequest : AfterWrite::kLinger;
    queue(text);
    return;
  }
  phase_ = Phase::kStreaming;
  queue(text);
}

void Connection::write_chunk(std::string data) {
  if (phase_ != Phase::kStreaming || data.empty()) return;
  if (pending_bytes() + data.size() > server_->options.max_stream_buffer) {
    server_->log(LogLevel::kInfo,
                 fmt::format("control: {} does not read its stream; closing", remote_));
    close_now();
    return;
  }
  if (chunked_) {
    out_ += fmt::format("{:x}\r\n", data.size());
    out_ += data;
    out_ += "\r\n";
    flush();
  } else {
    queue(data);
  }
}

void Connection::end_stream() {
  if (phase_ != Phase::kStreaming) return;
  phase_ = Phase::kHandling;
  if (chunked_) {
    after_write_ = keep_alive_ && !peer_done_ && !server_->closed ? AfterWrite::kNextRequest
                                                                  : AfterWrite::kLinger;
    queue("0\r\n\r\n");
  } else {
    after_write_ = AfterWrite::kLinger;
    if (write_in_flight_ || !out_.empty()) {
      flush();
    } else {
      finish_answer();
    }
  }
}

void Connection::abandon(bool streaming) {
  if (phase_ == Phase::kClosed) return;
  if (server_->closed) {
    close_now();
    return;
  }
  if (streaming) {
    end_stream();
  } else {
    server_->log(LogLevel::kError,
                 fmt::format("control: a request from {} got no answer", remote_));
    send_response({500, "text/plain", "500 Internal Server Error\n", {}});
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

void Connection::queue(std::string_view data) {
  out_ += data;
  flush();
}

void Connection::flush() {
  if (write_in_flight_ || phase_ == Phase::kClosed) return;
  if (out_.empty()) {
    if (after_write_ != AfterWrite::kNothing) finish_answer();
    return;
  }
  writing_.swap(out_);
  out_.clear();
  write_in_flight_ = true;
  if (phase_ != Phase::kReading) arm_timer(server_->options.idle_timeout);
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->write_in_flight_ = false;
                      self->guarded([&] { self->on_written(ec); });
                    });
}

void Connection::on_written(const boost::system::error_code& ec) {
  if (writing_.capacity() > 256 * 1024) {
    std::string().swap(writing_);
  } else {
    writing_.clear();
  }
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    server_->log(LogLevel::kDebug,
                 fmt::format("control: writing to {}: {}", remote_, ec.message()));
    close_now();
    return;
  }
  if (!out_.empty()) {
    flush();
    return;
  }
  if (phase_ != Phase::kReading) disarm_timer();
  if (after_write_ != AfterWrite::kNothing) finish_answer();
}

void Connection::finish_answer() {
  const AfterWrite next = after_write_;
  after_write_ = AfterWrite::kNothing;
  if (next == AfterWrite::kNextRequest) {
    begin_request();
  } else if (next == AfterWrite::kLinger) {
    linger();
  }
}

void Connection::linger() {
  phase_ = Phase::kLingering;
  if (peer_done_) {
    close_now();
    return;
  }
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
  in_.consume(in_.size());
  lingered_bytes_ = 0;
  arm_timer(kLingerTime);
  read_more();
}

void Connection::arm_timer(std::chrono::steady_clock::duration after) {
  const unsigned generation = ++timer_generation_;
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
    if (ec || generation != self->timer_generation_ || self->phase_ == Phase::kClosed) return;
    self->guarded([&] {
      if (self->phase_ != Phase::kLingering) {
        self->server_->log(LogLevel::kDebug,
                           fmt::format("control: {} idle too long; closing", self->remote_));
      }
      self->close_now();
    });
  });
}

void Connection::disarm_timer() {
  ++timer_generation_;
  timer_.cancel();
}

void Connection::close_now() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  disarm_timer();
  boost::system::error_code ignored;
  socket_.close(ignored);
  parser_.reset();
  out_.clear();
  server_->connection_closed(this);
  if (auto responder = responder_.lock()) responder->connection_closed();
}

// ---------------------------------------------------------------------------------------------

struct ParsedHost {
  sockaddr_storage addr{};
  socklen_t length = 0;
  std::string text;  // for messages: "127.0.0.1:9001", "[::1]:9001"
};

ParsedHost parse_host(const std::string& host, uint16_t port) {
  ParsedHost parsed;
  std::string name = host;
  if (name.empty() || name == "*") name = "0.0.0.0";
  if (iequals(name, "localhost")) name = "127.0.0.1";
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&parsed.addr);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&parsed.addr);
  if (::inet_pton(AF_INET, name.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    parsed.length = sizeof(sockaddr_in);
    parsed.text = fmt::format("{}:{}", name, port);
  } else if (::inet_pton(AF_INET6, name.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    parsed.length = sizeof(sockaddr_in6);
    parsed.text = fmt::format("[{}]:{}", name, port);
  } else {
    throw os_error(EINVAL, fmt::format("control server: cannot listen on '{}': not a numeric "
                                       "IPv4 or IPv6 address (host names are not resolved)",
                                       host));
  }
  return parsed;
}

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Whether a process listens on the unix socket at path: a non-blocking connect answers at once.
bool unix_socket_in_use(const sockaddr_un& addr) {
  FdGuard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return false;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
  return errno == EAGAIN || errno == EINPROGRESS;  // a full backlog is still a listener
}

}  // namespace

// ---------------------------------------------------------------------------------------------

namespace detail {

void ServerState::add_listener(int fd, std::string description, std::string unix_path) {
  auto listener = std::make_shared<Listener>(io, fd);
  listener->description = std::move(description);
  listener->unix_path = std::move(unix_path);
  if (!listener->unix_path.empty()) {
    struct stat st {};
    if (::lstat(listener->unix_path.c_str(), &st) == 0) {
      listener->dev = st.st_dev;
      listener->ino = st.st_ino;
    }
  }
  listeners.push_back(listener);
  wait_for_clients(listener);
}

void ServerState::wait_for_clients(const std::shared_ptr<Listener>& listener) {
  if (closed || listener->waiting || !listener->descriptor.is_open()) return;
  listener->waiting = true;
  listener->descriptor.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [self = shared_from_this(), listener](const boost::system::error_code& ec) {
        listener->waiting = false;
        if (ec || self->closed) return;
        try {
          self->accept_clients(listener);
        } catch (const std::exception& e) {
          self->log(LogLevel::kError,
                    fmt::format("control: {}: {}", listener->description, e.what()));
        } catch (...) {
        }
      });
}

void ServerState::accept_clients(const std::shared_ptr<Listener>& listener) {
  // A bounded batch per wake-up keeps one busy listener from starving the loop.
  for (int i = 0; i < 16; ++i) {
    if (connections.size() >= options.max_connections) {
      if (!listener->paused) {
        log(LogLevel::kWarn, fmt::format("control: {} connections open; {} waits",
                                         connections.size(), listener->description));
      }
      listener->paused = true;
      return;
    }
    const int fd = ::accept4(listener->descriptor.native_handle(), nullptr, nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;
      // Out of descriptors or memory: retry in a while instead of spinning on a ready socket.
      log(LogLevel::kError, fmt::format("control: accepting on {}: {}", listener->description,
                                        std::generic_category().message(err)));
      if (!listener->retry) listener->retry.emplace(io);
      listener->retry->expires_after(std::chrono::seconds(1));
      listener->retry->async_wait(
          [self = shared_from_this(), listener](const boost::system::error_code& ec) {
            if (!ec) self->wait_for_clients(listener);
          });
      return;
    }
    start_connection(fd);
  }
  wait_for_clients(listener);
}

void ServerState::start_connection(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int family = AF_UNIX;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) family = addr.ss_family;
  auto connection = std::make_shared<Connection>(shared_from_this(), fd, family);
  if (connection->is_closed()) return;
  connections.emplace(connection.get(), connection);
  connection->start();
}

void ServerState::connection_closed(Connection* connection) {
  connections.erase(connection);
  if (closed || connections.size() >= options.max_connections) return;
  for (const auto& listener : listeners) {
    if (listener->paused) {
      listener->paused = false;
      wait_for_clients(listener);
    }
  }
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
    return constant_time_equals(lower(stored.substr(5)), sha1_hex(given));
  }
  return constant_time_equals(stored, given);
}

HttpServer::HttpServer(boost::asio::io_context& io, Handler handler, ServerOptions options)
    : state_(std::make_shared<detail::ServerState>(io, std::move(handler), std::move(options))) {}

HttpServer::~HttpServer() { close(); }

void HttpServer::listen_unix(const std::string& path, mode_t mode, std::optional<uid_t> uid,
                             std::optional<gid_t> gid) {
  if (state_->closed) throw os_error(EBADF, "control server: already closed");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw os_error(ENAMETOOLONG,
                   fmt::format("control server: unix socket path '{}' must be 1 to {} bytes", path,
                               sizeof addr.sun_path - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw os_error(EEXIST, fmt::format("control server: {} exists and is not a socket", path));
    }
    if (unix_socket_in_use(addr)) {
      throw os_error(EADDRINUSE,
                     fmt::format("control server: another process listens on {}", path));
    }
    // Left by a process that is gone (supervisord does the same).
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw os_error(errno, fmt::format("control server: cannot remove stale socket {}", path));
    }
  }

  FdGuard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw os_error(errno, "control server: socket(AF_UNIX)");
  // The socket file takes its mode from the umask at bind: it never exists with a wider mode,
  // not even for an instant, and no chmod(path) follows that a swapped-in symlink could
  // redirect. The loop is single-threaded, so no other file is created under this umask.
  const mode_t old_umask = ::umask(static_cast<mode_t>(~mode & 0777));
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) {
    throw os_error(bind_errno, fmt::format("control server: cannot bind {}", path));
  }
  const auto remove_file = [&] { ::unlink(path.c_str()); };
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
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    const int err = errno;
    remove_file();
    throw os_error(err, fmt::format("control server: cannot listen on {}", path));
  }
  state_->add_listener(fd.release(), "unix:" + path, path);
}

uint16_t HttpServer::listen_tcp(const std::string& host, uint16_t port) {
  if (state_->closed) throw os_error(EBADF, "control server: already closed");
  ParsedHost parsed = parse_host(host, port);
  FdGuard fd(::socket(parsed.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0)
    throw os_error(errno, fmt::format("control server: socket for {}", parsed.text));
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
    throw os_error(errno, fmt::format("control server: SO_REUSEADDR on {}", parsed.text));
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&parsed.addr), parsed.length) != 0) {
    throw os_error(errno, fmt::format("control server: cannot bind {}", parsed.text));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    throw os_error(errno, fmt::format("control server: cannot listen on {}", parsed.text));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    throw os_error(errno, fmt::format("control server: getsockname on {}", parsed.text));
  }
  const uint16_t actual = bound.ss_family == AF_INET6
                              ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                              : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  state_->add_listener(fd.release(), parse_host(host, actual).text, "");
  return actual;
}

void HttpServer::adopt(int fd) {
  if (state_->closed) {
    ::close(fd);
    return;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  state_->start_connection(fd);
}

void HttpServer::close() {
  auto& state = *state_;
  if (state.closed) return;
  state.closed = true;
  for (const auto& listener : state.listeners) {
    boost::system::error_code ignored;
    listener->descriptor.close(ignored);
    if (listener->retry) listener->retry->cancel();
    if (!listener->unix_path.empty()) {
      // Only the file this server made: a newer process may have replaced it.
      struct stat st {};
      if (::lstat(listener->unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
          st.st_dev == listener->dev && st.st_ino == listener->ino) {
        ::unlink(listener->unix_path.c_str());
      }
    }
  }
  state.listeners.clear();
  // Kept alive while they close: a closing connection runs callbacks that may drop others.
  std::vector<std::shared_ptr<Connection>> open;
  for (const auto& [raw, weak] : state.connections) {
    if (auto connection = weak.lock()) open.push_back(std::move(connection));
  }
  for (const auto& connection : open) connection->shut_down();
  state.connections.clear();
  state.handler = nullptr;
}

size_t HttpServer::connection_count() const { return state_->connections.size(); }

}  // namespace podvisor::control
