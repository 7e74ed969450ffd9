// One supervised program instance: supervisord's state machine, driven only by events
// (spawned, exited, timer fired, stop requested) so it can run on a fake clock in tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "config/spec.h"

namespace podvisor::core {

using Clock = std::chrono::steady_clock;

enum class State {
  kStopped = 0,
  kStarting = 10,
  kRunning = 20,
  kBackoff = 30,
  kStopping = 40,
  kExited = 100,
  kFatal = 200,
  kUnknown = 1000
};
std::string_view to_string(State s);
// supervisord's state groups (states.py): what "running" and "stopped" mean to start, stop,
// signal and status, wherever they are asked.
constexpr bool is_running_state(State s) {  // RUNNING_STATES: start says ALREADY_STARTED
  return s == State::kRunning || s == State::kBackoff || s == State::kStarting;
}
constexpr bool is_stopped_state(State s) {  // STOPPED_STATES: stop has nothing to do
  return s == State::kStopped || s == State::kExited || s == State::kFatal || s == State::kUnknown;
}
constexpr bool is_signallable_state(State s) {  // SIGNALLABLE_STATES
  return s == State::kRunning || s == State::kStarting || s == State::kStopping;
}

// How a run ended, from a wait status.
struct ExitInfo {
  bool signaled = false;
  int code = 0;  // exit status, or the signal number when signaled
  int status() const { return signaled ? 128 + code : code; }  // as a shell reports it
  static ExitInfo from_wait_status(int wait_status);
};

// supervisord's transitions as podvisor makes them (states.py and _assertInState): anything
// else is a bug, which Process reports at CRITICAL (and the unit tests fail on).
bool transition_allowed(State from, State to);

class Process;

// Whether a spawn may go ahead now (the GPU fence: the last run's leftovers still hold a GPU).
enum class SpawnGate { kOpen, kPending };

// Who hears of a Process's state changes at once: its Supervisor, with no one in between.
class ProcessObserver {
 public:
  virtual ~ProcessObserver() = default;
  virtual void state_changed(Process& p, State from) = 0;
};

// What a Process needs from the world; the runtime implements it on the event loop, tests
// with a fake clock.
class ProcessDriver {
 public:
  struct Spawned {
    pid_t pid = -1;
    int error = 0;           // errno when the spawn failed
    std::string message;     // "vllm: No such file or directory"
    bool permanent = false;  // command missing or not executable: retrying cannot help
    // Forked, exec not confirmed yet: the driver calls on_exec, or on_exec_failed.
    bool exec_pending = false;
    // supervisord's words for a check before the fork that failed ("can't find command 'x'").
    std::string spawnerr = "";
    // Forked, but the child could not exec: supervisord's "spawned", then "exited" with 127.
    pid_t failed_child = 0;
  };
  virtual ~ProcessDriver() = default;
  virtual Clock::time_point now() const = 0;
  virtual Spawned spawn(Process& p) = 0;
  virtual void kill(pid_t pid, int signo, bool group) = 0;
  // Signals what is left of a process group whose leader is gone (never a single pid, which
  // may have been reused).
  virtual void kill_group(pid_t pgid, int signo) = 0;
  // One timer per process: arming replaces the pending one.
  virtual void arm_timer(Process& p, Clock::duration after) = 0;
  virtual void cancel_timer(Process& p) = 0;
  virtual void log(config::LogLevel level, std::string line) = 0;
  // Probes: readiness while STARTING, liveness while RUNNING. The driver reports back through
  // on_ready / on_not_ready / on_live_failed; stop_probes ends both.
  virtual void start_readiness(Process& p) = 0;
  virtual void start_liveness(Process& p) = 0;
  virtual void stop_probes(Process& p) = 0;
  // The process has exited: everything it wrote is in its pipes, to be relayed before the
  // exit is reported.
  virtual void collect_output(Process& p) = 0;
  // Before each spawn: kPending holds it (BACKOFF, "waiting to restart") until the driver
  // calls on_spawn_gate_open or on_spawn_gate_failed, never from inside this call.
  // `last_leader`: the pid of the previous run's leader, -1 before the first run.
  virtual SpawnGate before_spawn(Process& p, pid_t last_leader) {
    (void)p;
    (void)last_leader;
    return SpawnGate::kOpen;
  }
  // The process was stopped or will not restart: the gate's wait ends unanswered.
  virtual void cancel_spawn_gate(Process& p) { (void)p; }
};

class Process {
 public:
  // `observer` may be null (a Process on its own, in tests).
  Process(config::ProgramSpec spec, ProcessDriver& driver, ProcessObserver* observer = nullptr);

