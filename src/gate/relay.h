// One gated connection: the client's socket, held unread until the program is up, then
// joined to a fresh connection to the upstream and relayed both ways as bytes (layer 4).
// While held it is only peeked at: HTTP or not, a health path, a client that left.
#pragma once

#include <array>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gate/sniff.h"
#include "gate/stats.h"

namespace podvisor::gate {

using boost::asio::ip::tcp;
// The upstream is TCP or a unix socket (vllm --uds); both ends share one socket type.
using Socket = boost::asio::generic::stream_protocol::socket;
using Endpoint = boost::asio::generic::stream_protocol::endpoint;

class Connection;

// How a connection reaches its gate, which may be gone by then (held weakly).
class Hub {
 public:
  virtual ~Hub() = default;
  // A client left while held or looked at (end of file with nothing sent, a reset, or an
  // HTTP client's end of file: HTTP clients do not half-close).
  virtual void gone(Connection* c) = 0;
  // podvisor's own answer to this request, nullopt when it is the program's.
  virtual std::optional<int> health(std::string_view method, std::string_view path) = 0;
  // Looked at (watch with `classify`) and not a health request: the program's.
  virtual void classified(std::shared_ptr<Connection> c) = 0;
  virtual Stats& stats() = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket client, std::weak_ptr<Hub> hub);

  // Held: nothing is read. Watches for a client that leaves and for the first bytes: whether
  // they are HTTP and, with `health_paths`, a request line podvisor answers itself. With
  // `classify`, tells the hub once the request is known to be the program's; with
  // `health_only` (a health port), answers anything else with 404.
  struct Watch {
    bool health_paths = false;
    bool classify = false;
    bool health_only = false;
  };
  void hold(Watch watch);
  // Connects to `upstream` and relays; `still_up` says, after a failed connect, whether to
  // try again (the program is up) or go back to being held (`rehold`).
  void release(const Endpoint& upstream, std::function<bool()> still_up,
               std::function<void(std::shared_ptr<Connection>)> rehold);
  // Ends a held connection: 503 with Retry-After for HTTP (after the first bytes, waited for
  // a little when none came yet), a close otherwise. The connection ends on its own after.
  void refuse(int retry_after);
  // Ends it at once (podvisor closes the gate).
  void abort();

  // Relaying, and the upstream's answer not at its end yet (what a drain waits for).
  bool answering() const { return relaying_ && !to_client_.done; }
  // Refused, its answer still going out (or waiting for its first bytes, or lingering).
  bool refusing() const { return !relaying_ && !held_ && client_.is_open(); }
  // Ends it without a reset: only for one whose answer has ended (nothing left unread).
  void close();
  std::chrono::steady_clock::time_point held_since{};

 private:
  // One direction: reads from `from`, writes all of it to `to`, then reads again, so it never
  // reads more while a write is pending (back-pressure is the kernel's window).
  struct Direction {
    Socket* from;
    Socket* to;
    std::unique_ptr<std::array<char, 64 * 1024>> buffer;
    bool done = false;
    size_t index = 0;  // in Stats::bytes
  };
  void connect();
  void start_relay();
  void read(Direction& d);
  void direction_ended(Direction& d, bool clean);

  void wait_readable();
  void readable();
  void left();
  // Writes `response`, then closes gently: end of file first, the client's bytes read and
  // dropped for a while, so the close does not reset a response the client has not read.
  void answer(std::string response);
  void linger();
  void drop();
  void finish_refusal();

  Socket client_;
  Socket upstream_;
  boost::asio::steady_timer retry_;
  std::weak_ptr<Hub> hub_;
  Endpoint upstream_endpoint_;
  std::function<bool()> still_up_;
  std::function<void(std::shared_ptr<Connection>)> rehold_;
  std::chrono::milliseconds backoff_{0};
  Watch watch_;
  Sniff kind_ = Sniff::kNeedMore;
  bool line_known_ = false;  // its request line was seen (health_paths)
  bool held_ = false;
  bool waiting_ = false;                 // a readability wait is pending
  std::optional<int> refusing_;          // Retry-After of a refusal waiting for first bytes
  std::unique_ptr<std::string> answer_;  // the response being written, then the drop buffer
  size_t dropped_ = 0;
  bool relaying_ = false;
  Direction to_upstream_{&client_, &upstream_, nullptr, false, 0};
  Direction to_client_{&upstream_, &client_, nullptr, false, 1};
};

}  // namespace podvisor::gate
