// gate::SplicePipe over loopback TCP pairs: bytes move socket → pipe → socket unchanged, the
// sender's end of file and a broken output are told apart from "nothing to do now".
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "gate/splice.h"

namespace podvisor::gate {
namespace {

// A connected loopback TCP pair; the second end is non-blocking (the side splice uses).
struct Pair {
  Pair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
    near = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(near, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    far = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    EXPECT_GE(far, 0);
    ::close(listener);
  }
  ~Pair() {
    if (near >= 0) ::close(near);
    if (far >= 0) ::close(far);
  }
  int near = -1;  // blocking: the test's end
  int far = -1;   // non-blocking: the relay's end
};

// Everything readable on fd now (non-blocking reads).
std::string drain_now(int fd) {
  std::string got;
  char buffer[65536];
  for (;;) {
    const auto n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) return got;
    got.append(buffer, static_cast<size_t>(n));
  }
}

TEST(SplicePipe, MovesBytesUnchangedThenTheEndOfFile) {
  Pair in, out;  // in.near → in.far → pipe → out.far → out.near
  auto pipe = SplicePipe::open();
  ASSERT_TRUE(pipe);
  EXPECT_EQ(pipe->fill(in.far), SplicePipe::Step::kWouldBlock);  // nothing sent yet
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + (i >> 10));
  std::string got;
  size_t sent = 0;
  bool ended = false;
  for (int round = 0; round < 100000 && !ended; ++round) {
    if (sent < data.size()) {
      const auto n = ::send(in.near, data.data() + sent, data.size() - sent, MSG_DONTWAIT);
      if (n > 0) sent += static_cast<size_t>(n);
      if (sent == data.size()) {
        ASSERT_EQ(::shutdown(in.near, SHUT_WR), 0);
      }
    }
    const auto step = pipe->empty() ? pipe->fill(in.far) : pipe->drain(out.far);
    ASSERT_NE(step, SplicePipe::Step::kError) << pipe->error();
    ended = step == SplicePipe::Step::kEnd;
    if (step == SplicePipe::Step::kWouldBlock) {
      pollfd p{.fd = pipe->empty() ? in.far : out.far,
               .events = static_cast<short>(pipe->empty() ? POLLIN : POLLOUT),
               .revents = 0};
      ASSERT_GE(::poll(&p, 1, 10), 0);
    }
    got += drain_now(out.near);
  }
  ASSERT_TRUE(ended);
  EXPECT_TRUE(pipe->empty());
  got += drain_now(out.near);
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST(SplicePipe, AResetOutputIsAnError) {
  Pair in, out;
  auto pipe = SplicePipe::open();
  ASSERT_TRUE(pipe);
  ASSERT_EQ(::send(in.near, "request", 7, 0), 7);
  pollfd p{.fd = in.far, .events = POLLIN, .revents = 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  ASSERT_EQ(pipe->fill(in.far), SplicePipe::Step::kMoved);
  // The output's peer goes away with a reset (SO_LINGER 0): what is in the pipe cannot go.
  const linger hard{.l_onoff = 1, .l_linger = 0};
  ASSERT_EQ(::setsockopt(out.near, SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
  ::close(std::exchange(out.near, -1));
  pollfd q{.fd = out.far, .events = POLLIN, .revents = 0};
  ASSERT_EQ(::poll(&q, 1, 5000), 1);  // the reset has arrived
  EXPECT_EQ(pipe->drain(out.far), SplicePipe::Step::kError);
  EXPECT_NE(pipe->error(), 0);
}

}  // namespace
}  // namespace podvisor::gate
