// Relays a child's stdout or stderr pipe to podvisor's own stream byte for byte, keeping
// the recent bytes in ring buffers. Reads happen when the event loop says the pipe is
// readable; drain() takes whatever is already in the pipe, for a child that just died.
// Unchanged output (zero_copy) moves with splice(): only the last bytes, which the rings
// keep, are read.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "output/destination.h"
#include "output/ring.h"

namespace podvisor::output {

struct Pipe {
  int read = -1;
  int write = -1;
};
// A pipe with a large kernel buffer; both ends close-on-exec. Throws std::system_error.
Pipe make_pipe();

class PipeRelay {
 public:
  // Takes ownership of read_fd. A null destination keeps output only in the rings; an owned
  // one (a LineFormatter holding this pipe's partial line) lives as long as the relay.
  PipeRelay(boost::asio::io_context& io, int read_fd, Destination* destination,
            std::vector<RingBuffer*> rings, std::vector<char>& buffer,
            std::unique_ptr<Destination> owned = nullptr);
  void start();
  // Sees every chunk read, after it is relayed (readiness: log probes, early attempts).
  void observe(std::function<void(std::string_view)> observer) { observer_ = std::move(observer); }
  // The destination gets the bytes as they are (no prefix, no JSON) and the observer needs
  // only the last ones: what lies in the pipe before the rings' window is spliced, unread.
  void zero_copy(bool on) { zero_copy_ = on; }
  // supervisord's strip_ansi: every chunk read loses its ANSI sequences (output/ansi.h)
  // before the rings, the destination and the observer see it; output is then always read.
  void strip_ansi(bool on) { strip_ansi_ = on; }
  // The most any ring of a relay keeps (RingBuffer's capacity); bytes before it go unread.
  static constexpr size_t kRingWindow = 64 * 1024;
  // Reads until the pipe is empty; closes it at end of file.
  void drain();
  bool open() const { return stream_.is_open(); }
  ~PipeRelay() { *alive_ = false; }
  PipeRelay(const PipeRelay&) = delete;
  PipeRelay& operator=(const PipeRelay&) = delete;

 private:
  void wait();
  bool read_once();    // false when nothing more can be read now
  bool splice_once();  // the same, zero-copy up to the last kRingWindow bytes waiting

  boost::asio::posix::stream_descriptor stream_;
  std::unique_ptr<Destination> owned_;
  Destination* sink_;
  // The sink may call back after this relay is gone; the callback checks this first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::vector<RingBuffer*> rings_;
  std::function<void(std::string_view)> observer_;
  bool zero_copy_ = false;
  bool strip_ansi_ = false;
  std::string stripped_;
  std::vector<char>& buffer_;  // shared by every relay: one loop, one read at a time
};

}  // namespace podvisor::output
