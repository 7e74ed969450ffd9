#include "core/process.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <utility>

#include "core/report.h"

namespace podvisor::core {

using config::LogLevel;

std::string_view to_string(State s) {
  switch (s) {
    case State::kStopped:
      return "STOPPED";
    case State::kStarting:
      return "STARTING";
    case State::kRunning:
      return "RUNNING";
    case State::kBackoff:
      return "BACKOFF";
    case State::kStopping:
      return "STOPPING";
    case State::kExited:
      return "EXITED";
    case State::kFatal:
      return "FATAL";
    case State::kUnknown:
      return "UNKNOWN";
  }
  return "UNKNOWN";
}

ExitInfo ExitInfo::from_wait_status(int wait_status) {
  if (WIFSIGNALED(wait_status)) return {true, WTERMSIG(wait_status)};
  return {false, WEXITSTATUS(wait_status)};
}

bool transition_allowed(State from, State to) {
  if (from == to) return true;  // not a transition: set_state ignores it
  switch (from) {
    case State::kStopped:
    case State::kExited:
      // start(); a failed spawn backs off or gives up at once
      return to == State::kStarting || to == State::kBackoff || to == State::kFatal;
    case State::kFatal:
      return to == State::kStarting || to == State::kBackoff;
    case State::kStarting:
    case State::kRunning:
      // RUNNING: startsecs passed (and ready); STOPPING: stop or a failed probe; the rest on
      // an exit (STOPPED when a shutdown forbade restarts, STARTING when a run that was up
      // restarts at once).
      return to != State::kUnknown;
    case State::kBackoff:
      return to == State::kStarting || to == State::kStopped || to == State::kFatal;
    case State::kStopping:
      // stopped as asked, or podvisor's own stop (not ready, not alive) turns into a restart
      return to == State::kStopped || to == State::kStarting || to == State::kBackoff ||
             to == State::kFatal;
    case State::kUnknown:
      return false;
  }
  return false;
}

Process::Process(config::ProgramSpec spec, ProcessDriver& driver, ProcessObserver* observer)
    : spec_(std::move(spec)), driver_(driver), observer_(observer) {}

bool Process::active() const {
  return state_ == State::kStarting || state_ == State::kRunning || state_ == State::kBackoff ||
         state_ == State::kStopping;
}

void Process::set_state(State s) {
  const auto from = state_;
  if (from == s) return;
  if (!transition_allowed(from, s)) {
    driver_.log(LogLevel::kCritical, fmt::format("BUG: {}: illegal transition {} -> {}", name(),
                                                 to_string(from), to_string(s)));
  }
  state_ = s;
  if (observer_) observer_->state_changed(*this, from);
}

void Process::start() {
  if (active()) return;
  stop_requested_ = false;
  spawned_ = false;
  done_ = false;
  failures_ = 0;
  next_delay_ = {};
  spawn();
}

void Process::spawn() {
  if (driver_.before_spawn(*this, last_pid_) == SpawnGate::kPending) {
    // Held: BACKOFF says "waiting to restart", and stop() ends the wait.
    gate_pending_ = true;
    driver_.cancel_timer(*this);
    set_state(State::kBackoff);
    return;
  }
  spawn_now();
}

void Process::on_spawn_gate_open() {
  if (!std::exchange(gate_pending_, false) || state_ != State::kBackoff) return;
  spawn_now();
}

void Process::on_spawn_gate_failed(const std::string& reason) {
  if (!std::exchange(gate_pending_, false) || state_ != State::kBackoff) return;
  spawnerr_ = reason;
  fail(reason, 1, "GPU fence gave up");
}

void Process::cancel_gate() {
  if (std::exchange(gate_pending_, false)) driver_.cancel_spawn_gate(*this);
}

void Process::spawn_now() {
  const auto result = driver_.spawn(*this);
  if (result.pid <= 0) {
    // As supervisord: each attempt enters STARTING, and a failed one leaves it for BACKOFF.
    set_state(State::kStarting);
    if (result.failed_child > 0) {
      driver_.log(LogLevel::kInfo,
                  fmt::format("spawned: '{}' with pid {}", name(), result.failed_child));
    }
    spawn_failed(result, result.failed_child);
    return;
  }
  pid_ = last_pid_ = result.pid;
  spawned_ = true;
  ready_ = startsecs_passed_ = false;
  failed_start_.reset();
  restart_after_stop_ = false;
  started_at_ = driver_.now();
  if (first_started_at_ == Clock::time_point{}) first_started_at_ = started_at_;
  driver_.log(LogLevel::kInfo, fmt::format("spawned: '{}' with pid {}", name(), pid_));
  set_state(State::kStarting);
  exec_pending_ = result.exec_pending;
  if (!exec_pending_) begin_starting();
}

void Process::spawn_failed(const ProcessDriver::Spawned& result, pid_t child) {
  // podvisor's detail, and supervisord's words around it, so searches for either match: a
  // check before the fork is its "spawnerr: …"; a child that could not exec ran and exited
  // 127 (its own "couldn't chdir" goes to the program's stderr under supervisord).
  if (child <= 0 && !result.spawnerr.empty()) {
    driver_.log(LogLevel::kInfo, fmt::format("spawnerr: {}", result.spawnerr));
  }
  driver_.log(LogLevel::kError, fmt::format("spawn error: {}: {}", name(), result.message));
  if (child > 0) {
    driver_.log(LogLevel::kWarn, fmt::format("exited: {} (exit status 127; not expected)", name()));
  }
  spawnerr_ = result.message;
  // A missing command cannot fix itself in single-command mode; supervisord retries it
  // (another program may be installing it), and so does config mode.
  if (result.permanent && spec_.count_every_exit) {
    fail(fmt::format("spawn error: {}", result.message), result.error == ENOENT ? 127 : 126,
         "the command cannot be run, retrying will not help");
    return;
  }
  // supervisord retries a failed spawn whatever autorestart says; with recovery off
  // (single-command mode) there is no retry of any kind.
  const bool retry = !spec_.count_every_exit || spec_.autorestart != config::Autorestart::kFalse;
  ++failures_;
  if (!retry || failures_ > spec_.startretries) {
    fail(fmt::format("spawn error: {}", result.message), 1,
         retry ? "too many start retries too quickly" : "it could not be started");
    return;
  }
  schedule_restart(false);
}

void Process::begin_starting() {
  if (state_ != State::kStarting) return;
  if (spec_.ready) driver_.start_readiness(*this);
  if (state_ != State::kStarting) return;
  if (spec_.startsecs.count() == 0) {
    on_timer();
  } else {
    driver_.arm_timer(*this, spec_.startsecs);
  }
}

void Process::on_exec() {
  if (!std::exchange(exec_pending_, false)) return;
  begin_starting();
}

void Process::on_exec_failed(const ProcessDriver::Spawned& result) {
  exec_pending_ = false;
  driver_.cancel_timer(*this);
  const pid_t failed_pid = std::exchange(pid_, -1);
  if (stop_requested_) {  // stopped before it could run: nothing to retry
    driver_.log(LogLevel::kInfo,
                fmt::format("stopped: {} (spawn error: {})", name(), result.message));
    set_state(State::kStopped);
    return;
  }
  spawn_failed(result, failed_pid);
}

void Process::stop() {
  switch (state_) {
    case State::kStarting:
    case State::kRunning:
      stop_requested_ = true;
      driver_.stop_probes(*this);
      driver_.log(LogLevel::kInfo, fmt::format("waiting for {} to stop", name()));
      driver_.kill(pid_, spec_.stopsignal, spec_.stopasgroup);
      set_state(State::kStopping);
      driver_.arm_timer(*this, spec_.stopwaitsecs);
      break;
    case State::kBackoff:
      stop_requested_ = true;
      driver_.cancel_timer(*this);
      cancel_gate();
      set_state(State::kStopped);
      break;
    default:
      break;
  }
}

void Process::forbid_restart() {
  stop_requested_ = true;
  if (state_ == State::kBackoff) {
    driver_.cancel_timer(*this);
    cancel_gate();
    set_state(State::kStopped);
  }
}

void Process::kill_now() {
  if (pid_ <= 0) return;
  stop_requested_ = true;
  escalate();
}

void Process::escalate() {
  driver_.log(LogLevel::kWarn, fmt::format("killing '{}' ({}) with SIGKILL", name(), pid_));
  driver_.kill(pid_, SIGKILL, spec_.killasgroup);
  if (state_ != State::kStopping) set_state(State::kStopping);
}

void Process::signal(int signo) {
  if (pid_ > 0) driver_.kill(pid_, signo, false);
}

void Process::on_timer() {
  switch (state_) {
    case State::kStarting:
      startsecs_passed_ = true;
      if (!spec_.ready || ready_) enter_running();
      break;
    case State::kBackoff:
      if (!gate_pending_) spawn();
      break;
    case State::kStopping:
      escalate();
      break;
    default:
      break;
  }
}

void Process::on_ready(std::chrono::milliseconds elapsed, const std::string& detail) {
  if (state_ != State::kStarting || ready_) return;
  ready_ = true;
  ready_after_ = elapsed;
  ready_detail_ = detail;
  if (startsecs_passed_) enter_running();
}

void Process::enter_running() {
  // Logged before the change: the change may start dependents, whose lines come after.
  if (spec_.ready) {
    driver_.log(LogLevel::kInfo,
                fmt::format("success: {} entered RUNNING state, ready after {} ({}: {})", name(),
                            format_duration(ready_after_), spec_.ready->text, ready_detail_));
  } else {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(spec_.startsecs).count();
    driver_.log(LogLevel::kInfo,
                fmt::format("success: {} entered RUNNING state, process has stayed up for > "
                            "than {} seconds (startsecs)",
                            name(), secs));
  }
  // A oneshot's failures count until it is done, however long each run lasted.
  if (!spec_.count_every_exit && !spec_.oneshot) failures_ = 0;
  spawnerr_.clear();
  set_state(State::kRunning);
  if (spec_.live && state_ == State::kRunning) driver_.start_liveness(*this);
}

void Process::on_not_ready(const std::string& reason) {
  if (state_ != State::kStarting) return;
  driver_.log(LogLevel::kWarn, fmt::format("{} {}", name(), reason));
  failed_start_ = reason;
  spawnerr_ = reason;
  terminate("it is not ready");
}

void Process::on_live_failed(const std::string& last) {
  if (state_ != State::kRunning) return;
  driver_.log(LogLevel::kWarn,
              fmt::format("{} failed its liveness probe {} times in a row (last: {}); restarting",
                          name(), spec_.live_failures, last));
  restart_after_stop_ = true;
  terminate("it is not alive");
}

void Process::terminate(std::string_view why) {
  driver_.stop_probes(*this);
  driver_.log(LogLevel::kInfo, fmt::format("stopping {}: {}", name(), why));
  driver_.kill(pid_, spec_.stopsignal, spec_.stopasgroup);
  set_state(State::kStopping);
  driver_.arm_timer(*this, spec_.stopwaitsecs);
}

std::string Process::describe(const ExitInfo& e) const {
  if (e.signaled) return fmt::format("terminated by {}", config::signal_name(e.code));
  return fmt::format("exit status {}", e.code);
}

void Process::on_exit(int wait_status) {
  exec_pending_ = false;
  driver_.collect_output(*this);
  const auto info = ExitInfo::from_wait_status(wait_status);
  const auto now = driver_.now();
  const bool was_up = state_ == State::kRunning;
  const bool was_stopping = state_ == State::kStopping;
  driver_.cancel_timer(*this);
  driver_.stop_probes(*this);
  last_exit_ = info;
  exited_at_ = now;
  const pid_t leader = pid_;
  pid_ = -1;
  // Before a restart (or when it is given up on), workers the program left in its group go
  // with it: they may hold the GPU memory the next run needs. Not on a stop, where they get
  // their stopwaitsecs like the leader, nor on a final exit, where podvisor's own exit
  // ends them with a grace.
  auto end_group = [&] {
    if (spec_.killasgroup) driver_.kill_group(leader, SIGKILL);
  };

  const bool listed = !info.signaled && spec_.expected(info.code);
  const auto failed_start = std::exchange(failed_start_, std::nullopt);
  const bool restart_after_stop = std::exchange(restart_after_stop_, false);
  const bool own_stop = !stop_requested_ && (failed_start || restart_after_stop);
  if (was_stopping || stop_requested_) {
    driver_.log(listed ? LogLevel::kInfo : LogLevel::kWarn,
                fmt::format("stopped: {} ({})", name(), describe(info)));
    if (!own_stop) {
      set_state(State::kStopped);
      return;
    }
  }
  if (own_stop && failed_start) {
    // Not ready in time: a failed start, toward startretries like an early exit.
    end_group();
    if (++failures_ > spec_.startretries) {
      fail(*failed_start, 1);
    } else {
      schedule_restart(false);
    }
    return;
  }
  if (own_stop) {  // the liveness probe failed: a restart, as after a crash
    end_group();
    schedule_restart(true);
    return;
  }
  if (spec_.oneshot) {
    // Runs to completion once: an expected status is done; anything else is retried.
    driver_.log(listed ? LogLevel::kInfo : LogLevel::kWarn,
                fmt::format("exited: {} ({}; {})", name(), describe(info),
                            listed ? "expected" : "not expected"));
    if (listed) {
      done_ = true;
      set_state(State::kExited);
      return;
    }
    end_group();
    if (++failures_ > spec_.startretries) {
      fail(describe_exit(info), 1);
    } else {
      schedule_restart(false);
    }
    return;
  }
  // supervisord: an exit before startsecs is a failed start, never expected, whatever its
  // status. In single-command mode autorestart alone decides, so the status counts.
  const bool expected = listed && (was_up || spec_.count_every_exit);
  driver_.log(expected ? LogLevel::kInfo : LogLevel::kWarn,
              fmt::format("exited: {} ({}; {})", name(), describe(info),
                          expected ? "expected" : "not expected"));

  bool restart = false;
  switch (spec_.autorestart) {
    case config::Autorestart::kTrue:
      restart = true;
      break;
    case config::Autorestart::kFalse:
      restart = false;
      break;
    case config::Autorestart::kUnexpected:
      restart = !expected;
      break;
  }
  // supervisord retries a failed start (an exit before startsecs) whatever autorestart says.
  if (!spec_.count_every_exit && !was_up) restart = true;
  if (!was_up) spawnerr_ = "Exited too quickly (process log may have details)";
  if (!restart) {
    set_state(State::kExited);
    return;
  }

  if (spec_.count_every_exit || !was_up) {
    if (now - started_at_ >= spec_.restart_reset) failures_ = 0;
    ++failures_;
    if (failures_ > spec_.startretries) {
      end_group();
      fail(describe_exit(info), 1);
      return;
    }
  }
  end_group();
  schedule_restart(was_up);
}

void Process::schedule_restart(bool was_up) {
  ++restarts_;
  // A run that stayed up restart_reset seconds was healthy: the delays start over.
  if (was_up && exited_at_ - started_at_ >= spec_.restart_reset) next_delay_ = {};
  if (was_up && next_delay_ == Clock::duration{}) {
    // The first failure after a healthy stretch restarts at once; a crash loop then backs
    // off 1 s, 2 s, 4 s … even when each run gets past startsecs.
    next_delay_ = std::chrono::seconds(1);
    // Straight to STARTING: a transient EXITED would read as "ended for good".
    spawn();
    return;
  }
  const auto delay = std::max<Clock::duration>(next_delay_, std::chrono::seconds(1));
  next_delay_ = std::min<Clock::duration>(spec_.backoff_max, delay * 2);
  set_state(State::kBackoff);
  driver_.log(
      LogLevel::kDebug,
      fmt::format("{} restarts in {}", name(),
                  format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(delay))));
  driver_.arm_timer(*this, std::min<Clock::duration>(delay, spec_.backoff_max));
}

void Process::fail(std::string reason, int exit_code, std::string_view why) {
  fatal_reason_ = std::move(reason);
  fatal_exit_code_ = exit_code;
  driver_.log(LogLevel::kCritical, fmt::format("gave up: {} entered FATAL state, {}", name(), why));
  set_state(State::kFatal);
}

}  // namespace podvisor::core
