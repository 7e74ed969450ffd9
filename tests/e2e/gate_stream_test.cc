// Streams through the request gate (issue 13, docs/gate.md): what a client of a model server
// sends and receives must pass the gate unchanged — a cold start, an SSE stream, a WebSocket,
// a gibibyte each way (spliced), a crash mid-request (never replayed), a half-closed request.
// The stand-ins are data/gate_stream_server.py and data/gate_ws_server.py; every wait ends on
// an event or a deadline, and no test asserts how long anything took.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "harness.h"

namespace e2e {
namespace {

// The stand-ins' pattern (gate_stream_server.py): 64 KiB blocks, block k starts with k as 8
// little-endian bytes, byte i of a block is (i * 167 + (i >> 8) * 13) & 255.
constexpr size_t kBlock = 64 * 1024;
// Writes bytes [offset, offset + n) of the pattern to out, a block's run at a time.
void fill_pattern(uint64_t offset, char* out, size_t n) {
  static const std::string base = [] {
    std::string b(kBlock, '\0');
    for (size_t i = 0; i < kBlock; ++i) b[i] = static_cast<char>((i * 167 + (i >> 8) * 13) & 255);
    return b;
  }();
  while (n > 0) {
    const uint64_t at = offset % kBlock;
    const size_t run = std::min<uint64_t>(n, kBlock - at);
    std::memcpy(out, base.data() + at, run);
    for (uint64_t i = at; i < 8 && i < at + run; ++i) {
      out[i - at] = static_cast<char>(((offset / kBlock) >> (8 * i)) & 255);
    }
    out += run;
    offset += run;
    n -= run;
  }
}

// A gibibyte, or a quarter of one under the sanitizers (the stand-in is the same; podvisor
// runs several times slower there).
constexpr uint64_t kBig = kSanitized ? (256ull << 20) : (1ull << 30);

// A program behind a gate, RUNNING once a tcp probe reaches its private port.
struct Gated {
  Gated(const TempDir& dir, const std::string& command,
        std::map<std::string, std::optional<std::string>> env = {})
      : public_port(loopback_port()), private_port(loopback_port()), log(dir / "requests.log") {
    std::string conf = "[supervisord]\nnodaemon=true\nlogfile=/dev/stderr\n\n[program:model]\n";
    conf += "command=" + command + " --port " + std::to_string(private_port) + "\n";
    conf += "gate=127.0.0.1:" + std::to_string(public_port) + "\n";
    conf += "gate_upstream=127.0.0.1:" + std::to_string(private_port) + "\n";
    conf += "ready=tcp://127.0.0.1:" + std::to_string(private_port) + "\n";
    conf += "ready_interval=0.05\nstartsecs=0\nautorestart=true\n";
    child = std::make_unique<Child>(podvisor_config(write_config(dir, conf), std::move(env)));
  }
  // The HTTP stand-in, listening after `delay` seconds.
  static std::string http(const TempDir& dir, std::string_view delay) {
    return "python3 @DATA@/gate_stream_server.py --delay " + std::string(delay) + " --log " +
           dir / "requests.log";
  }
  bool logged(std::string_view line, size_t times = 1) {
    return child->wait_for([&] { return count(child->out() + child->err(), line) >= times; });
  }
  // The requests the stand-in received, one "METHOD TARGET" a line.
  std::string requests() const { return exists(log) ? read_file(log) : ""; }

