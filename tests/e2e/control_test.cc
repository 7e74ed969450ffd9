// The control plane on the real binary (SPEC §6; issue 5): Debian's own supervisorctl drives
// podvisor over the unix socket and over [inet_http_server]; `podvisor ctl` answers as it does;
// /health, /ready, /ping, /metrics and /api/v1 tell orchestrators and scripts the truth; the
// server refuses other users, wrong credentials and garbage, and keeps serving.
//
// Every wait is for an event podvisor logs, a client's answer or a file a program writes;
// none is a fixed sleep, and no figure here is a speed. Each test has its own directory
// (socket, logs); a TCP port is picked free and, should another test take it first, podvisor
// is started again on another one.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <regex>
#include <system_error>

#include "harness.h"

namespace e2e {
namespace {

constexpr const char* kSupervisorctl = "/usr/bin/supervisorctl";

std::optional<std::string> which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const auto candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

bool have_supervisorctl() { return access(kSupervisorctl, X_OK) == 0; }

#define SKIP_WITHOUT_SUPERVISORCTL()                                                             \
  if (!have_supervisorctl()) {                                                                   \
    GTEST_SKIP() << kSupervisorctl                                                               \
                 << " is missing (Debian's supervisor package): nothing to drive podvisor with"; \
  }

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A loopback port held bound, not listening, for the test's lifetime (SO_REUSEPORT):
// connections are refused until control_server.py, which binds it too, listens. No other test
// is given it.
class ReservedPort {
 public:
  ReservedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::system_error(errno, std::generic_category(), "bind");
    }
    port_ = ntohs(a.sin_port);
  }
  ~ReservedPort() { ::close(fd_); }
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  std::string str() const { return std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// What says nothing about the server when two clients are compared: uptimes tick between the
// runs, and the program name in usage hints.
std::string normalize(std::string text) {
  text = std::regex_replace(text, std::regex(R"(uptime \d+:\d\d:\d\d)"), "uptime T");
  text = std::regex_replace(text, std::regex(R"(For help, use .+ -h)"), "For help, use PROG -h");
  return text;
}

// The pid `status` shows for a RUNNING program; nullopt when the line is not there.
std::optional<pid_t> status_pid(std::string_view status, std::string_view name) {
  const std::regex re("^" + std::string(name) + R"(\s+RUNNING\s+pid (\d+), uptime \d+:\d\d:\d\d$)");
  for (const auto& line : lines(status)) {
    std::smatch m;
    if (std::regex_match(line, m, re)) return static_cast<pid_t>(std::stol(m[1]));
  }
  return std::nullopt;
}

// The state word `status` shows for a program ("" when it is not listed).
std::string status_state(std::string_view status, std::string_view name) {
  const std::regex re("^" + std::string(name) + R"(\s+([A-Z]+)\b.*$)");
  for (const auto& line : lines(status)) {
    std::smatch m;
    if (std::regex_match(line, m, re)) return m[1];
  }
  return "";
}

// /proc/PID/cmdline with spaces for NULs.
std::string cmdline(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  for (auto& c : text) {
    if (c == '\0') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// One HTTP answer, through tests/e2e/data/control_http.py.
struct HttpAnswer {
  int status = 0;  // 0: no answer (connection error; see `error`)
  std::string body;
  std::string error;
};

struct Credentials {
  std::string user, password;
};

HttpAnswer http(const std::string& url, const std::string& method, const std::string& path,
                const std::optional<Credentials>& auth = std::nullopt,
                const std::optional<std::string>& data = std::nullopt) {
  Options o;
  o.argv = {"python3", data_path("control_http.py"), url, method, path};
  if (auth) o.argv.insert(o.argv.end(), {"--user", auth->user, "--password", auth->password});
  if (data) o.argv.insert(o.argv.end(), {"--data", *data});
  const auto r = run(o);
  HttpAnswer a;
  if (r.code != 0) {
    a.error = r.describe();
    return a;
  }
  const auto nl = r.out.find('\n');
  a.status = std::stoi(r.out.substr(0, nl));
  a.body = r.out.substr(nl + 1);
  return a;
}

// Sends `bytes` as they are and returns all the server answers until it closes; with
// `leave`, goes away right after sending instead.
std::string http_raw(const TempDir& dir, const std::string& url, std::string_view bytes,
                     bool leave = false) {
  const auto file = dir / "raw-request";
  write_file(file, bytes);
  Options o;
  o.argv = {"/bin/sh", "-c",
            "exec python3 " + shell_quote(data_path("control_http.py")) + " " + shell_quote(url) +
                " --raw" + (leave ? " --leave" : "") + " < " + shell_quote(file)};
  return run(o).out;
}

enum class Transport { kUnix, kInet };

void PrintTo(Transport t, std::ostream* os) {
  *os << (t == Transport::kUnix ? "unix socket" : "inet_http_server");
}

// podvisor -c FILE with a unix socket and a TCP server, and the clients that talk to it.
class ControlTest : public ::testing::Test {
 protected:
  // The file's head: both servers (the TCP one with credentials), a main log file, and the
  // [supervisorctl] section pointing at the unix socket. `programs` follows.
  std::string config_text(std::string_view programs, std::string_view unix_extra = "",
                          std::string_view inet_extra = "username=admin\npassword=secret\n") {
    std::string text = "[unix_http_server]\nfile=@DIR@/s.sock\n";
    text += unix_extra;
    text += "\n[inet_http_server]\nport=127.0.0.1:@PORT@\n";
    text += inet_extra;
    text += R"(
[supervisord]
logfile=@DIR@/podvisor.log
childlogdir=@DIR@
identifier=ctltest

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://@DIR@/s.sock

)";
    text += programs;
    return text;
  }

  // Writes the config with a free TCP port and starts podvisor; returns once both servers
  // listen. Another test may grab the port between the pick and podvisor's bind: then podvisor
  // exits 2 with EADDRINUSE and is started again on another port.
  void launch(std::string_view programs, std::string_view unix_extra = "",
              std::string_view inet_extra = "username=admin\npassword=secret\n") {
    template_ = config_text(programs, unix_extra, inet_extra);
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = loopback_port();
      write_conf(template_);
      pv_ = std::make_unique<Child>(podvisor_config(conf_));
      const auto listening = "control server listening on 127.0.0.1:" + std::to_string(port_);
      if (pv_->wait_stderr(listening)) {
        ASSERT_TRUE(pv_->wait_stderr("control server listening on " + (dir_ / "s.sock")))
            << pv_->describe();
        return;
      }
      ASSERT_TRUE(pv_->exited()) << "podvisor never said it listens\n" << pv_->describe();
      ASSERT_TRUE(contains(pv_->err(), "in use")) << pv_->describe();
    }
    FAIL() << "no free port after 5 attempts";
  }

  // The config file from `text` (@PORT@ = the TCP port; @DIR@, @DATA@ as write_config).
  void write_conf(const std::string& text) {
    conf_ = write_config(dir_, replace_all(text, "@PORT@", std::to_string(port_)));
  }

  void TearDown() override {
    if (pv_ && !pv_->exited()) {
      pv_->signal(SIGTERM);
      pv_->wait_exit();
    }
  }

  // Waits until podvisor logs that `name` is RUNNING, `times` times in all.
  void wait_running(std::string_view name, size_t times = 1) {
    const auto line = "success: " + std::string(name) + " entered RUNNING state";
    ASSERT_TRUE(pv_->wait_for([&] { return count(pv_->err(), line) >= times; }))
        << "waiting for " << name << " to be RUNNING\n"
        << pv_->describe();
  }

  // The pid of the nth spawn (from 1) of `name`, once podvisor has logged it.
  std::optional<pid_t> nth_spawn(std::string_view name, size_t n) {
    const auto mark = "spawned: '" + std::string(name) + "' with pid ";
    if (!pv_->wait_for([&] { return count(pv_->err(), mark) >= n; })) return std::nullopt;
    std::optional<pid_t> pid;
    size_t seen = 0;
    for (const auto& line : lines(pv_->err())) {
      const auto at = line.find(mark);
      if (at == std::string::npos || ++seen != n) continue;
      pid = static_cast<pid_t>(std::stol(line.substr(at + mark.size())));
    }
    return pid;
  }

  std::string unix_url() const { return "unix://" + (dir_ / "s.sock"); }
  std::string inet_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string url(Transport t) const { return t == Transport::kUnix ? unix_url() : inet_url(); }

  // The options that make a client talk over `t`: the config's unix socket, or the TCP
  // server with its credentials.
  std::vector<std::string> client_args(Transport t) const {
    std::vector<std::string> args{"-c", conf_};
    if (t == Transport::kInet) {
      args.insert(args.end(), {"-s", inet_url(), "-u", "admin", "-p", "secret"});
    }
    return args;
  }

  Options supervisorctl_options(Transport t, const std::vector<std::string>& args) const {
    Options o;
    o.exe = kSupervisorctl;
    o.argv = {kSupervisorctl};
    for (const auto& a : client_args(t)) o.argv.push_back(a);
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env["PYTHONUNBUFFERED"] = "1";
    return o;
  }

  // Debian's supervisorctl over `t`.
  Result ctl(Transport t, const std::vector<std::string>& args) {
    return run(supervisorctl_options(t, args));
  }
  // podvisor ctl over `t`, with the same arguments.
  Result podvisor_ctl(Transport t, const std::vector<std::string>& args) {
    std::vector<std::string> full{"ctl"};
    for (const auto& a : client_args(t)) full.push_back(a);
    full.insert(full.end(), args.begin(), args.end());
    return run(podvisor(full));
  }

  // Asks `status` until `pred(output)` holds (each answer is a new client run).
  Result status_until(Transport t, const std::function<bool(const std::string&)>& pred,
                      const std::vector<std::string>& names = {}) {
    std::vector<std::string> args{"status"};
    args.insert(args.end(), names.begin(), names.end());
    Result last;
    pv_->wait_for(
        [&] {
          last = ctl(t, args);
          return pred(last.out);
        },
        kTimeout, 1ms);
    return last;
  }

  TempDir dir_;
  int port_ = 0;
  std::string template_;
  std::string conf_;
  std::unique_ptr<Child> pv_;
};

// ------------------------------------------------------------------------------------------
// Debian's supervisorctl, once over the unix socket and once over [inet_http_server].

class ControlSupervisorctl : public ControlTest, public ::testing::WithParamInterface<Transport> {
 protected:
  void SetUp() override { SKIP_WITHOUT_SUPERVISORCTL(); }
  Transport t() const { return GetParam(); }
  Result ctl(const std::vector<std::string>& args) { return ControlTest::ctl(t(), args); }
};

constexpr std::string_view kWebAndIdle = R"(
[program:web]
command=sh -c 'echo web says hello; echo web complains >&2; exec sleep 1000'
startsecs=0

[program:idle]
command=sleep 1000
autostart=false
startsecs=0
)";

TEST_P(ControlSupervisorctl, StatusStartStopRestartPidVersionAvail) {
  launch(kWebAndIdle);
  wait_running("web");

  // A program STOPPED: exit status 3 (LSB "not running"), as supervisord's.
  auto s = ctl({"status"});
  EXPECT_EQ(s.code, 3) << s.describe();
  EXPECT_EQ(status_pid(s.out, "web"), nth_spawn("web", 1)) << s.out;
  EXPECT_TRUE(std::regex_search(s.out, std::regex(R"((^|\n)idle\s+STOPPED\s+Not started\n)")))
      << s.out;
  EXPECT_EQ(s.err, "");

  auto r = ctl({"start", "idle"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "idle: started\n");
  // Everything RUNNING: 0.
  s = ctl({"status"});
  EXPECT_EQ(s.code, 0) << s.describe();
  EXPECT_EQ(status_state(s.out, "idle"), "RUNNING") << s.out;
  EXPECT_EQ(status_state(s.out, "web"), "RUNNING") << s.out;
  r = ctl({"start", "idle"});
  EXPECT_EQ(r.out, "idle: ERROR (already started)\n") << r.describe();

  const auto web1 = status_pid(s.out, "web");
  ASSERT_TRUE(web1);
  r = ctl({"stop", "web"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "web: stopped\n");
  s = ctl({"status", "web"});
  EXPECT_EQ(s.code, 3) << s.describe();
  EXPECT_EQ(status_state(s.out, "web"), "STOPPED") << s.out;
  EXPECT_NE(process_state(*web1).value_or('Z'), 'S') << "the stopped process still runs";
  r = ctl({"stop", "web"});
  EXPECT_EQ(r.out, "web: ERROR (not running)\n") << r.describe();

  r = ctl({"start", "web"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "web: started\n");
  const auto web2 = status_pid(ctl({"status", "web"}).out, "web");
  ASSERT_TRUE(web2);
  EXPECT_NE(*web2, *web1);

  r = ctl({"restart", "web"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "web: stopped\nweb: started\n");
  s = ctl({"status", "web"});
  EXPECT_EQ(s.code, 0) << s.describe();
  const auto web3 = status_pid(s.out, "web");
  ASSERT_TRUE(web3) << s.out;
  EXPECT_NE(*web3, *web2);

  // pid: podvisor's own; pid NAME: the program's.
  r = ctl({"pid"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, std::to_string(pv_->pid()) + "\n");
  r = ctl({"pid", "web"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, std::to_string(*web3) + "\n");
  EXPECT_EQ(nth_spawn("web", 3), *web3);

  // version: podvisor's, as `podvisor --version` gives it.
  const auto v = run(podvisor({"--version"}));
  ASSERT_TRUE(v.out.starts_with("podvisor ")) << v.describe();
  r = ctl({"version"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, v.out.substr(9));

  r = ctl({"avail"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)idle\s+in use\s+manual\s+999:999\n)")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)web\s+in use\s+auto\s+999:999\n)")))
      << r.out;

  // An unknown name: supervisorctl's error, status 4 (LSB "unknown").
  r = ctl({"status", "nope"});
  EXPECT_EQ(r.code, 4) << r.describe();
  EXPECT_EQ(r.out, "nope: ERROR (no such process)\n");
}

TEST_P(ControlSupervisorctl, SignalReachesTheProgram) {
  launch(R"(
[program:sig]
command=python3 @DATA@/control_signals.py @DIR@/signals
stdout_logfile=@DIR@/sig.log
startsecs=0
)");
  wait_running("sig");
  // The program has installed its handlers once it says so in its log.
  ASSERT_TRUE(pv_->wait_file(dir_ / "sig.log", "started ")) << pv_->describe();
  auto r = ctl({"signal", "HUP", "sig"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "sig: signalled\n");
  ASSERT_TRUE(pv_->wait_file(dir_ / "signals", "HUP\n")) << read_file(dir_ / "signals");
  r = ctl({"signal", "USR1", "sig"});
  EXPECT_EQ(r.out, "sig: signalled\n") << r.describe();
  ASSERT_TRUE(pv_->wait_file(dir_ / "signals", "HUP\nUSR1\n")) << read_file(dir_ / "signals");
  // The program is still the same process, RUNNING.
  const auto s = ctl({"status", "sig"});
  EXPECT_EQ(status_pid(s.out, "sig"), nth_spawn("sig", 1)) << s.out;
  EXPECT_EQ(count(pv_->err(), "spawned: 'sig'"), 1u) << pv_->describe();
}

TEST_P(ControlSupervisorctl, TailMaintailAndClear) {
  launch(std::string(kWebAndIdle) + R"(
[program:ring]
command=sh -c 'echo ring says hello; exec sleep 1000'
stdout_logfile=/dev/stdout
startsecs=0
)");
  wait_running("web");
  wait_running("ring");
  ASSERT_TRUE(pv_->wait_stdout("ring says hello")) << pv_->describe();
  // The log file may not hold the line yet when the program is RUNNING.
  const auto web_log = [&] { return ctl({"tail", "web"}); };
  ASSERT_TRUE(
      pv_->wait_for([&] { return contains(web_log().out, "web says hello"); }, kTimeout, 1ms));
  auto r = web_log();
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "web says hello\n\n");  // supervisorctl adds a newline of its own
  r = ctl({"tail", "web", "stderr"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "web complains\n\n");
  r = ctl({"tail", "-6", "web"});
  EXPECT_EQ(r.out, "hello\n\n") << r.describe();
  // Output that goes to podvisor's stdout (no log file): read from the ring buffer.
  r = ctl({"tail", "ring"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "ring says hello\n\n");

  // maintail: podvisor's own log.
  r = ctl({"maintail"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "spawned: 'web' with pid")) << r.out;
  r = ctl({"maintail", "-200"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_LE(r.out.size(), 201u) << r.out;

  // clear: both logs of the program are empty afterwards.
  r = ctl({"clear", "web"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "web: cleared\n");
  r = web_log();
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "\n");
  r = ctl({"tail", "web", "stderr"});
  EXPECT_EQ(r.out, "\n") << r.describe();
  r = ctl({"clear", "nope"});
  EXPECT_EQ(r.out, "nope: ERROR (no such process)\n") << r.describe();
}

TEST_P(ControlSupervisorctl, TailFollowReadsLinesWrittenAfterItStarted) {
  launch(R"(
[program:sig]
command=python3 @DATA@/control_signals.py @DIR@/signals
startsecs=0

[program:sigring]
command=python3 @DATA@/control_signals.py @DIR@/signals-ring
stdout_logfile=/dev/stdout
startsecs=0
)");
  wait_running("sig");
  wait_running("sigring");
  // From the log file, and from the ring buffer for a program without one.
  for (const char* name : {"sig", "sigring"}) {
    SCOPED_TRACE(name);
    Child tail(supervisorctl_options(t(), {"tail", "-f", name}));
    ASSERT_TRUE(tail.wait_stdout("==> Press Ctrl-C to exit <==\n")) << tail.describe();
    ASSERT_TRUE(tail.wait_stdout("started ")) << tail.describe();
    EXPECT_FALSE(contains(tail.out(), "got USR2"));
    const auto r = ctl({"signal", "USR2", name});
    ASSERT_EQ(r.out, std::string(name) + ": signalled\n") << r.describe();
    ASSERT_TRUE(tail.wait_stdout("got USR2 1\n")) << tail.describe();
    // And again: the stream keeps following.
    ctl({"signal", "HUP", name});
    ASSERT_TRUE(tail.wait_stdout("got HUP 2\n")) << tail.describe();
    tail.signal(SIGINT);
    EXPECT_TRUE(tail.wait_exit().has_value()) << tail.describe();
    EXPECT_FALSE(contains(tail.err(), "Traceback")) << tail.describe();
  }
  // SIGTERM ends it too.
  Child tail(supervisorctl_options(t(), {"maintail", "-f"}));
  ASSERT_TRUE(tail.wait_stdout("==> Press Ctrl-C to exit <==\n")) << tail.describe();
  ctl({"stop", "sig"});
  ASSERT_TRUE(tail.wait_stdout("stopped: sig")) << tail.describe();
  tail.signal(SIGTERM);
  EXPECT_TRUE(tail.wait_exit().has_value()) << tail.describe();
}

TEST_P(ControlSupervisorctl, RereadAndUpdateApplyTheEditedFile) {
  // The removed program is the last section and the changed one keeps its line count, so
  // that no other section moves in the file (see RereadIgnoresASectionThatOnlyMoved).
  const std::string before = R"(
[program:keep]
command=sleep 1000
startsecs=0

[program:changed]
command=sleep 1001
startsecs=0

[program:gone]
command=sleep 1003
startsecs=0
)";
  launch(before);
  for (const char* name : {"keep", "changed", "gone"}) wait_running(name);
  auto s = ctl({"status"});
  const auto keep = status_pid(s.out, "keep"), changed = status_pid(s.out, "changed"),
             gone = status_pid(s.out, "gone");
  ASSERT_TRUE(keep && changed && gone) << s.describe();

  auto r = ctl({"reread"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "No config updates to processes\n");

  std::string after = replace_all(before, "sleep 1001", "sleep 1002");
  after = after.substr(0, after.find("[program:gone]"));
  after += "[program:added]\ncommand=sleep 1004\nstartsecs=0\n";
  write_conf(config_text(after));

  r = ctl({"reread"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "added: available\nchanged: changed\ngone: disappeared\n");
  // reread changes nothing that runs.
  s = ctl({"status"});
  EXPECT_EQ(status_pid(s.out, "gone"), gone) << s.out;
  EXPECT_EQ(status_pid(s.out, "changed"), changed) << s.out;
  EXPECT_EQ(status_state(s.out, "added"), "") << s.out;

  r = ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.describe();
  for (const char* line : {"gone: stopped\n", "gone: removed process group\n", "changed: stopped\n",
                           "changed: updated process group\n", "added: added process group\n"}) {
    EXPECT_TRUE(contains(r.out, line)) << line << "\n" << r.describe();
  }
  wait_running("added");
  wait_running("changed", 2);
  s = ctl({"status"});
  EXPECT_EQ(s.code, 0) << s.describe();
  EXPECT_EQ(status_state(s.out, "gone"), "") << s.out;
  EXPECT_EQ(status_pid(s.out, "keep"), keep) << "an unchanged program was restarted\n" << s.out;
  const auto added = status_pid(s.out, "added"), changed2 = status_pid(s.out, "changed");
  ASSERT_TRUE(added && changed2) << s.out;
  EXPECT_NE(*changed2, *changed);
  EXPECT_EQ(cmdline(*changed2), "sleep 1002");
  EXPECT_EQ(cmdline(*added), "sleep 1004");
  EXPECT_NE(process_state(*gone).value_or('Z'), 'S') << "the removed program still runs";
  r = ctl({"avail"});
  EXPECT_FALSE(contains(r.out, "gone")) << r.out;
  r = ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "");
}

TEST_P(ControlSupervisorctl, GroupSyntax) {
  launch(R"(
[group:grp]
programs=a,b

[program:a]
command=python3 @DATA@/control_signals.py @DIR@/signals-a
stdout_logfile=@DIR@/a.log
startsecs=0

[program:b]
command=python3 @DATA@/control_signals.py @DIR@/signals-b
stdout_logfile=@DIR@/b.log
startsecs=0

[program:solo]
command=sleep 1000
startsecs=0
)");
  for (const char* name : {"a", "b", "solo"}) wait_running(name);
  auto s = ctl({"status", "grp:*"});
  EXPECT_EQ(s.code, 0) << s.describe();
  EXPECT_TRUE(status_pid(s.out, "grp:a") && status_pid(s.out, "grp:b")) << s.out;
  EXPECT_FALSE(contains(s.out, "solo")) << s.out;
  s = ctl({"status", "grp:b"});
  EXPECT_TRUE(status_pid(s.out, "grp:b")) << s.out;
  EXPECT_FALSE(contains(s.out, "grp:a")) << s.out;

  // The handlers are in place once the programs said so.
  ASSERT_TRUE(pv_->wait_file(dir_ / "a.log", "started ")) << pv_->describe();
  ASSERT_TRUE(pv_->wait_file(dir_ / "b.log", "started ")) << pv_->describe();
  auto r = ctl({"signal", "USR1", "grp:*"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "grp:a: signalled\ngrp:b: signalled\n");
  EXPECT_TRUE(pv_->wait_file(dir_ / "signals-a", "USR1\n"));
  EXPECT_TRUE(pv_->wait_file(dir_ / "signals-b", "USR1\n"));

  // (The order of the lines: GroupAnswersComeAsSupervisordGivesThem.)
  const auto sorted = [](const std::string& text) {
    auto v = lines(text);
    std::sort(v.begin(), v.end());
    return v;
  };
  r = ctl({"stop", "grp:*"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(sorted(r.out), sorted("grp:a: stopped\ngrp:b: stopped\n")) << r.out;
  s = ctl({"status"});
  EXPECT_EQ(s.code, 3) << s.describe();
  EXPECT_EQ(status_state(s.out, "grp:a"), "STOPPED") << s.out;
  EXPECT_EQ(status_state(s.out, "grp:b"), "STOPPED") << s.out;
  EXPECT_EQ(status_state(s.out, "solo"), "RUNNING") << s.out;

  r = ctl({"start", "grp:*"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "grp:a: started\ngrp:b: started\n");
  r = ctl({"restart", "grp:*"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(sorted(r.out),
            sorted("grp:a: stopped\ngrp:b: stopped\ngrp:a: started\ngrp:b: started\n"))
      << r.out;
  EXPECT_TRUE(r.out.ends_with("started\n")) << "restart starts after stopping\n" << r.out;
  s = ctl({"status"});
  EXPECT_EQ(s.code, 0) << s.describe();
  r = ctl({"start", "nope:*"});
  EXPECT_EQ(r.code, 2) << r.describe();
  EXPECT_EQ(r.out, "nope: ERROR (no such group)\n") << r.describe();
}

// As supervisord (4.2.5, checked side by side): a group's stop answers each process as it
// ends, so the one that takes longer comes last; starts answer in the group's order. Here
// a ignores SIGTERM and is killed after stopwaitsecs, b ends at once.
TEST_P(ControlSupervisorctl, GroupAnswersComeAsSupervisordGivesThem) {
  launch(R"(
[group:grp]
programs=a,b

[program:a]
command=python3 @DATA@/signals.py TERM=print:leaving
stdout_logfile=@DIR@/a.log
stopwaitsecs=1
startsecs=0

[program:b]
command=sleep 1000
startsecs=0
)");
  wait_running("a");
  wait_running("b");
  ASSERT_TRUE(pv_->wait_file(dir_ / "a.log", "ready ")) << pv_->describe();
  auto r = ctl({"stop", "grp:*"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "grp:b: stopped\ngrp:a: stopped\n");
  r = ctl({"start", "grp:*"});
  EXPECT_EQ(r.out, "grp:a: started\ngrp:b: started\n") << r.describe();
  wait_running("a", 2);
  ASSERT_TRUE(pv_->wait_file(dir_ / "a.log", "leaving\nready ")) << pv_->describe();
  r = ctl({"restart", "grp:*"});
  EXPECT_EQ(r.out, "grp:b: stopped\ngrp:a: stopped\ngrp:a: started\ngrp:b: started\n")
      << r.describe();
}

TEST_P(ControlSupervisorctl, StartWaitsUntilTheReadinessProbePasses) {
  ReservedPort api_port;
  launch(replace_all(R"(
[program:slow]
command=python3 @DATA@/control_server.py @API@ @DIR@/go
ready=http://127.0.0.1:@API@/
autostart=false
startsecs=0

[program:quitter]
command=sh -c 'exit 3'
autostart=false
startsecs=1
startretries=0

[program:missing]
command=/nonexistent/podvisor-test-binary
autostart=false
)",
                     "@API@", api_port.str()));

  Child start(supervisorctl_options(t(), {"start", "slow"}));
  // The server is up but not listening: STARTING, and the start has not returned.
  const auto s = status_until(
      t(), [](const std::string& out) { return status_state(out, "slow") == "STARTING"; },
      {"slow"});
  ASSERT_EQ(status_state(s.out, "slow"), "STARTING") << s.describe() << pv_->describe();
  EXPECT_FALSE(start.wait_for([&] { return start.exited(); }, 1ms))
      << "start returned while the program was STARTING\n"
      << start.describe();
  write_file(dir_ / "go", "");
  ASSERT_EQ(start.wait_exit(), 0) << start.describe();
  EXPECT_EQ(start.out(), "slow: started\n");
  // Once start has returned the program is RUNNING, ready.
  const auto after = ctl({"status", "slow"});
  EXPECT_EQ(after.code, 0) << after.describe();
  EXPECT_TRUE(status_pid(after.out, "slow")) << after.out;
  EXPECT_TRUE(pv_->wait_stderr("success: slow entered RUNNING state")) << pv_->describe();

  // Failures: the faults supervisord gives.
  auto r = ctl({"start", "quitter"});
  EXPECT_EQ(r.code, 7) << r.describe();  // LSB "not running", as against supervisord
  EXPECT_EQ(r.out, "quitter: ERROR (spawn error)\n");
  r = ctl({"start", "missing"});
  EXPECT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(r.out, "missing: ERROR (no such file)\n");
}

TEST_P(ControlSupervisorctl, UnprintableOutputIsReadWithoutError) {
  launch(R"(
[program:garbage]
command=sh -c 'printf "before\033[31mred\033[0m nul\000x bad\377\376utf end\n"; printf "err\033\000\n" >&2; exec sleep 1000'
startsecs=0
)");
  wait_running("garbage");
  ASSERT_TRUE(pv_->wait_for(
      [&] {
        return contains(ctl({"tail", "garbage"}).out, "utf end");
      },
      kTimeout, 1ms));
  const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  auto r = ctl({"tail", "garbage"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "before" + kReplacement + "[31mred" + kReplacement + "[0m nul" + kReplacement +
                       "x bad" + kReplacement + kReplacement + "utf end\n\n");
  r = ctl({"tail", "garbage", "stderr"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "err" + kReplacement + kReplacement + "\n\n");
  r = ctl({"status"});
  EXPECT_EQ(r.code, 0) << r.describe();
}

TEST_P(ControlSupervisorctl, ShutdownEndsPodvisorWithStatusZero) {
  launch(kWebAndIdle);
  wait_running("web");
  const auto web = nth_spawn("web", 1);
  ASSERT_TRUE(web);
  const auto r = ctl({"shutdown"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "Shut down\n");
  EXPECT_EQ(pv_->wait_exit(), 0) << pv_->describe();
  EXPECT_TRUE(contains(pv_->err(), "stopped: web")) << pv_->describe();
  EXPECT_FALSE(process_state(*web).has_value() && process_state(*web) != 'Z');
  EXPECT_FALSE(exists(dir_ / "s.sock")) << "the socket file is left behind";
}

TEST_P(ControlSupervisorctl, ReloadRestartsPodvisorInPlace) {
  launch(kWebAndIdle);
  wait_running("web");
  const auto before = status_pid(ctl({"status", "web"}).out, "web");
  ASSERT_TRUE(before);
  const auto r = ctl({"reload"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "Restarted supervisord\n");
  // The same process runs podvisor again from the start: it says so a second time.
  const auto started = "started with pid " + std::to_string(pv_->pid());
  ASSERT_TRUE(pv_->wait_for([&] { return count(pv_->err(), started) == 2; })) << pv_->describe();
  wait_running("web", 2);
  EXPECT_FALSE(pv_->exited());
  const auto p = ctl({"pid"});
  EXPECT_EQ(p.out, std::to_string(pv_->pid()) + "\n") << p.describe();
  const auto s = ctl({"status"});
  EXPECT_EQ(s.code, 3) << s.describe();
  const auto after = status_pid(s.out, "web");
  ASSERT_TRUE(after) << s.out;
  EXPECT_NE(*after, *before);
  EXPECT_FALSE(process_state(*before).has_value() && process_state(*before) != 'Z')
      << "the program of before the reload still runs";
  EXPECT_EQ(status_state(s.out, "idle"), "STOPPED") << s.out;
}

TEST_P(ControlSupervisorctl, WrongCredentialsAreRefused) {
  // Plain on TCP, {SHA} (SHA-1 of "secret", hex) on the unix socket.
  launch(kWebAndIdle, "username=admin\npassword={SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4\n");
  wait_running("web");
  const auto server = url(t());
  auto as = [&](std::vector<std::string> creds, std::vector<std::string> args) {
    Options o;
    o.exe = kSupervisorctl;
    o.argv = {kSupervisorctl, "-c", conf_, "-s", server};
    o.argv.insert(o.argv.end(), creds.begin(), creds.end());
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    return run(o);
  };
  for (const auto& creds : std::vector<std::vector<std::string>>{
           {}, {"-u", "admin", "-p", "wrong"}, {"-u", "nobody", "-p", "secret"}}) {
    const auto r = as(creds, {"status"});
    EXPECT_EQ(r.code, 1) << r.describe();
    EXPECT_TRUE(contains(r.out + r.err, "Server requires authentication")) << r.describe();
    EXPECT_FALSE(contains(r.out, "RUNNING")) << r.describe();
  }
  // stop with wrong credentials changes nothing.
  as({"-u", "admin", "-p", "wrong"}, {"stop", "web"});
  const auto r = as({"-u", "admin", "-p", "secret"}, {"status", "web"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(status_pid(r.out, "web")) << r.describe();
  EXPECT_TRUE(pv_->wait_stderr("wrong credentials")) << pv_->describe();
}

INSTANTIATE_TEST_SUITE_P(Control, ControlSupervisorctl,
                         ::testing::Values(Transport::kUnix, Transport::kInet),
                         [](const ::testing::TestParamInfo<Transport>& param_info) {
                           return param_info.param == Transport::kUnix ? "UnixSocket" : "Inet";
                         });

// ------------------------------------------------------------------------------------------
// reread compares what a program is, not where its section sits in the file.

class ControlReread : public ControlTest {
 protected:
  void SetUp() override { SKIP_WITHOUT_SUPERVISORCTL(); }
};

TEST_F(ControlReread, AProgramWhoseSectionOnlyMovedIsNotChanged) {
  const std::string before = R"(
[program:first]
command=sleep 1000
startsecs=0

[program:stay]
command=sleep 1001
startsecs=0
)";
  launch(before);
  wait_running("first");
  wait_running("stay");
  const auto stay = spawned_pid(pv_->err(), "stay");
  // `first` goes; `stay` is the same program, only some lines higher in the file.
  write_conf(config_text(before.substr(before.find("[program:stay]"))));
  auto r = ctl(Transport::kUnix, {"reread"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "first: disappeared\n");
  r = ctl(Transport::kUnix, {"update"});
  EXPECT_EQ(r.out, "first: stopped\nfirst: removed process group\n") << r.describe();
  EXPECT_EQ(status_pid(ctl(Transport::kUnix, {"status"}).out, "stay"), stay)
      << "update restarted a program that did not change";
}

// ------------------------------------------------------------------------------------------
// podvisor ctl (and podvisor called as supervisorctl) beside Debian's supervisorctl, both
// talking to podvisor.

class ControlCtl : public ControlTest {
 protected:
  void SetUp() override { SKIP_WITHOUT_SUPERVISORCTL(); }

  void expect_same(Transport t, const std::vector<std::string>& args) {
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    const auto a = ctl(t, args);
    const auto b = podvisor_ctl(t, args);
    ASSERT_TRUE(a.code && b.code) << shown << " hung";
    EXPECT_EQ(*a.code, *b.code) << shown << "\nsupervisorctl:\n"
                                << a.describe() << "\npodvisor ctl:\n"
                                << b.describe();
    EXPECT_EQ(normalize(a.out), normalize(b.out)) << shown;
    EXPECT_EQ(a.err, b.err) << shown;
  }

  // A command that changes state, run by each client from the same state: `undo` brings it
  // back in between.
  void expect_same_change(Transport t, const std::vector<std::string>& args,
                          const std::vector<std::string>& undo) {
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    const auto a = ctl(t, args);
    ASSERT_EQ(ctl(t, undo).code, 0);
    const auto b = podvisor_ctl(t, args);
    ASSERT_EQ(ctl(t, undo).code, 0);
    ASSERT_TRUE(a.code && b.code) << shown << " hung";
    EXPECT_EQ(*a.code, *b.code) << shown << "\nsupervisorctl:\n"
                                << a.describe() << "\npodvisor ctl:\n"
                                << b.describe();
    EXPECT_EQ(a.out, b.out) << shown;
    EXPECT_EQ(a.err, b.err) << shown;
  }
};

TEST_F(ControlCtl, SameOutputAndExitStatusAsSupervisorctl) {
  launch(kWebAndIdle);
  wait_running("web");
  for (const auto t : {Transport::kUnix, Transport::kInet}) {
    SCOPED_TRACE(t == Transport::kUnix ? "unix socket" : "inet");
    for (const auto& args : std::vector<std::vector<std::string>>{{"status"},
                                                                  {"status", "web"},
                                                                  {"status", "idle"},
                                                                  {"status", "nope"},
                                                                  {"pid"},
                                                                  {"pid", "web"},
                                                                  {"pid", "idle"},
                                                                  {"pid", "all"},
                                                                  {"version"},
                                                                  {"start", "web"},
                                                                  {"stop", "idle"},
                                                                  {"start", "nope"}}) {
      expect_same(t, args);
    }
    expect_same_change(t, {"start", "idle"}, {"stop", "idle"});
    ASSERT_EQ(ctl(t, {"start", "idle"}).code, 0);
    expect_same(t, {"status"});  // all RUNNING: 0
    expect_same_change(t, {"stop", "idle"}, {"start", "idle"});
    ASSERT_EQ(ctl(t, {"stop", "idle"}).code, 0);
    expect_same(t, {"status"});  // idle STOPPED: 3
  }

  // podvisor called as supervisorctl.
  TempDir bin;
  const auto link = bin / "supervisorctl";
  ASSERT_EQ(symlink(podvisor_binary().c_str(), link.c_str()), 0);
  Options o;
  o.exe = link;
  o.argv = {link, "-c", conf_, "status"};
  const auto as_supervisorctl = run(o);
  const auto reference = ctl(Transport::kUnix, {"status"});
  EXPECT_EQ(as_supervisorctl.code, reference.code) << as_supervisorctl.describe();
  EXPECT_EQ(normalize(as_supervisorctl.out), normalize(reference.out));

  // health: podvisor's own command.
  for (const auto t : {Transport::kUnix, Transport::kInet}) {
    const auto h = podvisor_ctl(t, {"health"});
    EXPECT_EQ(h.code, 0) << h.describe();
    EXPECT_EQ(h.out, "ok\n");
  }
}

// ------------------------------------------------------------------------------------------
// Single-command mode opens a control socket too.

TEST(ControlSingleCommand, SupervisorctlSeesTheCommandAsApp) {
  SKIP_WITHOUT_SUPERVISORCTL();
  TempDir dir;
  const auto sock = dir / "s.sock";
  Child pv(podvisor({"--", "sleep", "100"}, {{"SUPERVISOR_UNIX_HTTP_SERVER_FILE", sock}}));
  ASSERT_TRUE(pv.wait_stderr("control server listening on " + sock)) << pv.describe();
  ASSERT_TRUE(pv.wait_stderr("success: app entered RUNNING state")) << pv.describe();
  Options o;
  o.exe = kSupervisorctl;
  o.argv = {kSupervisorctl, "-s", "unix://" + sock, "status"};
  const auto r = run(o);
  EXPECT_EQ(r.code, 0) << r.describe();
  const auto pid = status_pid(r.out, "app");
  ASSERT_TRUE(pid) << r.describe();
  EXPECT_TRUE(pv.wait_stderr("spawned: 'app' with pid " + std::to_string(*pid) + "\n"));
  EXPECT_EQ(cmdline(*pid), "sleep 100");
  // The program can find the server.
  const auto environ = read_file("/proc/" + std::to_string(*pid) + "/environ");
  EXPECT_TRUE(contains(environ, std::string("SUPERVISOR_SERVER_URL=unix://") + sock + '\0'))
      << environ;
  // podvisor ctl says the same.
  const auto ours = run(podvisor({"ctl", "-s", "unix://" + sock, "status"}));
  EXPECT_EQ(ours.code, 0) << ours.describe();
  EXPECT_EQ(normalize(ours.out), normalize(r.out));
  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 143) << pv.describe();
}

// ------------------------------------------------------------------------------------------
// Health, readiness, metrics and the JSON API.

class ControlHttp : public ControlTest {
 protected:
  const Credentials admin{"admin", "secret"};
};

TEST_F(ControlHttp, HealthReadyAndPingFollowThePrograms) {
  ReservedPort api_port;
  launch(replace_all(R"(
[program:api]
command=python3 @DATA@/control_server.py @API@ @DIR@/go
ready=http://127.0.0.1:@API@/
autorestart=false
startsecs=0

[program:bad]
command=sh -c 'exit 3'
autostart=false
startsecs=1
startretries=0
)",
                     "@API@", api_port.str()));
  ASSERT_TRUE(pv_->wait_stderr("spawned: 'api'")) << pv_->describe();
  // api is STARTING (its server does not listen yet): /ready and /ping 204, /health 200.
  // No credentials though the TCP server has them: these paths are public.
  for (const auto& u : {unix_url(), inet_url()}) {
    SCOPED_TRACE(u);
    for (const char* path : {"/ready", "/ping"}) {
      const auto a = http(u, "GET", path);
      EXPECT_EQ(a.status, 204) << path << " " << a.body << a.error;
      EXPECT_EQ(a.body, "");
    }
    const auto h = http(u, "GET", "/health");
    EXPECT_EQ(h.status, 200) << h.error;
    EXPECT_EQ(h.body, "ok\n");
  }
  const auto listed = http(unix_url(), "GET", "/api/v1/programs");
  EXPECT_TRUE(contains(listed.body, R"("statename":"STARTING")")) << listed.body;

  write_file(dir_ / "go", "");
  wait_running("api");
  for (const auto& u : {unix_url(), inet_url()}) {
    SCOPED_TRACE(u);
    for (const char* path : {"/ready", "/ping"}) {
      const auto a = http(u, "GET", path);
      EXPECT_EQ(a.status, 200) << path << " " << a.body << a.error;
    }
  }
  // HEAD too (load balancers use it).
  EXPECT_EQ(http(inet_url(), "HEAD", "/ping").status, 200);

  // A program goes FATAL: /health 503 naming it; podvisor ctl health says so and fails.
  if (have_supervisorctl()) {
    const auto r = ctl(Transport::kUnix, {"start", "bad"});
    EXPECT_EQ(r.out, "bad: ERROR (spawn error)\n") << r.describe();
  } else {
    ASSERT_EQ(http(unix_url(), "POST", "/api/v1/programs/bad/start").status, 409);
  }
  ASSERT_TRUE(pv_->wait_stderr("bad entered FATAL state")) << pv_->describe();
  for (const auto& u : {unix_url(), inet_url()}) {
    const auto h = http(u, "GET", "/health");
    EXPECT_EQ(h.status, 503) << u << h.error;
    EXPECT_TRUE(contains(h.body, "bad")) << h.body;
  }
  const auto ch = run(podvisor({"ctl", "-s", unix_url(), "health"}));
  EXPECT_EQ(ch.code, 1) << ch.describe();
  EXPECT_TRUE(contains(ch.out, "bad")) << ch.describe();
  // bad has no probe: readiness is about api alone.
  EXPECT_EQ(http(unix_url(), "GET", "/ready").status, 200);

  // The probed program dies and is not restarted: /ready and /ping 503, naming it.
  const auto api_pid = nth_spawn("api", 1);
  ASSERT_TRUE(api_pid);
  ::kill(*api_pid, SIGKILL);
  ASSERT_TRUE(pv_->wait_stderr("exited: api")) << pv_->describe();
  for (const auto& u : {unix_url(), inet_url()}) {
    for (const char* path : {"/ready", "/ping"}) {
      const auto a = http(u, "GET", path);
      EXPECT_EQ(a.status, 503) << u << path << a.error;
      EXPECT_TRUE(contains(a.body, "api")) << a.body;
    }
  }
}

TEST_F(ControlHttp, HealthAuthPutsHealthBehindTheCredentials) {
  launch(kWebAndIdle, "", "username=admin\npassword=secret\nhealth_auth=true\n");
  wait_running("web");
  for (const char* path : {"/health", "/ready", "/ping", "/metrics"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(http(inet_url(), "GET", path).status, 401);
    EXPECT_EQ(http(inet_url(), "GET", path, Credentials{"admin", "wrong"}).status, 401);
    EXPECT_EQ(http(inet_url(), "GET", path, admin).status, 200);
    // The unix socket has no credentials: open.
    EXPECT_EQ(http(unix_url(), "GET", path).status, 200);
  }
}

TEST_F(ControlHttp, MetricsPassPromtool) {
  const auto promtool = which("promtool");
  if (!promtool) GTEST_SKIP() << "promtool is missing (Debian's prometheus package)";
  ReservedPort api_port;
  launch(replace_all(R"(
[program:api]
command=python3 @DATA@/control_server.py @API@ @DIR@/go
ready=http://127.0.0.1:@API@/
startsecs=0

[program:web]
command=sh -c 'echo "a \"quoted\" line"; exec sleep 1000'
startsecs=0

[program:once]
command=sh -c 'exit 3'
startsecs=0
autorestart=false
)",
                     "@API@", api_port.str()));
  write_file(dir_ / "go", "");
  wait_running("api");
  wait_running("web");
  ASSERT_TRUE(pv_->wait_stderr("exited: once")) << pv_->describe();
  const auto m = http(inet_url(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200) << m.error;
  write_file(dir_ / "metrics.txt", m.body);
  Options o;
  o.argv = {"/bin/sh", "-c",
            shell_quote(*promtool) + " check metrics < " + shell_quote(dir_ / "metrics.txt")};
  const auto check = run(o);
  EXPECT_EQ(check.code, 0) << check.describe() << "\n" << m.body;
  EXPECT_EQ(check.out + check.err, "") << "promtool has remarks\n" << m.body;
  for (const char* text : {
           "# TYPE podvisor_program_state gauge\n",
           "podvisor_program_state{group=\"api\",program=\"api\"} 20\n",
           "podvisor_program_state{group=\"once\",program=\"once\"} 100\n",
           "# TYPE podvisor_program_restarts_total counter\n",
           "podvisor_program_restarts_total{group=\"web\",program=\"web\"} 0\n",
           "podvisor_program_last_exit_status{group=\"once\",program=\"once\"} 3\n",
           "podvisor_program_ready_seconds{group=\"api\",program=\"api\"} ",
           "podvisor_resident_memory_bytes ",
           "podvisor_open_fds ",
       }) {
    EXPECT_TRUE(contains(m.body, text)) << text << "\n" << m.body;
  }
}

TEST_F(ControlHttp, ApiListsAndActsOnPrograms) {
  launch(R"(
[program:sig]
command=python3 @DATA@/control_signals.py @DIR@/signals
stdout_logfile=@DIR@/sig.log
startsecs=0

[program:idle]
command=sleep 1000
autostart=false
startsecs=0
)");
  wait_running("sig");
  // Not public: the TCP server's credentials are needed.
  EXPECT_EQ(http(inet_url(), "GET", "/api/v1/programs").status, 401);
  auto a = http(inet_url(), "GET", "/api/v1/programs", admin);
  ASSERT_EQ(a.status, 200) << a.error;
  write_file(dir_ / "programs.json", a.body);
  // Parsed by Python's json: one line per program with the fields a script reads.
  Options o;
  o.argv = {"python3", "-c",
            "import json, sys\n"
            "for p in json.load(open(sys.argv[1])):\n"
            "    print(p['name'], p['group'], p['statename'], p['state'], p['pid'] > 0,\n"
            "          p['exitstatus'], p['restarts'], type(p['start']).__name__,\n"
            "          type(p['stop']).__name__, p['description'].split(',')[0])\n",
            dir_ / "programs.json"};
  const auto parsed = run(o);
  ASSERT_EQ(parsed.code, 0) << parsed.describe() << a.body;
  const auto sig = nth_spawn("sig", 1);
  EXPECT_EQ(parsed.out,
            "idle idle STOPPED 0 False 0 0 int int Not started\n"
            "sig sig RUNNING 20 True 0 0 int int pid " +
                std::to_string(*sig) + "\n")
      << a.body;

  const auto api = [&](const std::string& path, const std::optional<std::string>& body = {}) {
    return http(unix_url(), "POST", path, std::nullopt, body);
  };
  // The program has its handlers once it said so.
  ASSERT_TRUE(pv_->wait_file(dir_ / "sig.log", "started ")) << pv_->describe();
  a = api("/api/v1/programs/sig/signal", R"({"signal":"HUP"})");
  EXPECT_EQ(a.status, 200) << a.body << a.error;
  EXPECT_TRUE(contains(a.body, R"("statename":"RUNNING")")) << a.body;
  EXPECT_TRUE(pv_->wait_file(dir_ / "signals", "HUP\n"));
  a = api("/api/v1/programs/sig/signal", R"({"signal":"BOGUS"})");
  EXPECT_EQ(a.status, 400) << a.body;
  a = api("/api/v1/programs/sig/signal", "not json");
  EXPECT_EQ(a.status, 400) << a.body;

  a = api("/api/v1/programs/sig/stop");
  EXPECT_EQ(a.status, 200) << a.body << a.error;
  EXPECT_TRUE(contains(a.body, R"("statename":"STOPPED")")) << a.body;
  EXPECT_TRUE(pv_->wait_file(dir_ / "signals", "HUP\nTERM\n"));
  a = api("/api/v1/programs/sig/stop");
  EXPECT_EQ(a.status, 409) << a.body;
  EXPECT_TRUE(contains(a.body, "NOT_RUNNING")) << a.body;

  a = api("/api/v1/programs/idle/start");
  EXPECT_EQ(a.status, 200) << a.body << a.error;
  EXPECT_TRUE(contains(a.body, R"("statename":"RUNNING")")) << a.body;
  const auto idle1 = nth_spawn("idle", 1);
  a = api("/api/v1/programs/idle/start");
  EXPECT_EQ(a.status, 409) << a.body;
  EXPECT_TRUE(contains(a.body, "ALREADY_STARTED")) << a.body;

  a = api("/api/v1/programs/idle/restart");
  EXPECT_EQ(a.status, 200) << a.body << a.error;
  EXPECT_TRUE(contains(a.body, R"("statename":"RUNNING")")) << a.body;
  const auto idle2 = nth_spawn("idle", 2);
  ASSERT_TRUE(idle1 && idle2);
  EXPECT_NE(*idle1, *idle2);
  EXPECT_TRUE(contains(a.body, "\"pid\":" + std::to_string(*idle2))) << a.body;

  EXPECT_EQ(api("/api/v1/programs/nope/start").status, 404);
  EXPECT_EQ(api("/api/v1/programs/idle/explode").status, 404);
  EXPECT_EQ(http(unix_url(), "GET", "/api/v1/programs/idle/start").status, 405);
}

// ------------------------------------------------------------------------------------------
// Who may connect, and what garbage does.

class ControlServer : public ControlTest {};

TEST_F(ControlServer, AnotherUserCannotConnectToA0700Socket) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to run a client as another user";
  const auto setpriv = which("setpriv");
  if (!setpriv) GTEST_SKIP() << "setpriv (util-linux) is missing";
  SKIP_WITHOUT_SUPERVISORCTL();
  // Only the socket's mode may stand in the way: the directory is open to all.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  auto as_nobody = [&](const std::vector<std::string>& command) {
    Options o;
    o.exe = *setpriv;
    o.argv = {*setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
    o.argv.insert(o.argv.end(), command.begin(), command.end());
    o.env["HOME"] = "/";
    return run(o);
  };
  write_file(dir_ / "readable", "x", 0644);
  if (as_nobody({"/bin/cat", dir_ / "readable"}).code != 0) {
    GTEST_SKIP() << "nobody cannot reach " << dir_.path() << " (a parent directory is closed)";
  }

  launch(kWebAndIdle);
  wait_running("web");
  struct stat st {};
  ASSERT_EQ(::lstat((dir_ / "s.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, 0u);

  const auto r = as_nobody({kSupervisorctl, "-s", unix_url(), "status"});
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out + r.err, "Permission denied")) << r.describe();
  EXPECT_FALSE(contains(r.out, "RUNNING")) << r.describe();
  const auto ours = as_nobody({podvisor_binary(), "ctl", "-s", unix_url(), "status"});
  EXPECT_NE(ours.code, 0) << ours.describe();
  EXPECT_FALSE(contains(ours.out, "RUNNING")) << ours.describe();
  // Root still can.
  EXPECT_EQ(ctl(Transport::kUnix, {"status", "web"}).code, 0);

  // The same user with a socket made for everyone (chmod=0777) gets in: the mode was the
  // only thing in the way.
  TearDown();
  launch(kWebAndIdle, "chmod=0777\n");
  wait_running("web");
  const auto open = as_nobody({kSupervisorctl, "-s", unix_url(), "status", "web"});
  EXPECT_EQ(open.code, 0) << open.describe();
  EXPECT_TRUE(status_pid(open.out, "web")) << open.describe();
}

TEST_F(ControlServer, MalformedRequestsGet400AndPodvisorKeepsServing) {
  launch(kWebAndIdle);
  wait_running("web");
  const std::string big_header =
      "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  // @AUTH@: the TCP server's credentials (admin:secret), so that what is judged is the
  // request's shape, not the missing credentials.
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"GARBAGE\r\n\r\n", "HTTP/1.1 400 "},
      {std::string("\x00\xff\xfe\x01 binary\r\n\r\n", 14), "HTTP/1.1 400 "},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
       "HTTP/1.1 400 "},
      {"POST /RPC2 HTTP/1.1\r\nHost: x\r\n@AUTH@Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n",
       "HTTP/1.1 400 "},
      {"POST /RPC2 HTTP/1.1\r\nHost: x\r\n@AUTH@Content-Length: 9\r\nConnection: close\r\n\r\n"
       "<garbage>",
       "HTTP/1.1 400 "},
      {"POST /RPC2 HTTP/1.1\r\nHost: x\r\n@AUTH@Content-Length: 9999999999\r\n\r\n",
       "HTTP/1.1 413 "},
      {big_header, "HTTP/1.1 431 "},
  };
  for (const auto& u : {unix_url(), inet_url()}) {
    const std::string auth = u == inet_url() ? "Authorization: Basic YWRtaW46c2VjcmV0\r\n" : "";
    for (const auto& [request, expected] : requests) {
      const auto answer = http_raw(dir_, u, replace_all(request, "@AUTH@", auth));
      EXPECT_TRUE(answer.starts_with(expected))
          << u << ": " << request.substr(0, 60) << "\n-> " << answer.substr(0, 200);
      ASSERT_FALSE(pv_->wait_for([&] { return pv_->exited(); }, 1ms)) << pv_->describe();
    }
  }
  // A client that connects and leaves, one that sends half a request and leaves.
  http_raw(dir_, unix_url(), "", true);
  http_raw(dir_, unix_url(), "GET /health HTTP/1.1\r\nHo", true);
  http_raw(dir_, inet_url(), "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<?xml",
           true);
  EXPECT_TRUE(pv_->wait_stderr("bad request")) << pv_->describe();
  // Still serving, on both sockets.
  EXPECT_EQ(http(unix_url(), "GET", "/health").status, 200);
  EXPECT_EQ(http(inet_url(), "GET", "/health").status, 200);
  if (have_supervisorctl()) {
    const auto s = ctl(Transport::kInet, {"status", "web"});
    EXPECT_EQ(s.code, 0) << s.describe();
    EXPECT_TRUE(status_pid(s.out, "web")) << s.describe();
  }
  EXPECT_EQ(count(pv_->err(), "spawned: 'web'"), 1u);
}

}  // namespace
}  // namespace e2e
