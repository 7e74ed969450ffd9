// Seed 001: a Python worker that crashes at import time must leave its logs and the reason
// in the container log. podvisor sets PYTHONUNBUFFERED=1 (unless set) and identifies itself.
#include <gtest/gtest.h>

#include "harness.h"

namespace e2e {
namespace {

const std::map<std::string, std::optional<std::string>> kRecoveryOff{
    {"PROCESS_AUTO_RECOVERY", "false"}};

TEST(Python, ImportErrorShowsTheLineAndTheReason) {
  const auto r = run(podvisor({"--", "python3", data_path("import_crash.py")}, kRecoveryOff));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(r.out, "loading model\n") << r.describe();
  EXPECT_NE(r.err.find("Traceback (most recent call last):"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("ModuleNotFoundError: No module named 'torch_fake_podvisor_e2e'"),
            std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("exited: app (exit status 1; not expected)"), std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("podvisor: ---- app failed ----"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("podvisor: reason:   exit status 1\n"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("  | loading model\n"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("  | ModuleNotFoundError: No module named 'torch_fake_podvisor_e2e'\n"),
            std::string::npos)
      << r.describe();
  // The report comes after the command's own output.
  EXPECT_LT(r.err.find("ModuleNotFoundError"), r.err.find("---- app failed ----")) << r.describe();
}

// Killed by SIGKILL (as the OOM killer does) right after print(): without PYTHONUNBUFFERED the
// line would die in Python's buffer.
TEST(Python, OutputBeforeSigkillIsNotLostInPythonsBuffer) {
  const auto r = run(podvisor(
      {"--", "python3", "-c", "import os; print('loading model'); os.kill(os.getpid(), 9)"},
      kRecoveryOff));
  ASSERT_EQ(r.code, 137) << r.describe();
  EXPECT_EQ(r.out, "loading model\n") << r.describe();
  EXPECT_NE(r.err.find("podvisor: reason:   killed by SIGKILL (out of memory?)"), std::string::npos)
      << r.describe();
}

TEST(Python, ChildEnvironmentIsSetUp) {
  const auto r = run(podvisor({"--", "sh", "-c",
                               "echo \"unbuffered=$PYTHONUNBUFFERED enabled=$SUPERVISOR_ENABLED "
                               "name=$SUPERVISOR_PROCESS_NAME\""},
                              kRecoveryOff));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "unbuffered=1 enabled=1 name=app\n") << r.describe();
}

TEST(Python, UserSetPythonUnbufferedIsKept) {
  const auto r = run(podvisor({"--", "sh", "-c", "echo \"unbuffered=$PYTHONUNBUFFERED\""},
                              {{"PROCESS_AUTO_RECOVERY", "false"}, {"PYTHONUNBUFFERED", "0"}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "unbuffered=0\n") << r.describe();
}

}  // namespace
}  // namespace e2e
