// The request gate of one program (docs/gate.md): podvisor owns the public port from the
// start, accepts at once, holds connections while the program is not up, and relays them to
// the program's private address once it is; refuses (503) past its limits, on FATAL and at
// shutdown; answers the health paths of its preset itself.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gate/health.h"
#include "gate/stats.h"

namespace podvisor::gate {

class Connection;

struct Options {
  boost::asio::ip::tcp::endpoint listen;
  // TCP, or a unix socket (boost::asio::local::stream_protocol::endpoint converts).
  boost::asio::generic::stream_protocol::endpoint upstream;
  Health health = Health::kNone;
  // A second listener that answers only the preset's health paths.
  std::optional<boost::asio::ip::tcp::endpoint> health_listen;
  std::chrono::milliseconds hold_timeout{std::chrono::seconds(300)};  // 0: no limit
  size_t max_held = 10000;
  int retry_after = 5;          // seconds, in the 503's Retry-After
  bool abort_on_close = false;  // gate_abort_on_close
};

// The program as the gate follows it.
enum class Program { kStarting, kRunning, kStopping, kStopped, kFatal };

class Gate {
 public:
  Gate(boost::asio::io_context& io, Options options);
  Gate(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint listen,
       boost::asio::ip::tcp::endpoint upstream);
  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  // Binds and listens (and the health port); throws boost::system::system_error (the address is taken).
  void open();
  // Up: held connections go to the upstream, new ones straight through. Down: new ones are
  // held; those already relayed go on until an end closes them.
  struct Released {
    size_t count = 0;
    std::chrono::duration<double> since_first{0};  // since the first of them was held
  };
  Released set_up(bool up);
  // The program's state; FATAL refuses the held and new connections unless `hold_on_fatal`
  // (podvisor holds the pod: a retry may bring the program back).
  Released set_program(Program state, bool hold_on_fatal = false);
  // Shutdown: no longer accepts; held connections are refused, relayed ones go on.
  void stop_accepting();
  // Connections being relayed now whose answer has not ended.
  size_t active() const;
  // Those, and refused ones whose 503 is still being written or lingered on.
  size_t busy() const;
  // Stops accepting and ends every connection, held or relayed.
  void close();

  bool up() const;
  size_t held() const;
  Stats stats() const;
  // The ports it listens on (the kernel's choice for port 0).
  uint16_t port() const;
  uint16_t health_port() const;

 private:
  struct State;
  void accept(boost::asio::ip::tcp::acceptor& acceptor, bool health_only);
  void close_listeners();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::acceptor health_acceptor_;
  boost::asio::steady_timer accept_retry_;  // after a failed accept (out of descriptors)
  Options options_;
  std::shared_ptr<State> state_;
};

}  // namespace podvisor::gate
