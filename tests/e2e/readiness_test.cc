// Readiness probes, depends_on, oneshots, liveness and `podvisor wait` (issue 4, seed 004;
// SPEC §3, §4): a program that depends on a service starts only once the service really
// answers, whatever the service does meanwhile, and podvisor says why it waits or gave up.
//
// Ordering is proved with timestamps the programs write (CLOCK_REALTIME nanoseconds: the
// server just before it listens or answers, the dependent as its first act), never by timing
// podvisor. Every port is held by the test for its whole run (bound, not listening, with
// SO_REUSEPORT; the stand-in server binds it too), so parallel tests never collide and a
// probe of a port nobody listens on is refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <system_error>

#include "harness.h"

namespace e2e {
namespace {

// A loopback port bound for the test's lifetime, not listening: connecting is refused until
// a server that binds it too (with SO_REUSEPORT) listens. No other test is given it: the
// kernel never hands out a bound port to a bind to port 0.
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
    a.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::system_error(errno, std::generic_category(), "bind");
    }
    socklen_t len = sizeof a;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::system_error(errno, std::generic_category(), "getsockname");
    }
    port_ = ntohs(a.sin_port);
  }
  ~ReservedPort() { ::close(fd_); }
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  int port() const { return port_; }
  std::string str() const { return std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// CLOCK_REALTIME in nanoseconds, the clock the programs' stamps use.
long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The stamp a program wrote (ready_stamp.sh, ready_server.py); nullopt while there is none.
std::optional<long long> stamp(const std::string& path) {
  const auto text = read_file(path);
  if (text.empty() || text.back() != '\n') return std::nullopt;
  return std::stoll(text);
}

// Writes a stamp file from the test itself, in the programs' format.
long long write_stamp(const std::string& path) {
  const long long t = now_ns();
  write_file(path, std::to_string(t) + "\n");
  return t;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

// A supervisord.conf for these tests: @PORT@ replaced by the port, AUTO logs kept in the
// test's directory.
std::string readiness_config(const TempDir& dir, std::string_view programs, int port = 0) {
  std::string text = "[supervisord]\nlogfile=/dev/null\nchildlogdir=@DIR@\n\n";
  text += programs;
  if (port) text = replace_all(text, "@PORT@", std::to_string(port));
  return write_config(dir, text);
}

// The first log line holding `text` ("" when none).
std::string line_with(std::string_view log, std::string_view text) {
  for (const auto& line : lines(log)) {
    if (line.find(text) != std::string::npos) return line;
  }
  return "";
}

bool has(std::string_view log, std::string_view text) {
  return log.find(text) != std::string_view::npos;
}

std::string running(std::string_view name) {
  return "success: " + std::string(name) + " entered RUNNING state";
}

std::string spawned(std::string_view name) { return "spawned: '" + std::string(name) + "'"; }

// ---- the seed-004 story: http readiness gates the handler --------------------------------

// The server binds at once (connections refused), listens after 1 s, then answers 503 to its
// first three requests ("loading") before 200. The handler (priority 1: by priority alone it
// would start first) depends on it: it starts after the first 200 and its one GET succeeds.
TEST(Readiness, HandlerNeverStartsBeforeTheServerAnswers) {
  TempDir dir;
  ReservedPort port;
  const auto conf = readiness_config(dir, R"(
[program:comfyui]
command=python3 @DATA@/ready_server.py --port @PORT@ --delay 1 --loading 3 --listen-stamp @DIR@/listening --ready-stamp @DIR@/answered --log @DIR@/server.log
ready=http://127.0.0.1:@PORT@/system_stats
priority=900

[program:handler]
command=sh @DATA@/ready_stamp.sh @DIR@/handler-start python3 @DATA@/ready_client.py http://127.0.0.1:@PORT@/system_stats @DIR@/handler-result
depends_on=comfyui
priority=1
)",
                                     port.port());
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "handler-result", "\n")) << c.describe();
  ASSERT_TRUE(c.wait_stderr(spawned("handler"))) << c.describe();
  EXPECT_EQ(read_file(dir / "handler-result"), "HTTP 200\n") << c.describe();

  const auto listening = stamp(dir / "listening");
  const auto answered = stamp(dir / "answered");
  const auto handler = stamp(dir / "handler-start");
  ASSERT_TRUE(listening && answered && handler) << c.describe();
  EXPECT_GE(*answered, *listening);
  EXPECT_GE(*handler, *answered) << "the handler started " << (*answered - *handler) / 1000000
                                 << " ms before the server first answered 200\n"
                                 << c.describe();
  // The 503s ("loading") were probe attempts that did not count as ready.
  const auto server_log = read_file(dir / "server.log");
  EXPECT_EQ(count(server_log, "GET /system_stats 503"), 3u) << server_log;
  EXPECT_LT(server_log.find(" 503"), server_log.find(" 200")) << server_log;

  EXPECT_EQ(spawned_names(c.err()), (std::vector<std::string>{"comfyui", "handler"}))
      << c.describe();
  const auto success = line_with(c.err(), running("comfyui"));
  ASSERT_NE(success, "") << c.describe();
  EXPECT_TRUE(has(success, "ready after")) << success;
  EXPECT_TRUE(has(success, "http://127.0.0.1:" + port.str() + "/system_stats")) << success;
  EXPECT_LT(c.err().find(running("comfyui")), c.err().find(spawned("handler"))) << c.describe();

  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// vLLM binds its port before the model is loaded: a server that accepts and never answers.
