// The client side of the control socket: a small synchronous HTTP/1.1 client over a unix
// socket or TCP (numeric addresses and localhost only: the static binary has no resolver),
// with basic auth, and supervisord's XML-RPC calls on top of it. For `podvisor ctl`.
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

// Incremental parser of one HTTP/1.1 response: status line, headers, then a body delimited
// by Content-Length, chunked encoding, or the end of the connection.
class ResponseParser {
 public:
  // Consumes data; body bytes go to on_body as they are decoded. Returns the bytes not used
  // (what follows a complete response). Throws HttpError on malformed input.
  std::string_view feed(std::string_view data,
                        const std::function<void(std::string_view)>& on_body);
  // The connection ended: completes a body that runs to the end of the connection, otherwise
  // throws HttpError if the response is incomplete.
  void end_of_input();
  bool head_done() const { return state_ > State::kHeaders; }
  bool done() const { return state_ == State::kDone; }
  // Status, reason and headers (body left empty).
  const HttpResponse& head() const { return head_; }
  // Whether the server keeps the connection open after this response.
  bool keep_alive() const { return keep_alive_; }

  static constexpr size_t kMaxHead = 64 * 1024;

 private:
  enum class State { kStatus, kHeaders, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer, kDone };
  void head_line(std::string_view line);
  State state_ = State::kStatus;
  HttpResponse head_;
  std::string line_;  // an incomplete line
  uint64_t remaining_ = 0;
  bool chunked_ = false;
  bool until_close_ = false;
  bool keep_alive_ = true;
};

// One connection at a time, kept open between requests (as supervisorctl's transport does)
// and opened again when the server has closed it.
class HttpClient {
 public:
  HttpClient(ServerUrl url, std::optional<Credentials> credentials);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // A request and its whole response. Throws ConnectError or HttpError.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       std::string_view content_type = {});

  // Starts a GET whose body is read as it comes, on a connection of its own: call read()
  // when fd() is readable until it returns false (the response ended or the server closed).
  // Throws ConnectError or HttpError.
  class Stream {
   public:
    ~Stream();
    int fd() const { return fd_; }
    // Reads what is available (blocking until something is); status and headers come first:
    // see head(). Body bytes go to on_body. False once the response is over.
    bool read(const std::function<void(std::string_view)>& on_body);
    bool head_done() const { return parser_.head_done(); }
    const HttpResponse& head() const { return parser_.head(); }

   private:
    friend class HttpClient;
    int fd_ = -1;
    ResponseParser parser_;
    bool ended_ = false;
  };
  std::unique_ptr<Stream> stream(std::string_view target);

  const ServerUrl& url() const { return url_; }

 private:
  int connect_socket() const;
  std::string request_head(std::string_view method, std::string_view target, size_t length,
                           std::string_view content_type) const;
  HttpResponse exchange(const std::string& bytes);
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
