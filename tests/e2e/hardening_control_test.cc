// The control server and its clients under hostile clients and scarce resources (issue 14:
// points 2, 5, 6, 7 and 15): slow clients cannot starve the probes, a TCP port open to the
// network needs credentials or an explicit key, log reads and `podvisor ctl` answers are
// bounded in memory, running out of descriptors refuses clients instead of crashing, and an
// idle podvisor arms no timer.
//
// The slow clients and the endless server are in this file, on loopback. Every wait polls for
// a condition with a deadline; no figure here is a speed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <system_error>
#include <thread>

#include "harness.h"

namespace e2e {
namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

sockaddr_in loopback(int port, const char* address = "127.0.0.1") {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address, &a.sin_addr) != 1) throw std::runtime_error("inet_pton");
  return a;
}

// A socket bound to a free loopback port (listening when backlog > 0); sets port.
int bound_socket(int backlog, int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = loopback(0);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  (backlog == 0 || ::listen(fd, backlog) == 0) &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (!ok) throw std::system_error(errno, std::generic_category(), "a loopback socket");
  port = ntohs(a.sin_port);
  return fd;
}

// A loopback port nobody listens on right now.
int free_port() {
  int port = 0;
  ::close(bound_socket(0, port));
  return port;
}

// A client socket on loopback, connected (the kernel completes it from the backlog whether or
// not podvisor has accepted it), from `source` when given. -1 on failure.
int connect_tcp(int port, const char* source = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (source) {
    auto from = loopback(0, source);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd);
      return -1;
    }
  }
  auto to = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_text(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Everything the server sends until it closes the connection; nullopt if it has not closed
// by the deadline.
std::optional<std::string> read_to_close(int fd, std::chrono::milliseconds timeout = kTimeout) {
  const auto deadline = Clock::now() + timeout;
  std::string data;
  char buf[65536];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;  // end of input, or a reset: closed either way
    data.append(buf, static_cast<size_t>(n));
  }
}

// Whether the server has closed fd (end of input or reset), without waiting.
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// One request on a fresh connection, the whole answer (the server closes: Connection: close).
std::string ask(int port, std::string_view request, const char* source = nullptr,
                std::chrono::milliseconds timeout = kTimeout) {
  const int fd = connect_tcp(port, source);
  if (fd < 0) return "connect failed";
  std::string answer = "no answer";
  if (send_text(fd, request)) {
    if (auto got = read_to_close(fd, timeout)) answer = std::move(*got);
  }
  ::close(fd);
  return answer;
}