// Each attempt times out and the next one starts (the server sees several connections); the
// progress line says so; meanwhile another program starts, gets ready through its own probe
// and is logged RUNNING; the dependent of the stuck one never starts; SIGTERM still works.
TEST(Readiness, ServerThatAcceptsAndNeverAnswersBlocksNothingElse) {
  TempDir dir;
  ReservedPort port;
  const auto conf = readiness_config(dir, R"(
[program:stuck]
command=python3 @DATA@/ready_server.py --port @PORT@ --mode hang --log @DIR@/stuck.log
ready=http://127.0.0.1:@PORT@/health

[program:dependent]
command=sh @DATA@/ready_stamp.sh @DIR@/dependent-start sleep 1000
depends_on=stuck

[program:other]
command=sh -c 'until [ -s @DIR@/stuck.log ]; do sleep 0.02; done; echo other-is-up; exec sleep 1000'
ready=log:other-is-up
)",
                                     port.port());
  Child c(podvisor_config(conf));
  // `other` prints its line only once a probe connection to `stuck` is hanging.
  ASSERT_TRUE(c.wait_stderr(running("other"))) << c.describe();
  ASSERT_TRUE(c.wait_stderr("waiting for stuck to be ready (10 s, last: timed out", 30s))
      << c.describe();
  EXPECT_GE(count(read_file(dir / "stuck.log"), "accept"), 2u)
      << "a hung attempt was not given up for the next one\n"
      << c.describe();
  EXPECT_FALSE(has(c.err(), running("stuck"))) << c.describe();
  EXPECT_FALSE(has(c.err(), spawned("dependent"))) << c.describe();
  EXPECT_FALSE(exists(dir / "dependent-start")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_TRUE(has(c.err(), "stopped: stuck")) << c.describe();
  EXPECT_TRUE(has(c.err(), "stopped: other")) << c.describe();
}

// ready_timeout exceeded: the start failed; the program is stopped, retried up to
// startretries, then FATAL; with exit_on_fatal podvisor stops the rest and exits 1 with the
// reason in the crash report.
TEST(Readiness, ReadyTimeoutFailsTheStartThenFatalAndExitOnFatalExits1) {
  TempDir dir;
  ReservedPort port;  // nobody ever listens on it
  const auto conf = write_config(dir, replace_all(R"([supervisord]
logfile=/dev/null
childlogdir=@DIR@
exit_on_fatal=true

[program:model]
command=sh -c 'echo $$ >> @DIR@/runs; echo loading weights; exec sleep 1000'
ready=tcp://127.0.0.1:@PORT@
ready_timeout=2
startretries=1

[program:bystander]
command=sh @DATA@/lifecycle.sh bystander @DIR@/events
startsecs=0
)",
                                                  "@PORT@", port.str()));
  Child c(podvisor_config(conf));
  ASSERT_EQ(c.wait_exit(30s), 1) << c.describe();
  const auto& err = c.err();
  EXPECT_EQ(count(err, "model not ready after 2 s: last attempt: connection refused"), 2u)
      << c.describe();
  EXPECT_EQ(count(err, spawned("model")), 2u) << c.describe();
  EXPECT_TRUE(has(err, "gave up: model entered FATAL state")) << c.describe();
  EXPECT_FALSE(has(err, running("model"))) << c.describe();
  EXPECT_TRUE(has(err, "stopped: bystander")) << c.describe();
  const auto report = err.find("---- model failed ----");
  ASSERT_NE(report, std::string::npos) << c.describe();
  EXPECT_NE(err.find("not ready after 2 s", report), std::string::npos) << c.describe();
  // Each run was stopped: neither `sleep` outlived podvisor.
  const auto runs = lines(read_file(dir / "runs"));
  ASSERT_EQ(runs.size(), 2u) << c.describe();
  for (const auto& pid : runs) {
    const auto state = process_state(static_cast<pid_t>(std::stoi(pid)));
    EXPECT_TRUE(!state || *state == 'Z') << "run " << pid << " is still alive\n" << c.describe();
  }
}

// ---- oneshots and depends_on conditions --------------------------------------------------

