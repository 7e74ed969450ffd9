#include "control/client/http_client.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>

#include "control/wire/base64.h"
#include "os/address.h"

namespace podvisor::control {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string errno_text(int error) { return std::strerror(error); }

beast::string_view view(std::string_view s) { return {s.data(), s.size()}; }

// A response body handed to the caller as Beast decodes it, never held.
struct SinkBody {
  struct value_type {
    const BodySink* sink = nullptr;
  };
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      std::size_t n = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        (*body_.sink)(std::string_view(static_cast<const char*>(b.data()), b.size()));
        n += b.size();
      }
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

// The whole of `bytes` onto a connected socket; a closed peer is an error, not SIGPIPE.
void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      throw HttpError(error, fmt::format("send: {}", errno_text(error)));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// The request head as Beast's serializer writes it; the body follows as it is. An empty body
// shares the serializer's instantiation with the probe's request (binary size).
std::string serialize_head(http::request<http::empty_body>& request) {
  http::serializer<true, http::empty_body> serializer(request);
  std::string head;
  beast::error_code ec;
  while (!ec && !serializer.is_done()) {
    serializer.next(ec, [&](beast::error_code&, const auto& buffers) {
      for (const auto b : beast::buffers_range_ref(buffers)) {
        head.append(static_cast<const char*>(b.data()), b.size());
      }
      serializer.consume(beast::buffer_bytes(buffers));
    });
  }
  if (ec) throw HttpError(0, fmt::format("cannot write the request: {}", ec.message()));
  return head;
}

// close() of a socket we own fails only for a bad descriptor (a bug) or EINTR, after which
// Linux has closed it anyway: there is nothing to recover.
void close_socket(int fd) {
  if (::close(fd) != 0 && errno != EINTR) {
    fmt::print(stderr, "podvisor ctl: close: {}\n", errno_text(errno));
  }
}

// One recv(); the byte count, 0 at the end of the connection, or -errno.
ssize_t receive(int fd, char* buf, size_t size) {
  ssize_t n;
  do {
    n = ::recv(fd, buf, size, 0);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

// connect() to one address: the socket, or -errno. ctl installs no signal handler that could
// interrupt it (SIGINT is blocked while its own handler is set), so EINTR is an error too.
// Waits until fd is readable; throws HttpError (ETIMEDOUT) once deadline has passed.
void wait_readable(int fd, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    const int n = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (n > 0) return;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      throw HttpError(error, fmt::format("poll: {}", errno_text(error)));
    }
    throw HttpError(0, fmt::format("the server's answer did not end within {} s",
                                   HttpClient::kResponseTimeoutMs / 1000));
  }
}

int connect_to(const sockaddr* address, socklen_t length) {
  const int fd = ::socket(address->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int error = errno;
    throw ConnectError(error, fmt::format("socket: {}", errno_text(error)));
  }
  if (::connect(fd, address, length) == 0) return fd;
  const int error = errno;
  close_socket(fd);
  return -error;
}

}  // namespace

std::optional<ServerUrl> parse_server_url(std::string_view url) {
  ServerUrl out;
  if (url.starts_with("unix://")) {
    out.unix_socket = true;
    out.path = std::string(url.substr(7));
    if (out.path.empty()) return std::nullopt;
    return out;
  }
  if (!url.starts_with("http://")) return std::nullopt;
  auto authority = url.substr(7);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    const auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  std::transform(out.host.begin(), out.host.end(), out.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, view(name))) return v;
  }
  return {};
}

// --- ResponseParser

struct ResponseParser::State {
  State() { restart(); }
  void restart() {
    parser.emplace();
    parser->header_limit(kMaxHead);
    // `tail -f` streams without end. Not boost::none: Beast 1.74 compares a length with an
    // empty limit as if it were exceeded.
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
  }
  std::optional<http::response_parser<SinkBody>> parser;
  std::string pending;  // what Beast has not taken yet: an incomplete head or chunk line
  HttpResponse head;
  bool head_done = false;
  bool done = false;
  bool received = false;
};

ResponseParser::ResponseParser() : state_(std::make_unique<State>()) {}
ResponseParser::~ResponseParser() = default;

bool ResponseParser::head_done() const { return state_->head_done; }
bool ResponseParser::done() const { return state_->done; }
const HttpResponse& ResponseParser::head() const { return state_->head; }
bool ResponseParser::keep_alive() const {
  return !state_->head_done || state_->parser->keep_alive();
}

