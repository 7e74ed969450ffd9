// Issue 14, readiness and crash reports: a log: pattern that cannot freeze or crash PID 1,
// notify messages only from the program's own processes, and the Python traceback kept in
// the crash report (seed 001) with the faulthandler's stack for native crashes.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <memory>

#include "harness.h"

namespace e2e {
namespace {

bool has(std::string_view log, std::string_view text) {
  return log.find(text) != std::string_view::npos;
}

std::string running(std::string_view name) {
  return "success: " + std::string(name) + " entered RUNNING state";
}

std::string config(const TempDir& dir, std::string_view programs) {
  return write_config(
      dir, "[supervisord]\nlogfile=/dev/null\nchildlogdir=@DIR@\n\n" + std::string(programs));
}

const std::map<std::string, std::optional<std::string>> kRecoveryOff{
    {"PROCESS_AUTO_RECOVERY", "false"}};

// Not ready yet; ready once the test creates dir/go; then SIGTERM ends podvisor with 0.
void expect_ready_on_go(Child& c, const TempDir& dir, std::string_view name) {
  EXPECT_FALSE(has(c.err(), running(name))) << c.describe();
  write_file(dir / "go", "");
  ASSERT_TRUE(c.wait_stderr(running(name))) << c.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 0) << c.describe();
}

// ---- ready=log: --------------------------------------------------------------------------

// podvisor running hostile_lines.py under ready=log:^(a+)+$, once the lines are printed.
std::unique_ptr<Child> start_hostile_lines(const TempDir& dir) {
  const auto conf = config(dir, R"(
[program:app]
command=python3 @DATA@/hostile_lines.py @DIR@/sent @DIR@/go
ready=log:^(a+)+$
)");
  auto c = std::make_unique<Child>(podvisor_config(conf));
  EXPECT_TRUE(c->wait_file(dir / "sent", "sent\n")) << c->describe();
  return c;
}

// A 60 KB line (a backtracking engine overflowed PID 1's stack: SIGSEGV), a 20 KB line (froze
// the loop for seconds) and `aaaa…b` against `^(a+)+$` (pinned a core forever): the loop
// stays responsive, and the program is ready when its real ready line comes.
TEST(HardeningProbe, LogPatternOnHostileLinesStillBecomesReady) {
  TempDir dir;
  const auto c = start_hostile_lines(dir);
  expect_ready_on_go(*c, dir, "app");
}

// The same lines and never a ready line: SIGTERM is still acted on.
TEST(HardeningProbe, LogPatternOnHostileLinesLeavesSigtermWorking) {
  TempDir dir;
  const auto c = start_hostile_lines(dir);
  c->signal(SIGTERM);
  EXPECT_EQ(c->wait_exit(), 0) << c->describe();
  EXPECT_FALSE(has(c->err(), running("app"))) << c->describe();
}

// What RE2 cannot do is refused when the file is read, at file:line, not at run time.
TEST(HardeningProbe, BackreferenceIsAConfigErrorAtItsLine) {
  TempDir dir;
  const auto conf = config(dir, R"(
[program:app]
command=sleep 1000
ready=log:(ready) \1
)");
  for (const auto& args :
       {std::vector<std::string>{"check", "-c", conf}, std::vector<std::string>{"-c", conf}}) {
    const auto r = run(podvisor(args));
    EXPECT_NE(r.code, 0) << r.describe();
    EXPECT_TRUE(has(r.err, "supervisord.conf:8")) << r.describe();
    EXPECT_TRUE(has(r.err, "backreferences (\\1) are not supported")) << r.describe();
  }
}

// ---- ready=notify ------------------------------------------------------------------------

// Sends one datagram to an sd_notify address ('@' for the abstract namespace).
void send_notify(const std::string& address, std::string_view message) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(address.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, address.data(), address.size());
  if (address.starts_with("@")) addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  const auto sent = ::sendto(fd, message.data(), message.size(), 0,
                             reinterpret_cast<const sockaddr*>(&addr), len);
  const int e = errno;
  ::close(fd);
  ASSERT_EQ(sent, static_cast<ssize_t>(message.size())) << std::strerror(e);
}

