#include "control/client/http_client.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "control/wire/base64.h"

namespace podvisor::control {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string errno_text(int error) { return std::strerror(error); }

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw HttpError(errno, fmt::format("send: {}", errno_text(errno)));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
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
    if (iequals(k, name)) return v;
  }
  return {};
}

// --- ResponseParser

std::string_view ResponseParser::feed(std::string_view data,
                                      const std::function<void(std::string_view)>& on_body) {
  while (!data.empty() && state_ != State::kDone) {
    switch (state_) {
      case State::kStatus:
      case State::kHeaders:
      case State::kChunkSize:
      case State::kChunkEnd:
      case State::kTrailer: {
        const auto nl = data.find('\n');
        line_.append(data.substr(0, nl));
        if (line_.size() > kMaxHead) throw HttpError(0, "response head too large");
        if (nl == std::string_view::npos) return {};
        data.remove_prefix(nl + 1);
        std::string line = std::move(line_);
        line_.clear();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (state_ == State::kChunkSize) {
          if (line.empty()) break;  // tolerate a stray CRLF before a size line
          const auto hex = trim(std::string_view(line).substr(0, line.find(';')));
          uint64_t size = 0;
          const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
          if (hex.empty() || ec != std::errc() || end != hex.data() + hex.size()) {
            throw HttpError(0, fmt::format("bad chunk size line '{}'", line));
          }
          remaining_ = size;
          state_ = size == 0 ? State::kTrailer : State::kChunkData;
        } else if (state_ == State::kChunkEnd) {
          if (!line.empty()) throw HttpError(0, "chunk not followed by CRLF");
          state_ = State::kChunkSize;
        } else if (state_ == State::kTrailer) {
          if (line.empty()) state_ = State::kDone;
        } else {
          head_line(line);
        }
        break;
      }
      case State::kBody:
      case State::kChunkData: {
        auto take = data;
        if (!until_close_) {
          take = data.substr(0, static_cast<size_t>(std::min<uint64_t>(remaining_, data.size())));
          remaining_ -= take.size();
        }
        if (!take.empty()) on_body(take);
        data.remove_prefix(take.size());
        if (!until_close_ && remaining_ == 0) {
          state_ = state_ == State::kBody ? State::kDone : State::kChunkEnd;
        }
        break;
      }
      case State::kDone:
        break;
    }
  }
  return data;
}

void ResponseParser::head_line(std::string_view line) {
  if (state_ == State::kStatus) {
    if (line.empty()) return;  // tolerated before the status line
    if (!line.starts_with("HTTP/")) throw HttpError(0, fmt::format("not HTTP: '{}'", line));
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) throw HttpError(0, fmt::format("bad status line '{}'", line));
    const auto version = line.substr(0, sp);
    auto rest = line.substr(sp + 1);
    const auto sp2 = rest.find(' ');
    const auto code = rest.substr(0, sp2);
    int status = 0;
    const auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), status);
    if (code.size() != 3 || ec != std::errc() || end != code.data() + code.size()) {
      throw HttpError(0, fmt::format("bad status line '{}'", line));
    }
    head_ = HttpResponse{};
    head_.status = status;
    head_.reason = sp2 == std::string_view::npos ? "" : std::string(rest.substr(sp2 + 1));
    keep_alive_ = version != "HTTP/1.0";
    state_ = State::kHeaders;
    return;
  }
  if (!line.empty()) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw HttpError(0, fmt::format("bad header line '{}'", line));
    }
    head_.headers.emplace_back(std::string(line.substr(0, colon)),
                               std::string(trim(line.substr(colon + 1))));
    return;
  }
  // The end of the head.
  if (head_.status >= 100 && head_.status < 200) {  // 100 Continue and the like: skip
    state_ = State::kStatus;
    return;
  }
  const auto connection = head_.header("Connection");
  if (iequals(connection, "close")) keep_alive_ = false;
  if (iequals(connection, "keep-alive")) keep_alive_ = true;
  const auto encoding = head_.header("Transfer-Encoding");
  const auto length = head_.header("Content-Length");
  if (head_.status == 204 || head_.status == 304) {
    state_ = State::kDone;
  } else if (!encoding.empty() && iequals(trim(encoding), "chunked")) {
    chunked_ = true;
    state_ = State::kChunkSize;
  } else if (!length.empty()) {
    uint64_t n = 0;
    const auto t = trim(length);
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || end != t.data() + t.size()) {
      throw HttpError(0, fmt::format("bad Content-Length '{}'", length));
    }
    remaining_ = n;
    state_ = n == 0 ? State::kDone : State::kBody;
  } else {
    until_close_ = true;
    keep_alive_ = false;
    state_ = State::kBody;
  }
}

void ResponseParser::end_of_input() {
  if (state_ == State::kDone) return;
  if (state_ == State::kBody && until_close_) {
    state_ = State::kDone;
    return;
  }
  throw HttpError(0, state_ == State::kStatus && line_.empty()
                         ? "the server closed the connection without answering"
                         : "the server closed the connection in the middle of its answer");
}

// --- HttpClient