  uint16_t public_port;
  uint16_t private_port;
  std::string log;
  std::unique_ptr<Child> child;
};

// A loopback connection with a deadline on every step. Errors come back as errno values so a
// test can tell a reset from an end of file.
class Conn {
 public:
  explicit Conn(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    error_ = connected_ ? 0 : errno;
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  bool connected() const { return connected_; }
  int error() const { return error_; }  // the first errno met, 0 if none

  // Waits for `events` until the deadline; false (error_ = ETIMEDOUT) when it passes.
  bool ready(short events, Clock::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return fail(ETIMEDOUT);
      pollfd p{.fd = fd_, .events = events, .revents = 0};
      const int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return fail(errno);
    }
  }
  // Sends `size` bytes that fill(offset, out, n) makes, in 64 KiB pieces; false on an error.
  template <typename Fill>
  bool send_generated(uint64_t size, Fill fill, Clock::time_point deadline) {
    std::string piece;
    for (uint64_t sent = 0; sent < size;) {
      piece.resize(std::min<uint64_t>(kBlock, size - sent));
      fill(sent, piece.data(), piece.size());
      for (size_t at = 0; at < piece.size();) {
        if (!ready(POLLOUT, deadline)) return false;
        const auto n = ::send(fd_, piece.data() + at, piece.size() - at, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return fail(errno);
        if (n > 0) at += static_cast<size_t>(n);
      }
      sent += piece.size();
    }
    return true;
  }
  bool send_text(std::string_view text, Clock::time_point deadline) {
    return send_generated(
        text.size(), [&](uint64_t at, char* out, size_t n) { text.copy(out, n, at); }, deadline);
  }
  void close_write() {
    if (::shutdown(fd_, SHUT_WR) != 0) fail(errno);
  }
  // Reads up to `limit` bytes into `sink`; returns how many, 0 at the end of file, -1 on an
  // error or the deadline.
  ssize_t read_some(std::string& sink, size_t limit, Clock::time_point deadline) {
    if (!ready(POLLIN, deadline)) return -1;
    const size_t old = sink.size();
    sink.resize(old + limit);
    const auto n = ::recv(fd_, sink.data() + old, limit, 0);
    sink.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n < 0) fail(errno);
    return n;
  }
  // Everything until the end of file (true) or an error (false: error() says which).
  bool read_to_end(std::string& sink, Clock::time_point deadline) {
    for (;;) {
      const auto n = read_some(sink, 65536, deadline);
      if (n <= 0) return n == 0;
    }
  }

