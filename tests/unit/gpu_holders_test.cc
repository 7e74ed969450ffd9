#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu/holders.h"
#include "gpu_fake_proc.h"

// Designated initializers of the fake processes name only what each test needs.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace podvisor::gpu {
namespace {

using fake::ProcTree;

const Holder* find(const std::vector<Holder>& hs, pid_t pid) {
  for (const auto& h : hs) {
    if (h.proc.pid == pid) return &h;
  }
  return nullptr;
}

// podvisor is 10; program "vllm" runs now as 20; its last run's setsid worker 31 (with the
// marker) and that worker's child 32 (environment cleared) hold GPU 0; 41, a child of the
// running "web", holds GPU 1; 50 holds GPU 1 and belongs to nobody.
class Holders : public ::testing::Test {
 protected:
  void SetUp() override {
    t.add(10, {.ppid = 1, .cmdline = "podvisor -c x"});
    t.add(20, {.ppid = 10,
               .starttime = 5000,
               .cmdline = "vllm serve",
               .env = {{"SUPERVISOR_PROCESS_NAME", "vllm"}},
               .fds = {"nvidia0", "nvidiactl"}});
    t.add(31, {.ppid = 10,
               .pgid = 31,
               .sid = 31,
               .starttime = 2000,
               .cmdline = "VLLM::EngineCore",
               .env = {{"SUPERVISOR_PROCESS_NAME", "vllm"}},
               .fds = {"/dev/null", "nvidia0", "nvidia-uvm", "nvidia0"}});
    t.add(32, {.ppid = 31,
               .pgid = 31,
               .sid = 31,
               .starttime = 2100,
               .cmdline = "worker",
               .fds = {"nvidia0"}});
    t.add(40, {.ppid = 10,
               .starttime = 3000,
               .cmdline = "web",
               .env = {{"SUPERVISOR_PROCESS_NAME", "web"}}});
    t.add(41, {.ppid = 40,
               .pgid = 40,
               .sid = 40,
               .starttime = 3100,
               .cmdline = "web-worker",
               .env = {{"SUPERVISOR_PROCESS_NAME", "web"}},
               .fds = {"nvidia1"}});
    t.add(50, {.ppid = 1, .starttime = 100, .cmdline = "python stray.py", .fds = {"nvidia1"}});
    t.add(60, {.ppid = 10, .cmdline = "idle", .fds = {"/dev/null", "/tmp/x"}});
  }
  ProcTree t;
  ProcReader reader{t.proc(), t.dev()};
  std::vector<Leader> running{{"vllm", 20}, {"web", 40}};
};

TEST_F(Holders, FindsAndAttributesEveryHolder) {
  const auto hs = scan_holders(reader, running, {10});
  EXPECT_EQ(hs.size(), 5u);
  const auto* now = find(hs, 20);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->attribution, Attribution::kProgram);
  EXPECT_TRUE(now->holding.ctl);
  const auto* worker = find(hs, 31);
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->holding.minors, std::vector<int>{0});  // one entry for two fds
  EXPECT_TRUE(worker->holding.uvm);
  EXPECT_EQ(worker->owner(), "leftover of vllm's last run");
  EXPECT_EQ(worker->name(), "pid 31 'VLLM::EngineCore'");
  EXPECT_EQ(worker->proc.sid, 31);
  EXPECT_EQ(worker->proc.starttime, 2000u);
  EXPECT_EQ(worker->proc.wchan, "do_wait");
  // Its child cleared the environment: found through its parent.
  EXPECT_EQ(find(hs, 32)->owner(), "leftover of vllm's last run");
  EXPECT_EQ(find(hs, 41)->owner(), "program web");
  EXPECT_EQ(find(hs, 50)->owner(), "unknown");
  EXPECT_EQ(find(hs, 50)->proc.cmdline, "python stray.py");
  EXPECT_FALSE(find(hs, 60));
  EXPECT_EQ(held_devices(find(hs, 41)->holding), "GPU 1");
}

