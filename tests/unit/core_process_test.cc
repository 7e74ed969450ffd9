#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cerrno>
#include <deque>

#include "core/process.h"
#include "core/supervisor.h"
#include "core_fake_driver.h"

namespace podvisor::core {
namespace {

using namespace std::chrono_literals;
using namespace fake;

TEST(Process, StartsecsLeadsToRunning) {
  FakeDriver d;
  Process p(single_command(), d);
  p.start();
  EXPECT_EQ(p.state(), State::kStarting);
  EXPECT_EQ(p.pid(), 100);
  EXPECT_TRUE(d.logged("spawned: 'app' with pid 100"));
  d.advance(999ms);
  EXPECT_EQ(p.state(), State::kStarting);
  d.advance(1ms);
  EXPECT_EQ(p.state(), State::kRunning);
  EXPECT_TRUE(
      d.logged("success: app entered RUNNING state, process has stayed up for > than 1 "
               "seconds (startsecs)"));
}

// A spawn that returns before its exec: startsecs counts from the exec, not the fork.
TEST(Process, PendingExecStartsTheClockWhenConfirmed) {
  FakeDriver d;
  d.exec_pending = true;
  auto spec = single_command();
  spec.startsecs = 0s;
  Process p(spec, d);
  p.start();
  EXPECT_EQ(p.state(), State::kStarting);
  EXPECT_FALSE(d.timer);
  p.on_exec();
  EXPECT_EQ(p.state(), State::kRunning);
  p.on_exec();  // a second confirmation changes nothing
  EXPECT_EQ(p.state(), State::kRunning);
}

// An exec that fails after the fork is a spawn error with supervisord's consequences: a
// command that cannot run is FATAL at once in single-command mode (126), otherwise BACKOFF.
TEST(Process, FailedExecIsASpawnError) {
  FakeDriver d;
  d.exec_pending = true;
  Process p(single_command(), d);
  p.start();
  p.on_exec_failed({-1, ENOEXEC, "server: Exec format error", true});
  EXPECT_EQ(p.state(), State::kFatal);
  EXPECT_EQ(p.fatal_exit_code(), 126);
  EXPECT_EQ(p.pid(), -1);
  EXPECT_TRUE(d.logged("spawn error: app: server: Exec format error"));

  FakeDriver d2;
  d2.exec_pending = true;
  auto spec = single_command();
  spec.count_every_exit = false;  // config mode
  Process q(spec, d2);
  q.start();
  q.on_exec_failed({-1, ENOENT, "couldn't chdir to /nowhere: No such file or directory", false});
  EXPECT_EQ(q.state(), State::kBackoff);
  EXPECT_EQ(q.spawnerr(), "couldn't chdir to /nowhere: No such file or directory");
}

// Stopped before its exec was confirmed, and the exec failed: STOPPED, no retry.
TEST(Process, FailedExecAfterAStopRequestEndsStopped) {
  FakeDriver d;
  d.exec_pending = true;
  Process p(single_command(), d);
  p.start();
  p.stop();
  EXPECT_EQ(p.state(), State::kStopping);
  p.on_exec_failed({-1, ENOEXEC, "server: Exec format error", true});
  EXPECT_EQ(p.state(), State::kStopped);
}

TEST(Process, BackoffGrowsExponentiallyAndCapsAtBackoffMax) {
  FakeDriver d;
  auto spec = single_command();
  spec.startretries = 10;
  spec.backoff_max = 5s;
  Process p(spec, d);
  p.start();
  std::vector<Clock::duration> delays;
  for (int i = 0; i < 5; ++i) {
    p.on_exit(exited(1));
    ASSERT_EQ(p.state(), State::kBackoff);
    delays.push_back(d.pending_delay());
    d.advance(d.pending_delay());
    ASSERT_EQ(p.state(), State::kStarting);
  }
  EXPECT_EQ(delays, (std::vector<Clock::duration>{1s, 2s, 4s, 5s, 5s}));
}

TEST(Process, RestartAfterARunThatWasUpIsImmediate) {
  FakeDriver d;
  Process p(single_command(), d);
  p.start();
  d.advance(5s);
  ASSERT_EQ(p.state(), State::kRunning);
  p.on_exit(exited(1));
  EXPECT_EQ(p.state(), State::kStarting);
  EXPECT_EQ(d.spawns, 2);
  EXPECT_TRUE(d.logged("exited: app (exit status 1; not expected)"));
  // It then crashes at once: 1 s, then 2 s.
  p.on_exit(exited(1));
  EXPECT_EQ(d.pending_delay(), 1s);
  d.advance(1s);
  p.on_exit(exited(1));
  EXPECT_EQ(d.pending_delay(), 2s);
}

TEST(Process, CrashLoopsPastStartsecsBackOffUntilARunStaysUpRestartReset) {
  FakeDriver d;
  config::ProgramSpec spec;  // supervisord mode: these exits never go FATAL
  spec.name = "web";
  spec.argv = {"web"};
  spec.autorestart = config::Autorestart::kTrue;
  spec.restart_reset = 60s;
  Process p(spec, d);
  p.start();
  std::vector<Clock::duration> delays;
  for (int i = 0; i < 4; ++i) {
    d.advance(5s);  // RUNNING, then crashes
    ASSERT_EQ(p.state(), State::kRunning);
    p.on_exit(exited(1));
    delays.push_back(p.state() == State::kBackoff ? d.pending_delay() : Clock::duration{});
    if (p.state() == State::kBackoff) d.advance(d.pending_delay());
  }
  EXPECT_EQ(delays, (std::vector<Clock::duration>{0s, 1s, 2s, 4s}));
  d.advance(61s);  // healthy long enough
  p.on_exit(exited(1));
  EXPECT_EQ(p.state(), State::kStarting);  // at once again
  EXPECT_NE(p.state(), State::kFatal);
}

TEST(Process, EveryExitCountsAndTooManyIsFatal) {
  FakeDriver d;
  auto spec = single_command();
  spec.startretries = 2;
  Process p(spec, d);
  p.start();
  for (int run = 0; run < 2; ++run) {
    d.advance(10s);  // up, then crashes: still counts in standard-supervisor mode
    p.on_exit(exited(3));
    ASSERT_NE(p.state(), State::kFatal) << run;
  }
  d.advance(10s);
  p.on_exit(exited(3));
  EXPECT_EQ(p.state(), State::kFatal);
  EXPECT_EQ(d.spawns, 3);
  EXPECT_EQ(p.fatal_exit_code(), 1);
  EXPECT_EQ(p.fatal_reason(), "exit status 3");
  EXPECT_TRUE(d.logged("gave up: app entered FATAL state, too many start retries too quickly"));
}

TEST(Process, ARunLongerThanRestartResetClearsTheCount) {
  FakeDriver d;
  auto spec = single_command();
  spec.startretries = 1;
  spec.restart_reset = 60s;
  Process p(spec, d);
  p.start();
  for (int i = 0; i < 5; ++i) {
    d.advance(61s);
    p.on_exit(exited(1));
    ASSERT_EQ(p.state(), State::kStarting) << i;
  }
  p.on_exit(exited(1));  // right after start: second failure in a row
  EXPECT_EQ(p.state(), State::kFatal);
}

TEST(Process, NoRecoveryExitsWithoutRestart) {
  FakeDriver d;
  auto spec = single_command();
  spec.autorestart = config::Autorestart::kFalse;
  Process p(spec, d);
  p.start();
  p.on_exit(killed(SIGSEGV));
  EXPECT_EQ(p.state(), State::kExited);
  EXPECT_EQ(p.last_exit()->status(), 128 + SIGSEGV);
  EXPECT_TRUE(d.logged("exited: app (terminated by SIGSEGV; not expected)"));
  EXPECT_EQ(d.spawns, 1);
}

TEST(Process, UnexpectedRestartsOnlyOnUnlistedCodes) {
  FakeDriver d;
  auto spec = single_command();
  spec.autorestart = config::Autorestart::kUnexpected;
  spec.exitcodes = {0, 2};
  Process p(spec, d);
  p.start();
  d.advance(2s);
  p.on_exit(exited(1));
  EXPECT_EQ(p.state(), State::kStarting);
  d.advance(2s);
  p.on_exit(exited(2));
  EXPECT_EQ(p.state(), State::kExited);
  EXPECT_TRUE(d.logged("exited: app (exit status 2; expected)"));
}

TEST(Process, SupervisordRetriesFailedStartsWhateverAutorestartSays) {
  FakeDriver d;
  config::ProgramSpec spec;
  spec.name = "web";
  spec.argv = {"web"};
  spec.autorestart = config::Autorestart::kFalse;
  spec.startretries = 1;
  Process p(spec, d);
  p.start();
  p.on_exit(exited(0));  // before startsecs: a failed start
  EXPECT_EQ(p.state(), State::kBackoff);
  d.advance(d.pending_delay());
  p.on_exit(exited(0));
  EXPECT_EQ(p.state(), State::kFatal);
  // After RUNNING, exits do not count and autorestart=false is obeyed.
  p.start();
  d.advance(2s);
  p.on_exit(exited(1));
  EXPECT_EQ(p.state(), State::kExited);
}

TEST(Process, StopSendsStopsignalToTheGroupThenKillsAfterStopwaitsecs) {
  FakeDriver d;
  auto spec = single_command();
  spec.stopsignal = SIGINT;
  spec.stopwaitsecs = 10s;
  Process p(spec, d);
  p.start();
  p.stop();
  EXPECT_EQ(p.state(), State::kStopping);
  ASSERT_EQ(d.kills.size(), 1u);
  EXPECT_EQ(d.kills[0].signo, SIGINT);
  EXPECT_TRUE(d.kills[0].group);
  d.advance(9s);
  EXPECT_EQ(d.kills.size(), 1u);
  d.advance(1s);
  ASSERT_EQ(d.kills.size(), 2u);
  EXPECT_EQ(d.kills[1].signo, SIGKILL);
  EXPECT_TRUE(d.logged("killing 'app' (100) with SIGKILL"));
  p.on_exit(killed(SIGKILL));
  EXPECT_EQ(p.state(), State::kStopped);
  EXPECT_TRUE(d.logged("stopped: app (terminated by SIGKILL)"));
  EXPECT_EQ(d.spawns, 1);
}

TEST(Process, StopDuringBackoffCancelsTheRestart) {
  FakeDriver d;
  Process p(single_command(), d);
  p.start();
  p.on_exit(exited(1));
  ASSERT_EQ(p.state(), State::kBackoff);
  p.stop();
  EXPECT_EQ(p.state(), State::kStopped);
  EXPECT_FALSE(d.timer.has_value());
}

// supervisord's words beside podvisor's detail: a check before the fork is "spawnerr: …"; a
// child that could not exec was spawned and exited 127. Each attempt enters STARTING first.
TEST(Process, SpawnFailuresAlsoInSupervisordsWords) {
  FakeDriver d;
  auto spec = single_command();
  spec.name = "web";
  spec.count_every_exit = false;  // config mode
  spec.startretries = 1;
  ProcessDriver::Spawned missing{-1, ENOENT, "/no/web: No such file or directory", true};
  missing.spawnerr = "can't find command '/no/web'";
  ProcessDriver::Spawned nodir{-1, ENOENT, "couldn't chdir to /srv: No such file or directory"};
  nodir.failed_child = 4242;
  d.spawn_errors = {missing, nodir};
  Process p(spec, d);
  p.start();
  EXPECT_EQ(p.state(), State::kBackoff);
  d.advance(1s);
  EXPECT_EQ(p.state(), State::kFatal);
  const std::vector<std::string> want = {
      "spawnerr: can't find command '/no/web'",
      "spawn error: web: /no/web: No such file or directory",
      "spawned: 'web' with pid 4242",
      "spawn error: web: couldn't chdir to /srv: No such file or directory",
      "exited: web (exit status 127; not expected)",
      "gave up: web entered FATAL state, too many start retries too quickly",
  };
  std::vector<std::string> got;
  for (const auto& l : d.lines) {
    if (!l.starts_with("web restarts")) got.push_back(l);
  }
  EXPECT_EQ(got, want);
}

TEST(Process, MissingCommandIsFatalAtOnceWith127) {
  FakeDriver d;
  d.spawn_errors.push_back({-1, ENOENT, "vllm: No such file or directory", true});
  Process p(single_command(), d);
  p.start();
  EXPECT_EQ(p.state(), State::kFatal);
  EXPECT_EQ(p.fatal_exit_code(), 127);
  EXPECT_TRUE(d.logged("spawn error: app: vllm: No such file or directory"));
  d.spawn_errors.push_back({-1, EACCES, "x: Permission denied", true});
  p.start();
  EXPECT_EQ(p.fatal_exit_code(), 126);
}

TEST(Process, TransientSpawnErrorWithRecoveryOffIsFatalAtOnce) {
  FakeDriver d;
  d.spawn_errors.push_back({-1, ENOENT, "couldn't chdir to /x: No such file or directory", false});
  auto spec = single_command();
  spec.autorestart = config::Autorestart::kFalse;
  Process p(spec, d);
  p.start();
  EXPECT_EQ(p.state(), State::kFatal);
  EXPECT_EQ(p.restarts(), 0);
  EXPECT_FALSE(d.timer.has_value());
}

TEST(Process, LeftoversOfTheGroupAreKilledBeforeARestartOnly) {
  FakeDriver d;
  Process p(single_command(), d);  // killasgroup
  p.start();
  p.stop();
  p.on_exit(killed(SIGTERM));  // a stop: the rest of the group keeps its stopwaitsecs
  EXPECT_TRUE(d.group_kills.empty());
  p.start();
  p.on_exit(exited(1));  // a crash, restart due
  ASSERT_EQ(d.group_kills.size(), 1u);
  EXPECT_EQ(d.group_kills[0].pid, 101);
  EXPECT_EQ(d.group_kills[0].signo, SIGKILL);
  config::ProgramSpec plain;
  plain.argv = {"x"};
  Process q(plain, d);  // supervisord's default: killasgroup=false
  q.start();
  q.on_exit(exited(1));
  EXPECT_EQ(d.group_kills.size(), 1u);
}

TEST(Process, SupervisordModeRetriesAMissingCommandAndCallsEarlyExitsUnexpected) {
  FakeDriver d;
  d.spawn_errors.push_back({-1, ENOENT, "tool: No such file or directory", true});
  config::ProgramSpec spec;
  spec.name = "tool";
  spec.argv = {"tool"};
  spec.startretries = 2;
  Process p(spec, d);
  p.start();
  EXPECT_EQ(p.state(), State::kBackoff);  // another program may be installing it
  d.advance(1s);
  ASSERT_EQ(p.state(), State::kStarting);
  p.on_exit(exited(0));  // before startsecs: a failed start even with status 0
  EXPECT_TRUE(d.logged("exited: tool (exit status 0; not expected)"));
  EXPECT_EQ(p.state(), State::kBackoff);
}

TEST(Process, TransientSpawnErrorsBackOff) {
  FakeDriver d;
  d.spawn_errors.push_back({-1, ENOENT, "couldn't chdir to /x: No such file or directory", false});
  Process p(single_command(), d);
  p.start();
  EXPECT_EQ(p.state(), State::kBackoff);
  d.advance(1s);
  EXPECT_EQ(p.state(), State::kStarting);
}

TEST(Supervisor, MainProgramStatusBecomesTheExitStatus) {
  FakeDriver d;
  auto program = single_command();
  program.autorestart = config::Autorestart::kFalse;
  std::optional<Supervisor::Outcome> outcome;
  Supervisor s(one_program(program), d, [&](const auto& o) { outcome = o; });
  s.start_all();
  EXPECT_FALSE(outcome);
  exit_child(s, 100, exited(42));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit_code, 42);
  EXPECT_NE(outcome->failed, nullptr);
}

TEST(Supervisor, FatalExitsOne) {
  FakeDriver d;
  auto program = single_command();
  program.startretries = 0;
  std::optional<Supervisor::Outcome> outcome;
  Supervisor s(one_program(program), d, [&](const auto& o) { outcome = o; });
  s.start_all();
  exit_child(s, 100, exited(0));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit_code, 1);
}