// A oneshot (the "download") fails twice, then succeeds on its third run (backoff 1 s, 2 s):
// its dependent starts once, after the success, and the oneshot is never run again.
TEST(Readiness, OneshotFailingTwiceThenSucceedingUnblocksItsDependent) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:download]
command=sh -c 'n=$(cat @DIR@/count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > @DIR@/count; echo "download attempt $n"; [ $n -ge 3 ] || exit 1; exec sh @DATA@/ready_stamp.sh @DIR@/downloaded'
oneshot=true

[program:handler]
command=sh @DATA@/ready_stamp.sh @DIR@/handler-start sleep 1000
depends_on=download
priority=1
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "handler-start", "\n", 30s)) << c.describe();
  ASSERT_TRUE(c.wait_stderr(spawned("handler"))) << c.describe();
  EXPECT_EQ(read_file(dir / "count"), "3\n") << c.describe();
  const auto downloaded = stamp(dir / "downloaded");
  const auto handler = stamp(dir / "handler-start");
  ASSERT_TRUE(downloaded && handler) << c.describe();
  EXPECT_GE(*handler, *downloaded) << c.describe();
  EXPECT_EQ(count(c.err(), "exited: download (exit status 1; not expected)"), 2u) << c.describe();
  EXPECT_EQ(count(c.err(), "exited: download (exit status 0; expected)"), 1u) << c.describe();
  EXPECT_LT(c.err().find("exited: download (exit status 0; expected)"),
            c.err().find(spawned("handler")))
      << c.describe();

  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(count(c.err(), spawned("download")), 3u) << "a finished oneshot ran again\n"
                                                     << c.describe();
  EXPECT_EQ(count(c.err(), spawned("handler")), 1u) << c.describe();
  EXPECT_FALSE(has(c.err(), "gave up")) << c.describe();
  EXPECT_TRUE(has(c.err(), "stopped: handler")) << c.describe();
}

// `a:started` holds once a is spawned, even if it never gets ready; `job:done` once the
// oneshot exited with an expected code; the plain (ready) condition on a program that never
// gets ready never holds.
TEST(Readiness, DependsOnStartedDoneAndReadyConditions) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:never_ready]
command=sleep 1000
ready=file:@DIR@/never

[program:job]
command=sh @DATA@/ready_stamp.sh @DIR@/job-done
oneshot=true

[program:x]
command=sh @DATA@/ready_stamp.sh @DIR@/x-start sleep 1000
depends_on = never_ready:started, job:done

[program:y]
command=sh @DATA@/ready_stamp.sh @DIR@/y-start sleep 1000
depends_on = never_ready, x:started
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "x-start", "\n")) << c.describe();
  ASSERT_TRUE(c.wait_stderr(spawned("x"))) << c.describe();
  const auto job = stamp(dir / "job-done");
  const auto x = stamp(dir / "x-start");
  ASSERT_TRUE(job && x) << c.describe();
  EXPECT_GE(*x, *job) << c.describe();
  EXPECT_TRUE(has(c.err(), "exited: job (exit status 0; expected)")) << c.describe();
  EXPECT_LT(c.err().find(spawned("never_ready")), c.err().find(spawned("x"))) << c.describe();
  EXPECT_FALSE(has(c.err(), running("never_ready"))) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_FALSE(has(c.err(), spawned("y"))) << c.describe();
  EXPECT_FALSE(exists(dir / "y-start")) << c.describe();
}

// A program whose dependency went FATAL is not started, and the log says why; the others run
// on and podvisor keeps running (no exit_on_fatal).
TEST(Readiness, FatalDependencyBlocksItsDependent) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:broken]
command=sh -c 'echo cannot load the model; exit 1'
startretries=0

[program:handler]
command=sh @DATA@/ready_stamp.sh @DIR@/handler-start sleep 1000
depends_on=broken

[program:metrics]
command=sh @DATA@/lifecycle.sh metrics @DIR@/events
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("gave up: broken entered FATAL state")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("handler blocked: broken is FATAL")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "events", "start metrics")) << c.describe();
  EXPECT_FALSE(c.exited()) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_FALSE(has(c.err(), spawned("handler"))) << c.describe();
  EXPECT_FALSE(exists(dir / "handler-start")) << c.describe();
  EXPECT_TRUE(has(c.err(), "stopped: metrics")) << c.describe();
}

// SIGTERM stops dependents before what they depend on, whatever their priorities say
// (by priority alone db, 900, would stop first); priority still orders independent programs.
// web and api take 0.3 s to stop: had they been signalled together with db, db's stop would
// have been recorded first.
TEST(Readiness, SigtermStopsDependentsBeforeWhatTheyDependOn) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:db]
command=sh @DATA@/lifecycle.sh db @DIR@/events
priority=900
startsecs=0

[program:api]
command=sh @DATA@/lifecycle.sh api @DIR@/events 0.3
depends_on=db
priority=1
startsecs=0

[program:web]
command=sh @DATA@/lifecycle.sh web @DIR@/events 0.3
depends_on=api
priority=500
startsecs=0

[program:cache]
command=sh @DATA@/lifecycle.sh cache @DIR@/events 0.3
priority=950
startsecs=0