// READY=1 from a process outside the program's tree (this test) is ignored and logged once;
// the program's own READY=1 still marks it ready.
TEST(HardeningProbe, NotifyFromAStrangerIsIgnored) {
  TempDir dir;
  // ready_notify.py sends STATUS= at once (its own process: heard) and READY=1 on `go`.
  Child c(podvisor_config(
      config(dir,
             "[program:engine]\nready=notify\n"
             "command=python3 @DATA@/ready_notify.py @DIR@/socket @DIR@/go @DIR@/notified\n")));
  ASSERT_TRUE(c.wait_file(dir / "socket", "\n")) << c.describe();
  auto address = read_file(dir / "socket");
  address.pop_back();
  ASSERT_TRUE(address.starts_with("@")) << address;
  send_notify(address, "READY=1");
  ASSERT_TRUE(
      c.wait_stderr("ignored a notify message for engine from pid " + std::to_string(getpid())))
      << c.describe();
  send_notify(address, "READY=1");
  expect_ready_on_go(c, dir, "engine");
  EXPECT_EQ(count(c.err(), "ignored a notify message"), 1u) << c.describe();
}

// ---- crash reports (seed 001) ------------------------------------------------------------

// A traceback, then 50 lines of shutdown warnings: the report still shows the traceback.
TEST(HardeningProbe, CrashReportKeepsTheTracebackAboveShutdownNoise) {
  TempDir dir;
  write_file(dir / "worker.py",
             "import sys, traceback\n"
             "def load():\n"
             "    raise RuntimeError('CUDA out of memory')\n"
             "try:\n"
             "    load()\n"
             "except Exception:\n"
             "    traceback.print_exc()\n"
             "for i in range(50):\n"
             "    print(f'warning: shutdown step {i}', file=sys.stderr)\n"
             "sys.exit(1)\n");
  const auto r = run(podvisor({"--", "python3", dir / "worker.py"}, kRecoveryOff));
  ASSERT_EQ(r.code, 1) << r.describe();
  const auto report = r.err.find("podvisor: ---- app failed ----");
  ASSERT_NE(report, std::string::npos) << r.describe();
  const auto tail = r.err.substr(report);
  EXPECT_TRUE(has(tail, "podvisor: last Python traceback (")) << r.describe();
  EXPECT_TRUE(has(tail, "  | Traceback (most recent call last):\n")) << r.describe();
  EXPECT_TRUE(has(tail, "  |     raise RuntimeError('CUDA out of memory')\n")) << r.describe();
  EXPECT_TRUE(has(tail, "  | RuntimeError: CUDA out of memory\n")) << r.describe();
  EXPECT_TRUE(has(tail, "  | warning: shutdown step 49\n")) << r.describe();
  EXPECT_LT(tail.find("RuntimeError: CUDA"), tail.find("shutdown step 49")) << r.describe();
}

// A native crash: Python's faulthandler (PYTHONFAULTHANDLER=1 from podvisor) prints the
// Python stack before the process dies of SIGSEGV.
TEST(HardeningProbe, NativeCrashPrintsThePythonStack) {
  const auto r = run(podvisor({"--", "python3", "-c",
                               "import ctypes\ndef crash():\n    ctypes.string_at(0)\n"
                               "crash()\n"},
                              kRecoveryOff));
  ASSERT_EQ(r.code, 128 + SIGSEGV) << r.describe();
  EXPECT_TRUE(has(r.err, "Fatal Python error: Segmentation fault")) << r.describe();
  EXPECT_TRUE(has(r.err, "line 3 in crash")) << r.describe();
  EXPECT_TRUE(has(r.err, "podvisor: reason:   killed by SIGSEGV (segmentation fault)"))
      << r.describe();
}

// PYTHONFAULTHANDLER set by the user is kept.
TEST(HardeningProbe, PythonFaulthandlerSetByTheUserIsKept) {
  const auto r = run(podvisor({"--", "sh", "-c", "echo \"faulthandler=$PYTHONFAULTHANDLER\""},
                              {{"PROCESS_AUTO_RECOVERY", "false"}, {"PYTHONFAULTHANDLER", "0"}}));
  EXPECT_EQ(r.out, "faulthandler=0\n") << r.describe();
  const auto unset =
      run(podvisor({"--", "sh", "-c", "echo \"faulthandler=$PYTHONFAULTHANDLER\""},
                   {{"PROCESS_AUTO_RECOVERY", "false"}, {"PYTHONFAULTHANDLER", std::nullopt}}));
  EXPECT_EQ(unset.out, "faulthandler=1\n") << unset.describe();
}

}  // namespace
}  // namespace e2e