TEST(Supervisor, RequestedStopEndsWithTheProgramsStatusAndSecondRequestKills) {
  FakeDriver d;
  std::optional<Supervisor::Outcome> outcome;
  Supervisor s(one_program(single_command()), d, [&](const auto& o) { outcome = o; });
  s.start_all();
  s.request_shutdown();
  EXPECT_FALSE(outcome);
  EXPECT_EQ(d.kills.back().signo, SIGTERM);
  s.request_shutdown();
  EXPECT_EQ(d.kills.back().signo, SIGKILL);
  EXPECT_FALSE(exit_child(s, 999, exited(0)));  // an orphan: not a program
  exit_child(s, 100, exited(0));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit_code, 0);
  EXPECT_EQ(outcome->failed, nullptr);
}

TEST(Supervisor, RequestedStopOfASignalledProgramReports128PlusN) {
  FakeDriver d;
  std::optional<Supervisor::Outcome> outcome;
  Supervisor s(one_program(single_command()), d, [&](const auto& o) { outcome = o; });
  s.start_all();
  s.request_shutdown();
  exit_child(s, 100, killed(SIGTERM));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit_code, 143);
}

TEST(Supervisor, ForwardsSignalsToTheMainProgram) {
  FakeDriver d;
  Supervisor s(one_program(single_command()), d, [](const auto&) {});
  s.start_all();
  s.forward_signal(SIGUSR1);
  ASSERT_EQ(d.kills.size(), 1u);
  EXPECT_EQ(d.kills[0].signo, SIGUSR1);
  EXPECT_EQ(d.kills[0].pid, 100);
  EXPECT_FALSE(d.kills[0].group);
}