  void start();
  void stop();
  // Shutdown: whatever happens next, no restart (a BACKOFF ends in STOPPED at once).
  void forbid_restart();
  // A reload changed the spec: takes effect at the next start.
  void replace_spec(config::ProgramSpec spec) { spec_ = std::move(spec); }
  void kill_now();  // a second stop request: SIGKILL without waiting
  void signal(int signo);
  void on_exit(int wait_status);
  // A pending spawn's child has exec'd: the start goes on (startsecs, readiness).
  void on_exec();
  // A pending spawn's child could not exec (it has exited): a failed spawn, as if fork had
  // failed, with supervisord's spawnerr wording and BACKOFF/FATAL.
  void on_exec_failed(const ProcessDriver::Spawned& result);
  void on_timer();
  // The readiness probe passed `elapsed` after the spawn.
  void on_ready(std::chrono::milliseconds elapsed, const std::string& detail);
  // ready_timeout passed: the start failed ("not ready after 120 s: last attempt: …").
  void on_not_ready(const std::string& reason);
  // live_failures liveness attempts failed in a row: restart.
  void on_live_failed(const std::string& last);
  // The spawn gate opened: the held spawn goes ahead.
  void on_spawn_gate_open();
  // The spawn gate gave up (the GPU fence's bound passed): FATAL with `reason`.
  void on_spawn_gate_failed(const std::string& reason);

  const config::ProgramSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  State state() const { return state_; }
  pid_t pid() const { return pid_; }
  // The last run's leader, kept after it was reaped (-1 before the first run).
  pid_t last_pid() const { return last_pid_; }
  // BACKOFF because the spawn gate holds the next spawn.
  bool waiting_at_gate() const { return gate_pending_; }
  bool running() const { return pid_ > 0; }
  const std::optional<ExitInfo>& last_exit() const { return last_exit_; }
  int restarts() const { return restarts_; }
  int failures() const { return failures_; }
  Clock::time_point started_at() const { return started_at_; }
  Clock::time_point first_started_at() const { return first_started_at_; }
  Clock::time_point exited_at() const { return exited_at_; }
  // Why the program is FATAL, and the exit status podvisor reports for it.
  const std::string& fatal_reason() const { return fatal_reason_; }
  // Why the last start failed, as supervisord's spawnerr ("Exited too quickly (process log
  // may have details)", "not ready after 120 s: …"); "" once a run reaches RUNNING.
  const std::string& spawnerr() const { return spawnerr_; }
  // From the spawn to the readiness probe passing, in the run that is or was last RUNNING.
  std::optional<std::chrono::milliseconds> ready_after() const {
    return ready_ || state_ != State::kStarting ? std::optional(ready_after_) : std::nullopt;
  }
  int fatal_exit_code() const { return fatal_exit_code_; }
  // STARTING, RUNNING, BACKOFF or STOPPING: a process exists or one is due.
  bool active() const;
  // A oneshot's last run exited with an expected status (depends_on `done`).
  bool done() const { return done_; }
  // Spawned at least once since the last start request (depends_on `started`).
  bool spawned() const { return spawned_; }

 private:
  void spawn();
  void spawn_now();
  void cancel_gate();
  void spawn_failed(const ProcessDriver::Spawned& result, pid_t child);
  void begin_starting();  // exec'd: startsecs and readiness
  void set_state(State s);
  void fail(std::string reason, int exit_code,
            std::string_view why = "too many start retries too quickly");
  void schedule_restart(bool was_up);
  void enter_running();
  void escalate();  // stopwaitsecs passed: SIGKILL
  // Stops the running process on podvisor's own account (not ready, not alive).
  void terminate(std::string_view why);
  std::string describe(const ExitInfo& e) const;

  config::ProgramSpec spec_;
  ProcessDriver& driver_;
  ProcessObserver* observer_;
  State state_ = State::kStopped;
  pid_t pid_ = -1;
  pid_t last_pid_ = -1;
  bool gate_pending_ = false;
  Clock::time_point started_at_{};
  Clock::time_point first_started_at_{};
  Clock::time_point exited_at_{};
  std::optional<ExitInfo> last_exit_;
  int failures_ = 0;  // consecutive failed runs, toward startretries
  // The wait before the next restart: 0 after a healthy stretch, then 1 s, 2 s, 4 s … up to
  // backoff_max; back to 0 once a run stays up restart_reset seconds.
  Clock::duration next_delay_{};
  int restarts_ = 0;
  bool stop_requested_ = false;
  bool spawned_ = false;
  bool exec_pending_ = false;
  bool done_ = false;
  // STARTING with a probe: RUNNING once both hold.
  bool ready_ = false;
  bool startsecs_passed_ = false;
  std::chrono::milliseconds ready_after_{};
  std::string ready_detail_;
  // Why the process is being stopped by podvisor itself: a failed start (not ready in time),
  // or a liveness restart.
  std::optional<std::string> failed_start_;
  bool restart_after_stop_ = false;
  std::string fatal_reason_;
  std::string spawnerr_;
  int fatal_exit_code_ = 1;
};

}  // namespace podvisor::core
