#include "gate/gate.h"

#include <algorithm>

#include "gate/relay.h"

namespace podvisor::gate {

using boost::asio::ip::tcp;

Gate::Gate(boost::asio::io_context& io, tcp::endpoint listen, tcp::endpoint upstream)
    : acceptor_(io), accept_retry_(io), listen_(listen), state_(std::make_shared<State>()) {
  state_->upstream = upstream;
}

Gate::~Gate() { close(); }

void Gate::open() {
  acceptor_.open(listen_.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(listen_);
  acceptor_.listen();
  accept();
}

uint16_t Gate::port() const {
  boost::system::error_code ec;
  const auto e = acceptor_.local_endpoint(ec);
  return ec ? 0 : e.port();
}

void Gate::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      std::weak_ptr<State> weak = state_;
      auto c = std::make_shared<Connection>(std::move(socket), [weak](Connection* gone) {
        if (auto s = weak.lock()) {
          s->held.remove_if([gone](const auto& h) { return h.get() == gone; });
        }
      });
      hold(std::move(c));
      accept();
      return;
    }
    // A failed accept (out of descriptors, say) leaves the connection in the backlog: try
    // again a little later rather than spin on the same error.
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](const boost::system::error_code& wait_ec) {
      if (!wait_ec && acceptor_.is_open()) accept();
    });
  });
}

void Gate::hold(std::shared_ptr<Connection> c) {
  if (state_->up) {
    release(std::move(c));
    return;
  }
  if (state_->held.empty()) state_->first_held = std::chrono::steady_clock::now();
  state_->held.push_back(c);
  c->hold();
}

void Gate::release(std::shared_ptr<Connection> c) {
  std::weak_ptr<State> weak = state_;
  c->release(
      state_->upstream,
      [weak] {
        const auto s = weak.lock();
        return s && s->up;
      },
      // The program went down before the connect succeeded: held again, at the front.
      [weak](std::shared_ptr<Connection> back) {
        const auto s = weak.lock();
        if (!s) return;
        if (s->held.empty()) s->first_held = std::chrono::steady_clock::now();
        s->held.push_front(back);
        back->hold();
      });
}

Gate::Released Gate::set_up(bool up) {
  state_->up = up;
  if (!up || state_->held.empty()) return {};
  auto held = std::move(state_->held);
  state_->held.clear();
  const Released released{held.size(), std::chrono::steady_clock::now() - state_->first_held};
  for (auto& c : held) release(std::move(c));
  return released;
}

void Gate::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (auto& c : state_->held) c->abort();
  state_->held.clear();
}

}  // namespace podvisor::gate