// An HTTP/1.1 request that asks the server to close after answering.
std::string fmt_request(std::string_view method, std::string_view path, std::string_view extra,
                        std::string_view body) {
  std::string r = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n";
  r += extra;
  r += "Connection: close\r\n";
  if (!body.empty() || method == "POST")
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

std::string get(std::string_view path) { return fmt_request("GET", path, "", ""); }

int status_of(std::string_view answer) {
  if (!answer.starts_with("HTTP/1.")) return 0;
  return std::atoi(std::string(answer.substr(9, 3)).c_str());
}

std::string rpc_call(std::string_view method, std::string_view params_xml) {
  const std::string body = "<?xml version=\"1.0\"?><methodCall><methodName>" + std::string(method) +
                           "</methodName><params>" + std::string(params_xml) +
                           "</params></methodCall>";
  return fmt_request("POST", "/RPC2", "Content-Type: text/xml\r\n", body);
}

std::string param_string(std::string_view s) {
  return "<param><value><string>" + std::string(s) + "</string></value></param>";
}
std::string param_int(long long v) {
  return "<param><value><int>" + std::to_string(v) + "</int></value></param>";
}

// The longest run of `c` in text.
size_t longest_run(std::string_view text, char c) {
  size_t best = 0, run = 0;
  for (const char x : text) {
    run = x == c ? run + 1 : 0;
    best = std::max(best, run);
  }
  return best;
}

// A field of /proc/PID/status in kB ("VmHWM"), or -1.
long status_kb(pid_t pid, std::string_view field) {
  for (const auto& line : lines(read_file("/proc/" + std::to_string(pid) + "/status"))) {
    if (line.starts_with(std::string(field) + ":"))
      return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

// podvisor -c FILE with a TCP control server on a free loopback port (config text with @PORT@).
class ControlHardeningTest : public ::testing::Test {
 protected:
  void launch(const std::string& text, std::string_view host = "127.0.0.1") {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      conf_ = write_config(dir_, replace_all(text, "@PORT@", std::to_string(port_)));
      pv_ = std::make_unique<Child>(podvisor_config(conf_));
      if (pv_->wait_stderr("control server listening on " + std::string(host) + ":" +
                           std::to_string(port_))) {
        return;
      }
      ASSERT_TRUE(pv_->exited()) << "podvisor never said it listens\n" << pv_->describe();
      ASSERT_TRUE(contains(pv_->err(), "in use")) << pv_->describe();
    }
    FAIL() << "no free port after 5 attempts";
  }

  void TearDown() override {
    if (pv_ && !pv_->exited()) {
      pv_->signal(SIGTERM);
      pv_->wait_exit();
    }
  }

  TempDir dir_;
  int port_ = 0;
  std::string conf_;
  std::unique_ptr<Child> pv_;
};

constexpr std::string_view kPlain = R"([inet_http_server]
port=127.0.0.1:@PORT@

[supervisord]
logfile=@DIR@/podvisor.log
childlogdir=@DIR@

[program:idle]
command=sleep 100000
startsecs=1
)";

// --- 5: slow clients ----------------------------------------------------------------------

TEST_F(ControlHardeningTest, SlowClientsCannotStarveTheProbes) {
  launch(std::string(kPlain));
  // More slow clients than every slot (64 general + 8 reserved), each dribbling its header.
  constexpr int kSlow = 100;
  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    const int fd = connect_tcp(port_);
    ASSERT_GE(fd, 0) << "connect " << i;
    send_text(fd, "GET /RPC2 HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    slow.push_back(fd);
  }
  // While they dribble, /health answers every time.
  for (int round = 0; round < 10; ++round) {
    for (const int fd : slow) send_text(fd, "a");
    const auto answer = ask(port_, get("/health"), nullptr, 5s);
    ASSERT_EQ(status_of(answer), 200) << "round " << round << ": " << answer << "\n"
                                      << pv_->describe();
  }
  // And every slow client is cut off, at the latest at the header deadline.
  std::vector<bool> closed(slow.size(), false);
  ASSERT_TRUE(pv_->wait_for(
      [&] {
        bool all = true;
        for (size_t i = 0; i < slow.size(); ++i) {
          if (!closed[i]) {
            closed[i] = closed_by_server(slow[i]);
            if (!closed[i]) send_text(slow[i], "a");
          }
          all = all && closed[i];
        }
        return all;
      },
      30s, 200ms))
      << std::count(closed.begin(), closed.end(), false) << " slow clients still open";
  for (const int fd : slow) ::close(fd);
  EXPECT_EQ(status_of(ask(port_, get("/health"))), 200);
  EXPECT_FALSE(pv_->exited()) << pv_->describe();
}

TEST_F(ControlHardeningTest, OnePeerCannotTakeEveryConnection) {
  launch(std::string(kPlain));
  // 127.0.0.1 holds more idle connections than one peer may; 127.0.0.2 is another peer.
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    const int fd = connect_tcp(port_);
    ASSERT_GE(fd, 0);
    send_text(fd, "GET /metrics HTTP/1.1\r\n");
    idle.push_back(fd);
  }
  EXPECT_EQ(status_of(ask(port_, get("/metrics"))), 503);  // over its share: probes only
  EXPECT_EQ(status_of(ask(port_, get("/health"))), 200);
  EXPECT_EQ(status_of(ask(port_, get("/metrics"), "127.0.0.2")), 200);
  for (const int fd : idle) ::close(fd);
}

// --- 6: a TCP port beyond loopback ---------------------------------------------------------

constexpr std::string_view kOpen = R"([supervisord]
logfile=@DIR@/podvisor.log
childlogdir=@DIR@

[inet_http_server]
port=*:@PORT@
)";

TEST_F(ControlHardeningTest, NetworkPortWithoutCredentialsIsRefused) {
  port_ = free_port();
  conf_ = write_config(dir_, replace_all(std::string(kOpen), "@PORT@", std::to_string(port_)));
  const auto start = run(podvisor_config(conf_));
  EXPECT_EQ(start.code, 2) << start.describe();
  EXPECT_TRUE(contains(start.err, conf_ + ":6:")) << start.describe();  // the port= line
  EXPECT_TRUE(contains(start.err, "allow_unauthenticated")) << start.describe();
  const auto check = run(podvisor({"check", "-c", conf_}));
  EXPECT_EQ(check.code, 2) << check.describe();
  // Loopback needs nothing.
  const auto local = replace_all(std::string(kOpen), "port=*:", "port=127.0.0.1:");
  conf_ = write_config(dir_, replace_all(local, "@PORT@", std::to_string(port_)));
  EXPECT_EQ(run(podvisor({"check", "-c", conf_})).code, 0);
}