std::string_view ResponseParser::feed(std::string_view data, const BodySink& on_body) {
  auto& s = *state_;
  if (s.done) return data;
  s.received = s.received || !data.empty();
  s.pending.append(data);
  std::string_view input = s.pending;
  while (!input.empty() && !s.done) {
    s.parser->get().body().sink = &on_body;
    beast::error_code ec;
    const auto used = s.parser->put(asio::const_buffer(input.data(), input.size()), ec);
    input.remove_prefix(used);
    if (ec == http::error::need_more) break;
    if (ec) throw HttpError(0, fmt::format("bad response: {}", ec.message()));
    if (!s.head_done && s.parser->is_header_done()) {
      const auto& message = s.parser->get();
      if (message.result_int() / 100 == 1) {  // 100 Continue and the like: the next one counts
        s.restart();
        continue;
      }
      s.head.status = static_cast<int>(message.result_int());
      s.head.reason = std::string(message.reason());
      for (const auto& f : message) {
        s.head.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      s.head_done = true;
    }
    s.done = s.parser->is_done();
    if (used == 0 && !s.done) break;
  }
  if (!s.done && s.pending.size() > kMaxHead) {
    throw HttpError(0,
                    fmt::format("bad response: a head or chunk line over {} KiB", kMaxHead / 1024));
  }
  // What follows a complete response is the tail of this piece: an earlier piece's bytes
  // left pending belong to an unfinished head or chunk line of this response.
  const size_t rest = std::min(input.size(), data.size());
  s.pending.erase(0, s.pending.size() - input.size());
  if (!s.done) return {};
  s.pending.clear();
  return data.substr(data.size() - rest);
}

void ResponseParser::end_of_input() {
  auto& s = *state_;
  if (s.done) return;
  beast::error_code ec = http::error::partial_message;
  if (s.head_done) s.parser->put_eof(ec);
  if (!ec && s.parser->is_done()) {
    s.done = true;
    return;
  }
  throw HttpError(0, s.received ? "the server closed the connection in the middle of its answer"
                                : "the server closed the connection without answering");
}

// --- HttpClient

HttpClient::HttpClient(ServerUrl url, std::optional<Credentials> credentials)
    : url_(std::move(url)), credentials_(std::move(credentials)) {}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) close_socket(fd_);
  fd_ = -1;
}

int HttpClient::connect_socket() const {
  if (url_.unix_socket) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (url_.path.size() >= sizeof address.sun_path) {
      throw ConnectError(ENAMETOOLONG, fmt::format("{}: AF_UNIX path too long", url_.path));
    }
    std::memcpy(address.sun_path, url_.path.data(), url_.path.size());
    const int r = connect_to(reinterpret_cast<const sockaddr*>(&address), sizeof address);
    if (r < 0) throw ConnectError(-r, fmt::format("{}: {}", url_.path, errno_text(-r)));
    return r;
  }
  // localhost is the loopback of either family, tried in the order a resolver gives them.
  std::vector<asio::ip::address> candidates;
  if (url_.host.empty() || url_.host == "localhost") {
    candidates = {asio::ip::address_v4::loopback(), asio::ip::address_v6::loopback()};
  } else if (const auto address = os::parse_host(url_.host)) {
    candidates = {*address};
  } else {
    throw ConnectError(0, fmt::format("cannot resolve host '{}': podvisor ctl takes numeric "
                                      "addresses and localhost only",
                                      url_.host));
  }
  int last_error = 0;
  for (const auto& address : candidates) {
    const asio::ip::tcp::endpoint endpoint(address, url_.port);
    const int fd = connect_to(endpoint.data(), static_cast<socklen_t>(endpoint.size()));
    if (fd < 0) {
      last_error = -fd;
      continue;
    }
    const int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      const int error = errno;
      close_socket(fd);
      throw ConnectError(error, fmt::format("setsockopt TCP_NODELAY: {}", errno_text(error)));
    }
    return fd;
  }
  throw ConnectError(last_error,
                     fmt::format("{}:{}: {}", url_.host, url_.port, errno_text(last_error)));
}