config::ProgramSpec supervisord_program(std::string name, int priority) {
  config::ProgramSpec spec;
  spec.name = spec.program = spec.group = name;
  spec.argv = {name};
  spec.priority = priority;
  spec.startsecs = 0s;
  spec.autorestart = config::Autorestart::kTrue;
  return spec;
}

TEST(Supervisor, StopsByGroupPriorityHighestFirst) {
  FakeDriver d;
  config::SupervisorSpec spec;
  auto in_group = [](std::string name, int priority, int position) {
    auto p = supervisord_program(name, priority);
    p.group = "grp";
    p.group_priority = 5;
    p.group_position = position;
    return p;
  };
  // Start order: db (1), then group grp (5: b, a in programs= order), then worker (5, after
  // "grp"), then proxy (10). Members' own priorities do not place them.
  spec.programs = {supervisord_program("proxy", 10), in_group("a", 20, 1),
                   supervisord_program("worker", 5), in_group("b", 0, 0),
                   supervisord_program("db", 1)};
  std::optional<Supervisor::Outcome> outcome;
  Supervisor s(spec, d, [&](const auto& o) { outcome = o; });
  s.start_all();  // pids: db 100, b 101, a 102, worker 103, proxy 104
  ASSERT_EQ(d.spawns, 5);
  std::vector<std::string> started;
  for (const auto& p : s.programs()) started.push_back(p->name());
  EXPECT_EQ(started, (std::vector<std::string>{"db", "b", "a", "worker", "proxy"}));
  s.request_shutdown();
  ASSERT_EQ(d.kills.size(), 1u);
  EXPECT_EQ(d.kills[0].pid, 104);
  exit_child(s, 104, killed(SIGTERM));
  // Priority 5 together, in supervisord's order: worker (after "grp"), then a and b by
  // descending member priority.
  ASSERT_EQ(d.kills.size(), 4u);
  EXPECT_EQ(d.kills[1].pid, 103);
  EXPECT_EQ(d.kills[2].pid, 102);
  EXPECT_EQ(d.kills[3].pid, 101);
  exit_child(s, 102, killed(SIGTERM));
  exit_child(s, 103, killed(SIGTERM));
  EXPECT_EQ(d.kills.size(), 4u);  // db waits for b too
  exit_child(s, 101, exited(0));
  ASSERT_EQ(d.kills.size(), 5u);
  EXPECT_EQ(d.kills[4].pid, 100);
  EXPECT_EQ(d.spawns, 5);  // nothing restarted while shutting down
  exit_child(s, 100, exited(0));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit_code, 0);
}

