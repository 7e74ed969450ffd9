// PipeRelay on a real loop and a real pipe: bytes reach the destination, the rings and the
// observer; drain() empties the pipe at once; end of file closes; backpressure pauses reading.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "output/relay.h"

namespace podvisor::output {
namespace {

// Records what it is given; congestion is switched by the test.
class Recorder final : public Destination {
 public:
  void write(std::string_view data) override { text += data; }
  void end() override { ++ends; }
  bool congested() const override { return congested_; }
  void when_drained(std::function<void()> resume) override {
    if (!congested_) return resume();
    paused.push_back(std::move(resume));
  }
  void set_congested(bool on) { congested_ = on; }

  std::string text;
  int ends = 0;
  std::vector<std::function<void()>> paused;

 private:
  bool congested_ = false;
};

class Relay : public testing::Test {
 protected:
  void SetUp() override {
    const auto p = make_pipe();
    read_ = p.read;
    write_ = p.write;
  }
  void TearDown() override { close_writer(); }

  void put(std::string_view data) {
    ASSERT_EQ(::write(write_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  void close_writer() {
    if (write_ >= 0) ::close(write_);
    write_ = -1;
  }
  // Runs what is ready now, without waiting.
  void run_ready() {
    io_.restart();
    io_.poll();
  }
  // Runs the loop until `done` holds, for at most 10 s; false when it never did.
  bool run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (io_.stopped()) io_.restart();  // out of work for a moment, e.g. while paused
      io_.run_one_for(std::chrono::milliseconds(100));
    }
    return true;
  }

  boost::asio::io_context io_;
  std::vector<char> buffer_ = std::vector<char>(4096);
  int read_ = -1;  // owned by the relay once given to it
  int write_ = -1;
};

TEST_F(Relay, BytesReachDestinationRingsAndObserver) {
  Recorder dest;
  RingBuffer ring_a, ring_b;
  PipeRelay relay(io_, read_, &dest, {&ring_a, &ring_b}, buffer_);
  std::string observed;
  relay.observe([&](std::string_view chunk) {
    // Observers see a chunk after the destination has it.
    EXPECT_EQ(dest.text.substr(dest.text.size() - chunk.size()), chunk);
    observed += chunk;
  });
  relay.start();
  put("hello\nwor");
  put("ld\n");
  ASSERT_TRUE(run_until([&] { return dest.text.size() == 12; })) << dest.text;
  EXPECT_EQ(dest.text, "hello\nworld\n");
  EXPECT_EQ(ring_a.contents(), "hello\nworld\n");
  EXPECT_EQ(ring_b.contents(), "hello\nworld\n");
  EXPECT_EQ(observed, "hello\nworld\n");
  EXPECT_TRUE(relay.open());
  EXPECT_EQ(dest.ends, 0);
}

TEST_F(Relay, EndOfFileClosesAndEndsTheDestination) {
  Recorder dest;
  PipeRelay relay(io_, read_, &dest, {}, buffer_);
  relay.start();
  put("last words");
  close_writer();
  ASSERT_TRUE(run_until([&] { return !relay.open(); }));
  EXPECT_EQ(dest.text, "last words");
  EXPECT_EQ(dest.ends, 1);
}

// A child that just died: drain() takes what is in the pipe without the loop running.
TEST_F(Relay, DrainReadsWhatIsThereWithoutTheLoop) {
  Recorder dest;
  RingBuffer ring;
  PipeRelay relay(io_, read_, &dest, {&ring}, buffer_);
  relay.start();
  // More than one buffer's worth, so drain has to read several times.
  const std::string big(3 * buffer_.size() + 17, 'x');
  put(big);
  relay.drain();
  EXPECT_EQ(dest.text, big);
  EXPECT_TRUE(relay.open());  // the writer is still there
  put("tail");
  close_writer();
  relay.drain();
  EXPECT_EQ(dest.text, big + "tail");
  EXPECT_FALSE(relay.open());
  EXPECT_EQ(dest.ends, 1);
  relay.drain();  // nothing left: harmless
  EXPECT_EQ(dest.ends, 1);
}

TEST_F(Relay, WithoutDestinationOutputStaysInTheRings) {
  RingBuffer ring(8);
  PipeRelay relay(io_, read_, nullptr, {&ring}, buffer_);
  relay.start();
  put("0123456789");
  close_writer();
  ASSERT_TRUE(run_until([&] { return !relay.open(); }));
  EXPECT_EQ(ring.contents(), "23456789");
  EXPECT_EQ(ring.total(), 10u);
}

// An owned destination (a LineFormatter) lives with the relay and sees end of file.
TEST_F(Relay, OwnedFormatterWritesWholeLinesAndFlushesThePartOneAtEnd) {
  Recorder out;
  auto formatter =
      std::make_unique<LineFormatter>(out, LineFormatter::Format::kPrefix, "web", "stdout");
  PipeRelay relay(io_, read_, nullptr, {}, buffer_, std::move(formatter));
  relay.start();
  put("one\ntw");
  ASSERT_TRUE(run_until([&] { return out.text == "[web] one\n"; })) << out.text;
  put("o\nthree");
  close_writer();
  ASSERT_TRUE(run_until([&] { return !relay.open(); }));
  EXPECT_EQ(out.text, "[web] one\n[web] two\n[web] three\n");
}

// While the destination is congested the relay stops reading: the bytes wait in the pipe
// (and the program blocks on it) until the destination drains.
TEST_F(Relay, CongestedDestinationPausesReadingUntilDrained) {
  Recorder dest;
  dest.set_congested(true);
  PipeRelay relay(io_, read_, &dest, {}, buffer_);
  relay.start();
  put("first");
  ASSERT_TRUE(run_until([&] { return !dest.paused.empty(); }));
  EXPECT_EQ(dest.text, "");  // it asked to be resumed instead of reading
  put("second");
  // Nothing reads while paused, though the pipe is readable now.
  run_ready();
  EXPECT_EQ(dest.text, "");
  dest.set_congested(false);
  auto resume = std::move(dest.paused);
  dest.paused.clear();
  for (auto& fn : resume) fn();
  ASSERT_TRUE(run_until([&] { return dest.text == "firstsecond"; })) << dest.text;
}

// The destination may call back after the relay is gone (a program removed while its
// output was paused); the callback must then do nothing.
TEST_F(Relay, ResumeAfterTheRelayIsGoneIsHarmless) {
  Recorder dest;
  dest.set_congested(true);
  {
    PipeRelay relay(io_, read_, &dest, {}, buffer_);
    relay.start();
    put("x");
    ASSERT_TRUE(run_until([&] { return !dest.paused.empty(); }));
  }
  for (auto& fn : dest.paused) fn();
  run_ready();
  EXPECT_EQ(dest.text, "");
}

TEST(MakePipe, BothEndsCloseOnExec) {
  const auto p = make_pipe();
  EXPECT_TRUE(::fcntl(p.read, F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(p.write, F_GETFD) & FD_CLOEXEC);
  ::close(p.read);
  ::close(p.write);
}

}  // namespace
}  // namespace podvisor::output

namespace podvisor::output {
namespace {

// Takes spliced bytes as a pipe or file would (here by reading them), and records both ways.
class SpliceRecorder final : public Destination {
 public:
  void write(std::string_view data) override { text += data; }
  long splice_from(int pipe_fd, size_t len) override {
    std::string chunk(len, '\0');
    const auto n = ::read(pipe_fd, chunk.data(), len);
    if (n <= 0) return -1;
    text.append(chunk, 0, static_cast<size_t>(n));
    spliced += static_cast<size_t>(n);
    return n;
  }
  std::string text;
  size_t spliced = 0;
};

// A zero-copy relay into dest and ring, with 128 KiB reads; observed gets what it sees.
class ZeroCopy : public Relay {
 protected:
  PipeRelay& relay_into(SpliceRecorder& dest, RingBuffer& ring, std::string& observed) {
    relay_.emplace(io_, read_, &dest, std::vector<RingBuffer*>{&ring}, big_buffer_);
    relay_->zero_copy(true);
    relay_->observe([&observed](std::string_view chunk) { observed += chunk; });
    return *relay_;
  }
  std::vector<char> big_buffer_ = std::vector<char>(128 * 1024);
  std::optional<PipeRelay> relay_;
};

TEST_F(ZeroCopy, MovesAllButTheWindowAndTheRingsStayExact) {
  SpliceRecorder dest;
  RingBuffer ring;
  std::string observed;
  auto& relay = relay_into(dest, ring, observed);
  std::string data;
  for (int i = 0; data.size() < 600 * 1024; ++i) data += "line " + std::to_string(i) + "\n";
  put(data);  // the pipe holds 1 MiB: all of it waits before the relay runs
  relay.start();
  ASSERT_TRUE(run_until([&] { return dest.text.size() == data.size(); })) << dest.text.size();
  EXPECT_TRUE(dest.text == data);
  EXPECT_GE(dest.spliced, data.size() - 2 * PipeRelay::kRingWindow);
  EXPECT_EQ(ring.total(), data.size());
  EXPECT_TRUE(ring.contents() == data.substr(data.size() - ring.size()));
  EXPECT_EQ(observed, data.substr(data.size() - observed.size()));
}

// strip_ansi needs every byte read: with it, nothing is spliced, and the destination, the
// rings and the observer all get the output without its escape sequences.
TEST_F(ZeroCopy, StripAnsiReadsEverythingAndStripsForAll) {
  SpliceRecorder dest;
  RingBuffer ring;
  std::string observed;
  auto& relay = relay_into(dest, ring, observed);
  relay.strip_ansi(true);
  std::string data, plain;
  // Lines of 32 bytes: every 128 KiB read ends at a line's end, so no sequence is cut (one
  // cut by a read would pass, as in supervisord).
  for (int i = 0; data.size() < 300 * 1024; ++i) {
    const auto number = fmt::format("{:017}\n", i);
    data += "\x1b[32mline\x1b[0m " + number;
    plain += "line " + number;
  }
  put(data);  // more than the rings' window waits before the relay runs
  relay.start();
  ASSERT_TRUE(run_until([&] { return dest.text.size() >= plain.size(); })) << dest.text.size();
  EXPECT_EQ(dest.spliced, 0u);
  EXPECT_TRUE(dest.text == plain);
  EXPECT_TRUE(ring.contents() == plain.substr(plain.size() - ring.size()));
  EXPECT_TRUE(observed == plain);
}

// The spliced bytes are never read: a ring that kept more than the window would show
// stand-in bytes. If RingBuffer grows, kRingWindow must grow with it.
TEST(ZeroCopyWindow, RingsKeepNoMoreThanTheWindow) {
  RingBuffer ring;
  ring.append(std::string(3 * PipeRelay::kRingWindow, 'x'));
  EXPECT_LE(ring.size(), PipeRelay::kRingWindow);
}

}  // namespace
}  // namespace podvisor::output
