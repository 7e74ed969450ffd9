// Inside the control server: what the listeners (http_server.cc) and the connections
// (http_connection.cc) share. Not for use outside control/server.
#pragma once

#include <sys/types.h>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/server/http_server.h"

namespace podvisor::control::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using config::LogLevel;

using Socket = boost::asio::generic::stream_protocol::socket;
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol>;

class Connection;

struct Listener {
  explicit Listener(boost::asio::io_context& io) : acceptor(io), retry(io) {}
  Acceptor acceptor;
  std::string description;  // "unix:/run/podvisor.sock", "127.0.0.1:9001"
  std::string unix_path;    // removed on close if it is still this socket
  dev_t dev = 0;
  ino_t ino = 0;
  bool accepting = false;  // an async_accept is pending
  bool paused = false;     // at max_connections, without reserved slots
  bool failing = false;    // accept() fails (out of descriptors): logged once until it works
  boost::asio::steady_timer retry;
};

struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(boost::asio::io_context& context, Handler h, ServerOptions o);
  ~ServerState();

  boost::asio::io_context& io;
  Handler handler;
  ServerOptions options;
  bool closed = false;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::map<Connection*, std::weak_ptr<Connection>> connections;
  size_t general_count = 0;                // connections that may make any request
  size_t reserve_count = 0;                // in reserved slots: probes only
  std::map<std::string, size_t> per_peer;  // general connections per TCP peer address
  // A descriptor held back for the moment accept() fails with EMFILE: closing it makes room to
  // accept the waiting client and close it at once, so the client is refused, not left hanging.
  int spare_fd = -1;

  void log(config::LogLevel level, std::string_view message) const;

  void add_listener(std::shared_ptr<Listener> listener);
  void accept_next(const std::shared_ptr<Listener>& listener);
  void on_accept_error(const std::shared_ptr<Listener>& listener,
                       const boost::system::error_code& ec);
  // adopted: a test's or fuzzer's socket, outside every limit.
  void start_connection(Socket socket, bool adopted = false);
  // Makes room in the reserved slots; false if every one is busy answering.
  bool evict_slowest_reserve();
  void connection_closed(Connection* connection);
};

class ResponderImpl;

// One client: reads requests with Beast's parser (http_connection.cc), answers them with
// Beast's serializer (http_response.cc), one at a time, keep-alive between them.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerState> server, Socket socket);
  ~Connection();

  // Where the server counts this connection: its TCP peer's address ("" for unix), and whether
  // it sits in a reserved slot (probes only). Set once, before start().
  const std::string& peer() const { return peer_; }
  void set_reserve() { reserve_ = true; }
  bool reserve() const { return reserve_; }
  // Waiting for a request's header (since waiting_since()), or lingering after a final answer:
  // what the server may cut off to make room.
  bool evictable() const {
    return (phase_ == Phase::kReading && !header_checked_) || phase_ == Phase::kLingering;
  }
  std::chrono::steady_clock::time_point waiting_since() const { return waiting_since_; }

  void start();
  // Called by the server's close(): one last non-blocking try to send what is queued.
  void shut_down();

  // --- used by ResponderImpl ---
  void send_response(Response response);
  void start_stream(int status, std::string content_type);
  void write_chunk(std::string data);
  void end_stream();
  void abandon(bool streaming);
  size_t pending_bytes() const { return out_.size() + (write_in_flight_ ? writing_.size() : 0); }
  bool is_closed() const { return phase_ == Phase::kClosed; }
  boost::asio::io_context& io() const { return server_->io; }

  // Runs body; whatever it throws closes the connection rather than reaching the loop.
  template <typename F>
  void guarded(F&& body) {
    try {
      body();
    } catch (const std::exception& e) {
      log_failure(e.what());
      close_now();
    } catch (...) {
      close_now();
    }
  }

 private:
  enum class Phase { kReading, kHandling, kStreaming, kLingering, kClosed };
  enum class AfterWrite { kNothing, kNextRequest, kLinger };

  void log_failure(std::string_view what);
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
  bool closing_answer() const;

  std::shared_ptr<ServerState> server_;
  Socket socket_;
  boost::asio::steady_timer timer_;
  unsigned timer_generation_ = 0;
  std::string remote_;
  std::string peer_;
  bool reserve_ = false;
  std::chrono::steady_clock::time_point waiting_since_;
  Phase phase_ = Phase::kReading;

  boost::beast::flat_buffer in_;
  std::unique_ptr<char[]> read_buffer_;
  bool read_in_flight_ = false;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool header_checked_ = false;
  std::string user_;
  size_t lingered_bytes_ = 0;

  std::string out_;      // serialized, queued
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
};

// The Responder a handler gets: its state, and the way to its connection.
class ResponderImpl : public Responder {
 public:
  explicit ResponderImpl(std::shared_ptr<Connection> connection)
      : connection_(std::move(connection)) {}
  ~ResponderImpl() override;

  void send(Response response) override;
  void start_stream(int status, std::string content_type) override;
  void write_chunk(std::string data) override;
  void end_stream() override;
  bool closed() const override { return state_ == State::kDone || state_ == State::kClosed; }
  size_t pending_bytes() const override { return closed() ? 0 : connection_->pending_bytes(); }
  void on_close(std::function<void()> callback) override;

  // The connection closed before the answer was complete.
  void connection_closed();
  // A HEAD request's stream: the headers were the whole answer.
  void mark_done() {
    state_ = State::kDone;
    on_close_ = nullptr;
  }
  bool answered() const { return state_ != State::kFresh; }
  bool streaming() const { return state_ == State::kStreaming; }

 private:
  void run_on_close();

  enum class State { kFresh, kStreaming, kDone, kClosed };
  std::shared_ptr<Connection> connection_;
  State state_ = State::kFresh;
  std::function<void()> on_close_;
};

// An answer's header as Beast's serializer writes it.
std::string serialize_header(boost::beast::http::response<boost::beast::http::empty_body>& message);

// The user named by a request's Authorization header if it carries auth's credentials
// (Basic, user and password as supervisord checks them); nullopt otherwise.
std::optional<std::string> authenticated_user(const BasicAuth& auth,
                                              std::string_view authorization);

}  // namespace podvisor::control::detail
