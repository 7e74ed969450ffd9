// Exit statuses pass through unchanged when recovery is off: the orchestrator sees the truth.
#include <gtest/gtest.h>

#include "harness.h"

namespace e2e {
namespace {

const std::map<std::string, std::optional<std::string>> kRecoveryOff{
    {"PROCESS_AUTO_RECOVERY", "false"}};

class ExitStatus : public testing::TestWithParam<int> {};

TEST_P(ExitStatus, PassesThroughWithRecoveryOff) {
  const int code = GetParam();
  const auto r =
      run(podvisor({"--", "sh", "-c", "echo hello; exit " + std::to_string(code)}, kRecoveryOff));
  ASSERT_EQ(r.code, code) << r.describe();
  EXPECT_EQ(r.out, "hello\n") << r.describe();
  EXPECT_EQ(count(r.err, "spawned: 'app' with pid"), 1u) << r.describe();
  if (code == 0) {
    EXPECT_EQ(r.err.find("failed ----"), std::string::npos) << "no report after a clean exit\n"
                                                            << r.describe();
  } else {
    EXPECT_NE(r.err.find("exited: app (exit status " + std::to_string(code) + "; not expected)"),
              std::string::npos)
        << r.describe();
    EXPECT_NE(r.err.find("podvisor: ---- app failed ----"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("podvisor: reason:   exit status " + std::to_string(code)),
              std::string::npos)
        << r.describe();
    EXPECT_NE(r.err.find("  | hello"), std::string::npos) << r.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Codes, ExitStatus, testing::Values(0, 1, 42, 255));

struct SignalCase {
  std::string name;  // for kill -NAME
  int code;          // 128 + N
  std::string reason;
};

// Test names in ctest show this, not the bytes of the struct.
void PrintTo(const SignalCase& c, std::ostream* os) { *os << c.name; }

class KilledBySignal : public testing::TestWithParam<SignalCase> {};

TEST_P(KilledBySignal, Gives128PlusN) {
  const auto& c = GetParam();
  const auto r = run(podvisor(
      {"--", "sh", "-c", "echo before; kill -" + c.name + " $$; echo after"}, kRecoveryOff));
  ASSERT_EQ(r.code, c.code) << r.describe();
  EXPECT_EQ(r.out, "before\n") << r.describe();
  EXPECT_NE(r.err.find("exited: app (terminated by SIG" + c.name + "; not expected)"),
            std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("podvisor: reason:   " + c.reason), std::string::npos) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(
    Signals, KilledBySignal,
    testing::Values(SignalCase{"USR1", 138, "killed by SIGUSR1"},
                    SignalCase{"KILL", 137, "killed by SIGKILL (out of memory?)"},
                    SignalCase{"TERM", 143, "killed by SIGTERM"},
                    SignalCase{"SEGV", 139, "killed by SIGSEGV (segmentation fault)"},
                    SignalCase{"ABRT", 134, "killed by SIGABRT (aborted)"}),
    [](const testing::TestParamInfo<SignalCase>& param_info) { return param_info.param.name; });

// 126 and 127 from the command itself (a shell that could not run something) are explained.
TEST(ExitStatus, ReportExplains127And126) {
  const auto not_found = run(podvisor({"--", "sh", "-c", "no-such-tool-xyz"}, kRecoveryOff));
  ASSERT_EQ(not_found.code, 127) << not_found.describe();
  EXPECT_NE(not_found.err.find("podvisor: reason:   exit status 127 (command not found)"),
            std::string::npos)
      << not_found.describe();
  const auto not_executable = run(podvisor({"--", "sh", "-c", "exit 126"}, kRecoveryOff));
  ASSERT_EQ(not_executable.code, 126) << not_executable.describe();
  EXPECT_NE(not_executable.err.find(
                "podvisor: reason:   exit status 126 (command found but not executable)"),
            std::string::npos)
      << not_executable.describe();
}

TEST(ExitStatus, NoRestartFlag) {
  const auto r = run(podvisor({"--no-restart", "--", "sh", "-c", "echo once; exit 42"}));
  ASSERT_EQ(r.code, 42) << r.describe();
  EXPECT_EQ(r.out, "once\n") << r.describe();
  EXPECT_EQ(count(r.err, "spawned:"), 1u) << r.describe();
}

TEST(ExitStatus, NoRestartFlagWithoutDoubleDash) {
  const auto r = run(podvisor({"--no-restart", "sh", "-c", "exit 9"}));
  ASSERT_EQ(r.code, 9) << r.describe();
}

class RecoveryOffSpelling : public testing::TestWithParam<std::string> {};

TEST_P(RecoveryOffSpelling, IsAccepted) {
  const auto r =
      run(podvisor({"--", "sh", "-c", "exit 3"}, {{"PROCESS_AUTO_RECOVERY", GetParam()}}));
  ASSERT_EQ(r.code, 3) << r.describe();
  EXPECT_EQ(count(r.err, "spawned:"), 1u) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Booleans, RecoveryOffSpelling,
                         testing::Values("false", "FALSE", "0", "no", "Off", " off "));

// stdout and stderr of the command stay apart; podvisor's own lines go to stderr only.
TEST(Output, StreamsStayApart) {
  const auto r =
      run(podvisor({"--", "sh", "-c", "echo to-out; echo to-err >&2; exit 0"}, kRecoveryOff));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "to-out\n") << r.describe();
  EXPECT_NE(r.err.find("to-err\n"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace e2e
