// The control server's HTTP/1.1 transport: unix and TCP listeners on the supervisor's event
// loop, basic auth as supervisord checks it, size limits, keep-alive and chunked streams. What
// a request means (XML-RPC, health, logtail) is the handler's business. Beast stays in the .cc.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/values.h"

namespace boost::asio {
class io_context;
}

namespace podvisor::control {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // as sent: "GET", "POST", ...
  std::string target;  // as sent: "/logtail/app/stdout", "/RPC2", "/ready?verbose=1"
  int version = 11;    // 10 or 11
  Headers headers;     // in order, names as sent
  std::string body;
  std::string remote;  // "unix", "127.0.0.1:51234", "[::1]:51234": for log lines
  std::string user;    // the authenticated user; empty without auth or on a public path

  // The value of the first header of that name (any case), or "".
  std::string header(std::string_view name) const;
  // The target's path without query, %XX-decoded, as medusa hands it to supervisord's handlers:
  // "/logtail/group%3Aapp/stdout?x" -> "/logtail/group:app/stdout".
  std::string path() const;
  // What follows '?', raw; "" without one.
  std::string query() const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  Headers headers;  // extra ones; Content-Length and Connection are the server's
};

// How the answer to one request goes back; the handler may keep it and answer later (an
// XML-RPC startProcess that waits for RUNNING, a followed log). Exactly one of send() or
// start_stream(); any call after the answer is complete, or once closed(), does nothing. All
// calls on the event loop's thread. If the last reference to a Responder that has not answered
// goes away, the server answers 500 (or, for a started stream, ends it), so a request is never
// left hanging.
class Responder {
 public:
  virtual ~Responder() = default;

  virtual void send(Response response) = 0;

  // A response of unknown length: chunked for HTTP/1.1 clients, ended by closing the
  // connection for HTTP/1.0 ones.
  virtual void start_stream(int status, std::string content_type) = 0;
  // Empty data is skipped (an empty chunk would end the stream). If more than
  // ServerOptions::max_stream_buffer bytes wait for a client that does not read, the
  // connection is closed (the on_close callback runs).
  virtual void write_chunk(std::string data) = 0;
  virtual void end_stream() = 0;

  // True once nothing more can go out: the answer is complete, or the connection closed.
  virtual bool closed() const = 0;
  // Bytes queued and not yet taken by the client, for a stream to hold back.
  virtual size_t pending_bytes() const = 0;
  // Runs once if the connection closes before the answer is complete: the client went away
  // (reset, or end of input during a stream), stalled, or the server closed; also if that
  // already happened. It runs from the event loop (posted), never inside a call on the
  // Responder or the server, and never after a complete answer. Replaces an earlier callback;
  // the server drops it after running it or after the answer, so it may hold the Responder.
  // A client that merely shuts down its sending side while a plain answer is pending still gets
  // the answer: HTTP/1.0 style clients do that.
  virtual void on_close(std::function<void()> callback) = 0;
};

using Handler = std::function<void(const Request&, std::shared_ptr<Responder>)>;

struct BasicAuth {
  std::string username;
  // As supervisord's config has it: the password itself, or "{SHA}" and the hex SHA-1 of it.
  std::string password;
};

struct ServerOptions {
  // Unset: no auth. Set: every request needs these credentials, or gets 401 with
  // `WWW-Authenticate: Basic realm="default"` (supervisord's realm) and the connection closes.
  std::optional<BasicAuth> auth;
  // Paths (as Request::path() gives them) served without credentials: "/health", "/ready".
  std::set<std::string, std::less<>> public_paths;

  size_t max_header_bytes = 16 * 1024;         // larger: 431
  size_t max_body_bytes = 2 * 1024 * 1024;     // larger: 413
  size_t max_stream_buffer = 4 * 1024 * 1024;  // see Responder::write_chunk

  // Connections that may make any request. A TCP peer (one IP address) holds at most
  // max_connections_per_peer of them; unix clients are not counted per peer.
  size_t max_connections = 64;
  size_t max_connections_per_peer = 16;
  // Beyond those limits a connection takes one of these reserved slots, where only a GET or
  // HEAD of a probe path is answered (anything else: 503 and close), the header must come
  // within reserve_header_timeout, and the connection closes after its answer. When every
  // reserved slot is taken, a new connection replaces the one that has waited longest for its
  // header, so a liveness probe gets through slow clients holding every slot. With 0 reserved
  // slots the server stops accepting at max_connections until one closes.
  size_t reserved_connections = 8;
  std::set<std::string, std::less<>> probe_paths = {"/health", "/ready", "/ping"};

  // A client gets header_timeout to send a request's header (counted from the connection's
  // start, or from the end of the previous answer: keep-alive idle time included), then
  // body_timeout for its body, and idle_timeout to take each write; then the connection
  // closes. Nothing waits on a timer without a connection.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds reserve_header_timeout{2'000};
  std::chrono::milliseconds idle_timeout{60'000};

  // The server writes nothing itself; bad requests, timeouts and accept errors come here.
  std::function<void(config::LogLevel, std::string_view)> log;
};

namespace detail {
struct ServerState;
}

// One server, one set of options (auth): supervisord's [unix_http_server] and
// [inet_http_server] have separate credentials, so the runtime makes one HttpServer for each,
// sharing a handler. Everything runs on io's thread; no call blocks.
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, Handler handler, ServerOptions options = {});
  ~HttpServer();  // close()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Creates the socket file with mode (supervisord's chmod, default 0700; permission bits
  // only; the mode holds from the moment the file exists) and owner (chown; unset: unchanged). A
  // stale socket file left by a dead process is replaced; anything else at path, or a socket
  // someone still listens on, is an error. Throws std::system_error whose what() names the path and
  // the cause.
  void listen_unix(const std::string& path, mode_t mode = 0700, std::optional<uid_t> uid = {},
                   std::optional<gid_t> gid = {});
  // host: "" or "*" is every IPv4 address (supervisord's port=*:9001), "localhost" is
  // 127.0.0.1, otherwise a numeric IPv4 or IPv6 address ("[::1]" too); names are not resolved
  // (the static binary has no NSS). A bare port=9001 means host "127.0.0.1": the caller's
  // choice. Port 0 picks a free one. Returns the bound port. Throws std::system_error.
  uint16_t listen_tcp(const std::string& host, uint16_t port);
  // Serves a connected stream socket (an accepted fd, one end of a socketpair); takes
  // ownership of fd. For tests and fuzzing; not bound by max_connections.
  void adopt(int fd);

  // Stops listening (removing the socket files it created, if still there) and closes every
  // connection after a last non-blocking attempt to send what is queued; pending responders
  // see closed() and run their on_close callbacks. The handler is released and never called
  // again. Idempotent.
  void close();

  size_t connection_count() const;

 private:
  std::shared_ptr<detail::ServerState> state_;
};

// supervisord's password check: stored is plain or "{SHA}<hex sha1>" (hex in any case).
bool password_matches(std::string_view stored, std::string_view given);
std::string sha1_hex(std::string_view data);

}  // namespace podvisor::control
