// PID 1 duties: every orphan is reaped, and nothing outlives podvisor after SIGTERM, neither
// a grandchild that called setsid nor one that ignores SIGTERM. Both as PID 1 of a new PID
// namespace (as in a container) and as a child subreaper (podvisor not PID 1).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "harness.h"

namespace e2e {
namespace {

#define SKIP_WITHOUT_UNSHARE()                                        \
  do {                                                                \
    if (const auto why = unshare_unavailable()) GTEST_SKIP() << *why; \
  } while (0)

std::vector<std::string> in_pid_namespace(std::vector<std::string> podvisor_args) {
  std::vector<std::string> argv{"unshare", "--pid", "--fork", "--mount-proc", podvisor_binary()};
  argv.insert(argv.end(), podvisor_args.begin(), podvisor_args.end());
  return argv;
}

// "pid N KIND" lines printed by data/leftovers.sh.
std::map<std::string, pid_t> printed_pids(const std::string& out) {
  std::map<std::string, pid_t> pids;
  // Whole lines only.
  for (const auto& line : lines(out.substr(0, out.rfind('\n') + 1))) {
    if (!line.starts_with("pid ")) continue;
    const auto space = line.find(' ', 4);
    pids[line.substr(space + 1)] = static_cast<pid_t>(std::atoi(line.c_str() + 4));
  }
  return pids;
}

bool leftovers_ready(const Child& c) {
  return printed_pids(c.out()).size() == 3 && c.out().find("ready\n") != std::string::npos;
}

// Gone: no such process, or a zombie (dead; only its parent has not collected it yet).
void expect_gone(pid_t pid, const std::string& what, const Child& c) {
  const auto state = process_state(pid);
  EXPECT_TRUE(!state || *state == 'Z') << what << " (pid " << pid << ", " << process_name(pid)
                                       << ") outlived podvisor in state " << *state << "\n"
                                       << c.describe();
}

void expect_no_live_children_left(const Child& c) {
  // The test process is a subreaper: whatever podvisor left behind is its child now.
  for (const pid_t pid : children(getpid())) {
    const auto state = process_state(pid);
    EXPECT_TRUE(!state || *state == 'Z')
        << "pid " << pid << " (" << process_name(pid) << ") outlived podvisor\n"
        << c.describe();
  }
}

TEST(Pid1, ReapsHundredOrphansInPidNamespace) {
  SKIP_WITHOUT_UNSHARE();
  Options o;
  o.argv = in_pid_namespace({"--", "sh", data_path("orphans.sh"), "100"});
  o.env = {{"PROCESS_AUTO_RECOVERY", "false"}, {"LOG_LEVEL", "debug"}};
  const auto r = run(o, 30s);
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.out.find("started 100 orphans"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("clean after"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("started with pid 1\n"), std::string::npos) << r.describe();
  EXPECT_EQ(count(r.err, "reaped orphan pid"), 100u) << r.describe();
}

TEST(Pid1, ReapsHundredOrphansAsSubreaper) {
  Child c(podvisor({"--", "sh", "-c",
                    "i=0; while [ $i -lt 100 ]; do ( sleep 0.1 & ); i=$((i+1)); done; "
                    "echo started; exec sleep 1000"},
                   {{"LOG_LEVEL", "debug"}}));
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), "reaped orphan pid") == 100; }, 30s))
      << c.describe();
  // All reaped: podvisor's only child is the command, and no zombie is left under it.
  const auto kids = children(c.pid());
  ASSERT_EQ(kids.size(), 1u) << c.describe();
  EXPECT_NE(process_state(kids[0]), 'Z') << c.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 143) << c.describe();
}

TEST(Pid1, NothingLeftBehindAfterSigtermAsSubreaper) {
  Child c(podvisor({"--", "sh", data_path("leftovers.sh")}));
  ASSERT_TRUE(c.wait_for([&] { return leftovers_ready(c); })) << c.describe();
  const auto pids = printed_pids(c.out());
  ASSERT_EQ(pids.size(), 3u) << c.describe();
  for (const auto& [what, pid] : pids) {
    const auto state = process_state(pid);
    ASSERT_TRUE(state && *state != 'Z') << what << " is not running\n" << c.describe();
    const auto below = descendants(c.pid());
    ASSERT_NE(std::find(below.begin(), below.end(), pid), below.end())
        << what << " is not below podvisor\n"
        << c.describe();
  }
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
  for (const auto& [what, pid] : pids) expect_gone(pid, what, c);
  expect_no_live_children_left(c);
  // The stop signal reached the script's group; what it left (the setsid one, and the two
  // that ignore SIGTERM) gets SIGTERM from podvisor's final sweep, and the two that ignore
  // it get SIGKILL after the grace.
  EXPECT_NE(c.err().find("sending SIGTERM to 3 leftover process(es)"), std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("sending SIGKILL to 2 leftover process(es)"), std::string::npos)
      << c.describe();
}

TEST(Pid1, NothingLeftBehindAfterSigtermInPidNamespace) {
  SKIP_WITHOUT_UNSHARE();
  Options o;
  o.argv = in_pid_namespace({"--", "sh", data_path("leftovers.sh")});
  Child c(o);
  ASSERT_TRUE(c.wait_for([&] { return leftovers_ready(c); })) << c.describe();
  // The printed pids are the namespace's; from here podvisor and its tree have host pids.
  pid_t podvisor_pid = -1;
  for (const pid_t pid : children(c.pid())) {
    if (process_name(pid) == "podvisor") podvisor_pid = pid;
  }
  ASSERT_GT(podvisor_pid, 0) << c.describe();
  const auto below = descendants(podvisor_pid);
  // The script and the three sleeps.
  ASSERT_GE(below.size(), 4u) << c.describe();
  // SIGTERM to PID 1 of the namespace, from outside it.
  ASSERT_EQ(::kill(podvisor_pid, SIGTERM), 0);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
  for (const pid_t pid : below) expect_gone(pid, "a process below podvisor", c);
  expect_no_live_children_left(c);
  EXPECT_NE(c.err().find("started with pid 1\n"), std::string::npos) << c.describe();
  // The stop signal reached the script's group; what it left (the setsid one, and the two
  // that ignore SIGTERM) gets SIGTERM from podvisor's final sweep, and the two that ignore
  // it get SIGKILL after the grace.
  EXPECT_NE(c.err().find("sending SIGTERM to 3 leftover process(es)"), std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("sending SIGKILL to 2 leftover process(es)"), std::string::npos)
      << c.describe();
}

}  // namespace
}  // namespace e2e
