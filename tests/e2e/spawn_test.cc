// Starting the command: a command that cannot be run says why in one line and is not retried,
// as it will not fix itself (127 not found, 126 not executable), even with recovery on; the
// child gets a clean set of descriptors.
#include <gtest/gtest.h>

#include "harness.h"

namespace e2e {
namespace {

TEST(SpawnError, CommandNotFoundExits127Once) {
  // Recovery on (the default): still no retry.
  const auto r = run(podvisor({"--", "no-such-cmd-xyz", "--serve"}));
  ASSERT_EQ(r.code, 127) << r.describe();
  EXPECT_EQ(count(r.err, "no-such-cmd-xyz: No such file or directory"), 2u)
      << "once as the log line, once as the report's reason\n"
      << r.describe();
  EXPECT_EQ(count(r.err, "INFO spawnerr: can't find command 'no-such-cmd-xyz'"), 1u)
      << "supervisord's words too\n"
      << r.describe();
  EXPECT_EQ(count(r.err, "ERRO spawn error:"), 1u) << "tried once\n" << r.describe();
  EXPECT_EQ(r.err.find("spawned:"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("gave up: app entered FATAL state"), std::string::npos) << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
}

TEST(SpawnError, MissingAbsolutePathExits127) {
  TempDir dir;
  const auto missing = dir / "vllm";
  const auto r = run(podvisor({"--", missing}));
  ASSERT_EQ(r.code, 127) << r.describe();
  EXPECT_NE(r.err.find("spawn error: " + missing + ": No such file or directory"),
            std::string::npos)
      << r.describe();
}

TEST(SpawnError, NotExecutableExits126Once) {
  TempDir dir;
  const auto script = dir / "serve.sh";
  write_file(script, "#!/bin/sh\necho should not run\n", 0644);
  const auto r = run(podvisor({"--", script}));
  ASSERT_EQ(r.code, 126) << r.describe();
  EXPECT_NE(r.err.find("spawn error: " + script + ": Permission denied"), std::string::npos)
      << r.describe();
  EXPECT_EQ(count(r.err, "ERRO spawn error:"), 1u) << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
}

TEST(SpawnError, DirectoryExits126) {
  TempDir dir;
  const auto r = run(podvisor({"--", dir.path()}));
  ASSERT_EQ(r.code, 126) << r.describe();
  EXPECT_NE(r.err.find("spawn error: " + dir.path() + ":"), std::string::npos) << r.describe();
}

// PATH lookup uses the command's environment; a not-executable match is 126, not 127.
TEST(SpawnError, NotExecutableInPathExits126) {
  TempDir dir;
  write_file(dir / "serve", "#!/bin/sh\necho should not run\n", 0644);
  const auto r = run(podvisor({"--", "serve"}, {{"PATH", dir.path() + ":/usr/bin:/bin"}}));
  ASSERT_EQ(r.code, 126) << r.describe();
  EXPECT_NE(r.err.find("spawn error: serve: Permission denied"), std::string::npos) << r.describe();
}

// PROCESS_AUTO_RECOVERY=false means "run the command once, without restarts": a start that
// fails (here: its directory is missing) must not be retried either.
TEST(SpawnError, RecoveryOffDoesNotRetryAFailedStart) {
  TempDir dir;
  const auto missing = dir / "no-such-dir";
  const auto r = run(podvisor({"--", "true"}, {{"PROCESS_AUTO_RECOVERY", "false"},
                                               {"SUPERVISOR_PROGRAM__APP_DIRECTORY", missing}}));
  ASSERT_TRUE(r.code.has_value()) << r.describe();
  EXPECT_NE(*r.code, 0) << r.describe();
  EXPECT_NE(r.err.find("couldn't chdir to " + missing), std::string::npos) << r.describe();
  EXPECT_EQ(count(r.err, "ERRO spawn error:"), 1u) << "retried with recovery off\n" << r.describe();
  EXPECT_NE(r.err.find("podvisor: restarts: 0"), std::string::npos) << r.describe();
}

// With recovery on, a failed start is retried like a crash, then gives up with exit 1.
TEST(SpawnError, RecoveryOnRetriesAFailedStart) {
  TempDir dir;
  const auto missing = dir / "no-such-dir";
  const auto r = run(podvisor({"--", "true"}, {{"PROCESS_MAX_START_RETRIES", "1"},
                                               {"SUPERVISOR_PROGRAM__APP_DIRECTORY", missing}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(count(r.err, "ERRO spawn error: app: couldn't chdir to " + missing), 2u)
      << r.describe();
  EXPECT_NE(r.err.find("gave up: app entered FATAL state"), std::string::npos) << r.describe();
}

// Descriptors podvisor inherited (fd 7 here) do not leak into the command: it sees 0, 1, 2.
// The shell lists its own fds with a plain command: while a pipeline starts, the shell itself
// briefly holds the pipe's ends.
TEST(Spawn, InheritedDescriptorsAreNotPassedOn) {
  Options o = podvisor({"--", "sh", "-c",
                        "ls /proc/$PPID/fd | grep -qx 7 && echo parent-has-7; "
                        "ls /proc/$$/fd"},
                       {{"PROCESS_AUTO_RECOVERY", "false"}});
  o.extra_fds = {7};
  const auto r = run(o);
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "parent-has-7\n0\n1\n2\n") << r.describe();
}

// stdin is passed on as podvisor got it (here /dev/null, not a terminal: no terminal handover).
TEST(Spawn, StdinIsInherited) {
  const auto r = run(podvisor({"--", "sh", "-c", "readlink /proc/$$/fd/0; cat"},
                              {{"PROCESS_AUTO_RECOVERY", "false"}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "/dev/null\n") << r.describe();
}

}  // namespace
}  // namespace e2e