[program:logger]
command=sh @DATA@/lifecycle.sh logger @DIR@/events
priority=10
startsecs=0
)");
  Child c(podvisor_config(conf));
  for (const auto* name : {"db", "api", "web", "cache", "logger"}) {
    ASSERT_TRUE(c.wait_file(dir / "events", std::string("start ") + name)) << c.describe();
  }
  ASSERT_TRUE(c.wait_for([&] { return spawned_names(c.err()).size() == 5; })) << c.describe();
  // Start: db before api before web.
  const auto names = spawned_names(c.err());
  const auto at = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  EXPECT_LT(at("db"), at("api")) << c.describe();
  EXPECT_LT(at("api"), at("web")) << c.describe();
  EXPECT_LT(at("logger"), at("cache")) << c.describe();

  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  std::vector<std::string> stops;
  for (const auto& line : lines(read_file(dir / "events"))) {
    if (line.starts_with("stop ")) stops.push_back(line.substr(5));
  }
  ASSERT_EQ(stops.size(), 5u) << read_file(dir / "events") << c.describe();
  const auto stop_at = [&](const std::string& n) {
    return std::find(stops.begin(), stops.end(), n) - stops.begin();
  };
  EXPECT_LT(stop_at("web"), stop_at("api")) << read_file(dir / "events") << c.describe();
  EXPECT_LT(stop_at("api"), stop_at("db")) << read_file(dir / "events") << c.describe();
  EXPECT_LT(stop_at("cache"), stop_at("logger")) << read_file(dir / "events") << c.describe();
  const auto& err = c.err();
  EXPECT_LT(err.find("stopped: web"), err.find("stopped: api")) << c.describe();
  EXPECT_LT(err.find("stopped: api"), err.find("stopped: db")) << c.describe();
}

// ---- config errors -------------------------------------------------------------------------

//  1 [supervisord]
//  2 logfile=/dev/null
//  3 [program:a]
//  4 command=touch @DIR@/a-ran
//  5 depends_on=<line 5>
//  6 [program:b]
//  7 command=touch @DIR@/b-ran
//  8 depends_on=c
//  9 [program:c]
// 10 command=touch @DIR@/c-ran
// 11 depends_on=<line 11>
// 12 [program:free]
// 13 command=touch @DIR@/free-ran
std::string dependency_config(const TempDir& dir, std::string_view line5, std::string_view line11) {
  std::string text = "[supervisord]\nlogfile=/dev/null\n[program:a]\ncommand=touch @DIR@/a-ran\n";
  text += "depends_on=" + std::string(line5) + "\n";
  text += "[program:b]\ncommand=touch @DIR@/b-ran\ndepends_on=c\n";
  text += "[program:c]\ncommand=touch @DIR@/c-ran\n";
  text += "depends_on=" + std::string(line11) + "\n";
  text += "[program:free]\ncommand=touch @DIR@/free-ran\n";
  return write_config(dir, text);
}

// Whether `text` names conf at one of `lines` as "CONF:LINE: ".
bool names_line(std::string_view text, const std::string& conf, std::initializer_list<int> ls) {
  for (const int l : ls) {
    if (has(text, conf + ":" + std::to_string(l) + ": ")) return true;
  }
  return false;
}

// a → b → c → a: an error at `check` and at start (exit 2, file:line, nothing started).
TEST(Readiness, DependencyCycleIsRejectedAtCheckAndAtStart) {
  TempDir dir;
  const auto conf = dependency_config(dir, "b", "a");
  const auto check = run(podvisor({"check", "-c", conf}));
  ASSERT_EQ(check.code, 2) << check.describe();
  const auto check_text = check.out + check.err;
  EXPECT_TRUE(has(check_text, "dependency cycle")) << check.describe();
  EXPECT_TRUE(names_line(check_text, conf, {5, 8, 11})) << check.describe();

  const auto r = run(podvisor_config(conf));
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_TRUE(has(r.err, "dependency cycle")) << r.describe();
  EXPECT_TRUE(names_line(r.err, conf, {5, 8, 11})) << r.describe();
  EXPECT_FALSE(has(r.err, "spawned:")) << r.describe();
  for (const auto* f : {"a-ran", "b-ran", "c-ran", "free-ran"}) {
    EXPECT_FALSE(exists(dir / f)) << f;
  }
}

// A program that depends on itself is the shortest cycle.
TEST(Readiness, SelfDependencyIsACycle) {
  TempDir dir;
  const auto conf = dependency_config(dir, "a:started", "free");
  const auto check = run(podvisor({"check", "-c", conf}));
  ASSERT_EQ(check.code, 2) << check.describe();
  EXPECT_TRUE(has(check.out + check.err, "dependency cycle")) << check.describe();
  EXPECT_TRUE(names_line(check.out + check.err, conf, {5})) << check.describe();
}