// A marked process that started after the program's running leader is its current run's.
TEST_F(Holders, MarkedProcessNewerThanTheLeaderIsTheCurrentRun) {
  t.add(70, {.ppid = 10,
             .starttime = 6000,
             .cmdline = "escaped",
             .env = {{"SUPERVISOR_PROCESS_NAME", "vllm"}},
             .fds = {"nvidia0"}});
  EXPECT_EQ(find(scan_holders(reader, running, {10}), 70)->owner(), "program vllm");
}

TEST_F(Holders, ZombiesAndDeletedNodes) {
  t.set_state(50, 'Z');
  t.add(80, {.ppid = 10, .cmdline = "deleted", .fds = {t.dev() + "/nvidia3 (deleted)"}});
  const auto hs = scan_holders(reader, running, {10});
  EXPECT_FALSE(find(hs, 50));
  ASSERT_TRUE(find(hs, 80));
  EXPECT_EQ(find(hs, 80)->holding.minors, std::vector<int>{3});
}

// The real /dev path is recognised too, whatever the configured directory.
TEST_F(Holders, RealDevicePathsMatch) {
  t.add(90, {.ppid = 10, .cmdline = "real", .fds = {"/dev/nvidia7", "/dev/nvidia-uvm-tools"}});
  const auto hs = scan_holders(reader, running, {10});
  const auto* h = find(hs, 90);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->holding.minors, std::vector<int>{7});
  EXPECT_TRUE(h->holding.uvm);
}

TEST_F(Holders, LeftoversOfTheLastRun) {
  // The last run's leader was 25: 26 stayed in its group, 27 is in its session.
  t.add(26, {.ppid = 10, .pgid = 25, .sid = 25, .cmdline = "group-member"});
  t.add(27, {.ppid = 10, .pgid = 27, .sid = 25, .cmdline = "session-member"});
  LeftoverQuery q{"vllm", 25, 10, running, {}};
  const auto left = find_leftovers(reader, q);
  std::vector<pid_t> pids;
  for (const auto& h : left) pids.push_back(h.proc.pid);
  // Not 20 (the running leader), not 41 (web's), not 50 (not below podvisor).
  EXPECT_EQ(pids, (std::vector<pid_t>{26, 27, 31, 32}));
  EXPECT_EQ(find(left, 31)->holding.minors, std::vector<int>{0});
  EXPECT_EQ(find(left, 31)->proc.cmdline, "VLLM::EngineCore");
  EXPECT_EQ(find(left, 26)->attribution, Attribution::kLeftover);
}

TEST_F(Holders, RefreshNoticesExitZombieAndReuse) {
  LeftoverQuery q{"vllm", 25, 10, running, {}};
  auto left = find_leftovers(reader, q);
  auto h = *find(left, 31);
  EXPECT_TRUE(refresh(reader, h));
  t.drop_fds(31);
  EXPECT_TRUE(refresh(reader, h));
  EXPECT_FALSE(h.holding.any());
  t.set_state(31, 'Z');
  EXPECT_FALSE(refresh(reader, h));
  t.remove(31);
  EXPECT_FALSE(refresh(reader, h));
  t.add(31, {.ppid = 10, .starttime = 9999, .cmdline = "someone else"});  // pid reused
  EXPECT_FALSE(refresh(reader, h));
}

// Unreadable fds (another user's process, without CAP_SYS_PTRACE) are reported, never read
// as "holds nothing". Run as an unprivileged user in a child: root reads everything.
TEST_F(Holders, UnreadableFdsAreReported) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  std::filesystem::permissions(t.proc() + "/50/fd", std::filesystem::perms::owner_all);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(3);
    const auto hs = scan_holders(reader, {}, {});
    const auto* h = find(hs, 50);
    _exit(h && h->holding.error == "cannot read fds of pid 50: add CAP_SYS_PTRACE" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace podvisor::gpu
