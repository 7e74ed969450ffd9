// The request gate of one program (docs/gate.md): podvisor owns the public port from the
// start, accepts at once, holds connections while the program is not up, and relays them to
// the program's private address once it is.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>

namespace podvisor::gate {

class Connection;

class Gate {
 public:
  Gate(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint listen,
       boost::asio::ip::tcp::endpoint upstream);
  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  // Binds and listens; throws std::system_error (the address is taken, say).
  void open();
  // Up: held connections go to the upstream, new ones straight through. Down: new ones are
  // held; those already relayed go on until an end closes them.
  struct Released {
    size_t count = 0;
    std::chrono::duration<double> since_first{0};  // since the first of them was held
  };
  Released set_up(bool up);
  // Stops accepting and drops the held connections; relayed ones end with the loop.
  void close();

  bool up() const { return state_->up; }
  size_t held() const { return state_->held.size(); }
  // The port it listens on (the kernel's choice for port 0).
  uint16_t port() const;

 private:
  struct State {
    boost::asio::ip::tcp::endpoint upstream;
    bool up = false;
    std::list<std::shared_ptr<Connection>> held;
    std::chrono::steady_clock::time_point first_held;  // of those held now
  };
  void accept();
  void hold(std::shared_ptr<Connection> c);
  void release(std::shared_ptr<Connection> c);

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;  // after a failed accept (out of descriptors)
  boost::asio::ip::tcp::endpoint listen_;
  std::shared_ptr<State> state_;
};

}  // namespace podvisor::gate
