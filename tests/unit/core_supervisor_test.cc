#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/supervisor.h"
#include "core_fake_driver.h"

namespace podvisor::core {
namespace {

using namespace fake;

// A Supervisor with hold_on_fatal and the holds it reported: the reason, or "" for a clear.
struct Held {
  explicit Held(config::SupervisorSpec spec)
      : s(with_hold(std::move(spec)), d, [this](auto& o) { outcome = o; }) {
    s.set_hold_listener(
        [this](const Supervisor::Hold* h) { reports.push_back(h ? h->reason : ""); });
  }
  static config::SupervisorSpec with_hold(config::SupervisorSpec spec) {
    spec.hold_on_fatal = true;
    return spec;
  }
  // Starts the one program, whose first run exits 3: a failure to hold on.
  Process& fail_first_run() {
    s.start_all();
    exit_child(s, 100, exited(3));
    return *s.programs().front();
  }

  FakeDriver d;
  Supervisor s;
  std::optional<Supervisor::Outcome> outcome;
  std::vector<std::string> reports;
};

config::ProgramSpec run_once() {
  auto p = single_command();
  p.name = p.program = p.group = "app";
  p.autorestart = config::Autorestart::kFalse;
  p.exitcodes = {0};
  return p;
}

TEST(SupervisorHold, AFailedMainProgramHoldsInsteadOfEnding) {
  Held h(one_program(run_once()));
  h.fail_first_run();
  EXPECT_FALSE(h.outcome);
  EXPECT_FALSE(h.s.shutting_down());
  ASSERT_TRUE(h.s.hold());
  EXPECT_EQ(h.s.hold()->reason, "app exited (exit status 3)");
  EXPECT_EQ(h.reports, std::vector<std::string>{"app exited (exit status 3)"});
}

TEST(SupervisorHold, AStopWhileHoldingEndsWithTheHeldStatus) {
  Held h(one_program(run_once()));
  h.fail_first_run();
  h.s.request_shutdown();
  ASSERT_TRUE(h.outcome);
  EXPECT_EQ(h.outcome->exit_code, 3);
  EXPECT_NE(h.outcome->failed, nullptr);
  EXPECT_TRUE(h.outcome->reported);  // printed when the hold began
}

TEST(SupervisorHold, ARetryThatReachesRunningClearsTheHoldAndTheRulesApplyAgain) {
  Held h(one_program(run_once()));
  auto& app = h.fail_first_run();
  h.s.start_process(app);
  EXPECT_TRUE(h.s.hold());  // STARTING: not yet
  h.d.advance(2s);          // past startsecs: RUNNING
  ASSERT_EQ(app.state(), State::kRunning);
  EXPECT_FALSE(h.s.hold());
  EXPECT_EQ(h.reports.back(), "");
  // A later failure holds again; a clean exit then ends podvisor with 0.
  exit_child(h.s, 101, exited(4));
  ASSERT_TRUE(h.s.hold());
  EXPECT_EQ(h.s.hold()->outcome.exit_code, 4);
  h.s.start_process(app);
  h.d.advance(2s);
  exit_child(h.s, 102, exited(0));
  ASSERT_TRUE(h.outcome);
  EXPECT_EQ(h.outcome->exit_code, 0);
  EXPECT_EQ(h.outcome->failed, nullptr);
}

TEST(SupervisorHold, AStopAskedForWhileHoldingKeepsHolding) {
  Held h(one_program(run_once()));
  auto& app = h.fail_first_run();
  h.s.start_process(app);
  h.s.stop_process(app);
  exit_child(h.s, 101, killed(SIGTERM));
  EXPECT_EQ(app.state(), State::kStopped);
  EXPECT_FALSE(h.outcome);
  ASSERT_TRUE(h.s.hold());
  EXPECT_EQ(h.s.hold()->outcome.exit_code, 3);
}

TEST(SupervisorHold, ACleanExitIsNoFailure) {
  Held h(one_program(run_once()));
  h.s.start_all();
  exit_child(h.s, 100, exited(0));
  EXPECT_FALSE(h.s.hold());
  ASSERT_TRUE(h.outcome);
  EXPECT_EQ(h.outcome->exit_code, 0);
}

config::ProgramSpec daemon(std::string name) {
  config::ProgramSpec p;
  p.name = p.program = p.group = name;
  p.argv = {name};
  p.startsecs = 0s;
  p.startretries = 0;
  p.autorestart = config::Autorestart::kTrue;
  return p;
}

TEST(SupervisorHold, AnExitOnFatalProgramHoldsAndTheOthersStayUp) {
  config::SupervisorSpec spec;
  spec.exit_on_fatal = true;
  spec.programs = {daemon("web"), daemon("sshd")};
  spec.programs[0].startsecs = 10s;  // an exit before that is a failed start
  Held h(spec);
  h.s.start_all();
  const auto& web = *h.s.programs().back();  // in start order: by priority, then name
  const auto& sshd = *h.s.programs().front();
  ASSERT_EQ(web.name(), "web");
  exit_child(h.s, web.pid(), exited(2));  // no retries left
  ASSERT_EQ(web.state(), State::kFatal);
  ASSERT_TRUE(h.s.hold());
  EXPECT_EQ(h.s.hold()->outcome.exit_code, 1);
  EXPECT_EQ(h.s.hold()->reason.rfind("web is FATAL (", 0), 0u) << h.s.hold()->reason;
  EXPECT_EQ(sshd.state(), State::kRunning);
  EXPECT_TRUE(h.d.kills.empty());  // nothing was stopped
}

// A main program that can never start (what it needs is FATAL) holds on that program; when
// a retry brings it up, the hold clears and the main program starts.
TEST(SupervisorHold, AMainProgramBlockedByAFatalDependencyHoldsOnIt) {
  config::SupervisorSpec spec;
  spec.programs = {daemon("db"), daemon("app")};
  spec.programs[0].startsecs = 10s;
  spec.programs[1].main = true;
  spec.programs[1].depends_on = {{"db", config::Dependency::Condition::kReady}};
  Held h(spec);
  h.s.start_all();
  auto& app = *h.s.programs().front();  // in start order: by priority, then name
  auto& db = *h.s.programs().back();
  ASSERT_EQ(db.name(), "db");
  exit_child(h.s, db.pid(), exited(1));  // no retries left: FATAL
  ASSERT_TRUE(h.s.hold());
  EXPECT_EQ(h.s.hold()->outcome.failed, &db);
  EXPECT_FALSE(h.outcome);
  h.s.start_process(db);
  h.d.advance(11s);
  EXPECT_FALSE(h.s.hold());
  EXPECT_EQ(app.state(), State::kRunning);
}

TEST(SupervisorHold, WithoutHoldAFailureEndsAsBefore) {
  FakeDriver d;
  std::optional<Supervisor::Outcome> outcome;
  Supervisor s(one_program(run_once()), d, [&](const auto& o) { outcome = o; });
  s.start_all();
  exit_child(s, 100, exited(3));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit_code, 3);
  EXPECT_FALSE(outcome->reported);
  EXPECT_FALSE(s.hold());
}

}  // namespace
}  // namespace podvisor::core