TEST_F(ControlHardeningTest, AllowedUnauthenticatedPortIsCriticalAndCheckWarns) {
  const std::string text = std::string(kOpen) + "allow_unauthenticated=true\n";
  launch(text, "*");
  ASSERT_TRUE(pv_->wait_stderr("has no username and password")) << pv_->describe();
  EXPECT_TRUE(contains(pv_->err(), "CRIT")) << pv_->describe();
  EXPECT_EQ(status_of(ask(port_, rpc_call("supervisor.getState", ""))), 200);
  const auto check = run(podvisor({"check", "-c", conf_}));
  EXPECT_EQ(check.code, 0) << check.describe();
  EXPECT_TRUE(contains(check.err, "warning: [inet_http_server] allow_unauthenticated=true"))
      << check.describe();
}

TEST_F(ControlHardeningTest, ProbePathsStayOpenWhileTheRestNeedsCredentials) {
  launch(std::string(kOpen) + "username=admin\npassword=secret\n", "*");
  for (const char* path : {"/health", "/ready", "/ping", "/metrics"}) {
    EXPECT_EQ(status_of(ask(port_, get(path))), 200) << path;
  }
  EXPECT_EQ(status_of(ask(port_, rpc_call("supervisor.getState", ""))), 401);
  EXPECT_EQ(status_of(ask(port_, get("/api/v1/programs"))), 401);
  const std::string auth = "Authorization: Basic YWRtaW46c2VjcmV0\r\n";  // admin:secret
  EXPECT_EQ(status_of(ask(port_, fmt_request("POST", "/RPC2", auth,
                                             "<?xml version=\"1.0\"?><methodCall>"
                                             "<methodName>supervisor.getState</methodName>"
                                             "<params></params></methodCall>"))),
            200);
}

// --- 7: bounded memory ---------------------------------------------------------------------

TEST_F(ControlHardeningTest, HugeLogReadsAreCapped) {
  // A log far above the cap, there before podvisor starts (it appends to it).
  constexpr size_t kLog = 48 * 1024 * 1024;
  write_file(dir_ / "big.log", std::string(kLog, 'a'));
  launch(std::string(kPlain) + "stdout_logfile=@DIR@/big.log\nstdout_logfile_maxbytes=0\n");
  ASSERT_TRUE(pv_->wait_stderr("success: idle entered RUNNING state")) << pv_->describe();
  const long before_kb = status_kb(pv_->pid(), "VmHWM");
  const auto read =
      ask(port_, rpc_call("supervisor.readProcessStdoutLog",
                          param_string("idle") + param_int(0) + param_int(2147483647)));
  ASSERT_EQ(status_of(read), 200) << read.substr(0, 300);
  EXPECT_EQ(longest_run(read, 'a'), 1024u * 1024u);  // the first MiB of the range
  const auto tail =
      ask(port_, rpc_call("supervisor.tailProcessStdoutLog",
                          param_string("idle") + param_int(0) + param_int(2147483647)));
  ASSERT_EQ(status_of(tail), 200) << tail.substr(0, 300);
  EXPECT_EQ(longest_run(tail, 'a'), 1024u * 1024u);  // the last MiB
  EXPECT_TRUE(contains(tail, "<boolean>1</boolean>")) << "overflow flag";
  const long after_kb = status_kb(pv_->pid(), "VmHWM");
  ASSERT_GT(before_kb, 0);
  // A few copies of a MiB, far from the 48 MiB log.
  EXPECT_LT(after_kb - before_kb, 24 * 1024) << before_kb << " kB -> " << after_kb << " kB";
}

// A server that answers every connection with a chunked body that never ends, until the
// client goes away.
class EndlessServer {
 public:
  EndlessServer() : fd_(bound_socket(8, port_)), thread_([this] { serve(); }) {}
  ~EndlessServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      std::string chunk(65536, 'x');
      chunk = "10000\r\n" + chunk + "\r\n";
      bool ok = send_text(client,
                          "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n");
      // Until the client closes (EPIPE/ECONNRESET), or the test ends.
      while (ok && !stop_) ok = send_text(client, chunk);
      ::close(client);
    }
  }
  int port_ = 0;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(ControlHardeningTest, CtlGivesUpOnAnAnswerThatNeverEnds) {
  EndlessServer server;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  const auto out = dir_ / "ctl.out";
  const auto binary = podvisor_binary();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(127);
    ::execl(binary.c_str(), binary.c_str(), "ctl", "-s", url.c_str(), "status", nullptr);
    ::_exit(127);
  }
  // wait4 for the peak RSS; polled with a deadline, and killed if it passes.
  int status = 0;
  rusage usage{};
  const auto deadline = Clock::now() + kTimeout;
  pid_t done = 0;
  while ((done = ::wait4(pid, &status, WNOHANG, &usage)) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::wait4(pid, &status, 0, &usage);
    FAIL() << "podvisor ctl still reading after " << kTimeout.count() << " ms (rss "
           << usage.ru_maxrss << " kB)";
  }
  const auto text = read_file(out);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_NE(WEXITSTATUS(status), 0) << text;
  EXPECT_TRUE(contains(text, "larger than 64 MiB")) << text;
  // The 64 MiB cap and the string's growth; ASan's shadow memory and quarantine say nothing
  // of the cap.
  if (!kSanitized) {
    EXPECT_LT(usage.ru_maxrss, 200 * 1024) << "kB";
  }
}

