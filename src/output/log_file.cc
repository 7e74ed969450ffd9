#include "output/log_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace podvisor::output {
namespace {

// While a FIFO has no reader, an open is tried again on output, at most this often.
constexpr auto kFifoRetry = std::chrono::milliseconds(100);

}  // namespace

LogFile::LogFile(std::string path, uint64_t maxbytes, int backups, Options options)
    : path_(std::move(path)), maxbytes_(maxbytes), backups_(backups), options_(std::move(options)) {
  struct stat st {};
  fifo_ = ::stat(path_.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
  if (fifo_) {
    // A blocking open would wait for a reader with the whole loop; rotation has no meaning.
    if (!open_fifo() && options_.report) {
      options_.report(config::LogLevel::kWarn,
                      fmt::format("log FIFO {} has no reader: output to it is dropped until one "
                                  "opens it",
                                  path_));
      failing_ = true;
    }
    return;
  }
  open_file();
}

LogFile::~LogFile() {
  *alive_ = false;
  if (fd_ >= 0 && !fifo_stream_) ::close(fd_);
}

void LogFile::open_file() {
  // No O_APPEND: splice() refuses such a file. Each write seeks to the end instead, so a file
  // truncated by someone else is still appended to, not written past a hole.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + path_);
  struct stat st {};
  const bool known = fstat(fd_, &st) == 0;
  size_ = known ? static_cast<uint64_t>(st.st_size) : 0;
  seekable_ = known && S_ISREG(st.st_mode);  // a terminal or /dev/null has no end to seek to
}

bool LogFile::seek_end() { return !seekable_ || ::lseek(fd_, 0, SEEK_END) >= 0; }

bool LogFile::open_fifo() {
  next_open_attempt_ = std::chrono::steady_clock::now() + kFifoRetry;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    // ENXIO: no reader yet. Anything else stays an error for this file: no output lost in
    // silence either way, the drops are counted.
    if (errno != ENXIO && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "open " + path_);
    }
    return false;
  }
  fd_ = fd;
  if (options_.io) {
    fifo_stream_.emplace(*options_.io, fd);  // owns the fd from here
  }
  return true;
}

void LogFile::clear() {
  if (fifo_) return;
  if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) {
    throw std::system_error(errno, std::generic_category(), fmt::format("truncate {}", path_));
  }
  size_ = 0;
}

void LogFile::rotate() {
  ::close(fd_);
  fd_ = -1;
  if (backups_ > 0) {
    for (int i = backups_ - 1; i >= 1; --i) {
      ::rename(fmt::format("{}.{}", path_, i).c_str(), fmt::format("{}.{}", path_, i + 1).c_str());
    }
    ::rename(path_.c_str(), fmt::format("{}.1", path_).c_str());
  } else {
    ::truncate(path_.c_str(), 0);  // supervisord: no backups means start the file over
  }
  try {
    open_file();
  } catch (const std::system_error&) {
    fd_ = -1;  // the next write tries again
  }
}

void LogFile::write(std::string_view data) {
  if (data.empty()) return;
  if (fifo_) {
    write_fifo(data);
  } else {
    write_file(data);
  }
}

void LogFile::write_file(std::string_view data) {
  if (fd_ < 0) {
    try {
      open_file();
    } catch (const std::system_error& e) {
      drop(data.size(), e.code().value());
      return;
    }
  }
  if (!seek_end()) {
    drop(data.size(), errno);
    return;
  }
  while (!data.empty()) {
    if (maxbytes_ > 0 && size_ >= maxbytes_) {
      rotate();
      if (fd_ < 0) {
        drop(data.size(), errno);
        return;
      }
    }
    auto take = data.size();
    if (maxbytes_ > 0) take = std::min<uint64_t>(take, maxbytes_ - size_);
    const auto n = ::write(fd_, data.data(), take);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // ENOSPC, EDQUOT, EIO, EFBIG: these bytes are lost; the next write tries again.
      drop(data.size(), n < 0 ? errno : ENOSPC);
      return;
    }
    size_ += static_cast<uint64_t>(n);
    data.remove_prefix(static_cast<size_t>(n));
    recovered();
  }
}

long LogFile::splice_from(int pipe_fd, size_t len) {
  // After a failure the copying path finds out, counts and reports; a FIFO always copies.
  if (fifo_ || failing_ || fd_ < 0 || !splice_ok_) return -1;
  if (maxbytes_ > 0 && size_ >= maxbytes_) {
    rotate();
    if (fd_ < 0) return -1;
  }
  if (!seek_end()) return -1;
  if (maxbytes_ > 0) len = std::min<uint64_t>(len, maxbytes_ - size_);
  const auto n = ::splice(pipe_fd, nullptr, fd_, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n <= 0) {
    if (n < 0 && errno == EINVAL) splice_ok_ = false;  // this file system cannot
    return -1;
  }
  size_ += static_cast<uint64_t>(n);
  return n;
}

