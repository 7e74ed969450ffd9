#include "gate/relay.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace podvisor::gate {
namespace {

constexpr auto kFirstRetry = std::chrono::milliseconds(50);
constexpr auto kLastRetry = std::chrono::milliseconds(1000);
constexpr size_t kBufferSize = 64 * 1024;
// Past this many bytes copied in one burst (reads that fill the buffer, back to back), a
// direction splices: below it recv+send is cheaper than a pipe's two splices and its
// descriptors (HAProxy splices only long transfers, too).
constexpr size_t kSpliceAfter = 64 * 1024;
constexpr int kBudget = 16;

// PODVISOR_GATE_SPLICE=0 keeps every direction copying (bench/gate.sh compares the two).
bool splice_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("PODVISOR_GATE_SPLICE");
    return v == nullptr || std::string_view(v) != "0";
  }();
  return enabled;
}

// A few idle buffers are kept for the next burst, so a keep-alive connection's every request
// does not allocate; beyond that they are freed (the loop is single-threaded).
constexpr size_t kSpareBuffers = 8;
std::vector<std::unique_ptr<char[]>>& spare_buffers() {
  static std::vector<std::unique_ptr<char[]>> spare;
  return spare;
}
std::unique_ptr<char[]> take_buffer() {
  auto& spare = spare_buffers();
  if (spare.empty()) return std::make_unique_for_overwrite<char[]>(kBufferSize);
  auto b = std::move(spare.back());
  spare.pop_back();
  return b;
}
void give_back(std::unique_ptr<char[]> b) {
  if (b && spare_buffers().size() < kSpareBuffers) spare_buffers().push_back(std::move(b));
}

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
  boost::system::error_code ec;
  client_.native_non_blocking(true, ec);
  if (!ec) upstream_.native_non_blocking(true, ec);
  if (ec) {
    direction_ended(to_upstream_, false);
    return;
  }
  pump(to_upstream_);
  pump(to_client_);
}

// Moves what it can now, then waits for the socket it needs. After kBudget steps it lets the
// loop run others first, so one fast transfer does not starve every other connection.
void Connection::pump(Direction& d) {
  for (int step = 0; step < kBudget; ++step) {
    if (d.done) return;
    if (!(d.pipe ? pump_splice(d) : pump_copy(d))) return;
  }
  boost::asio::post(client_.get_executor(), [self = shared_from_this(), &d] { self->pump(d); });
}

bool Connection::pump_copy(Direction& d) {
  if (d.begin < d.end) {
    const auto n = ::send(d.to->native_handle(), d.buffer.get() + d.begin, d.end - d.begin,
                          MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait(d, d.to, Socket::wait_write);
      return false;
    }
    if (n < 0) {
      direction_ended(d, false);
      return false;
    }
    d.begin += static_cast<size_t>(n);
    d.moved += static_cast<size_t>(n);
    count(d, static_cast<size_t>(n));
    if (d.begin < d.end) return true;
    const bool drained = d.end < kBufferSize;
    d.begin = d.end = 0;
    if (drained) {
      // A short read emptied the socket: the burst is over (keep-alive requests, SSE events
      // stay below kSpliceAfter this way). Wait rather than read again only to learn it: the
      // wait's re-arm reports bytes or an end of file that came meanwhile at once.
      d.moved = 0;
      give_back(std::move(d.buffer));
      wait(d, d.from, Socket::wait_read);
      return false;
    }
    if (d.moved >= kSpliceAfter && splice_enabled()) {
      // A long transfer: the kernel moves it from here on, and the buffer goes back.
      if (auto pipe = SplicePipe::open()) {
        d.pipe.emplace(std::move(*pipe));
        give_back(std::move(d.buffer));
      }
    }
    return true;
  }
  if (!d.buffer) d.buffer = take_buffer();
  const auto n = ::recv(d.from->native_handle(), d.buffer.get(), kBufferSize, MSG_DONTWAIT);
  if (n > 0) {
    d.end = static_cast<size_t>(n);
    return true;
  }
  if (n == 0) {
    end_of_file(d);
    return false;
  }
  if (errno == EAGAIN || errno == EINTR) {
    // Idle: the buffer goes back until the next bytes arrive.
    d.moved = 0;
    give_back(std::move(d.buffer));
    wait(d, d.from, Socket::wait_read);
    return false;
  }
  direction_ended(d, false);
  return false;
}

bool Connection::pump_splice(Direction& d) {
  const bool draining = !d.pipe->empty();
  const auto step =
      draining ? d.pipe->drain(d.to->native_handle()) : d.pipe->fill(d.from->native_handle());
  switch (step) {
    case SplicePipe::Step::kMoved:
      if (!draining) count(d, d.pipe->queued());
      return true;
    case SplicePipe::Step::kWouldBlock:
      if (!draining) {
        // The sender paused: the pipe goes (two descriptors and the kernel's page array
        // held by an idle connection), and the next burst starts by copying again.
        d.pipe.reset();
        d.moved = 0;
      }
      wait(d, draining ? d.to : d.from, draining ? Socket::wait_write : Socket::wait_read);
      return false;
    case SplicePipe::Step::kEnd:
      end_of_file(d);
      return false;
    case SplicePipe::Step::kError:
      break;
  }
  direction_ended(d, false);
  return false;
}

void Connection::wait(Direction& d, Socket* on, Socket::wait_type what) {
  on->async_wait(what, [self = shared_from_this(), &d](const boost::system::error_code& ec) {
    if (d.done || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      self->direction_ended(d, false);
      return;
    }
    self->pump(d);
  });
}

// Everything read was written (a direction reads only then): pass the end of file on.
void Connection::end_of_file(Direction& d) {
  boost::system::error_code shutdown_ec;
  d.to->shutdown(Socket::shutdown_send, shutdown_ec);
  direction_ended(d, !shutdown_ec);
}

void Connection::count(const Direction& d, size_t n) {
  if (const auto hub = hub_.lock()) hub->stats().bytes[d.index] += n;
}

void Connection::direction_ended(Direction& d, bool clean) {
  if (d.done) return;
  d.done = true;
  give_back(std::move(d.buffer));
  d.pipe.reset();
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