TEST(Supervisor, UpdateStartsAddedStopsRemovedRestartsChanged) {
  FakeDriver d;
  config::SupervisorSpec spec;
  spec.programs = {supervisord_program("a", 1), supervisord_program("b", 2)};
  Supervisor s(spec, d, [](const auto&) {});
  s.start_all();  // a 100, b 101
  auto next = spec;
  next.programs = {supervisord_program("a", 1), supervisord_program("c", 3)};
  next.programs[0].argv = {"a", "--new"};
  s.update(next);
  // c started at once; a and b asked to stop.
  EXPECT_EQ(d.spawns, 3);  // c is pid 102
  ASSERT_EQ(d.kills.size(), 2u);
  exit_child(s, 100, killed(SIGTERM));  // a stopped: comes back with the new command
  EXPECT_EQ(d.spawns, 4);
  exit_child(s, 101, killed(SIGTERM));  // b stopped: gone
  std::vector<std::string> names;
  for (const auto& p : s.programs()) names.push_back(p->name());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(s.programs()[0]->spec().argv, (std::vector<std::string>{"a", "--new"}));
  EXPECT_EQ(s.programs()[0]->state(), State::kRunning);
  s.update(next);  // nothing changed: nothing happens
  EXPECT_EQ(d.spawns, 4);
  EXPECT_EQ(d.kills.size(), 2u);
}