void HttpClient::send_request(int fd, std::string_view method, std::string_view target,
                              std::string_view body, std::string_view content_type) const {
  std::string host = url_.unix_socket ? "localhost" : url_.host;
  if (host.find(':') != std::string::npos) host = fmt::format("[{}]", host);
  if (!url_.unix_socket && url_.port != 80) host = fmt::format("{}:{}", host, url_.port);
  std::vector<std::pair<http::field, std::string>> fields = {
      {http::field::host, std::move(host)},
      {http::field::user_agent, fmt::format("podvisor-ctl/{}", PODVISOR_VERSION)}};
  if (credentials_) {
    fields.emplace_back(
        http::field::authorization,
        fmt::format("Basic {}", base64_encode(fmt::format("{}:{}", credentials_->username,
                                                          credentials_->password))));
  }
  if (!content_type.empty()) {
    fields.emplace_back(http::field::content_type, content_type);
    fields.emplace_back(http::field::accept, content_type);
  }
  if (method != "GET" || !body.empty()) {
    fields.emplace_back(http::field::content_length, std::to_string(body.size()));
  }
  http::request<http::empty_body> request;
  request.method_string(view(method));
  request.target(view(target));
  request.version(11);
  for (const auto& [name, value] : fields) request.insert(name, view(value));  // in this order
  auto bytes = serialize_head(request);
  bytes.append(body);
  send_all(fd, bytes);
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 std::string_view body, std::string_view content_type) {
  // A kept connection the server has meanwhile closed fails at once and without an answer:
  // then the request goes again on a new one (the server never saw it).
  for (int attempt = 0;; ++attempt) {
    if (fd_ < 0) {
      fd_ = connect_socket();
      reused_ = false;
    }
    const bool may_retry = reused_ && attempt == 0;
    try {
      send_request(fd_, method, target, body, content_type);
    } catch (const HttpError&) {
      close();
      if (may_retry) continue;
      throw;
    }
    ResponseParser parser;
    HttpResponse response;
    bool got_bytes = false;
    std::chrono::steady_clock::time_point deadline;
    while (!parser.done()) {
      if (got_bytes) {
        try {
          wait_readable(fd_, deadline);
        } catch (const HttpError&) {
          close();
          throw;
        }
      }
      char buf[16384];
      const ssize_t n = receive(fd_, buf, sizeof buf);
      if (n <= 0) {
        if (may_retry && !got_bytes) break;  // a stale kept connection: once more
        close();
        if (n < 0)
          throw HttpError(static_cast<int>(-n),
                          fmt::format("recv: {}", errno_text(static_cast<int>(-n))));
        parser.end_of_input();  // throws unless the body runs to the end of the connection
        break;
      }
      if (!got_bytes) {
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kResponseTimeoutMs);
      }
      got_bytes = true;
      // Past the cap nothing more is kept, so the body never grows beyond it.
      bool too_large = false;
      parser.feed(std::string_view(buf, static_cast<size_t>(n)), [&](std::string_view data) {
        too_large = too_large || response.body.size() + data.size() > kMaxResponse;
        if (!too_large) response.body.append(data);
      });
      if (too_large) {
        close();
        throw HttpError(0, fmt::format("the server's answer is larger than {} MiB",
                                       kMaxResponse / (1024 * 1024)));
      }
    }
    if (!parser.done()) {  // closed before answering on a reused connection: once more
      close();
      continue;
    }
    response.status = parser.head().status;
    response.reason = parser.head().reason;
    response.headers = parser.head().headers;
    if (parser.keep_alive() && fd_ >= 0) {
      reused_ = true;
    } else {
      close();
    }
    return response;
  }
}

std::unique_ptr<HttpClient::Stream> HttpClient::stream(std::string_view target) {
  auto s = std::unique_ptr<Stream>(new Stream(connect_socket()));
  send_request(s->fd_, "GET", target, {}, {});
  return s;
}

HttpClient::Stream::~Stream() { close_socket(fd_); }

bool HttpClient::Stream::read(const BodySink& on_body) {
  if (ended_) return false;
  char buf[16384];
  const ssize_t n = receive(fd_, buf, sizeof buf);
  if (n < 0) {
    throw HttpError(static_cast<int>(-n),
                    fmt::format("recv: {}", errno_text(static_cast<int>(-n))));
  }
  if (n == 0) {
    ended_ = true;
    parser_.end_of_input();
    return false;
  }
  parser_.feed(std::string_view(buf, static_cast<size_t>(n)), on_body);
  ended_ = parser_.done();
  return !ended_;
}

// --- RpcClient

xmlrpc::Value RpcClient::call(const std::string& method, xmlrpc::Array params) {
  const auto body = xmlrpc::encode_call(xmlrpc::Call{method, std::move(params)});
  const auto response = http_.request("POST", "/RPC2", body, "text/xml");
  if (response.status != 200) throw ProtocolError(response.status, response.reason);
  auto decoded = xmlrpc::decode_response(response.body);
  if (auto* fault = std::get_if<xmlrpc::Fault>(&decoded)) throw RpcFault(std::move(*fault));
  return std::move(std::get<xmlrpc::Value>(decoded));
}

}  // namespace podvisor::control