 private:
  bool fail(int e) {
    if (error_ == 0) error_ = e;
    return false;
  }
  int fd_;
  bool connected_ = false;
  int error_ = 0;
};

Clock::time_point deadline(std::chrono::milliseconds limit = kTimeout) {
  return Clock::now() + limit;
}

// GET `target` on `port` with Connection: close, then perhaps an end of file (half-close);
// the whole answer, or "" with a failure.
std::string get(uint16_t port, std::string_view target, bool half_close = false) {
  Conn c(port);
  EXPECT_TRUE(c.connected()) << std::strerror(c.error());
  const auto until = deadline();
  std::string answer;
  bool ok = c.send_text(
      "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", until);
  if (ok && half_close) c.close_write();
  ok = ok && c.read_to_end(answer, until);
  EXPECT_TRUE(ok) << target << ": " << std::strerror(c.error()) << " after " << answer.size();
  return answer;
}

// Pipes podvisor holds (/proc/PID/fd links "pipe:[…]"): a spliced direction adds two.
size_t pipes_of(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    const auto target = std::filesystem::read_symlink(e.path(), link_ec);
    if (!link_ec && target.string().starts_with("pipe:")) ++n;
  }
  return n;
}

// (a) A client that connects while the server still loads (it listens only after 2 s) gets
// its 200 once the server is ready: the connect succeeds at once, and no error or retry of
// its own is needed. The server sees the request once.
TEST(GateStream, ColdStartClientGetsItsAnswerOnceReady) {
  TempDir dir;
  Gated g(dir, Gated::http(dir, "2"));
  ASSERT_TRUE(g.logged("gate of model listening on")) << g.child->describe();
  const auto answer = get(g.public_port, "/hello");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\nhello\n")) << answer;
  EXPECT_TRUE(g.logged("released 1 held connection(s) to model")) << g.child->describe();
  EXPECT_EQ(g.requests(), "GET /hello\n");
}

// (b) An SSE stream (an event every 50 ms), asked for while held, arrives through the gate
// byte for byte as the server sends it directly.
TEST(GateStream, SseStreamIsByteExactThroughTheGate) {
  TempDir dir;
  Gated g(dir, Gated::http(dir, "1"));
  ASSERT_TRUE(g.logged("gate of model listening on")) << g.child->describe();
  const auto through_gate = get(g.public_port, "/events?n=30");
  const auto direct = get(g.private_port, "/events?n=30");
  EXPECT_EQ(count(direct, "event: token\n"), 30u) << direct;
  EXPECT_TRUE(direct.ends_with("id: 29\nevent: token\ndata: {\"token\": 651}\n\n")) << direct;
  EXPECT_EQ(through_gate.size(), direct.size());
  EXPECT_TRUE(through_gate == direct) << through_gate;
}

// The interpreter that has python3-websockets: PATH's python3 may be another one (pyenv).
std::optional<std::string> websockets_python() {
  for (const std::string python : {"python3", "/usr/bin/python3"}) {
    Options o;
    o.argv = {python, "-c", "import websockets"};
    if (run(o).code == 0) return python;
  }
  return std::nullopt;
}

// (c) A WebSocket echo: the upgrade is sent while the server still loads (held), the 101 and
// the echoes come back once it is ready; a second one goes straight through.
TEST(GateStream, WebSocketEchoIncludingAnUpgradeSentWhileHeld) {
  const auto python = websockets_python();
  if (!python) GTEST_SKIP() << "python3-websockets is not installed (scripts/deps.sh --test)";
  TempDir dir;
  Gated g(dir, *python + " @DATA@/gate_ws_server.py --delay 1.5");
  ASSERT_TRUE(g.logged("gate of model listening on")) << g.child->describe();
  Options client;
  client.argv = {*python, data_path("gate_ws_client.py"), "--port", std::to_string(g.public_port)};
  const auto held = run(client);
  EXPECT_EQ(held.code, 0) << held.describe();
  EXPECT_EQ(held.out, "echo ok\n") << held.describe();
  EXPECT_TRUE(g.logged("released 1 held connection(s) to model")) << g.child->describe();
  const auto straight = run(client);
  EXPECT_EQ(straight.code, 0) << straight.describe();
  EXPECT_EQ(straight.out, "echo ok\n") << straight.describe();
}

// Reads a /bytes answer of `size` bytes and compares it with the pattern as it comes. Once
// Calls every_8_mib() once per 8 MiB received.
void expect_download(Conn& c, uint64_t size, const std::function<void()>& every_8_mib) {
  const auto until = deadline(kTimeout * 3);
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    ASSERT_GT(c.read_some(head, 1, until), 0) << std::strerror(c.error()) << head;
  }
  ASSERT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size)))
      << head;
  std::string chunk;
  std::string expected;
  uint64_t got = 0;
  uint64_t next_call = 0;
  for (;;) {
    if (got >= next_call) {
      every_8_mib();
      next_call += 8 << 20;
    }
    chunk.clear();
    const auto n = c.read_some(chunk, 1 << 20, until);
    ASSERT_GE(n, 0) << std::strerror(c.error()) << " after " << got << " bytes";
    if (n == 0) break;
    expected.resize(chunk.size());
    fill_pattern(got, expected.data(), expected.size());
    ASSERT_TRUE(chunk == expected) << "the bytes at " << got << " differ";
    got += chunk.size();
    ASSERT_LE(got, size);
  }
  EXPECT_EQ(got, size);
}

// (d) A gibibyte each way, byte-exact. Past 64 KiB in one burst a direction splices: podvisor
// then holds one more pipe pair (two descriptors) while the burst lasts.
TEST(GateStream, GibibyteDownloadIsByteExactAndSpliced) {
  TempDir dir;
  Gated g(dir, Gated::http(dir, "0"));
  ASSERT_TRUE(g.logged("entered RUNNING state")) << g.child->describe();
  const size_t pipes_before = pipes_of(g.child->pid());
  Conn c(g.public_port);
  ASSERT_TRUE(
      c.send_text("GET /bytes?n=" + std::to_string(kBig) + " HTTP/1.1\r\n\r\n", deadline()));
  // Sampled as it runs: a spliced direction's pipe pair lives while its burst lasts, and a
  // gibibyte is bursts of far more than 64 KiB.
  size_t most = 0;
  expect_download(c, kBig, [&] { most = std::max(most, pipes_of(g.child->pid())); });
  EXPECT_EQ(most, pipes_before + 2);
}