TEST(Readiness, UnknownDependencyIsRejectedAtCheckAndAtStart) {
  TempDir dir;
  const auto conf = dependency_config(dir, "free, ghost:ready", "free");
  const auto check = run(podvisor({"check", "-c", conf}));
  ASSERT_EQ(check.code, 2) << check.describe();
  const auto check_text = check.out + check.err;
  EXPECT_TRUE(has(check_text, "depends on unknown program")) << check.describe();
  EXPECT_TRUE(has(check_text, "ghost")) << check.describe();
  EXPECT_TRUE(names_line(check_text, conf, {5})) << check.describe();

  const auto r = run(podvisor_config(conf));
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_TRUE(has(r.err, "depends on unknown program")) << r.describe();
  EXPECT_TRUE(names_line(r.err, conf, {5})) << r.describe();
  EXPECT_FALSE(has(r.err, "spawned:")) << r.describe();
  EXPECT_FALSE(exists(dir / "free-ran"));
}

// A valid file with every new key passes `check`.
TEST(Readiness, CheckAcceptsTheNewKeys) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:server]
command=sleep 1000
ready=http://localhost:8000/health
ready_status=200,503
ready_timeout=120
ready_interval=1
live=tcp://127.0.0.1:8000
live_interval=10
live_failures=3

[program:prep]
command=true
oneshot=true

[program:handler]
command=sleep 1000
ready=notify
depends_on=server, prep:done

[program:sidecar]
command=sleep 1000
ready=log:Uvicorn running on
depends_on=handler:started

[program:files]
command=sleep 1000
ready=file:/tmp/x
live=exec:true
)");
  const auto check = run(podvisor({"check", "-c", conf}));
  EXPECT_EQ(check.code, 0) << check.describe();
  EXPECT_FALSE(has(check.out + check.err, "warning:")) << check.describe();
}

// ---- liveness --------------------------------------------------------------------------------

// Once RUNNING, the liveness probe runs every live_interval; after live_failures failures in
// a row the program is restarted with the reason logged. The restarted run is healthy again
// (it removes the "sick" marker before serving).
TEST(Readiness, LivenessFailuresRestartTheProgram) {
  TempDir dir;
  ReservedPort port;
  const auto conf = readiness_config(dir, R"(
[program:api]
command=sh -c 'rm -f @DIR@/sick; echo $$ >> @DIR@/runs; exec python3 @DATA@/ready_server.py --port @PORT@ --sick-when @DIR@/sick'
ready=http://127.0.0.1:@PORT@/health
live=http://127.0.0.1:@PORT@/health
live_interval=1
live_failures=2
)",
                                     port.port());
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr(running("api"))) << c.describe();
  write_file(dir / "sick", "");
  ASSERT_TRUE(c.wait_stderr("api failed its liveness probe 2 times in a row")) << c.describe();
  const auto line = line_with(c.err(), "api failed its liveness probe");
  EXPECT_TRUE(has(line, "HTTP 500")) << line;
  EXPECT_TRUE(has(line, "restarting")) << line;
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), running("api")) >= 2; })) << c.describe();
  EXPECT_EQ(count(c.err(), spawned("api")), 2u) << c.describe();
  EXPECT_LT(c.err().find("api failed its liveness probe"),
            c.err().find(spawned("api"), c.err().find(spawned("api")) + 1))
      << c.describe();
  const auto runs = lines(read_file(dir / "runs"));
  ASSERT_EQ(runs.size(), 2u) << c.describe();
  const auto first = process_state(static_cast<pid_t>(std::stoi(runs[0])));
  EXPECT_TRUE(!first || *first == 'Z') << "the unhealthy run is still alive\n" << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// ---- the other probe kinds ---------------------------------------------------------------

// notify: podvisor passes NOTIFY_SOCKET (an abstract address, '@...'); READY=1 marks the
// program ready. The engine sends READY=1 only once the test creates `go`.
TEST(Readiness, NotifyReadyMarksTheProgramReady) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:engine]
command=python3 @DATA@/ready_notify.py @DIR@/socket @DIR@/go @DIR@/notified
ready=notify

[program:handler]
command=sh @DATA@/ready_stamp.sh @DIR@/handler-start sleep 1000
depends_on=engine
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "socket", "\n")) << c.describe();
  const auto address = read_file(dir / "socket");
  EXPECT_TRUE(address.starts_with("@") && address.size() > 2) << "NOTIFY_SOCKET=" << address;
  // STATUS=loading weights has been sent: still not ready.
  EXPECT_FALSE(has(c.err(), running("engine"))) << c.describe();
  EXPECT_FALSE(has(c.err(), spawned("handler"))) << c.describe();
  write_file(dir / "go", "");
  ASSERT_TRUE(c.wait_stderr(running("engine"))) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "handler-start", "\n")) << c.describe();
  const auto notified = stamp(dir / "notified");
  const auto handler = stamp(dir / "handler-start");
  ASSERT_TRUE(notified && handler) << c.describe();
  EXPECT_GE(*handler, *notified) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// log:REGEX: ready when a line of the program's output (stderr here) matches.
