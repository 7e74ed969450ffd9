// os::spawn on real children: what the child is given (cwd, umask, env, fds, its own process
// group) and how a failure before or at exec comes back to the parent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "os/spawn.h"

namespace podvisor::os {
namespace {

constexpr int kWaitMs = 10000;  // a bound for every wait; the events come much sooner

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

class Spawn : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/podvisor-spawn-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    out_read_.fd = fds[0];
    out_write_.fd = fds[1];
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SpawnRequest shell(const std::string& script) {
    SpawnRequest r;
    r.argv = {"/bin/sh", "-c", script};
    r.env = {"PATH=/usr/bin:/bin"};
    r.stdout_fd = out_write_.fd;
    return r;
  }

  // Everything the child writes to stdout, up to end of file (every writer gone).
  std::string output() {
    out_write_.reset();
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{out_read_.fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        ADD_FAILURE() << "no end of file from the child; so far: " << out;
        return out;
      }
      char buf[4096];
      const auto n = ::read(out_read_.fd, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

  // The child's wait status, waiting at most kWaitMs for it to exit.
  static int wait_exit(pid_t pid) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      const int ready = ::poll(&p, 1, kWaitMs);
      ::close(pidfd);
      if (ready <= 0) {
        ::kill(pid, SIGKILL);
        ADD_FAILURE() << "child " << pid << " did not exit";
      }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  std::string executable(const std::string& name, const std::string& text, mode_t mode) {
    const auto path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  std::string dir_;
  Fd out_read_, out_write_;
};

TEST_F(Spawn, ChildGetsDirectoryUmaskEnvironmentAndStdout) {
  auto r = shell("echo \"$GREETING\"; pwd -P; umask");
  r.env.push_back("GREETING=hello there");
  r.directory = dir_;
  r.umask = 027;
  const auto result = spawn(r);
  ASSERT_GT(result.pid, 0) << result.message;
  EXPECT_EQ(result.error, 0);
  const auto real = std::filesystem::canonical(dir_).string();
  EXPECT_EQ(output(), "hello there\n" + real + "\n0027\n");
  const int status = wait_exit(result.pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(Spawn, OnlyTheGivenEnvironmentReachesTheChild) {
  ASSERT_EQ(::setenv("PODVISOR_SPAWN_TEST_LEAK", "1", 1), 0);
  const auto result = spawn(shell("echo \"[${PODVISOR_SPAWN_TEST_LEAK:-unset}]\""));
  ::unsetenv("PODVISOR_SPAWN_TEST_LEAK");
  ASSERT_GT(result.pid, 0) << result.message;
  EXPECT_EQ(output(), "[unset]\n");
  wait_exit(result.pid);
}

TEST_F(Spawn, StderrGoesWhereAsked) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  Fd err_read(fds[0]), err_write(fds[1]);
  auto r = shell("echo out; echo err >&2");
  r.stderr_fd = err_write.fd;
  const auto result = spawn(r);
  ASSERT_GT(result.pid, 0) << result.message;
  err_write.reset();
  EXPECT_EQ(output(), "out\n");
  pollfd p{err_read.fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, kWaitMs), 1);
  char buf[16] = {};
  EXPECT_EQ(::read(err_read.fd, buf, sizeof buf - 1), 4);
  EXPECT_STREQ(buf, "err\n");
  wait_exit(result.pid);
}

TEST_F(Spawn, ChildLeadsItsOwnProcessGroup) {
  // Field 5 of /proc/PID/stat is the process group ("(sh)" holds no space).
  const auto result = spawn(shell("read -r a b c d pgrp rest < /proc/$$/stat; echo $pgrp"));
  ASSERT_GT(result.pid, 0) << result.message;
  EXPECT_EQ(output(), std::to_string(result.pid) + "\n");
  EXPECT_NE(result.pid, ::getpgrp());
  wait_exit(result.pid);
}

TEST_F(Spawn, DescriptorsAbove2AreClosed) {
  // A descriptor podvisor forgot to mark close-on-exec must not leak into the child.
  const int leaked = ::fcntl(out_read_.fd, F_DUPFD, 10);
  ASSERT_GE(leaked, 10);
  Fd keep(leaked);
  const auto n = std::to_string(leaked);
  const auto result =
      spawn(shell("if [ -e /proc/$$/fd/" + n + " ]; then echo open; else echo closed; fi"));
  ASSERT_GT(result.pid, 0) << result.message;
  EXPECT_EQ(output(), "closed\n");
  wait_exit(result.pid);
}

TEST_F(Spawn, ExitStatusIsTheChilds) {
  const auto result = spawn(shell("exit 7"));
  ASSERT_GT(result.pid, 0) << result.message;
  const int status = wait_exit(result.pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

// A command that cannot run, found out in the parent (lookup) or in the child (execve, whose
// errno travels back over the close-on-exec pipe; spawn reaps that child): no pid, the
// errno, and a flag that retrying will not help.
struct Unusable {
  const char* label;
  const char* file_text;  // null: no such file
  mode_t mode;
  int error;
};

void PrintTo(const Unusable& u, std::ostream* os) { *os << u.label; }

class UnusableCommand : public Spawn, public testing::WithParamInterface<Unusable> {};

TEST_P(UnusableCommand, ReportsItsErrno) {
  const auto& c = GetParam();
  SpawnRequest r;
  r.argv = {c.file_text ? executable("cmd", c.file_text, c.mode) : dir_ + "/missing"};
  const auto result = spawn(r);
  EXPECT_EQ(result.pid, -1);
  EXPECT_EQ(result.error, c.error);
  EXPECT_EQ(result.message, r.argv[0] + ": " + std::strerror(c.error));
  EXPECT_TRUE(result.command_unusable);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UnusableCommand,
    testing::Values(Unusable{"NotAProgram", "just text, no #! line\n", 0755, ENOEXEC},
                    Unusable{"MissingInterpreter", "#!/no/such/interpreter\n", 0755, ENOENT},
                    Unusable{"NotExecutable", "#!/bin/sh\n", 0644, EACCES},
                    Unusable{"Missing", nullptr, 0, ENOENT}),
    [](const auto& param_info) { return std::string(param_info.param.label); });

TEST_F(Spawn, CommandIsLookedUpInThePathItIsGiven) {
  SpawnRequest r;
  r.argv = {"podvisor-no-such-command"};
  r.env = {"PATH=" + dir_};
  const auto result = spawn(r);
  EXPECT_EQ(result.pid, -1);
  EXPECT_EQ(result.error, ENOENT);
  EXPECT_EQ(result.message, "podvisor-no-such-command: No such file or directory");
  EXPECT_TRUE(result.command_unusable);
}

TEST_F(Spawn, EmptyCommandIsUnusable) {
  const auto result = spawn(SpawnRequest{});
  EXPECT_EQ(result.pid, -1);
  EXPECT_EQ(result.error, EINVAL);
  EXPECT_TRUE(result.command_unusable);
}

// A step before exec that fails is reported with its errno, and retrying may help.
TEST_F(Spawn, ChdirFailureIsReportedAndRetryable) {
  auto r = shell("true");
  r.directory = dir_ + "/missing";
  const auto result = spawn(r);
  EXPECT_EQ(result.pid, -1);
  EXPECT_EQ(result.error, ENOENT);
  EXPECT_EQ(result.message, "couldn't chdir to " + dir_ + "/missing: No such file or directory");
  EXPECT_FALSE(result.command_unusable);
}

TEST(FindExecutable, SearchesPathInOrderAndTellsWhyNot) {
  int error = 0;
  EXPECT_EQ(find_executable("sh", "/podvisor-nowhere:/bin", error), "/bin/sh");
  EXPECT_FALSE(find_executable("podvisor-no-such-command", "/bin:/usr/bin", error));
  EXPECT_EQ(error, ENOENT);
  EXPECT_FALSE(find_executable("/etc", "/bin", error));  // a directory is not executable
  EXPECT_EQ(error, EACCES);
  EXPECT_FALSE(find_executable("", "/bin", error));
  EXPECT_EQ(error, ENOENT);
}

TEST(BuildEnvironment, LaterLayersWinOverEarlierAndOverEnviron) {
  ASSERT_EQ(::setenv("PODVISOR_SPAWN_TEST_BASE", "environ", 1), 0);
  const auto env = build_environment(
      {{{"PODVISOR_SPAWN_TEST_A", "first"}},
       {{"PODVISOR_SPAWN_TEST_A", "second"}, {"PODVISOR_SPAWN_TEST_BASE", "layer"}}});
  ::unsetenv("PODVISOR_SPAWN_TEST_BASE");
  auto has = [&](const std::string& entry) {
    return std::find(env.begin(), env.end(), entry) != env.end();
  };
  EXPECT_TRUE(has("PODVISOR_SPAWN_TEST_A=second"));
  EXPECT_TRUE(has("PODVISOR_SPAWN_TEST_BASE=layer"));
  EXPECT_FALSE(has("PODVISOR_SPAWN_TEST_A=first"));
  EXPECT_FALSE(has("PODVISOR_SPAWN_TEST_BASE=environ"));
}

}  // namespace
}  // namespace podvisor::os
