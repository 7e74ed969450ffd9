// The request gate (issue 13, docs/gate.md): podvisor owns a program's public port from the
// start, holds connections while the program loads, and relays them unchanged once it is
// RUNNING (ready). The stand-in server (data/gate_server.py) listens only after a delay, as a
// model server does; each test asserts what the client receives, never how long it took.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <system_error>

#include "harness.h"

namespace e2e {
namespace {

bool has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// A program behind a gate: the stand-in listens on its private port after `delay` seconds
// and is RUNNING once a tcp probe reaches it.
struct GatedServer {
  explicit GatedServer(const TempDir& dir, std::string_view delay = "1.5")
      : public_port(loopback_port()), private_port(loopback_port()) {
    const auto conf = write_config(dir, fmt(R"([supervisord]
nodaemon=true
logfile=/dev/stderr

[program:model]
command=python3 @DATA@/gate_server.py --port {private} --delay {delay}
gate=127.0.0.1:{public}
gate_upstream=127.0.0.1:{private}
ready=tcp://127.0.0.1:{private}
ready_interval=0.05
startsecs=0
)",
                                            delay));
    child = std::make_unique<Child>(podvisor_config(conf));
  }
  std::string fmt(std::string text, std::string_view delay) const {
    for (const auto& [name, value] :
         {std::pair<std::string, std::string>{"{public}", std::to_string(public_port)},
          {"{private}", std::to_string(private_port)},
          {"{delay}", std::string(delay)}}) {
      for (auto at = text.find(name); at != std::string::npos; at = text.find(name)) {
        text.replace(at, name.size(), value);
      }
    }
    return text;
  }
  bool logged(std::string_view line) {
    return child->wait_for([&] { return has(child->out() + child->err(), line); });
  }

  uint16_t public_port;
  uint16_t private_port;
  std::unique_ptr<Child> child;
};

// A blocking loopback client whose every call gives up after kTimeout.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    const timeval limit{.tv_sec = kTimeout.count() / 1000, .tv_usec = 0};
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
      throw std::system_error(errno, std::generic_category(), "setsockopt");
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::system_error(errno, std::generic_category(), "connect");
    }
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  int fd() const { return fd_; }

  void send_all(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::system_error(errno, std::generic_category(), "send");
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void close_write() {
    if (::shutdown(fd_, SHUT_WR) != 0) {
      throw std::system_error(errno, std::generic_category(), "shutdown");
    }
  }
  // Everything until the peer's end of file; throws on a reset or the timeout.
  std::string read_to_end() {
    std::string out;
    char buffer[65536];
    for (;;) {
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0) throw std::system_error(errno, std::generic_category(), "recv");
      if (n == 0) return out;
      out.append(buffer, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
};

// A client that connects while the model is still loading (before the server listens) gets
// its answer once the server is ready: no refused connect, no error, no retry of its own.
TEST(Gate, ClientConnectedDuringColdStartGetsTheAnswerOnceReady) {
  TempDir dir;
  GatedServer server(dir);
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  Client client(server.public_port);
  client.send_all("GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const auto answer = client.read_to_end();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\nready after load\n")) << answer;
  // It was held, not let through to a server that was up already.
  EXPECT_TRUE(server.logged("released 1 held connection(s) to model")) << server.child->describe();
}

// A client that sends its body and half-closes while held still gets all of it back: the
// end of file reaches the server after the bytes, and the answer after that.
TEST(Gate, HalfClosedClientGetsTheWholeEcho) {
  TempDir dir;
  GatedServer server(dir);
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  Client client(server.public_port);
  const std::string body = "a body sent before the model is up, then end of file\n";
  client.send_all(body);
  client.close_write();
  EXPECT_EQ(client.read_to_end(), body);
}

// A few MiB each way at once, through a gate whose program is RUNNING (straight through),
// arrive byte-exact: reads and writes interleave, so neither direction's buffer hides a loss.
TEST(Gate, RelaysMegabytesBothWaysByteExact) {
  TempDir dir;
  GatedServer server(dir, "0");
  ASSERT_TRUE(server.logged("entered RUNNING state")) << server.child->describe();
  std::string data(4 << 20, '\0');
  std::mt19937 random(13);
  for (auto& c : data) c = static_cast<char>(random());
  Client client(server.public_port);
  std::string back;
  size_t sent = 0;
  bool eof = false;
  const auto deadline = Clock::now() + kTimeout;
  char buffer[65536];
  while (!eof && Clock::now() < deadline) {
    pollfd p{.fd = client.fd(), .events = POLLIN, .revents = 0};
    if (sent < data.size()) p.events |= POLLOUT;
    ASSERT_GE(::poll(&p, 1, 1000), 0) << std::strerror(errno);
    if (p.revents & POLLOUT) {
      const auto n = ::send(client.fd(), data.data() + sent,
                            std::min<size_t>(data.size() - sent, 65536), MSG_DONTWAIT);
      ASSERT_TRUE(n > 0 || errno == EAGAIN) << std::strerror(errno);
      if (n > 0) sent += static_cast<size_t>(n);
      if (sent == data.size()) client.close_write();
    }
    if (p.revents & (POLLIN | POLLHUP)) {
      const auto n = ::recv(client.fd(), buffer, sizeof buffer, MSG_DONTWAIT);
      ASSERT_TRUE(n >= 0 || errno == EAGAIN) << std::strerror(errno);
      if (n == 0) eof = true;
      if (n > 0) back.append(buffer, static_cast<size_t>(n));
    }
  }
  ASSERT_TRUE(eof) << "no end of file; " << back.size() << " of " << data.size() << " bytes";
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data) << "the bytes differ";
}

// check reads the gate keys: addresses as the probes take them, and the two together.
TEST(Gate, CheckValidatesTheGateKeys) {
  TempDir dir;
  const auto ok = write_config(dir, R"([program:model]
command=sleep 1000
gate=8000
gate_upstream=localhost:8001
)");
  const auto good = run(podvisor({"check", "-c", ok}));
  EXPECT_EQ(good.code, 0) << good.describe();
  for (const auto& [keys, why] : std::initializer_list<std::pair<std::string, std::string>>{
           {"gate=8000\n", "gate and gate_upstream go together"},
           {"gate=example.com:80\ngate_upstream=127.0.0.1:8001\n", "is not [HOST:]PORT"},
           {"gate=8000\ngate_upstream=127.0.0.1:0\n", "is not [HOST:]PORT"},
           {"gate=8000\ngate_upstream=0.0.0.0:8001\n", "names no host"}}) {
    const auto bad = write_config(dir, "[program:model]\ncommand=sleep 1000\n" + keys, "bad.conf");
    const auto r = run(podvisor({"check", "-c", bad}));
    EXPECT_EQ(r.code, 2) << keys << r.describe();
    EXPECT_TRUE(has(r.out + r.err, why)) << keys << r.describe();
  }
}

}  // namespace
}  // namespace e2e
