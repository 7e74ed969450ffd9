// Hold on failure (issue 12, point 2; seed 000's "the container vanished before I could
// look"): with hold_on_fatal, the failure that would end podvisor prints the crash report and
// podvisor stays up, control socket and other programs included, /health 503 with the reason,
// a reminder line while it holds; a retry that reaches RUNNING clears it; a stop ends with the
// held failure's status and leaves nothing behind.
//
// Every wait is for a line podvisor logs or a client's answer; the reminder interval is set to
// 1 s so that its line comes soon, and no figure here is a speed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// GET `path` over podvisor's unix socket: "STATUS\nBODY" (tests/e2e/data/control_http.py).
std::string get(const std::string& socket, const std::string& path) {
  Options o;
  o.argv = {"python3", data_path("control_http.py"), "unix://" + socket, "GET", path};
  const auto r = run(o);
  return r.code == 0 ? r.out : "no answer: " + r.describe();
}

Result ctl(const std::string& socket, std::vector<std::string> args) {
  args.insert(args.begin(), {"ctl", "-s", "unix://" + socket});
  return run(podvisor(args));
}

// Nothing of pid is left running: gone, or a zombie its new parent has not reaped yet.
bool gone(pid_t pid) {
  const auto state = process_state(pid);
  return !state || *state == 'Z';
}

// A service that fails at start (exit 3, its last words on stderr) until `fixed` exists.
constexpr std::string_view kFailingApp =
    "if [ -e @DIR@/fixed ]; then echo serving; exec sleep 1000; fi; "
    "echo loading the model; echo 'CUDA error: out of memory' >&2; exit 3";

class SingleCommandHold : public ::testing::Test {
 protected:
  Options single(std::vector<std::string> flags,
                 std::map<std::string, std::optional<std::string>> env = {}) {
    std::string script(kFailingApp);
    script.replace(script.find("@DIR@"), 5, dir_.path());
    flags.insert(flags.end(), {"--no-restart", "--", "/bin/sh", "-c", script});
    env["SUPERVISOR_UNIX_HTTP_SERVER_FILE"] = socket_;
    env["PODVISOR_HOLD_LOG_INTERVAL"] = "1";
    return podvisor(flags, env);
  }

  TempDir dir_;
  std::string socket_ = dir_ / "podvisor.sock";
};

TEST_F(SingleCommandHold, AFailedCommandHoldsUntilARetrySucceedsAndAStopEndsWithItsStatus) {
  Child pv(single({"--hold-on-fatal"}));
  // The crash report at once, then the hold, with how to retry and how to leave.
  ASSERT_TRUE(pv.wait_stderr("holding: app exited (exit status 3)")) << pv.describe();
  EXPECT_TRUE(contains(pv.err(), "---- app failed ----")) << pv.describe();
  EXPECT_TRUE(contains(pv.err(), "  | CUDA error: out of memory")) << pv.describe();
  EXPECT_TRUE(contains(pv.err(), "retry: podvisor ctl start app")) << pv.describe();
  EXPECT_TRUE(contains(pv.err(), "leave: SIGTERM or podvisor ctl shutdown (exit status 3)"))
      << pv.describe();
  EXPECT_FALSE(pv.exited());
  EXPECT_EQ(get(socket_, "/health"), "503\nholding: app exited (exit status 3)\n");
  const auto hold = get(socket_, "/api/v1/hold");
  EXPECT_TRUE(contains(hold, "\"holding\":true")) << hold;
  EXPECT_TRUE(contains(hold, "\"exit_code\":3")) << hold;
  ASSERT_TRUE(pv.wait_stderr("still holding after")) << pv.describe();

  // Fixed, and retried: RUNNING clears the hold.
  write_file(dir_ / "fixed", "");
  const auto started = ctl(socket_, {"start", "app"});
  EXPECT_EQ(started.code, 0) << started.describe();
  ASSERT_TRUE(pv.wait_stderr("hold cleared after")) << pv.describe();
  EXPECT_EQ(get(socket_, "/health"), "200\nok\n");
  EXPECT_TRUE(contains(get(socket_, "/api/v1/hold"), "\"holding\":false"));

  // The normal rules again: the next failure (killed) holds again, with its own status.
  const auto app = spawned_pid(pv.err(), "app");
  ASSERT_TRUE(app);
  ASSERT_EQ(::kill(*app, SIGKILL), 0);
  ASSERT_TRUE(pv.wait_stderr("holding: app exited (killed by SIGKILL")) << pv.describe();
  EXPECT_EQ(count(pv.err(), "---- app failed ----"), 2u) << pv.describe();

  // SIGTERM while holding: the held failure's status, its report not printed a third time.
  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 128 + SIGKILL) << pv.describe();
  EXPECT_EQ(count(pv.err(), "---- app failed ----"), 2u) << pv.describe();
  EXPECT_TRUE(gone(*app));
  EXPECT_FALSE(exists(socket_));
}

