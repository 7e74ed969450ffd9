#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <optional>

#include "gpu/fence.h"

namespace podvisor::gpu {
namespace {

using namespace std::chrono_literals;

// The world on a fake clock: leftovers that die on the signals they obey, a timer.
class FakeHost : public FenceHost {
 public:
  struct Leftover {
    Holder holder;
    bool alive = true;
    bool obeys_term = true;
    bool obeys_kill = true;
    bool holds_after_kill = true;  // false: closes its nodes at once on SIGKILL (dying)
  };
  Clock::time_point now() const override { return now_; }
  std::vector<Holder> collect() override {
    std::vector<Holder> out;
    for (const auto& [pid, l] : procs) {
      if (l.alive) out.push_back(l.holder);
    }
    return out;
  }
  bool refresh(Holder& h) override {
    const auto& l = procs.at(h.proc.pid);
    if (!l.alive) return false;
    h = l.holder;
    return true;
  }
  void signal(const Holder& h, int signo) override {
    signals.push_back({h.proc.pid, signo});
    auto& l = procs.at(h.proc.pid);
    if (signo == SIGKILL && l.obeys_kill) l.alive = false;
    if (signo == SIGKILL && !l.holds_after_kill) l.holder.holding = {};
    if (signo != SIGKILL && l.obeys_term) l.alive = false;
  }
  void arm(Clock::duration after) override { timer = now_ + after; }
  void log(config::LogLevel, std::string line) override { lines.push_back(std::move(line)); }

  void add(pid_t pid, std::string cmd, std::vector<int> minors, char state = 'S') {
    Leftover l;
    l.holder.proc = {pid, 1, pid, pid, state, 100, std::move(cmd), "uvm_spin_loop"};
    l.holder.holding.minors = std::move(minors);
    l.holder.attribution = Attribution::kLeftover;
    l.holder.program = "vllm";
    procs[pid] = l;
  }
  // Runs the clock to the timer and fires it; returns the phase.
  Fence::Phase fire(Fence& f) {
    EXPECT_TRUE(timer);
    now_ = *timer;
    timer.reset();
    return f.poke();
  }
  bool logged(std::string_view text) const {
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }

  Clock::time_point now_{Clock::time_point{} + 100h};
  std::optional<Clock::time_point> timer;
  std::map<pid_t, Leftover> procs;
  std::vector<std::pair<pid_t, int>> signals;
  std::vector<std::string> lines;
};

FenceOptions options(config::GpuFence mode = config::GpuFence::kAuto) {
  return {"vllm", 25, mode, SIGTERM, 10s, 60s};
}

TEST(GpuFence, NothingLeftOpensAtOnce) {
  FakeHost h;
  Fence f(h, options());
  EXPECT_EQ(f.begin(), Fence::Phase::kOpen);
  EXPECT_TRUE(h.lines.empty());
  EXPECT_TRUE(h.signals.empty());
}

// auto: leftovers that hold no GPU node are today's business, not the fence's.
TEST(GpuFence, AutoLeavesLeftoversWithoutGpuAlone) {
  FakeHost h;
  h.add(31, "sleep", {});
  Fence f(h, options());
  EXPECT_EQ(f.begin(), Fence::Phase::kOpen);
  EXPECT_TRUE(h.signals.empty());
  // true: fenced all the same.
  Fence forced(h, options(config::GpuFence::kTrue));
  EXPECT_EQ(forced.begin(), Fence::Phase::kTerm);
  EXPECT_EQ(h.signals.size(), 1u);
}

TEST(GpuFence, HolderThatObeysStopsignalOpensOnTheNextLook) {
  FakeHost h;
  h.add(311, "VLLM::EngineCore", {0});
  h.add(312, "VLLM::Worker_TP0", {0});
  Fence f(h, options());
  EXPECT_EQ(f.begin(), Fence::Phase::kTerm);
  EXPECT_TRUE(
      h.logged("gpu fence: vllm left 2 processes holding GPU 0: pid 311 "
               "'VLLM::EngineCore' (own session), pid 312 'VLLM::Worker_TP0' (own "
               "session); sending SIGTERM"));
  EXPECT_EQ(h.signals, (std::vector<std::pair<pid_t, int>>{{311, SIGTERM}, {312, SIGTERM}}));
  EXPECT_LE(*h.timer - h.now_, 20ms);  // looks again soon
  EXPECT_EQ(h.fire(f), Fence::Phase::kOpen);
  EXPECT_TRUE(h.logged("gpu fence: GPU 0 free again after 0.0s; restarting vllm"));
  EXPECT_EQ(f.elapsed(), 10ms);
}

TEST(GpuFence, IgnoredStopsignalGetsSigkillAfterStopwaitsecs) {
  FakeHost h;
  h.add(311, "VLLM::EngineCore", {0, 1});
  h.procs[311].obeys_term = false;
  Fence f(h, options());
  f.begin();
  Fence::Phase phase = Fence::Phase::kTerm;
  while (phase == Fence::Phase::kTerm) phase = h.fire(f);
  EXPECT_EQ(phase, Fence::Phase::kKill);
  EXPECT_EQ(h.now_ - (Clock::time_point{} + 100h), 10s);
  EXPECT_TRUE(h.logged("waiting for 1 leftover process of vllm to release GPU 0, GPU 1 (pid 311"));
  EXPECT_TRUE(h.logged("gpu fence: sending SIGKILL to pid 311 'VLLM::EngineCore'"));
  EXPECT_EQ(h.signals.back(), (std::pair<pid_t, int>{311, SIGKILL}));
  EXPECT_EQ(h.fire(f), Fence::Phase::kOpen);
  EXPECT_TRUE(h.logged("GPU 0, GPU 1 free again after 10.0s"));
}

// Past SIGKILL, a process that closed its nodes is dying: the GPU is free.
TEST(GpuFence, KilledProcessThatReleasedItsNodesCounts) {
  FakeHost h;
  h.add(311, "stuck", {0});
  h.procs[311].obeys_term = false;
  h.procs[311].obeys_kill = false;
  h.procs[311].holds_after_kill = false;
  Fence f(h, options());
  f.begin();
  Fence::Phase phase = Fence::Phase::kTerm;
  while (phase == Fence::Phase::kTerm) phase = h.fire(f);
  EXPECT_EQ(h.fire(f), Fence::Phase::kOpen);
}

TEST(GpuFence, UnkillableHolderFailsAfterTheTimeoutNamingStateAndWchan) {
  FakeHost h;
  h.add(311, "VLLM::EngineCore", {0}, 'D');
  h.procs[311].obeys_term = h.procs[311].obeys_kill = false;
  Fence f(h, options());
  f.begin();
  Fence::Phase phase = Fence::Phase::kTerm;
  int looks = 0;
  while (phase == Fence::Phase::kTerm || phase == Fence::Phase::kKill) {
    phase = h.fire(f);
    ASSERT_LT(++looks, 1000);
  }
  EXPECT_EQ(phase, Fence::Phase::kFailed);
  EXPECT_EQ(h.now_ - (Clock::time_point{} + 100h), 60s);
  EXPECT_EQ(f.failure(),
            "GPU fence: pid 311 'VLLM::EngineCore' still holds GPU 0 50.0s after SIGKILL (state "
            "D, uninterruptible sleep, wchan uvm_spin_loop); gpu_fence_timeout 1m00s passed");
  // Slower looks past the first ones.
  EXPECT_LT(looks, 400);
}

// A timeout shorter than stopwaitsecs: the failure comes before any SIGKILL.
TEST(GpuFence, TimeoutBeforeStopwaitsecs) {
  FakeHost h;
  h.add(311, "python hold.py", {0}, 'R');
  h.procs[311].obeys_term = false;
  auto o = options();
  o.timeout = 500ms;
  Fence f(h, o);
  f.begin();
  Fence::Phase phase = Fence::Phase::kTerm;
  while (phase == Fence::Phase::kTerm) phase = h.fire(f);
  EXPECT_EQ(phase, Fence::Phase::kFailed);
  EXPECT_NE(f.failure().find("still holds GPU 0 0.5s after SIGTERM (state R, running"),
            std::string::npos)
      << f.failure();
  for (const auto& s : h.signals) EXPECT_NE(s.second, SIGKILL);
}

TEST(GpuFence, CancelStopsLooking) {
  FakeHost h;
  h.add(311, "x", {0});
  h.procs[311].obeys_term = false;
  Fence f(h, options());
  f.begin();
  f.cancel();
  EXPECT_EQ(f.phase(), Fence::Phase::kIdle);
  EXPECT_EQ(f.poke(), Fence::Phase::kIdle);
}

// Unreadable descriptors may hide a GPU: auto fences them and says so.
TEST(GpuFence, UnreadableLeftoverIsFencedInAuto) {
  FakeHost h;
  h.add(311, "other-user", {});
  h.procs[311].holder.holding.error = "cannot read fds of pid 311: add CAP_SYS_PTRACE";
  Fence f(h, options());
  EXPECT_EQ(f.begin(), Fence::Phase::kTerm);
  EXPECT_TRUE(h.logged("cannot read fds of pid 311: add CAP_SYS_PTRACE"));
  EXPECT_EQ(h.fire(f), Fence::Phase::kOpen);
  EXPECT_TRUE(h.logged("leftovers gone after"));
}

}  // namespace
}  // namespace podvisor::gpu