TEST(Readiness, LogLineMarksTheProgramReady) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"INI(
[program:vllm]
command=sh -c 'echo "INFO: loading weights, Uvicorn not yet running"; sleep 1; sh @DATA@/ready_stamp.sh @DIR@/printed; echo "INFO: Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)" >&2; exec sleep 1000'
ready=log:Uvicorn running on http://[0-9.]+:\d+

[program:handler]
command=sh @DATA@/ready_stamp.sh @DIR@/handler-start sleep 1000
depends_on=vllm
)INI");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "handler-start", "\n")) << c.describe();
  ASSERT_TRUE(c.wait_stderr(running("vllm"))) << c.describe();
  const auto printed = stamp(dir / "printed");
  const auto handler = stamp(dir / "handler-start");
  ASSERT_TRUE(printed && handler) << c.describe();
  EXPECT_GE(*handler, *printed) << c.describe();
  EXPECT_LT(c.err().find(running("vllm")), c.err().find(spawned("handler"))) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// tcp://: ready once the port accepts a connection (the server listens after 1 s).
TEST(Readiness, TcpProbe) {
  TempDir dir;
  ReservedPort port;
  const auto conf = readiness_config(dir, R"(
[program:db]
command=python3 @DATA@/ready_server.py --port @PORT@ --delay 1 --listen-stamp @DIR@/listening
ready=tcp://127.0.0.1:@PORT@

[program:app]
command=sh @DATA@/ready_stamp.sh @DIR@/app-start sleep 1000
depends_on=db
)",
                                     port.port());
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "app-start", "\n")) << c.describe();
  ASSERT_TRUE(c.wait_stderr(running("db"))) << c.describe();
  const auto listening = stamp(dir / "listening");
  const auto app = stamp(dir / "app-start");
  ASSERT_TRUE(listening && app) << c.describe();
  EXPECT_GE(*app, *listening) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// exec:CMD: ready when CMD (sh -c) exits 0. Each attempt leaves a line in `tries`; the test
// lets it succeed only after three failed attempts. startsecs=0: without the probe the
// program would be RUNNING at once.
TEST(Readiness, ExecProbe) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:svc]
command=sleep 1000
startsecs=0
ready=exec:echo try >> @DIR@/tries; test -e @DIR@/go

[program:app]
command=sh @DATA@/ready_stamp.sh @DIR@/app-start sleep 1000
depends_on=svc
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(
      c.wait_for([&] { return count(read_file(dir / "tries"), "try") >= 3; }, kTimeout, 10ms))
      << c.describe();
  EXPECT_FALSE(has(c.err(), running("svc"))) << c.describe();
  EXPECT_FALSE(has(c.err(), spawned("app"))) << c.describe();
  const auto go = write_stamp(dir / "go");
  ASSERT_TRUE(c.wait_stderr(running("svc"))) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "app-start", "\n")) << c.describe();
  const auto app = stamp(dir / "app-start");
  ASSERT_TRUE(app) << c.describe();
  EXPECT_GE(*app, go) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// An exec probe that never finishes is a failed attempt after its timeout: the probe process
// is killed and reaped (not left behind, not a zombie), and the next attempt runs.
TEST(Readiness, ExecProbeThatHangsIsKilledAndReaped) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:svc]
command=sleep 1000
ready=exec:echo $$ >> @DIR@/probes; exec sleep 1000
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_for([&] { return lines(read_file(dir / "probes")).size() >= 2; }, 30s, 10ms))
      << c.describe();
  const auto first = static_cast<pid_t>(std::stoi(lines(read_file(dir / "probes"))[0]));
  // Killed and reaped: announced by nothing, so looked at every 10 ms, for a bounded time.
  EXPECT_TRUE(c.wait_for([&] { return !process_state(first).has_value(); }, 10s, 10ms))
      << "the first probe process " << first << " is "
      << (process_state(first) == 'Z' ? "a zombie" : "still running") << "\n"
      << c.describe();
  EXPECT_FALSE(has(c.err(), running("svc"))) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  for (const auto& pid : lines(read_file(dir / "probes"))) {
    const auto state = process_state(static_cast<pid_t>(std::stoi(pid)));
    EXPECT_TRUE(!state || *state == 'Z') << "probe " << pid << " outlived podvisor";
  }
}

// file:PATH: ready once PATH exists (the program creates it after 1 s).
TEST(Readiness, FileProbe) {
  TempDir dir;
  const auto conf = readiness_config(dir, R"(
[program:loader]
command=sh -c 'sleep 1; sh @DATA@/ready_stamp.sh @DIR@/created; touch @DIR@/model.ready; exec sleep 1000'
ready=file:@DIR@/model.ready

[program:app]
command=sh @DATA@/ready_stamp.sh @DIR@/app-start sleep 1000
depends_on=loader
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "app-start", "\n")) << c.describe();
  ASSERT_TRUE(c.wait_stderr(running("loader"))) << c.describe();
  const auto created = stamp(dir / "created");
  const auto app = stamp(dir / "app-start");
  ASSERT_TRUE(created && app) << c.describe();
  EXPECT_GE(*app, *created) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// ready_status: a code listed there counts as ready (a server that answers 503 for good).
