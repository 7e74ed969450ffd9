#include "core/supervisor.h"

namespace podvisor::core {

Supervisor::Supervisor(const config::SupervisorSpec& spec, ProcessDriver& driver,
                       std::function<void(const Outcome&)> on_done)
    : exit_on_fatal_(spec.exit_on_fatal), on_done_(std::move(on_done)) {
  for (const auto& program : spec.programs) {
    programs_.push_back(std::make_unique<Process>(program, driver));
  }
}

void Supervisor::start_all() {
  for (auto& p : programs_) {
    if (shutting_down()) return;
    if (p->spec().autostart) p->start();
  }
  check_done();
}

void Supervisor::request_shutdown() {
  ++shutdown_requests_;
  if (shutdown_requests_ == 1) {
    // The requested stop ends with the main program's status; 0 when there is none.
    if (!outcome_) outcome_ = Outcome{};
    stop_all();
  } else {
    for (auto& p : programs_) p->kill_now();
  }
  check_done();
}

void Supervisor::forward_signal(int signo) {
  for (auto& p : programs_) {
    if (p->spec().main) p->signal(signo);
  }
}

bool Supervisor::on_child_exit(pid_t pid, int wait_status) {
  for (auto& p : programs_) {
    if (p->pid() == pid) {
      p->on_exit(wait_status);
      check_done();
      return true;
    }
  }
  return false;
}

void Supervisor::on_state_changed(Process& p, State from) {
  (void)from;
  if (p.state() == State::kFatal && (exit_on_fatal_ || p.spec().main) && !outcome_) {
    begin_shutdown({p.fatal_exit_code(), &p});
  } else if (p.spec().main && !p.active() && !outcome_ && p.last_exit()) {
    const auto status = p.last_exit()->status();
    begin_shutdown({status, status == 0 ? nullptr : &p});
  }
  check_done();
}

void Supervisor::begin_shutdown(Outcome outcome) {
  outcome_ = outcome;
  stop_all();
}

void Supervisor::stop_all() {
  // Reverse start order: what started last stops first.
  for (auto it = programs_.rbegin(); it != programs_.rend(); ++it) (*it)->stop();
}

void Supervisor::check_done() {
  if (done_ || !outcome_) return;
  for (const auto& p : programs_) {
    if (p->active()) return;
  }
  done_ = true;
  auto outcome = *outcome_;
  // A requested stop reports the main program's own status (single-command mode).
  if (shutdown_requests_ > 0 && !outcome.failed && outcome.exit_code == 0) {
    for (const auto& p : programs_) {
      if (p->spec().main && p->last_exit()) outcome.exit_code = p->last_exit()->status();
    }
  }
  on_done_(outcome);
}

}  // namespace podvisor::core
