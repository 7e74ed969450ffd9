#include "output/relay.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "output/ansi.h"

namespace podvisor::output {
namespace {

// Stands for spliced bytes in the rings: a ring copies only the last bytes of what it is
// given, which the window read next overwrites. Never written, so it costs no memory (the
// kernel maps its pages to the zero page when read).
char unread_bytes[1 << 20];

}  // namespace

Pipe make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  // Best effort: a larger pipe means fewer wake-ups under heavy output.
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  return {fds[0], fds[1]};
}

PipeRelay::PipeRelay(boost::asio::io_context& io, int read_fd, Destination* destination,
                     std::vector<RingBuffer*> rings, std::vector<char>& buffer,
                     std::unique_ptr<Destination> owned)
    : stream_(io, read_fd),
      owned_(std::move(owned)),
      sink_(owned_ ? owned_.get() : destination),
      rings_(std::move(rings)),
      buffer_(buffer) {
  stream_.non_blocking(true);
}

void PipeRelay::start() { wait(); }

void PipeRelay::wait() {
  stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& ec) {
                       if (ec) return;
                       // Bounded work per wake-up keeps one noisy program from starving
                       // the loop; the pipe stays readable, so the next wait fires at once.
                       for (int i = 0;
                            i < 16 && !(sink_ && sink_->congested()) &&
                            (zero_copy_ && !strip_ansi_ ? splice_once() : read_once());) {
                         ++i;
                       }
                       if (!open()) return;
                       if (sink_ && sink_->congested()) {
                         // Backpressure: the program blocks on its full pipe until the
                         // reader of podvisor's output catches up.
                         sink_->when_drained([this, alive = std::weak_ptr<bool>(alive_)] {
                           if (auto a = alive.lock(); a && *a && open()) wait();
                         });
                         return;
                       }
                       wait();
                     });
}

bool PipeRelay::read_once() {
  if (!open()) return false;
  const auto n = ::read(stream_.native_handle(), buffer_.data(), buffer_.size());
  if (n > 0) {
    std::string_view data(buffer_.data(), static_cast<size_t>(n));
    if (strip_ansi_) {
      stripped_.clear();
      strip_escapes(data, stripped_);
      data = stripped_;
      if (data.empty()) return true;
    }
    for (auto* ring : rings_) ring->append(data);
    if (sink_) sink_->write(data);
    if (observer_) observer_(data);
    return true;
  }
  if (n < 0 && (errno == EINTR)) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  boost::system::error_code ignored;
  stream_.close(ignored);  // end of file: every writer is gone
  if (sink_) sink_->end();
  return false;
}

bool PipeRelay::splice_once() {
  int waiting = 0;
  const int fd = stream_.native_handle();
  if (!sink_ || ::ioctl(fd, FIONREAD, &waiting) != 0 ||
      static_cast<size_t>(waiting) <= kRingWindow) {
    return read_once();
  }
  const size_t skip = static_cast<size_t>(waiting) - kRingWindow;
  size_t moved = 0;
  for (long n = 1; moved < skip && n > 0;) {
    n = sink_->splice_from(fd, skip - moved);
    if (n > 0) moved += static_cast<size_t>(n);
  }
  for (size_t counted = 0; counted < moved;) {
    const auto part = std::min(moved - counted, sizeof unread_bytes);
    for (auto* ring : rings_) ring->append(std::string_view(unread_bytes, part));
    counted += part;
  }
  // The window, read whatever happened (a full destination queues it): the rings must not
  // be left ending in stand-in bytes.
  return read_once();
}

void PipeRelay::drain() {
  while (read_once()) {
  }
}

}  // namespace podvisor::output
