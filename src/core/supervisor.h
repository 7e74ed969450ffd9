// Owns every Process, starts and stops them in order, and decides when podvisor exits and
// with which status (SPEC §5): main program's status, 1 on FATAL, 0 on a requested stop; or,
// with hold_on_fatal, that it holds on a failure instead of exiting.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/spec.h"
#include "core/process.h"

namespace podvisor::core {

// Each Process tells its Supervisor of its state changes directly (ProcessObserver); the
// runtime hears of them through the Supervisor's listener.
class Supervisor final : public ProcessObserver {
 public:
  struct Outcome {
    int exit_code = 0;
    // Set when podvisor ends because a program failed: the one to report on.
    const Process* failed = nullptr;
    // The crash report went out when podvisor began to hold on this failure.
    bool reported = false;
  };
  // hold_on_fatal: a failure that would have ended podvisor, kept until a retry of the program
  // reaches RUNNING (ready, with a probe) or a stop is asked for, which then ends with it.
  struct Hold {
    Outcome outcome;
    std::string reason;  // "app exited (exit status 3)", "app is FATAL (exit status 1)"
  };

  Supervisor(const config::SupervisorSpec& spec, ProcessDriver& driver,
             std::function<void(const Outcome&)> on_done);

  void start_all();
  // SIGTERM/SIGINT/SIGQUIT: the first asks every program to stop, the next kills them.
  void request_shutdown();
  // Signals that single-command mode forwards, to every main program.
  void forward_signal(int signo);
  // p's process exited (the event loop found its pid among the children it watches).
  void on_child_exit(Process& p, int wait_status);
  // p's process could not exec (a spawn the driver confirms later): a failed spawn.
  void on_exec_failed(Process& p, const ProcessDriver::Spawned& result);
  // ProcessObserver: the exit policy, reloads and depends_on move on from here.
  void state_changed(Process& p, State from) override;
  // Hears of every state change first (the control plane's start and stop waiters).
  void set_listener(std::function<void(const Process&, State from)> listener) {
    listener_ = std::move(listener);
  }
  // Hears of every state change after the listener (the event listener pools).
  void set_event_listener(std::function<void(const Process&, State from)> listener) {
    event_listener_ = std::move(listener);
  }
  // Hears when a hold begins or moves to a newer failure (the hold), and when it clears
  // (nullptr).
  void set_hold_listener(std::function<void(const Hold*)> listener) {
    hold_listener_ = std::move(listener);
  }
  const std::optional<Hold>& hold() const { return hold_; }
  // At shutdown, asked before a program is stopped: false keeps it running for now (an event
  // listener whose pool still has events to deliver). stop_gate_opened() asks again.
  void set_stop_gate(std::function<bool(const Process&)> gate) { stop_gate_ = std::move(gate); }
  void stop_gate_opened() {
    if (outcome_) continue_stopping();
  }
  // SIGHUP with a re-read file, as `supervisorctl update`: added programs start, removed
  // ones stop and go, changed ones restart with their new spec.
  void update(const config::SupervisorSpec& spec);

  // The control plane's start and stop of one program (supervisorctl start/stop): at once,
  // whatever its depends_on says, as an operator asked.
  void start_process(Process& p);
  void stop_process(Process& p);
  // addProcessGroup: the programs join, and those with autostart start (after depends_on).
  void add_programs(const std::vector<config::ProgramSpec>& specs);
  // removeProcessGroup: false when one of the group's programs is still active.
  bool remove_group(const std::string& group);

  const std::vector<std::unique_ptr<Process>>& programs() const { return programs_; }
  // Why an autostart program has not started yet: "waiting for comfyui (ready)", "blocked:
  // comfyui is FATAL"; empty when it is not held back.
  std::string held_back(const Process& p) const;
  bool shutting_down() const { return shutdown_requests_ > 0 || outcome_.has_value(); }

 private:
  void begin_shutdown(Outcome outcome);
  // A failure that ends podvisor, or holds it with hold_on_fatal.
  void fail(Outcome outcome, std::string reason);
  // The exit policy for p's state change: may fail, end podvisor, or clear the hold.
  void apply_exit_policy(Process& p);
  void clear_hold(const Process* only_for = nullptr);
  void stop_all();
  void continue_stopping();
  void stop_next();
  void check_done();
  void sort_programs();
  // Starts those with autostart among programs just added, in start order.
  void start_in_order(std::vector<Process*> added);
  void settle_reloaded(Process& p);
  // Starts p now if its depends_on conditions hold, else holds it back until they do.
  void start_program(Process& p);
  void start_ready_programs();
  // What keeps p from starting: "" when nothing does.
  std::string unmet_dependencies(const Process& p, const Process** fatal) const;
  Process* find(const std::string& name) const;
  // The FATAL program that keeps q from ever starting: q itself, or one it waits for.
  const Process* fatal_cause(const Process& q) const;
  // q needs p, directly or through others.
  bool needs(const Process& q, const Process& p) const;

  bool exit_on_fatal_;
  bool hold_on_fatal_;
  ProcessDriver& driver_;
  std::vector<std::unique_ptr<Process>> programs_;
  // Removed by a reload and stopped: kept until the next reload, since they may be deep in
  // their own call stack when they finish stopping.
  std::vector<std::unique_ptr<Process>> retired_;
  // Reload bookkeeping: programs stopping to go away, or to come back with a new spec.
  std::map<Process*, std::optional<config::ProgramSpec>> reloading_;
  // Programs waiting on depends_on, with the reason last logged.
  std::map<const Process*, std::string> held_back_;
  struct StopScratch {
    std::vector<Process*> stoppable;
    std::vector<const config::ProgramSpec*> specs;
    std::vector<bool> stopping;
    bool busy = false;   // inside continue_stopping
    bool again = false;  // a state change came meanwhile
  } stop_scratch_;       // continue_stopping's lists
  std::function<void(const Outcome&)> on_done_;
  std::function<void(const Process&, State)> listener_;
  std::function<void(const Process&, State)> event_listener_;
  std::function<void(const Hold*)> hold_listener_;
  std::function<bool(const Process&)> stop_gate_;
  std::optional<Hold> hold_;
  int shutdown_requests_ = 0;
  std::optional<Outcome> outcome_;  // decided; reported once nothing is active
  bool done_ = false;
};

}  // namespace podvisor::core
