// One gated connection: the client's socket, held unread until the program is up, then
// joined to a fresh connection to the upstream and relayed both ways as bytes (layer 4).
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

namespace podvisor::gate {

using boost::asio::ip::tcp;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // on_closed_while_held: the client went away before it was released.
  Connection(tcp::socket client, std::function<void(Connection*)> on_closed_while_held);

  // Held: nothing is read; only the client's end of file (or reset) is noticed.
  void hold();
  // Connects to `upstream` and relays; `still_up` says, after a failed connect, whether to
  // try again (the program is up) or go back to being held (`rehold`).
  void release(const tcp::endpoint& upstream, std::function<bool()> still_up,
               std::function<void(std::shared_ptr<Connection>)> rehold);
  // Ends it at once (podvisor closes the gate).
  void abort();

 private:
  // One direction: reads from `from`, writes all of it to `to`, then reads again, so it never
  // reads more while a write is pending (back-pressure is the kernel's window).
  struct Direction {
    tcp::socket* from;
    tcp::socket* to;
    std::unique_ptr<std::array<char, 64 * 1024>> buffer;
    bool done = false;
  };
  void connect();
  void start_relay();
  void read(Direction& d);
  void direction_ended(Direction& d, bool clean);

  tcp::socket client_;
  tcp::socket upstream_;
  boost::asio::steady_timer retry_;
  std::function<void(Connection*)> on_closed_while_held_;
  tcp::endpoint upstream_endpoint_;
  std::function<bool()> still_up_;
  std::function<void(std::shared_ptr<Connection>)> rehold_;
  std::chrono::milliseconds backoff_{0};
  bool held_ = false;
  bool relaying_ = false;
  Direction to_upstream_{&client_, &upstream_, nullptr};
  Direction to_client_{&upstream_, &client_, nullptr};
};

}  // namespace podvisor::gate