TEST_F(SingleCommandHold, TheVariableTurnsItOnAndCtlShutdownLeaves) {
  Child pv(single({}, {{"PODVISOR_HOLD_ON_FATAL", "1"}}));
  ASSERT_TRUE(pv.wait_stderr("holding: app exited (exit status 3)")) << pv.describe();
  const auto r = ctl(socket_, {"shutdown"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(pv.wait_exit(), 3) << pv.describe();
  EXPECT_EQ(count(pv.err(), "---- app failed ----"), 1u) << pv.describe();
}

TEST_F(SingleCommandHold, WithoutItAFailureEndsPodvisorAsBefore) {
  const auto r = run(single({}));
  EXPECT_EQ(r.code, 3) << r.describe();
  EXPECT_FALSE(contains(r.err, "holding")) << r.describe();
  EXPECT_EQ(count(r.err, "---- app failed ----"), 1u) << r.describe();
}

// An exit_on_fatal program goes FATAL: podvisor holds, and the other program stays up.
constexpr std::string_view kTwoPrograms = R"([supervisord]
exit_on_fatal = true
[unix_http_server]
file = @DIR@/podvisor.sock
[program:side]
command = sleep 1000
startsecs = 0
[program:web]
command = /bin/sh -c 'echo web cannot bind >&2; exit 2'
startsecs = 1
startretries = 0
)";

TEST(ConfigHold, PodvisorSectionHoldsOnAnExitOnFatalProgramAndTheOthersStayUp) {
  TempDir dir;
  const auto conf = write_config(
      dir, std::string(kTwoPrograms) + "[podvisor]\nhold_on_fatal = true\nhold_log_interval = 1\n");
  const auto check = run(podvisor({"check", "-c", conf, "--print"}));
  EXPECT_EQ(check.code, 0) << check.describe();
  EXPECT_TRUE(contains(check.out, "[podvisor]\nhold_on_fatal = true\nhold_log_interval = 1\n"))
      << check.describe();

  Child pv(podvisor_config(conf));
  ASSERT_TRUE(pv.wait_stderr("holding: web is FATAL")) << pv.describe();
  const auto socket = dir / "podvisor.sock";
  const auto retry = "retry: podvisor ctl -c " + conf + " start web";
  EXPECT_TRUE(contains(pv.err(), retry)) << pv.describe();
  EXPECT_TRUE(contains(pv.err(), "---- web failed ----")) << pv.describe();
  const auto health = get(socket, "/health");
  EXPECT_TRUE(health.starts_with("503\nholding: web is FATAL (")) << health;
  const auto status = ctl(socket, {"status", "side"});
  EXPECT_TRUE(contains(status.out, "RUNNING")) << status.describe();
  ASSERT_TRUE(pv.wait_stderr("still holding after")) << pv.describe();
  const auto side = spawned_pid(pv.err(), "side");
  ASSERT_TRUE(side);
  EXPECT_FALSE(gone(*side));

  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 1) << pv.describe();  // a FATAL program's status, as without hold
  EXPECT_TRUE(gone(*side));
}

TEST(ConfigHold, TheOptionTurnsItOnForAFile) {
  TempDir dir;
  const auto conf = write_config(dir, kTwoPrograms);
  auto options = podvisor_config(conf);
  options.argv.push_back("--hold-on-fatal");
  Child pv(options);
  ASSERT_TRUE(pv.wait_stderr("holding: web is FATAL")) << pv.describe();
  EXPECT_FALSE(pv.exited());
  pv.signal(SIGINT);
  EXPECT_EQ(pv.wait_exit(), 1) << pv.describe();

  // And without it, the same file ends podvisor as before.
  const auto r = run(podvisor_config(conf));
  EXPECT_EQ(r.code, 1) << r.describe();
  EXPECT_FALSE(contains(r.err, "holding")) << r.describe();
}

// examples/runpod-pod.conf (SSH, a notebook, a training job that holds the pod on failure) is
// valid as shipped, hold and SSH keys included.
TEST(PodExample, RunpodPodConfChecksWithHoldOn) {
  const auto r =
      run(podvisor({"check", "--print", "-c", data_path("../../../examples/runpod-pod.conf")}));
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "hold_on_fatal")) << r.describe();
  EXPECT_TRUE(contains(r.out, "[program:train]")) << r.describe();
}

}  // namespace
}  // namespace e2e
