// One gated connection: the client's socket, held unread until the program is up, then
// joined to a fresh connection to the upstream and relayed both ways as bytes (layer 4).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "gate/splice.h"

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
  // One direction: bytes from `from` to `to`. It reads only once what it read last is all
  // written (back-pressure is the kernel's window). It copies through a buffer taken only while
  // bytes are in flight (an idle connection holds none); once a burst (bytes queued faster than
  // they come) passes kSpliceAfter it moves them inside the kernel through a pipe pair instead
  // (splice.h), until the sender pauses.
  struct Direction {
    Direction(tcp::socket* from_socket, tcp::socket* to_socket)
        : from(from_socket), to(to_socket) {}
    tcp::socket* from;
    tcp::socket* to;
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
  void wait(Direction& d, tcp::socket* on, tcp::socket::wait_type what);
  void end_of_file(Direction& d);
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
  Direction to_upstream_{&client_, &upstream_};
  Direction to_client_{&upstream_, &client_};
};

}  // namespace podvisor::gate