HttpClient::HttpClient(ServerUrl url, std::optional<Credentials> credentials)
    : url_(std::move(url)), credentials_(std::move(credentials)) {}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int HttpClient::connect_socket() const {
  auto attempt = [](int family, const sockaddr* addr, socklen_t len) -> int {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw ConnectError(errno, fmt::format("socket: {}", errno_text(errno)));
    while (::connect(fd, addr, len) != 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return -error;
    }
    return fd;
  };
  if (url_.unix_socket) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (url_.path.size() >= sizeof addr.sun_path) {
      throw ConnectError(ENAMETOOLONG, fmt::format("{}: AF_UNIX path too long", url_.path));
    }
    std::memcpy(addr.sun_path, url_.path.data(), url_.path.size());
    const int r = attempt(AF_UNIX, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    if (r < 0) throw ConnectError(-r, fmt::format("{}: {}", url_.path, errno_text(-r)));
    return r;
  }
  // No resolver in a static binary: numeric addresses, and localhost as the loopback.
  std::vector<std::string> candidates;
  if (url_.host.empty() || url_.host == "localhost") {
    candidates = {"127.0.0.1", "::1"};
  } else {
    candidates = {url_.host};
  }
  int last_error = 0;
  for (const auto& host : candidates) {
    sockaddr_in v4{};
    sockaddr_in6 v6{};
    int r = 0;
    if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
      v4.sin_family = AF_INET;
      v4.sin_port = htons(url_.port);
      r = attempt(AF_INET, reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
      v6.sin6_family = AF_INET6;
      v6.sin6_port = htons(url_.port);
      r = attempt(AF_INET6, reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
    } else {
      throw ConnectError(0, fmt::format("cannot resolve host '{}': podvisor ctl takes numeric "
                                        "addresses and localhost only",
                                        url_.host));
    }
    if (r >= 0) {
      const int one = 1;
      setsockopt(r, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return r;
    }
    last_error = -r;
  }
  throw ConnectError(last_error,
                     fmt::format("{}:{}: {}", url_.host, url_.port, errno_text(last_error)));
}

std::string HttpClient::request_head(std::string_view method, std::string_view target,
                                     size_t length, std::string_view content_type) const {
  std::string host = url_.unix_socket ? "localhost" : url_.host;
  if (host.find(':') != std::string::npos) host = fmt::format("[{}]", host);
  if (!url_.unix_socket && url_.port != 80) host = fmt::format("{}:{}", host, url_.port);
  auto head = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: podvisor-ctl/{}\r\n", method,
                          target, host, PODVISOR_VERSION);
  if (credentials_) {
    head += fmt::format(
        "Authorization: Basic {}\r\n",
        base64_encode(fmt::format("{}:{}", credentials_->username, credentials_->password)));
  }
  if (!content_type.empty()) {
    head += fmt::format("Content-Type: {}\r\nAccept: {}\r\n", content_type, content_type);
  }
  if (method != "GET" || length != 0) head += fmt::format("Content-Length: {}\r\n", length);
  head += "\r\n";
  return head;
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 std::string_view body, std::string_view content_type) {
  auto bytes = request_head(method, target, body.size(), content_type);
  bytes.append(body);
  return exchange(bytes);
}

HttpResponse HttpClient::exchange(const std::string& bytes) {
  // A kept connection the server has meanwhile closed fails at once and without an answer:
  // then the request goes again on a new one (the server never saw it).
  for (int attempt = 0;; ++attempt) {
    if (fd_ < 0) {
      fd_ = connect_socket();
      reused_ = false;
    }
    const bool may_retry = reused_ && attempt == 0;
    try {
      send_all(fd_, bytes);
    } catch (const HttpError&) {
      close();
      if (may_retry) continue;
      throw;
    }
    ResponseParser parser;
    HttpResponse response;
    bool got_bytes = false;
    char buf[16384];
    while (!parser.done()) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int error = n < 0 ? errno : 0;
        if (may_retry && !got_bytes) break;  // a stale kept connection: once more
        close();
        if (error != 0) throw HttpError(error, fmt::format("recv: {}", errno_text(error)));
        parser.end_of_input();  // throws unless the body runs to the end of the connection
        break;
      }
      got_bytes = true;
      parser.feed(std::string_view(buf, static_cast<size_t>(n)),
                  [&](std::string_view data) { response.body.append(data); });
    }
    if (!parser.done()) {  // closed before answering a reused connection: once more
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
  auto s = std::unique_ptr<Stream>(new Stream());
  s->fd_ = connect_socket();
  send_all(s->fd_, request_head("GET", target, 0, {}));
  return s;
}

HttpClient::Stream::~Stream() {
  if (fd_ >= 0) ::close(fd_);
}

bool HttpClient::Stream::read(const std::function<void(std::string_view)>& on_body) {
  if (ended_) return false;
  char buf[16384];
  ssize_t n;
  do {
    n = ::recv(fd_, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw HttpError(errno, fmt::format("recv: {}", errno_text(errno)));
  if (n == 0) {
    ended_ = true;
    parser_.end_of_input();
    return false;
  }
  parser_.feed(std::string_view(buf, static_cast<size_t>(n)), on_body);
  if (parser_.done()) ended_ = true;
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
