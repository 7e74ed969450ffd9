// Relays a child's stdout or stderr pipe to podvisor's own stream byte for byte, keeping
// the recent bytes in ring buffers. Reads happen when the event loop says the pipe is
// readable; drain() takes whatever is already in the pipe, for a child that just died.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <memory>
#include <vector>

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
  // Takes ownership of read_fd. sink_fd -1 keeps output only in the rings.
  PipeRelay(boost::asio::io_context& io, int read_fd, int sink_fd, std::vector<RingBuffer*> rings,
            std::vector<char>& buffer);
  void start();
  // Reads until the pipe is empty; closes it at end of file.
  void drain();
  bool open() const { return stream_.is_open(); }

 private:
  void wait();
  bool read_once();  // false when nothing more can be read now

  boost::asio::posix::stream_descriptor stream_;
  int sink_fd_;
  std::vector<RingBuffer*> rings_;
  std::vector<char>& buffer_;  // shared by every relay: one loop, one read at a time
};

}  // namespace podvisor::output
