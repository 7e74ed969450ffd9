// Recovery on: every exit restarts the command, with growing delays, until the retries run
// out; then podvisor exits 1 (standard-supervisor's documented promise, SPEC §2).
#include <gtest/gtest.h>

#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

std::string crashing_command(const std::string& runs_file, int code) {
  return "echo run >> " + shell_quote(runs_file) + "; echo crashing; exit " + std::to_string(code);
}

TEST(Restart, TwoRetriesMeanThreeRunsThenExit1) {
  TempDir dir;
  const auto runs = dir / "runs";
  // Delays 1 s and 2 s: about 3 s.
  const auto r = run(podvisor({"--", "sh", "-c", crashing_command(runs, 3)},
                              {{"PROCESS_MAX_START_RETRIES", "2"}, {"LOG_LEVEL", "debug"}}),
                     30s);
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(read_file(runs), "run\nrun\nrun\n") << r.describe();
  EXPECT_EQ(count(r.out, "crashing\n"), 3u) << r.describe();
  EXPECT_EQ(count(r.err, "spawned: 'app' with pid"), 3u) << r.describe();
  EXPECT_EQ(count(r.err, "exited: app (exit status 3; not expected)"), 3u) << r.describe();
  EXPECT_NE(r.err.find("gave up: app entered FATAL state, too many start retries too quickly"),
            std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("podvisor: ---- app failed ----"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("podvisor: reason:   exit status 3"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("podvisor: restarts: 2"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("  | crashing"), std::string::npos) << r.describe();
  // The backoff grows 1 s, 2 s (announced at debug level; not timed here).
  EXPECT_NE(r.err.find("app restarts in 1.0s"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("app restarts in 2.0s"), std::string::npos) << r.describe();
}

TEST(Restart, ZeroRetriesMeanOneRunThenExit1) {
  TempDir dir;
  const auto runs = dir / "runs";
  const auto r = run(podvisor({"--", "sh", "-c", crashing_command(runs, 5)},
                              {{"PROCESS_MAX_START_RETRIES", "0"}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(read_file(runs), "run\n") << r.describe();
  EXPECT_EQ(count(r.err, "spawned:"), 1u) << r.describe();
  EXPECT_NE(r.err.find("gave up: app entered FATAL state"), std::string::npos) << r.describe();
}

// Even a clean exit is restarted and counts (standard-supervisor: "restart on every exit").
TEST(Restart, CleanExitsAreRestartedToo) {
  TempDir dir;
  const auto runs = dir / "runs";
  const auto r = run(podvisor({"--", "sh", "-c", crashing_command(runs, 0)},
                              {{"PROCESS_MAX_START_RETRIES", "1"}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(read_file(runs), "run\nrun\n") << r.describe();
}

TEST(Restart, MaxRetriesFlagWinsOverEnvironment) {
  TempDir dir;
  const auto runs = dir / "runs";
  const auto r = run(podvisor({"--max-retries", "1", "--", "sh", "-c", crashing_command(runs, 2)},
                              {{"PROCESS_MAX_START_RETRIES", "50"}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(read_file(runs), "run\nrun\n") << r.describe();
}

// A command that exits at once is spawned again (after the 1 s delay: waited for as an event,
// not timed), and SIGTERM during the restart cycle still ends podvisor.
TEST(Restart, RestartsThenStopsOnSigterm) {
  Child c(podvisor({"--", "sh", "-c", "echo run; exit 1"}));
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), "spawned: 'app' with pid") >= 2; }))
      << c.describe();
  c.signal(SIGTERM);
  const auto code = c.wait_exit();
  ASSERT_TRUE(code.has_value()) << "podvisor did not exit after SIGTERM\n" << c.describe();
  // Stopped while backing off (last status 1) or while running (the stop signal).
  EXPECT_TRUE(*code == 1 || *code == 143) << *code << "\n" << c.describe();
  EXPECT_NE(c.err().find("received SIGTERM indicating exit request"), std::string::npos)
      << c.describe();
}

// A run that was up past startsecs (0 here) is restarted at once; every exit still counts,
// so the default 3 retries give 4 runs, then exit 1.
// The first restart after a run that was up is immediate; a crash loop then backs off
// (0 s, 1 s, 2 s …) even though every run gets past startsecs.
TEST(Restart, RunThatWasUpRestartsAtOnceThenACrashLoopBacksOff) {
  TempDir dir;
  const auto runs = dir / "runs";
  Child c(podvisor({"--", "sh", "-c", crashing_command(runs, 0)},
                   {{"SUPERVISOR_PROGRAM__APP_STARTSECS", "0"}, {"LOG_LEVEL", "debug"}}));
  const auto code = c.wait_exit();
  ASSERT_EQ(code, 1) << c.describe();
  EXPECT_EQ(read_file(runs), "run\nrun\nrun\nrun\n") << c.describe();
  EXPECT_EQ(count(c.err(),
                  "success: app entered RUNNING state, process has stayed up for > than "
                  "0 seconds (startsecs)"),
            4u)
      << c.describe();
  // exitcodes=255 as MHCS's program: an exit 0 is a failure too.
  EXPECT_EQ(count(c.err(), "exited: app (exit status 0; not expected)"), 4u) << c.describe();
  EXPECT_NE(c.err().find("gave up: app entered FATAL state"), std::string::npos) << c.describe();
  // No delay before the second run: it is spawned before any "restarts in" line.
  const auto second_spawn = c.err().find("spawned: 'app'", c.err().find("spawned: 'app'") + 1);
  ASSERT_NE(second_spawn, std::string::npos) << c.describe();
  EXPECT_LT(second_spawn, c.err().find("restarts in")) << c.describe();
  EXPECT_NE(c.err().find("app restarts in 1.0s"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("app restarts in 2.0s"), std::string::npos) << c.describe();
}

// A run that stayed up restart_reset seconds resets the crash count: with 1 retry allowed,
// two long runs and a quick crash make three runs (without the reset: two).
TEST(Restart, RestartResetClearsTheCrashCount) {
  TempDir dir;
  const auto runs = dir / "runs";
  const auto command = "echo run >> " + shell_quote(runs) + "; n=$(wc -l < " + shell_quote(runs) +
                       "); [ $n -ge 3 ] && exit 2; sleep 1.5; exit 1";
  const auto r =
      run(podvisor({"--", "sh", "-c", command}, {{"PROCESS_MAX_START_RETRIES", "1"},
                                                 {"SUPERVISOR_PROGRAM__APP_RESTART_RESET", "1"}}),
          30s);
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(read_file(runs), "run\nrun\nrun\n") << r.describe();
  EXPECT_NE(r.err.find("podvisor: reason:   exit status 2"), std::string::npos) << r.describe();
}

// The backoff grows 1 s, 2 s, 4 s ... but not past backoff_max.
TEST(Restart, BackoffIsCappedByBackoffMax) {
  TempDir dir;
  const auto runs = dir / "runs";
  const auto r = run(podvisor({"--", "sh", "-c", crashing_command(runs, 1)},
                              {{"PROCESS_MAX_START_RETRIES", "2"},
                               {"SUPERVISOR_PROGRAM__APP_BACKOFF_MAX", "1"},
                               {"LOG_LEVEL", "debug"}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(read_file(runs), "run\nrun\nrun\n") << r.describe();
  EXPECT_EQ(count(r.err, "app restarts in 1.0s"), 2u) << r.describe();
  EXPECT_EQ(r.err.find("app restarts in 2.0s"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace e2e

namespace e2e {
namespace {

// A crashed run's workers (still alive in its process group, perhaps holding GPU memory) are
// killed before the next run starts.
TEST(Restart, WorkersLeftInTheGroupAreKilledBeforeTheRestart) {
  TempDir dir;
  const auto workers = dir / "workers";
  // The first run leaves a worker and crashes; the second leaves one too and stays up, so
  // podvisor keeps running and only the group kill can end the first worker.
  const auto script = "n=$(cat " + shell_quote(workers) + " 2>/dev/null | wc -l); sleep 1000 & " +
                      "echo $! >> " + shell_quote(workers) +
                      "; if [ $n -eq 0 ]; then sleep 0.2; exit 1; fi; exec sleep 1000";
  Child c(podvisor({"--", "sh", "-c", script}, {{"PROCESS_MAX_START_RETRIES", "1"}}));
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), "spawned: 'app' with pid") >= 2; }))
      << c.describe();
  EXPECT_NE(c.err().find("sent SIGKILL to the processes left in process group"), std::string::npos)
      << c.describe();
  const auto first = lines(read_file(workers));
  ASSERT_FALSE(first.empty()) << c.describe();
  const pid_t worker = static_cast<pid_t>(std::stoi(first[0]));
  // A SIGKILLed process announces nothing: look at it every 10 ms, for a bounded time.
  EXPECT_TRUE(c.wait_for(
      [&] {
        const auto state = process_state(worker);
        return !state || *state == 'Z';
      },
      10s, 10ms))
      << "the first run's worker " << worker << " outlived it\n"
      << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
}

}  // namespace
}  // namespace e2e
