// A program's log file: rotated at maxbytes without losing a byte, and never a reason for the
// loop to stop. A full disk or a FIFO nobody reads drops output (counted, reported once per
// episode) instead of blocking or going quiet; writing resumes when the file can take bytes.
// A slow FIFO reader slows the program down (backpressure) instead.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/values.h"
#include "output/destination.h"

namespace podvisor::output {

struct LogFileOptions {
  // Needed for a FIFO: a full one is waited on by the loop, never in write().
  boost::asio::io_context* io = nullptr;
  // Where problems and their end are told, once per episode (a full disk, no reader).
  std::function<void(config::LogLevel, std::string_view)> report;
};

// A file rotated at maxbytes into path.1 … path.N (N = backups) without losing a byte:
// a write that would cross the limit fills the file to it, rotates, and goes on.
class LogFile final : public Destination {
 public:
  using Options = LogFileOptions;
  // Throws std::system_error when the file cannot be opened (a FIFO without a reader can).
  LogFile(std::string path, uint64_t maxbytes, int backups, Options options = {});
  ~LogFile() override;
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  void write(std::string_view data) override;
  long splice_from(int pipe_fd, size_t len) override;
  // A FIFO whose reader is slow: the source pauses, as for podvisor's own stdout.
  bool congested() const override { return fifo_queue_.size() >= kFifoQueue; }
  void when_drained(std::function<void()> resume) override;
  const std::string& path() const { return path_; }
  // Empties the file (supervisorctl clear); throws std::system_error.
  void clear();
  // Bytes that could not be written (no space, no reader, a full FIFO's queue).
  uint64_t dropped_bytes() const { return dropped_; }

  static constexpr size_t kFifoQueue = 1 << 20;

 private:
  void rotate();
  void open_file();
  bool seek_end();
  bool open_fifo();
  void write_file(std::string_view data);
  void write_fifo(std::string_view data);
  void flush_fifo();
  void fifo_gone(int error);
  void resume_sources();
  // Counts bytes not written; the first drop of an episode is reported with its cause.
  void drop(size_t bytes, int error);
  void recovered();

  std::string path_;
  uint64_t maxbytes_;
  int backups_;
  Options options_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t dropped_ = 0;
  uint64_t dropped_at_episode_start_ = 0;
  bool failing_ = false;
  bool splice_ok_ = true;
  bool seekable_ = false;
  // A FIFO: opened non-blocking, queued up to kFifoQueue while the reader is slow.
  bool fifo_ = false;
  std::optional<boost::asio::posix::stream_descriptor> fifo_stream_;
  std::string fifo_queue_;
  std::vector<std::function<void()>> paused_;
  bool fifo_waiting_ = false;
  std::chrono::steady_clock::time_point next_open_attempt_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace podvisor::output
