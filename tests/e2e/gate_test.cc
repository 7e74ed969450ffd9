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
#include <thread>

#include "harness.h"

namespace e2e {
namespace {

bool has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// A program behind a gate: the stand-in listens on its private port after `delay` seconds
// and is RUNNING once a tcp probe reaches it. `keys` adds to (or, being later, overrides)
// the program's section, `args` to the stand-in's command line; podvisor's control server
// listens on `control_port` (for /metrics).
struct GateSetup {
  std::string delay = "1.5";
  std::string keys;         // added to [program:model]
  std::string args;         // added to the stand-in's command line
  std::string supervisord;  // added to [supervisord]
  bool gate_key = true;     // false: gate= left to a preset
  std::map<std::string, std::optional<std::string>> env;
};

GateSetup setup(std::string delay, std::string keys, std::string args, std::string supervisord,
                bool gate_key, std::map<std::string, std::optional<std::string>> env) {
  return {std::move(delay),       std::move(keys), std::move(args),
          std::move(supervisord), gate_key,        std::move(env)};
}

struct GatedServer {
  explicit GatedServer(const TempDir& dir, std::string_view delay = "1.5",
                       std::string_view keys = "", std::string_view args = "")
      : GatedServer(
            dir, setup(std::string(delay), std::string(keys), std::string(args), "", true, {})) {}
  GatedServer(const TempDir& dir, const GateSetup& given)
      : public_port(loopback_port()),
        private_port(loopback_port()),
        health_port(loopback_port()),
        control_port(loopback_port()) {
    const auto conf = write_config(
        dir, fmt("[supervisord]\nnodaemon=true\nlogfile=/dev/stderr\n" + given.supervisord +
                     R"(
[inet_http_server]
port=127.0.0.1:{control}

[program:model]
command=python3 @DATA@/gate_server.py --port {private} --delay {delay} {args}
gate_upstream=127.0.0.1:{private}
ready=tcp://127.0.0.1:{private}
ready_interval=0.05
startsecs=0
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
)" + (given.gate_key ? "gate=127.0.0.1:{public}\n" : "") +
                     given.keys,
                 given.delay, given.args));
    auto env = given.env;  // its values may name the ports too
    for (auto& [name, value] : env) {
      if (value) value = fmt(*value, given.delay);
    }
    child = std::make_unique<Child>(podvisor_config(conf, env));
  }
  std::string fmt(std::string text, std::string_view delay, std::string_view args = "") const {
    for (const auto& [name, value] :
         {std::pair<std::string, std::string>{"{public}", std::to_string(public_port)},
          {"{private}", std::to_string(private_port)},
          {"{health}", std::to_string(health_port)},
          {"{control}", std::to_string(control_port)},
          {"{delay}", std::string(delay)},
          {"{args}", std::string(args)}}) {
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
  uint16_t health_port;
  uint16_t control_port;
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

// What a fresh client gets for `request` on `port`: the bytes until end of file, or
// "(reset)" / "(error: ...)" when the connection broke.
std::string talk(uint16_t port, std::string_view request) {
  try {
    Client client(port);
    if (!request.empty()) client.send_all(request);
    return client.read_to_end();
  } catch (const std::system_error& e) {
    return e.code().value() == ECONNRESET ? "(reset)" : std::string("(error: ") + e.what() + ")";
  }
}

std::string get(uint16_t port, std::string_view path) {
  return talk(port,
              "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

// The status code of a response, 0 when there is none.
int status_of(std::string_view response) {
  if (!response.starts_with("HTTP/1.1 ") || response.size() < 12) return 0;
  return std::atoi(std::string(response.substr(9, 3)).c_str());
}

// Asks `path` until it answers `status`; false after kTimeout.
bool wait_status(uint16_t port, std::string_view path, int status) {
  const auto deadline = Clock::now() + kTimeout;
  while (Clock::now() < deadline) {
    if (status_of(get(port, path)) == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling, not synchronising
  }
  return false;
}

// The value of the /metrics line that starts with `series` (name and labels).
std::string metric(const GatedServer& server, std::string_view series) {
  const auto text = get(server.control_port, "/metrics");
  for (const auto& line : lines(text)) {
    if (line.starts_with(series) && line.size() > series.size() && line[series.size()] == ' ') {
      return line.substr(series.size() + 1);
    }
  }
  return "(missing)";
}

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

constexpr std::string_view kGet = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n";

// A restart while connections are held and one is relayed: the relayed one ends (its
// upstream died; the request is not sent again), the held ones are answered by the
// restarted server.
TEST(Gate, RestartEndsTheRelayedAndAnswersTheHeldFromTheNewServer) {
  TempDir dir;
  GatedServer server(dir, "1", "startretries=3\n");
  ASSERT_TRUE(server.logged("entered RUNNING state")) << server.child->describe();
  const auto first = spawned_pid(server.child->out() + server.child->err(), "model");
  ASSERT_TRUE(first);
  Client relayed(server.public_port);
  relayed.send_all("GET /slow?60 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(server.logged("request GET /slow?60")) << server.child->describe();
  ASSERT_EQ(::kill(*first, SIGKILL), 0);
  ASSERT_TRUE(server.logged("exited: model")) << server.child->describe();
  // Down now (STARTING again, listening after a second): these are held.
  Client a(server.public_port), b(server.public_port);
  a.send_all(kGet);
  b.send_all(kGet);
  std::string ended;
  try {
    ended = relayed.read_to_end();
  } catch (const std::system_error& e) {
    ended = "(reset)";
  }
  EXPECT_FALSE(has(ended, "HTTP/1.1 200")) << ended;
  for (auto* c : {&a, &b}) {
    const auto answer = c->read_to_end();
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
    EXPECT_FALSE(has(answer, "X-Pid: " + std::to_string(*first) + "\r\n")) << answer;
  }
  EXPECT_TRUE(server.logged("released 2 held connection(s) to model")) << server.child->describe();
  EXPECT_EQ(count(server.child->out(), "request GET /slow?60"), 1u) << server.child->describe();
}

// Past gate_hold_timeout an HTTP client gets a 503 it can read (Retry-After, Connection:
// close; no reset), anything else is closed; the metrics count what happened.
TEST(Gate, HoldTimeoutAnswers503ToHttpAndClosesTheRest) {
  TempDir dir;
  GatedServer server(dir, "60", "gate_hold_timeout=0.3\n");
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  const auto http = talk(server.public_port, kGet);
  EXPECT_TRUE(http.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << http;
  EXPECT_TRUE(has(http, "\r\nRetry-After: ")) << http;
  EXPECT_TRUE(has(http, "\r\nConnection: close\r\n")) << http;
  const auto tls = talk(server.public_port, "\x16\x03\x01\x02\x00 hello");
  EXPECT_TRUE(tls.empty() || tls == "(reset)") << tls;
  const auto silent = talk(server.public_port, "");
  EXPECT_TRUE(silent.empty() || silent == "(reset)") << silent;
  const std::string labels = "{group=\"model\",program=\"model\"";
  EXPECT_EQ(metric(server, "podvisor_gate_accepted_total" + labels + "}"), "3");
  EXPECT_EQ(metric(server, "podvisor_gate_refused_total" + labels + ",reason=\"hold_timeout\"}"),
            "3");
  EXPECT_EQ(metric(server, "podvisor_gate_held_connections" + labels + "}"), "0");
  EXPECT_EQ(metric(server, "podvisor_gate_held_seconds_count" + labels + "}"), "3");
  EXPECT_EQ(metric(server, "podvisor_gate_forwarded_total" + labels + "}"), "0");
}

// gate_max_held=2: the third HTTP client is answered 503 at once; the two held ones are
// answered by the program once it is ready; the metrics count both fates and the bytes.
TEST(Gate, MaxHeldRefusesTheThirdAtOnce) {
  TempDir dir;
  GatedServer server(dir, "60", "gate_max_held=2\n");
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  Client a(server.public_port), b(server.public_port);
  a.send_all(kGet);
  b.send_all(kGet);
  const auto third = talk(server.public_port, kGet);
  EXPECT_TRUE(third.starts_with("HTTP/1.1 503 ")) << third;
  const std::string labels = "{group=\"model\",program=\"model\"";
  EXPECT_EQ(metric(server, "podvisor_gate_refused_total" + labels + ",reason=\"max_held\"}"), "1");
  EXPECT_EQ(metric(server, "podvisor_gate_held_connections" + labels + "}"), "2");
  const auto api = get(server.control_port, "/api/v1/programs");
  EXPECT_TRUE(has(api, R"("gate":{)")) << api;
  EXPECT_TRUE(has(api, R"("held":2)")) << api;
  EXPECT_TRUE(has(api, R"("max_held":1)")) << api;
}

// A held client that leaves frees its place, even after sending bytes: an HTTP client's end
// of file (with gate_abort_on_close; GateStream.HalfClosedRequestWhileHeldGetsTheWholeAnswer
// is the default), or a reset. gate_max_held=1 shows it: the next client is held, not refused.
TEST(Gate, HeldClientThatLeavesFreesItsPlace) {
  TempDir dir;
  GatedServer server(dir, "60", "gate_max_held=1\ngate_abort_on_close=true\n");
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  const std::string labels = "{group=\"model\",program=\"model\"";
  const auto left = [&](const char* count) {
    return server.child->wait_for(
        [&] { return metric(server, "podvisor_gate_held_seconds_count" + labels + "}") == count; },
        kTimeout, std::chrono::milliseconds(20));
  };
  {
    Client http(server.public_port);
    http.send_all(kGet);
    http.close_write();  // and then closed by the destructor
  }
  EXPECT_TRUE(left("1")) << server.child->describe();
  {
    Client raw(server.public_port);
    raw.send_all("some bytes, then a reset");
    const linger reset{.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(::setsockopt(raw.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  }
  EXPECT_TRUE(left("2")) << server.child->describe();
  Client next(server.public_port);
  next.send_all(kGet);
  EXPECT_TRUE(server.child->wait_for(
      [&] { return metric(server, "podvisor_gate_held_connections" + labels + "}") == "1"; },
      kTimeout, std::chrono::milliseconds(20)));
  EXPECT_EQ(metric(server, "podvisor_gate_refused_total" + labels + ",reason=\"max_held\"}"), "0");
}

// FATAL: a held HTTP client gets 503, and so does a new one, at once.
TEST(Gate, FatalAnswers503) {
  TempDir dir;
  GatedServer server(dir, "1", "startretries=0\n", "--fail 3");
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  Client held(server.public_port);
  held.send_all(kGet);
  const auto answer = held.read_to_end();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 ")) << answer;
  ASSERT_TRUE(server.logged("entered FATAL state")) << server.child->describe();
  const auto fresh = talk(server.public_port, kGet);
  EXPECT_TRUE(fresh.starts_with("HTTP/1.1 503 ")) << fresh;
  const std::string labels = "{group=\"model\",program=\"model\"";
  EXPECT_EQ(metric(server, "podvisor_gate_refused_total" + labels + ",reason=\"fatal\"}"), "2");
}

// With hold_on_fatal podvisor holds the pod: a FATAL program's clients stay held (a retry may
// bring it back) instead of being refused.
TEST(Gate, HoldOnFatalKeepsHolding) {
  TempDir dir;
  GatedServer server(
      dir, setup("0.5", "startretries=0\n", "--fail 3", "hold_on_fatal=true\n", true, {}));
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  Client held(server.public_port);
  held.send_all(kGet);
  ASSERT_TRUE(server.logged("entered FATAL state")) << server.child->describe();
  const std::string labels = "{group=\"model\",program=\"model\"";
  EXPECT_EQ(metric(server, "podvisor_gate_held_connections" + labels + "}"), "1");
  EXPECT_EQ(metric(server, "podvisor_gate_refused_total" + labels + ",reason=\"fatal\"}"), "0");
  // A shutdown with no program running still answers it.
  server.child->signal(SIGTERM);
  const auto answer = held.read_to_end();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 ")) << answer;
  EXPECT_TRUE(server.child->wait_exit().has_value()) << server.child->describe();
}

// Waits for each path of `answers` to give its status, in order.
void expect_health(uint16_t port, std::initializer_list<std::pair<std::string, int>> answers,
                   std::string_view when) {
  for (const auto& [path, status] : answers) {
    EXPECT_TRUE(wait_status(port, path, status))
        << when << ": " << path << " never " << status << "; last: " << get(port, path);
  }
}

// The presets answer their health paths from the program's state, at once, never held.
// RunPod: the gate on $PORT, /ping on $PORT_HEALTH: 204 starting, 200 RUNNING, 503 exited.
TEST(Gate, RunpodPresetPingFollowsTheProgram) {
  TempDir dir;
  GatedServer server(
      dir, setup("1.5", "gate_health=runpod\nautorestart=false\n", "--exit-after 1.5", "", false,
                 {{"PORT", "{public}"}, {"PORT_HEALTH", "{health}"}}));
  ASSERT_TRUE(server.logged("(runpod health)")) << server.child->describe();
  expect_health(server.health_port, {{"/ping", 204}}, "starting");
  expect_health(server.health_port, {{"/ping", 200}}, "running");
  EXPECT_EQ(status_of(get(server.public_port, "/v1/models")), 200);
  expect_health(server.health_port, {{"/ping", 503}}, "exited");
  EXPECT_EQ(status_of(get(server.health_port, "/v1/models")), 404);
}

// SageMaker: the gate on $SAGEMAKER_BIND_TO_PORT; /ping 503 until RUNNING, then 200; a POST
// to /invocations made while loading is held and answered by the program.
TEST(Gate, SagemakerPresetPingAndHeldInvocations) {
  TempDir dir;
  GatedServer server(
      dir, setup("1.5", "gate_health=sagemaker\nautorestart=false\n", "--exit-after 1.5", "", false,
                 {{"SAGEMAKER_BIND_TO_PORT", "{public}"}}));
  ASSERT_TRUE(server.logged("(sagemaker health)")) << server.child->describe();
  EXPECT_EQ(status_of(get(server.public_port, "/ping")), 503);
  Client invocation(server.public_port);
  invocation.send_all("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  const auto answer = invocation.read_to_end();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  expect_health(server.public_port, {{"/ping", 200}}, "running");
  expect_health(server.public_port, {{"/ping", 503}}, "exited");
  EXPECT_TRUE(server.logged("request POST /invocations")) << server.child->describe();
  EXPECT_FALSE(has(server.child->out(), "request GET /ping")) << server.child->describe();
}

// Kubernetes: /livez 200 all along (a long load is not a dead container), /readyz only while
// RUNNING, /startupz once it has been RUNNING; here on gate_health_port.
TEST(Gate, KubernetesPresetProbes) {
  TempDir dir;
  GatedServer server(dir, "1.5",
                     "gate_health=kubernetes\ngate_health_port={health}\nautorestart=false\n",
                     "--exit-after 1.5");
  ASSERT_TRUE(server.logged("(kubernetes health)")) << server.child->describe();
  const auto port = server.health_port;
  expect_health(port, {{"/livez", 200}, {"/startupz", 503}, {"/readyz", 503}}, "starting");
  expect_health(port, {{"/readyz", 200}, {"/startupz", 200}, {"/livez", 200}}, "running");
  expect_health(port, {{"/readyz", 503}, {"/startupz", 200}, {"/livez", 200}}, "exited");
}

// On SIGTERM the gate stops accepting, and a request in flight finishes (the server finishes
// it on SIGTERM, as uvicorn does) before podvisor exits.
TEST(Gate, SigtermLetsTheRequestInFlightFinish) {
  TempDir dir;
  GatedServer server(dir, "0", "stopwaitsecs=20\n");
  ASSERT_TRUE(server.logged("entered RUNNING state")) << server.child->describe();
  Client slow(server.public_port);
  slow.send_all("GET /slow?1.5 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(server.logged("request GET /slow?1.5")) << server.child->describe();
  server.child->signal(SIGTERM);
  ASSERT_TRUE(server.logged("gate of model closed")) << server.child->describe();
  const auto refused = talk(server.public_port, kGet);
  EXPECT_TRUE(has(refused, "(error: connect")) << refused;
  const auto answer = slow.read_to_end();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(answer.ends_with("ready after load\n")) << answer;
  EXPECT_EQ(server.child->wait_exit(), 0) << server.child->describe();
}

// At shutdown a held HTTP client gets its 503 (the program will not be ready), and podvisor
// exits without waiting for it.
TEST(Gate, SigtermRefusesTheHeld) {
  TempDir dir;
  GatedServer server(dir, "60");
  ASSERT_TRUE(server.logged("gate of model listening on")) << server.child->describe();
  Client held(server.public_port);
  held.send_all(kGet);
  // Accepted and held before the signal (else the closed listener would reset it).
  ASSERT_TRUE(server.child->wait_for(
      [&] {
        return metric(server,
                      "podvisor_gate_held_connections{group=\"model\",program=\"model\"}") == "1";
      },
      kTimeout, std::chrono::milliseconds(20)));
  server.child->signal(SIGTERM);
  const auto answer = held.read_to_end();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 ")) << answer;
  EXPECT_TRUE(server.logged("gate of model closed: 1 held connection(s) refused"))
      << server.child->describe();
  EXPECT_TRUE(server.child->wait_exit().has_value()) << server.child->describe();
}

// check reads the gate keys: addresses as the probes take them, and the two together.
// A gate whose port is taken: podvisor says so and exits 2 before starting anything, as for
// a control server's port (it aborted with an uncaught exception before).
TEST(Gate, PortTakenExitsTwoAndStartsNothing) {
  TempDir dir;
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const auto conf = write_config(dir, "[program:model]\ncommand=touch " + (dir / "started") +
                                          "\ngate=127.0.0.1:" + std::to_string(ntohs(a.sin_port)) +
                                          "\ngate_upstream=127.0.0.1:9\n");
  const auto r = run(podvisor({"-c", conf}));
  ::close(taken);
  EXPECT_EQ(r.code, 2) << r.describe();
  EXPECT_TRUE(has(r.err, "cannot open the gate of model on 127.0.0.1:")) << r.describe();
  EXPECT_TRUE(has(r.err, "Address already in use")) << r.describe();
  EXPECT_NE(::access((dir / "started").c_str(), F_OK), 0);
}

TEST(Gate, CheckValidatesTheGateKeys) {
  TempDir dir;
  const auto ok = write_config(dir, R"([program:model]
command=sleep 1000
gate=8000
gate_upstream=localhost:8001
)");
  const auto good = run(podvisor({"check", "-c", ok}));
  EXPECT_EQ(good.code, 0) << good.describe();
  // A preset fills gate= from the environment.
  const auto preset = write_config(dir, R"([program:model]
command=sleep 1000
gate_upstream=127.0.0.1:8001
gate_health=runpod
gate_hold_timeout=0
gate_max_held=100
)",
                                   "preset.conf");
  const auto printed = run(
      podvisor({"check", "--print", "-c", preset}, {{"PORT", "5000"}, {"PORT_HEALTH", "5001"}}));
  EXPECT_EQ(printed.code, 0) << printed.describe();
  EXPECT_TRUE(has(printed.out, "0.0.0.0:5000")) << printed.describe();
  EXPECT_TRUE(has(printed.out, "5001")) << printed.describe();
  for (const auto& [keys, why] : std::initializer_list<std::pair<std::string, std::string>>{
           {"gate=8000\n", "gate and gate_upstream go together"},
           {"gate=example.com:80\ngate_upstream=127.0.0.1:8001\n", "is not [HOST:]PORT"},
           {"gate=8000\ngate_upstream=127.0.0.1:0\n", "is not [HOST:]PORT"},
           {"gate=8000\ngate_upstream=0.0.0.0:8001\n", "names no host"},
           {"gate=8000\ngate_upstream=127.0.0.1:8001\ngate_health=k8s\n", "is not a preset"},
           {"gate=8000\ngate_upstream=127.0.0.1:8001\ngate_health=kubernetes\n"
            "gate_health_port=70000\n",
            "gate_health_port: '70000' is not a port"},
           {"gate=8000\ngate_upstream=127.0.0.1:8001\ngate_hold_timeout=5m\n", "gate_hold_timeout"},
           {"gate=8000\ngate_upstream=127.0.0.1:8001\ngate_max_held=-1\n", "gate_max_held"},
           {"gate_upstream=127.0.0.1:8001\ngate_health=kubernetes\n", "go together"},
           {"gate_max_held=3\n", "need gate and gate_upstream"},
           {"gate=8000\ngate_upstream=127.0.0.1:8001\ngate_health_port=9000\n",
            "needs gate_health"}}) {
    const auto bad = write_config(dir, "[program:model]\ncommand=sleep 1000\n" + keys, "bad.conf");
    const auto r = run(podvisor({"check", "-c", bad}));
    EXPECT_EQ(r.code, 2) << keys << r.describe();
    EXPECT_TRUE(has(r.out + r.err, why)) << keys << r.describe();
  }
}

// gate_upstream=unix:/path (vllm --uds): held during the load, then relayed over the socket.
TEST(Gate, UnixSocketUpstream) {
  TempDir dir;
  const auto public_port = loopback_port();
  const auto conf = write_config(dir, R"([supervisord]
nodaemon=true
logfile=/dev/stderr

[program:model]
command=python3 @DATA@/gate_server.py --port 0 --delay 1 --uds @DIR@/model.sock
gate=127.0.0.1:)" + std::to_string(public_port) +
                                          R"(
gate_upstream=unix:@DIR@/model.sock
ready=exec:test -S @DIR@/model.sock
ready_interval=0.05
startsecs=0
)");
  Child child(podvisor_config(conf));
  ASSERT_TRUE(child.wait_for([&] { return has(child.err(), "gate of model listening on"); }))
      << child.describe();
  EXPECT_TRUE(talk(public_port, kGet).starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(child.wait_for([&] { return has(child.err(), "released 1 held connection(s)"); }))
      << child.describe();
}

// With a gate podvisor raises its soft descriptor limit to the hard one (a held connection
// takes a descriptor, a relayed one two).
TEST(Gate, RaisesTheDescriptorLimit) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
nodaemon=true
logfile=/dev/stderr

[program:model]
command=sleep 1000
gate=127.0.0.1:)" + std::to_string(loopback_port()) +
                                          R"(
gate_upstream=127.0.0.1:)" + std::to_string(loopback_port()) +
                                          "\n");
  Options o;
  o.argv = {"prlimit", "--nofile=512:4096", podvisor_binary(), "-n", "-c", conf};
  Child child(o);
  ASSERT_TRUE(child.wait_for([&] { return has(child.err(), "gate of model listening on"); }))
      << child.describe();
  const auto limits = read_file("/proc/" + std::to_string(child.pid()) + "/limits");
  std::string open_files;
  for (const auto& line : lines(limits)) {
    if (line.starts_with("Max open files")) open_files = line;
  }
  EXPECT_TRUE(has(open_files, " 4096                 4096 ")) << limits;
}

// The examples check, and their presets take the platforms' variables.
TEST(Gate, ExamplesCheck) {
  const auto example = [](std::string_view name) {
    return data_path("../../../examples/" + std::string(name));
  };
  struct Case {
    const char* file;
    std::map<std::string, std::optional<std::string>> env;
    std::vector<std::string> printed;
  };
  for (const auto& c : std::initializer_list<Case>{
           {"sagemaker-serve.conf", {}, {"gate = 0.0.0.0:8080", "gate_hold_timeout = 50"}},
           {"sagemaker-serve.conf", {{"SAGEMAKER_BIND_TO_PORT", "9000"}}, {"0.0.0.0:9000"}},
           {"runpod-loadbalancer.conf", {}, {"gate = 0.0.0.0:80", "gate_health_port = (the"}},
           {"runpod-loadbalancer.conf",
            {{"PORT", "5000"}, {"PORT_HEALTH", "5001"}},
            {"gate = 0.0.0.0:5000", "gate_health_port = 5001"}},
           {"kubernetes/podvisor.conf", {}, {"gate_health = kubernetes"}}}) {
    const auto r = run(podvisor({"check", "--print", "-c", example(c.file)}, c.env));
    EXPECT_EQ(r.code, 0) << c.file << r.describe();
    for (const auto& line : c.printed) EXPECT_TRUE(has(r.out, line)) << c.file << r.describe();
  }
}

// examples/kubernetes/deployment.yaml parses, its probes point at the paths and the port of
// podvisor.conf's kubernetes preset, and its grace period covers stopwaitsecs.
TEST(Gate, KubernetesDeploymentAgreesWithItsConf) {
  const auto dir = data_path("../../../examples/kubernetes");
  const auto python = [](std::vector<std::string> argv) {
    Options o;
    o.argv = std::move(argv);
    return run(o);
  };
  if (python({"python3", "-c", "import yaml"}).code != 0) {
    GTEST_SKIP() << "python3-yaml is not installed (scripts/deps.sh --test)";
  }
  const auto conf = run(podvisor({"check", "--print", "-c", dir + "/podvisor.conf"}));
  ASSERT_EQ(conf.code, 0) << conf.describe();
  std::string port, stopwait;
  for (const auto& line : lines(conf.out)) {
    if (line.starts_with("gate_health_port = ")) port = line.substr(19);
    if (line.starts_with("stopwaitsecs = ")) stopwait = line.substr(15);
  }
  ASSERT_FALSE(port.empty()) << conf.out;
  ASSERT_FALSE(stopwait.empty()) << conf.out;
  const auto r = python({"python3", "-c", R"(
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
spec = docs[0]["spec"]["template"]["spec"]
c = spec["containers"][0]
for probe, path in (("startupProbe", "/startupz"), ("readinessProbe", "/readyz"),
                    ("livenessProbe", "/livez")):
    get = c[probe]["httpGet"]
    assert get["path"] == path, (probe, get)
    assert str(get["port"]) == sys.argv[2], (probe, get, sys.argv[2])
grace = spec["terminationGracePeriodSeconds"]
assert grace > float(sys.argv[3]) + c["lifecycle"]["preStop"]["sleep"]["seconds"], grace
print("agrees")
)",
                         dir + "/deployment.yaml", port, stopwait});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(has(r.out, "agrees")) << r.describe();
}

}  // namespace
}  // namespace e2e