TEST(Supervisor, AShutdownDuringAReloadDoesNotRestartTheChangedProgram) {
  FakeDriver d;
  config::SupervisorSpec spec;
  spec.programs = {supervisord_program("a", 1)};
  std::optional<Supervisor::Outcome> outcome;
  Supervisor s(spec, d, [&](const auto& o) { outcome = o; });
  s.start_all();  // a 100
  auto next = spec;
  next.programs[0].argv = {"a", "--new"};
  s.update(next);  // a is stopping, to come back with its new command
  s.request_shutdown();
  exit_child(s, 100, killed(SIGTERM));
  EXPECT_EQ(d.spawns, 1);  // not started again
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit_code, 0);
}

}  // namespace
}  // namespace podvisor::core

namespace podvisor::core {
namespace {

config::ProgramSpec with_probe(config::ProgramSpec spec) {
  spec.ready = config::parse_probe("tcp://127.0.0.1:8000");
  return spec;
}

TEST(Readiness, StartingLastsUntilReadyAndAtLeastStartsecs) {
  FakeDriver d;
  Process p(with_probe(supervisord_program("server", 1)), d);
  p.replace_spec([&] {
    auto s = p.spec();
    s.startsecs = 2s;
    return s;
  }());
  p.start();
  ASSERT_EQ(d.readiness.size(), 1u);
  p.on_ready(500ms, "connected");  // ready before startsecs: still STARTING
  EXPECT_EQ(p.state(), State::kStarting);
  d.advance(2s);
  EXPECT_EQ(p.state(), State::kRunning);
  EXPECT_TRUE(d.logged("success: server entered RUNNING state, ready after"));
}

TEST(Readiness, StartsecsPassingIsNotEnoughWithAProbe) {
  FakeDriver d;
  Process p(with_probe(supervisord_program("server", 1)), d);
  p.start();  // startsecs=0: the timer is not what makes it RUNNING
  EXPECT_EQ(p.state(), State::kStarting);
  d.advance(1h);
  EXPECT_EQ(p.state(), State::kStarting);
  p.on_ready(3s, "HTTP 200");
  EXPECT_EQ(p.state(), State::kRunning);
  EXPECT_TRUE(d.logged("ready after 3.0s (tcp://127.0.0.1:8000: HTTP 200)"));
}

TEST(Readiness, NotReadyInTimeIsAFailedStartThenFatal) {
  FakeDriver d;
  auto spec = with_probe(supervisord_program("server", 1));
  spec.startretries = 1;
  Process p(spec, d);
  p.start();
  p.on_not_ready("not ready after 2 s: last attempt: connection refused");
  EXPECT_EQ(p.state(), State::kStopping);
  ASSERT_EQ(d.kills.size(), 1u);
  EXPECT_EQ(d.kills[0].signo, SIGTERM);
  p.on_exit(killed(SIGTERM));
  EXPECT_EQ(p.state(), State::kBackoff);  // one failure of the one retry allowed
  d.advance(d.pending_delay());
  ASSERT_EQ(p.state(), State::kStarting);
  p.on_not_ready("not ready after 2 s: last attempt: connection refused");
  p.on_exit(killed(SIGTERM));
  EXPECT_EQ(p.state(), State::kFatal);
  EXPECT_EQ(p.fatal_reason(), "not ready after 2 s: last attempt: connection refused");
  EXPECT_TRUE(d.logged("server not ready after 2 s"));
}

TEST(Readiness, AStopDuringANotReadyStopEndsStopped) {
  FakeDriver d;
  Process p(with_probe(supervisord_program("server", 1)), d);
  p.start();
  p.on_not_ready("not ready after 2 s: last attempt: timed out");
  p.forbid_restart();  // shutdown arrives meanwhile
  p.on_exit(killed(SIGTERM));
  EXPECT_EQ(p.state(), State::kStopped);
  EXPECT_EQ(d.spawns, 1);
}

TEST(Readiness, LivenessFailureRestartsTheProgram) {
  FakeDriver d;
  auto spec = supervisord_program("server", 1);
  spec.live = config::parse_probe("tcp://127.0.0.1:8000");
  Process p(spec, d);
  p.start();
  ASSERT_EQ(p.state(), State::kRunning);
  ASSERT_EQ(d.liveness.size(), 1u);
  p.on_live_failed("timed out after 2s");
  EXPECT_EQ(p.state(), State::kStopping);
  EXPECT_TRUE(d.logged("server failed its liveness probe 3 times in a row (last: timed out"));
  p.on_exit(killed(SIGTERM));
  EXPECT_EQ(d.spawns, 2);  // at once: it was up
  EXPECT_EQ(p.state(), State::kRunning);
  EXPECT_EQ(d.liveness.size(), 2u);
}

TEST(Readiness, SigkillAfterStopwaitsecsKeepsTheRestart) {
  FakeDriver d;
  auto spec = supervisord_program("server", 1);
  spec.live = config::parse_probe("tcp://127.0.0.1:8000");
  Process p(spec, d);
  p.start();
  p.on_live_failed("HTTP 500");
  d.advance(spec.stopwaitsecs);
  ASSERT_EQ(d.kills.back().signo, SIGKILL);
  p.on_exit(killed(SIGKILL));
  EXPECT_EQ(d.spawns, 2);
}

TEST(Oneshot, ExpectedExitIsDoneAndNotRestarted) {
  FakeDriver d;
  auto spec = supervisord_program("fetch", 1);
  spec.oneshot = true;
  Process p(spec, d);
  p.start();
  p.on_exit(exited(0));
  EXPECT_EQ(p.state(), State::kExited);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(d.spawns, 1);
}

TEST(Oneshot, FailuresRetryThenFatal) {
  FakeDriver d;
  auto spec = supervisord_program("fetch", 1);
  spec.oneshot = true;
  spec.startretries = 2;
  Process p(spec, d);
  p.start();
  for (int i = 0; i < 2; ++i) {
    p.on_exit(exited(1));
    ASSERT_EQ(p.state(), State::kBackoff);
    d.advance(d.pending_delay());
  }
  p.on_exit(exited(1));
  EXPECT_EQ(p.state(), State::kFatal);
  EXPECT_FALSE(p.done());
  EXPECT_EQ(d.spawns, 3);
}

struct DependencyFixture {
  DependencyFixture(std::vector<config::ProgramSpec> programs) {
    spec.programs = std::move(programs);
    supervisor = std::make_unique<Supervisor>(spec, d, [this](const auto& o) { outcome = o; });
  }
  Process& get(const std::string& name) {
    for (auto& p : supervisor->programs()) {
      if (p->name() == name) return *p;
    }
    throw std::runtime_error(name);
  }
  FakeDriver d;
  config::SupervisorSpec spec;
  std::unique_ptr<Supervisor> supervisor;
  std::optional<Supervisor::Outcome> outcome;
};

TEST(Dependencies, ADependentStartsOnlyOnceEachConditionHolds) {
  auto server = with_probe(supervisord_program("server", 10));
  auto fetch = supervisord_program("fetch", 10);
  fetch.oneshot = true;
  auto handler = supervisord_program("handler", 1);  // priority would start it first
  handler.depends_on = {{"server", config::Dependency::Condition::kReady},
                        {"fetch", config::Dependency::Condition::kDone}};
  DependencyFixture f({handler, fetch, server});
  f.supervisor->start_all();
  EXPECT_EQ(f.get("handler").state(), State::kStopped);
  EXPECT_EQ(f.supervisor->held_back(f.get("handler")), "waiting for server (ready), fetch (done)");
  f.get("fetch").on_exit(exited(0));
  EXPECT_EQ(f.get("handler").state(), State::kStopped);
  EXPECT_EQ(f.supervisor->held_back(f.get("handler")), "waiting for server (ready)");
  f.get("server").on_ready(1s, "connected");
  EXPECT_EQ(f.get("handler").state(), State::kRunning);
  EXPECT_EQ(f.supervisor->held_back(f.get("handler")), "");
}

TEST(Dependencies, StartedMeansSpawned) {
  auto server = with_probe(supervisord_program("server", 1));
  auto sidecar = supervisord_program("sidecar", 1);
  sidecar.depends_on = {{"server", config::Dependency::Condition::kStarted}};
  DependencyFixture f({server, sidecar});
  f.supervisor->start_all();
  EXPECT_EQ(f.get("server").state(), State::kStarting);
  EXPECT_EQ(f.get("sidecar").state(), State::kRunning);
}

TEST(Dependencies, AFatalDependencyBlocksAndAMainProgramEndsPodvisor) {
  auto fetch = supervisord_program("fetch", 1);
  fetch.oneshot = true;
  fetch.startretries = 0;
  auto handler = supervisord_program("handler", 2);
  handler.main = true;
  handler.depends_on = {{"fetch", config::Dependency::Condition::kDone}};
  DependencyFixture f({fetch, handler});
  f.supervisor->start_all();
  f.get("fetch").on_exit(exited(3));
  EXPECT_EQ(f.get("fetch").state(), State::kFatal);
  EXPECT_EQ(f.supervisor->held_back(f.get("handler")), "blocked: fetch is FATAL");
  EXPECT_TRUE(f.d.logged("handler blocked: fetch is FATAL"));
  ASSERT_TRUE(f.outcome);
  EXPECT_EQ(f.outcome->exit_code, 1);
  EXPECT_EQ(f.outcome->failed, &f.get("fetch"));
}

TEST(Dependencies, BlockedChainsSayWhyAndOneshotsAreWaitedForAsDone) {
  auto fetch = supervisord_program("fetch", 1);
  fetch.oneshot = true;
  fetch.startretries = 0;
  auto handler = supervisord_program("handler", 2);
  handler.depends_on = {{"fetch", config::Dependency::Condition::kReady}};
  auto sidecar = supervisord_program("sidecar", 0);  // evaluated before handler
  sidecar.depends_on = {{"handler", config::Dependency::Condition::kStarted}};
  DependencyFixture f({sidecar, fetch, handler});
  f.supervisor->start_all();
  EXPECT_EQ(f.supervisor->held_back(f.get("handler")), "waiting for fetch (done)");
  f.get("fetch").on_exit(exited(3));
  EXPECT_EQ(f.supervisor->held_back(f.get("handler")), "blocked: fetch is FATAL");
  EXPECT_EQ(f.supervisor->held_back(f.get("sidecar")),
            "blocked: handler is blocked (fetch is FATAL)");
  EXPECT_TRUE(f.d.logged("sidecar blocked: handler is blocked (fetch is FATAL)"));
}

TEST(Dependencies, ShutdownStopsDependentsFirstWhateverTheirPriority) {
  auto db = supervisord_program("db", 900);  // priority alone would stop it first
  auto api = supervisord_program("api", 5);
  api.depends_on = {{"db", config::Dependency::Condition::kReady}};
  auto proxy = supervisord_program("proxy", 1);
  DependencyFixture f({db, api, proxy});
  f.supervisor->start_all();  // db 100, api 101 (started as db became RUNNING), proxy 102
  ASSERT_EQ(f.d.spawns, 3);
  f.supervisor->request_shutdown();
  ASSERT_EQ(f.d.kills.size(), 1u);
  EXPECT_EQ(f.d.kills[0].pid, f.get("api").pid());
  f.supervisor->on_child_exit(f.get("api"), killed(SIGTERM));
  ASSERT_EQ(f.d.kills.size(), 2u);
  EXPECT_EQ(f.d.kills[1].pid, f.get("db").pid());
  f.supervisor->on_child_exit(f.get("db"), killed(SIGTERM));
  ASSERT_EQ(f.d.kills.size(), 3u);
  EXPECT_EQ(f.d.kills[2].pid, f.get("proxy").pid());
}

}  // namespace
}  // namespace podvisor::core

