// SIGHUP in config mode re-reads the file and applies the difference, as `supervisorctl
// update`: added programs start, removed ones stop, changed ones restart, the rest is left
// alone (SPEC §5; issue 3).
#include <gtest/gtest.h>

#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

std::string program(const std::string& name, const std::string& label = "") {
  return "\n[program:" + name + "]\ncommand=sh @DATA@/lifecycle.sh " +
         (label.empty() ? name : label) + " @DIR@/events\nstartsecs=0\n";
}

constexpr std::string_view kHeader = "[supervisord]\nlogfile=/dev/null\n";

bool alive(pid_t pid) {
  const auto state = process_state(pid);
  return state && *state != 'Z';
}

TEST(ConfigReload, SighupStartsAddedAndStopsRemovedPrograms) {
  TempDir dir;
  const auto conf = write_config(dir, std::string(kHeader) + program("a") + program("b"));
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start a")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "events", "start b")) << c.describe();
  // A program may write before podvisor has logged its spawn.
  ASSERT_TRUE(c.wait_stderr("spawned: 'b' with pid")) << c.describe();
  const auto pid_a = spawned_pid(c.err(), "a");
  ASSERT_TRUE(pid_a) << c.describe();

  write_config(dir, std::string(kHeader) + program("a") + program("c"));
  c.signal(SIGHUP);
  ASSERT_TRUE(c.wait_stderr("spawned: 'c' with pid")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("stopped: b")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "events", "start c")) << c.describe();
  EXPECT_NE(read_file(dir / "events").find("stop b"), std::string::npos) << c.describe();
  // a was left alone.
  EXPECT_TRUE(alive(*pid_a)) << c.describe();
  EXPECT_EQ(spawned_pid(c.err(), "a"), pid_a) << c.describe();
  EXPECT_EQ(c.err().find("waiting for a to stop"), std::string::npos) << c.describe();
  EXPECT_FALSE(c.exited()) << c.describe();

  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'a' with pid"), 1u) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'b' with pid"), 1u) << c.describe();
  EXPECT_NE(c.err().find("stopped: a"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("stopped: c"), std::string::npos) << c.describe();
}

TEST(ConfigReload, SighupRestartsAChangedProgram) {
  TempDir dir;
  const auto conf = write_config(dir, std::string(kHeader) + program("a", "a-v1") + program("b"));
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start a-v1")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "events", "start b")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("spawned: 'b' with pid")) << c.describe();
  const auto old_pid = spawned_pid(c.err(), "a");
  const auto pid_b = spawned_pid(c.err(), "b");
  ASSERT_TRUE(old_pid && pid_b) << c.describe();

  write_config(dir, std::string(kHeader) + program("a", "a-v2") + program("b"));
  c.signal(SIGHUP);
  ASSERT_TRUE(c.wait_file(dir / "events", "start a-v2")) << c.describe();
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), "spawned: 'a' with pid") == 2; }))
      << c.describe();
  EXPECT_NE(read_file(dir / "events").find("stop a-v1"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("stopped: a"), std::string::npos) << c.describe();
  const auto new_pid = spawned_pid(c.err(), "a");
  ASSERT_TRUE(new_pid) << c.describe();
  EXPECT_NE(*new_pid, *old_pid) << c.describe();
  EXPECT_TRUE(alive(*pid_b)) << "b did not change and keeps running\n" << c.describe();

  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'a' with pid"), 2u) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'b' with pid"), 1u) << c.describe();
}

// Nothing changed: nothing is stopped or started. The stop a reload would cause is logged in
// the same step as the reload, so it would be there before the SIGTERM's.
TEST(ConfigReload, SighupWithAnUnchangedFileChangesNothing) {
  TempDir dir;
  const auto conf = write_config(dir, std::string(kHeader) + program("a"));
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start a")) << c.describe();
  c.signal(SIGHUP);
  ASSERT_TRUE(c.wait_stderr("SIGHUP")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'a' with pid"), 1u) << c.describe();
  EXPECT_EQ(count(c.err(), "waiting for a to stop"), 1u) << c.describe();
  EXPECT_EQ(read_file(dir / "events"), "start a\nstop a\n") << c.describe();
}

// A file made invalid before SIGHUP: the error names file and line, the programs run on.
TEST(ConfigReload, InvalidFileOnSighupKeepsTheRunningPrograms) {
  TempDir dir;
  const auto conf = write_config(dir, std::string(kHeader) + program("a"));
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start a")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("spawned: 'a' with pid")) << c.describe();
  const auto pid_a = spawned_pid(c.err(), "a");
  ASSERT_TRUE(pid_a) << c.describe();
  // Line 7: "startsecs=soon".
  write_config(dir, std::string(kHeader) + program("a") + "startsecs=soon\n");
  c.signal(SIGHUP);
  ASSERT_TRUE(c.wait_stderr(conf + ":7: ")) << c.describe();
  EXPECT_FALSE(c.exited()) << c.describe();
  EXPECT_TRUE(alive(*pid_a)) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'a' with pid"), 1u) << c.describe();
}

}  // namespace
}  // namespace e2e
