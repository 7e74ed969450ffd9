#include "output/sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace podvisor::output {

OutputSink::OutputSink(boost::asio::io_context& io, int fd) : fd_(fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    broken_ = true;
    return;
  }
  if (S_ISSOCK(st.st_mode)) {
    // send(MSG_DONTWAIT) is non-blocking per call; a dup serves only to wait for room.
    const int waiter = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (waiter >= 0) {
      mode_ = Mode::kSocket;
      stream_.emplace(io, waiter);
    }
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    // O_NONBLOCK on fd itself would change the open file description that other processes
    // share; reopening the pipe or device gives podvisor a description of its own.
    const auto path = fmt::format("/proc/self/fd/{}", fd);
    const int own = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (own >= 0) {
      fd_ = own;
      mode_ = Mode::kNonBlocking;
      stream_.emplace(io, own);
    }
  }
  // Regular files (and anything that could not be reopened) take blocking writes: a file
  // write does not wait on a reader.
}

OutputSink::~OutputSink() = default;  // stream_ closes the fd podvisor opened for itself

bool OutputSink::write_some(std::string_view& data) {
  while (!data.empty()) {
    ssize_t n;
    if (mode_ == Mode::kSocket) {
      n = ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
      n = ::write(fd_, data.data(), data.size());
    }
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  return true;
}

void OutputSink::write(std::string_view data) {
  if (broken_ || data.empty()) return;
  if (sent_ == queue_.size()) {
    if (!write_some(data)) {
      broken_ = true;  // the reader is gone; supervision goes on, output stays in the rings
      return;
    }
    if (data.empty()) return;
  }
  queue_.append(data);
  wait_writable();
}

long OutputSink::splice_from(int pipe_fd, size_t len) {
  // Queued bytes go first, and a socket's send() flags have no splice() equivalent.
  if (broken_ || !splice_ok_ || mode_ == Mode::kSocket || sent_ != queue_.size()) return -1;
  const auto n = ::splice(pipe_fd, nullptr, fd_, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && stream_) {
    // Either the reader is full or the pipe is empty; only a full reader pauses the source.
    pollfd pfd{fd_, POLLOUT, 0};
    if (::poll(&pfd, 1, 0) == 0) {
      full_ = true;
      wait_writable();
      return 0;
    }
    return -1;
  }
  if (n < 0 && errno == EINVAL) splice_ok_ = false;  // a file or device without splice
  return -1;  // the copying path meets the error again and handles it
}

void OutputSink::wait_writable() {
  if (waiting_ || !stream_) return;
  waiting_ = true;
  stream_->async_wait(boost::asio::posix::stream_descriptor::wait_write,
                      [this](const boost::system::error_code& ec) {
                        waiting_ = false;
                        full_ = false;
                        if (ec) return;
                        std::string_view rest(queue_);
                        rest.remove_prefix(sent_);
                        const auto before = rest.size();
                        if (!write_some(rest)) {
                          broken_ = true;
                          rest = {};
                        }
                        sent_ += before - rest.size();
                        compact();
                        if (sent_ < queue_.size()) {
                          wait_writable();
                        }
                        if (!congested()) {
                          auto resume = std::move(paused_);
                          paused_.clear();
                          for (auto& fn : resume) fn();
                        }
                      });
}

void OutputSink::compact() {
  if (sent_ == queue_.size()) {
    queue_.clear();
    sent_ = 0;
  } else if (sent_ > kHighWater) {
    queue_.erase(0, sent_);
    sent_ = 0;
  }
}

void OutputSink::when_drained(std::function<void()> resume) {
  if (!congested()) {
    resume();
    return;
  }
  paused_.push_back(std::move(resume));
}

void OutputSink::flush(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!broken_ && sent_ < queue_.size()) {
    std::string_view rest(queue_);
    rest.remove_prefix(sent_);
    const auto before = rest.size();
    if (!write_some(rest)) break;
    sent_ += before - rest.size();
    if (sent_ == queue_.size()) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{fd_, POLLOUT, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
  }
  queue_.clear();
  sent_ = 0;
}

}  // namespace podvisor::output
