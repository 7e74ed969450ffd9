// A pipe pair that moves a relayed direction's bytes socket → pipe → socket inside the kernel
// (splice(2)), so a long transfer through the gate is never copied into podvisor.
#pragma once

#include <cstddef>
#include <optional>

namespace podvisor::gate {

class SplicePipe {
 public:
  // A fresh non-blocking pipe; nullopt when none can be had (out of descriptors): the
  // direction then goes on copying.
  static std::optional<SplicePipe> open();
  ~SplicePipe();
  SplicePipe(SplicePipe&& other) noexcept;
  SplicePipe& operator=(SplicePipe&&) = delete;
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;

  enum class Step {
    kMoved,       // some bytes moved
    kWouldBlock,  // fill: the socket has nothing now; drain: the socket's send queue is full
    kEnd,         // fill: the socket's end of file
    kError,       // the connection is broken (errno kept in error())
  };
  // From the socket `from` into the pipe; only while empty(), so the pipe's room never makes
  // the socket look empty (splice answers EAGAIN for both) and a slow reader throttles the
  // sender through the kernel's window.
  Step fill(int from);
  // From the pipe to the socket `to`, as much as it takes now.
  Step drain(int to);
  bool empty() const { return queued_ == 0; }
  size_t queued() const { return queued_; }
  int error() const { return error_; }

 private:
  SplicePipe(int read_end, int write_end) : read_(read_end), write_(write_end) {}
  int read_ = -1;
  int write_ = -1;
  size_t queued_ = 0;
  int error_ = 0;
};

}  // namespace podvisor::gate
