// The GPU fence: before a program runs again, the leftovers of its last run (its process
// group, its session, processes that carry its environment marker, and their descendants)
// are stopped and awaited until none lives or holds a GPU node, so the next run does not
// start into memory a dead run still holds. A pure state machine on an injected world, so
// it runs on a fake clock in tests (docs/gpu.md).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "config/spec.h"
#include "gpu/holders.h"

namespace podvisor::gpu {

using Clock = std::chrono::steady_clock;

// What the fence needs from the world; the runtime reads /proc and arms a loop timer.
class FenceHost {
 public:
  virtual ~FenceHost() = default;
  virtual Clock::time_point now() const = 0;
  // The live leftovers of the program's last run, each with what it holds.
  virtual std::vector<Holder> collect() = 0;
  // Reads `h` again; false when it is gone (exited, reaped or a zombie, pid reused).
  virtual bool refresh(Holder& h) = 0;
  // Signals h's pid, if it is still the process that was collected (starttime checked).
  virtual void signal(const Holder& h, int signo) = 0;
  // One timer: arming replaces the pending one. The fence calls on_timer when it fires.
  virtual void arm(Clock::duration after) = 0;
  virtual void log(config::LogLevel level, std::string line) = 0;
};

struct FenceOptions {
  std::string program;
  pid_t last_leader = 0;
  config::GpuFence mode = config::GpuFence::kAuto;
  int stopsignal = 15;
  std::chrono::milliseconds stopwaitsecs{10000};
  std::chrono::milliseconds timeout{60000};
};

class Fence {
 public:
  enum class Phase { kIdle, kTerm, kKill, kOpen, kFailed };

  Fence(FenceHost& host, FenceOptions options) : host_(host), o_(std::move(options)) {}

  // Looks for leftovers: kOpen when there is nothing to wait for (auto: none holds a GPU
  // node), else the fence is up and ends in open or failed, reported by on_timer / poke.
  Phase begin();
  // The timer fired, or a child was reaped: look again. Returns the phase after.
  Phase poke();
  // Stops looking (the program was stopped meanwhile); signals already sent stay sent.
  void cancel() { phase_ = Phase::kIdle; }

  Phase phase() const { return phase_; }
  // Set in kFailed: "pid 311 'VLLM::EngineCore' still holds GPU 0 60 s after SIGKILL (state
  // D, wchan uvm_spin_loop)".
  const std::string& failure() const { return failure_; }
  const std::vector<Holder>& leftovers() const { return leftovers_; }
  // How long the fence stood (begin to open), for the log and the bench.
  Clock::duration elapsed() const { return ended_ - began_; }

 private:
  void signal_all(int signo);
  void arm_next();
  std::string list() const;

  FenceHost& host_;
  FenceOptions o_;
  Phase phase_ = Phase::kIdle;
  std::vector<Holder> leftovers_;  // those still alive
  std::vector<int> minors_;        // the GPUs they held at the start
  Clock::time_point began_{};
  Clock::time_point ended_{};
  Clock::time_point killed_at_{};
  Clock::duration poll_{};
  Clock::time_point next_progress_{};
  std::string failure_;
};

// "own session", "process group", "" : how a leftover escaped its program's end.
std::string escape_note(const Holder& h, pid_t last_leader);

}  // namespace podvisor::gpu