TEST(Readiness, ReadyStatusListsAcceptedCodes) {
  TempDir dir;
  ReservedPort port;
  const auto conf = readiness_config(dir, R"(
[program:degraded]
command=python3 @DATA@/ready_server.py --port @PORT@ --status 503
ready=http://127.0.0.1:@PORT@/ping
ready_status=200,503
)",
                                     port.port());
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr(running("degraded"))) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// While waiting, one line every 10 s with the last attempt's error (HTTP 503 here); then the
// server turns healthy and the program is RUNNING.
TEST(Readiness, ProgressLineEveryTenSecondsWhileWaiting) {
  TempDir dir;
  ReservedPort port;
  const auto conf = readiness_config(dir, R"(
[program:comfyui]
command=python3 @DATA@/ready_server.py --port @PORT@ --ok-when @DIR@/loaded
ready=http://127.0.0.1:@PORT@/system_stats
)",
                                     port.port());
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("waiting for comfyui to be ready (10 s, last: HTTP 503)", 30s))
      << c.describe();
  EXPECT_FALSE(has(c.err(), running("comfyui"))) << c.describe();
  write_file(dir / "loaded", "");
  ASSERT_TRUE(c.wait_stderr(running("comfyui"))) << c.describe();
  EXPECT_EQ(count(c.err(), "waiting for comfyui to be ready ("), 1u) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// ---- single-command mode -----------------------------------------------------------------

TEST(Readiness, SingleCommandModeReadyFromTheEnvironment) {
  TempDir dir;
  const auto tries = dir / "tries";
  const auto go = dir / "go";
  Child c(podvisor({"--", "sh", "-c", "echo loading; exec sleep 1000"},
                   {{"SUPERVISOR_PROGRAM__APP_READY",
                     "exec:echo try >> " + shell_quote(tries) + "; test -e " + shell_quote(go)},
                    {"SUPERVISOR_PROGRAM__APP_STARTSECS", "0"}}));
  ASSERT_TRUE(c.wait_for([&] { return count(read_file(tries), "try") >= 2; }, kTimeout, 10ms))
      << c.describe();
  EXPECT_FALSE(has(c.err(), running("app"))) << c.describe();
  write_file(go, "");
  ASSERT_TRUE(c.wait_stderr(running("app"))) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
}

TEST(Readiness, SingleCommandModeReadyTimeoutExits1WithTheReason) {
  ReservedPort port;
  const auto r = run(podvisor({"--", "sh", "-c", "echo loading; exec sleep 1000"},
                              {{"SUPERVISOR_PROGRAM__APP_READY", "tcp://127.0.0.1:" + port.str()},
                               {"SUPERVISOR_PROGRAM__APP_READY_TIMEOUT", "1"},
                               {"PROCESS_MAX_START_RETRIES", "0"}}),
                     30s);
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_TRUE(has(r.err, "app not ready after 1 s: last attempt: connection refused"))
      << r.describe();
  const auto report = r.err.find("---- app failed ----");
  ASSERT_NE(report, std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("not ready after 1 s", report), std::string::npos) << r.describe();
  EXPECT_EQ(r.out, "loading\n") << r.describe();
}

// ---- podvisor wait ---------------------------------------------------------------------------

// Every kind wait accepts, with a server that listens only after 1 s: exit 0 once all are
// ready, not before the server listens.
TEST(ReadinessWait, SucceedsOnceEveryTargetIsReady) {
  TempDir dir;
  Options server;
  server.argv = {"python3",        data_path("ready_server.py"),
                 "--port-file",    dir / "port",
                 "--delay",        "1",
                 "--listen-stamp", dir / "listening"};
  Child s(server);
  ASSERT_TRUE(s.wait_file(dir / "port", "\n")) << s.describe();
  const auto port = std::to_string(std::stoi(read_file(dir / "port")));
  write_file(dir / "present", "");
  const auto r = run(podvisor({"wait", "http://127.0.0.1:" + port + "/health",
                               "tcp://localhost:" + port, "file:" + dir / "present",
                               "exec:test -e " + shell_quote(dir / "present"), "--timeout", "20"}),
                     30s);
  const auto done = now_ns();
  ASSERT_EQ(r.code, 0) << r.describe();
  const auto listening = stamp(dir / "listening");
  ASSERT_TRUE(listening) << "wait succeeded before the server listened\n" << r.describe();
  EXPECT_LE(*listening, done);
}