namespace podvisor::core {
namespace {

TEST(Transitions, TheTableAllowsWhatSupervisordDoesAndNothingElse) {
  // From each state (rows) to each (columns), in this order; x: allowed. supervisord's own
  // transitions, plus podvisor's: a shutdown ends STARTING/RUNNING in STOPPED, a run that was
  // up restarts straight to STARTING, a failed spawn goes to BACKOFF or FATAL from any stop.
  const State order[] = {State::kStopped,  State::kStarting, State::kRunning, State::kBackoff,
                         State::kStopping, State::kExited,   State::kFatal,   State::kUnknown};
  const std::string_view table[] = {
      // STOPPED STARTING RUNNING BACKOFF STOPPING EXITED FATAL UNKNOWN
      "=x.x..x.",  // STOPPED
      "x=xxxxx.",  // STARTING
      "xx=xxxx.",  // RUNNING
      "xx.=..x.",  // BACKOFF
      "xx.x=.x.",  // STOPPING
      ".x.x.=x.",  // EXITED
      ".x.x..=.",  // FATAL
      ".......=",  // UNKNOWN: never entered
  };
  for (size_t from = 0; from < 8; ++from) {
    for (size_t to = 0; to < 8; ++to) {
      if (from == to) continue;  // not a transition
      EXPECT_EQ(transition_allowed(order[from], order[to]), table[from][to] == 'x')
          << to_string(order[from]) << " -> " << to_string(order[to]);
    }
  }
}

// Every event in every reachable state, in a long pseudo-random walk per kind of program: the
// FakeDriver fails the test on any transition the table refuses.
TEST(Transitions, NoSequenceOfEventsMakesAnIllegalTransition) {
  auto live = supervisord_program("live", 1);
  live.live = config::parse_probe("tcp://127.0.0.1:8001");
  auto oneshot = supervisord_program("fetch", 1);
  oneshot.oneshot = true;
  auto quick = single_command();
  quick.startsecs = 0s;
  for (const auto& spec : {single_command(), quick, supervisord_program("web", 1),
                           with_probe(supervisord_program("server", 1)), live, oneshot}) {
    FakeDriver d;
    Process p(spec, d);
    uint32_t seed = 12345;
    const auto next = [&seed](uint32_t n) {
      seed = seed * 1103515245 + 12345;
      return (seed >> 16) % n;
    };
    for (int step = 0; step < 3000; ++step) {
      switch (next(10)) {
        case 0:
          p.start();
          break;
        case 1:
          p.stop();
          break;
        case 2:
        case 3:  // the kernel reports exits only of processes that run
          if (p.pid() > 0) p.on_exit(next(2) ? exited(static_cast<int>(next(3))) : killed(SIGKILL));
          break;
        case 4:
          if (d.timer) d.advance(d.pending_delay());
          break;
        case 5:
          p.on_ready(10ms, "connected");
          break;
        case 6:
          p.on_not_ready("not ready after 1 s");
          break;
        case 7:
          p.on_live_failed("refused");
          break;
        case 8:
          if (next(4) == 0) p.kill_now();
          break;
        case 9:
          if (next(4) == 0) p.forbid_restart();
          break;
      }
      d.advance(std::chrono::milliseconds(next(3000)));
    }
    EXPECT_GT(d.spawns, 1) << spec.name;
  }
}

}  // namespace
}  // namespace podvisor::core

