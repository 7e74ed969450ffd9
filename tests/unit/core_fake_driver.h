// The core tests' stand-in for the runtime: a manual clock, a scripted spawner and one timer
// per process, so the Process and Supervisor rules run without real time or processes.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/process.h"
#include "core/supervisor.h"

namespace podvisor::core::fake {

using namespace std::chrono_literals;

inline int exited(int code) { return code << 8; }  // a wait status for exit(code)
inline int killed(int signo) { return signo; }     // a wait status for death by signal

// A manual clock, a spawner that hands out pids or scripted errors, and one timer per
// process, so transitions can be checked without real time passing.
class FakeDriver : public ProcessDriver {
 public:
  Clock::time_point now() const override { return now_; }
  Spawned spawn(Process&) override {
    if (!spawn_errors.empty()) {
      auto e = spawn_errors.front();
      spawn_errors.pop_front();
      return e;
    }
    ++spawns;
    return {next_pid++, 0, "", false, exec_pending};
  }
  void kill(pid_t pid, int signo, bool group) override { kills.push_back({pid, signo, group}); }
  void kill_group(pid_t pgid, int signo) override { group_kills.push_back({pgid, signo, true}); }
  void arm_timer(Process& p, Clock::duration after) override {
    timer = now_ + after;
    timer_owner = &p;
  }
  void cancel_timer(Process&) override { timer.reset(); }
  void log(config::LogLevel, std::string line) override {
    // Process reports an illegal transition this way: in a test it is a failure.
    if (line.starts_with("BUG:")) ADD_FAILURE() << line;
    lines.push_back(std::move(line));
  }
  void start_readiness(Process& p) override { readiness.push_back(&p); }
  void start_liveness(Process& p) override { liveness.push_back(&p); }
  void stop_probes(Process&) override { ++probe_stops; }
  void collect_output(Process&) override { ++outputs_collected; }
  SpawnGate before_spawn(Process&, pid_t last_leader) override {
    gate_leaders.push_back(last_leader);
    return gate;
  }
  void cancel_spawn_gate(Process&) override { ++gate_cancels; }

  // Moves the clock, firing the timer if it falls due.
  void advance(Clock::duration d) {
    now_ += d;
    if (timer && *timer <= now_) {
      timer.reset();
      timer_owner->on_timer();
    }
  }
  Clock::duration pending_delay() const { return timer ? *timer - now_ : Clock::duration::max(); }
  bool logged(std::string_view text) const {
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }

  struct Kill {
    pid_t pid;
    int signo;
    bool group;
  };
  Clock::time_point now_{Clock::time_point{} + 1000h};
  std::optional<Clock::time_point> timer;
  Process* timer_owner = nullptr;
  std::deque<Spawned> spawn_errors;
  std::vector<Kill> kills;
  std::vector<Kill> group_kills;
  std::vector<std::string> lines;
  pid_t next_pid = 100;
  int spawns = 0;
  bool exec_pending = false;  // spawns return before the exec, as the runtime's do
  std::vector<Process*> readiness, liveness;
  int probe_stops = 0;
  int outputs_collected = 0;
  SpawnGate gate = SpawnGate::kOpen;  // what before_spawn answers
  std::vector<pid_t> gate_leaders;    // its last_leader arguments
  int gate_cancels = 0;
};

// The event loop's part: finds the program whose process has this pid and hands it the exit;
// false for an orphan.
inline bool exit_child(Supervisor& s, pid_t pid, int wait_status) {
  for (const auto& p : s.programs()) {
    if (p->pid() == pid) {
      s.on_child_exit(*p, wait_status);
      return true;
    }
  }
  return false;
}

inline config::ProgramSpec single_command() {
  config::ProgramSpec spec;
  spec.argv = {"server"};
  spec.autorestart = config::Autorestart::kTrue;
  spec.count_every_exit = true;
  spec.stopasgroup = spec.killasgroup = true;
  spec.main = true;
  return spec;
}

inline config::SupervisorSpec one_program(config::ProgramSpec program) {
  config::SupervisorSpec spec;
  spec.exit_on_fatal = true;
  spec.programs.push_back(std::move(program));
  return spec;
}

}  // namespace podvisor::core::fake
