#include "gate/relay.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

namespace podvisor::gate {
namespace {

constexpr auto kFirstRetry = std::chrono::milliseconds(50);
constexpr auto kLastRetry = std::chrono::milliseconds(1000);

// Both ends at once, with a reset rather than a clean end: a client must not take an
// upstream that broke for the end of its answer.
void reset(Socket& s) {
  boost::system::error_code ignored;
  if (!s.is_open()) return;
  s.set_option(boost::asio::socket_base::linger(true, 0), ignored);
  s.close(ignored);
}

}  // namespace

Connection::Connection(tcp::socket client, std::weak_ptr<Hub> hub)
    : client_(std::move(client)),
      upstream_(client_.get_executor()),
      retry_(client_.get_executor()),
      hub_(std::move(hub)) {}

void Connection::release(const Endpoint& upstream, std::function<bool()> still_up,
                         std::function<void(std::shared_ptr<Connection>)> rehold) {
  held_ = false;
  boost::system::error_code ignored;
  client_.cancel(ignored);  // the hold's wait
  // The hold may have raised it; relayed reads take whatever is there.
  const int one = 1;
  (void)::setsockopt(client_.native_handle(), SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  upstream_endpoint_ = upstream;
  still_up_ = std::move(still_up);
  rehold_ = std::move(rehold);
  backoff_ = kFirstRetry;
  connect();
}

void Connection::abort() {
  held_ = false;
  refusing_.reset();
  retry_.cancel();
  reset(client_);
  reset(upstream_);
}

void Connection::close() {
  held_ = false;
  retry_.cancel();
  boost::system::error_code ignored;
  client_.close(ignored);
  upstream_.close(ignored);
}

void Connection::connect() {
  upstream_.async_connect(
      upstream_endpoint_, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (!self->client_.is_open()) return;  // aborted meanwhile
        if (!ec) {
          if (const auto hub = self->hub_.lock()) ++hub->stats().forwarded;
          self->start_relay();
          return;
        }
        boost::system::error_code ignored;
        self->upstream_.close(ignored);
        // Nothing of the client's has been sent yet, so trying again replays nothing.
        if (!self->still_up_()) {
          self->rehold_(self);
          return;
        }
        self->retry_.expires_after(self->backoff_);
        self->backoff_ = std::min(self->backoff_ * 2, std::chrono::milliseconds(kLastRetry));
        self->retry_.async_wait([self](const boost::system::error_code& wait_ec) {
          if (!wait_ec && self->client_.is_open()) self->connect();
        });
      });
}

void Connection::start_relay() {
  relaying_ = true;
  boost::system::error_code ignored;
  // Token-sized writes (an SSE stream) must not wait for Nagle and a delayed ACK; failing
  // to set it (a unix socket) costs nothing.
  client_.set_option(tcp::no_delay(true), ignored);
  upstream_.set_option(tcp::no_delay(true), ignored);
  for (auto* d : {&to_upstream_, &to_client_}) {
    d->buffer = std::make_unique<std::array<char, 64 * 1024>>();
    read(*d);
  }
}

void Connection::read(Direction& d) {
  d.from->async_read_some(
      boost::asio::buffer(*d.buffer),
      [self = shared_from_this(), &d](const boost::system::error_code& ec, size_t n) {
        if (ec == boost::asio::error::eof) {
          boost::system::error_code shutdown_ec;
          d.to->shutdown(Socket::shutdown_send, shutdown_ec);
          self->direction_ended(d, !shutdown_ec);
          return;
        }
        if (ec) {
          self->direction_ended(d, false);
          return;
        }
        if (const auto hub = self->hub_.lock()) hub->stats().bytes[d.index] += n;
        boost::asio::async_write(*d.to, boost::asio::buffer(d.buffer->data(), n),
                                 [self, &d](const boost::system::error_code& write_ec, size_t) {
                                   if (write_ec) {
                                     self->direction_ended(d, false);
                                   } else {
                                     self->read(d);
                                   }
                                 });
      });
}

void Connection::direction_ended(Direction& d, bool clean) {
  if (d.done) return;
  d.done = true;
  d.buffer.reset();
  if (!clean) {
    to_upstream_.done = to_client_.done = true;
    reset(client_);
    reset(upstream_);
  } else if (to_upstream_.done && to_client_.done) {
    boost::system::error_code ignored;
    client_.close(ignored);
    upstream_.close(ignored);
  }
}

}  // namespace podvisor::gate