void LogFile::write_fifo(std::string_view data) {
  if (fd_ < 0) {
    bool opened = false;
    int error = ENXIO;
    try {
      opened = std::chrono::steady_clock::now() >= next_open_attempt_ && open_fifo();
    } catch (const std::system_error& e) {
      error = e.code().value();
    }
    if (!opened) {
      drop(data.size(), error);
      return;
    }
  }
  if (fifo_queue_.empty()) {
    while (!data.empty()) {
      const auto n = ::write(fd_, data.data(), data.size());
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      fifo_gone(n < 0 ? errno : EPIPE);
      drop(data.size(), EPIPE);
      return;
    }
    if (data.empty()) {
      recovered();
      return;
    }
  }
  // A slow reader: queue, and wait on the loop for room. Sources stop at kFifoQueue
  // (congested); the hard limit only catches one that does not.
  constexpr size_t kHardLimit = 4 * kFifoQueue;
  const auto room = kHardLimit > fifo_queue_.size() ? kHardLimit - fifo_queue_.size() : 0;
  fifo_queue_.append(data.substr(0, room));
  if (data.size() > room) drop(data.size() - room, EAGAIN);
  flush_fifo();
}

void LogFile::flush_fifo() {
  if (fifo_waiting_ || !fifo_stream_ || fifo_queue_.empty()) {
    if (!fifo_stream_ && !fifo_queue_.empty()) {
      drop(fifo_queue_.size(), EAGAIN);  // no loop to wait on: nothing can be queued
      fifo_queue_.clear();
    }
    return;
  }
  fifo_waiting_ = true;
  fifo_stream_->async_wait(
      boost::asio::posix::stream_descriptor::wait_write,
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        const auto a = alive.lock();
        if (!a || !*a) return;
        fifo_waiting_ = false;
        if (ec || fd_ < 0) return;
        size_t sent = 0;
        while (sent < fifo_queue_.size()) {
          const auto n = ::write(fd_, fifo_queue_.data() + sent, fifo_queue_.size() - sent);
          if (n > 0) {
            sent += static_cast<size_t>(n);
          } else if (n < 0 && errno == EINTR) {
            continue;
          } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
          } else {
            const auto lost = fifo_queue_.size() - sent;
            fifo_queue_.clear();
            fifo_gone(n < 0 ? errno : EPIPE);
            drop(lost, EPIPE);
            return;
          }
        }
        fifo_queue_.erase(0, sent);
        if (fifo_queue_.empty()) recovered();
        flush_fifo();
        resume_sources();
      });
}

void LogFile::when_drained(std::function<void()> resume) {
  if (!congested()) {
    resume();
    return;
  }
  paused_.push_back(std::move(resume));
}

void LogFile::resume_sources() {
  if (congested()) return;
  auto resume = std::move(paused_);
  paused_.clear();
  for (auto& fn : resume) fn();
}

// The reader closed its end: back to waiting for one.
void LogFile::fifo_gone(int) {
  if (fifo_stream_) {
    boost::system::error_code ignored;
    fifo_stream_->close(ignored);
    fifo_stream_.reset();
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
  fifo_queue_.clear();
  // Later: the caller may be inside a source's write, and resuming reads again.
  if (options_.io && !paused_.empty()) {
    boost::asio::post(*options_.io, [this, alive = std::weak_ptr<bool>(alive_)] {
      if (const auto a = alive.lock(); a && *a) resume_sources();
    });
  }
  next_open_attempt_ = std::chrono::steady_clock::now() + kFifoRetry;
}

void LogFile::drop(size_t bytes, int error) {
  if (error == 0) error = EIO;  // a failure whose errno was lost on the way
  dropped_ += bytes;
  if (failing_) return;
  failing_ = true;
  dropped_at_episode_start_ = dropped_ - bytes;
  if (!options_.report) return;
  const auto why = error == ENXIO    ? std::string("no reader on the FIFO")
                   : error == EPIPE  ? std::string("the FIFO's reader went away")
                   : error == EAGAIN ? fmt::format("the FIFO's reader is slow ({} KiB queued)",
                                                   4 * kFifoQueue / 1024)
                                     : std::string(std::strerror(error));
  options_.report(
      config::LogLevel::kWarn,
      fmt::format("cannot write log {}: {}; dropping output until it can be written", path_, why));
}

void LogFile::recovered() {
  if (!failing_) return;
  failing_ = false;
  if (options_.report) {
    options_.report(config::LogLevel::kInfo,
                    fmt::format("writing log {} again; {} bytes were dropped", path_,
                                dropped_ - dropped_at_episode_start_));
  }
}

}  // namespace podvisor::output
