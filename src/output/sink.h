// podvisor's own stdout or stderr as a destination that never blocks the event loop: what
// the reader cannot take now is queued, and sources pause while the queue is long, so a
// stalled log reader slows the programs down instead of freezing supervision.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "output/destination.h"

namespace podvisor::output {

class OutputSink final : public Destination {
 public:
  OutputSink(boost::asio::io_context& io, int fd);
  ~OutputSink() override;
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;

  void write(std::string_view data) override;
  long splice_from(int pipe_fd, size_t len) override;
  // Above the high-water mark, or a splice found no room: sources should stop reading until
  // `when_drained` fires.
  bool congested() const override { return full_ || queue_.size() - sent_ >= kHighWater; }
  void when_drained(std::function<void()> resume) override;
  // At exit: waits, up to `limit`, until everything queued has been written.
  void flush(std::chrono::milliseconds limit);

 private:
  static constexpr size_t kHighWater = 1 << 20;
  // Writes as much as the reader takes now; false on a broken destination.
  bool write_some(std::string_view& data);
  void wait_writable();
  void compact();

  int fd_;
  enum class Mode { kBlocking, kNonBlocking, kSocket } mode_ = Mode::kBlocking;
  std::optional<boost::asio::posix::stream_descriptor> stream_;  // kNonBlocking: own reopened fd
  std::string queue_;
  size_t sent_ = 0;  // bytes at the front of queue_ already written
  bool waiting_ = false;
  bool broken_ = false;
  bool full_ = false;      // a splice met a full reader; cleared when it takes bytes again
  bool splice_ok_ = true;  // false once the kernel refused splice() to this file
  std::vector<std::function<void()>> paused_;
};

}  // namespace podvisor::output
