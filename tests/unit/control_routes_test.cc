#include <gtest/gtest.h>

#include "control/server/routes.h"

namespace podvisor::control {
namespace {

using core::State;

ProcessInfo program(std::string name, State state) {
  ProcessInfo p;
  p.name = p.group = std::move(name);
  p.state = state;
  return p;
}

TEST(Health, OkUnlessAProgramIsFatalOrPodvisorStops) {
  std::string why;
  EXPECT_EQ(health_status({program("a", State::kRunning), program("b", State::kStopped)},
                          SupervisorState::kRunning, why),
            200);
  why.clear();
  EXPECT_EQ(health_status({program("a", State::kRunning), program("b", State::kFatal)},
                          SupervisorState::kRunning, why),
            503);
  EXPECT_EQ(why, "b is FATAL");
  why.clear();
  EXPECT_EQ(health_status({}, SupervisorState::kShutdown, why), 503);
}

TEST(Ready, WithoutProbesEveryAutostartProgramMustRun) {
  auto manual = program("manual", State::kStopped);
  manual.autostart = false;  // not expected to run
  auto fetch = program("fetch", State::kExited);
  fetch.oneshot = fetch.done = true;
  std::string why;
  EXPECT_EQ(ready_status({program("a", State::kRunning), manual, fetch},
                         SupervisorState::kRunning, why),
            200);
  EXPECT_EQ(ready_status({program("a", State::kStarting), manual}, SupervisorState::kRunning, why),
            204);
  EXPECT_EQ(why, "a is STARTING");
  why.clear();
  EXPECT_EQ(ready_status({program("a", State::kRunning), program("b", State::kExited)},
                         SupervisorState::kRunning, why),
            503);
  EXPECT_EQ(why, "b is EXITED");
}

TEST(Ready, WithProbesOnlyProbedProgramsCount) {
  auto server = program("server", State::kStarting);
  server.has_ready_probe = true;
  const auto sidecar = program("sidecar", State::kBackoff);  // no probe: not counted
  std::string why;
  EXPECT_EQ(ready_status({server, sidecar}, SupervisorState::kRunning, why), 204);
  server.state = State::kRunning;
  EXPECT_EQ(ready_status({server, sidecar}, SupervisorState::kRunning, why), 200);
  server.state = State::kFatal;
  EXPECT_EQ(ready_status({server, sidecar}, SupervisorState::kRunning, why), 503);
}

TEST(Metrics, OneSampleAPerProgramWithEscapedLabels) {
  auto p = program("web", State::kRunning);
  p.group = "g\"x";
  p.pid = 42;
  p.start = 1000;
  p.restarts = 3;
  p.last_exit_status = 137;
  p.ready_seconds = 2.5;
  const auto text = render_metrics({p}, 1100);
  EXPECT_NE(text.find("# TYPE podvisor_program_restarts_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("podvisor_program_state{group=\"g\\\"x\",program=\"web\"} 20\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("podvisor_program_restarts_total{group=\"g\\\"x\",program=\"web\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("podvisor_program_last_exit_status{group=\"g\\\"x\",program=\"web\"} 137\n"),
            std::string::npos);
  EXPECT_NE(text.find("podvisor_program_uptime_seconds{group=\"g\\\"x\",program=\"web\"} 100\n"),
            std::string::npos);
  EXPECT_NE(text.find("podvisor_program_ready_seconds{group=\"g\\\"x\",program=\"web\"} 2.500\n"),
            std::string::npos);
  EXPECT_NE(text.find("podvisor_resident_memory_bytes "), std::string::npos);
  EXPECT_EQ(text.find("probe_latency_seconds{"), std::string::npos);  // no probe ran
}

}  // namespace
}  // namespace podvisor::control
