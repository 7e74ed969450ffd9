// One gated connection: the client's socket, held unread until the program is up, then
// joined to a fresh connection to the upstream and relayed both ways as bytes (layer 4).
// While held it is only peeked at: HTTP or not, a health path, a client that left.
#pragma once

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
#include "gate/splice.h"
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
  // A client left while held or looked at (end of file with nothing sent, a reset, or, with
  // gate_abort_on_close, an HTTP client's end of file).
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
    // An HTTP client's end of file while held means it left (gate_abort_on_close); else a
    // client that sent bytes and half-closed keeps its place and gets its answer.
    bool abort_on_close = false;
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
  // One direction: bytes from `from` to `to`. It reads only once what it read last is all
  // written (back-pressure is the kernel's window). It copies through a buffer taken only while
  // bytes are in flight (an idle connection holds none); once a burst (bytes queued faster than
  // they come) passes kSpliceAfter it moves them inside the kernel through a pipe pair instead
  // (splice.h), until the sender pauses.
  struct Direction {
    Direction(Socket* from_socket, Socket* to_socket, size_t stats_index)
        : from(from_socket), to(to_socket), index(stats_index) {}
    Socket* from;
    Socket* to;
    size_t index;  // in Stats::bytes
    std::unique_ptr<char[]> buffer;
    size_t begin = 0;  // of the bytes read and not written yet
    size_t end = 0;
    size_t moved = 0;  // in this burst: since the socket was last found empty
    std::optional<SplicePipe> pipe;
    bool done = false;
  };
  void connect();
  void start_relay();
  void pump(Direction& d);
  bool pump_copy(Direction& d);
  bool pump_splice(Direction& d);
  void wait(Direction& d, Socket* on, Socket::wait_type what);
  void end_of_file(Direction& d);
  void direction_ended(Direction& d, bool clean);
  void count(const Direction& d, size_t n);

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
  Direction to_upstream_{&client_, &upstream_, 0};
  Direction to_client_{&upstream_, &client_, 1};
};

}  // namespace podvisor::gate
