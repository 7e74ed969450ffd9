// Faults on the process side (issue 14): out of descriptors at start and at run time, a reader
// of podvisor's output that was its child before it started (bash's `exec > >(tee log)`), and
// the fault signals (SEGV, ABRT, …) sent with kill, which are the program's, not podvisor's.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <cstring>

#include "harness.h"

namespace e2e {
namespace {

// podvisor ARGS... run by sh with RLIMIT_NOFILE lowered to `limit` first.
std::string fmt_limit(int limit) {
  return "ulimit -n " + std::to_string(limit) + " && exec \"$@\"";
}

Options with_fd_limit(int limit, std::vector<std::string> args,
                      std::map<std::string, std::optional<std::string>> env = {}) {
  Options o;
  o.argv = {"sh", "-c", fmt_limit(limit), "sh", podvisor_binary()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = std::move(env);
  return o;
}

// The number after `marker` in `text` (a pid a program printed), or -1.
pid_t number_after(std::string_view text, std::string_view marker) {
  const auto at = text.find(marker);
  if (at == std::string_view::npos) return -1;
  return static_cast<pid_t>(std::atoi(std::string(text.substr(at + marker.size())).c_str()));
}

bool gone(pid_t pid) {
  const auto state = process_state(pid);
  return !state || *state == 'Z';
}

// Single-command mode under every low descriptor limit: podvisor runs the command or says
// why it cannot, with an honest status; never SIGABRT (134), never an orphan.
class LowFdLimit : public testing::TestWithParam<int> {};

TEST_P(LowFdLimit, SingleCommandRunsOrFailsCleanly) {
  if (kSanitized) GTEST_SKIP() << "the sanitizers' runtimes fail first without descriptors";
  Child c(with_fd_limit(GetParam(), {"--", "sh", "-c", "echo started $$; exec sleep 30"},
                        {{"PROCESS_MAX_START_RETRIES", "0"}}));
  c.wait_for([&] { return c.out().find("started ") != std::string::npos; });
  const pid_t program = number_after(c.out(), "started ");
  if (program > 0) {
    c.signal(SIGTERM);
    ASSERT_EQ(c.wait_exit(), 143) << c.describe();
    EXPECT_TRUE(gone(program)) << "the program outlived podvisor\n" << c.describe();
  } else {
    const auto code = c.wait_exit();
    ASSERT_EQ(code, 1) << c.describe();
    EXPECT_NE(c.err().find("Too many open files"), std::string::npos) << c.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Limits, LowFdLimit, testing::Range(4, 12));

// Many programs at start with too few descriptors for all of them: the ones that cannot get
// their pipes fail to spawn (logged, retried, FATAL); the rest run; podvisor stays up. Each
// running program holds four descriptors (two pipes, two AUTO log files): the four limits
// run out at each of the pipes a spawn opens.
class FdExhaustionAtStart : public testing::TestWithParam<int> {};

TEST_P(FdExhaustionAtStart, SomeSpawnsFailAndTheRestRun) {
  if (kSanitized) GTEST_SKIP() << "the sanitizers' runtimes fail first without descriptors";
  TempDir dir;
  std::string conf = "[supervisord]\nlogfile=/dev/stderr\nminfds=16\nchildlogdir=@DIR@\n";
  for (int i = 0; i < 30; ++i) {
    conf +=
        "\n[program:p" + std::to_string(i) + "]\ncommand=sleep 30\nstartsecs=0\nstartretries=1\n";
  }
  Child c(with_fd_limit(GetParam(), {"-n", "-c", write_config(dir, conf)}));
  ASSERT_TRUE(c.wait_stderr("Too many open files")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("entered FATAL state")) << c.describe();
  ASSERT_FALSE(c.exited()) << c.describe();
  std::vector<pid_t> programs;
  for (int i = 0; i < 30; ++i) {
    if (auto pid = spawned_pid(c.err(), "p" + std::to_string(i))) programs.push_back(*pid);
  }
  EXPECT_FALSE(programs.empty()) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  for (const pid_t pid : programs) EXPECT_TRUE(gone(pid)) << pid << "\n" << c.describe();
}

INSTANTIATE_TEST_SUITE_P(Limits, FdExhaustionAtStart, testing::Range(32, 36));

// At run time: the program exits while podvisor has no descriptor left for its next run's
// pipes. The restart fails, is retried, and succeeds once descriptors are back.
TEST(FdExhaustion, RestartWithoutDescriptorsBacksOffAndRecovers) {
  if (kSanitized) GTEST_SKIP() << "the sanitizers' runtimes fail first without descriptors";
  Child c(podvisor({"--", "sh", "-c", "echo run $$; exec sleep 30"}));
  ASSERT_TRUE(c.wait_stdout("run ")) << c.describe();
  const pid_t first = number_after(c.out(), "run ");
  rlimit before{};
  ASSERT_EQ(::prlimit(c.pid(), RLIMIT_NOFILE, nullptr, &before), 0) << std::strerror(errno);
  ASSERT_GT(open_fds(c.pid()), 3u);
  // Only 0, 1 and 2 may be allocated: every one is taken, whatever else closes meanwhile.
  const rlimit none{3, before.rlim_max};
  ASSERT_EQ(::prlimit(c.pid(), RLIMIT_NOFILE, &none, nullptr), 0) << std::strerror(errno);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(c.wait_stderr("Too many open files")) << c.describe();
  ASSERT_FALSE(c.exited()) << c.describe();
  ASSERT_EQ(::prlimit(c.pid(), RLIMIT_NOFILE, &before, nullptr), 0) << std::strerror(errno);
  ASSERT_TRUE(c.wait_for([&] { return count(c.out(), "run ") >= 2; })) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
}

// `exec > >(tee -a FILE) 2>&1; exec podvisor …`: tee is podvisor's child from before it
// started. It is not a leftover: it gets every line, podvisor's last one included, by the
// time podvisor has exited.
constexpr int kLines = 20000;

void expect_every_line(const std::string& file, const Child& c) {
  const auto text = read_file(file);
  const auto all = lines(text);
  int numbers = 0;
  for (const auto& line : all) {
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) ++numbers;
  }
  EXPECT_EQ(numbers, kLines) << c.describe();
  EXPECT_NE(text.find("podvisor exiting with status"), std::string::npos)
      << "podvisor's last line did not reach the reader\n"
      << c.describe();
}

Options tee_then_podvisor(const std::string& file, const std::string& podvisor_args) {
  Options o;
  o.argv = {"bash", "-c",
            "exec > >(tee -a " + shell_quote(file) + " >/dev/null) 2>&1; exec " +
                shell_quote(podvisor_binary()) + " " + podvisor_args};
  return o;
}

TEST(InheritedReader, TeeGetsEveryLineInSingleCommandMode) {
  TempDir dir;
  const auto file = dir / "boot.log";
  Child c(tee_then_podvisor(file, "--no-restart -- seq " + std::to_string(kLines)));
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  expect_every_line(file, c);
}

TEST(InheritedReader, TeeGetsEveryLineInConfigMode) {
  TempDir dir;
  const auto file = dir / "boot.log";
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/stderr

[program:count]
command=seq )" + std::to_string(kLines) + R"(
startsecs=0
autorestart=false
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
)");
  Child c(tee_then_podvisor(file, "-n -c " + shell_quote(conf)));
  ASSERT_TRUE(c.wait_file(file, "exited: count (exit status 0")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  expect_every_line(file, c);
}

// The fault signals sent with kill are forwarded like any other: podvisor survives, the
// program gets them.
class FaultSignalFromKill : public testing::TestWithParam<int> {};

TEST_P(FaultSignalFromKill, IsForwardedToTheProgram) {
  const std::string name = sigabbrev_np(GetParam());
  Child c(podvisor({"--", "python3", data_path("signals.py"), name + "=print:got " + name}));
  ASSERT_TRUE(c.wait_stdout("ready")) << c.describe();
  c.signal(GetParam());
  ASSERT_TRUE(c.wait_stdout("got " + name)) << c.describe();
  ASSERT_FALSE(c.exited()) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
}

INSTANTIATE_TEST_SUITE_P(Signals, FaultSignalFromKill,
                         testing::Values(SIGABRT, SIGSYS, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP),
                         [](const testing::TestParamInfo<int>& param_info) {
                           return std::string(sigabbrev_np(param_info.param));
                         });

}  // namespace
}  // namespace e2e
