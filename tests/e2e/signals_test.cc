// SIGTERM/SIGINT/SIGQUIT stop the command and podvisor exits with its status; a second one
// escalates to SIGKILL; every other catchable signal is forwarded to the command.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>

#include "harness.h"

namespace e2e {
namespace {

// python3 signals.py NAME=ACTION...: prints "ready PID" once its handlers are in place.
Options signals_py(std::vector<std::string> actions,
                   std::map<std::string, std::optional<std::string>> env = {}) {
  std::vector<std::string> args{"--", "python3", data_path("signals.py")};
  args.insert(args.end(), actions.begin(), actions.end());
  return podvisor(args, std::move(env));
}

TEST(Stop, CommandTrappingSigtermAndExiting0GivesExit0) {
  Child c(signals_py({"TERM=exit:0"}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(SIGTERM);
  const auto code = c.wait_exit();
  ASSERT_EQ(code, 0) << c.describe();
  EXPECT_NE(c.err().find("received SIGTERM indicating exit request"), std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("waiting for app to stop"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("stopped: app (exit status 0)"), std::string::npos) << c.describe();
  EXPECT_EQ(c.err().find("failed ----"), std::string::npos) << c.describe();
}

// The same with a shell trap (the most common entrypoint).
TEST(Stop, ShellTrappingSigtermAndExiting0GivesExit0) {
  Child c(
      podvisor({"--", "sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; sleep 1000 & wait"}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "ready\nbye\n") << c.describe();
}

class StopRequest : public testing::TestWithParam<int> {};

// A command that does not trap the stop signal dies of it: 128 + SIGTERM.
TEST_P(StopRequest, UntrappedCommandGives143) {
  Child c(signals_py({}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(GetParam());
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
  EXPECT_NE(c.err().find("stopped: app (terminated by SIGTERM)"), std::string::npos)
      << c.describe();
}

INSTANTIATE_TEST_SUITE_P(Signals, StopRequest, testing::Values(SIGTERM, SIGINT, SIGQUIT),
                         [](const testing::TestParamInfo<int>& param_info) {
                           return std::string(sigabbrev_np(param_info.param));
                         });

// A second SIGTERM/SIGINT does not wait out stopwaitsecs: SIGKILL at once.
class SecondStopRequest : public testing::TestWithParam<int> {};

TEST_P(SecondStopRequest, EscalatesToSigkill) {
  Child c(signals_py({"TERM=ignore"}, {{"SUPERVISOR_PROGRAM__APP_STOPWAITSECS", "60"}}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_stderr("waiting for app to stop")) << c.describe();
  c.signal(GetParam());
  // Well under the 60 s stopwaitsecs: only the escalation can end it within this wait.
  ASSERT_EQ(c.wait_exit(15s), 137) << c.describe();
  EXPECT_NE(c.err().find("killing 'app'"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("stopped: app (terminated by SIGKILL)"), std::string::npos)
      << c.describe();
}

INSTANTIATE_TEST_SUITE_P(Signals, SecondStopRequest, testing::Values(SIGTERM, SIGINT),
                         [](const testing::TestParamInfo<int>& param_info) {
                           return std::string(sigabbrev_np(param_info.param));
                         });

// stopwaitsecs runs out: SIGKILL without a second request.
TEST(Stop, StopwaitsecsEndsInSigkill) {
  Child c(signals_py({"TERM=ignore"}, {{"SUPERVISOR_PROGRAM__APP_STOPWAITSECS", "1"}}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 137) << c.describe();
  EXPECT_NE(c.err().find("killing 'app'"), std::string::npos) << c.describe();
}

TEST(Stop, StopsignalSetting) {
  Child c(signals_py({"INT=exit:7"}, {{"SUPERVISOR_PROGRAM__APP_STOPSIGNAL", "INT"}}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 7) << c.describe();
  EXPECT_NE(c.err().find("stopped: app (exit status 7)"), std::string::npos) << c.describe();
}

// The stop signal goes to the command's whole process group (stopasgroup, on by default in
// single-command mode): a worker the shell started stops too and can say so.
TEST(Stop, StopSignalReachesTheWholeGroup) {
  Child c(podvisor({"--", "sh", "-c",
                    "sh -c 'trap \"echo worker-stopping; exit 0\" TERM; echo ready; "
                    "sleep 1000 & wait' & wait"}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
  EXPECT_NE(c.out().find("worker-stopping\n"), std::string::npos) << c.describe();
}

class Forwarded : public testing::TestWithParam<int> {};

TEST_P(Forwarded, SignalReachesTheCommand) {
  const std::string name = sigabbrev_np(GetParam());
  Child c(signals_py({name + "=print:got " + name}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(GetParam());
  ASSERT_TRUE(c.wait_stdout("got " + name + "\n")) << c.describe();
  // Twice: forwarding is not a one-off.
  c.signal(GetParam());
  ASSERT_TRUE(c.wait_for([&] { return count(c.out(), "got " + name + "\n") == 2; }))
      << c.describe();
  EXPECT_FALSE(c.exited()) << c.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 143) << c.describe();
}

INSTANTIATE_TEST_SUITE_P(Signals, Forwarded,
                         testing::Values(SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH, SIGALRM),
                         [](const testing::TestParamInfo<int>& param_info) {
                           return std::string(sigabbrev_np(param_info.param));
                         });

}  // namespace
}  // namespace e2e