// On timeout: exit 1, and for each target not ready "not ready after S s: TARGET: last
// attempt: ..."; the ready ones are not named.
TEST(ReadinessWait, TimesOutNamingEachTargetNotReady) {
  TempDir dir;
  ReservedPort port;
  const auto tcp = "tcp://127.0.0.1:" + port.str();
  const auto missing = "file:" + dir / "missing";
  const auto r =
      run(podvisor({"wait", tcp, missing, "exec:true", "--timeout", "1", "--interval", "1"}), 30s);
  ASSERT_EQ(r.code, 1) << r.describe();
  const auto text = r.out + r.err;
  EXPECT_TRUE(has(text, "not ready after 1 s: " + tcp + ": last attempt: connection refused"))
      << r.describe();
  EXPECT_TRUE(has(text, "not ready after 1 s: " + missing + ": last attempt: no such file"))
      << r.describe();
  EXPECT_FALSE(has(text, "exec:true: last attempt")) << r.describe();
}

// An exec target that keeps failing reports its exit status.
TEST(ReadinessWait, ExecTargetReportsItsExitStatus) {
  const auto r = run(podvisor({"wait", "exec:exit 1", "--timeout", "1"}), 30s);
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_TRUE(has(r.out + r.err, "not ready after 1 s: exec:exit 1: last attempt: exit status 1"))
      << r.describe();
}

// A progress line on stderr every 10 s while waiting.
TEST(ReadinessWait, ProgressLineEveryTenSeconds) {
  ReservedPort port;
  const auto tcp = "tcp://127.0.0.1:" + port.str();
  const auto r = run(podvisor({"wait", tcp, "--timeout", "11"}), 30s);
  ASSERT_EQ(r.code, 1) << r.describe();
  const auto progress = r.err.find("10 s");
  const auto verdict = r.err.find("not ready after 11 s");
  ASSERT_NE(progress, std::string::npos) << r.describe();
  ASSERT_NE(verdict, std::string::npos) << r.describe();
  EXPECT_LT(progress, verdict) << r.describe();
}

// log: and notify need a program podvisor runs: usage errors for wait.
TEST(ReadinessWait, LogAndNotifyAreUsageErrors) {
  for (const auto* target : {"log:ready", "notify"}) {
    const auto r = run(podvisor({"wait", target, "--timeout", "5"}));
    ASSERT_EQ(r.code, 2) << target << "\n" << r.describe();
    EXPECT_TRUE(has(r.err, target)) << target << "\n" << r.describe();
  }
  const auto none = run(podvisor({"wait"}));
  EXPECT_EQ(none.code, 2) << none.describe();
}

// ---- the bundled example -------------------------------------------------------------------

std::string example_path(std::string_view name) {
  return data_path("../../../examples/" + std::string(name));
}

TEST(ReadinessExample, ComfyuiWorkerPassesCheck) {
  const auto r = run(podvisor({"check", "-c", example_path("comfyui-worker.conf")}));
  EXPECT_EQ(r.code, 0) << r.describe();
}

// examples/comfyui-worker.conf runs as shipped (copied with its scripts, on a free port
// instead of 8188): the handler starts after ComfyUI answers and the download is done, its
// one query succeeds, and SIGTERM (what Ctrl-C asks for) stops everything with exit 0.
TEST(ReadinessExample, ComfyuiWorkerRunsEndToEnd) {
  TempDir dir;
  const auto port = std::to_string(loopback_port());
  for (const auto* name :
       {"comfyui-worker.conf", "comfyui-standin.py", "comfyui-download.sh", "handler.py"}) {
    const auto text = read_file(example_path(name));
    ASSERT_FALSE(text.empty()) << name;
    write_file(dir / name, replace_all(text, "8188", port));
  }
  Child c(podvisor_config(dir / "comfyui-worker.conf",
                          {{"COMFYUI_STANDIN_DELAY", "1"}, {"COMFYUI_MODEL_DIR", dir / "models"}}));
  ASSERT_TRUE(c.wait_stdout("handler: ComfyUI is up", 30s)) << c.describe();
  EXPECT_TRUE(has(c.out(), "To see the GUI go to: http://127.0.0.1:" + port)) << c.describe();
  EXPECT_TRUE(exists(dir / "models")) << c.describe();
  const auto& err = c.err();
  EXPECT_TRUE(has(err, "exited: download (exit status 0; expected)")) << c.describe();
  EXPECT_LT(err.find(running("comfyui")), err.find(spawned("handler"))) << c.describe();
  EXPECT_LT(err.find("exited: download"), err.find(spawned("handler"))) << c.describe();
  c.signal(SIGINT);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_TRUE(has(c.err(), "stopped: handler")) << c.describe();
  EXPECT_TRUE(has(c.err(), "stopped: comfyui")) << c.describe();
  EXPECT_LT(c.err().find("stopped: handler"), c.err().find("stopped: comfyui")) << c.describe();
}

}  // namespace
}  // namespace e2e
