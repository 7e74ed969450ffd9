// The client side of the control socket for `podvisor ctl`: a synchronous HTTP/1.1 client on
// Beast over a unix socket or TCP (numeric addresses and localhost only: the static binary
// has no resolver), with basic auth, and supervisord's XML-RPC calls on top of it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/wire/xmlrpc.h"

namespace podvisor::control {

// Where the server listens, from a supervisorctl serverurl: "unix:///run/supervisor.sock" or
// "http://127.0.0.1:9001" ("http://localhost:9001", "http://[::1]:9001"; port 80 by default).
struct ServerUrl {
  bool unix_socket = false;
  std::string path;  // the socket file
  std::string host;  // as written, for the Host header and messages
  uint16_t port = 80;
};
// nullopt for another scheme or a malformed address.
std::optional<ServerUrl> parse_server_url(std::string_view url);

// connect() failed; `error` is its errno (ENOENT: no socket file, ECONNREFUSED: nobody
// listens). Also for a host name that is neither numeric nor localhost (EHOSTUNREACH).
class ConnectError : public std::runtime_error {
 public:
  ConnectError(int errnum, const std::string& what) : std::runtime_error(what), error(errnum) {}
  int error;
};

// The connection broke or the server answered something that is not HTTP.
class HttpError : public std::runtime_error {
 public:
  HttpError(int errnum, const std::string& what) : std::runtime_error(what), error(errnum) {}
  int error;  // errno when a system call failed, else 0
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first header of that name (any case), or "".
  std::string header(std::string_view name) const;
};

struct Credentials {
  std::string username;
  std::string password;
};

// What receives a response's body bytes as they are decoded.
using BodySink = std::function<void(std::string_view)>;

// One HTTP/1.1 response read incrementally with Beast's parser: status line, headers, then a
// body delimited by Content-Length, chunked encoding, or the end of the connection; interim
// (1xx) responses are skipped.
class ResponseParser {
 public:
  ResponseParser();
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Consumes data; body bytes go to on_body as they are decoded. Returns the tail of data
  // that follows a complete response. Throws HttpError on malformed input.
  std::string_view feed(std::string_view data, const BodySink& on_body);
  // The connection ended: completes a body that runs to the end of the connection, otherwise
  // throws HttpError if the response is incomplete.
  void end_of_input();
  bool head_done() const;
  bool done() const;
  // Status, reason and headers (body left empty).
  const HttpResponse& head() const;
  // Whether the server keeps the connection open after this response.
  bool keep_alive() const;

  // A head, or a chunk's size line, longer than this is an error (HttpError).
  static constexpr size_t kMaxHead = 64 * 1024;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One connection at a time, kept open between requests (as supervisorctl's transport does)
// and opened again when the server has closed it.
class HttpClient {
 public:
  HttpClient(ServerUrl url, std::optional<Credentials> credentials);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Bounds on request()'s answer, so that a server that never stops sending (or trickles)
  // cannot take the client's memory or hold it forever: a body larger than kMaxResponse, or an
  // answer that has begun and is not complete kResponseTimeoutMs later, is an HttpError that
  // says so. The wait for the first byte is not bounded: calls like startProcess wait for a
  // program's state before the server says anything. Streams (stream()) are not bounded: their
  // bytes go to the caller as they come.
  static constexpr size_t kMaxResponse = 64 * 1024 * 1024;
  static constexpr int kResponseTimeoutMs = 60'000;

  // A request and its whole response. Throws ConnectError or HttpError.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       std::string_view content_type = {});

  // A GET whose body is read as it comes, on a connection of its own: call read() when fd()
  // is readable until it returns false (the response ended or the server closed).
  class Stream {
   public:
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    int fd() const { return fd_; }
    // Reads what is available (blocking until something is); status and headers come first:
    // see head(). Body bytes go to on_body. False once the response is over.
    bool read(const BodySink& on_body);
    bool head_done() const { return parser_.head_done(); }
    const HttpResponse& head() const { return parser_.head(); }

   private:
    friend class HttpClient;
    explicit Stream(int fd) : fd_(fd) {}
    int fd_;
    ResponseParser parser_;
    bool ended_ = false;
  };
  // Throws ConnectError or HttpError.
  std::unique_ptr<Stream> stream(std::string_view target);

  const ServerUrl& url() const { return url_; }

 private:
  int connect_socket() const;
  void send_request(int fd, std::string_view method, std::string_view target, std::string_view body,
                    std::string_view content_type) const;
  void close();

  ServerUrl url_;
  std::optional<Credentials> credentials_;
  int fd_ = -1;
  bool reused_ = false;  // fd_ has served a response already
};

// A fault answered by the server, for RpcClient callers to catch.
class RpcFault : public std::runtime_error {
 public:
  explicit RpcFault(xmlrpc::Fault f) : std::runtime_error(f.message), fault(std::move(f)) {}
  xmlrpc::Fault fault;
};

// A status other than 200 at /RPC2 (401 without or with wrong credentials).
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(int code, std::string why)
      : std::runtime_error(why), status(code), reason(std::move(why)) {}
  int status;
  std::string reason;
};

// supervisord's XML-RPC at /RPC2. Throws RpcFault, ProtocolError, ConnectError, HttpError,
// xmlrpc::DecodeError.
class RpcClient {
 public:
  explicit RpcClient(HttpClient& http) : http_(http) {}
  xmlrpc::Value call(const std::string& method, xmlrpc::Array params = {});

 private:
  HttpClient& http_;
};

}  // namespace podvisor::control
