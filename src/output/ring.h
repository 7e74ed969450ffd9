// A fixed-size byte ring keeping the most recent output of a stream, for crash reports and
// for tail when a program has no log file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace podvisor::output {

class RingBuffer {
 public:
  explicit RingBuffer(size_t capacity = 64 * 1024) : capacity_(capacity) {}
  void append(std::string_view data);
  std::string contents() const;
  // The last n lines, without their newlines; a final partial line counts as a line.
  std::vector<std::string> last_lines(size_t n) const;
  size_t size() const { return size_; }
  // Bytes appended since the ring was made or cleared: the offset just past contents().
  uint64_t total() const { return total_; }
  void clear() {
    data_.clear();
    head_ = size_ = 0;
    total_ = 0;
  }

 private:
  size_t capacity_;
  std::string data_;  // grows to capacity_ on first use, then wraps
  size_t head_ = 0;   // where the next byte goes once full
  size_t size_ = 0;
  uint64_t total_ = 0;
};

}  // namespace podvisor::output