namespace podvisor::core {
namespace {

using namespace std::chrono_literals;
using namespace fake;

// The spawn gate (the GPU fence): a pending gate holds the restart in BACKOFF until it opens.
class ProcessSpawnGate : public ::testing::Test {
 protected:
  static config::ProgramSpec spec() {
    auto s = single_command();
    s.startsecs = 0s;
    return s;
  }
  // A run that was up crashes: its immediate restart waits at the gate.
  void crash_while_held() {
    p.start();
    d.gate = SpawnGate::kPending;
    p.on_exit(exited(1));
  }
  FakeDriver d;
  Process p{spec(), d};
};

TEST_F(ProcessSpawnGate, PendingHoldsTheRestartInBackoffUntilOpen) {
  crash_while_held();
  EXPECT_EQ(d.gate_leaders, (std::vector<pid_t>{-1, 100}));  // no run before the first
  EXPECT_EQ(p.state(), State::kBackoff);
  EXPECT_TRUE(p.waiting_at_gate());
  EXPECT_EQ(p.last_pid(), 100);
  EXPECT_EQ(d.spawns, 1);
  d.advance(1h);  // no timer spawns past the gate
  EXPECT_EQ(d.spawns, 1);
  d.gate = SpawnGate::kOpen;
  p.on_spawn_gate_open();
  EXPECT_EQ(d.spawns, 2);
  EXPECT_EQ(p.state(), State::kRunning);
  EXPECT_EQ(p.pid(), 101);
  EXPECT_FALSE(p.waiting_at_gate());
  p.on_spawn_gate_open();  // a late second answer changes nothing
  EXPECT_EQ(d.spawns, 2);
}

// From BACKOFF's timer too: the gate is asked when the delay has passed.
TEST(ProcessSpawnGateTimer, BackoffTimerAsksTheGate) {
  FakeDriver d;
  Process p(single_command(), d);
  p.start();
  p.on_exit(exited(1));  // before startsecs: a failed start, BACKOFF 1 s
  EXPECT_EQ(p.state(), State::kBackoff);
  d.gate = SpawnGate::kPending;
  d.advance(1s);
  EXPECT_EQ(p.state(), State::kBackoff);
  EXPECT_TRUE(p.waiting_at_gate());
  EXPECT_EQ(d.spawns, 1);
  p.on_spawn_gate_open();
  EXPECT_EQ(p.state(), State::kStarting);
  EXPECT_EQ(d.spawns, 2);
}

TEST_F(ProcessSpawnGate, StopWhilePendingCancelsTheGate) {
  crash_while_held();
  p.stop();
  EXPECT_EQ(p.state(), State::kStopped);
  EXPECT_EQ(d.gate_cancels, 1);
  p.on_spawn_gate_open();  // too late: stays stopped
  EXPECT_EQ(p.state(), State::kStopped);
  EXPECT_EQ(d.spawns, 1);
}

TEST_F(ProcessSpawnGate, ForbidRestartWhilePendingCancelsTheGate) {
  crash_while_held();
  p.forbid_restart();
  EXPECT_EQ(p.state(), State::kStopped);
  EXPECT_EQ(d.gate_cancels, 1);
  p.on_spawn_gate_failed("late");
  EXPECT_EQ(p.state(), State::kStopped);
}

TEST_F(ProcessSpawnGate, FailedGateIsFatalWithItsReason) {
  crash_while_held();
  p.on_spawn_gate_failed("GPU fence: pid 311 'x' still holds GPU 0");
  EXPECT_EQ(p.state(), State::kFatal);
  EXPECT_EQ(p.fatal_reason(), "GPU fence: pid 311 'x' still holds GPU 0");
  EXPECT_EQ(p.fatal_exit_code(), 1);
  EXPECT_TRUE(d.logged("gave up: app entered FATAL state, GPU fence gave up"));
  EXPECT_EQ(d.gate_cancels, 0);
  // A start afterwards asks the gate again.
  d.gate = SpawnGate::kOpen;
  p.start();
  EXPECT_EQ(p.state(), State::kRunning);
}

// A gate that is not asked to hold changes nothing: the spawn is immediate as ever.
TEST_F(ProcessSpawnGate, OpenGateIsTransparent) {
  p.start();
  p.on_exit(exited(1));
  EXPECT_EQ(p.state(), State::kRunning);
  EXPECT_EQ(d.spawns, 2);
  EXPECT_EQ(d.gate_leaders, (std::vector<pid_t>{-1, 100}));
}

}  // namespace
}  // namespace podvisor::core
