// OutputSink on real pipes, sockets and files: writes never block the loop, what a slow
// reader cannot take yet is queued and sent when it can, sources pause above the high-water
// mark and resume once drained, and flush() at exit is bounded by its limit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "output/sink.h"

namespace podvisor::output {
namespace {

// Bytes that differ from place to place, so a lost or repeated chunk shows.
std::string pattern(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return out;
}

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kMuch = 4 * 1024 * 1024;  // well above the sink's 1 MiB high-water mark

class Sink : public testing::Test {
 protected:
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
  }
  // A pipe with the kernel's default (small) buffer: [read, write].
  std::pair<int, int> pipe() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    fds_.push_back(p[0]);
    fds_.push_back(p[1]);
    return {p[0], p[1]};
  }
  // Reads `fd` on the loop into received_, as a log reader that keeps up would.
  void read_on_loop(int fd) {
    reader_.emplace(io_, ::dup(fd));
    read_more();
  }
  void read_more() {
    reader_->async_read_some(boost::asio::buffer(buffer_),
                             [this](const boost::system::error_code& ec, size_t n) {
                               if (ec) return;
                               received_.append(buffer_.data(), n);
                               read_more();
                             });
  }
  bool run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::chrono::milliseconds(100));
    }
    return true;
  }
  // Writes `data` in chunks, as a relay would.
  static void write_chunks(OutputSink& sink, std::string_view data) {
    for (size_t at = 0; at < data.size(); at += kChunk) sink.write(data.substr(at, kChunk));
  }

  boost::asio::io_context io_;
  std::vector<int> fds_;
  std::optional<boost::asio::posix::stream_descriptor> reader_;
  std::array<char, 65536> buffer_{};
  std::string received_;
};

TEST_F(Sink, WritesGoStraightThroughWhileTheReaderKeepsUp) {
  const auto [r, w] = pipe();
  OutputSink sink(io_, w);
  sink.write("hello ");
  sink.write("world\n");
  char buf[32] = {};
  // Already in the pipe, without the loop running.
  ASSERT_EQ(::read(r, buf, sizeof buf - 1), 12);
  EXPECT_STREQ(buf, "hello world\n");
  EXPECT_FALSE(sink.congested());
  bool resumed = false;
  sink.when_drained([&] { resumed = true; });
  EXPECT_TRUE(resumed);  // not congested: at once
}

// The reader is slow: writes return at once, the rest waits in the queue, sources are asked
// to pause, and everything arrives in order once the reader reads.
TEST_F(Sink, SlowReaderQueuesPausesSourcesAndGetsEveryByte) {
  const auto [r, w] = pipe();
  OutputSink sink(io_, w);
  const auto data = pattern(kMuch);
  write_chunks(sink, data);  // would block forever on a blocking pipe nobody reads
  EXPECT_TRUE(sink.congested());
  int resumed = 0;
  sink.when_drained([&] { ++resumed; });
  EXPECT_EQ(resumed, 0);

  read_on_loop(r);
  ASSERT_TRUE(run_until([&] { return received_.size() >= data.size(); }))
      << received_.size() << " of " << data.size();
  EXPECT_TRUE(received_ == data) << "bytes lost, repeated or reordered";
  EXPECT_FALSE(sink.congested());
  EXPECT_EQ(resumed, 1);
}

TEST_F(Sink, SocketReaderGetsEveryByte) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fds_.push_back(sv[0]);
  fds_.push_back(sv[1]);
  OutputSink sink(io_, sv[0]);
  const auto data = pattern(kMuch);
  write_chunks(sink, data);
  read_on_loop(sv[1]);
  ASSERT_TRUE(run_until([&] { return received_.size() >= data.size(); }))
      << received_.size() << " of " << data.size();
  EXPECT_TRUE(received_ == data);
  EXPECT_FALSE(sink.congested());
}

TEST_F(Sink, RegularFileTakesEverything) {
  char path[] = "/tmp/podvisor-sink-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  fds_.push_back(fd);
  {
    OutputSink sink(io_, fd);
    write_chunks(sink, pattern(kMuch));
    EXPECT_FALSE(sink.congested());
  }
  std::ostringstream text;
  text << std::ifstream(path).rdbuf();
  ::unlink(path);
  EXPECT_TRUE(text.str() == pattern(kMuch));
}

// At exit: flush() writes what is queued while the reader reads.
TEST_F(Sink, FlushSendsTheQueueWithinTheLimit) {
  const auto [r, w] = pipe();
  const auto data = pattern(kMuch);
  std::string got;
  std::thread reader;
  {
    OutputSink sink(io_, w);
    write_chunks(sink, data);
    ASSERT_TRUE(sink.congested());
    reader = std::thread([&got, &data, fd = r] {
      char buf[65536];
      while (got.size() < data.size()) {
        const auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return;  // end of file: every writer is gone
        got.append(buf, static_cast<size_t>(n));
      }
    });
    sink.flush(std::chrono::seconds(20));
    EXPECT_FALSE(sink.congested());
  }
  // With the sink's own descriptor gone, closing ours ends the reader should bytes be missing.
  ::close(w);
  fds_.erase(std::find(fds_.begin(), fds_.end(), w));
  reader.join();
  EXPECT_TRUE(got == data) << got.size() << " of " << data.size();
}

// Nobody reads: flush gives up at its limit and drops the rest rather than hang podvisor's
// exit.
TEST_F(Sink, FlushGivesUpAtItsLimit) {
  const auto [r, w] = pipe();
  OutputSink sink(io_, w);
  write_chunks(sink, pattern(kMuch));
  ASSERT_TRUE(sink.congested());
  sink.flush(std::chrono::milliseconds(20));
  EXPECT_FALSE(sink.congested());
  (void)r;
}

// The reader went away: output is dropped, supervision is not disturbed.
TEST_F(Sink, GoneReaderIsDroppedQuietly) {
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);  // as podvisor runs
  const auto [r, w] = pipe();
  OutputSink sink(io_, w);
  ::close(r);
  fds_.erase(std::find(fds_.begin(), fds_.end(), r));
  sink.write("nobody hears this");
  sink.write("nor this");
  EXPECT_FALSE(sink.congested());
  bool resumed = false;
  sink.when_drained([&] { resumed = true; });
  EXPECT_TRUE(resumed);
  io_.poll();
  ::sigaction(SIGPIPE, &old, nullptr);
}

}  // namespace
}  // namespace podvisor::output