// --- 15: idle wake-ups -----------------------------------------------------------------------

// Whether every timerfd of pid is disarmed (its fdinfo shows it_value: (0, 0)); `seen` counts
// them.
bool timerfds_disarmed(pid_t pid, size_t& seen, std::string& armed) {
  seen = 0;
  armed.clear();
  const auto proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd", ec)) {
    std::error_code link_ec;
    const auto target = std::filesystem::read_symlink(entry.path(), link_ec);
    if (link_ec || target.string() != "anon_inode:[timerfd]") continue;
    ++seen;
    const auto info = read_file(proc + "/fdinfo/" + entry.path().filename().string());
    for (const auto& line : lines(info)) {
      if (line.starts_with("it_value:") && line != "it_value: (0, 0)") armed += line + "\n";
    }
  }
  return !ec && armed.empty();
}

TEST_F(ControlHardeningTest, IdlePodvisorArmsNoTimer) {
  launch("[unix_http_server]\nfile=@DIR@/s.sock\n\n" + std::string(kPlain));
  ASSERT_TRUE(pv_->wait_stderr("success: idle entered RUNNING state")) << pv_->describe();
  // A request: its connection's timers come and go.
  ASSERT_EQ(status_of(ask(port_, get("/health"))), 200);
  size_t seen = 0;
  std::string armed;
  EXPECT_TRUE(
      pv_->wait_for([&] { return timerfds_disarmed(pv_->pid(), seen, armed); }, kTimeout, 50ms))
      << "armed timerfds:\n"
      << armed;
  EXPECT_GE(seen, 1u) << "Asio's reactor has a timerfd";
}

// --- 2: out of descriptors while accepting -------------------------------------------------

TEST_F(ControlHardeningTest, RunningOutOfDescriptorsRefusesClientsAndRecovers) {
  launch(std::string(kPlain));
  ASSERT_TRUE(pv_->wait_stderr("success: idle entered RUNNING state")) << pv_->describe();
  const pid_t pid = pv_->pid();
  rlimit old{};
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, nullptr, &old), 0);
  rlimit low = old;
  low.rlim_cur = open_fds(pid) + 4;
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, &low, nullptr), 0);
  // Restored however the test ends.
  struct Restore {
    pid_t pid;
    rlimit limit;
    ~Restore() { ::prlimit(pid, RLIMIT_NOFILE, &limit, nullptr); }
  } restore{pid, old};

  constexpr int kClients = 30;
  std::vector<int> clients;
  for (int i = 0; i < kClients; ++i) {
    const int fd = connect_tcp(port_);
    ASSERT_GE(fd, 0);
    send_text(fd, get("/health"));
    clients.push_back(fd);
  }
  // Each client is answered or refused (closed without a word); none is left hanging. None
  // closes before all are through, so the answered ones hold podvisor's descriptors (until
  // its linger after an answer ends) while the others arrive.
  int answered = 0, refused = 0;
  for (const int fd : clients) {
    const auto got = read_to_close(fd);
    ASSERT_TRUE(got) << "a client left hanging\n" << pv_->describe();
    (status_of(*got) == 200 ? answered : refused) += 1;
  }
  for (const int fd : clients) ::close(fd);
  EXPECT_GE(refused, 1) << "limit " << low.rlim_cur << "\n" << pv_->describe();
  EXPECT_GE(answered, 1);
  EXPECT_FALSE(pv_->exited()) << pv_->describe();
  ::prlimit(pid, RLIMIT_NOFILE, &old, nullptr);
  EXPECT_EQ(status_of(ask(port_, get("/health"))), 200);
  const auto listener = "accepting on 127.0.0.1:" + std::to_string(port_);
  EXPECT_TRUE(pv_->wait_stderr(listener + " again")) << pv_->describe();
  // Said once per spell of failures, not once per refused client or per retry.
  const auto failures = count(pv_->err(), "control: " + listener + ":");
  EXPECT_GE(failures, 1u) << pv_->describe();
  EXPECT_LE(failures, static_cast<size_t>(refused)) << pv_->describe();
}

}  // namespace
}  // namespace e2e