TEST(GateStream, CopiedDownloadIsByteExactWithSpliceOff) {
  TempDir dir;
  Gated g(dir, Gated::http(dir, "0"), {{"PODVISOR_GATE_SPLICE", "0"}});
  ASSERT_TRUE(g.logged("entered RUNNING state")) << g.child->describe();
  const size_t pipes_before = pipes_of(g.child->pid());
  constexpr uint64_t kSize = 64 << 20;
  Conn c(g.public_port);
  ASSERT_TRUE(
      c.send_text("GET /bytes?n=" + std::to_string(kSize) + " HTTP/1.1\r\n\r\n", deadline()));
  size_t most = 0;
  expect_download(c, kSize, [&] { most = std::max(most, pipes_of(g.child->pid())); });
  EXPECT_EQ(most, pipes_before);
}

TEST(GateStream, GibibyteUploadIsByteExact) {
  TempDir dir;
  Gated g(dir, Gated::http(dir, "0"));
  ASSERT_TRUE(g.logged("entered RUNNING state")) << g.child->describe();
  Conn c(g.public_port);
  const auto until = deadline(kTimeout * 3);
  ASSERT_TRUE(c.send_text(
      "POST /upload HTTP/1.1\r\nContent-Length: " + std::to_string(kBig) + "\r\n\r\n", until));
  ASSERT_TRUE(c.send_generated(kBig, fill_pattern, until)) << std::strerror(c.error());
  std::string answer;
  ASSERT_TRUE(c.read_to_end(answer, until)) << std::strerror(c.error());
  EXPECT_TRUE(answer.ends_with("\r\n\r\nok " + std::to_string(kBig) + "\n")) << answer;
}

// (e) The server dies while a POST's body is on its way: the client gets an error or an
// end of file with no answer, and the restarted server never sees the request again (a
// request is never replayed). The GET after the restart orders the check after any replay.
TEST(GateStream, PostWhoseUpstreamDiesIsNotReplayed) {
  TempDir dir;
  Gated g(dir, Gated::http(dir, "0"));
  ASSERT_TRUE(g.logged("entered RUNNING state")) << g.child->describe();
  {
    Conn c(g.public_port);
    const auto until = deadline();
    constexpr uint64_t kBody = 4 << 20;
    // The send may fail part way (the server is gone): that is the expected error.
    if (c.send_text("POST /die HTTP/1.1\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n",
                    until)) {
      c.send_generated(kBody, fill_pattern, until);
    }
    std::string answer;
    const bool eof = c.read_to_end(answer, until);
    EXPECT_TRUE(answer.empty()) << answer;
    EXPECT_TRUE(eof || c.error() == ECONNRESET || c.error() == EPIPE) << std::strerror(c.error());
    EXPECT_NE(c.error(), ETIMEDOUT);
  }
  ASSERT_TRUE(g.logged("entered RUNNING state", 2)) << g.child->describe();
  const auto after = get(g.public_port, "/hello");
  EXPECT_TRUE(after.ends_with("\r\n\r\nhello\n")) << after;
  EXPECT_EQ(g.requests(), "POST /die\nGET /hello\n");
}

// (f) A client that sends its request and half-closes (shutdown SHUT_WR) while held still
// gets the whole answer once the server is ready.
TEST(GateStream, HalfClosedRequestWhileHeldGetsTheWholeAnswer) {
  TempDir dir;
  Gated g(dir, Gated::http(dir, "1.5"));
  ASSERT_TRUE(g.logged("gate of model listening on")) << g.child->describe();
  const auto answer = get(g.public_port, "/hello", true);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\nhello\n")) << answer;
  EXPECT_TRUE(g.logged("released 1 held connection(s) to model")) << g.child->describe();
}

// examples/vllm.conf (gate on 8000, vLLM on 127.0.0.1:8001, ready on /health) is valid as
// shipped, and its keys mean what its comments say.
TEST(GateStream, VllmExampleChecks) {
  const auto r =
      run(podvisor({"check", "--print", "-c", data_path("../../../examples/vllm.conf")}));
  EXPECT_EQ(r.code, 0) << r.describe();
  for (const auto* line :
       {"gate = 0.0.0.0:8000\n", "gate_upstream = 127.0.0.1:8001\n",
        "ready = http://127.0.0.1:8001/health\n", "--host 127.0.0.1 --port 8001\n"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << r.describe();
  }
  EXPECT_NE(r.err.find("ok, 1 program(s), 0 warning(s)"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace e2e
