// The held side of a gated connection (gate/relay.h): watching a client that is not read,
// podvisor's own answers (health, 503) and the gentle close after them.
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/write.hpp>

#include "gate/health.h"
#include "gate/relay.h"

namespace podvisor::gate {
namespace {

// Bytes peeked at: enough for a request line with a long path.
constexpr size_t kPeek = 1024;
// Past this many held bytes the client is no longer watched (SO_RCVLOWAT past it would grow
// the socket's receive buffer and clamp its window for the later transfer).
constexpr int kWatchLimit = 16 * 1024;
// A refused connection that has sent nothing yet is given this long to show it is HTTP.
constexpr auto kFirstBytesWait = std::chrono::seconds(2);
// The gentle close after an answer reads and drops at most this much, this long.
constexpr size_t kDropLimit = 64 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);

void set_lowat(int fd, int bytes) {
  // Without it a wait wakes at once for bytes already seen; a failure costs only wake-ups.
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes);
}

}  // namespace

void Connection::hold(Watch watch) {
  held_ = true;
  watch_ = watch;
  if (!waiting_) wait_readable();
}

void Connection::wait_readable() {
  waiting_ = true;
  // Readable means data (past SO_RCVLOWAT), end of file or a reset. Data stays queued in the
  // kernel for the upstream; it is only peeked at.
  client_.async_wait(Socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->waiting_ = false;
                       const bool watched = self->held_ || self->refusing_;
                       // Cancelled by a release, then held again before this ran: wait anew.
                       if (ec == boost::asio::error::operation_aborted && watched) {
                         return self->wait_readable();
                       }
                       if (ec || !watched) return;
                       self->readable();
                     });
}

void Connection::readable() {
  const int fd = client_.native_handle();
  pollfd p{.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
  if (::poll(&p, 1, 0) < 0 || (p.revents & (POLLERR | POLLHUP)) != 0) return left();
  std::array<char, kPeek> first;
  const auto got = ::recv(fd, first.data(), first.size(), MSG_PEEK | MSG_DONTWAIT);
  const size_t n = got > 0 ? static_cast<size_t>(got) : 0;
  const std::string_view bytes(first.data(), n);
  if (n > 0 && kind_ == Sniff::kNeedMore) kind_ = sniff_http(bytes);
  if (n == kPeek && kind_ == Sniff::kNeedMore) kind_ = Sniff::kOther;
  const bool hang_up = (p.revents & POLLRDHUP) != 0;
  if (hang_up && (n == 0 || (kind_ == Sniff::kHttp && watch_.abort_on_close))) return left();
  if (refusing_) {
    if (kind_ != Sniff::kNeedMore || hang_up) return finish_refusal();
  } else if (kind_ == Sniff::kHttp && watch_.health_paths && !line_known_) {
    const auto line = request_line(bytes);
    if (line.state != Sniff::kNeedMore || n == kPeek) {
      line_known_ = true;
      const auto hub = hub_.lock();
      const auto status =
          hub && line.state == Sniff::kHttp ? hub->health(line.method, line.path) : std::nullopt;
      if (status || watch_.health_only) {
        held_ = false;
        if (hub) hub->gone(this);
        return answer(http_response(status.value_or(404), line.method == "HEAD"));
      }
    }
  }
  if (watch_.health_only && kind_ == Sniff::kOther) {
    held_ = false;
    if (const auto hub = hub_.lock()) hub->gone(this);
    return abort();
  }
  const bool known =
      kind_ != Sniff::kNeedMore && (kind_ != Sniff::kHttp || !watch_.health_paths || line_known_);
  if (watch_.classify && (known || hang_up)) {
    watch_.classify = held_ = false;
    if (const auto hub = hub_.lock()) return hub->classified(shared_from_this());
    return abort();
  }
  // A client that sent its bytes and half-closed keeps its place, unwatched.
  if (hang_up || n >= kWatchLimit) return;
  set_lowat(fd, static_cast<int>(n) + 1);
  wait_readable();
}

void Connection::left() {
  held_ = false;
  refusing_.reset();
  retry_.cancel();
  boost::system::error_code ignored;
  client_.close(ignored);
  if (const auto hub = hub_.lock()) hub->gone(this);
}

void Connection::refuse(int retry_after) {
  held_ = false;
  refusing_ = retry_after;
  if (kind_ != Sniff::kNeedMore) return finish_refusal();
  // Nothing sent yet: a moment for the first bytes, then a close.
  retry_.expires_after(kFirstBytesWait);
  retry_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && self->refusing_) self->finish_refusal();
  });
  if (!waiting_) wait_readable();
}

void Connection::finish_refusal() {
  const int retry_after = refusing_.value_or(1);
  refusing_.reset();
  retry_.cancel();
  if (kind_ != Sniff::kHttp) return abort();
  answer(http_response(503, false, retry_after));
}

void Connection::answer(std::string response) {
  boost::system::error_code ignored;
  client_.cancel(ignored);
  set_lowat(client_.native_handle(), 1);
  answer_ = std::make_unique<std::string>(std::move(response));
  boost::asio::async_write(
      client_, boost::asio::buffer(*answer_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        if (ec) return self->abort();
        self->linger();
      });
}

void Connection::linger() {
  boost::system::error_code ignored;
  client_.shutdown(Socket::shutdown_send, ignored);
  answer_->assign(4096, '\0');
  retry_.expires_after(kLingerTime);
  retry_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    boost::system::error_code ignored_close;
    if (!ec) self->client_.close(ignored_close);
  });
  drop();
}

void Connection::drop() {
  client_.async_read_some(
      boost::asio::buffer(*answer_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        self->dropped_ += n;
        if (ec || self->dropped_ >= kDropLimit) {
          self->retry_.cancel();
          boost::system::error_code ignored_close;
          self->client_.close(ignored_close);
          return;
        }
        self->drop();
      });
}

}  // namespace podvisor::gate
